#!/bin/bash
# SPDX-License-Identifier: MIT
# What one peer may take of a daemon, and no more (issue 14): the shared
# buffers of one client stay within --max-client-buffers, counted as the
# daemon hands them out (whole pages), with no wrap past the limit, and
# within --max-client-buffer-count; and the master keeps at most
# --max-holds-per-connection views for one link.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 15
start_master
# a limit that is not a multiple of the page size: 4 KiB rounding passes
# it after one buffer, and the check used to wrap (max - used < 0)
start_node n1 32M --hugepages off --max-client-buffers 5000
"$TESTBIN/bufalloc-client" "$NODE_SOCK" 4000 900 1073741824 4096 >"$T_DIR/a.out" 2>&1
st=$?
sed 's/^/# /' "$T_DIR/a.out"
[ $st -eq 0 ] && [ "$(sed -n 1p "$T_DIR/a.out")" = "4000 0" ]
ok $? "--max-client-buffers 5000: a buffer of 4000 bytes (a page of 4096) is given"
[ "$(sed -n 2p "$T_DIR/a.out")" = "900 -EMSGSIZE" ]
ok $? "the next 900 bytes would take a second page, past the limit: -EMSGSIZE"
[ "$(sed -n 3p "$T_DIR/a.out")" = "1073741824 -EMSGSIZE" ] && [ "$(sed -n 4p "$T_DIR/a.out")" = "4096 -EMSGSIZE" ]
ok $? "and neither 1 GiB nor another page slips through afterwards"
# the limit is per client: another one gets its own page, and a limit
# met exactly is met, not passed
"$TESTBIN/bufalloc-client" "$NODE_SOCK" 4096 1 >"$T_DIR/b.out" 2>&1
sed 's/^/# /' "$T_DIR/b.out"
[ "$(cat "$T_DIR/b.out")" = $'4096 0\n1 -EMSGSIZE' ]
ok $? "another client gets its own page; then a byte more is refused"

# and as many buffers as --max-client-buffer-count, no more: each is a
# descriptor of the daemon's; one given back makes room for one
start_node n2 32M --hugepages off --max-client-buffer-count 3
"$TESTBIN/bufalloc-client" "$NODE_SOCK" 4096 4096 4096 4096 >"$T_DIR/c.out" 2>&1
sed 's/^/# /' "$T_DIR/c.out"
[ "$(cat "$T_DIR/c.out")" = $'4096 0\n4096 0\n4096 0\n4096 -EMFILE' ]
ok $? "--max-client-buffer-count 3: three buffers, the fourth -EMFILE"
"$TESTBIN/bufalloc-client" "$NODE_SOCK" 4096 >"$T_DIR/d.out" 2>&1
[ "$(cat "$T_DIR/d.out")" = "4096 0" ]
ok $? "the count is per client, and a client that went away left none behind"

# holds: the master keeps at most --max-holds-per-connection for one link;
# through the relay that is the node's, for all of its clients. A holder
# that goes away gives its hold back (the node releases it), and a new
# one fits again.
start_master --max-holds-per-connection 3
start_node n3 32M --hugepages off
head -c 4096 /dev/urandom >"$T_DIR/h.bin"
ctl put h "$T_DIR/h.bin" >/dev/null
HP=()
for i in 1 2 3; do
	HANG_SECONDS=600 "$TESTBIN/garbage" halfview "$NODE_SOCK" h >"$T_DIR/hold$i.out" 2>&1 &
	HP+=($!)
	track "$!" "holder $i"
	wait_until 30 grep -q "started" "$T_DIR/hold$i.out" || break
done
grep -q "started" "$T_DIR/hold3.out"
ok $? "three clients hold views of h through one node"
"$TESTBIN/garbage" halfview "$NODE_SOCK" h >"$T_DIR/hold4.out" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "status -122)" "$T_DIR/hold4.out" # -EDQUOT on Linux
ok $? "a fourth is refused with -EDQUOT ($(head -1 "$T_DIR/hold4.out"))"
kill_pid "${HP[0]}"
fits() { "$TESTBIN/garbage" halfview "$NODE_SOCK" h >"$T_DIR/hold5.out" 2>&1; }
wait_until 30 fits
ok $? "once a holder is gone, a new hold fits"
kill_pid "${HP[1]}"
kill_pid "${HP[2]}"

# the socket's connections and a client's relayed requests in flight
start_node n4 32M --hugepages off --max-clients 3 --max-client-inflight 4
HP=()
for i in 1 2; do
	HANG_SECONDS=600 "$TESTBIN/garbage" halfview "$NODE_SOCK" h >"$T_DIR/c$i.out" 2>&1 &
	HP+=($!)
	track "$!" "client $i of n4"
	wait_until 30 grep -q "started" "$T_DIR/c$i.out"
done
ctl stat >/dev/null 2>&1
ok $? "with two clients connected, a third is served (--max-clients 3)"
HANG_SECONDS=600 "$TESTBIN/garbage" halfview "$NODE_SOCK" h >"$T_DIR/c3.out" 2>&1 &
HP+=($!)
track "$!" "client 3 of n4"
wait_until 30 grep -q "started" "$T_DIR/c3.out"
ctl stat >"$T_DIR/full.out" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "Too many open files" "$T_DIR/full.out" && grep -q "(--max-clients)" "$T_DIR/n4.log"
ok $? "a fourth is refused, -EMFILE, and the daemon says why ($(head -1 "$T_DIR/full.out"))"
for p in "${HP[@]}"; do kill_pid "$p"; done
# the master stopped: the first 4 relayed requests wait for it, the rest
# are told -EBUSY at once; once it runs, the 4 are answered
kill -STOP "$MASTER_PID"
"$TESTBIN/intruder" pipeline "$NODE_SOCK" 40 4 >"$T_DIR/pipe.out" 2>&1 &
IP=$!
wait_until 60 grep -q "^busy" "$T_DIR/pipe.out"
grep -q "^busy 36 other 0" "$T_DIR/pipe.out"
ok $? "a client's 40 pipelined requests with the master stopped: 36 told -EBUSY at once ($(head -1 "$T_DIR/pipe.out"))"
kill -CONT "$MASTER_PID"
wait "$IP"
ok $? "the 4 in flight are answered once the master runs ($(tail -1 "$T_DIR/pipe.out"))"
finish_daemons
