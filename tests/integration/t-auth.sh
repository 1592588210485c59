#!/bin/bash
# SPDX-License-Identifier: MIT
# A cluster with a key (issue 14, findings 1 and 2): every TCP link
# authenticates, data requests need the master's tokens, and without a
# key the ports stay on loopback. Puts and gets work as before, locally,
# remotely (straight to the peers and through the daemons); an outsider
# is refused on every port, a client cannot MOUNT, a node with another
# cluster's key cannot join, a token cannot be forged or stretched, and
# the victims' objects stay intact throughout.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 35
I=$TESTBIN/intruder
D=$TESTBIN/data-client
K=$T_DIR/cluster.key
check "mcstorectl keygen makes a key" -- "$CTL" keygen "$K"
ok $([ "$(stat -c %a "$K")" = 600 ] && grep -qE '^mcstore-cluster-key-1 [0-9a-f]{64}$' "$K"; echo $?) \
	"the key file is one line, mode 0600"
expect_status 3 "keygen never overwrites a key" -- "$CTL" keygen "$K"
"$CTL" keygen "$T_DIR/other.key" >/dev/null

start_master --key-file "$K" --node-timeout-ms 60000 --put-timeout-ms 10000
grep -q "links authenticated with the cluster key" "$T_DIR/master.log"
ok $? "the master says its links are authenticated"
start_node n1 64M --hugepages off --key-file "$K"
start_node n2 64M --hugepages off --key-file "$K"
M=127.0.0.1:$MASTER_PORT

head -c 3000000 /dev/urandom >"$T_DIR/v.bin"
head -c 100000 /dev/urandom >"$T_DIR/w.bin"
check "a put through n1 (the client key from HELLO)" -- on n1 put k "$T_DIR/v.bin"
check "its get on n1" -- on n1 get k -o "$T_DIR/o1.bin"
cmp -s "$T_DIR/v.bin" "$T_DIR/o1.bin"
ok $? "byte-exact"
check "a put on n1 into n2's segment, straight to n2's data port" -- "$D" "$SOCK_n1" 10000 put r "$T_DIR/w.bin" n2-0
check "its get from n1 (a token-checked DATA_READ at n2)" -- "$D" "$SOCK_n1" 10000 get r "$T_DIR/o2.bin"
cmp -s "$T_DIR/w.bin" "$T_DIR/o2.bin"
ok $? "byte-exact"
MCSTORE_DIRECT_DATA=0 "$D" "$SOCK_n1" 10000 put rd "$T_DIR/w.bin" n2-0 &&
	MCSTORE_DIRECT_DATA=0 "$D" "$SOCK_n2" 10000 get r "$T_DIR/o3.bin" &&
	MCSTORE_DIRECT_DATA=0 "$D" "$SOCK_n1" 10000 get rd "$T_DIR/o4.bin" &&
	cmp -s "$T_DIR/w.bin" "$T_DIR/o3.bin" && cmp -s "$T_DIR/w.bin" "$T_DIR/o4.bin"
ok $? "the same through the daemons (PUSH and FETCH: node to node, authenticated, tokens checked)"

# the data port of n1, from its log line
DP1=$(sed -n 's/.*data port \([0-9][0-9]*\).*/\1/p' "$T_DIR/n1.log" | head -1)
"$I" noauth "$M" >"$T_DIR/na-m.out" 2>&1
ok $? "an outsider's STAT, MOUNT, REMOVE_ALL on the master: refused, connection closed"
sed 's/^/# /' "$T_DIR/na-m.out"
"$I" noauth "127.0.0.1:$DP1" >"$T_DIR/na-d.out" 2>&1
ok $? "an outsider's DATA_READ of n1's whole segment: refused, nothing sent"
sed 's/^/# /' "$T_DIR/na-d.out" | grep -v "^# ok" 
grep -q "refused STAT from 127.0.0.1:[0-9]*: it sent a request before authenticating" "$T_DIR/master.log"
ok $? "the master logs whom it refused and why"
expect_status 1 "another cluster's key fails the handshake with the master" -- "$I" auth "$T_DIR/other.key" client "$M"
expect_status 1 "... and with a node" -- "$I" auth "$T_DIR/other.key" node "127.0.0.1:$DP1"
check "the cluster's key passes it, as a node" -- "$I" auth "$K" node "$M"
"$I" mount "$K" "$M" >"$T_DIR/mount.out" 2>&1
ok $? "a client with the key: MOUNT and HEARTBEAT refused (only nodes may), STAT answered"
sed 's/^/# /' "$T_DIR/mount.out"
"$I" tokens "$K" "$M" r >"$T_DIR/tokens.out" 2>&1
ok $? "tokens at n2: the granted read passes; none, edited, stretched, another incarnation, read-for-write: refused"
sed 's/^/# /' "$T_DIR/tokens.out"
grep -q "refusing a DATA_WRITE from 127.0.0.1:[0-9]*: Permission denied" "$T_DIR/n2.log"
ok $? "n2 logs the refused write and its peer"

