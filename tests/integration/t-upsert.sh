#!/bin/bash
# SPDX-License-Identifier: MIT
# Upserts (mcstorectl put --upsert, MCS_PUT_UPSERT) on a master and two
# nodes: a put without the flag still refuses a stored key; a reader that
# holds a zero-copy view of the old value keeps its bytes, verified, while
# another client replaces it and gets see the new value; the old space is
# used until the view is released and freed after (stat's used bytes, the
# master's retired-object metrics); an upsert relayed by the daemon
# (MCSTORE_DIRECT_MASTER=0) works the same; and readers on the other
# node, reading straight from the node that holds the value and through
# their daemon, never see a failed get or bytes of no value while the key
# is replaced 20 times.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 28
# leases long enough for a loaded machine to finish a get under one
start_master --lease-ttl-ms 5000 --metrics-port 0
for n in n1 n2; do start_node $n 64M --hugepages off --metrics-port 0; done
U=$TESTBIN/upsert-client
MPORT=$(metrics_port_of "$T_DIR/master.log")
NPORT=$(metrics_port_of "$T_DIR/n1.log")

# metric PORT NAME: NAME's value on the metrics page at PORT
metric() { http "$1" GET /metrics | awk -v n="$2" '$1 == n { print $2; exit }'; }
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
used() { on n1 stat --json | jq -e .used; }
used_is() { [ "$(used)" = "$1" ]; }

MiB=$((1 << 20))
head -c $((4 * MiB)) /dev/urandom >"$T_DIR/old.bin"
head -c $((4 * MiB)) /dev/urandom >"$T_DIR/new.bin"
head -c $((3 * MiB + 5)) /dev/urandom >"$T_DIR/third.bin"

# ---- without the flag, a stored key is refused
on n1 put k "$T_DIR/old.bin" --location n1-0
ok $? "put k"
expect_status 3 "put of a stored key without --upsert fails" -- on n1 put k "$T_DIR/new.bin"
on n1 get k | cmp -s - "$T_DIR/old.bin"
ok $? "and k keeps its value"

# ---- a held view of the old value while another client upserts
mkfifo "$T_DIR/hold.in"
"$U" "$SOCK_n1" hold k "$T_DIR/old.bin" <"$T_DIR/hold.in" >"$T_DIR/hold.out" 2>"$T_DIR/hold.err" &
HOLD_PID=$!
track "$HOLD_PID" "view holder"
exec 4>"$T_DIR/hold.in"
wait_until 30 grep -q '^held' "$T_DIR/hold.out"
[ "$(cat "$T_DIR/hold.out")" = "held same" ]
ok $? "a client on n1 holds a verified view of k's value"

on n2 put --upsert k "$T_DIR/new.bin" --location n1-0
ok $? "a client on n2 upserts k (the new value on n1 too)"
on n2 get k | cmp -s - "$T_DIR/new.bin" && on n1 get k | cmp -s - "$T_DIR/new.bin"
ok $? "gets on both nodes return the new value"
used_is $((8 * MiB))
ok $? "the old value's space is still used beside the new one's ($(used) bytes)"
wait_until 30 metric_is "$MPORT" mcstore_master_retired_objects 1
ok $? "the master counts one retired object"
echo verify >&4
wait_until 30 grep -q '^verify' "$T_DIR/hold.out"
[ "$(sed -n 2p "$T_DIR/hold.out")" = "verify 0 same" ]
ok $? "the held view still shows the old bytes, and mcs_view_verify says 0"

# with the old space free, this one's could land on the held bytes
head -c $((4 * MiB)) /dev/urandom >"$T_DIR/new2.bin"
on n1 put --upsert k "$T_DIR/new2.bin" --location n1-0 && on n2 get k | cmp -s - "$T_DIR/new2.bin"
ok $? "a second upsert of k while the view is held, and gets return its value"
echo verify >&4
wait_until 30 eval '[ "$(grep -c ^verify "$T_DIR/hold.out")" -ge 2 ]'
[ "$(sed -n 3p "$T_DIR/hold.out")" = "verify 0 same" ]
ok $? "the held view still has the first value's bytes, verified"
wait_until 30 used_is $((8 * MiB))
ok $? "the value in between is freed once its read leases ran out ($(used) bytes used)"

