#!/bin/bash
# SPDX-License-Identifier: MIT
# rxe-guest.sh: run a command in a throw-away QEMU guest whose kernel has
# Soft-RoCE (rdma_rxe), so that mcstore's libibverbs code runs against a
# real verbs stack on a host with no RDMA hardware and no InfiniBand in its
# own kernel. The RDMA tests (tests/rdma/t-rdma.sh) boot one guest for the
# whole suite with it.
#
#   rxe-guest.sh why-not        print why a guest cannot run here, exit 1;
#                               or print nothing, exit 0
#   rxe-guest.sh prepare        fill the cache (once; a no-op when it is ready)
#   rxe-guest.sh run CMD...     boot, run CMD in the guest, power off; the
#                               exit status is CMD's (124: the guest was
#                               killed at the timeout; 125: it gave none)
#
# The guest runs Debian's own kernel (the package linux-image-amd64 depends
# on), downloaded with apt-get download and unpacked into the cache, never
# installed. Its root file system is the host's / over virtio-9p,
# read-only, so binaries built here run there unchanged; the current
# directory's file system tree (MCS_RXE_SHARE, default $PWD) is mounted
# read-write at the same path, and /tmp, /run, /dev/shm are tmpfs. The
# guest has no network device but lo and what CMD makes (dummy and veth
# are loaded): nothing leaves it. QEMU emulates the CPU (TCG): the /dev/kvm
# of these machines cannot boot a stock kernel.
#
# Environment: MCS_RXE_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/mcstore-rxe),
# MCS_RXE_SHARE, MCS_RXE_MEM (default 2G), MCS_RXE_CPUS (default 2),
# MCS_RXE_TIMEOUT (seconds, default 1200), MCS_RXE_ENV (names of variables
# passed into the guest), MCS_RXE_KEEP=1 (keep the run's directory: console
# log, output).
set -euo pipefail

CACHE=${MCS_RXE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcstore-rxe}
SHARE=${MCS_RXE_SHARE:-$PWD}
MEM=${MCS_RXE_MEM:-2G}
CPUS=${MCS_RXE_CPUS:-2}
TIMEOUT=${MCS_RXE_TIMEOUT:-1200}
# what the guest loads, with their dependencies, in this order. rdma_rxe
# wants the crypto "crc32" at link creation (a soft dependency modules.dep
# does not name): crc32_generic goes first.
WANT="virtio_pci 9pnet_virtio 9p crc32_generic rdma_rxe rdma_ucm dummy veth bridge"
STAMP="mcstore-rxe 1: $WANT"

TRASH=()
trap 'rm -rf "${TRASH[@]}"' EXIT
say() { echo "rxe-guest: $*" >&2; }
fail() { say "$*"; exit 125; }

why_not() {
	[ "$(id -u)" = 0 ] || { echo "not root (the guest's kernel is fetched with apt)"; return 1; }
	command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is not installed (scripts/deps.sh test)"; return 1; }
	[ -e /etc/libibverbs.d/rxe.driver ] || { echo "the rxe verbs provider is not installed (ibverbs-providers)"; return 1; }
	command -v rdma >/dev/null || { echo "the rdma tool is not installed (iproute2)"; return 1; }
	for t in cpio dpkg apt-get python3; do
		command -v $t >/dev/null || { echo "$t is not installed"; return 1; }
	done
	return 0
}

kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

