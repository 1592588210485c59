#!/bin/bash
# SPDX-License-Identifier: MIT
# The chaos harness (issue 15): three etcd members, three HA masters and
# four nodes (each under an fd store, as systemd would keep its segment)
# on loopback, four clients putting objects of 1 byte to 32 KiB with two
# replicas and reading back random ones they put, checked byte for byte;
# meanwhile, at random, masters, nodes and etcd members are killed
# (SIGKILL, then started again) or stopped (SIGSTOP, then SIGCONT). At the
# end it prints the faults, the operations done, the errors by kind,
# objects lost and wrong bytes returned; wrong bytes must be 0, and so
# must objects lost: every node here keeps its bytes (it stays up or
# restarts with its fd store), so every acknowledged put must read back.
#
# CHAOS_SECONDS (default 60) sets the length; CHAOS_SEED the faults'
# order (default: the time). A long run:
#   CHAOS_SECONDS=600 make -C build check TESTS=tests/chaos/t-chaos.sh
# Not covered: network partitions (no namespaces are made here).
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

SECS=${CHAOS_SECONDS:-60}
SEED=${CHAOS_SEED:-$(date +%s)}
RANDOM=$SEED
FS=$TESTBIN/fd-store
CC=$MCS_BUILDDIR/tests/chaos/chaos-client
tap_plan 9
if ! command -v etcd >/dev/null; then
	echo "1..0 # SKIP etcd is not installed (package etcd-server)"
	exit 77
fi
diag "chaos for $SECS s, seed $SEED"

# ---- three etcd members
declare -A ECP EPP EPID
CLUSTER=""
for e in e1 e2 e3; do
	ECP[$e]=$(free_port)
	EPP[$e]=$(free_port)
	CLUSTER+="${CLUSTER:+,}$e=http://127.0.0.1:${EPP[$e]}"
done
start_member() {
	local e=$1
	etcd --name "$e" --data-dir "$T_DIR/$e.etcd" --listen-client-urls "http://127.0.0.1:${ECP[$e]}" \
		--advertise-client-urls "http://127.0.0.1:${ECP[$e]}" --listen-peer-urls "http://127.0.0.1:${EPP[$e]}" \
		--initial-advertise-peer-urls "http://127.0.0.1:${EPP[$e]}" --initial-cluster "$CLUSTER" \
		--initial-cluster-token chaos --election-timeout 500 --heartbeat-interval 100 >>"$T_DIR/$e.log" 2>&1 &
	EPID[$e]=$!
	track "${EPID[$e]}" "etcd $e"
	T_SIGOK[${EPID[$e]}]=1
}
for e in e1 e2 e3; do start_member $e; done
healthy_all() { local e; for e in e1 e2 e3; do etcd_healthy "${ECP[$e]}" || return 1; done; }
wait_until 120 healthy_all
ok $? "three etcd members form a cluster"
EPS="127.0.0.1:${ECP[e1]};127.0.0.1:${ECP[e2]};127.0.0.1:${ECP[e3]}"

# ---- three masters
declare -A MPID MPORT
HA=(--enable-ha --etcd-endpoints "$EPS" --etcd-lease-ttl 3 --node-timeout-ms 5000)
start_m() {
	start_daemon "$1" "$MASTER_BIN" --listen 127.0.0.1 --port 0 "${HA[@]}"
	MPID[$1]=$DAEMON_PID
	wait_ready "$1" "$DAEMON_PID"
	MPORT[$1]=$(listen_port "$1" "$DAEMON_PID")
}
for m in m1 m2 m3; do start_m $m; done
one_leads() {
	local m
	for m in m1 m2 m3; do
		[ -n "${MPORT[$m]:-}" ] && "$TESTBIN/peer-client" leader 127.0.0.1 "${MPORT[$m]}" 2>/dev/null |
			grep -q ' self$' && return 0
	done
	return 1
}
wait_until 60 one_leads
ok $? "of three masters, one leads"

# ---- four nodes, each under an fd store
NODE_ARGS=(--master "etcd://$EPS" --segment-size 256M --hugepages off --data-port 0 --data-host 127.0.0.1)
for n in n1 n2 n3 n4; do
	printf -v "SOCK_$n" %s "$T_DIR/$n.sock"
	"$FS" "$T_DIR/$n.notify" "$T_DIR/$n.log" "$NODE_BIN" --name "$n" --socket "$T_DIR/$n.sock" "${NODE_ARGS[@]}" \
		>"$T_DIR/$n.msgs" 2>&1 &
	track $! "the fd store of $n"
