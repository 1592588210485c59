#!/bin/bash
# SPDX-License-Identifier: MIT
# A node that restarts keeps its objects (issue 15): mcstored runs under
# a stand-in for the service manager's fd store (fd-store: it keeps what
# the daemon stores with FDSTORE=1 and hands it back with LISTEN_FDS, and
# restarts the daemon when it ends, as Restart= does). After a SIGKILL
# and after a SIGTERM, the next start takes its segment and its table of
# objects back and reports them, and every object reads back byte for
# byte. A node without the store comes back empty, and nothing wrong is
# read: its objects are gone, one with a replica elsewhere stays. A table
# spoilt in the store is refused: the node starts empty and says so.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

FS=$TESTBIN/fd-store
tap_plan 18
start_master --node-timeout-ms 60000
MP=$MASTER_PORT

# start_fs_node NAME SIZE [ARGS...]: mcstored under fd-store; FS_PID is the
# store's pid, the daemon's are its "started PID" lines in NAME.msgs
start_fs_node() {
	local name=$1 size=$2; shift 2
	printf -v "SOCK_$name" %s "$T_DIR/$name.sock"
	"$FS" "$T_DIR/$name.notify" "$T_DIR/$name.log" "$NODE_BIN" --master "127.0.0.1:$MP" --name "$name" \
		--segment-size "$size" --socket "$T_DIR/$name.sock" --data-port 0 --data-host 127.0.0.1 "$@" \
		>"$T_DIR/$name.msgs" 2>&1 &
	FS_PID=$!
	track "$FS_PID" "the fd store of $name"
}
# last NAME: the pid of the latest start of NAME's daemon
last() { sed -n 's/^started //p' "$T_DIR/$1.msgs" | tail -1; }
# ready NAME K: NAME's daemon started more than K times, and its latest
# start said READY=1
ready() {
	local pids
	# one read of the starts: the count and the latest from the same list
	mapfile -t pids < <(sed -n 's/^started //p' "$T_DIR/$1.msgs")
	[ "${#pids[@]}" -gt "$2" ] && sent_by "${pids[-1]}" "$T_DIR/$1.msgs" | grep -qx READY=1
}
# reports NAME N: NAME's daemon reported its table N times
reports() { [ "$(grep -c "reported .* objects' parts to master" "$T_DIR/$1.log")" -ge "$2" ]; }
# back FIRST LAST NODE: objects oFIRST..oLAST read back byte for byte through NODE
back() {
	local i bad=0
	for ((i = $1; i <= $2; i++)); do
		on "$3" get "o$i" -o "$T_DIR/got.bin" >/dev/null 2>&1 && cmp -s "$T_DIR/got.bin" "$T_DIR/o$i.bin" ||
			{ bad=$((bad + 1)); diag "o$i through $3: not the bytes put"; }
	done
	return $bad
}
# put_on NODE FIRST LAST: objects of 1 byte to 200 KB, on NODE's segment
put_on() {
	local i st=0
	for ((i = $2; i <= $3; i++)); do
		head -c $(((i * 7919) % 200000 + 1)) /dev/urandom >"$T_DIR/o$i.bin"
		on "$1" put "o$i" "$T_DIR/o$i.bin" --location "$1-0" >/dev/null || st=1
	done
	return $st
}

start_fs_node n1 32M --hugepages off
wait_until 60 ready n1 0
ok $? "n1 starts under the fd store"
start_node n2 32M --hugepages off
put_on n1 1 30 && put_on n2 31 40
ok $? "30 objects on n1, 10 on n2 (which has no fd store)"
head -c 100000 /dev/urandom >"$T_DIR/two.bin"
on n2 put two "$T_DIR/two.bin" --replicas 2 >/dev/null
ok $? "and one with a replica on each"
grep -q "^kept fd [0-9]* as segment" "$T_DIR/n1.msgs" && grep -q "^kept fd [0-9]* as replicas" "$T_DIR/n1.msgs"
ok $? "n1 keeps its segment and its table in the store"

kill -KILL "$(last n1)"
wait_until 60 ready n1 1 && wait_until 60 reports n1 1
ok $? "killed (SIGKILL), n1 starts again and reports its table"
grep -q "taken back from the service manager's fd store, with 31 parts" "$T_DIR/n1.log"
ok $? "it took its segment back from the store, with the 31 objects' parts"
back 1 30 n1 && back 1 30 n2
ok $? "every object of n1 reads back byte for byte, through n1 and n2"

N=$(grep -c '^started ' "$T_DIR/n1.msgs")
kill -TERM "$(last n1)"
wait_until 60 ready n1 "$N" && wait_until 60 reports n1 2
back 1 30 n2 && on n1 get two -o "$T_DIR/got.bin" >/dev/null && cmp -s "$T_DIR/got.bin" "$T_DIR/two.bin"
ok $? "stopped (SIGTERM, unmounted) and started again: every object reads back again"

stop_pid "$PID_n2"
start_node n2 32M --hugepages off
grep -q "taken back" "$T_DIR/n2.log"
[ $? -ne 0 ]
ok $? "n2, without a store, starts with a new segment"
lost=0
for i in $(seq 31 40); do
	if on n1 get "o$i" -o "$T_DIR/got.bin" >/dev/null 2>&1; then
		cmp -s "$T_DIR/got.bin" "$T_DIR/o$i.bin" || { diag "o$i: wrong bytes"; lost=100; }
	else
		lost=$((lost + 1))
	fi
done
[ $lost = 10 ]
ok $? "its 10 objects are gone: not found, never wrong bytes ($lost)"
on n1 get two -o "$T_DIR/got.bin" >/dev/null && cmp -s "$T_DIR/got.bin" "$T_DIR/two.bin"
ok $? "the object with a replica on n1 still reads back"

# spoil the table where the store keeps it: a byte of its first record
fd=$(sed -n 's/^kept fd \([0-9]*\) as replicas$/\1/p' "$T_DIR/n1.msgs" | tail -1)
printf 'X' | dd of="/proc/$FS_PID/fd/$fd" bs=1 seek=80 conv=notrunc status=none
ok $? "a byte of n1's table in the store spoilt"
N=$(grep -c '^started ' "$T_DIR/n1.msgs")
kill -KILL "$(last n1)"
wait_until 60 ready n1 "$N"
ok $? "n1 killed and started again"
grep -q "table of the segment's objects in the service manager's fd store is refused" "$T_DIR/n1.log"
ok $? "it refuses the table and says its objects are forgotten"
bad=0
for i in $(seq 1 30); do
	if on n2 get "o$i" -o "$T_DIR/got.bin" >/dev/null 2>&1; then
		diag "o$i read after its table was refused"
		bad=$((bad + 1))
	fi
done
[ $bad = 0 ]
ok $? "none of its objects is served any more"
N=$(grep -c '^started ' "$T_DIR/n1.msgs")
put_on n1 41 50 && kill -KILL "$(last n1)" && wait_until 60 ready n1 "$N" && wait_until 60 reports n1 3 &&
	back 41 50 n2
ok $? "objects put after that come back after the next restart"
finish_daemons
