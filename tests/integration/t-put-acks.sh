#!/bin/bash
# SPDX-License-Identifier: MIT
# A put is answered once its nodes have it in their tables (issue 15):
# the master's REPLICA_ADD notices of a PUT_END ask the node for an answer
# and the put's answer waits for it, so a master killed right after
# answering cannot take a notice with it and leave an acknowledged object
# unknown to the next master's rebuild. A raw node and client
# (peer-client put-acks) see the order on the wire: a PING sent after the
# PUT_END is answered first, the PUT_END once the node has answered; a
# forged answer closes the node's link and the put whose only node that
# was is refused (ENOLINK). Real nodes answer: puts of one and two
# replicas read back and the master counts the nodes' answers; a put
# relayed by the node that holds it waits for none.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PC=$TESTBIN/peer-client
tap_plan 11
# the raw node sends no heartbeat: the master must not drop it meanwhile
start_master --node-timeout-ms 600000 --metrics-port 0
MPORT=$(metrics_port_of "$T_DIR/master.log")
# the metrics page is the master's latest snapshot: wait for the values
metric() { http "$MPORT" GET /metrics | awk -v n="$1" '$1 == n { print $2; exit }'; }
metrics_are() {
	while [ $# -gt 0 ]; do
		[ "$(metric "$1")" = "$2" ] || return 1
		shift 2
	done
}

"$PC" put-acks 127.0.0.1 "$MASTER_PORT" >"$T_DIR/acks.out" 2>&1
ok $? "a raw node and client see the PUT_END answered after the node's answer"
sed 's/^/# /' "$T_DIR/acks.out"
grep -q "acks-2: PUT_END after its node went away: no node still up recorded the object" "$T_DIR/acks.out"
ok $? "a put whose node went away before recording it is refused with ENOLINK"
alive "$MASTER_PID"
ok $? "the master is still up after the forged answer"
wait_until 60 metrics_are mcstore_master_part_records_total 2 mcstore_master_part_records_lost_total 1 \
	mcstore_master_puts_unrecorded_total 1
ok $? "the master counts 2 answers, 1 notice lost with its node, 1 put unrecorded"

# ---- real nodes answer
start_node n1 32M --hugepages off
# a put relayed by the node that holds it (peer-client on its socket, no
# direct link): its notice goes before the answer on the node's own
# link, so nothing waits and nothing is answered
echo | "$PC" put-hold unix "$SOCK_n1" kr 5000 >"$T_DIR/relay.out" 2>&1
grep -q "^end ok" "$T_DIR/relay.out"
ok $? "a put relayed by its own node is answered"
start_node n2 32M --hugepages off
head -c 300000 /dev/urandom >"$T_DIR/a.bin"
head -c 70000 /dev/urandom >"$T_DIR/b.bin"
head -c 5000 /dev/urandom >"$T_DIR/c.bin"
# clients' direct links: each put waits for its nodes' answers
on n1 put ka "$T_DIR/a.bin" --location n2-0 >/dev/null && on n1 put kc "$T_DIR/c.bin" --location n1-0 >/dev/null &&
	on n2 put kb "$T_DIR/b.bin" --replicas 2 >/dev/null
ok $? "puts of one and of two replicas over direct links are answered"
on n2 get ka | cmp -s - "$T_DIR/a.bin" && on n1 get kb | cmp -s - "$T_DIR/b.bin" &&
	on n2 get kc | cmp -s - "$T_DIR/c.bin"
ok $? "and read back byte for byte"
wait_until 60 metrics_are mcstore_master_part_records_total 6 mcstore_master_puts_waited_total 6 \
	mcstore_master_puts_waiting 0
ok $? "the nodes answered the four notices of those, the relaying node none (6 answers, 6 puts waited)"
! grep -q "could not record a part" "$T_DIR/master.log"
ok $? "no node failed to record a part"
finish_daemons
