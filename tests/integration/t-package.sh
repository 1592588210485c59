#!/bin/bash
# SPDX-License-Identifier: MIT
# The packages, built from this tree and used: packaging/build.sh builds
# the .debs (dpkg-buildpackage -us -uc -b), which are unpacked into a
# scratch root with dpkg -x (nothing is installed on the machine). From
# there: the files are where they belong, the library has its SONAME and
# exports exactly the public API (and the symbols file lists it), the
# sysusers/tmpfiles snippets work on that root, systemd-analyze verify
# accepts the units, and the installed mcstore-master, mcstored and
# mcstorectl, plus a program built against libmcstore-dev, store and read
# objects on loopback. Where the packages have mcstorectl top (amd64,
# arm64), its BPF programs must be in them whatever the build host: the
# builds run with the running kernel's BTF hidden (root: a mount
# namespace with /dev/null over it), configure must have taken the
# checked-in ebpf/mcstore-vmlinux.h, mcstorectl must link libbpf, and as
# root on a kernel with BTF the installed top must count a get on the
# installed master. Then the RPMs (rpmbuild -bb) are built and checked
# the same way, more briefly.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ -n "${MCS_IN_PACKAGE_BUILD:-}" ]; then
	echo "1..0 # SKIP running inside a package build"
	exit 0
fi
for tool in dpkg-buildpackage dpkg-checkbuilddeps dpkg-architecture; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed (scripts/deps.sh installs it)"
		exit 0
	fi
done
if ! dpkg-checkbuilddeps -P nocheck "$MCS_SRCDIR/packaging/debian/control" >"$T_DIR/deps" 2>&1; then
	echo "1..0 # SKIP build dependencies missing: $(sed 's/.*Unmet build dependencies: //' "$T_DIR/deps" | head -1)"
	exit 0
fi

version=$("$CTL" --version | awk '{ print $2 }')
# libmcstore's own version (the API's), as configure has it
libversion=$(sed -n 's/^Version: //p' "$MCS_BUILDDIR/libmcstore/mcstore.pc")
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
SYM=$MCS_SRCDIR/libmcstore/libmcstore.sym
# the exported names libmcstore.sym lists
sym_names() { sed -n 's/^[[:space:]]*\(mcs_[a-z0-9_]*\);.*/\1/p' "$SYM" | sort; }

# the architectures whose packages have top (packaging/debian/rules)
case $(dpkg-architecture -qDEB_HOST_ARCH) in amd64 | arm64) HAS_TOP=1 ;; *) HAS_TOP= ;; esac
BTF=/sys/kernel/btf/vmlinux
# pkg_build COMMAND...: with the running kernel's BTF replaced by an
# empty file when this test can, so that a build reading it fails
BTF_HIDDEN=
if [ "$(id -u)" -eq 0 ] && [ -e "$BTF" ] && unshare -m true 2>/dev/null; then
	BTF_HIDDEN=1
fi
pkg_build() {
	if [ -n "$BTF_HIDDEN" ]; then
		unshare -m sh -c 'mount --bind /dev/null "$0" && exec "$@"' "$BTF" "$@"
	else
		"$@"
	fi
}
hidden_note() { [ -n "$BTF_HIDDEN" ] && echo ", with $BTF hidden" || echo ", $BTF not hidden (not root)"; }
# kernel_types_from_tree LOG: configure took ebpf/mcstore-vmlinux.h and
# nothing dumped a vmlinux.h
kernel_types_from_tree() {
	grep -q "where the BPF programs take the kernel types from\.\.\. ebpf/mcstore-vmlinux\.h" "$1" &&
		! grep -qE "btf dump|GEN +ebpf/vmlinux\.h" "$1"
}

tap_plan 45

# ---- build
OUT=$T_DIR/out
DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" pkg_build "$MCS_SRCDIR/packaging/build.sh" deb "$OUT" >"$T_DIR/build.out" 2>&1
ok $? "dpkg-buildpackage -us -uc -b builds$(hidden_note)"
if [ $T_FAILED -ne 0 ]; then
	sed 's/^/# /' "$T_DIR/build.out" | tail -40
	echo "Bail out! no packages"
	exit 1
