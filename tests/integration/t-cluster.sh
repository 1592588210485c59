#!/bin/bash
# SPDX-License-Identifier: MIT
# A master and three nodes on loopback: objects cross nodes byte for byte
# (0 B .. 256 MiB), replicas land on distinct nodes, a 256 MiB object is
# striped over 128 MiB segments, a SIGKILLed node's replica is replaced by
# the survivor's, and a restarted node rejoins and takes new puts.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 37
# a node silent for 3 s is lost (heartbeats every 100 ms: a loaded machine
# does not keep a node from sending for that long)
start_master --node-timeout-ms 3000
for n in n1 n2 n3; do start_node $n 128M --hugepages off --heartbeat-interval-ms 100; done

on n1 stat --bytes >"$T_DIR/stat.out"
grep -q "^segments: *3$" "$T_DIR/stat.out"
ok $? "stat shows three segments"
bad=
for n in n1 n2 n3; do grep -q "^$n-0 *$n *134217728" "$T_DIR/stat.out" || bad="$bad $n"; done
[ -z "$bad" ]
ok $? "stat lists every node with its capacity${bad:+ (not:$bad)}"

# sizes 0 B .. 64 MiB, written on n1 into n2, read on n3 (all remote)
i=0
for size in 0 1 4096 1048583 16777216 67108864; do
	i=$((i + 1))
	head -c $size /dev/urandom >"$T_DIR/s$i.bin"
	on n1 put s$i "$T_DIR/s$i.bin" --location n2 &&
		on n3 get s$i -o "$T_DIR/s$i.out" && cmp -s "$T_DIR/s$i.bin" "$T_DIR/s$i.out"
	ok $? "$size bytes: put on n1 into n2, get on n3, byte-exact"
	on n3 rm --force s$i >/dev/null
done
on n1 put remote1 "$T_DIR/s4.bin" --location n2
on n1 locate remote1 | awk 'NR>2 {print $2}' | grep -qx n2
ok $? "--location n2 put the replica on n2"

# two replicas on distinct nodes
head -c 5000000 /dev/urandom >"$T_DIR/k.bin"
on n1 put K "$T_DIR/k.bin" --replicas 2 --location n1 --location n2
ok $? "put K with 2 replicas from n1"
on n1 locate K >"$T_DIR/locate.out"
sed 's/^/# /' "$T_DIR/locate.out"
[ "$(awk 'NR>2' "$T_DIR/locate.out" | wc -l)" -eq 2 ]
ok $? "locate prints one buffer line per replica (2)"
[ "$(awk 'NR>2 {print $2}' "$T_DIR/locate.out" | sort -u | wc -l)" -eq 2 ]
ok $? "the replicas are on distinct nodes"
on n3 get K | cmp - "$T_DIR/k.bin"
ok $? "get K on n3 returns the same bytes"
# more replicas than nodes: as many as fit, reported
on n1 put K4 "$T_DIR/k.bin" --replicas 4 2>"$T_DIR/k4.err"
ok $? "put with 4 replicas on 3 nodes succeeds"
grep -q "stored 3 of 4 replicas" "$T_DIR/k4.err"
ok $? "and reports 3 of 4 replicas"
expect_status 3 "all-or-nothing with 4 replicas on 3 nodes fails" -- on n1 put K5 "$T_DIR/k.bin" --replicas 4 --all-or-nothing
on n1 rm --force K4 >/dev/null

# striping: 256 MiB over three 128 MiB segments
head -c $((256 << 20)) /dev/urandom >"$T_DIR/big.bin"
on n1 put big "$T_DIR/big.bin"
ok $? "put a 256 MiB object (segments are 128 MiB)"
on n1 locate big >"$T_DIR/big.loc"
sed 's/^/# /' "$T_DIR/big.loc"
[ "$(awk 'NR>2 {print $2}' "$T_DIR/big.loc" | sort -u | wc -l)" -ge 2 ]
ok $? "it is striped over at least two nodes"
bad=
for n in n1 n2 n3; do on $n get big | cmp -s - "$T_DIR/big.bin" || bad="$bad $n"; done
[ -z "$bad" ]
ok $? "every node reads it back byte for byte${bad:+ (not:$bad)}"
on n1 rm --force big
ok $? "remove it"

# a node holding one of K's two replicas dies
kill_pid "$(pid_of n1)"
on n3 get K | cmp - "$T_DIR/k.bin"
ok $? "after SIGKILL of n1, get K on n3 returns the right bytes"
wait_until 30 sh -c "\"$CTL\" --socket \"$SOCK_n3\" locate K | awk 'NR>2' | wc -l | grep -qx 1"
ok $? "the master dropped n1's replica (one left)"
wait_until 30 sh -c "\"$CTL\" --socket \"$SOCK_n3\" stat | grep -q '^segments: *2$'"
ok $? "and n1's segment"
grep -q "went away\|declaring it lost" "$T_DIR/master.log"
ok $? "the master logged the node loss"
on n2 get K | cmp - "$T_DIR/k.bin"
ok $? "n2 still reads K"

