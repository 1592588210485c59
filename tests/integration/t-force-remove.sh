#!/bin/bash
# SPDX-License-Identifier: MIT
# A forced remove (mcstorectl rm --force, MCS_REMOVE_FORCE) of a key that
# a zero-copy view holds, on a master and one node with a 16 MiB segment:
# the key is gone at once and may be put again, but the held bytes stay
# allocated: new objects that fill the segment (and one that must evict
# to fit) never land on them, and the view keeps the removed value,
# verified, until it is released; then its space is freed.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 17
start_master --metrics-port 0
start_node n1 16M --hugepages off
U=$TESTBIN/upsert-client
MPORT=$(metrics_port_of "$T_DIR/master.log")

metric() { http "$1" GET /metrics | awk -v n="$2" '$1 == n { print $2; exit }'; }
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
used() { on n1 stat --json | jq -e .used; }
used_is() { [ "$(used)" = "$1" ]; }

MiB=$((1 << 20))
for f in old new f1 f2 f3; do head -c $((4 * MiB)) /dev/urandom >"$T_DIR/$f.bin"; done

on n1 put k "$T_DIR/old.bin"
ok $? "put k"

mkfifo "$T_DIR/hold.in"
"$U" "$SOCK_n1" hold k "$T_DIR/old.bin" <"$T_DIR/hold.in" >"$T_DIR/hold.out" 2>"$T_DIR/hold.err" &
HOLD_PID=$!
track "$HOLD_PID" "view holder"
exec 4>"$T_DIR/hold.in"
wait_until 30 grep -q '^held' "$T_DIR/hold.out"
[ "$(cat "$T_DIR/hold.out")" = "held same" ]
ok $? "a client holds a verified view of k"

expect_status 3 "rm without --force is refused while the view is held" -- on n1 rm --no-wait k
on n1 rm --force k
ok $? "another client force-removes k"
expect_status 1 "k is gone for get" -- on n1 get k
expect_status 1 "and for exists" -- on n1 exists k
used_is $((4 * MiB))
ok $? "the held value's space is still used ($(used) bytes)"
wait_until 30 metric_is "$MPORT" mcstore_master_retired_objects 1
ok $? "the master keeps it as one retired object"

on n1 put k "$T_DIR/new.bin" && on n1 put f1 "$T_DIR/f1.bin" && on n1 put f2 "$T_DIR/f2.bin" &&
	on n1 get k | cmp -s - "$T_DIR/new.bin"
ok $? "k is put again and two more objects fill the segment; get k returns the new value"
used_is $((16 * MiB))
ok $? "the segment is full ($(used) bytes used)"
echo verify >&4
wait_until 30 grep -q '^verify' "$T_DIR/hold.out"
[ "$(sed -n 2p "$T_DIR/hold.out")" = "verify 0 same" ]
ok $? "the held view still has the removed value's bytes, and mcs_view_verify says 0"

on n1 put f3 "$T_DIR/f3.bin" && on n1 get f3 | cmp -s - "$T_DIR/f3.bin"
ok $? "a put that must evict to fit is stored"
echo verify >&4
wait_until 30 eval '[ "$(grep -c ^verify "$T_DIR/hold.out")" -ge 2 ]'
[ "$(sed -n 3p "$T_DIR/hold.out")" = "verify 0 same" ]
ok $? "it evicted another object: the held view is still the removed value, verified"

echo release >&4
wait_until 30 grep -q '^released' "$T_DIR/hold.out"
wait_until 30 used_is $((12 * MiB)) && wait_until 30 metric_is "$MPORT" mcstore_master_retired_objects 0
ok $? "once the view is released its space is freed ($(used) bytes used, no retired object)"
exec 4>&-
reap "$HOLD_PID"
ok $? "the holder exits 0"

finish_daemons
exit $((T_FAILED > 0))
