#!/bin/bash
# SPDX-License-Identifier: MIT
# mcstorectl leader (issue 15) against a real etcd and two real HA masters
# with a cluster key: it names the leader and its term, through etcd (a
# list whose first member is dead too) and through a standby; the leader
# killed (SIGKILL), it names the new one; with no master left it says no
# master leads (exit 1) while etcd names the dead one and once etcd names
# none. Malformed arguments exit 2 with the bad part named; etcd or a
# master that does not answer, a missing key and a wrong key exit 3.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 24
start_etcd etcd1
EP=127.0.0.1:$ETCD_PORT
KEY=$T_DIR/cluster.key
"$CTL" keygen "$KEY" >/dev/null || { echo "Bail out! mcstorectl keygen failed"; exit 1; }
HA=(--enable-ha --etcd-endpoints "$EP" --etcd-lease-ttl 3 --key-file "$KEY")

# start_ha_master NAME: sets PID_NAME and PORT_NAME
start_ha_master() {
	start_daemon "$1" "$MASTER_BIN" --listen 127.0.0.1 --port 0 "${HA[@]}"
	printf -v "PID_$1" %s "$DAEMON_PID"
	wait_ready "$1" "$DAEMON_PID"
	printf -v "PORT_$1" %s "$(listen_port "$1" "$DAEMON_PID")"
}
# lead ARGS...: mcstorectl leader with the key, its output in $T_DIR/lead.out
lead() { "$CTL" leader --key-file "$KEY" "$@" >"$T_DIR/lead.out" 2>&1; }
# leads_now NAME: etcd names master NAME and it confirms
leads_now() { local pv=PORT_$1; lead --master "etcd://$EP" && grep -q "^leader: 127.0.0.1:${!pv} " "$T_DIR/lead.out"; }
# the term master NAME logged it leads in, last
term_of() { sed -n 's/.*leading (term \([0-9]*\)).*/\1/p' "$T_DIR/$1.log" | tail -1; }

start_ha_master m1
start_ha_master m2
wait_until 60 eval 'leads_now m1 || leads_now m2'
L=m1
leads_now m1 || L=m2
S=m2
[ "$L" = m1 ] || S=m1
pl=PORT_$L
ps=PORT_$S
lead --master "etcd://$EP"
st=$?
cp "$T_DIR/lead.out" "$T_DIR/first.out"
[ $st -eq 0 ] && grep -q "^leader: 127.0.0.1:${!pl} (term $(term_of "$L"); named by etcd $EP, confirmed by the leader)$" \
	"$T_DIR/first.out"
ok $? "through etcd, it names the leader and the term it logged ($(cat "$T_DIR/first.out"))"
lead --master "etcd://$EP" --json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d == {"master": "etcd://" + sys.argv[2], "leader": "127.0.0.1:" + sys.argv[3], "term": int(sys.argv[4]),
             "confirmed": True, "named_by": "etcd " + sys.argv[2]}, d
' "$T_DIR/lead.out" "$EP" "${!pl}" "$(term_of "$L")" 2>"$T_DIR/json.err"
ok $? "--json: one object with master, leader, term, confirmed, named_by ($(cat "$T_DIR/lead.out"))"
sed 's/^/# /' "$T_DIR/json.err"
DEAD=$(free_port)
lead --master "etcd://127.0.0.1:$DEAD;http://$EP" && grep -q "^leader: 127.0.0.1:${!pl} .*named by etcd $EP," "$T_DIR/lead.out"
ok $? "a list whose first member does not answer: the next one does ($(cat "$T_DIR/lead.out"))"
# (once the standby has read etcd's key: it polls it)
wait_until 60 lead --master "127.0.0.1:${!ps}"
lead --master "127.0.0.1:${!ps}" && grep -q "^leader: 127.0.0.1:${!pl} (term $(term_of "$L"); named by master 127.0.0.1:${!ps}," \
	"$T_DIR/lead.out"
ok $? "asked, the standby names the leader, who confirms it ($(cat "$T_DIR/lead.out"))"
lead --master "127.0.0.1:${!pl}" && grep -q "^leader: 127.0.0.1:${!pl} " "$T_DIR/lead.out"
ok $? "asked, the leader answers for itself"
MCSTORE_MASTER="etcd://$EP" lead && grep -q "^leader: 127.0.0.1:${!pl} " "$T_DIR/lead.out"
ok $? "\$MCSTORE_MASTER is the default --master"

