#!/bin/bash
# SPDX-License-Identifier: MIT
# The bad-input table (issue 14): every opcode, with truncated, oversized,
# out-of-range, wrapped, duplicated and forged fields, on every port (the
# master's, a node's socket, a node's data port) of a real cluster, with a
# cluster key and without one (tests/integration/bad-input.c). Each case
# must be refused or closed within 30 s, never taken; after each port's
# table the victim, another client that stored objects on both nodes
# before, gets them back byte-exact and can still put and get.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

FAMILIES="base auth truncated oversized out-of-range wrapped duplicated forged"
PORTS="master unix data"
# per phase: the objects, per port (one line per family, the victim), the end
tap_plan $((1 + 2 * (1 + 3 * (8 + 1) + 2)))
BI=$TESTBIN/bad-input
K=$T_DIR/cluster.key
check "mcstorectl keygen makes the cluster key" -- "$CTL" keygen "$K"

head -c 1000000 /dev/urandom >"$T_DIR/v1"
head -c 200000 /dev/urandom >"$T_DIR/v2"
head -c 4096 /dev/urandom >"$T_DIR/v3"
head -c 3000000 /dev/urandom >"$T_DIR/v4"
head -c 8192 /dev/urandom >"$T_DIR/bi"

# victim_ok A B: every object of the victim, through A's socket, is
# byte-exact; a new put and its get work; the daemons are alive
VN=0
victim_ok() {
	local a=$1 o
	for o in v1:$1 v2:$2 v3:$1 v4:$2; do
		on "$a" get "vic-${o%%:*}" -o "$T_DIR/got" || { echo "get vic-${o%%:*} failed"; return 1; }
		cmp -s "$T_DIR/${o%%:*}" "$T_DIR/got" || { echo "vic-${o%%:*} differs"; return 1; }
	done
	VN=$((VN + 1))
	on "$a" put "vic-new-$VN" "$T_DIR/v2" --location "$2-0" && on "$a" get "vic-new-$VN" -o "$T_DIR/got" &&
		cmp -s "$T_DIR/v2" "$T_DIR/got" || { echo "a new put and get failed"; return 1; }
	alive "$MASTER_PID" && alive "$(pid_of "$1")" && alive "$(pid_of "$2")" || { echo "a daemon died"; return 1; }
}

# phase NAME A B [--key-file FILE]: a cluster of a master and nodes A and
# B, the victim's objects on both, the table on every port
phase() {
	local name=$1 a=$2 b=$3 p fam line
	shift 3
	start_master --node-timeout-ms 60000 "$@"
	start_node "$a" 64M --hugepages off "$@"
	start_node "$b" 64M --hugepages off "$@"
	local sa="SOCK_$a"
	on "$a" put vic-v1 "$T_DIR/v1" --location "$a-0" && on "$a" put vic-v2 "$T_DIR/v2" --location "$b-0" &&
		on "$b" put vic-v3 "$T_DIR/v3" --location "$a-0" && on "$b" put vic-v4 "$T_DIR/v4" --location "$b-0" &&
		on "$a" put bi-own "$T_DIR/bi" --location "$b-0" && on "$a" put bi-loc "$T_DIR/bi" --location "$a-0" &&
		on "$a" locate bi-own | grep -q "$b-0" && on "$a" locate bi-loc | grep -q "$a-0"
	ok $? "$name: the victim stored objects on $a and $b (the table's own on both)"
	for p in $PORTS; do
		local t0=$SECONDS
		"$BI" "$p" "127.0.0.1:$MASTER_PORT" "${!sa}" ${KEYARG:+"$KEYARG"} >"$T_DIR/bi-$p.out" 2>"$T_DIR/bi-$p.err"
		diag "$name $p: bad-input exit $?, $((SECONDS - t0)) s"
		for fam in $FAMILIES; do
			line=$(grep -E "^(not )?ok $fam " "$T_DIR/bi-$p.out")
			[ -n "$line" ] && [ "${line#not }" = "$line" ]
			ok $? "$name, $p port: $fam cases refused or closed, never taken (${line:-no result})"
		done
		grep "FAILED" "$T_DIR/bi-$p.err" | head -10 | sed 's/^/# /'
		grep -v "FAILED" "$T_DIR/bi-$p.err" | head -5 | sed 's/^/# /'
		victim_ok "$a" "$b" >"$T_DIR/victim.out" 2>&1
		ok $? "$name, after the $p port's table: the victim's objects are intact, it puts and gets, the daemons live"
		sed 's/^/# /' "$T_DIR/victim.out" | tail -3
	done
	finish_daemons
}

KEYARG=$K phase "with a key" k1 k2 --key-file "$K"
KEYARG= phase "without a key" f1 f2
