#!/bin/bash
# SPDX-License-Identifier: MIT
# No wrong byte: stored bytes are damaged in place (corrupt-client flips a
# byte of a local replica through the mapped segment) and every read path
# must notice: copies, scatter, malloc'd and shared-buffer gets, batches
# and views of a single local replica say -EBADMSG; with two replicas
# a get falls back to the intact one, local or remote, and says
# -EBADMSG only when both are damaged; a replica read from the other
# node is checked as well. After every detection the daemons still run and
# the other objects read back byte for byte.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 42
# stripes of at most 2 MiB; short leases so a removal need not wait long
start_master --max-buffer 2M --lease-ttl-ms 50
start_node n1 64M --hugepages off
start_node n2 64M --hugepages off
C=$TESTBIN/corrupt-client

# keys name their size after the last '.'
BY="by.4096 by.1048579 by.5242881 by2.300001"
intact() { # after a detection: the daemons run, the bystanders are intact on both nodes
	local st=0 k args=()
	alive "$MASTER_PID" && alive "$PID_n1" && alive "$PID_n2" || st=1
	for k in $BY; do args+=("$k=ok"); done
	"$C" "$SOCK_n1" expect "${args[@]}" >"$T_DIR/intact.err" 2>&1 || st=1
	"$C" "$SOCK_n2" expect "${args[@]}" >>"$T_DIR/intact.err" 2>&1 || st=1
	ok $st "$1: the daemons run, the other objects read back right on both nodes"
	[ $st -eq 0 ] || sed 's/^/# /' "$T_DIR/intact.err" | head -20
}

st=0
for k in by.4096 by.1048579 by.5242881 solo.4096 solo.1048579 stripe.5242881 view.1048579 nv.1048579 \
	nvstripe.5242881; do
	"$C" "$SOCK_n1" put "$k" 1 n1-0 || st=1
done
for k in by2.300001 pair.1048579 pair2.65536; do
	"$C" "$SOCK_n1" put "$k" 2 || st=1
done
"$C" "$SOCK_n1" put far.1048579 1 n2-0 || st=1
ok $st "store single-replica objects on n1 and n2 and two-replica objects"
check "before any damage, every object reads back right on n1" -- "$C" "$SOCK_n1" expect \
	by.4096=ok by.1048579=ok by.5242881=ok solo.4096=ok solo.1048579=ok stripe.5242881=ok \
	view.1048579=ok by2.300001=ok pair.1048579=ok pair2.65536=ok far.1048579=ok
check "and on n2 (single replicas of n1 over the data path)" -- "$C" "$SOCK_n2" expect \
	by.4096=ok solo.1048579=ok stripe.5242881=ok pair.1048579=ok pair2.65536=ok far.1048579=ok
check "the striped object has pieces in the local segment (a view of it works)" -- \
	"$C" "$SOCK_n1" view stripe.5242881 ok

# ---- one replica, on the reader's node
check "damage solo.4096 on n1" -- "$C" "$SOCK_n1" flip solo.4096
check "damage the last byte of solo.1048579 on n1" -- "$C" "$SOCK_n1" flip solo.1048579 1048578
check "local: every get of them says -EBADMSG; others right, in the same batch" -- \
	"$C" "$SOCK_n1" expect solo.4096=corrupt by.4096=ok solo.1048579=corrupt by.1048579=ok
intact "after local detections"
check "a view of solo.4096: -EBADMSG, and no hold left (the key can be removed)" -- \
	"$C" "$SOCK_n1" view solo.4096 corrupt
check "damage the third stripe of stripe.5242881" -- "$C" "$SOCK_n1" flip stripe.5242881 4194305
check "striped: every get says -EBADMSG" -- "$C" "$SOCK_n1" expect stripe.5242881=corrupt
check "striped: a view says -EBADMSG and leaves no hold" -- "$C" "$SOCK_n1" view stripe.5242881 corrupt
check "n2 reading n1's damaged replicas over the data path: -EBADMSG" -- \
	"$C" "$SOCK_n2" expect solo.1048579=corrupt by.1048579=ok
intact "after detections in a remote replica"

# ---- two replicas, one on each node
check "damage n1's replica of pair.1048579" -- "$C" "$SOCK_n1" flip pair.1048579
check "n1: the local replica is bad, the get returns the right bytes from n2" -- \
	"$C" "$SOCK_n1" expect pair.1048579=ok
check "n2: its own replica is intact" -- "$C" "$SOCK_n2" expect pair.1048579=ok
check "damage n2's replica of pair2.65536" -- "$C" "$SOCK_n2" flip pair2.65536 0
check "n2: the local replica is bad, the get returns the right bytes from n1" -- \
	"$C" "$SOCK_n2" expect pair2.65536=ok
intact "after falling back to the other replica"
check "damage n2's replica of pair.1048579 as well" -- "$C" "$SOCK_n2" flip pair.1048579 17
check "both replicas bad: -EBADMSG on n1 (local, then remote)" -- "$C" "$SOCK_n1" expect pair.1048579=corrupt
check "both replicas bad: -EBADMSG on n2 (local, then remote)" -- "$C" "$SOCK_n2" expect pair.1048579=corrupt
intact "after both replicas failed"

# ---- one replica, on the other node
check "damage far.1048579 on n2" -- "$C" "$SOCK_n2" flip far.1048579
check "n1 reads it over the data path: -EBADMSG (staging and shared buffers)" -- \
	"$C" "$SOCK_n1" expect far.1048579=corrupt pair2.65536=ok
check "n2 reads it locally: -EBADMSG" -- "$C" "$SOCK_n2" expect far.1048579=corrupt
intact "after remote detections"

# ---- views
check "a view of an intact object shows the right bytes" -- "$C" "$SOCK_n1" view view.1048579 ok
check "damage view.1048579" -- "$C" "$SOCK_n1" flip view.1048579 0
check "its view: -EBADMSG, then the key is removed (no hold leaked)" -- \
	"$C" "$SOCK_n1" view view.1048579 corrupt
on n1 exists view.1048579 >/dev/null
ok $([ $? -eq 1 ] && echo 0 || echo 1) "mcstorectl agrees: view.1048579 is gone"
intact "after the views"

# ---- unverified views (MCS_VIEW_NOVERIFY) and mcs_view_verify
check "unverified views of intact objects (single, striped, batch): right bytes, verified 0" -- \
	"$C" "$SOCK_n1" viewnv by.4096=ok nv.1048579=ok nvstripe.5242881=ok
check "mcs_view_verify notices a byte changed under a verified view, and its repair" -- \
	"$C" "$SOCK_n1" reverify by.1048579
check "damage nv.1048579" -- "$C" "$SOCK_n1" flip nv.1048579
check "damage the second stripe of nvstripe.5242881" -- "$C" "$SOCK_n1" flip nvstripe.5242881 2097152
check "unverified views of them succeed, mcs_view_verify says -EBADMSG, no hold is left" -- \
	"$C" "$SOCK_n1" viewnv nv.1048579=corrupt by.4096=ok nvstripe.5242881=corrupt
intact "after the unverified views"

on n1 stat >"$T_DIR/stat.out"
grep -q "^objects: *8$" "$T_DIR/stat.out"
ok $? "the master still counts the 8 objects left (damaged ones included)"
finish_daemons
