#!/bin/bash
# SPDX-License-Identifier: MIT
# Concurrent puts and gets from several clients on several nodes while a
# node is killed: every read gives the right bytes or a clean "not found"
# (counted and asserted by the clients), nothing hangs, the survivors serve.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 7
# the killed node is seen at once (its connection closes); the others must
# not be declared lost for a late heartbeat on a loaded machine
start_master --node-timeout-ms 5000
for n in n1 n2 n3 n4; do start_node $n 512M --hugepages off --heartbeat-interval-ms 100; done

# readers and writers on the nodes that survive; one more writer on n4,
# which dies mid-run (its own client is expected to fail)
"$TESTBIN/stress-client" chaos "$SOCK_n1" A 8 A B C D >"$T_DIR/a.out" 2>"$T_DIR/a.err" &
PA=$!
"$TESTBIN/stress-client" chaos "$SOCK_n2" B 8 A B C D >"$T_DIR/b.out" 2>"$T_DIR/b.err" &
PB=$!
"$TESTBIN/stress-client" chaos "$SOCK_n3" C 8 A B C D >"$T_DIR/c.out" 2>"$T_DIR/c.err" &
PC=$!
"$TESTBIN/stress-client" chaos "$SOCK_n4" D 8 A B C D >/dev/null 2>&1 &
PD=$!
# n4 dies mid-run: once every client has stored a few objects (they run
# for 8 s from their start)
running() { local p; for p in A B C D; do on n1 exists "$p-10" >/dev/null || return 1; done; }
wait_until 60 running
kill_pid "$(pid_of n4)"
wait $PA; SA=$?
wait $PB; SB=$?
wait $PC; SC=$?
wait $PD
cat "$T_DIR/a.out" "$T_DIR/b.out" "$T_DIR/c.out" | sed 's/^/# /'
head -3 "$T_DIR/a.err" "$T_DIR/b.err" "$T_DIR/c.err" | sed 's/^/# /'
ok $SA "client on n1: every read right or not found"
ok $SB "client on n2: every read right or not found"
ok $SC "client on n3: every read right or not found"
wait_until 30 sh -c "\"$CTL\" --socket \"$SOCK_n1\" stat | grep -q '^segments: *3$'"
ok $? "the master dropped the killed node"
alive "$MASTER_PID" && alive "$(pid_of n1)" && alive "$(pid_of n2)" && alive "$(pid_of n3)"
ok $? "master and surviving nodes alive"
finish_daemons
