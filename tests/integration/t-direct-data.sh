#!/bin/bash
# SPDX-License-Identifier: MIT
# Remote puts and gets that libmcstore moves itself over the nodes' data
# ports (the default), and through the local daemon (MCSTORE_DIRECT_DATA=0):
# both byte-exact from 0 B to 64 MiB+3 and for striped objects, into one or
# many iovecs, in batches of 64; a peer SIGKILLed mid-transfer fails only
# its own replica and the handle keeps working (a batch's small objects
# travel in DATA_READVs, many to a request, which n2 counts); a SIGSTOPped peer makes a
# get fail with a timeout within the client's bound, on the client's own
# connection in direct mode and on the daemon's otherwise. Every step
# waits for what it needs (ss: iproute2).
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 54
# node losses come only from the kill below (its connection closes)
start_master --node-timeout-ms 60000
for n in n1 n2 n3; do start_node $n 160M --hugepages off --heartbeat-interval-ms 100 --metrics-port 0; done
D=$TESTBIN/data-client
B=$TESTBIN/batch-client

# dc MODE NODE ARGS...: data-client on NODE with a 10 s timeout; MODE
# direct (the default) or daemon (MCSTORE_DIRECT_DATA=0)
dc() {
	local mode=$1 node=$2; shift 2
	local sv="SOCK_$node"
	if [ "$mode" = daemon ]; then
		MCSTORE_DIRECT_DATA=0 "$D" "${!sv}" 10000 "$@"
	else
		"$D" "${!sv}" 10000 "$@"
	fi
}
port_of() { # KEY: the data port of the node holding KEY's first buffer
	on n1 locate "$1" | awk 'NR>2 {print $4; exit}' | sed 's/.*://'
}

# sizes across the chunk and window sizes, put on n1 into n2, got on n3
i=0
for size in 0 1 4096 1048577 16777216 67108867; do
	i=$((i + 1))
	head -c $size /dev/urandom >"$T_DIR/v$i.bin"
done
for mode in direct daemon; do
	i=0
	for size in 0 1 4096 1048577 16777216 67108867; do
		i=$((i + 1))
		dc $mode n1 put $mode$i "$T_DIR/v$i.bin" n2-0 2>/dev/null &&
			dc $mode n3 get $mode$i "$T_DIR/o.bin" 2>/dev/null && cmp -s "$T_DIR/v$i.bin" "$T_DIR/o.bin"
		ok $? "$mode: $size bytes put on n1 into n2, got on n3, byte-exact"
	done
done
for i in 4 6; do
	dc direct n3 get direct$i "$T_DIR/o.bin" 5 2>/dev/null && cmp -s "$T_DIR/v$i.bin" "$T_DIR/o.bin"
	ok $? "direct: object $i got into 5 uneven iovecs, byte-exact"
done
dc direct n3 get direct6 "$T_DIR/o.bin" 2000 2>/dev/null && cmp -s "$T_DIR/v6.bin" "$T_DIR/o.bin"
ok $? "direct: 64 MiB+3 got into 2000 iovecs (more than one recvmsg takes), byte-exact"
dc daemon n3 get direct5 "$T_DIR/o.bin" 2>/dev/null && cmp -s "$T_DIR/v5.bin" "$T_DIR/o.bin" &&
	dc direct n3 get daemon5 "$T_DIR/o.bin" 2>/dev/null && cmp -s "$T_DIR/v5.bin" "$T_DIR/o.bin"
ok $? "what one path wrote, the other reads"
dc direct n2 get direct6 "$T_DIR/o.bin" 2>/dev/null && cmp -s "$T_DIR/v6.bin" "$T_DIR/o.bin"
ok $? "the node holding it reads it locally"
for mode in direct daemon; do for i in 1 2 3 4 5 6; do on n1 rm --force $mode$i >/dev/null; done; done

# two replicas on two other nodes, written in one pass
dc direct n1 put two "$T_DIR/v5.bin" n2-0 n3-0 2>/dev/null
ok $? "direct: put with replicas on n2 and n3"
[ "$(on n1 locate two | awk 'NR>2 {print $2}' | sort | tr '\n' ' ')" = "n2 n3 " ]
ok $? "the replicas are on n2 and n3"
on n2 get two | cmp -s - "$T_DIR/v5.bin" && on n3 get two | cmp -s - "$T_DIR/v5.bin"
ok $? "each node reads its replica back byte for byte"
on n1 rm --force two >/dev/null

# striped: 200 MiB over 160 MiB segments, a stripe possibly on n1 itself
head -c $((200 << 20)) /dev/urandom >"$T_DIR/big.bin"
dc direct n1 put big "$T_DIR/big.bin" 2>/dev/null
ok $? "direct: put a 200 MiB object (segments are 160 MiB)"
[ "$(on n1 locate big | awk 'NR>2 {print $2}' | sort -u | wc -l)" -ge 2 ]
ok $? "it is striped over at least two nodes"
for mode in direct daemon; do
	for n in n1 n2 n3; do
		dc $mode $n get big "$T_DIR/o.bin" 3 2>/dev/null && cmp -s "$T_DIR/big.bin" "$T_DIR/o.bin"
		ok $? "$mode: get the striped object on $n, byte-exact"
	done
