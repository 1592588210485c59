#!/bin/bash
# SPDX-License-Identifier: MIT
# The chaos harness (issue 15): three etcd members, three HA masters and
# four nodes (each under an fd store, as systemd would keep its segment),
# four clients putting objects of 1 byte to 32 KiB with two replicas and
# reading back random ones they put, checked byte for byte; meanwhile, at
# random, masters, nodes and etcd members are killed (SIGKILL, then
# started again), stopped (SIGSTOP, then SIGCONT) or cut off the network
# (then healed). At the end it prints the faults (by kind, then one by
# one), the operations done, the errors by kind, objects lost and wrong
# bytes returned; wrong bytes must be 0, and so must objects lost: every
# node here keeps its bytes (it stays up, restarts with its fd store, or
# is cut off and comes back), so every acknowledged put must read back.
#
# The network: where it can (root, ip and nft installed, network
# namespaces and veth and bridge links in the kernel), each etcd member,
# master and node runs in a network namespace of its own (a node's client
# in its node's: the two share the node's unix socket and memfds through
# the file system), linked by a veth pair to a bridge in a hub namespace,
# on 10.77.0.0/24 (etcd .11-.13, masters .21-.23, nodes .31-.34, the hub,
# from which the script checks them, .254); the namespaces are named after
# the test's private directory, so runs side by side do not meet, and are
# removed with everything in them however the script ends. The partitions
# (one process at a time, healed after 1 to 8 s): its link set down on the
# hub's side (its packets vanish: peers and the process itself see only
# silence) or on its own (its routes go: it sees "network unreachable"),
# or nft rules in its namespace dropping its traffic both ways, or only
# what comes in (what it sends still arrives, nothing answers it). Where
# namespaces cannot be made, everything runs on loopback without
# partitions, and a diagnostic says why; CHAOS_NETNS=0 asks for that.
#
# CHAOS_SECONDS (default 60) sets the length; CHAOS_SEED the faults'
# order (default: the time). A long run:
#   CHAOS_SECONDS=600 make -C build check TESTS=tests/chaos/t-chaos.sh
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

