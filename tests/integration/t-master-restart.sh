#!/bin/bash
# SPDX-License-Identifier: MIT
# A master that restarts loses no object (issue 15, default mode): three
# nodes hold objects of many sizes, some with two replicas, one striped
# over three nodes, one replaced by an upsert, one removed; the master is
# killed (SIGKILL) and another started on its port. The nodes reconnect
# and report the parts they hold; every object then reads back byte for
# byte through every node, the upsert's new value and not its old one,
# the removed key stays gone, and a put started before the restart is
# refused at its end, never half-visible. New puts go on beside the old
# objects, and a second restart (SIGTERM) brings back both.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PC=$TESTBIN/peer-client
tap_plan 22
# max-buffer 1M: a replica of 2 MiB and 5 bytes is striped over three nodes
MARGS=(--max-buffer 1M --lease-ttl-ms 2000)
start_master "${MARGS[@]}"
MP=$MASTER_PORT
for n in n1 n2 n3; do start_node $n 32M --hugepages off; done

# put_all FIRST LAST: objects FIRST..LAST, of sizes from 1 byte to
# 300 KB, through the three nodes in turn, every third with 2 replicas
put_all() {
	local i sz nodes=(n1 n2 n3) st=0 extra
	for ((i = $1; i <= $2; i++)); do
		sz=$(((i * 7919) % 300000 + 1))
		head -c "$sz" /dev/urandom >"$T_DIR/o$i.bin"
		extra=()
		[ $((i % 3)) -ne 0 ] || extra=(--replicas 2)
		on "${nodes[i % 3]}" put "o$i" "$T_DIR/o$i.bin" "${extra[@]}" >/dev/null || st=1
	done
	return $st
}
# all_back FIRST LAST: each object reads back byte for byte on each node
all_back() {
	local i n bad=0
	for ((i = $1; i <= $2; i++)); do
		for n in n1 n2 n3; do
			on $n get "o$i" -o "$T_DIR/got.bin" >/dev/null 2>&1 && cmp -s "$T_DIR/got.bin" "$T_DIR/o$i.bin" ||
				{ bad=$((bad + 1)); diag "o$i through $n: not the bytes put"; }
		done
	done
	return $bad
}
# reported N: every node said it reported its parts N times
reported() {
	local n
	for n in n1 n2 n3; do
		[ "$(grep -c "reported .* objects' parts to master" "$T_DIR/$n.log")" -ge "$1" ] || return 1
	done
}

put_all 1 40
ok $? "40 objects put through three nodes, every third with two replicas"
head -c $((2 * 1024 * 1024 + 5)) /dev/urandom >"$T_DIR/big.bin"
on n1 put big "$T_DIR/big.bin" >/dev/null && [ "$(on n1 locate big --json | jq '.replicas[0].buffers | length')" = 3 ]
ok $? "an object of 2 MiB and 5 bytes striped over the three nodes"
head -c 5000 /dev/urandom >"$T_DIR/u1.bin"
head -c 7000 /dev/urandom >"$T_DIR/u2.bin"
on n2 put u "$T_DIR/u1.bin" >/dev/null && on n2 put --upsert u "$T_DIR/u2.bin" >/dev/null
ok $? "an object replaced by an upsert"
on n3 put gone "$T_DIR/u1.bin" >/dev/null && on n3 rm gone
ok $? "an object put and removed"
# a zero-copy view held through n2's daemon (not a direct link): the
# daemon takes its hold again at the new master
head -c 20000 /dev/urandom >"$T_DIR/held.bin"
on n2 put held "$T_DIR/held.bin" --location n2-0 >/dev/null
mkfifo "$T_DIR/hold.in"
MCSTORE_DIRECT_MASTER=0 "$TESTBIN/upsert-client" "$SOCK_n2" hold held "$T_DIR/held.bin" <"$T_DIR/hold.in" \
	>"$T_DIR/hold.out" 2>&1 &
HOLD=$!
track "$HOLD" "a view held through n2"
exec 5>"$T_DIR/hold.in"
wait_until 30 grep -q '^held' "$T_DIR/hold.out" && [ "$(cat "$T_DIR/hold.out")" = "held same" ]
ok $? "a client holds a verified view of an object, through its daemon ($(tr '\n' ';' <"$T_DIR/hold.out"))"
mkfifo "$T_DIR/half.in"
"$PC" put-hold unix "$SOCK_n1" half 4096 <"$T_DIR/half.in" >"$T_DIR/half.out" 2>&1 &
HALF=$!
track "$HALF" "a put left half-way"
exec 4>"$T_DIR/half.in"
wait_until 30 grep -q '^started' "$T_DIR/half.out"
ok $? "a put started and not ended"

kill_pid "$MASTER_PID"
start_master --port "$MP" "${MARGS[@]}"
wait_until 120 reported 1
ok $? "after a crash of the master, a new one on its port: the three nodes report their parts"
grep -h "reported .* objects' parts" "$T_DIR"/n?.log | sed 's/^/# /'
all_back 1 40
ok $? "every object reads back byte for byte through every node"
on n2 get big -o "$T_DIR/got.bin" >/dev/null && cmp -s "$T_DIR/got.bin" "$T_DIR/big.bin"
ok $? "the striped object too"
on n1 get u -o "$T_DIR/got.bin" >/dev/null && cmp -s "$T_DIR/got.bin" "$T_DIR/u2.bin"
ok $? "the upserted key has its new value, not the old one"
expect_status 1 "the removed key stays removed" -- on n1 exists gone
echo end >&4
exec 4>&-
reap "$HALF"
ok $? "the put started before the restart is refused at its end ($(tail -1 "$T_DIR/half.out"))"
expect_status 1 "and its key is not stored" -- on n2 exists half
held_again() { grep -q "holds again at the master\|views' holds again" "$T_DIR/n2.log"; }
wait_until 60 held_again
on n3 rm held --no-wait >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "the view's hold is taken again at the new master: a remove of its object is refused"
echo verify >&5
wait_until 30 grep -q '^verify' "$T_DIR/hold.out" && [ "$(sed -n 2p "$T_DIR/hold.out")" = "verify 0 same" ]
ok $? "the view still reads its bytes, verified"
echo release >&5
exec 5>&-
# (the fifo's write end lives on in the processes started since: no EOF)
wait_until 30 grep -q '^released' "$T_DIR/hold.out" && kill_pid "$HOLD" && on n3 rm held --no-wait >/dev/null
ok $? "released (the daemon passes the new hold's id), the object is removed"
[ "$(on n1 stat --json | jq .objects)" = 42 ]
ok $? "the master knows the 42 objects again ($(on n1 stat --json | jq .objects))"

put_all 41 60
ok $? "20 new objects put after the restart"
all_back 1 60
ok $? "old and new objects read back"

stop_pid "$MASTER_PID"
start_master --port "$MP" "${MARGS[@]}"
wait_until 120 reported 2
all_back 1 60 && on n3 get big -o "$T_DIR/got.bin" >/dev/null && cmp -s "$T_DIR/got.bin" "$T_DIR/big.bin"
ok $? "after a second restart (SIGTERM) every object reads back again"
finish_daemons
