#!/bin/bash
# SPDX-License-Identifier: MIT
# A node whose master does not answer keeps serving its clients (issue
# 14, suspected finding: the reconnect blocked the whole loop for its
# 1 s connect timeout, once a second): the master is replaced by a port
# whose backlog is full, so connects there hang until they time out, and
# PINGs on the node's socket, spread over several retries, are answered
# at once; once a master is back on the port, the node mounts again.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PC=$TESTBIN/peer-client
tap_plan 8
start_master
MP=$MASTER_PORT
start_node n1 32M --hugepages off
stop_pid "$MASTER_PID"
wait_until 30 grep -q "lost the master" "$T_DIR/n1.log"
ok $? "the node sees its master go"
"$PC" blackhole "$MP" >"$T_DIR/bh.out" 2>&1 &
BH=$!
track "$BH" "a port that answers no SYN"
wait_until 30 grep -q "^ready" "$T_DIR/bh.out"
ok $? "a port on the master's address that drops every SYN"
# the node retries every second, each connect timing out after 1 s: 40
# pings 100 ms apart span a few of them
"$PC" pings unix "$NODE_SOCK" 40 100 >"$T_DIR/pings.out" 2>&1
st=$?
ms=$(sed -n 's/^slowest of [0-9]* pings: \([0-9]*\) ms$/\1/p' "$T_DIR/pings.out")
[ $st -eq 0 ] && [ -n "$ms" ] && [ "$ms" -lt 500 ]
ok $? "meanwhile the node answers its clients at once ($(cat "$T_DIR/pings.out"))"
grep -q "waiting for master 127.0.0.1:$MP" "$T_DIR/n1.log"
ok $? "and says it waits for the master"
kill_pid "$BH"
start_master --port "$MP"
mounts() { [ "$(grep -c "segment \"n1-0\" .* mounted with master" "$T_DIR/n1.log")" -ge 2 ]; }
wait_until 60 mounts
ok $? "a master back on the port has the node mount again"
head -c 10000 /dev/urandom >"$T_DIR/v.bin"
ctl put k "$T_DIR/v.bin" >/dev/null && ctl get k -o "$T_DIR/v.out" >/dev/null && cmp -s "$T_DIR/v.bin" "$T_DIR/v.out"
ok $? "and its clients put and get"
finish_daemons