done
on n1 rm --force big >/dev/null
dc daemon n1 put big2 "$T_DIR/big.bin" 2>/dev/null && dc direct n2 get big2 "$T_DIR/o.bin" 2>/dev/null &&
	cmp -s "$T_DIR/big.bin" "$T_DIR/o.bin"
ok $? "a striped object written through the daemon reads back directly"
on n1 rm --force big2 >/dev/null
rm -f "$T_DIR/big.bin"

# batches of 64 (0 B .. 2 MiB) on another node
check "direct: put a batch of 64 from n1 into n2" -- "$B" "$SOCK_n1" put b 64 n2-0
# readv_served: n2's count of DATA_READV requests (its page is made anew
# every 100 ms: read it until it says what is waited for)
readv_served() {
	http "$(metrics_port_of "$T_DIR/n2.log")" GET /metrics |
		awk '$1 == "mcstore_node_data_readv_total" { print $2 }'
}
readv_grew() { [ "$(readv_served)" -gt "$R0" ]; }
R0=$(readv_served)
check "direct: get the batch of 64 on n3 byte for byte" -- "$B" "$SOCK_n3" get b 64
[ -n "$R0" ] && wait_until 30 readv_grew
ok $? "direct: the batch's small objects went as DATA_READVs (n2 served $R0, then $(readv_served))"
check "direct: the same batch on n3, busy polling the data ports (MCSTORE_BUSY_POLL_US)" -- \
	env MCSTORE_BUSY_POLL_US=200 "$B" "$SOCK_n3" get b 64
check "daemon: the same batch on n3 through the daemon" -- env MCSTORE_DIRECT_DATA=0 "$B" "$SOCK_n3" get b 64
check "daemon: put a batch of 64 from n3 into n2 through the daemon" -- \
	env MCSTORE_DIRECT_DATA=0 "$B" "$SOCK_n3" put c 64 n2-0
check "direct: get it on n1" -- "$B" "$SOCK_n1" get c 64
check "direct: per-key failures beside successes" -- "$B" "$SOCK_n3" errors b

# waiting_at PORT OUT: the connections whose end at PORT holds bytes
# nobody read (while PORT's owner is stopped: requests sent to it), each
# shown from its other end, with the process holding that (ss -p); 0 if
# there is one
waiting_at() {
	local p
	: >"$2"
	for p in $(ss -Htn state established "( sport = :$1 )" | awk '$1 > 0 { n = split($4, a, ":"); print a[n] }'); do
		ss -Htnp state established "( sport = :$p and dport = :$1 )" >>"$2"
	done
	[ -s "$2" ]
}
# from_line N FILE: FILE from its line N on
from_line() { tail -n "+$1" "$2"; }
# loop_saw FILE N REGEX: a line of the loop's output from line N on matches
loop_saw() { from_line "$2" "$1" | grep -qE "$3"; }

# a stopped peer: timeouts within the bound, then the same handle recovers.
# The loop runs until SIGUSR1 (120 s at most); each step waits for what it
# needs to see, for as long as a loaded machine takes.
head -c $((16 << 20)) /dev/urandom >"$T_DIR/a.bin"
head -c $((1 << 20)) /dev/urandom >"$T_DIR/b.bin"
dc direct n1 put A "$T_DIR/a.bin" n3-0 2>/dev/null && dc direct n1 put B "$T_DIR/b.bin" n2-0 2>/dev/null
ok $? "put A on n3 and B on n2"
P3=$(port_of A)
"$D" "$SOCK_n1" 3000 loop 120 A "$T_DIR/a.bin" B "$T_DIR/b.bin" >"$T_DIR/stop.out" 2>"$T_DIR/stop.err" &
LOOP=$!
track $LOOP "data-client loop on A and B"
wait_until 60 grep -qx "A ok" "$T_DIR/stop.out"
kill -STOP "$(pid_of n3)"
mark=$(($(wc -l <"$T_DIR/stop.out") + 1))
wait_until 60 waiting_at "$P3" "$T_DIR/ss.out"
wait_until 60 loop_saw "$T_DIR/stop.out" "$mark" "^A error .*time"
kill -CONT "$(pid_of n3)"
# a right read of A after the last timeout
wait_until 60 sh -c 'tac "$1" | sed "/^A error/q" | grep -qx "A ok"' sh "$T_DIR/stop.out"
kill -USR1 $LOOP
reap $LOOP
st=$?
sed 's/^/# /' "$T_DIR/ss.out"
grep -q '"data-client"' "$T_DIR/ss.out"
ok $? "direct: while n3 is stopped, the client itself waits on n3's data port"
[ $st -eq 3 ] && grep -q "^A error .*time" "$T_DIR/stop.out"
ok $? "direct: gets of A time out while n3 is stopped (exit $st)"
ms=$(sed -n 's/^ms=//p' "$T_DIR/stop.err")
diag "slowest get: $ms ms (timeout 3000 ms)"
# a get that ignored its timeout would last until SIGCONT, which comes
# only once a timeout was seen: well past this bound
[ -n "$ms" ] && [ "$ms" -lt 9000 ]
ok $? "direct: no get waited much past the 3000 ms timeout"
! grep -q "WRONG" "$T_DIR/stop.out" && ! grep -q "^B error" "$T_DIR/stop.out"
ok $? "direct: B (on n2) read right throughout, no wrong byte anywhere"
[ "$(grep '^A ' "$T_DIR/stop.out" | tail -1)" = "A ok" ]
ok $? "direct: after SIGCONT, the same handle reads A again"