done
node_pid() { sed -n 's/^started //p' "$T_DIR/$1.msgs" | tail -1; }
mounted_all() {
	local n pid
	for n in n1 n2 n3 n4; do
		pid=$(node_pid $n)
		[ -n "$pid" ] && sent_by "$pid" "$T_DIR/$n.msgs" | grep -qx READY=1 || return 1
	done
}
wait_until 120 mounted_all
ok $? "four nodes found the leader through etcd and mounted"

# ---- the clients
CPIDS=()
for n in n1 n2 n3 n4; do
	sv=SOCK_$n
	"$CC" run "${!sv}" "c$n" "$SECS" 2000 "$T_DIR/c$n.journal" >"$T_DIR/c$n.out" 2>"$T_DIR/c$n.err" &
	CPIDS+=($!)
	track $! "chaos client on $n"
done

# ---- the faults
FAULTS=0
fault() {
	FAULTS=$((FAULTS + 1))
	echo "$((SECONDS - T0))s: $*" >>"$T_DIR/faults"
}
alive_masters() {
	local m k=0
	for m in m1 m2 m3; do [ -n "${MPID[$m]:-}" ] && alive "${MPID[$m]}" && k=$((k + 1)); done
	echo $k
}
pick() { local a=("$@"); echo "${a[RANDOM % ${#a[@]}]}"; }
T0=$SECONDS
while [ $((SECONDS - T0)) -lt $((SECS - 5)) ]; do
	sleep $((1 + RANDOM % 3))
	case $((RANDOM % 6)) in
	0) # kill a master (one always stays), start it again
		m=$(pick m1 m2 m3)
		if [ "$(alive_masters)" -ge 2 ] && alive "${MPID[$m]}"; then
			fault "SIGKILL master $m"
			kill_pid "${MPID[$m]}"
			sleep $((1 + RANDOM % 3))
			start_m "$m"
		fi ;;
	1) # stop a master past its lease
		m=$(pick m1 m2 m3)
		if alive "${MPID[$m]}"; then
			d=$((4 + RANDOM % 3))
			fault "SIGSTOP master $m for $d s"
			kill -STOP "${MPID[$m]}"
			sleep "$d"
			kill -CONT "${MPID[$m]}"
		fi ;;
	2) # kill a node: its fd store starts it again
		n=$(pick n1 n2 n3 n4)
		fault "SIGKILL node $n"
		kill -KILL "$(node_pid $n)" ;;
	3) # stop a node, at times past the master's node timeout
		n=$(pick n1 n2 n3 n4)
		d=$((1 + RANDOM % 7))
		fault "SIGSTOP node $n for $d s"
		p=$(node_pid $n)
		kill -STOP "$p"
		sleep "$d"
		kill -CONT "$p" ;;
	4) # kill an etcd member (two keep the quorum), start it again
		e=$(pick e1 e2 e3)
		fault "SIGKILL etcd $e"
		kill_pid "${EPID[$e]}"
		sleep $((1 + RANDOM % 3))
		start_member "$e" ;;
	5) # stop an etcd member
		e=$(pick e1 e2 e3)
		d=$((1 + RANDOM % 3))
		fault "SIGSTOP etcd $e for $d s"
		kill -STOP "${EPID[$e]}"
		sleep "$d"
		kill -CONT "${EPID[$e]}" ;;
	esac
done
sed 's/^/# fault at /' "$T_DIR/faults"
[ "$FAULTS" -gt 0 ]
ok $? "$FAULTS faults injected"

# ---- the end: every client's reads, then every acknowledged object
st=0
for p in "${CPIDS[@]}"; do
	reap "$p" || st=1
done
cat "$T_DIR"/c*.out | sed 's/^/# /'
grep -h "WRONG" "$T_DIR"/c*.err | head -20 | sed 's/^/# /'
ok $st "no client read a wrong byte"
wait_until 120 mounted_all && wait_until 60 one_leads
ok $? "after the faults: a leader, and every node mounted"
"$CC" verify "$SOCK_n1" 180 "$T_DIR"/c*.journal >"$T_DIR/verify.out" 2>"$T_DIR/verify.err"
st=$?
sed 's/^/# /' "$T_DIR/verify.out"
head -20 "$T_DIR/verify.err" | sed 's/^/# /'
ok $st "every acknowledged object reads back byte for byte: none lost, none wrong"
finish_daemons
