#!/bin/bash
# SPDX-License-Identifier: MIT
# One master and one node on loopback, driven with mcstorectl: every
# command, byte-exact round trips, and the documented error statuses.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 28
start_master
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
# reads take a 200 ms lease: a remove right after a get is refused
ctl get odd >/dev/null
expect_status 3 "rm --no-wait right after a read is refused (leased)" -- ctl rm --no-wait odd
wait_until 5 ctl rm odd
ok $? "rm succeeds once the lease expired"
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