# a local client cannot aim its daemon anywhere (finding 3's SSRF half):
# with a key a remote handle needs its token, which names the endpoint
"$I" ssrf "$SOCK_n1" "127.0.0.1:$MASTER_PORT" >"$T_DIR/ssrf.out" 2>&1
ok $? "FETCH and PUSH at the master's port with a made-up handle: refused"
sed 's/^/# /' "$T_DIR/ssrf.out"
grep -q "refused a client's FETCH: Permission denied" "$T_DIR/n1.log"
ok $? "n1 logs the refusal"

# a writer that hangs past the put timeout (10 s here) is fenced: its
# token expires when the master reclaims the space
"$I" fence "$K" "$M" >"$T_DIR/fence.out" 2>&1
ok $? "a hung writer's write token works in time and is refused once its put timed out"
sed 's/^/# /' "$T_DIR/fence.out"

# a node with another key never mounts: the master refuses its proof
start_daemon bad "$NODE_BIN" --master "$M" --name bad --segment-size 16M --hugepages off \
	--socket "$T_DIR/bad.sock" --data-port 0 --data-host 127.0.0.1 --key-file "$T_DIR/other.key"
BAD=$DAEMON_PID
wait_until 60 grep -q "authentication failed: its proof is wrong" "$T_DIR/bad.log"
ok $? "a node with another cluster's key finds the master's proof wrong and says so"
on n1 stat >"$T_DIR/stat.out" 2>&1
! grep -q "bad-0" "$T_DIR/stat.out"
ok $? "... and its segment is not mounted"
stop_pid "$BAD"

# the victims: everything stored is still there, byte-exact
on n1 get k -o "$T_DIR/o5.bin" && cmp -s "$T_DIR/v.bin" "$T_DIR/o5.bin" &&
	"$D" "$SOCK_n2" 10000 get r "$T_DIR/o6.bin" && cmp -s "$T_DIR/w.bin" "$T_DIR/o6.bin"
ok $? "after all that, every object is intact and served"
# an outsider's garbage: its cases that expect answers get refusals
# instead (its exit says nothing); what counts is that everyone else is
# still served, below
"$TESTBIN/garbage" tcp 127.0.0.1 "$MASTER_PORT" >"$T_DIR/garbage.out" 2>&1
GARBAGE_KEY=$K "$TESTBIN/garbage" tcp 127.0.0.1 "$MASTER_PORT" >"$T_DIR/garbage-in.out" 2>&1
ok $? "an insider's (authenticated) garbage on the master port: refused, answered or closed, as without a key"
grep -v "^ok" "$T_DIR/garbage-in.out" | sed 's/^/# /' | head -5
GARBAGE_KEY=$K "$TESTBIN/garbage" data 127.0.0.1 "$DP1" >"$T_DIR/garbage-d.out" 2>&1
ok $? "an insider's garbage on n1's data port: the same"
grep -v "^ok" "$T_DIR/garbage-d.out" | sed 's/^/# /' | head -5
alive "$MASTER_PID" && on n1 get k -o "$T_DIR/o7.bin" && cmp -s "$T_DIR/v.bin" "$T_DIR/o7.bin" &&
	"$D" "$SOCK_n2" 10000 get r "$T_DIR/o8.bin" && cmp -s "$T_DIR/w.bin" "$T_DIR/o8.bin"
ok $? "... and the master and the nodes still serve every object intact"

# protected mode: no key, no listening beyond loopback
"$MASTER_BIN" --no-config --listen 0.0.0.0 --port 0 >"$T_DIR/pm.log" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "refusing to listen on 0.0.0.0 (--listen) without a cluster key" "$T_DIR/pm.log"
ok $? "a master without a key refuses --listen 0.0.0.0 and says what to configure (exit $st)"
"$NODE_BIN" --no-config --master "$M" --name pm --segment-size 16M --hugepages off --socket "$T_DIR/pm.sock" \
	--data-listen 0.0.0.0 --data-port 0 >"$T_DIR/pmn.log" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "refusing to listen on 0.0.0.0 (--data-listen) without a cluster key" "$T_DIR/pmn.log"
ok $? "a node without a key refuses --data-listen 0.0.0.0 (exit $st)"
"$MASTER_BIN" --no-config --listen 0.0.0.0 --port 0 --key-file "$T_DIR/missing.key" >"$T_DIR/pk.log" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "cannot read the key file" "$T_DIR/pk.log"
ok $? "a key file that is not there stops the master with a clear message (exit $st)"
chmod 0644 "$T_DIR/other.key"
"$MASTER_BIN" --no-config --port 0 --key-file "$T_DIR/other.key" >"$T_DIR/pk2.log" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "other users may read or write it" "$T_DIR/pk2.log"
ok $? "a key file others can read is refused (exit $st)"
finish_daemons
