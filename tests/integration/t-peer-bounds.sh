#!/bin/bash
# SPDX-License-Identifier: MIT
# What a peer may hold of the loop, and for how long (issue 14): a
# connection that begins a frame and stops is closed after
# --frame-timeout-ms, one that never sends a request after
# --idle-timeout-ms, each with a log line, on the master's port and a
# node's socket, while other clients keep being served; and a client that
# does not read its answers is not read from while more than
# --max-queued-answers of them wait (finding 8: a million STATs unread
# grew the master by 500 MiB), and gets them all once it reads.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PC=$TESTBIN/peer-client
tap_plan 14
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

# ---- answers unread: the requests wait in the client's socket
N=300000
start_master --max-queued-answers 1M
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$MASTER_PID/status"; }
R0=$(rss)
mkfifo "$T_DIR/go"
"$PC" flood 127.0.0.1 "$MASTER_PORT" $N <"$T_DIR/go" >"$T_DIR/flood.out" 2>&1 &
FLOOD=$!
track "$FLOOD" "flooder"
exec 3>"$T_DIR/go"
wait_until 60 grep -q "answers unread, its requests wait until it reads them" "$T_DIR/master.log"
ok $? "$N STATs unread: past 1 MiB of answers the master stops reading that client"
R1=$(rss)
diag "master VmRSS $R0 kB before, $R1 kB once it stopped reading"
[ -n "$R0" ] && [ -n "$R1" ] && [ $((R1 - R0)) -lt 16384 ]
ok $? "its memory grew by less than 16 MiB ($R0 -> $R1 kB)"
check "another client is served meanwhile" -- "$PC" ping 127.0.0.1 "$MASTER_PORT"
echo go >&3
exec 3>&-
wait "$FLOOD"
st=$?
T_DONE[$FLOOD]=1
sed 's/^/# /' "$T_DIR/flood.out"
[ $st -eq 0 ] && grep -qx "read $N of $N in order" "$T_DIR/flood.out" && grep -qx "wrote $N" "$T_DIR/flood.out"
ok $? "once it reads, it gets all $N answers, in order"
alive "$MASTER_PID"
ok $? "and the master is still there"
finish_daemons
