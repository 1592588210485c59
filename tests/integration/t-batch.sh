#!/bin/bash
# SPDX-License-Identifier: MIT
# Batch calls against the real daemons: 64 objects of 0 B .. 2 MiB stored
# in one batch and read back byte for byte (copies and views), exists on
# present and absent keys, per-key failures beside successes, and batches
# whose objects sit on another node (n2, which polls for its requests:
# --busy-poll-us).
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 14
start_master
start_node n1 256M --hugepages off
start_node n2 256M --hugepages off --busy-poll-us 100
B=$TESTBIN/batch-client

check "put a batch of 64 objects on n1" -- "$B" "$SOCK_n1" put a 64 n1-0
check "get the batch back byte for byte" -- "$B" "$SOCK_n1" get a 64
check "the same with a prefaulted segment and busy polling" -- \
	env MCSTORE_PREFAULT=1 MCSTORE_BUSY_POLL_US=100 "$B" "$SOCK_n1" get a 64
check "views of the batch match byte for byte" -- "$B" "$SOCK_n1" view a 64
check "exists: 64 present, 64 absent, in one batch" -- "$B" "$SOCK_n1" exists a 64
on n1 stat >"$T_DIR/stat.out"
grep -q "^objects: *64$" "$T_DIR/stat.out"
ok $? "the master counts 64 objects"
check "per-key failures beside successes" -- "$B" "$SOCK_n1" errors a
check "put a batch from n1 into n2 (remote)" -- "$B" "$SOCK_n1" put r 16 n2-0
check "get it on n1 (remote copies)" -- "$B" "$SOCK_n1" get r 16
check "get it on n2 (local copies)" -- "$B" "$SOCK_n2" get r 16
check "views on n1 fail per key with -EREMOTE (but empty objects)" -- "$B" "$SOCK_n1" view r 16 notlocal
ctl put after-batch /dev/null && ctl get after-batch >/dev/null
ok $? "the node still serves"
finish_daemons
