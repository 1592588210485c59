#!/bin/bash
# SPDX-License-Identifier: MIT
# What an operator meets first with mcstorectl and the daemons: rm and
# read leases, errors that say what is wrong, --json, health, keys, and
# a put asking for more replicas than there are nodes.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 61
# a lease long enough that the commands after a read find it standing on
# a loaded machine
start_master --lease-ttl-ms 10000
start_node n1 64M --hugepages off


# a file of some KiB (a minimal root has no /etc/services)
head -c 20000 /dev/urandom >"$T_DIR/v.bin"

# ---- rm and read leases
ctl put k1 "$T_DIR/v.bin"
ctl get k1 >/dev/null
expect_status 3 "rm --no-wait of a key just read is refused" -- ctl rm --no-wait k1
grep -q "leased by a reader for [0-9]* ms more" "$T_DIR/last.err" && grep -q -- "--force" "$T_DIR/last.err"
ok $? "the refusal says how long the lease has left and names --force"
MCSTORE_DIRECT_MASTER=0 ctl rm --no-wait k1 2>"$T_DIR/relayed.err"
grep -q "leased by a reader for [0-9]* ms more" "$T_DIR/relayed.err"
ok $? "relayed through the daemon, the refusal keeps its detail"
check "rm waits the lease out, then removes" -- ctl rm k1
grep -q "leased by a reader for [0-9]* ms more, waiting" "$T_DIR/last.err"
ok $? "and says that it waits"
expect_status 1 "the key is gone" -- ctl exists k1
ctl put k2 "$T_DIR/v.bin"
ctl exists k2
check "rm --force ignores the lease" -- ctl rm --force k2

# ---- global options anywhere
check "stat -S PATH (the global option after the command)" -- "$CTL" stat -S "$NODE_SOCK"
check "put KEY FILE --socket PATH" -- "$CTL" put opt /etc/hostname --socket "$NODE_SOCK"
check "--socket=PATH before the command still works" -- "$CTL" --socket="$NODE_SOCK" exists opt
expect_status 2 "an unknown option is a usage error" -- ctl stat --frobnicate
grep -q "unknown option '--frobnicate'" "$T_DIR/last.err"
ok $? "that names the option"
check "rm -- KEY takes a key that starts with '-'" -- sh -c \
	"\"$CTL\" -S \"$NODE_SOCK\" put -- -dash /etc/hostname && \"$CTL\" -S \"$NODE_SOCK\" rm --force -- -dash"

# ---- put: what FILE may be
expect_status 3 "put of a directory fails" -- ctl put dir /etc
grep -qx "mcstorectl: /etc: is a directory" "$T_DIR/last.err"
ok $? "saying /etc: is a directory"
check "put of a /proc file (it reports no size) stores its contents" -- ctl put cpu /proc/self/status
ctl get cpu >"$T_DIR/cpu.out"
[ -s "$T_DIR/cpu.out" ] && grep -q "^Name:" "$T_DIR/cpu.out"
ok $? "and they come back"

# ---- sizes for people, --bytes, --json
ctl stat >"$T_DIR/stat.txt"
grep -qx "capacity:  64.0 MiB" "$T_DIR/stat.txt" && grep -qE "^n1-0 +n1 +64.0 MiB" "$T_DIR/stat.txt"
ok $? "stat prints sizes for people"
ctl stat --bytes >"$T_DIR/stat.bytes"
grep -qx "capacity:  67108864" "$T_DIR/stat.bytes" && grep -qE "^n1-0 +n1 +67108864 " "$T_DIR/stat.bytes"
ok $? "stat --bytes prints bytes"
ctl stat --json >"$T_DIR/stat.json"
jq -e '.capacity == 67108864 and .node.name == "n1" and .segments[0].name == "n1-0" and .objects == 2 and
	(.counters.leases_granted | type) == "number"' "$T_DIR/stat.json" >/dev/null
ok $? "stat --json is JSON with the capacity, node, segments and counters"
ctl put 'q"uote\back' /etc/hostname
ctl locate 'q"uote\back' --json >"$T_DIR/locate.json"
jq -e --argjson size "$(stat -c %s /etc/hostname)" '.key == "q\"uote\\back" and .size == $size and
	.replicas[0].status == "complete" and .replicas[0].buffers[0].node == "n1" and
	.replicas[0].buffers[0].length == .size' "$T_DIR/locate.json" >/dev/null