# ---- the network: a namespace for each process, or loopback
WHO=(e1 e2 e3 m1 m2 m3 n1 n2 n3 n4)
declare -A ADDR NS
NET=0
NET_WHY=
# named after the private directory (mktemp's name): unique while it lives
NS_PRE=mcs-chaos-${T_DIR##*.}
# net_do COMMAND...: a step of the setup; a failure says which, and why
net_do() {
	"$@" >"$T_DIR/net.err" 2>&1 && return 0
	NET_WHY="'$*' failed: $(tail -1 "$T_DIR/net.err")"
	return 1
}
# net_down: every namespace made, with what still runs in it (a node its
# fd store left behind); their veth pairs go with them
net_down() {
	local ns pid
	for ns in "${NS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	NS=()
}
net_up() {
	local w k=0 hub=$NS_PRE-hub
	if [ "${CHAOS_NETNS:-1}" = 0 ]; then NET_WHY="CHAOS_NETNS=0"; return 1; fi
	if [ "$(id -u)" -ne 0 ]; then NET_WHY="not root"; return 1; fi
	if ! command -v ip >/dev/null; then NET_WHY="no ip (package iproute2)"; return 1; fi
	if ! command -v nft >/dev/null; then NET_WHY="no nft (package nftables)"; return 1; fi
	at_cleanup net_down
	net_do ip netns add "$hub" || return 1
	NS[hub]=$hub
	net_do ip -n "$hub" link set lo up &&
		net_do ip -n "$hub" link add br0 type bridge &&
		net_do ip -n "$hub" addr add 10.77.0.254/24 dev br0 &&
		net_do ip -n "$hub" link set br0 up || return 1
	for w in "${WHO[@]}"; do
		case $w in
		e*) ADDR[$w]=10.77.0.1${w#e} ;;
		m*) ADDR[$w]=10.77.0.2${w#m} ;;
		n*) ADDR[$w]=10.77.0.3${w#n} ;;
		esac
		net_do ip netns add "$NS_PRE-$w" || return 1
		NS[$w]=$NS_PRE-$w
		net_do ip -n "$hub" link add "$w" type veth peer name eth0 netns "${NS[$w]}" &&
			net_do ip -n "$hub" link set "$w" master br0 &&
			net_do ip -n "$hub" link set "$w" up &&
			net_do ip -n "${NS[$w]}" link set lo up &&
			net_do ip -n "${NS[$w]}" addr add "${ADDR[$w]}/24" dev eth0 &&
			net_do ip -n "${NS[$w]}" link set eth0 up || return 1
	done
	# the partitions' tools work in a namespace
	net_do ip netns exec "$hub" nft add table inet chaos &&
		net_do ip netns exec "$hub" nft delete table inet chaos || return 1
	ADDR[hub]=10.77.0.254
}
if net_up; then
	NET=1
	diag "network: each process in a namespace of its own ($NS_PRE-*), on 10.77.0.0/24 through a bridge"
else
	net_down
	ADDR=()
	for w in "${WHO[@]}" hub; do ADDR[$w]=127.0.0.1; done
	# etcd's members are told their ports before they bind them: on an
	# address of this run's own (in 127.77.0.0/16), not on 127.0.0.1 where
	# a test running beside this one could take a port picked for them
	for w in e1 e2 e3; do ADDR[$w]=127.77.$(($$ % 250 + 1)).1${w#e}; done
	diag "network partitions skipped ($NET_WHY): every process on loopback"
fi
# IN_<WHO>: what runs a command in the namespace of WHO (e1, m2, n3, hub;
# nothing on loopback): "${IN_m1[@]}" CMD... & is CMD's own pid in $!
# (ip netns exec execs it), where a function run in the background would
# be a subshell's
for w in "${WHO[@]}" hub; do
	if [ $NET = 1 ]; then declare -a "IN_$w=(ip netns exec ${NS[$w]})"; else declare -a "IN_$w=()"; fi
done
# run_in WHO COMMAND...: COMMAND in the namespace of WHO, in the foreground
run_in() {
	local in="IN_$1[@]"; shift
	"${!in}" "$@"
}
# the daemons need not be kept to loopback: the namespaces are the test's
OPEN=()
[ $NET = 0 ] || OPEN=(--protected-mode no)

# ---- three etcd members
declare -A ECP EPP EPID
CLUSTER=""
for e in e1 e2 e3; do
	ECP[$e]=2379
	EPP[$e]=2380
	CLUSTER+="${CLUSTER:+,}$e=http://${ADDR[$e]}:${EPP[$e]}"
done
start_member() {
	local e=$1 a=${ADDR[$1]}
	local in="IN_$e[@]"
	"${!in}" etcd --name "$e" --data-dir "$T_DIR/$e.etcd" --listen-client-urls "http://$a:${ECP[$e]}" \
		--advertise-client-urls "http://$a:${ECP[$e]}" --listen-peer-urls "http://$a:${EPP[$e]}" \
		--initial-advertise-peer-urls "http://$a:${EPP[$e]}" --initial-cluster "$CLUSTER" \
		--initial-cluster-token chaos --election-timeout 500 --heartbeat-interval 100 >>"$T_DIR/$e.log" 2>&1 &
	EPID[$e]=$!
	track "${EPID[$e]}" "etcd $e"
	T_SIGOK[${EPID[$e]}]=1
}
for e in e1 e2 e3; do start_member $e; done
export -f http etcd_healthy
member_healthy() {
	run_in hub env HTTP_HOST="${ADDR[$1]}" bash -c 'etcd_healthy "$1"' _ "${ECP[$1]}"
}
healthy_all() { local e; for e in e1 e2 e3; do member_healthy $e || return 1; done; }
wait_until 120 healthy_all
ok $? "three etcd members form a cluster"
EPS="${ADDR[e1]}:${ECP[e1]};${ADDR[e2]}:${ECP[e2]};${ADDR[e3]}:${ECP[e3]}"

# ---- three masters
declare -A MPID MPORT
HA=(--enable-ha --etcd-endpoints "$EPS" --etcd-lease-ttl 3 --node-timeout-ms 5000)
start_m() {
	local in="IN_$1[@]"
	start_daemon "$1" "${!in}" "$MASTER_BIN" --listen "${ADDR[$1]}" --port 0 "${OPEN[@]}" "${HA[@]}"
	MPID[$1]=$DAEMON_PID
	wait_ready "$1" "$DAEMON_PID"
	MPORT[$1]=$(listen_port "$1" "$DAEMON_PID")
}
for m in m1 m2 m3; do start_m $m; done
one_leads() {
	local m
	for m in m1 m2 m3; do
		[ -n "${MPORT[$m]:-}" ] && run_in hub timeout 10 "$TESTBIN/peer-client" leader "${ADDR[$m]}" "${MPORT[$m]}" \
			2>/dev/null | grep -q ' self$' && return 0
	done
	return 1
}
wait_until 60 one_leads
ok $? "of three masters, one leads"

# ---- four nodes, each under an fd store
NODE_ARGS=(--master "etcd://$EPS" --segment-size 256M --hugepages off --data-port 0 "${OPEN[@]}")
for n in n1 n2 n3 n4; do
	printf -v "SOCK_$n" %s "$T_DIR/$n.sock"
	in="IN_$n[@]"
	"${!in}" "$FS" "$T_DIR/$n.notify" "$T_DIR/$n.log" "$NODE_BIN" --name "$n" --socket "$T_DIR/$n.sock" \
		"${NODE_ARGS[@]}" --data-host "${ADDR[$n]}" --data-listen "${ADDR[$n]}" >"$T_DIR/$n.msgs" 2>&1 &
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

# ---- the clients, each in its node's namespace
CPIDS=()
for n in n1 n2 n3 n4; do
	sv=SOCK_$n
	in="IN_$n[@]"
	"${!in}" "$CC" run "${!sv}" "c$n" "$SECS" 2000 "$T_DIR/c$n.journal" >"$T_DIR/c$n.out" 2>"$T_DIR/c$n.err" &
	CPIDS+=($!)
	track $! "chaos client on $n"
done

# ---- the faults
FAULTS=0
declare -A KINDS=()
# fault KIND DESCRIPTION: one more fault, counted by its kind
fault() {
	FAULTS=$((FAULTS + 1))
	KINDS[$1]=$((${KINDS[$1]:-0} + 1))
	echo "$((SECONDS - T0))s ($(date -u +%T.%3N)): $2" >>"$T_DIR/faults"
}
alive_masters() {
	local m k=0
	for m in m1 m2 m3; do [ -n "${MPID[$m]:-}" ] && alive "${MPID[$m]}" && k=$((k + 1)); done
	echo $k
}
pick() { local a=("$@"); echo "${a[RANDOM % ${#a[@]}]}"; }
# partition WHO CLASS SECONDS: cut WHO off the network one of four ways,
# for SECONDS, then heal it
partition() {
	local w=$1 class=$2 d=$3 how
	case $((RANDOM % 4)) in
	0) how="link down on the hub's side"
		fault "partition $class (hub link down)" "partition $class $w for $d s: $how"
		ip -n "${NS[hub]}" link set "$w" down
		sleep "$d"
		ip -n "${NS[hub]}" link set "$w" up ;;
	1) how="link down on its side"
		fault "partition $class (own link down)" "partition $class $w for $d s: $how"
		ip -n "${NS[$w]}" link set eth0 down
		sleep "$d"
		ip -n "${NS[$w]}" link set eth0 up ;;
	2) how="nft drops its traffic both ways"
		fault "partition $class (nft both ways)" "partition $class $w for $d s: $how"
		ip netns exec "${NS[$w]}" nft -f - <<-'EOF'
			table inet chaos {
				chain in { type filter hook input priority 0; policy accept; iifname "eth0" drop; }
				chain out { type filter hook output priority 0; policy accept; oifname "eth0" drop; }
			}
		EOF
		sleep "$d"
		ip netns exec "${NS[$w]}" nft delete table inet chaos ;;
	3) how="nft drops what comes in"
		fault "partition $class (nft inbound)" "partition $class $w for $d s: $how"
		ip netns exec "${NS[$w]}" nft -f - <<-'EOF'
			table inet chaos {
				chain in { type filter hook input priority 0; policy accept; iifname "eth0" drop; }
			}
		EOF
		sleep "$d"
		ip netns exec "${NS[$w]}" nft delete table inet chaos ;;
	esac
}
T0=$SECONDS
while [ $((SECONDS - T0)) -lt $((SECS - 5)) ]; do
	sleep $((1 + RANDOM % 3))
	case $((RANDOM % (NET ? 10 : 6))) in
	0) # kill a master (one always stays), start it again
		m=$(pick m1 m2 m3)
		if [ "$(alive_masters)" -ge 2 ] && alive "${MPID[$m]}"; then
			fault "SIGKILL master" "SIGKILL master $m"
			kill_pid "${MPID[$m]}"
			sleep $((1 + RANDOM % 3))
			start_m "$m"
		fi ;;
	1) # stop a master past its lease
		m=$(pick m1 m2 m3)
		if alive "${MPID[$m]}"; then
			d=$((4 + RANDOM % 3))
			fault "SIGSTOP master" "SIGSTOP master $m for $d s"
			kill -STOP "${MPID[$m]}"
			sleep "$d"
			kill -CONT "${MPID[$m]}"
		fi ;;
	2) # kill a node: its fd store starts it again
		n=$(pick n1 n2 n3 n4)
		fault "SIGKILL node" "SIGKILL node $n"
		kill -KILL "$(node_pid $n)" ;;
	3) # stop a node, at times past the master's node timeout
		n=$(pick n1 n2 n3 n4)
		d=$((1 + RANDOM % 7))
		fault "SIGSTOP node" "SIGSTOP node $n for $d s"
		p=$(node_pid $n)
		kill -STOP "$p"
		sleep "$d"
		kill -CONT "$p" ;;
	4) # kill an etcd member (two keep the quorum), start it again
		e=$(pick e1 e2 e3)
		fault "SIGKILL etcd" "SIGKILL etcd $e"
		kill_pid "${EPID[$e]}"
		sleep $((1 + RANDOM % 3))
		start_member "$e" ;;
	5) # stop an etcd member
		e=$(pick e1 e2 e3)
		d=$((1 + RANDOM % 3))
		fault "SIGSTOP etcd" "SIGSTOP etcd $e for $d s"
		kill -STOP "${EPID[$e]}"
		sleep "$d"
		kill -CONT "${EPID[$e]}" ;;
	6) # cut a master off, at times past its lease
		partition "$(pick m1 m2 m3)" master $((2 + RANDOM % 6)) ;;
	7 | 8) # cut a node off, at times past the master's node timeout
		partition "$(pick n1 n2 n3 n4)" node $((1 + RANDOM % 8)) ;;
	9) # cut an etcd member off (two keep the quorum)
		partition "$(pick e1 e2 e3)" etcd $((1 + RANDOM % 4)) ;;
	esac
