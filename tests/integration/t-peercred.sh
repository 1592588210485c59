#!/bin/bash
# SPDX-License-Identifier: MIT
# Local isolation (issue 14, finding 6): with --allow-users and
# --allow-groups the client socket serves only those users and groups,
# by the credentials the kernel took at connect (SO_PEERCRED,
# SO_PEERGROUPS), however open the socket's mode. Runs clients under
# other uids with setpriv, so it needs root.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 8
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	for i in $(seq 1 8); do skip "needs root and setpriv (util-linux)"; done
	exit 0
fi
# the other users reach the socket and the build's programs
chmod 0711 "$T_DIR"
mkdir -m 0777 "$T_DIR/out"
start_master
start_node n1 32M --hugepages off --socket-mode 0666 --allow-users 12345 --allow-groups 23456
head -c 10000 /dev/urandom >"$T_DIR/v.bin"
chmod 0644 "$T_DIR/v.bin"
check "root may always use the socket" -- on n1 put k "$T_DIR/v.bin"
# as UID GID GROUPS-OPTION CTL-ARGS...: mcstorectl on n1 as that user
as() { local u=$1 g=$2 gr=$3; shift 3; setpriv --reuid="$u" --regid="$g" "$gr" "$CTL" --socket "$SOCK_n1" "$@"; }
as 12345 12345 --clear-groups get k -o "$T_DIR/out/o1.bin" 2>"$T_DIR/e1" && cmp -s "$T_DIR/v.bin" "$T_DIR/out/o1.bin"
ok $? "uid 12345 (in --allow-users) gets k"
sed "s/^/# /" "$T_DIR/e1" | head -3
as 54321 54321 --groups=23456 get k -o "$T_DIR/out/o2.bin" 2>"$T_DIR/e2" && cmp -s "$T_DIR/v.bin" "$T_DIR/out/o2.bin"
ok $? "uid 54321 with supplementary group 23456 (in --allow-groups) gets k"
as 65534 65534 --clear-groups get k -o "$T_DIR/out/o3.bin" 2>"$T_DIR/e3"
st=$?
[ $st -eq 3 ] && [ ! -s "$T_DIR/out/o3.bin" ] && grep -q "Permission denied" "$T_DIR/e3"
ok $? "uid 65534, in neither list, is refused though the mode lets it connect (exit $st: $(head -1 "$T_DIR/e3"))"
grep -q "refused a client: pid [0-9]*, uid 65534, gid 65534 is not among --allow-users / --allow-groups" "$T_DIR/n1.log"
ok $? "the daemon logs whom it refused"
on n1 get k -o "$T_DIR/o4.bin" && cmp -s "$T_DIR/v.bin" "$T_DIR/o4.bin"
ok $? "and keeps serving the others"
finish_daemons