# n1 comes back with the same name and takes new puts
start_node n1 128M --hugepages off --heartbeat-interval-ms 100
wait_until 30 sh -c "\"$CTL\" --socket \"$SOCK_n3\" stat | grep -q '^segments: *3$'"
ok $? "restarted n1 rejoins (three segments again)"
on n3 put after "$T_DIR/k.bin" --location n1 && on n3 locate after | awk 'NR>2 {print $2}' | grep -qx n1
ok $? "a new put lands on the restarted n1"
on n2 get after | cmp - "$T_DIR/k.bin"
ok $? "and reads back from n2"

# a hung node (SIGSTOP: TCP stays up) is declared lost by heartbeat timeout
head -c 100000 /dev/urandom >"$T_DIR/h.bin"
on n3 put H "$T_DIR/h.bin" --replicas 2 --location n2 --location n3
kill -STOP "$(pid_of n2)"
# (the master's warning is what is checked: lost by timeout, its TCP up)
wait_until 30 grep -q "declaring it lost" "$T_DIR/master.log"
ok $? "a stopped node is declared lost after missing heartbeats"
on n3 get H | cmp - "$T_DIR/h.bin"
ok $? "its objects still read from the other replica"
kill -CONT "$(pid_of n2)"
wait_until 30 sh -c "\"$CTL\" --socket \"$SOCK_n3\" stat | grep -q '^segments: *3$'"
ok $? "the resumed node remounts on its own"

# A master that does not run for a while (stopped here; starved of CPU or
# in a paused VM elsewhere) must not declare live nodes lost when it
# resumes: their heartbeats are waiting, unread, in its sockets. Its first
# sweep after resuming says it saw the stall; silence is judged from the
# next one on. That no live node is declared lost is a check that
# something does NOT happen; what bounds it is a node that does fall
# silent once the stall was seen: it must be declared lost (after the node
# timeout, a few sweeps later), and it alone. So the test waits for that,
# not for a time, and it fails too if the master stops judging silence
# after a stall. The stalls themselves (sleep with the master stopped) are
# the input of the test, not waits.
# stall_seen N: the master has logged more than N stall notices
stall_seen() { [ "$(grep -c "did not run for" "$T_DIR/master.log")" -gt "$1" ]; }
# losses: the nodes the master declared lost (by heartbeat timeout)
losses() { grep -c "declaring it lost" "$T_DIR/master.log"; }
# segment_gone NODE ASK: the master, asked through node ASK, no longer
# lists NODE's segment
segment_gone() { on "$2" stat >"$T_DIR/gone.out" && ! grep -q "^$1-0 " "$T_DIR/gone.out"; }
lost0=$(losses)
stalls=$(grep -c "did not run for" "$T_DIR/master.log")
kill -STOP "$MASTER_PID"
sleep 4 # the stall: longer than the 3 s node timeout
kill -CONT "$MASTER_PID"
wait_until 60 stall_seen "$stalls"
ok $? "a master stopped for 4 s says so when it resumes"
kill -STOP "$(pid_of n2)"
wait_until 60 segment_gone n2 n3
st=$?
lost1=$(losses)
[ $st -eq 0 ] && [ "$lost1" -eq $((lost0 + 1)) ] && on n3 stat | grep -q '^segments: *2$'
ok $? "and declares no live node lost: only n2, stopped after the stall ($lost0 -> $lost1 losses)"
kill -CONT "$(pid_of n2)"
wait_until 30 sh -c "\"$CTL\" --socket \"$SOCK_n3\" stat | grep -q '^segments: *3$'"
remounted=$?

# the same for a master stopped before its first sweep (a second master,
# node timeout 4 s: sweeps every second; stopped as soon as n4 mounted;
# its next heartbeat, 2 s later, comes after that first sweep is due);
# n5, started and stopped after the stall, is the node that falls silent
M1=$MASTER_PID; tstart=$(date +%s%N)
start_master --node-timeout-ms 4000
start_node n4 64M --hugepages off --heartbeat-interval-ms 2000
kill -STOP "$MASTER_PID"
diag "stopped $((($(date +%s%N) - tstart) / 1000000)) ms after the start"
sleep 4.5 # the stall: longer than the 4 s node timeout
kill -CONT "$MASTER_PID"
wait_until 60 stall_seen 0
st=$?
start_node n5 16M --hugepages off --heartbeat-interval-ms 100
kill -STOP "$(pid_of n5)"
wait_until 60 segment_gone n5 n4 || st=1
lost1=$(losses)
[ $st -eq 0 ] && [ "$lost1" -eq 1 ] && on n4 stat | grep -q '^segments: *1$'
ok $? "a master stopped right after it started declares no live node lost when it resumes: only n5 ($lost1 losses)"
kill_pid "$(pid_of n5)"

alive "$M1" && alive "$MASTER_PID" && alive "$(pid_of n2)" && alive "$(pid_of n3)" && alive "$(pid_of n4)" &&
	[ $remounted -eq 0 ]
ok $? "both masters and the surviving nodes alive, n2 mounted again"
finish_daemons