# ---- the leader killed: the standby is elected, and named
old_term=$(term_of "$L")
pv=PID_$L
kill_pid "${!pv}"
wait_until 90 leads_now "$S"
ok $? "the leader killed (SIGKILL): it names the new leader ($(cat "$T_DIR/lead.out"))"
# the term as the new leader confirms it (its log says it at its next
# tick, which may not have come yet)
lead --master "etcd://$EP"
new_term=$(sed -n "s/^leader: 127.0.0.1:${!ps} (term \([0-9]*\);.*/\1/p" "$T_DIR/lead.out")
[ -n "$new_term" ] && [ "$new_term" -gt "$old_term" ]
ok $? "in a newer term ($old_term, then $new_term)"
expect_status 3 "the dead master asked straight: exit 3" -- "$CTL" leader --key-file "$KEY" --master "127.0.0.1:${!pl}"
grep -q "^mcstorectl: leader: cannot ask 127.0.0.1:${!pl}: Connection refused$" "$T_DIR/last.err"
ok $? "saying it cannot ask it ($(cat "$T_DIR/last.err"))"

# ---- the keys
expect_status 3 "without the cluster key: exit 3" -- "$CTL" leader --master "etcd://$EP"
grep -q "refused to answer without the cluster key" "$T_DIR/last.err" && grep -q -- "--key-file FILE" "$T_DIR/last.err"
ok $? "saying the master refused to answer without it ($(head -1 "$T_DIR/last.err"))"
"$CTL" keygen "$T_DIR/other.key" >/dev/null
expect_status 3 "with another cluster's key: exit 3" -- "$CTL" leader --master "127.0.0.1:${!ps}" --key-file "$T_DIR/other.key"
grep -q "refused the cluster key" "$T_DIR/last.err"
ok $? "saying the master refused the key ($(head -1 "$T_DIR/last.err"))"

# ---- no master left: exit 1, first while etcd still names the dead one
pv=PID_$S
kill_pid "${!pv}"
wait_until 60 eval 'lead --master "etcd://$EP"; [ $? -eq 1 ]'
ok $? "the last master killed: exit 1 ($(cat "$T_DIR/lead.out"))"
wait_until 60 eval 'lead --master "etcd://$EP"; [ $? -eq 1 ] && grep -qx "no leader: etcd $EP names none" "$T_DIR/lead.out"'
ok $? "once its lease ran out, etcd names none: exit 1 ($(cat "$T_DIR/lead.out"))"

# ---- malformed arguments: exit 2, the bad part named
bad=
for a in "etcd://$EP;nohost" localhost "http://$EP" "etcd://" "etcd://$EP;;$EP" "127.0.0.1:99999"; do
	"$CTL" leader --master "$a" >"$T_DIR/bad.out" 2>&1
	st=$?
	[ $st -eq 2 ] && grep -qF "mcstorectl: leader: invalid --master '$a' (" "$T_DIR/bad.out" || bad="$bad [$a: $st]"
done
[ -z "$bad" ]
ok $? "malformed --master values exit 2 with their reason${bad:+:$bad}"
"$CTL" leader --master "etcd://$EP;nohost" 2>&1 | grep -q "etcd member 'nohost': no port"
ok $? "the reason names the bad member"
expect_status 2 "no --master and no \$MCSTORE_MASTER: exit 2" -- env -u MCSTORE_MASTER "$CTL" leader
bad=
echo "not a key" >"$T_DIR/junk.key"
chmod 600 "$T_DIR/junk.key"
cp "$KEY" "$T_DIR/open.key"
chmod 644 "$T_DIR/open.key"
for k in "$T_DIR/none.key" "$T_DIR/junk.key" "$T_DIR/open.key"; do
	"$CTL" leader --master "etcd://$EP" --key-file "$k" >"$T_DIR/bad.out" 2>&1
	st=$?
	[ $st -eq 2 ] && grep -q "^mcstorectl: leader: cannot use --key-file $k: " "$T_DIR/bad.out" || bad="$bad [$k: $st]"
done
[ -z "$bad" ]
ok $? "a key file missing, not a key, or readable by others: exit 2, saying why${bad:+:$bad}"
expect_status 2 "an argument: exit 2" -- "$CTL" leader --master "etcd://$EP" extra

# ---- etcd that does not answer: exit 3
expect_status 3 "etcd that does not answer: exit 3" -- "$CTL" leader --master "etcd://127.0.0.1:$DEAD"
finish_daemons