ok $? "locate --json escapes the key and gives replicas and buffers"

# locate only looks (MCS_GET_NOLEASE): no lease is left behind
ctl put looked "$T_DIR/v.bin"
ctl locate looked >/dev/null && ctl exists looked >/dev/null
check "rm --no-wait right after locate (but after exists, which leases) is refused" -- \
	sh -c "! \"$CTL\" -S \"$NODE_SOCK\" rm --no-wait looked 2>/dev/null"
ctl put looked2 "$T_DIR/v.bin"
ctl locate looked2 >/dev/null
check "rm --no-wait right after locate succeeds: locate takes no lease" -- ctl rm --no-wait looked2
ctl rm --force looked

# ---- keys
BATCH_VALUE_SIZE=16 "$TESTBIN/batch-client" "$NODE_SOCK" put many 1500 >/dev/null
ok $? "1500 small objects stored"
ctl keys --prefix many- >"$T_DIR/keys"
[ "$(wc -l <"$T_DIR/keys")" -eq 1500 ] && [ "$(sort -u "$T_DIR/keys" | wc -l)" -eq 1500 ] &&
	[ "$(grep -vc '^many-[0-9]*$' "$T_DIR/keys")" -eq 0 ]
ok $? "keys --prefix lists each of them once, over several pages"
ctl keys >"$T_DIR/allkeys"
grep -qxF 'q"uote\back' "$T_DIR/allkeys" && grep -qx cpu "$T_DIR/allkeys" && [ "$(wc -l <"$T_DIR/allkeys")" -eq 1503 ]
ok $? "keys lists every key"
[ "$(ctl keys --prefix many- --limit 7 | wc -l)" -eq 7 ]
ok $? "keys --limit 7 prints 7"
ctl keys --prefix nothing-starts-so >"$T_DIR/nokeys" && [ ! -s "$T_DIR/nokeys" ]
ok $? "keys of an unknown prefix prints nothing (and succeeds)"

# ---- more replicas than nodes: not a lack of space
ctl stat --json >"$T_DIR/before.json"
check "put --replicas 2 on one node stores one replica" -- ctl put two "$T_DIR/v.bin" --replicas 2
grep -q "stored 1 of 2 replicas" "$T_DIR/last.err"
ok $? "and says so"
expect_status 3 "put --replicas 2 --all-or-nothing on one node fails" -- \
	ctl put two-all "$T_DIR/v.bin" --replicas 2 --all-or-nothing
grep -q "only 1 node can hold a replica, 2 asked" "$T_DIR/last.err"
ok $? "saying that only 1 node can hold a replica"
ctl stat --json >"$T_DIR/after.json"
jq -e --slurpfile b "$T_DIR/before.json" '.counters.evictions == 0 and $b[0].counters.evictions == 0 and
	.objects == $b[0].objects + 1' "$T_DIR/after.json" >/dev/null
ok $? "nothing was evicted for the missing replica"

# ---- health
check "health of a mounted node: exit 0" -- ctl health
grep -q "^healthy: node n1, segment n1-0 mounted" "$T_DIR/last.out"
ok $? "one line says so"
expect_status 1 "health without a daemon: exit 1" -- "$CTL" -S "$T_DIR/nothing.sock" health
grep -q "^unhealthy: no node daemon answers at $T_DIR/nothing.sock" "$T_DIR/last.out"
ok $? "one line says why"
expect_status 1 "health --wait 1 without a daemon gives up: exit 1" -- "$CTL" -S "$T_DIR/nothing.sock" health --wait 1
# a node just started: health --wait returns once it serves
"$NODE_BIN" --no-config --master "127.0.0.1:$MASTER_PORT" --name n2 --segment-size 16M --hugepages off \
	--socket "$T_DIR/n2.sock" --data-port 0 --data-host 127.0.0.1 >"$T_DIR/n2.log" 2>&1 &
track "$!" "node n2"
check "health --wait 60 right after a node starts: exit 0 once it serves" -- \
	"$CTL" -S "$T_DIR/n2.sock" health --wait 60
grep -q "^healthy: node n2" "$T_DIR/last.out"
ok $? "and says so"

# ---- a socket the user may not use names its group
chown 65534:65534 "$NODE_SOCK"
# root without CAP_DAC_OVERRIDE, neither owner nor in the group, is refused
expect_status 3 "a socket without permission is refused" -- \
	setpriv --bounding-set=-all --inh-caps=-all "$CTL" -S "$NODE_SOCK" stat