# the same through the daemon: its connection, the client's timeout
dc direct n1 get A "$T_DIR/o.bin" 2>/dev/null
kill -STOP "$(pid_of n3)"
# (a 6 s timeout: the daemon's request waits at n3 that long, for ss to see)
MCSTORE_DIRECT_DATA=0 "$D" "$SOCK_n1" 6000 get A "$T_DIR/o.bin" >/dev/null 2>"$T_DIR/stop2.err" &
GET=$!
wait_until 60 waiting_at "$P3" "$T_DIR/ss2.out"
wait $GET
st=$?
kill -CONT "$(pid_of n3)"
sed 's/^/# /' "$T_DIR/ss2.out"
grep -q '"mcstored"' "$T_DIR/ss2.out" && ! grep -q '"data-client"' "$T_DIR/ss2.out"
ok $? "daemon: with MCSTORE_DIRECT_DATA=0 only the daemon talks to n3"
ms=$(sed -n 's/^ms=//p' "$T_DIR/stop2.err")
[ $st -eq 3 ] && [ -n "$ms" ] && [ "$ms" -lt 18000 ]
ok $? "daemon: the get times out within the bound ($ms ms, exit $st)"

# a peer killed mid-transfer: its replica fails, the others serve
head -c $((64 << 20)) /dev/urandom >"$T_DIR/k1.bin"
head -c $((16 << 20)) /dev/urandom >"$T_DIR/k3.bin"
dc direct n1 put K1 "$T_DIR/k1.bin" n2-0 2>/dev/null && dc direct n1 put K3 "$T_DIR/k3.bin" n2-0 n3-0 2>/dev/null &&
	dc direct n1 put C "$T_DIR/b.bin" n3-0 2>/dev/null
ok $? "put K1 (64 MiB) on n2, K3 on n2 and n3, C on n3"
"$D" "$SOCK_n1" 10000 loop 120 K1 "$T_DIR/k1.bin" K3 "$T_DIR/k3.bin" C "$T_DIR/b.bin" >"$T_DIR/kill.out" \
	2>"$T_DIR/kill.err" &
LOOP=$!
track $LOOP "data-client loop on K1, K3 and C"
wait_until 60 grep -qx "K1 ok" "$T_DIR/kill.out"
kill_pid "$(pid_of n2)"
wait_until 60 grep -q "^K1 error" "$T_DIR/kill.out"
mark=$(grep -n "^K1 error" "$T_DIR/kill.out" | head -1 | cut -d: -f1)
# after the loss: K3 (its other replica) and C read again on the same handle
wait_until 60 loop_saw "$T_DIR/kill.out" "$mark" "^K3 ok"
wait_until 60 loop_saw "$T_DIR/kill.out" "$mark" "^C ok"
kill -USR1 $LOOP
reap $LOOP
st=$?
grep -c ok "$T_DIR/kill.out" | sed 's/^/# gets ok: /'
grep -v ok "$T_DIR/kill.out" | sort | uniq -c | sed 's/^/# /'
ms=$(sed -n 's/^ms=//p' "$T_DIR/kill.err")
diag "slowest get: $ms ms"
[ $st -eq 3 ] && grep -q "^K1 ok" "$T_DIR/kill.out" && grep -q "^K1 error" "$T_DIR/kill.out"
ok $? "K1 read fine, then failed with an error once n2 died (exit $st)"
! grep -q WRONG "$T_DIR/kill.out"
ok $? "no get returned a wrong byte"
[ "$(grep '^K3 ' "$T_DIR/kill.out" | tail -1)" = "K3 ok" ] && ! grep -q "^C error" "$T_DIR/kill.out"
ok $? "K3 falls back to its replica on n3, C on n3 always reads, on the same handle"
[ -n "$ms" ] && [ "$ms" -lt 20000 ]
ok $? "no get hung past the timeout"
dc direct n1 put after "$T_DIR/b.bin" n3-0 2>/dev/null && dc direct n1 get after "$T_DIR/o.bin" 2>/dev/null &&
	cmp -s "$T_DIR/b.bin" "$T_DIR/o.bin"
ok $? "new remote puts and gets work after the loss"
alive "$(pid_of n1)" && alive "$(pid_of n3)" && alive "$MASTER_PID"
ok $? "master and surviving nodes alive"

finish_daemons
