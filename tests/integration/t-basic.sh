#!/bin/bash
# SPDX-License-Identifier: MIT
# One master and one node on loopback, driven with mcstorectl: every
# command, byte-exact round trips, and the documented error statuses.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 28
# reads lease for 10 s here: the remove right after a read below must meet
# the lease however slowly a loaded machine runs it (the expiry is checked
# on a second master, whose leases last 1 s)
start_master --lease-ttl-ms 10000
start_node n1 64M --hugepages off

head -c 1048576 /dev/urandom >"$T_DIR/a.bin"
: >"$T_DIR/empty.bin"
head -c 12345 /dev/urandom >"$T_DIR/odd.bin"

check "put a 1 MiB file" -- ctl put k1 "$T_DIR/a.bin"
check "get it back" -- ctl get k1 -o "$T_DIR/a.out"
check "bytes identical" -- cmp "$T_DIR/a.bin" "$T_DIR/a.out"
ctl get k1 >"$T_DIR/a.stdout"
check "get to stdout identical" -- cmp "$T_DIR/a.bin" "$T_DIR/a.stdout"
check "put an empty file" -- ctl put empty "$T_DIR/empty.bin"
check "get of the empty object" -- ctl get empty -o "$T_DIR/empty.out"
check "empty object is empty" -- test ! -s "$T_DIR/empty.out" -a -f "$T_DIR/empty.out"
check "put from stdin" -- sh -c "\"$CTL\" --socket \"$NODE_SOCK\" put odd - <\"$T_DIR/odd.bin\""
check "odd-sized object identical" -- sh -c "\"$CTL\" --socket \"$NODE_SOCK\" get odd | cmp - \"$T_DIR/odd.bin\""
expect_status 0 "exists on a stored key exits 0" -- ctl exists k1
expect_status 1 "exists on a missing key exits 1" -- ctl exists nope
expect_status 1 "get of a missing key exits 1" -- ctl get nope -o "$T_DIR/x"
grep -q "no such key" "$T_DIR/last.err"
ok $? "and says 'no such key'"
expect_status 3 "put of an existing key fails" -- ctl put k1 "$T_DIR/odd.bin"
grep -q "already exists" "$T_DIR/last.err"
ok $? "with 'key already exists'"
ctl get k1 -o "$T_DIR/a.out2"
check "the stored value is untouched" -- cmp "$T_DIR/a.bin" "$T_DIR/a.out2"
# a read takes a lease: a remove right after a get is refused
ctl get odd >/dev/null
expect_status 3 "rm --no-wait right after a read is refused (leased)" -- ctl rm --no-wait odd
ctl rm --force odd >/dev/null
# the lease ends: on a second master with 1 s leases, a remove retried
# after a read succeeds (waiting well past the lease, never a fixed time)
start_master --lease-ttl-ms 1000
start_node s1 16M --hugepages off
on s1 put short "$T_DIR/odd.bin" && on s1 get short >/dev/null &&
	wait_until 30 on s1 rm short && ! on s1 exists short
ok $? "rm succeeds once the lease expired"
NODE_SOCK=$SOCK_n1
expect_status 1 "get after rm exits 1" -- ctl get odd -o "$T_DIR/x"
expect_status 1 "rm of a missing key exits 1" -- ctl rm odd
head -c $((65 * 1024 * 1024)) /dev/zero >"$T_DIR/big.bin"
expect_status 3 "put larger than the segment fails" -- ctl put big "$T_DIR/big.bin"
grep -q "no space" "$T_DIR/last.err"
ok $? "with a clear 'no space' error"
ctl stat --bytes >"$T_DIR/stat.out"
grep -q "^objects: *2$" "$T_DIR/stat.out"
ok $? "stat counts 2 objects"
grep -q "^capacity: *67108864$" "$T_DIR/stat.out"
ok $? "stat shows the 64 MiB capacity"
grep -q "^n1-0 *n1 *67108864" "$T_DIR/stat.out"
ok $? "stat lists segment n1-0 of node n1"
expect_status 2 "unknown command is a usage error" -- ctl frobnicate
finish_daemons
