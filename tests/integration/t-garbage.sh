#!/bin/bash
# SPDX-License-Identifier: MIT
# Garbage, truncated frames and absurd lengths sent to the master's port
# and to the node's unix socket leave both processes alive, serving, and
# every stored object intact.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 10
start_master
start_node n1 64M --hugepages off
head -c 300000 /dev/urandom >"$T_DIR/v.bin"
check "store an object before the attack" -- ctl put victim "$T_DIR/v.bin"

check "hostile peer on the master port" -- "$TESTBIN/garbage" tcp 127.0.0.1 "$MASTER_PORT"
sed 's/^/# /' "$T_DIR/last.out"
check "hostile peer on the node socket" -- "$TESTBIN/garbage" unix "$NODE_SOCK"
sed 's/^/# /' "$T_DIR/last.out"
DPORT=$(sed -n 's/.*data port \([0-9][0-9]*\).*/\1/p' "$T_DIR/n1.log" | head -1)
check "hostile peer on the node's data port ($DPORT)" -- "$TESTBIN/garbage" data 127.0.0.1 "$DPORT"
sed 's/^/# /' "$T_DIR/last.out"
alive "$MASTER_PID" && alive "$NODE_PID"
ok $? "master and node are alive"
ctl get victim -o "$T_DIR/v.out" && cmp "$T_DIR/v.bin" "$T_DIR/v.out"
ok $? "the object stored before is intact"
ctl put after "$T_DIR/v.bin" && ctl get after | cmp - "$T_DIR/v.bin"
ok $? "a new put/get round trip works"
expect_status 0 "stat still answers" -- ctl stat
finish_daemons
