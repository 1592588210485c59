#!/bin/bash
# SPDX-License-Identifier: MIT
# Local isolation (issue 14, finding 6): with --allow-users and
# --allow-groups the client socket serves only those users and groups,
# by the credentials the kernel took at connect (SO_PEERCRED,
# SO_PEERGROUPS), however open the socket's mode. Runs clients under
# other uids with setpriv, so it needs root.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 16
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	for i in $(seq 1 16); do skip "needs root and setpriv (util-linux)"; done
	exit 0
fi
# the other users reach the socket and the build's programs
chmod 0711 "$T_DIR"
mkdir -m 0777 "$T_DIR/out"
# ... where they can: a root made for one user (some containers, chroots
# of a build) may not let another run bash or read the build
if ! setpriv --reuid=12345 --regid=12345 --clear-groups "$CTL" --version >"$T_DIR/other-user.out" 2>&1; then
	diag "another user cannot run mcstorectl here: $(head -1 "$T_DIR/other-user.out")"
	for i in $(seq 1 16); do skip "other users cannot run the build's programs here"; done
	exit 0
fi
# the lists need a cluster key: without one any local user would reach the
# master and the data ports on loopback, around the socket
"$CTL" keygen "$T_DIR/k" >/dev/null
start_master --key-file "$T_DIR/k"
"$NODE_BIN" --no-config --master "127.0.0.1:$MASTER_PORT" --name nokey --segment-size 16M --hugepages off \
	--socket "$T_DIR/nokey.sock" --allow-users 12345 >"$T_DIR/nokey.log" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "need a cluster key" "$T_DIR/nokey.log"
ok $? "--allow-users without a cluster key is refused at start (exit $st)"
start_node n1 32M --hugepages off --socket-mode 0666 --allow-users 12345 --allow-groups 23456 --key-file "$T_DIR/k"
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

# read-only users: no mapping, a reader's key, every write refused
# everywhere (this needs a cluster key: the data port tells a reader from
# a writer by it)
"$NODE_BIN" --no-config --master "127.0.0.1:$MASTER_PORT" --name ro --segment-size 16M --hugepages off \
	--socket "$T_DIR/ro.sock" --read-only-users 12345 >"$T_DIR/ro.log" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "need a cluster key" "$T_DIR/ro.log"
ok $? "--read-only-users without a cluster key is refused at start (exit $st)"
start_node n2 32M --hugepages off --key-file "$T_DIR/k" --socket-mode 0666 --read-only-users 12345
check "root puts r on n2" -- on n2 put r "$T_DIR/v.bin"
as2() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$CTL" --socket "$SOCK_n2" "$@"; }
as2 12345 get r -o "$T_DIR/out/r.bin" 2>"$T_DIR/e5" && cmp -s "$T_DIR/v.bin" "$T_DIR/out/r.bin"
ok $? "a read-only user gets r, byte-exact (from its own node, over the data port)"
sed "s/^/# /" "$T_DIR/e5" | head -3
as2 12345 put w "$T_DIR/v.bin" 2>"$T_DIR/e6"
st=$?
[ $st -eq 3 ] && grep -q "Operation not permitted" "$T_DIR/e6"
ok $? "its put is refused (exit $st: $(head -1 "$T_DIR/e6"))"
as2 12345 rm r 2>"$T_DIR/e7"
st=$?
[ $st -eq 3 ] && on n2 get r -o "$T_DIR/o5.bin" && cmp -s "$T_DIR/v.bin" "$T_DIR/o5.bin"
ok $? "its rm is refused, and r is still there (exit $st: $(head -1 "$T_DIR/e7"))"
DP2=$(sed -n 's/.*data port \([0-9][0-9]*\).*/\1/p' "$T_DIR/n2.log" | head -1)
setpriv --reuid=12345 --regid=12345 --clear-groups "$TESTBIN/intruder" reader "$SOCK_n2" "127.0.0.1:$MASTER_PORT" \
	"127.0.0.1:$DP2" >"$T_DIR/reader.out" 2>&1
ok $? "raw: no memfd, a reader's key; PUT_START, REMOVE, REMOVE_ALL, holds and DATA_WRITE refused"
sed 's/^/# /' "$T_DIR/reader.out"
on n2 get r -o "$T_DIR/o6.bin" && cmp -s "$T_DIR/v.bin" "$T_DIR/o6.bin"
ok $? "the writers' objects are intact"
finish_daemons