fi
declare -A DEB
for p in mcstore libmcstore1 libmcstore-dev python3-mcstore python3-mcstore-mooncake; do
	arch=$(dpkg-architecture -qDEB_HOST_ARCH)
	[ "$p" != python3-mcstore-mooncake ] || arch=all
	f=$OUT/${p}_${version}_$arch.deb
	[ -f "$f" ] && [ "$(dpkg-deb -f "$f" Package)" = "$p" ] && [ "$(dpkg-deb -f "$f" Version)" = "$version" ]
	ok $? "$p $version built"
	DEB[$p]=$f
done
dpkg-deb -f "${DEB[mcstore]}" Depends | grep -q "libmcstore1 (>= $version)"
ok $? "mcstore depends on libmcstore1 (from the symbols file)"
dpkg-deb -f "${DEB[python3-mcstore]}" Depends | grep -q "libmcstore1 (>= $version)" &&
	dpkg-deb -f "${DEB[python3-mcstore]}" Depends | grep -qE "python3 \(>= 3\.[0-9]+"
ok $? "python3-mcstore depends on libmcstore1 and python3 ($(dpkg-deb -f "${DEB[python3-mcstore]}" Depends))"
dpkg-deb -f "${DEB[python3-mcstore-mooncake]}" Depends | grep -q "python3-mcstore (>= $version)" &&
	dpkg-deb -f "${DEB[python3-mcstore-mooncake]}" Conflicts | grep -q "python3-mooncake"
ok $? "python3-mcstore-mooncake depends on python3-mcstore and conflicts with python3-mooncake"
if [ -n "$HAS_TOP" ]; then
	kernel_types_from_tree "$OUT/build-deb.log"
	ok $? "configure --enable-bpf=yes took the kernel types from ebpf/mcstore-vmlinux.h, not the build host's kernel"
	dpkg-deb -f "${DEB[mcstore]}" Depends | grep -q "libbpf1"
	ok $? "mcstore depends on libbpf1 (shlibs of mcstorectl)"
else
	skip "no top in this architecture's packages"
	skip "no top in this architecture's packages"
fi
dpkg-deb -I "${DEB[mcstore]}" conffiles | sort >"$T_DIR/conffiles"
printf '/etc/mcstore/master.conf\n/etc/mcstore/mcstored.conf\n' | diff - "$T_DIR/conffiles" >/dev/null
ok $? "both configuration files are conffiles"
dpkg-deb -e "${DEB[mcstore]}" "$T_DIR/ctrl"
bad=
for s in "$T_DIR"/ctrl/{preinst,postinst,prerm,postrm}; do [ ! -f "$s" ] || sh -n "$s" || bad=1; done
[ -z "$bad" ] && grep -q "systemd-sysusers.*mcstore.conf" "$T_DIR/ctrl/postinst" &&
	grep -q "systemd-tmpfiles.*--create mcstore.conf" "$T_DIR/ctrl/postinst" &&
	! grep -qE "deb-systemd-invoke (start|restart)" "$T_DIR/ctrl/postinst"
ok $? "maintainer scripts: valid sh, create the user and /run/mcstore, start nothing"
# the cluster key: made by postinst once the mcstore group exists, for it
kg=$(grep -n "mcstorectl keygen --group /etc/mcstore/cluster.key" "$T_DIR/ctrl/postinst" | cut -d: -f1)
su=$(grep -n "systemd-sysusers" "$T_DIR/ctrl/postinst" | head -1 | cut -d: -f1)
[ -n "$kg" ] && [ -n "$su" ] && [ "$kg" -gt "$su" ] && grep -q "chgrp mcstore /etc/mcstore/cluster.key" "$T_DIR/ctrl/postinst" &&
	grep -q "rm -f /etc/mcstore/cluster.key" "$T_DIR/ctrl/postrm"
ok $? "postinst makes the cluster key (after the user and group), readable by group mcstore; purge removes it"

