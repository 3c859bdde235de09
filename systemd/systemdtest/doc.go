// Package systemdtest proves the kpay-rotator service under a real systemd:
// the unit, sysusers and tmpfiles entries exactly as `make install` lays
// them out, run by the host's systemd 252 booted as PID 1 of fresh
// namespaces in a throw-away overlay root (systemd/test/boot.sh, init.sh,
// shutdown.sh), against the KPay emulator, the Secrets Manager emulator
// and signed webhook receivers listening on the host's 127.0.0.1.
//
// The package holds only tests. TestUnderSystemd boots one machine and
// walks it through start (READY), the sandbox, credentials and alerts,
// reload (good and broken), a hand-over with `kpay-rotator stage`, a
// staged pair taken on `systemctl kill -s SIGUSR1`, a watchdog kill of a
// stuck scheduler that loses neither the rotation nor the alert, a bad
// configuration (exit 78, no restart loop) and a clean stop. It prints how
// long start took, how long the suite took and the service's RSS.
//
// It needs root, util-linux (unshare, nsenter, setpriv), capsh, GNU make,
// systemd at /lib/systemd/systemd and a cgroup2 mount, and skips with the
// reason when any is missing, or under -short. CI runs it as root through
// `bash .ci/run`. To run only this suite:
//
//	sudo go test -v -run TestUnderSystemd ./systemd/systemdtest/
//
// The scripts also work by hand, e.g. to poke at the unit:
//
//	W=$(mktemp -d) && make install DESTDIR=$W/root-add VERSION=dev
//	systemd/test/boot.sh $W &          # WORKDIR [LIMIT_SECONDS], foreground
//	PID=$(head -n1 $(cat $W/cgroup)/init.scope/cgroup.procs)
//	nsenter -t $PID -m -p systemctl status kpay-rotator
//	systemd/test/shutdown.sh $W        # poweroff, kill leftovers, rm cgroup
//
// StatusTextFollowsSlots holds the daemon to docs/install.md ("the
// Status: line follows the slots"): STATUS= is sent after changes, not
// only with READY=1.
//
// Nothing it does reaches the host's disk or process table once it ends:
// the overlay's upper layer is a tmpfs in the machine's own mount
// namespace, and cleanup powers the machine off (SIGRTMIN+4), kills what
// is left and removes its cgroup even when the test fails.
package systemdtest
