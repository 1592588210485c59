#!/bin/bash
# SPDX-License-Identifier: MIT
# eBPF telemetry: mcstorectl top attaches to a running master and node
# (USDT probes, ebpf/mcstore.bpf.c), the test drives known traffic, and the
# counters must match it: N gets give N gets and N lease grants at the
# master and N get round trips at the node; a killed node gives one
# node_gone, a stopped (silent) node one node_lost. Skipped, with the
# reason, where BPF cannot load (not root, built without BPF, no BTF).
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

skip_all() { echo "1..0 # SKIP $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip_all "not root: BPF programs need CAP_BPF and CAP_PERFMON"
if "$CTL" top --pid $$ --once >"$T_DIR/probe.out" 2>&1; [ $? -ne 0 ] && grep -q "built without BPF" "$T_DIR/probe.out"; then
	skip_all "mcstorectl built without BPF ($(head -1 "$T_DIR/probe.out"))"
fi
[ -r /sys/kernel/btf/vmlinux ] || skip_all "the kernel has no BTF"
if ! readelf -n "$MASTER_BIN" 2>/dev/null | grep -q "Provider: mcstore"; then
	skip_all "the daemons have no USDT probes (built without <sys/sdt.h>)"
fi

tap_plan 20
expect_status 2 "top without --pid is a usage error" -- "$CTL" top --once

# the stopped node below is declared lost after 3 s of silence (long
# enough that a loaded machine never makes a live one miss that long)
start_master --node-timeout-ms 3000
start_node n1 64M --hugepages off --heartbeat-interval-ms 50
start_node n2 32M --hugepages off --heartbeat-interval-ms 50
start_node n3 32M --hugepages off --heartbeat-interval-ms 50

# top_start NAME PID: one sample (--once) from attach until SIGINT
top_start() {
	"$CTL" top --pid "$2" --once --json --interval 600 >"$T_DIR/top-$1.json" 2>"$T_DIR/top-$1.err" &
	printf -v "TOP_$1" %s "$!"
	# top says when its programs are attached (nothing else shows it)
	if ! wait_until 60 grep -q "attached" "$T_DIR/top-$1.err"; then
		kill -KILL "$!" 2>/dev/null
		cat "$T_DIR/top-$1.err" | sed 's/^/# /'
		# after the plan: the checks left are skips (a second plan is an error)
		local why
		why="BPF programs did not load or attach: $(tail -1 "$T_DIR/top-$1.err")"
		while [ "$T_N" -lt "$T_PLAN" ]; do skip "$why"; done
		exit 0
	fi
}
top_stop() { local pv="TOP_$1"; kill -INT "${!pv}"; wait "${!pv}"; }
# field NAME KEY: a number from top's JSON sample (counters first)
field() { grep -o "\"$2\":[{]*\"*[0-9.]*" "$T_DIR/top-$1.json" | head -1 | sed 's/.*://'; }
hist_count() { grep -o "\"$2\":{\"count\":[0-9]*" "$T_DIR/top-$1.json" | sed 's/.*://'; }

top_start master "$MASTER_PID"
top_start n1 "$PID_n1"
diag "$(cat "$T_DIR/top-master.err")"

N=25
head -c 65536 /dev/urandom >"$T_DIR/v.bin"
NODE_SOCK=$SOCK_n1
ctl put k1 "$T_DIR/v.bin"
ok $? "put one object"
fails=0
# through the daemon (not straight to the master), so that the node's
# probe times each relayed round trip
for i in $(seq 1 $N); do MCSTORE_DIRECT_MASTER=0 ctl get k1 -o /dev/null || fails=$((fails + 1)); done
ok $fails "$N gets"

# a killed node: its connection closes (node_gone); a stopped one falls
# silent and is declared lost after --node-timeout-ms
kill_pid "$PID_n2"
kill -STOP "$PID_n3"
# (the master's warning: the loss it declares is what top must count)
wait_until 30 grep -q "declaring it lost" "$T_DIR/master.log"
ok $? "the master declares the stopped node lost"
kill_pid "$PID_n3"

top_stop master
ok $? "top on the master exits 0"
top_stop n1
ok $? "top on the node exits 0"
sed 's/^/# /' "$T_DIR/top-master.json"

[ "$(field master gets)" = "$N" ]
ok $? "master: $N gets probed ($(field master gets))"
[ "$(field master lease_grants)" = "$N" ]
ok $? "master: $N lease grants ($(field master lease_grants))"
[ "$(field master puts_started)" = 1 ] && [ "$(field master puts_ended)" = 1 ]
ok $? "master: one put started and ended"
[ "$(field master nodes_gone)" = 1 ]
ok $? "master: the killed node gives one node_gone ($(field master nodes_gone))"
[ "$(field master nodes_lost)" = 1 ]
ok $? "master: the silent node gives one node_lost ($(field master nodes_lost))"
[ "$(hist_count master loss_detect_ms)" = 1 ]
ok $? "master: one loss-detection time recorded"
[ "$(field master heartbeats_recv)" -gt 0 ] && grep -q '"nodes":\[{"node":"n[123]@127.0.0.1:' "$T_DIR/top-master.json"
ok $? "master: heartbeats per node ($(field master heartbeats_recv) received)"
[ "$(hist_count n1 get_ns)" = "$N" ]
ok $? "node: $N get round trips timed ($(hist_count n1 get_ns))"
[ "$(field n1 heartbeats_sent)" -gt 0 ] && [ "$(field n1 heartbeats_acked)" -gt 0 ]
ok $? "node: heartbeats sent and answered ($(field n1 heartbeats_sent)/$(field n1 heartbeats_acked))"
jq -e '.program == "mcstore-master" and (.nodes | type) == "array"' "$T_DIR/top-master.json" >/dev/null
ok $? "the JSON sample is JSON (jq reads it)"
# a program whose name needs escaping (top reads it from /proc/PID/comm)
ln -s "$MASTER_BIN" "$T_DIR/mc\"master\\x"
start_daemon odd "$T_DIR/mc\"master\\x" --listen 127.0.0.1 --port 0 --no-config
ODD=$DAEMON_PID
wait_ready odd "$ODD"
"$CTL" top --pid "$ODD" --once --json --interval 0.2 >"$T_DIR/odd.json" 2>"$T_DIR/odd.err"
jq -e '.program == "mc\"master\\x"' "$T_DIR/odd.json" >/dev/null
ok $? "top --json escapes the program's name"
sed 's/^/# /' "$T_DIR/odd.json" "$T_DIR/odd.err"
"$CTL" top --pid "$PID_n1" --once --interval 0.2 >"$T_DIR/top.txt" 2>&1
grep -q "^heartbeats_sent" "$T_DIR/top.txt"
ok $? "text output (--once)"
sed 's/^/# /' "$T_DIR/top.txt"

finish_daemons