# ---- unpack
ROOT=$T_DIR/root
bad=
for f in "${DEB[@]}"; do dpkg -x "$f" "$ROOT" || bad=1; done
[ -z "$bad" ]
ok $? "dpkg -x of the ${#DEB[@]} packages"
LIB=usr/lib/$MA
missing=
for f in usr/sbin/mcstored usr/sbin/mcstore-master usr/bin/mcstorectl \
	etc/mcstore/mcstored.conf etc/mcstore/master.conf \
	lib/systemd/system/mcstored.service lib/systemd/system/mcstore-master.service \
	usr/lib/tmpfiles.d/mcstore.conf usr/lib/sysusers.d/mcstore.conf \
	usr/share/man/man1/mcstorectl.1.gz usr/share/man/man3/libmcstore.3.gz usr/share/man/man3/mcs_put.3.gz \
	usr/share/man/man5/mcstore.conf.5.gz usr/share/man/man7/mcstore-protocol.7.gz \
	usr/share/man/man8/mcstored.8.gz usr/share/man/man8/mcstore-master.8.gz \
	usr/share/mcstore/mcstore-alerts.yml usr/share/mcstore/mcstore-dashboard.json \
	usr/share/mcstore/systemd/ip-address-allow.conf usr/share/bash-completion/completions/mcstorectl \
	usr/include/mcstore.h "$LIB/libmcstore.so.1" "$LIB/libmcstore.so" "$LIB/pkgconfig/mcstore.pc" \
	usr/lib/python3/dist-packages/mcstore/__init__.py usr/lib/python3/dist-packages/mcstore/mooncake.py \
	usr/lib/python3/dist-packages/mooncake/store.py usr/share/man/man3/mcstore-python.3.gz; do
	[ -e "$ROOT/$f" ] || missing="$missing $f"
done
[ -z "$missing" ]
ok $? "every file is installed where it belongs"
[ -z "$missing" ] || diag "missing:$missing"
grep -q "^ExecStart=/usr/sbin/mcstored$" "$ROOT/lib/systemd/system/mcstored.service" &&
	grep -q "^ExecStart=/usr/sbin/mcstore-master$" "$ROOT/lib/systemd/system/mcstore-master.service"
ok $? "the units start the installed binaries"

# ---- the library's ABI
objdump -p "$ROOT/$LIB/libmcstore.so.1" | grep -q "SONAME *libmcstore.so.1$"
ok $? "SONAME libmcstore.so.1"
nm -D --defined-only "$ROOT/$LIB/libmcstore.so.1" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort >"$T_DIR/exported"
[ -s "$T_DIR/exported" ] && sym_names | diff - "$T_DIR/exported" >"$T_DIR/d" 2>&1
ok $? "exports exactly the functions of libmcstore.sym ($(wc -l <"$T_DIR/exported"))"
sed 's/^/# /' "$T_DIR/d"
# every export in a version node of libmcstore.sym (one node per release)
nodes=$(sed -n 's/^\(MCSTORE_[0-9.]*\) {.*/\1/p' "$MCS_SRCDIR/libmcstore/libmcstore.sym" | tr '\n' ' ')
objdump -T "$ROOT/$LIB/libmcstore.so.1" |
	awk -v nodes=" $nodes" '$NF ~ /^mcs_/ && index(nodes, " " $(NF-1) " ") == 0 { bad = 1 } END { exit bad }'
ok $? "every export is versioned, in a node of libmcstore.sym ($nodes)"
sed -n 's/^ \(mcs_[a-z0-9_]*\)@.*/\1/p' "$MCS_SRCDIR/packaging/debian/libmcstore1.symbols" | sort | diff <(sym_names) - >"$T_DIR/d" 2>&1
ok $? "packaging/debian/libmcstore1.symbols lists the same functions"
sed 's/^/# /' "$T_DIR/d"

# ---- sysusers.d and tmpfiles.d, applied to the scratch root
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	systemd-sysusers --root="$ROOT" >"$T_DIR/sysusers.out" 2>&1 &&
		grep -q "^mcstore:x:[0-9]*:[0-9]*:mcstore daemons:" "$ROOT/etc/passwd" && grep -q "^mcstore:x:" "$ROOT/etc/group"
	ok $? "sysusers.d creates the mcstore user and group"
	uid=$(awk -F: '$1 == "mcstore" { print $3 }' "$ROOT/etc/passwd")
	gid=$(awk -F: '$1 == "mcstore" { print $3 }' "$ROOT/etc/group")
	systemd-tmpfiles --root="$ROOT" --create mcstore.conf >"$T_DIR/tmpfiles.out" 2>&1 &&
		[ "$(stat -c '%F %a %u %g' "$ROOT/run/mcstore")" = "directory 750 $uid $gid" ]
	ok $? "tmpfiles.d creates /run/mcstore, 0750 mcstore:mcstore"
