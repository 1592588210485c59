#!/bin/bash
# SPDX-License-Identifier: MIT
# Clients that die mid-put or while holding a zero-copy view leak nothing:
# the daemon revokes the put and releases the hold when the socket closes.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 11
start_master
start_node n1 16M --hugepages off
G=$TESTBIN/garbage

check "a client starts a 12 MiB put and dies" -- "$G" halfput "$NODE_SOCK" dead-put $((12 << 20))
# the space comes back and the key can be put again, without any timeout
head -c $((12 << 20)) /dev/urandom >"$T_DIR/v.bin"
wait_until 30 ctl put dead-put "$T_DIR/v.bin"
ok $? "the same key is put again once the daemon revoked the dead put"
ctl get dead-put | cmp - "$T_DIR/v.bin"
ok $? "and reads back exactly"
ctl stat | grep -q "^objects: *1$"
ok $? "one object, nothing half-written left"

check "a client takes a view of dead-put and dies" -- "$G" halfview "$NODE_SOCK" dead-put
wait_until 30 ctl rm dead-put
ok $? "the object becomes removable (the hold was released)"
ctl stat --bytes | grep -q "^used: *0 ("
ok $? "all segment space is free again"

# many dying writers in a row: still no leak
died=0
for i in $(seq 1 20); do "$G" halfput "$NODE_SOCK" k$i 1048576 && died=$((died + 1)); done
[ $died -eq 20 ]
ok $? "20 more writers die mid-put ($died did)"
wait_until 30 sh -c "\"$CTL\" --socket \"$NODE_SOCK\" stat --bytes | grep -q '^used: *0 ('"
ok $? "and all their space comes back"
finish_daemons
