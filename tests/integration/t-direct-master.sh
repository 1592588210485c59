#!/bin/bash
# SPDX-License-Identifier: MIT
# Clients send their metadata requests straight to the master (the
# daemon's HELLO names it), one hop shorter than through the daemon. The
# daemon's relayed-requests counter shows which way requests went: none
# relayed by default but the holds of zero-copy views, all of them with
# MCSTORE_DIRECT_MASTER=0 or a node
# started with --client-master none, and a client whose direct address is
# unreachable falls back to the daemon. A client keeps its handle across a
# master restart (the link is re-established), and a view held then stays
# held (its hold, taken through the daemon, is taken again at the new
# master) until it is released.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 26

# page PORT: the metrics page (\r dropped); metric NAME: its value, from stdin
page() {
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
	timeout 5 cat <&3 | tr -d '\r'
	exec 3<&-
}
metric() { awk -v n="$1" '$1 == n { print $2; exit }'; }
relayed() { page "$1" | metric mcstore_node_relayed_requests_total; }
relayed_ge() { local v; v=$(relayed "$1"); [ -n "$v" ] && [ "$v" -ge "$2" ]; }
# The page is rendered every 100 ms, so what it shows may be older than
# the last answer. fresh PORT: the relayed count from a page rendered after
# the one served when it is called (its heartbeat count is higher): the
# daemon renders and relays in one thread, so that page counts every
# request answered before the call
fresh() {
	local h0 p h end=$((SECONDS + 30))
	h0=$(page "$1" | metric mcstore_node_heartbeats_sent_total)
	while [ $SECONDS -lt $end ]; do
		p=$(page "$1")
		h=$(echo "$p" | metric mcstore_node_heartbeats_sent_total)
		if [ -n "$h" ] && [ "$h" -gt "${h0:--1}" ]; then
			echo "$p" | metric mcstore_node_relayed_requests_total
			return 0
		fi
		sleep 0.05
	done
	return 1
}

start_master
start_node n1 64M --hugepages off --metrics-port 0 --data-listen 127.0.0.1 --heartbeat-interval-ms 50
P1=$(metrics_port_of "$T_DIR/n1.log")
start_node n2 64M --hugepages off --metrics-port 0 --data-listen 127.0.0.1 --client-master none \
	--heartbeat-interval-ms 50
P2=$(metrics_port_of "$T_DIR/n2.log")
start_node n3 64M --hugepages off --client-master 127.0.0.1:1

head -c $((1 << 20)) /dev/urandom >"$T_DIR/v.bin"
r0=$(fresh "$P1")
all=0
for i in $(seq 1 10); do
	on n1 put "k$i" "$T_DIR/v.bin" && on n1 get "k$i" | cmp -s - "$T_DIR/v.bin" && on n1 exists "k$i" || all=1
done
ok $all "10 puts, gets and exists on n1 byte-exact"
r1=$(fresh "$P1")
# a local get is a zero-copy view: its hold is taken and released through
# the daemon (which takes holds again at a master that restarts), two
# requests per get; the puts, the exists and everything else go direct
[ -n "$r0" ] && [ "$r1" = "$((r0 + 20))" ]
ok $? "of the 30 operations only the 10 gets' holds (20 requests) went through n1's daemon ($r0 -> $r1 relayed)"

all=0
for i in $(seq 1 10); do
	MCSTORE_DIRECT_MASTER=0 on n1 get "k$i" | cmp -s - "$T_DIR/v.bin" || all=1
done
ok $all "with MCSTORE_DIRECT_MASTER=0, 10 gets byte-exact"
wait_until 30 relayed_ge "$P1" $((r1 + 10))
ok $? "and the daemon relayed them ($r1 -> $(relayed "$P1"))"

s0=$(fresh "$P2")
all=0
for i in $(seq 1 5); do
	on n2 get "k$i" | cmp -s - "$T_DIR/v.bin" || all=1
done
ok $all "a node with --client-master none serves 5 remote gets byte-exact"
wait_until 30 relayed_ge "$P2" $((s0 + 5))
ok $? "through its daemon ($s0 -> $(relayed "$P2") relayed)"

check "a client told an unreachable master address falls back: put" -- on n3 put n3key "$T_DIR/v.bin"
on n3 get n3key | cmp -s - "$T_DIR/v.bin"
ok $? "and get, byte-exact"

# one handle across a master restart
# (through fifos, not a coproc: bash unsets a coproc's variables as soon
# as it reaps it, so "wait $DC_PID" after "quit" raced the client's exit
# and, under set -u, ended the script)
mkfifo "$T_DIR/dc.in" "$T_DIR/dc.out"
"$TESTBIN/direct-client" "$SOCK_n1" <"$T_DIR/dc.in" >"$T_DIR/dc.out" &
DC_PID=$!
track "$DC_PID" direct-client
exec {DCW}>"$T_DIR/dc.in" {DCR}<"$T_DIR/dc.out"
dc() { echo "$1" >&"$DCW"; local line=; read -r -t 20 line <&"$DCR"; echo "$line"; }
# dc_until WANT COMMAND: send COMMAND every 0.2 s until it answers WANT
# (60 s at most); the last answer is left in $res
dc_until() {
	local end=$((SECONDS + 60))
	res=
	while [ $SECONDS -lt $end ]; do
		res=$(dc "$2")
		[ "$res" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
[ "$(dc 'put before 100000')" = "ok 1" ]
ok $? "long-lived client: put"
[ "$(dc 'get before 100000')" = "ok" ]
ok $? "long-lived client: get"
[ "$(dc 'view before')" = "ok" ]
ok $? "long-lived client: takes a view"
expect_status 3 "the viewed object cannot be removed (held)" -- on n1 rm before

stop_pid "$MASTER_PID"
ok $? "master stopped"
start_master --port "$MASTER_PORT"
wait_until 20 sh -c "\"$CTL\" --socket \"$SOCK_n1\" stat | grep -q n1-0"
ok $? "the restarted master has n1 mounted again"

# the view's hold went through the daemon, which takes it again once its
# report to the new master ends: the object stays held while viewed
wait_until 60 grep -q "views' holds again at the master" "$T_DIR/n1.log"
ok $? "n1 took the view's hold again at the restarted master"
expect_status 3 "the viewed object still cannot be removed" -- on n1 rm before
[ "$(dc 'release')" = "ok" ]
ok $? "releasing the view taken before the restart does not hurt"
check "once released, the object can be removed" -- on n1 rm before
dc_until "ok 1" 'put after 200000'
ok $? "the same handle puts again after the restart ($res)"
[ "$(dc 'get after 200000')" = "ok" ]
ok $? "and reads it back byte-exact"

# a master that stops answering: the client's wait is bounded by its
# timeout (5 s in direct-client), and the same handle works once the
# master answers again (the late answer is skipped by request id)
kill -STOP "$MASTER_PID"
t0=$(date +%s%N)
res=$(dc 'get after 200000')
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$MASTER_PID"
case $res in "err "*[Tt]ime*) st=0 ;; *) st=1 ;; esac
ok $st "a get while the master is stopped fails with a timeout ($res)"
# (no sooner than the timeout; a get that ignored it would wait for dc's
# own 20 s, well past the bound)
[ "$ms" -ge 4500 ] && [ "$ms" -lt 15000 ]
ok $? "after about the 5 s timeout ($ms ms)"
dc_until ok 'get after 200000'
ok $? "the same handle reads again once the master resumes ($res)"
echo quit >&"$DCW"
reap "$DC_PID"
ok $? "the long-lived client exits cleanly"

finish_daemons