else
	skip "systemd-sysusers or systemd-tmpfiles is not installed"
	skip "systemd-sysusers or systemd-tmpfiles is not installed"
fi

# ---- the units
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze is not installed"
	skip "systemd-analyze is not installed"
elif [ ! -f /lib/systemd/system/multi-user.target ]; then
	skip "no systemd units on this machine to verify against"
	skip "no systemd units on this machine to verify against"
else
	# verify against this machine's units, with our binaries in the root,
	# and the pages Documentation= names among the root's pages; with the
	# example drop-in in use, as its comment says to install it
	cp -an /lib/systemd/system/. "$ROOT/lib/systemd/system/" 2>/dev/null
	for u in mcstore-master.service mcstored.service; do
		mkdir -p "$ROOT/etc/systemd/system/$u.d"
		cp "$ROOT/usr/share/mcstore/systemd/ip-address-allow.conf" "$ROOT/etc/systemd/system/$u.d/"
	done
	man_check=(--man=yes)
	command -v man >/dev/null || man_check=(--man=no)
	for u in mcstore-master.service mcstored.service; do
		MANPATH=$ROOT/usr/share/man systemd-analyze verify "${man_check[@]}" --root="$ROOT" "$u" \
			>"$T_DIR/verify.out" 2>&1
		st=$?
		[ $st -eq 0 ] && [ ! -s "$T_DIR/verify.out" ]
		ok $? "systemd-analyze verify $u, with the example drop-in: no complaint"
		sed 's/^/# /' "$T_DIR/verify.out"
	done
fi

# ---- the installed programs
export LD_LIBRARY_PATH=$ROOT/$LIB
MASTER_BIN=$ROOT/usr/sbin/mcstore-master
NODE_BIN=$ROOT/usr/sbin/mcstored
CTL=$ROOT/usr/bin/mcstorectl
[ "$("$CTL" --version)" = "mcstorectl $version (libmcstore $libversion)" ]
ok $? "installed mcstorectl --version: mcstorectl $version (libmcstore $version)"
ldd "$CTL" | grep -q "libmcstore.so.1 => $ROOT/$LIB/libmcstore.so.1"
ok $? "which uses the installed libmcstore.so.1"
if [ -n "$HAS_TOP" ]; then
	objdump -p "$CTL" | grep -q "NEEDED *libbpf\.so\." && ! "$CTL" top --pid $$ --once 2>&1 | grep -q "built without BPF"
	ok $? "and has top's BPF programs (links libbpf)"
else
	skip "no top in this architecture's packages"
fi
# the shipped configuration files, as they are, under the test's options
start_master --config "$ROOT/etc/mcstore/master.conf"
start_node pkg 64M --config "$ROOT/etc/mcstore/mcstored.conf" --hugepages off
# the daemons that run are the installed ones, and serve: health (with the
# installed mcstorectl) sees the node's segment mounted with the master
[ "$(readlink "/proc/$MASTER_PID/exe")" = "$(realpath "$MASTER_BIN")" ] &&
	[ "$(readlink "/proc/$NODE_PID/exe")" = "$(realpath "$NODE_BIN")" ] &&
	ctl health >"$T_DIR/health.out" 2>&1 && grep -q "^healthy: node pkg, segment pkg-0 mounted" "$T_DIR/health.out"
ok $? "installed mcstore-master and mcstored start and serve ($(head -1 "$T_DIR/health.out"))"
head -c 3000000 /dev/urandom >"$T_DIR/v.bin"
check "put with the installed mcstorectl" -- ctl put k "$T_DIR/v.bin"
check "get with the installed mcstorectl" -- ctl get k -o "$T_DIR/v.out"
check "bytes identical" -- cmp "$T_DIR/v.bin" "$T_DIR/v.out"

# the packaged BPF object loads on this kernel and counts: one get on the
# master while top is attached
if [ -z "$HAS_TOP" ]; then
	skip "no top in this architecture's packages"
	skip "no top in this architecture's packages"