grep -q "Permission denied" "$T_DIR/last.err" &&
	grep -q "the socket is for group '$(getent group 65534 | cut -d: -f1)': add yourself with 'usermod -aG" "$T_DIR/last.err"
ok $? "with a hint naming the socket's group and usermod"
chown 0:0 "$NODE_SOCK"

# ---- nothing above is an error in the daemons' logs
! grep -E "reset by peer|warning|error" "$T_DIR/master.log" "$T_DIR/n1.log"
ok $? "clients that come and go leave no warning or reset in the logs"

# ---- options and configuration that cannot work are refused at start
nodebad() { "$NODE_BIN" --no-config --master 127.0.0.1:1 --name bad --socket "$T_DIR/bad.sock" --data-port 0 "$@"; }
expect_status 2 "--segment-size 1.5G is refused" -- nodebad --segment-size 1.5G
grep -q "invalid --segment-size '1.5G' (not a whole number" "$T_DIR/last.err"
ok $? "as not a whole number"
expect_status 2 "--segment-size 10X is refused" -- nodebad --segment-size 10X
grep -q "invalid --segment-size '10X' (unknown suffix: K, M, G or T" "$T_DIR/last.err"
ok $? "as an unknown suffix"
expect_status 2 "--segment-size 99999999999999999999 is refused" -- nodebad --segment-size 99999999999999999999
grep -q "(too large)" "$T_DIR/last.err"
ok $? "as too large"
expect_status 2 "--segment-size 1T on this machine is refused at start" -- nodebad --segment-size 1T
grep -qE "segment-size 1.0 TiB is more than this (machine's memory|service's memory limit .*), [0-9.]+ [GM]iB" "$T_DIR/last.err"
ok $? "with the machine's memory beside the request"
printf 'master = 127.0.0.1\n' >"$T_DIR/noport.conf"
expect_status 2 "master = 127.0.0.1 (no port) in the file is refused" -- \
	"$NODE_BIN" --config "$T_DIR/noport.conf" --name bad --socket "$T_DIR/bad.sock"
grep -q "^$T_DIR/noport.conf:1: invalid master '127.0.0.1' (no port: HOST:PORT" "$T_DIR/last.err"
ok $? "as FILE:LINE: no port"

# ---- a master host that does not resolve: getaddrinfo's own words
RES_OPTIONS="timeout:1 attempts:1" "$NODE_BIN" --no-config --master no-such-host.invalid:50051 --name unres \
	--segment-size 4M --hugepages off --socket "$T_DIR/unres.sock" --data-port 0 --data-listen 127.0.0.1 \
	--metrics-port 0 >"$T_DIR/unres.log" 2>&1 &
UPID=$!
track "$UPID" "node unres"
# (the log line is what is checked: the reason in the node's words)
wait_until 60 grep -q 'waiting for master no-such-host.invalid:50051 (cannot resolve "no-such-host.invalid": ' "$T_DIR/unres.log"
ok $? "an unresolvable master is named with getaddrinfo's reason"
! grep -q "No route to host" "$T_DIR/unres.log"
ok $? "not 'No route to host'"
uport=$(metrics_port_of "$T_DIR/unres.log")
health_says() { http "$1" GET /health | grep -qF "$2"; }
wait_until 30 health_says "$uport" 'last error: cannot resolve "no-such-host.invalid": '
ok $? "and its /health says the same"
stop_pid "$UPID"

# ---- out of descriptors: one warning naming the limit
mport=$MASTER_PORT
start_daemon fdmaster bash -c 'ulimit -n 40 && exec "$@"' bash \
	"$MASTER_BIN" --listen 127.0.0.1 --port 0 --no-config
FPID=$DAEMON_PID
wait_ready fdmaster "$FPID"
fport=$(listen_port fdmaster "$FPID")
fds=()
for i in $(seq 1 80); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$fport" && fds+=("$fd")
done
wait_until 30 grep -q "this process has reached its limit of 40 open files" "$T_DIR/fdmaster.log"
ok $? "a master out of descriptors says so, naming its limit"
[ "$(grep -c "reached its limit" "$T_DIR/fdmaster.log")" -eq 1 ]
ok $? "once, not for every refused connection"
for fd in "${fds[@]}"; do exec {fd}>&-; done
alive "$FPID"
ok $? "and keeps running"
stop_pid "$FPID"
MASTER_PORT=$mport

finish_daemons
