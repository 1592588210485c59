#!/bin/bash
# SPDX-License-Identifier: MIT
# A full store behaves like a cache: puts far past capacity all succeed,
# least recently used objects go first, a hot object and soft-pinned ones
# survive, leased objects cannot be removed (but with --force), and a
# writer that hangs mid-put has its space reclaimed by the put timeout.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 14
# a put not ended within 3 s is revoked (a real one ends well within that
# on a loaded machine); reads lease for 10 s, so that the remove right
# after a read below meets the lease however slowly it runs
start_master --put-timeout-ms 3000 --lease-ttl-ms 10000
start_node n1 32M --hugepages off

# a writer that hangs between PutStart and PutEnd (connection open), in
# the empty store (in the full one, every survivor is under a lease)
HANG_SECONDS=600 "$TESTBIN/garbage" halfput "$NODE_SOCK" stuck $((8 << 20)) >"$T_DIR/hang.out" 2>&1 &
HP=$!
wait_until 30 grep -q "started" "$T_DIR/hang.out"
ok $? "a client starts an 8 MiB put and hangs"
head -c 1000 /dev/urandom >"$T_DIR/s.bin"
wait_until 60 ctl put stuck "$T_DIR/s.bin"
ok $? "after the put timeout the key can be put again (the writer still hangs)"
alive $HP
ok $? "(the stuck writer was still connected)"
ctl stat | grep -q "^puts_timed_out: [1-9]"
ok $? "the timed-out put is counted"
kill -TERM $HP
wait $HP 2>/dev/null
ctl rm --force stuck >/dev/null

# 32 MiB: 4 pinned + hot + 300 objects of 512 KiB = ~150 MiB of puts
"$TESTBIN/stress-client" fill "$NODE_SOCK" 300 524288 4 >"$T_DIR/fill.out" 2>"$T_DIR/fill.err"
st=$?
sed 's/^/# /' "$T_DIR/fill.out"; head -5 "$T_DIR/fill.err" | sed 's/^/# /'
ok $st "300 puts of 512 KiB into 32 MiB: none failed, survivors exact, hot and pinned kept, first evicted"
ctl stat --bytes >"$T_DIR/stat.out"
used=$(sed -n 's/^used: *\([0-9]*\) (.*/\1/p' "$T_DIR/stat.out")
[ "$used" -le $((32 << 20)) ]
ok $? "usage stays within capacity ($used bytes)"
ev=$(sed -n 's/^evictions: \([0-9]*\) objects.*/\1/p' "$T_DIR/stat.out")
[ "$ev" -ge 240 ]
ok $? "the master counts the evictions ($ev)"
grep -q "^put_no_space: 0$" "$T_DIR/stat.out"
ok $? "no put was refused for space"

# leases: a read leases the object; remove is refused, --force is not
ctl get hot >/dev/null
expect_status 3 "rm --no-wait of a just-read object is refused" -- ctl rm --no-wait hot
grep -q "leased" "$T_DIR/last.err"
ok $? "with a 'leased' error"
ctl stat | grep -q "^remove_refused_leased: [1-9]"
ok $? "refused removes are counted"
ctl rm --force hot && ! ctl exists hot
ok $? "rm --force removes it all the same (t-basic waits for a lease's end)"
finish_daemons
