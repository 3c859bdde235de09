#!/bin/bash
# init.sh WORKDIR — PID 1 of fresh pid/mount/cgroup/uts/ipc namespaces
# (started by boot.sh): builds a throw-away root and execs systemd in it.
#
# The new root is an overlay of the host's / whose upper layer is a tmpfs
# mounted in this private mount namespace, so nothing written by systemd,
# the unit or the test ever reaches the host's disk, and it all vanishes
# with the namespace. See /work/shared/systemd-in-tests.md for the recipe.
#
# WORKDIR holds:
#   root-add/  a tree copied over the new root: what `make install
#              DESTDIR=root-add` laid out (binary, unit, sysusers/tmpfiles,
#              docs, /etc/kpay-rotator)
#   share/     bind-mounted at /share, for files the test reads back
#   ns/        an empty directory; the tmpfs holding the overlay goes here
set -euo pipefail
W=$1

# Nothing mounted below may propagate back to the host's namespace.
mount --make-rprivate /
mount -t tmpfs -o mode=0755 kpr-systemdtest "$W/ns"
mkdir "$W/ns/upper" "$W/ns/work" "$W/ns/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/ns/upper,workdir=$W/ns/work" "$W/ns/root"
R=$W/ns/root

# A private /dev with only what a container gets; the host's device nodes
# stay out of reach.
mount -t tmpfs -o mode=0755,nosuid kpr-dev "$R/dev"
for d in null zero full random urandom tty; do
	touch "$R/dev/$d"
	mount --bind "/dev/$d" "$R/dev/$d"
done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777 kpr-shm "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
# /proc of the new pid namespace; its /proc/sys stays read-only.
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro sysfs "$R/sys"
# The cgroup namespace is rooted at boot.sh's child cgroup: systemd sees it
# as the whole hierarchy.
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 kpr-run "$R/run"
mkdir -p "$R/share"
mount --bind "$W/share" "$R/share"

# A fresh machine: an empty machine-id (systemd makes a transient one), no
# wiping of /tmp at boot (Debian's tmp.conf would empty the host's /tmp as
# seen through the overlay), and no trace of an earlier kpay-rotator
# install the host might carry.
: > "$R/etc/machine-id"
mkdir -p "$R/etc/tmpfiles.d"
: > "$R/etc/tmpfiles.d/tmp.conf"
rm -rf "$R/etc/kpay-rotator" "$R/var/lib/kpay-rotator" "$R/var/lib/private/kpay-rotator" \
	"$R/etc/systemd/system/kpay-rotator.service" "$R/etc/systemd/system/kpay-rotator.service.d"

# The files under test, laid out by `make install DESTDIR=…`.
# Timestamps are not copied: a newer /usr would trip every
# ConditionNeedsUpdate= unit (hwdb, ldconfig, catalog) into running at boot.
cp -R --preserve=mode,ownership "$W/root-add/." "$R/"

# Units that need what a namespace cannot give (clock, kernel modules,
# pstore) would only fail and mark the boot degraded.
for u in systemd-timesyncd systemd-modules-load systemd-pstore; do
	ln -sf /dev/null "$R/etc/systemd/system/$u.service"
done
# Boot only as far as sysinit.target (journald, sysusers, tmpfiles): the
# test starts kpay-rotator.service itself.
cat > "$R/etc/systemd/system/ci.target" <<'T'
[Unit]
Description=kpay-rotator systemd test
Requires=sysinit.target
After=sysinit.target
AllowIsolate=yes
T

cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot 2>/dev/null || true
# Without shared propagation LoadCredential= silently yields an empty
# $CREDENTIALS_DIRECTORY (systemd mounts the credentials below /run and
# expects them to propagate into the service's namespace).
mount --make-rshared /
exec env -i container=kpay-rotator-systemdtest /lib/systemd/systemd --unit=ci.target
