#!/bin/bash
# SPDX-License-Identifier: MIT
# A client that outlives its node's restart (issue 14, finding 5): its
# handle still maps the dead daemon's segment, which has the same name as
# the new one. Every segment has an incarnation, made when it is created
# and carried by MOUNT, HELLO and every buffer the master hands out, so
# the handle tells the new segment from the one it maps, never writing
# into memory nobody else sees: it connects to the new daemon at its next
# call and maps the new segment (the old mapping goes), its put lands
# there and every other client reads it back byte-exact, and a zero-copy
# view of it is of the new mapping.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 9
start_master --node-timeout-ms 60000
start_node n1 64M --hugepages off
head -c 50000 /dev/urandom >"$T_DIR/v.bin"
check "put k before the restart" -- on n1 put k "$T_DIR/v.bin"
"$TESTBIN/intruder" outlive "$SOCK_n1" "$T_DIR/go" k2 "$T_DIR/k2.bin" >"$T_DIR/outlive.out" 2>&1 &
OP=$!
track "$OP" "the client that outlives its node"
wait_until 30 grep -q started "$T_DIR/outlive.out"
ok $? "a client holds a handle on n1"
stop_pid "$PID_n1"
ok $? "n1 stops (its segment unmounted, its objects gone with it)"
start_node n1 64M --hugepages off
alive "$PID_n1"
ok $? "n1 starts again: a new segment of the same name"
touch "$T_DIR/go"
wait_until 60 grep -q "put k2 after the restart" "$T_DIR/outlive.out"
grep -q "put k2 after the restart: success" "$T_DIR/outlive.out"
ok $? "the old handle's put succeeds ($(grep -o 'put k2 after the restart: .*' "$T_DIR/outlive.out"))"
on n1 get k2 -o "$T_DIR/o.bin" 2>"$T_DIR/get.err" && cmp -s "$T_DIR/k2.bin" "$T_DIR/o.bin"
ok $? "a new client reads it back byte-exact (not a checksum error: $(head -1 "$T_DIR/get.err"))"
wait_until 60 grep -q "view k2 after the restart" "$T_DIR/outlive.out"
grep -q "view k2 after the restart: success" "$T_DIR/outlive.out"
ok $? "the old handle connected to the new daemon and maps its segment: a zero-copy view of k2 ($(grep -o 'view k2 after the restart: .*' "$T_DIR/outlive.out"))"
wait "$OP"
T_DONE[$OP]=1
finish_daemons
