#!/bin/bash
# SPDX-License-Identifier: MIT
# Install, from Debian's archive, the packages mcstore needs that are
# missing, for one or more profiles:
#
#   scripts/deps.sh [--dry-run | --list] [build|test|bench]...
#
#   build  build the tree and run a local cluster (scripts/build.sh,
#          scripts/run-local.sh)
#   test   build, and everything scripts/check.sh runs: make check, make
#          distcheck, t-package (the default)
#   bench  build, and bench/compare's peers (redis-server, memcached) and
#          their C clients
#
# Safe to run again: it installs nothing when all is there. Needs root (or
# sudo) only when something is missing. It installs packages only: it never
# upgrades one that is installed (a -dev package is taken at the version of
# the library the machine has), and never starts or enables a service
# (redis-server and memcached are installed stopped and disabled).
# --dry-run says what it would install, and changes nothing; --list prints
# the packages of the profiles, one per line, installed or not.
set -euo pipefail

# ---- what each profile needs, by purpose: command (or file) -> package.
# Checked against a `debootstrap --variant=minbase bookworm` root, which
# already has what the scripts and tests call besides: bash, coreutils
# (timeout, numfmt, stat, nproc, mkfifo, mktemp, seq), util-linux (flock),
# diffutils (cmp, diff), libc-bin (ldd, getconf), findutils, grep, sed,
# mawk, tar, gzip, dpkg (dpkg-deb, dpkg-query), apt, init-system-helpers
# (update-rc.d) and sysvinit-utils (pidof). A minbase root has no procps,
# iproute2, cpio, file, binutils, curl or python3: nothing here calls ps
# or curl (ip and ss come with the test profile's iproute2), and python3
# comes with the test profile's python3-dev (the
# Python package and its tests); add to the right group what a new script
# or test calls.
BUILD=(
	# scripts/build.sh: autoreconf -fi (autoconf, automake, libtoolize),
	# configure and make; cc, as, ld
	gcc make autoconf automake libtool
	# configure's PKG_CHECK_MODULES, and the libraries it checks for
	# (json-c: mcstorectl's --json; libsodium: the cluster key, the
	# links' handshake and the capability tokens; libsystemd: mcstored's
	# segment in the service manager's fd store; the daemons' other
	# notifications speak the sd_notify protocol themselves; libcurl: HA
	# mode's etcd client, over etcd's JSON gateway)
	pkg-config liburing-dev libxxhash-dev libjson-c-dev libsodium-dev libsystemd-dev libcurl4-openssl-dev
	# libibverbs (rdma-core): the RDMA transport (configure builds it
	# when this is there)
	libibverbs-dev
)
TEST=(
	# the Check unit tests (tests/unit; configure leaves them out without)
	check
	# ss: t-direct-data.sh (which process holds a connection to a node);
	# ip: the chaos harness's network namespaces, veth pairs and bridge
	# (the kernel's veth and bridge drivers; it runs on loopback without)
	iproute2
	# nft: the chaos harness's partitions that drop a process's traffic
	nftables
	# readelf (t-top), objdump and nm (t-package); gcc brings it too
	binutils
	# <sys/sdt.h>: the daemons' USDT probes; libbpf, bpftool and clang:
	# the eBPF programs of mcstorectl top (t-top skips without them)
	systemtap-sdt-dev libbpf-dev bpftool clang
	# the libFuzzer builds of tests/fuzz (clang -fsanitize=fuzzer,address,
	# undefined: libFuzzer's, ASan's and UBSan's runtimes; configure
	# leaves them out without, and the standalone fuzz drivers still run)
	libclang-rt-14-dev
	# t-manpages: mandoc -T lint, man --warnings (groff); man is also what
	# systemd-analyze verify --man=yes runs in t-package
	mandoc man-db groff-base
	# t-package: dpkg-buildpackage, dpkg-checkbuilddeps, dpkg-architecture
	# and dh (the .debs; dpkg-checkbuilddeps wants build-essential, else
	# t-package skips); rpmbuild and rpm2cpio (rpm), cpio (the RPMs), and
	# file, which rpmbuild's brp-strip runs (without it: "file: not found"
	# in the log and unstripped binaries)
	dpkg-dev debhelper build-essential
	rpm cpio file
	# t-package: systemd-sysusers, systemd-tmpfiles, systemd-analyze and
	# the system units (multi-user.target) the units are verified against
	# (systemd-analyze security: t-units)
	systemd
	# strace: t-units traces the daemons' system calls against the units'
	# filter (it skips those checks without)
	strace
	# etcd (etcd-server): the HA tests run a real etcd on loopback
	# (t-ha, the chaos harness); etcdctl is not needed
	etcd-server
	# jq: the JSON of mcstorectl --json, top --json and the Grafana
	# dashboard (t-ctl, t-top, t-monitoring). promtool (t-monitoring) is
	# not a package here: see promtool_fetch below.
	jq
	# the Python package (python/): its C headers; pytest, numpy and torch
	# for tests/python (the buffer protocol of arrays and tensors); and
	# dh-python for python3-mcstore's .deb (t-package)
	python3-dev python3-pytest python3-numpy python3-torch dh-python
	# tests/rdma: the QEMU guest the RDMA suite runs in (emulated, with
	# Soft-RoCE in Debian's own kernel, fetched by tests/rdma/rxe-guest.sh,
	# never installed); the guest runs the host's user space, so the rxe
	# verbs provider (ibverbs-providers), ibv_devinfo (ibverbs-utils),
	# rping (rdmacm-utils) and ib_read_bw/ib_write_bw (perftest, the
	# reference of the RDMA benchmark) are installed here; rdma comes
	# with iproute2 and cpio (the guest's initramfs) with rpm's above
	qemu-system-x86 ibverbs-providers ibverbs-utils rdmacm-utils perftest
)
BENCH=(
	# bench/compare: the peers it measures (redis-server, redis-cli from
	# redis-tools, memcached) and kv-bench's clients for them
	redis-server memcached libhiredis-dev libmemcached-dev
	# bench/py-bench: redis-py (with hiredis) beside the Python package
	python3-redis python3-hiredis
	# ss: bench/compare's free_port
	iproute2
)