done
for k in "${!KINDS[@]}"; do echo "${KINDS[$k]} $k"; done | sort -k2 | sed 's/^/# faults: /'
sed 's/^/# fault at /' "$T_DIR/faults"
PARTS=0
for k in "${!KINDS[@]}"; do [[ $k != partition* ]] || PARTS=$((PARTS + KINDS[$k])); done
[ "$FAULTS" -gt 0 ]
ok $? "$FAULTS faults injected ($PARTS of them partitions)"

# ---- the end: every client's reads, then every acknowledged object
st=0
for p in "${CPIDS[@]}"; do
	reap "$p" || st=1
done
cat "$T_DIR"/c*.out | sed 's/^/# /'
grep -h "WRONG" "$T_DIR"/c*.err | head -20 | sed 's/^/# /'
ok $st "no client read a wrong byte"
# the network whole again: every link up, its route back, no rule left
healed() {
	local w
	for w in "${WHO[@]}"; do
		ip -n "${NS[hub]}" link show "$w" | grep -q 'state UP' &&
			ip -n "${NS[$w]}" route show | grep -q '^10\.77\.0\.0/24 dev eth0' &&
			! ip netns exec "${NS[$w]}" nft list table inet chaos >/dev/null 2>&1 || return 1
	done
}
[ $NET = 0 ] || wait_until 30 healed
st=$?
if [ $st -eq 0 ]; then
	wait_until 120 healthy_all && wait_until 120 mounted_all && wait_until 60 one_leads
	st=$?
fi
ok $st "after the faults: the network whole, three etcd members healthy, a leader, and every node mounted"
run_in n1 "$CC" verify "$SOCK_n1" 180 "$T_DIR"/c*.journal >"$T_DIR/verify.out" 2>"$T_DIR/verify.err"
st=$?
sed 's/^/# /' "$T_DIR/verify.out"
head -20 "$T_DIR/verify.err" | sed 's/^/# /'
# when each lost one was acknowledged, to set beside the faults' times
sed -n 's/^chaos-client: \(.*\) lost$/\1/p' "$T_DIR/verify.err" | head -20 | while read -r k; do
	grep -h "^$k " "$T_DIR"/c*.journal | while read -r _ t; do echo "# $k acknowledged at $(date -u -d "@$t" +%T.%3N)"; done
done
ok $st "every acknowledged object reads back byte for byte: none lost, none wrong"
finish_daemons