elif [ "$(id -u)" -ne 0 ] || [ ! -r "$BTF" ]; then
	skip "installed top not run: needs root and a kernel with BTF"
	skip "installed top not run: needs root and a kernel with BTF"
else
	"$CTL" top --pid "$MASTER_PID" --once --json --interval 600 >"$T_DIR/top.json" 2>"$T_DIR/top.err" &
	top_pid=$!
	wait_until 60 grep -q "attached" "$T_DIR/top.err"
	ok $? "installed mcstorectl top loads its BPF programs and attaches to the installed master"
	sed 's/^/# /' "$T_DIR/top.err"
	MCSTORE_DIRECT_MASTER=0 ctl get k -o /dev/null
	kill -INT "$top_pid"
	wait "$top_pid"
	st=$?
	gets=$(grep -o '"gets":[0-9]*' "$T_DIR/top.json" | head -1 | sed 's/.*://')
	[ $st -eq 0 ] && [ "$gets" = 1 ]
	ok $? "and counts the one get (gets: ${gets:-none}, exit $st)"
fi

# a program built against libmcstore-dev (pkg-config, header, .so)
cat >"$T_DIR/client.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <mcstore.h>

int main(int argc, char **argv)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[1] };
	struct mcs_client *c;
	char buf[64];
	int r = mcs_client_new(&o, &c);
	if (r < 0 || argc != 2) {
		fprintf(stderr, "connect: %s\n", mcs_strerror(r));
		return 1;
	}
	unsigned reps = 0;
	r = mcs_put(c, "from-dev", "hello, mcstore", 14, NULL, &reps);
	ssize_t n = mcs_get(c, "from-dev", buf, sizeof(buf));
	printf("%d %u %zd %.*s %s %d\n", r, reps, n, n > 0 ? (int)n : 0, buf, mcs_version(),
	       MCSTORE_CHECK_VERSION(1, 0));
	mcs_client_unref(c);
	return !(r == 0 && reps == 1 && n == 14 && memcmp(buf, "hello, mcstore", 14) == 0);
}
EOF
PKG_CONFIG_PATH=$ROOT/$LIB/pkgconfig PKG_CONFIG_SYSROOT_DIR=$ROOT \
	sh -c 'cc -o "$1/client" "$1/client.c" $(pkg-config --cflags --libs mcstore)' sh "$T_DIR" >"$T_DIR/cc.out" 2>&1
ok $? "a client builds against libmcstore-dev with pkg-config"
sed 's/^/# /' "$T_DIR/cc.out"
"$T_DIR/client" "$NODE_SOCK" >"$T_DIR/client.out" 2>&1
ok $? "and stores and reads through the daemon"
grep -qx "0 1 14 hello, mcstore $libversion 1" "$T_DIR/client.out"
ok $? "(output: $(cat "$T_DIR/client.out"))"

# the Python module of python3-mcstore, where the package puts it, run by
# the system's python3 with the packaged libmcstore.so.1: a Client and a
# MooncakeDistributedStore (python3-mcstore-mooncake) through the daemon
PYDIR=$ROOT/usr/lib/python3/dist-packages
core=$(ls "$PYDIR"/mcstore/_core.cpython-*.so 2>/dev/null | head -1)
[ -n "$core" ] && readelf -d "$core" | grep -q "NEEDED.*\[libmcstore.so.1\]" &&
	! readelf -d "$core" | grep -qE "RPATH|RUNPATH"
ok $? "python3-mcstore's core ($(basename "${core:-none}")) links libmcstore.so.1 and names no build path"
cat >"$T_DIR/client.py" <<'EOF'
import sys
import mcstore
from mooncake.store import MooncakeDistributedStore
assert mcstore.__file__.startswith(sys.argv[1]), mcstore.__file__
with mcstore.Client() as c:
    c.put("from-python", b"hello from python")
    assert c.get("from-python") == b"hello from python"
s = MooncakeDistributedStore()
assert s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 16 << 20, "tcp", "", sys.argv[2]) == 0
assert s.get("from-python") == b"hello from python" and s.is_exist("from-python") == 1
assert s.get("from-dev") == b"hello, mcstore"
s.close()
print("python", mcstore.LIBRARY_VERSION)
EOF
PYTHONPATH=$PYDIR LD_LIBRARY_PATH=$ROOT/$LIB MCSTORE_SOCKET=$NODE_SOCK PYTHONDONTWRITEBYTECODE=1 \
	/usr/bin/python3 "$T_DIR/client.py" "$PYDIR" "127.0.0.1:$MASTER_PORT" >"$T_DIR/py.out" 2>&1 &&
	grep -qx "python $libversion" "$T_DIR/py.out"
