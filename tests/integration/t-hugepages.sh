#!/bin/bash
# SPDX-License-Identifier: MIT
# A node on huge pages (reserved here as root, given back at the end), and
# the fallback to normal pages with a warning when none can be had.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

NR=/proc/sys/vm/nr_hugepages
HP_KB=$(sed -n 's/^Hugepagesize: *\([0-9]*\) kB/\1/p' /proc/meminfo)
if [ "$(id -u)" != 0 ] || [ ! -w $NR ] || [ -z "$HP_KB" ]; then
	echo "1..0 # SKIP needs root and a writable $NR to reserve huge pages"
	exit 0
fi
# the pool is machine-wide: take turns with test-shm (same lock file)
exec 9>/tmp/mcstore-test-hugepages.lock
flock 9
SAVED=$(cat $NR)
restore() { echo "$SAVED" >$NR; cleanup; }
trap restore EXIT

SEG_MB=64
PAGES=$((SEG_MB * 1024 / HP_KB))
echo $((SAVED + PAGES)) >$NR
FREE=$(sed -n 's/^HugePages_Free: *//p' /proc/meminfo)
if [ "$FREE" -lt "$PAGES" ]; then
	echo "1..0 # SKIP the kernel gave only $FREE free huge pages, $PAGES needed"
	exit 0
fi

tap_plan 9
start_master
start_node huge ${SEG_MB}M --hugepages on
ctl stat >"$T_DIR/stat.out"
grep -q "huge pages" "$T_DIR/stat.out"
ok $? "the node reports a huge-page segment"
head -c 3000000 /dev/urandom >"$T_DIR/h.bin"
ctl put h "$T_DIR/h.bin" && ctl get h | cmp - "$T_DIR/h.bin"
ok $? "put/get through the huge-page segment"
LEFT=$(sed -n 's/^HugePages_Free: *//p' /proc/meminfo)
RSVD=$(sed -n 's/^HugePages_Rsvd: *//p' /proc/meminfo)
[ $((FREE - LEFT + RSVD)) -ge "$PAGES" ]
ok $? "the segment holds the huge pages (free $FREE -> $LEFT, reserved $RSVD)"
stop_pid "$NODE_PID"
ok $? "node stops cleanly"

# now no huge page is free: auto falls back with a warning, on refuses
echo "$SAVED" >$NR
start_node fallback 64M --hugepages auto
grep -q "warning: not enough huge pages" "$T_DIR/fallback.log"
ok $? "--hugepages auto falls back to normal pages with a warning"
ctl stat | grep -q "normal pages"
ok $? "and serves from normal pages"
if [ "$(sed -n 's/^HugePages_Free: *//p' /proc/meminfo)" -eq 0 ]; then
	"$NODE_BIN" --master 127.0.0.1:$MASTER_PORT --name strict --segment-size 64M --hugepages on \
		--socket "$T_DIR/strict.sock" >"$T_DIR/strict.log" 2>&1
	st=$?
	[ $st -ne 0 ] && grep -q "nr_hugepages" "$T_DIR/strict.log"
	ok $? "--hugepages on without huge pages fails, naming vm.nr_hugepages"
else
	skip "huge pages still free outside this test"
fi
finish_daemons
