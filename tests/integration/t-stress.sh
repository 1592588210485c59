#!/bin/bash
# SPDX-License-Identifier: MIT
# 1,000 objects of random sizes from 0 B to 8 MiB, put and read back byte
# for byte by two client processes at once, each also verifying the
# other's objects; then the daemons must stop cleanly.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 6
start_master
start_node n1 4G --hugepages off

"$TESTBIN/stress-client" "$NODE_SOCK" A 500 B 500 >"$T_DIR/a.out" 2>"$T_DIR/a.err" &
PA=$!
"$TESTBIN/stress-client" "$NODE_SOCK" B 500 A 500 >"$T_DIR/b.out" 2>"$T_DIR/b.err" &
PB=$!
wait $PA; SA=$?
wait $PB; SB=$?
sed 's/^/# /' "$T_DIR/a.out" "$T_DIR/b.out"
head -5 "$T_DIR/a.err" "$T_DIR/b.err" | sed 's/^/# /'
ok $SA "client A: 500 puts, 1000 byte-exact reads"
ok $SB "client B: 500 puts, 1000 byte-exact reads"
ctl stat >"$T_DIR/stat.out"
grep -q "^objects: *1000$" "$T_DIR/stat.out"
ok $? "the master counts 1000 objects"
# nothing left half-written or held after both clients exited
ctl put after-stress /dev/null && ctl get after-stress >/dev/null
ok $? "the node still serves"
finish_daemons
