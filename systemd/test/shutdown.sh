#!/bin/bash
# shutdown.sh WORKDIR [GRACE_SECONDS] — stop what boot.sh WORKDIR started:
# ask the namespaced systemd to power off (SIGRTMIN+4), SIGKILL it if it
# has not gone after GRACE_SECONDS (default 20), wait until its cgroup is
# empty, then remove the cgroup directories, deepest first. Safe to run
# more than once, and after a boot that never came up.
set -uo pipefail
if [ $# -lt 1 ]; then
	echo "usage: shutdown.sh WORKDIR [GRACE_SECONDS]" >&2
	exit 2
fi
W=$1
GRACE=${2:-20}
[ -s "$W/cgroup" ] || exit 0
CG=$(cat "$W/cgroup")
[ -d "$CG" ] || exit 0

# procs lists every PID left anywhere below the cgroup.
procs() { find "$CG" -name cgroup.procs -exec cat {} + 2>/dev/null; }
# empty_within N waits up to N tenths of a second for the cgroup to empty.
empty_within() {
	local i
	for ((i = 0; i < $1; i++)); do
		[ -z "$(procs)" ] && return 0
		sleep 0.1
	done
	[ -z "$(procs)" ]
}

PID=$(head -n1 "$CG/init.scope/cgroup.procs" 2>/dev/null || true)
if [ -n "$PID" ]; then
	# systemd's "poweroff now" signal: stops every unit, then exits.
	kill -s SIGRTMIN+4 "$PID" 2>/dev/null || true
fi
if ! empty_within $((GRACE * 10)); then
	echo "shutdown.sh: systemd did not power off within ${GRACE}s; killing" >&2
	# Killing the namespace's PID 1 makes the kernel kill every process of
	# that pid namespace; the loop also catches anything that escaped it.
	for p in $(procs); do kill -KILL "$p" 2>/dev/null || true; done
	if ! empty_within 100; then
		echo "shutdown.sh: processes still in $CG:" $(procs) >&2
		exit 1
	fi
fi
# A cgroup can only be removed once its children are: deepest first.
find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
if [ -d "$CG" ]; then
	echo "shutdown.sh: could not remove $CG" >&2
	exit 1
fi