usage() {
	sed -n '3,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}
DRY=0
LIST=0
profiles=()
for a in "$@"; do
	case $a in
	--dry-run | -n) DRY=1 ;;
	--list) LIST=1 ;;
	build | test | bench) profiles+=("$a") ;;
	-h | --help) usage 0 ;;
	*) echo "deps: unknown profile or option '$a'" >&2; usage ;;
	esac
done
[ ${#profiles[@]} -gt 0 ] || profiles=(test)

want=()
for p in "${profiles[@]}"; do
	case $p in
	build) want+=("${BUILD[@]}") ;;
	test) want+=("${BUILD[@]}" "${TEST[@]}") ;;
	bench) want+=("${BUILD[@]}" "${BENCH[@]}") ;;
	esac
done
mapfile -t want < <(printf '%s\n' "${want[@]}" | awk '!seen[$0]++')
if [ $LIST = 1 ]; then
	printf '%s\n' "${want[@]}"
	exit 0
fi

# the installed version of a package, empty when it is not installed
installed_version() {
	{ dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } | sed -n 's/^install ok installed //p' | head -1
}
missing=()
for p in "${want[@]}"; do
	[ -n "$(installed_version "$p")" ] || missing+=("$p")
done
# promtool for t-monitoring, unpacked from Debian's prometheus package into
# a cache (installing the package would start a server); the test says it
# skips without it
promtool_fetch() {
	[[ " ${profiles[*]} " == *" test "* ]] && [ $DRY = 0 ] || return 0
	"$(dirname "$0")/promtool.sh" >/dev/null ||
		echo "deps: no promtool: t-monitoring will skip its promtool checks" >&2
}
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#want[@]} packages for ${profiles[*]} present"
	promtool_fetch
	exit 0
fi

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if [ $DRY = 0 ]; then
	echo "deps: missing for ${profiles[*]}: ${missing[*]}"
	$SUDO apt-get update -qq
fi

# ---- never upgrade what the machine has. A -dev package requires its
# library at its own version (libjson-c-dev 0.16-2 needs libjson-c5
# 0.16-2), so installing the archive's newest one upgrades the library the
# machine runs, and with it whatever else requires that exact version. Take the package at the
# installed library's version instead, with its siblings of the same
# version, when the archive still has it. (apt-get --no-upgrade does not
# help: it only keeps the packages named on the command line from being
# upgraded, not their dependencies.)
candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -1; }
available() { # PKG VERSION: the archive has PKG at VERSION
	apt-cache madison "$1" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | grep -qxF -- "$2"
}
exact_deps() { # PKG VERSION: "DEP VERSION" for each dependency DEP (= VERSION) of PKG at VERSION
	apt-cache show "$1=$2" 2>/dev/null | sed -n 's/^\(Pre-\)\{0,1\}Depends: //p' | tr ',' '\n' |
		sed -n 's/^ *\([^ |:]*\)\(:any\)\{0,1\} (= \([^)]*\)) *$/\1 \3/p' | sort -u
}
args=()
declare -A named=()
for p in "${missing[@]}"; do named[$p]=1; done
notes=()
for p in "${missing[@]}"; do
	cand=$(candidate "$p")
	if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
		echo "deps: $p is not in this machine's package lists (is a bookworm archive in its apt sources?)" >&2
		exit 1
	fi
	spec=$p
	while read -r dep need; do
		have=$(installed_version "$dep")
		[ -n "$have" ] && [ "$have" != "$need" ] || continue
		if available "$p" "$have"; then
			spec="$p=$have"
			# its siblings of that version that are not installed either
			while read -r sib sv; do
				[ -n "$(installed_version "$sib")" ] || [ -n "${named[$sib]:-}" ] || ! available "$sib" "$sv" ||
					{ args+=("$sib=$sv"); named[$sib]=1; }
			done < <(exact_deps "$p" "$have")
		else
			notes+=("$p $cand needs $dep $need; this machine has $dep $have, and the archive has no $p $have, so $dep will be upgraded to $need")
		fi
		break
	done < <(exact_deps "$p" "$cand")
	args+=("$spec")
