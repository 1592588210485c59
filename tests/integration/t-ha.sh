#!/bin/bash
# SPDX-License-Identifier: MIT
# HA masters elected through a real etcd (issue 15): two masters with
# --enable-ha campaign, one leads and the other answers only who leads;
# nodes given --master etcd://... find the leader. Kill the leader
# (SIGKILL): the standby leads within the bound, the nodes move to it and
# report their objects, and every object put before reads back byte for
# byte. A stale leader: the leader stopped (SIGSTOP) past its etcd lease,
# a new one elected, the old one continued (SIGCONT): it steps down, and
# nothing it answers is an answer of a leader (LEADER says standby, every
# other request -EREMCHG), while the new leader serves.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PC=$TESTBIN/peer-client
tap_plan 19
start_etcd etcd1
EP=127.0.0.1:$ETCD_PORT
# a lease of 3 s: a loaded machine renews it in time (every second)
HA=(--enable-ha --etcd-endpoints "$EP" --etcd-lease-ttl 3)

# start_ha_master NAME: sets PID_NAME and PORT_NAME
start_ha_master() {
	start_daemon "$1" "$MASTER_BIN" --listen 127.0.0.1 --port 0 "${HA[@]}"
	printf -v "PID_$1" %s "$DAEMON_PID"
	wait_ready "$1" "$DAEMON_PID"
	printf -v "PORT_$1" %s "$(listen_port "$1" "$DAEMON_PID")"
}
leads() { grep -q "leading (term" "$T_DIR/$1.log"; }
# leader_now: the name of the master whose LEADER answer says self
leader_now() {
	local m pv
	for m in m1 m2; do
		pv=PORT_$m
		[ -n "${!pv:-}" ] && "$PC" leader 127.0.0.1 "${!pv}" 2>/dev/null | grep -q ' self$' && { echo $m; return 0; }
	done
	return 1
}
reports() { [ "$(grep -c "reported .* objects' parts to master" "$T_DIR/$1.log")" -ge "$2" ]; }
back() {
	local i n bad=0
	for ((i = 1; i <= 30; i++)); do
		for n in n1 n2; do
			on $n get "o$i" -o "$T_DIR/got.bin" >/dev/null 2>&1 && cmp -s "$T_DIR/got.bin" "$T_DIR/o$i.bin" ||
				{ bad=$((bad + 1)); diag "o$i through $n: not the bytes put"; }
		done
	done
	return $bad
}

start_ha_master m1
start_ha_master m2
wait_until 60 leader_now >/dev/null
L=$(leader_now)
ok $? "of two masters, one leads ($L)"
S=m1
[ "$L" = m1 ] && S=m2
pv=PORT_$S
"$PC" leader 127.0.0.1 "${!pv}" >"$T_DIR/standby.out" 2>&1
grep -q " standby$" "$T_DIR/standby.out" && grep -q "^exist this master is a standby" "$T_DIR/standby.out"
ok $? "the other is a standby: it names the leader and refuses the rest ($(tr '\n' ';' <"$T_DIR/standby.out"))"

NODE_MASTER="etcd://$EP"
for n in n1 n2; do start_node $n 32M --hugepages off; done
ok 0 "two nodes given --master etcd://$EP mount with the leader"
st=0
for ((i = 1; i <= 30; i++)); do
	head -c $(((i * 7919) % 200000 + 1)) /dev/urandom >"$T_DIR/o$i.bin"
	extra=()
	[ $((i % 3)) -ne 0 ] || extra=(--replicas 2)
	on n$((i % 2 + 1)) put "o$i" "$T_DIR/o$i.bin" "${extra[@]}" >/dev/null || st=1
done
ok $st "30 objects put, every third with two replicas"

# ---- the leader killed, a client's put in flight
# a handle made before (its direct link to the leader) puts as soon as
# the leader is gone, before any standby leads: the library tries again
# (within MCSTORE_FAILOVER_MS, here as long as a loaded machine needs)
MCSTORE_FAILOVER_MS=180000 "$TESTBIN/intruder" outlive "$SOCK_n1" "$T_DIR/go" infl "$T_DIR/infl.bin" \
	>"$T_DIR/infl.out" 2>&1 &
IP=$!
track "$IP" "a client across the failover"
wait_until 30 grep -q started "$T_DIR/infl.out"
pl=PID_$L
kill_pid "${!pl}"
touch "$T_DIR/go"
wait_until 60 leads "$S"
ok $? "the leader killed (SIGKILL): the standby leads"
grep -h "refuses connections\|elected leader" "$T_DIR/$S.log" | sed 's/^/# /'
wait_until 60 reports n1 1 && wait_until 60 reports n2 1
ok $? "both nodes moved to it and reported their objects"
pv=PORT_$S
"$PC" leader unix "$SOCK_n1" >"$T_DIR/nleader.out" 2>&1
grep -q "^leader 127.0.0.1:${!pv} term [1-9][0-9]* standby$" "$T_DIR/nleader.out"
ok $? "asked LEADER, n1's daemon names the new leader and its term ($(head -1 "$T_DIR/nleader.out"))"
back
ok $? "every object put before the kill reads back byte for byte through both nodes"
head -c 5000 /dev/urandom >"$T_DIR/after.bin"
on n1 put after "$T_DIR/after.bin" >/dev/null && on n2 get after -o "$T_DIR/got.bin" >/dev/null &&
	cmp -s "$T_DIR/got.bin" "$T_DIR/after.bin"
ok $? "and puts go on through the new leader"
wait_until 200 grep -q "^put infl after" "$T_DIR/infl.out"
grep -q "^put infl after the restart: success" "$T_DIR/infl.out" && on n2 get infl -o "$T_DIR/got.bin" >/dev/null &&
	cmp -s "$T_DIR/got.bin" "$T_DIR/infl.bin"
ok $? "a put started while no master led waited for the new one, and reads back ($(tail -1 "$T_DIR/infl.out"))"
wait "$IP"
T_DONE[$IP]=1

# ---- a stale leader: stopped past its lease
start_ha_master "$L"
NL=$L
L=$S
S=$NL
pl=PID_$L
kill -STOP "${!pl}"
wait_until 60 leads "$S"
ok $? "the leader stopped (SIGSTOP) past its lease: the restarted master ($S) is elected"
wait_until 60 reports n1 2 && wait_until 60 reports n2 2 && back
ok $? "the nodes moved to the new leader, and every object reads back"
kill -CONT "${!pl}"
wait_until 60 grep -q "no longer the leader" "$T_DIR/$L.log"
ok $? "the old leader, continued (SIGCONT), steps down"
grep -h "could not be renewed in time\|no longer ours\|no longer the leader" "$T_DIR/$L.log" | sed 's/^/# /'
pv=PORT_$L
"$PC" leader 127.0.0.1 "${!pv}" >"$T_DIR/stale.out" 2>&1
pn=PORT_$S
"$PC" leader 127.0.0.1 "${!pn}" >"$T_DIR/new.out" 2>&1
new_term=$(sed -n 's/^leader .* term \([0-9]*\) self$/\1/p' "$T_DIR/new.out")
wait_until 30 eval '"$PC" leader 127.0.0.1 "${!pv}" 2>/dev/null | grep -q "^leader 127.0.0.1:${!pn} term $new_term standby$"'
"$PC" leader 127.0.0.1 "${!pv}" >"$T_DIR/stale.out" 2>&1
grep -q " standby$" "$T_DIR/stale.out" && grep -q "^exist this master is a standby" "$T_DIR/stale.out"
ok $? "it answers as a standby naming the new leader, nothing as a leader ($(tr '\n' ';' <"$T_DIR/stale.out"); the new leader: $(head -1 "$T_DIR/new.out"))"
grep -q "reported .* objects' parts to master 127.0.0.1:${!pv}" "$T_DIR/n1.log" "$T_DIR/n2.log" &&
	[ "$(grep -c "reported .* objects' parts to master 127.0.0.1:${!pv}" "$T_DIR/n1.log")" -le 1 ]
ok $? "no node reported to it after its lease ran out"
head -c 5000 /dev/urandom >"$T_DIR/last.bin"
on n2 put last "$T_DIR/last.bin" >/dev/null && on n1 get last -o "$T_DIR/got.bin" >/dev/null &&
	cmp -s "$T_DIR/got.bin" "$T_DIR/last.bin" && back
ok $? "the new leader serves: old and new objects read back"

# ---- no master at all: a call fails cleanly once its bound has passed
lost() { [ "$(grep -c "lost the master" "$T_DIR/n1.log")" -gt "$1" ]; }
nl=$(grep -c "lost the master" "$T_DIR/n1.log")
kill_pid "${!pl}"
pn=PID_$S
kill_pid "${!pn}"
wait_until 60 lost "$nl"
(export MCSTORE_FAILOVER_MS=1500; on n1 put none "$T_DIR/last.bin") >"$T_DIR/none.out" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "master unavailable" "$T_DIR/none.out" && alive "$PID_n1"
ok $? "with no master, a put fails after MCSTORE_FAILOVER_MS with a clear error ($(head -1 "$T_DIR/none.out")), the node up"
finish_daemons
