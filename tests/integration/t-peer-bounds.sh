#!/bin/bash
# SPDX-License-Identifier: MIT
# What a peer may hold of the loop, and for how long (issue 14): a
# connection that begins a frame and stops is closed after
# --frame-timeout-ms, one that never sends a request after
# --idle-timeout-ms, each with a log line, on the master's port and a
# node's socket, while other clients keep being served.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PC=$TESTBIN/peer-client
tap_plan 9
start_master --frame-timeout-ms 2000 --idle-timeout-ms 3000
"$PC" half 127.0.0.1 "$MASTER_PORT" 30 >"$T_DIR/half.out" 2>&1 &
HALF=$!
track "$HALF" "half a header"
# served meanwhile (the half connection is not in the way)
check "another client is served while half a header waits" -- "$PC" ping 127.0.0.1 "$MASTER_PORT"
wait "$HALF"
st=$?
T_DONE[$HALF]=1
ms=$(sed -n 's/^closed after \([0-9]*\) ms$/\1/p' "$T_DIR/half.out")
[ $st -eq 0 ] && [ -n "$ms" ] && [ "$ms" -ge 2000 ]
ok $? "half a header is closed once the 2000 ms frame timeout passed ($(cat "$T_DIR/half.out"))"
grep -q "closed: frame timeout: a frame begun and nothing more sent" "$T_DIR/master.log"
ok $? "the master says why"
"$PC" silent 127.0.0.1 "$MASTER_PORT" 30 >"$T_DIR/silent.out" 2>&1
st=$?
ms=$(sed -n 's/^closed after \([0-9]*\) ms$/\1/p' "$T_DIR/silent.out")
[ $st -eq 0 ] && [ -n "$ms" ] && [ "$ms" -ge 3000 ] && grep -q "closed: idle timeout" "$T_DIR/master.log"
ok $? "a connection that never sends a request is closed after the 3000 ms idle timeout ($(cat "$T_DIR/silent.out"))"

# a node's unix socket is bounded the same way; its clients are served
start_node n1 32M --hugepages off --frame-timeout-ms 2000
"$PC" half unix "$NODE_SOCK" 30 >"$T_DIR/nhalf.out" 2>&1
ok $? "the node closes half a header on its socket ($(cat "$T_DIR/nhalf.out"))"
grep -q "connection from local pid [0-9]* closed: frame timeout" "$T_DIR/n1.log"
ok $? "and says so, naming the peer's pid"
head -c 10000 /dev/urandom >"$T_DIR/v.bin"
ctl put k "$T_DIR/v.bin" >/dev/null && ctl get k -o "$T_DIR/v.out" >/dev/null && cmp -s "$T_DIR/v.bin" "$T_DIR/v.out"
ok $? "a client of the node puts and gets meanwhile"
finish_daemons
