#!/bin/bash
# boot.sh WORKDIR [LIMIT_SECONDS] — boot the host's systemd (252) as PID 1
# of fresh namespaces, in a throw-away overlay root prepared by init.sh.
#
# Runs in the foreground until that systemd exits (poweroff with
# shutdown.sh, or LIMIT_SECONDS, default 600, after which everything is
# SIGKILLed: a hung systemd never outlives its caller's budget). It writes
# WORKDIR/cgroup, the host path of the cgroup2 directory the namespaced
# systemd owns; the host PID of that systemd is then the first PID in
# $(cat WORKDIR/cgroup)/init.scope/cgroup.procs.
#
# The network namespace is shared on purpose: units inside reach test
# servers listening on the host's 127.0.0.1, and the host reaches theirs.
#
# Needs root, util-linux unshare/nsenter, capsh and a cgroup2 mount
# (/sys/fs/cgroup/unified on a mixed v1/v2 host, /sys/fs/cgroup on a pure
# v2 one). Exit 3 when something is missing.
set -euo pipefail
if [ $# -lt 1 ]; then
	echo "usage: boot.sh WORKDIR [LIMIT_SECONDS]" >&2
	exit 2
fi
W=$(realpath "$1")
LIMIT=${2:-600}
HERE=$(dirname "$(realpath "$0")")

if [ "$(id -u)" != 0 ]; then
	echo "boot.sh: needs root" >&2
	exit 3
fi
for c in unshare capsh timeout /lib/systemd/systemd; do
	command -v "$c" >/dev/null || { echo "boot.sh: $c not found" >&2; exit 3; }
done
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -z "$CG2" ]; then
	echo "boot.sh: no cgroup2 file system is mounted" >&2
	exit 3
fi
mkdir -p "$W/ns" "$W/share" "$W/root-add"

# systemd needs a cgroup2 directory of its own to manage: a child of the
# hierarchy's root, which this script moves itself into before it execs, so
# that everything started from here on lives (and can be found and
# killed) below it.
CG=$CG2/kpay-rotator-systemdtest-$$
mkdir "$CG"
printf '%s\n' "$CG" > "$W/cgroup"
echo $$ > "$CG/cgroup.procs"

# Capabilities a container must not have: the namespaced systemd would
# otherwise load kernel modules, set the host clock or poke at raw I/O.
# --kill-child: when unshare dies (even by SIGKILL from timeout), its child,
# the namespace's PID 1, is SIGKILLed, and with it the whole namespace.
exec timeout -s KILL "$LIMIT" capsh --drop=cap_sys_module,cap_sys_time,cap_sys_rawio -- -c \
	"exec unshare --pid --fork --mount --cgroup --uts --ipc --kill-child=SIGKILL $(printf '%q %q' "$HERE/init.sh" "$W")"
