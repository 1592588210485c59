#!/bin/bash
# SPDX-License-Identifier: MIT
# Through the daemon's relay the master sees one owner, the node: the
# daemon keeps each client's holds and pending puts apart (issue 14,
# finding 6). A client that guesses another's hold ids, or ends or
# revokes another's put, is refused; the victim's hold and put stand.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 9
start_master --lease-ttl-ms 200 --put-timeout-ms 600000
start_node n1 32M --hugepages off
head -c 100000 /dev/urandom >"$T_DIR/v.bin"
check "put k" -- ctl put k "$T_DIR/v.bin"

# the victim holds a zero-copy view of k through the relay, and hangs
HANG_SECONDS=600 "$TESTBIN/garbage" halfview "$NODE_SOCK" k >"$T_DIR/view.out" 2>&1 &
VP=$!
track "$VP" "the holder"
wait_until 30 grep -q "started" "$T_DIR/view.out"
ok $? "a client holds a view of k (through the daemon)"
# and starts a put of p, and hangs
HANG_SECONDS=600 "$TESTBIN/garbage" halfput "$NODE_SOCK" p 4096 >"$T_DIR/put.out" 2>&1 &
PP=$!
track "$PP" "the writer"
wait_until 30 grep -q "started" "$T_DIR/put.out"
ok $? "a client starts a put of p (through the daemon)"

"$TESTBIN/garbage" forge "$NODE_SOCK" k >"$T_DIR/forge-k.out" 2>&1
ok $? "another client's 4096 guessed RELEASEs of k are all refused"
sed 's/^/# /' "$T_DIR/forge-k.out" | tail -5
# refused for its read lease first (200 ms), then for the hold, which
# stands: a released hold would let the rm through (then: no such key)
held() { ! ctl rm --no-wait k >"$T_DIR/rm.out" 2>&1 && grep -q "held" "$T_DIR/rm.out"; }
wait_until 30 held
ok $? "k is still held: rm is refused ($(head -1 "$T_DIR/rm.out"))"

"$TESTBIN/garbage" forge "$NODE_SOCK" p >"$T_DIR/forge-p.out" 2>&1
ok $? "another client's PUT_END and PUT_REVOKE of p are refused"
sed 's/^/# /' "$T_DIR/forge-p.out" | tail -3
# without a key the daemon goes to loopback endpoints only: a local client
# cannot aim it at another host (finding 3's SSRF half)
"$TESTBIN/intruder" ssrf "$NODE_SOCK" 192.0.2.1:9 >"$T_DIR/ssrf.out" 2>&1
ok $? "FETCH and PUSH aimed at 192.0.2.1:9 through the daemon: refused"
sed 's/^/# /' "$T_DIR/ssrf.out"
kill_pid "$VP"
kill_pid "$PP"
finish_daemons