done

# what apt would do: it must install, and upgrade nothing that is not said
if ! sim=$(apt-get -s install --no-install-recommends "${args[@]}" 2>&1); then
	echo "$sim" | tail -20 >&2
	echo "deps: apt cannot install ${args[*]}" >&2
	exit 1
fi
upgrades=$(echo "$sim" | sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\) .*/\1 \2 -> \3/p')
for n in "${notes[@]}"; do echo "deps: note: $n" >&2; done
if [ -n "$upgrades" ]; then
	echo "deps: note: installing these upgrades packages this machine already has:" >&2
	echo "$upgrades" | sed 's/^/deps:   /' >&2
fi
if [ $DRY = 1 ]; then
	echo "deps: would install (with their dependencies): ${args[*]}"
	exit 0
fi

# ---- install with every service start denied, then disable what the new
# packages enabled. redis-server's and memcached's maintainer scripts
# enable their units (deb-systemd-helper enable, update-rc.d defaults) and
# start them (deb-systemd-invoke where systemd runs, invoke-rc.d in a
# chroot); both ask /usr/sbin/policy-rc.d first, and 101 means "not now".
# A unit is disabled with systemctl (offline, --root=/, where systemd does
# not run: a chroot), or where there is no systemctl by removing the links
# the package made, as systemctl would; an init script with update-rc.d
# disable. An upgrade of the package then leaves it disabled (its script
# re-enables a unit only if all the links it once made are still there).
# The units of systemd's own packages (getty and the like, when systemd is
# installed into a root without it) are how such a root boots, and are
# left as they are.
POLICY=/usr/sbin/policy-rc.d
saved=
restore_policy() {
	$SUDO rm -f "$POLICY"
	[ -z "$saved" ] || $SUDO mv "$saved" "$POLICY"
}
if [ -e "$POLICY" ]; then
	saved=$POLICY.mcstore-deps
	$SUDO mv "$POLICY" "$saved"
fi
trap restore_policy EXIT
trap 'exit 130' INT TERM
printf '#!/bin/sh\n# scripts/deps.sh of mcstore, while it installs: start nothing\nexit 101\n' |
	$SUDO tee "$POLICY" >/dev/null
$SUDO chmod 755 "$POLICY"

links_to() { find /etc/systemd/system -type l -lname "*/$1" 2>/dev/null; }
disable_unit() {
	if ! command -v systemctl >/dev/null; then
		links_to "$1" | while read -r l; do $SUDO rm -f "$l"; done
	elif [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --quiet "$1"
	else
		$SUDO systemctl --root=/ disable --quiet "$1"
	fi
}

before=$(dpkg-query -W -f='${Package}\n' | sort -u)
echo "deps: installing ${args[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${args[@]}"
new=$(comm -13 <(echo "$before") <(dpkg-query -W -f='${Package}\n' | sort -u))
for p in $new; do
	[ "$(dpkg-query -W -f='${source:Package}' "$p" 2>/dev/null)" != systemd ] || continue
	while read -r f; do
		u=${f##*/}
		case $f in
		/etc/init.d/*)
			$SUDO update-rc.d "$u" disable >/dev/null 2>&1 || true
			;;
		*@.*) ;; # a template: enabled by instance only
		*)
			if [ -n "$(links_to "$u")" ]; then
				disable_unit "$u"
				echo "deps: $p: $u disabled (installed, not started)"
			fi
			;;
		esac
	done < <(dpkg-query -L "$p" 2>/dev/null | grep -E '^(/usr)?/lib/systemd/system/[^/]+\.(service|socket|timer)$|^/etc/init\.d/[^/]+$')
done
promtool_fetch
