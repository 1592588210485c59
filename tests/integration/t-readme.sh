#!/bin/bash
# SPDX-License-Identifier: MIT
# The README as a new user runs it: scripts/run-local.sh (on an already
# built tree: the install and build steps are what scripts/check.sh itself
# just did), then the walkthrough block line by line, exactly as README.md
# has it; and the cluster example block, on free ports. The blocks are
# read from README.md, so the README cannot drift from what works.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 27
README=$MCS_SRCDIR/README.md

# block NAME: the ```sh block after the line <!-- NAME: ... --> of the README
block() {
	awk -v m="<!-- $1:" 'index($0, m) == 1 { f = 1; next } f && /^```sh$/ { in_b = 1; next }
		in_b && /^```$/ { exit } in_b { print }' "$README"
}
# what the README writes under /tmp goes to this test's directory instead
private_tmp() { sed "s|/tmp/|$T_DIR/tmp/|g"; }
mkdir -p "$T_DIR/tmp" "$T_DIR/xdg" "$T_DIR/work" "$T_DIR/bin"
chmod 700 "$T_DIR/xdg"

block walkthrough >"$T_DIR/walkthrough.sh"
block cluster >"$T_DIR/cluster.sh"
[ "$(wc -l <"$T_DIR/walkthrough.sh")" -ge 5 ] && [ "$(wc -l <"$T_DIR/cluster.sh")" -ge 8 ]
ok $? "README.md has the walkthrough and cluster blocks"

# ---- command one: run-local.sh, then the walkthrough in "another terminal"
# SIGINT at its default: a background job of a script, or of anything
# started in the background, inherits it ignored, and a shell cannot trap
# what it was started ignoring (Ctrl-C below must reach its trap)
XDG_RUNTIME_DIR=$T_DIR/xdg env --default-signal=INT \
	"$MCS_SRCDIR/scripts/run-local.sh" --port 0 --build-dir "$MCS_BUILDDIR" --no-build >"$T_DIR/run-local.log" 2>&1 &
RPID=$!
track "$RPID" run-local.sh
# (its own words are what is checked: run-local.sh says when it is up)
wait_until 120 grep -q "^run-local: cluster up" "$T_DIR/run-local.log"
ok $? "run-local.sh brings the cluster up"
grep -q "put/get of a 4 MiB object: OK (byte for byte)" "$T_DIR/run-local.log"
ok $? "and its demo object reads back byte for byte"

# line by line, in one shell as a user types them (export carries over);
# build/ is the tree the suite built
ln -s "$MCS_BUILDDIR" "$T_DIR/work/build"
cd "$T_DIR/work"
export XDG_RUNTIME_DIR=$T_DIR/xdg
n=0
while IFS= read -r line; do
	n=$((n + 1))
	check "walkthrough line $n: $line" -- eval "$(private_tmp <<<"$line")"
	cp "$T_DIR/last.out" "$T_DIR/walk-$n.out"
done <"$T_DIR/walkthrough.sh"
[ "$n" -eq 6 ]
ok $? "the walkthrough has its 6 lines (put, get, exists, stat, rm)"
cmp -s /etc/os-release "$T_DIR/tmp/os-release.copy"
ok $? "get wrote the bytes put stored"
grep -qx present "$T_DIR/walk-4.out"
ok $? "exists said present"
expect_status 1 "after rm, the key is gone" -- "$MCS_BUILDDIR/ctl/mcstorectl" exists mykey
unset XDG_RUNTIME_DIR MCSTORE_SOCKET
cd - >/dev/null

dead() { ! alive "$1"; }
kill -INT "$RPID"
wait_until 60 dead "$RPID" || { diag "run-local.sh did not stop on SIGINT"; kill -KILL "$RPID"; }
reap "$RPID"
ok $? "Ctrl-C stops run-local.sh with exit 0"
grep -q "^run-local: stopping" "$T_DIR/run-local.log"
ok $? "after stopping both daemons"

# ---- what command one installs, and how it fails
"$MCS_SRCDIR/scripts/deps.sh" --list build >"$T_DIR/build-pkgs"
grep -qx gcc "$T_DIR/build-pkgs" && grep -qx libjson-c-dev "$T_DIR/build-pkgs" &&
	! grep -qxE 'redis-server|memcached|libhiredis-dev|libmemcached-dev|systemd' "$T_DIR/build-pkgs"
ok $? "run-local.sh's packages (deps.sh build) are the build's: no bench peers, no systemd"
start_daemon squatter "$MASTER_BIN" --no-config --listen 127.0.0.1 --port 0
SQ=$DAEMON_PID
wait_ready squatter "$SQ"
taken=$(listen_port squatter "$SQ")
XDG_RUNTIME_DIR=$T_DIR/xdg2 expect_status 1 "run-local.sh on a taken port exits 1" -- \
	"$MCS_SRCDIR/scripts/run-local.sh" --port "$taken" --build-dir "$MCS_BUILDDIR" --no-build
grep -q "Address already in use" "$T_DIR/last.err" && grep -q "^run-local: mcstore-master exited" "$T_DIR/last.err"
ok $? "saying that the master could not listen, and why"
sed 's/^/# /' "$T_DIR/last.err" | tail -5
stop_pid "$SQ"

# ---- the cluster example, as written but on free ports (below the
# ephemeral range: no other test's connection can hold them)
free_port() {
	local p
	for p in $(shuf -i "$1"-"$2" -n 50); do
		ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}
P=$(free_port 20000 24999) && D=$(free_port 25000 29990)
ok $? "free ports for the cluster ($P, $D+1..3)"
for b in mcstore-master:"$MASTER_BIN" mcstored:"$NODE_BIN" mcstorectl:"$CTL"; do
	ln -s "${b#*:}" "$T_DIR/bin/${b%%:*}"
done
# the block leaves its daemons running: their PIDs, to stop them by PID
# (also when a line of it fails: at the shell's exit)
printf 'trap "jobs -p >%s" EXIT\n' "$T_DIR/cluster.pids" >"$T_DIR/cluster-run.sh"
sed -e "s/50051/$P/g" -e "s/50060/$D/g" "$T_DIR/cluster.sh" | private_tmp >>"$T_DIR/cluster-run.sh"
PATH=$T_DIR/bin:$PATH bash -e "$T_DIR/cluster-run.sh" >"$T_DIR/cluster.out" 2>"$T_DIR/cluster.err"
st=$?
mapfile -t CPIDS <"$T_DIR/cluster.pids"
for pid in "${CPIDS[@]}"; do track "$pid" "a daemon of the cluster block"; done
ok $st "the cluster block runs through"
sed 's/^/# /' "$T_DIR/cluster.err" | head -20
[ "${#CPIDS[@]}" -eq 4 ]
ok $? "it started a master and three nodes"
cmp -s /etc/os-release "$T_DIR/tmp/K"
ok $? "get from node3 returned what node1 put"
[ "$(grep -cE '^[01] +node[123] ' "$T_DIR/cluster.out")" -eq 2 ]
ok $? "locate shows two replicas"
grep -qE '^node1-0 +node1 ' "$T_DIR/cluster.out" && grep -qE '^node3-0 +node3 ' "$T_DIR/cluster.out"
ok $? "stat lists every node's segment"
# not this shell's children (the block's shell started them): stopped by
# PID, and their own last words say they stopped cleanly
bad=0
for ((i = ${#CPIDS[@]} - 1; i >= 0; i--)); do
	stop_pid "${CPIDS[$i]}"
	! alive "${CPIDS[$i]}" || bad=1
done
[ $bad -eq 0 ] && [ "$(grep -cE '^mcstore(-master|d)\[[0-9]+\]: info: stopped$' "$T_DIR/cluster.err")" -eq 4 ]
ok $? "its daemons stop cleanly on SIGTERM"

finish_daemons