echo release >&4
wait_until 30 grep -q '^released' "$T_DIR/hold.out"
ok $? "the view is released"
wait_until 30 used_is $((4 * MiB))
ok $? "then the old space is freed: only the last value's is used ($(used) bytes)"
wait_until 30 metric_is "$MPORT" mcstore_master_retired_objects 0
ok $? "no retired object is left"
metric_is "$MPORT" mcstore_master_upserts_total 2 && metric_is "$MPORT" mcstore_master_retired_freed_total 2
ok $? "two upserts, two retired objects freed"
exec 4>&-
reap "$HOLD_PID"
ok $? "the holder exits 0"

# ---- through the daemon (the master sees the node as the writer)
# the count from a page rendered after the stats above (stat is relayed):
# one that counts a heartbeat more
h0=$(metric "$NPORT" mcstore_node_heartbeats_sent_total)
beat_after() { local h; h=$(metric "$NPORT" mcstore_node_heartbeats_sent_total); [ -n "$h" ] && [ "$h" -gt "${h0:-0}" ]; }
wait_until 30 beat_after
r0=$(metric "$NPORT" mcstore_node_relayed_requests_total)
MCSTORE_DIRECT_MASTER=0 on n1 put --upsert k "$T_DIR/third.bin"
ok $? "an upsert relayed by n1's daemon"
on n2 get k | cmp -s - "$T_DIR/third.bin"
ok $? "gets return its value"
relayed_ge() { local v; v=$(metric "$NPORT" mcstore_node_relayed_requests_total); [ -n "$v" ] && [ "$v" -ge "$1" ]; }
wait_until 30 relayed_ge $((${r0:-0} + 2))
ok $? "n1's daemon relayed its PUT_START and PUT_END (${r0:-?} -> $(metric "$NPORT" mcstore_node_relayed_requests_total))"
wait_until 30 used_is $((3 * MiB + 64))
ok $? "and the value it replaced is freed ($(used) bytes used)"

# ---- readers on n2 while the key is replaced 20 times
head -c $MiB /dev/urandom >"$T_DIR/v0.bin"
head -c $((MiB + 1)) /dev/urandom >"$T_DIR/v1.bin"
head -c $((MiB - 1)) /dev/urandom >"$T_DIR/v2.bin"
on n1 put --upsert k "$T_DIR/v0.bin" --location n1-0
"$U" "$SOCK_n2" read-loop k "$T_DIR"/v{0,1,2}.bin >"$T_DIR/direct.out" 2>"$T_DIR/direct.err" &
R1=$!
track "$R1" "reader on n2"
MCSTORE_DIRECT_DATA=0 "$U" "$SOCK_n2" read-loop k "$T_DIR"/v{0,1,2}.bin >"$T_DIR/daemon.out" \
	2>"$T_DIR/daemon.err" &
R2=$!
track "$R2" "reader on n2 through its daemon"
wait_until 60 grep -qx 'value 0' "$T_DIR/direct.out" && wait_until 60 grep -qx 'value 0' "$T_DIR/daemon.out"
ok $? "both readers read the first value"
bad=0
for i in $(seq 1 20); do
	w=n$((i % 2 + 1))
	on $w put --upsert k "$T_DIR/v$((i % 2)).bin" --location n1-0 || bad=$((bad + 1))
done
on n2 put --upsert k "$T_DIR/v2.bin" --location n1-0 || bad=$((bad + 1))
[ $bad -eq 0 ]
ok $? "21 upserts from clients on both nodes ($bad failed)"
wait_until 60 grep -qx 'value 2' "$T_DIR/direct.out" && wait_until 60 grep -qx 'value 2' "$T_DIR/daemon.out"
ok $? "both readers came to read the last value"
kill -USR1 "$R1" "$R2"
reap "$R1"
s1=$?
reap "$R2"
s2=$?
[ $s1 -eq 0 ] && [ $s2 -eq 0 ]
ok $? "neither reader had a failed get or bytes of no value (exit $s1, $s2)"
grep -vE '^(value [0-2]|gets [0-9]+)$' "$T_DIR/direct.out" "$T_DIR/daemon.out" | head -5 | sed 's/^/# /'
# (MiB - 1 bytes take MiB: the allocator's granule is 64)
wait_until 30 used_is $MiB
ok $? "once the readers' leases ran out, only the last value's space is used ($(used) bytes)"

finish_daemons
exit $((T_FAILED > 0))