prepare() {
	[ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$STAMP" ] && [ -s "$CACHE/vmlinux" ] && return 0
	local pkg ver tmp
	pkg=$(kernel_package)
	if [ -z "$pkg" ]; then
		apt-get update -qq >&2 || true
		pkg=$(kernel_package)
	fi
	[ -n "$pkg" ] || fail "apt knows no linux-image-amd64 (no Debian archive in sources.list?)"
	ver=${pkg#linux-image-}
	mkdir -p "$CACHE"
	tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
	TRASH+=("$tmp")
	say "fetching $pkg (not installed: unpacked into $CACHE)"
	(cd "$tmp" && apt-get download -qq "$pkg" kmod busybox-static) >&2 2>"$tmp/apt.log" ||
		{ apt-get update -qq >&2 || true; (cd "$tmp" && apt-get download -qq "$pkg" kmod busybox-static) >&2; } ||
		{ cat "$tmp/apt.log" >&2; fail "apt-get download $pkg failed"; }
	local deb
	for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
	# depmod and modprobe are kmod by another name; run them on the
	# unpacked tree only
	mkdir "$tmp/bin"
	ln -s "$tmp/root/bin/kmod" "$tmp/bin/depmod"
	ln -s "$tmp/root/bin/kmod" "$tmp/bin/modprobe"
	"$tmp/bin/depmod" -b "$tmp/root" "$ver"
	local mods m
	mods=$(for m in $WANT; do "$tmp/bin/modprobe" -d "$tmp/root" -S "$ver" --show-depends "$m"; done |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
	[ -n "$mods" ] || fail "no module of $WANT found in $pkg"
	local ir=$tmp/initramfs
	mkdir -p "$ir"/{bin,lib/modules,proc,sys,dev,host,job}
	cp "$tmp/root/bin/busybox" "$ir/bin/"
	for m in sh mount umount insmod mkdir chroot poweroff reboot cat sync; do ln -s busybox "$ir/bin/$m"; done
	for m in $mods; do
		cp "$m" "$ir/lib/modules/"
		basename "$m" >>"$ir/lib/modules/load-order"
	done
	cat >"$ir/init" <<'INIT'
#!/bin/sh
# the guest's first process: modules, the host's / (read-only) with fresh
# /proc, /sys, /dev and tmpfs over it, the job directory and the share
# (read-write), then the job, chrooted; then power off
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/load-order); do
	insmod /lib/modules/$m || echo "rxe-guest: insmod $m failed"
done
P9=trans=virtio,version=9p2000.L,msize=524288
mount -t 9p -o $P9 job /job
mount -t 9p -o $P9,ro,cache=loose host /host
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
for d in tmp run var/tmp; do mount -t tmpfs tmpfs /host/$d; done
mkdir -p /host/run/job
mount --bind /job /host/run/job
share=$(cat /job/share)
[ -z "$share" ] || mount -t 9p -o $P9 share /host$share
chroot /host /bin/bash /run/job/job.sh
sync
[ -z "$share" ] || umount /host$share
umount /host/run/job
umount /job
reboot -f
INIT
	chmod +x "$ir/init"
	(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initrd"
	# QEMU boots an uncompressed ELF kernel through its PVH entry, much
	# faster under emulation than the bzImage: take the xz payload out
	python3 -c '
import lzma, sys
b = open(sys.argv[1], "rb").read()
i = b.find(b"\xfd7zXZ\x00")
if i < 0:
    sys.exit("no xz payload in " + sys.argv[1])
open(sys.argv[2], "wb").write(lzma.LZMADecompressor().decompress(b[i:]))
' "$tmp/root/boot/vmlinuz-$ver" "$tmp/vmlinux"
	mv "$tmp/initrd" "$tmp/vmlinux" "$CACHE/"
	echo "$ver" >"$CACHE/kernel"
	echo "$STAMP" >"$CACHE/stamp"
	say "ready: kernel $ver"
}

run() {
	[ $# -gt 0 ] || fail "run: no command"
	prepare
	local job rc=0
	mkdir -p "$CACHE/jobs"
	job=$(mktemp -d "$CACHE/jobs/job.XXXXXX")
	if [ "${MCS_RXE_KEEP:-0}" = 1 ]; then say "keeping $job"; else TRASH+=("$job"); fi
	local share
	share=$(cd "$SHARE" && pwd -P)
	[ "$share" != / ] || share=
	echo "$share" >"$job/share"
	{
		echo 'exec >/run/job/out 2>&1'
		echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb'
		echo 'export MCS_RXE_GUEST=1'
		local v
		for v in ${MCS_RXE_ENV:-}; do
			[ -z "${!v+set}" ] || printf 'export %s=%q\n' "$v" "${!v}"
		done
		echo 'ulimit -l unlimited'
		echo 'ip link set lo up'
		printf 'cd %q\n' "$PWD"
		printf '%q ' "$@"
		echo
		echo 'echo $? >/run/job/rc'
	} >"$job/job.sh"
	local q=(qemu-system-x86_64 -M pc -accel tcg,thread=multi -cpu max -m "$MEM" -smp "$CPUS"
		-nodefaults -no-reboot -display none -monitor none -serial "file:$job/console"
		-kernel "$CACHE/vmlinux" -initrd "$CACHE/initrd"
		-append "console=ttyS0 quiet loglevel=3 panic=-1"
		-fsdev "local,id=host,path=/,security_model=none,readonly=on,multidevs=remap"
		-device virtio-9p-pci,fsdev=host,mount_tag=host
		-fsdev "local,id=job,path=$job,security_model=none"
		-device virtio-9p-pci,fsdev=job,mount_tag=job)
	[ -z "$share" ] || q+=(-fsdev "local,id=share,path=$share,security_model=none,multidevs=remap"
		-device virtio-9p-pci,fsdev=share,mount_tag=share)
	timeout "$TIMEOUT" "${q[@]}" </dev/null >"$job/qemu.log" 2>&1 || rc=$?
	[ ! -f "$job/out" ] || cat "$job/out"
	if [ "$rc" = 124 ]; then
		say "the guest was killed after ${TIMEOUT}s (MCS_RXE_TIMEOUT); its console:"
		tail -n 30 "$job/console" >&2
		return 124
	fi
	if [ ! -s "$job/rc" ]; then
		say "the guest ended without the command's status (qemu exit $rc):"
		cat "$job/qemu.log" >&2
		tail -n 30 "$job/console" >&2
		return 125
	fi
	return "$(cat "$job/rc")"
}

case ${1:-} in
why-not) why_not ;;
prepare) prepare ;;
run) shift; run "$@" ;;
*) sed -n '3,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