ok $? "python3 imports mcstore and mooncake.store from the packages and stores and reads through the daemon"
sed 's/^/# /' "$T_DIR/py.out"

finish_daemons

# ---- RPM
if ! command -v rpmbuild >/dev/null || ! command -v rpm2cpio >/dev/null || ! command -v cpio >/dev/null; then
	skip "rpmbuild, rpm2cpio or cpio is not installed"
	skip "rpmbuild, rpm2cpio or cpio is not installed"
	skip "rpmbuild, rpm2cpio or cpio is not installed"
	skip "rpmbuild, rpm2cpio or cpio is not installed"
else
	RPMBUILD_ARGS=--nocheck pkg_build "$MCS_SRCDIR/packaging/build.sh" rpm "$T_DIR/rpms" >"$T_DIR/rpm.out" 2>&1
	ok $? "rpmbuild -bb builds mcstore, mcstore-libs, mcstore-devel, python3-mcstore, python3-mcstore-mooncake$(hidden_note)"
	sed 's/^/# /' "$T_DIR/rpm.out" | tail -20
	arch=$(uname -m)
	rpm -qlp "$T_DIR"/rpms/{mcstore,mcstore-libs,mcstore-devel,python3-mcstore}-"$version"-1."$arch".rpm \
		"$T_DIR"/rpms/python3-mcstore-mooncake-"$version"-1.noarch.rpm 2>/dev/null | sort >"$T_DIR/rpm-files"
	missing=
	for f in /usr/sbin/mcstored /usr/sbin/mcstore-master /usr/bin/mcstorectl /etc/mcstore/mcstored.conf \
		/etc/mcstore/master.conf /usr/lib/systemd/system/mcstored.service \
		/usr/lib/systemd/system/mcstore-master.service /usr/lib/tmpfiles.d/mcstore.conf \
		/usr/lib/sysusers.d/mcstore.conf /usr/include/mcstore.h /usr/share/man/man8/mcstored.8 \
		/usr/share/man/man3/libmcstore.3 /usr/share/mcstore/mcstore-alerts.yml \
		/usr/share/mcstore/mcstore-dashboard.json /usr/share/mcstore/systemd/ip-address-allow.conf \
		/usr/share/bash-completion/completions/mcstorectl \
		/usr/share/man/man3/mcstore-python.3 /usr/lib/python3/dist-packages/mcstore/__init__.py \
		/usr/lib/python3/dist-packages/mooncake/store.py; do
		grep -q "^$f" "$T_DIR/rpm-files" || missing="$missing $f"
	done
	[ -s "$T_DIR/rpm-files" ] && [ -z "$missing" ]
	ok $? "the RPMs hold the daemons, units, configuration, snippets, header, pages, monitoring files and Python packages"
	[ -z "$missing" ] || diag "missing:$missing"
	mkdir -p "$T_DIR/rpmroot"
	for r in "$T_DIR"/rpms/mcstore{,-libs}-"$version"-1."$arch".rpm; do
		(cd "$T_DIR/rpmroot" && rpm2cpio "$r" | cpio -idm --quiet)
	done
	[ "$(LD_LIBRARY_PATH=$(dirname "$(find "$T_DIR/rpmroot" -name libmcstore.so.1 | head -1)") \
		"$T_DIR/rpmroot/usr/bin/mcstorectl" --version)" = "mcstorectl $version (libmcstore $libversion)" ]
	ok $? "mcstorectl from the RPMs runs"
	if [ -n "$HAS_TOP" ]; then
		kernel_types_from_tree "$T_DIR/rpms/build-rpm.log" &&
			objdump -p "$T_DIR/rpmroot/usr/bin/mcstorectl" | grep -q "NEEDED *libbpf\.so\."
		ok $? "and has top's BPF programs (ebpf/mcstore-vmlinux.h, links libbpf)"
	else
		skip "no top in this architecture's packages"
	fi
fi
