#!/bin/bash
# SPDX-License-Identifier: MIT
# The systemd units of the build tree (systemd/*.service) and their
# sandbox. systemd-analyze security --offline=yes scores each unit no worse
# than 1.6 (the score before issue 14's hardening), alone and with the
# example drop-in (systemd/ip-address-allow.conf), whose allow list it must
# see. The daemons are not run by systemd here (it need not be PID 1), so
# the parts of the sandbox that could break them are tried directly:
# - the system calls: master and node run a put, a get and a health check
#   under strace; every call they make must be one the units' filter lets
#   through (@system-service without @privileged and @resources, as
#   systemd-analyze syscall-filter lists them);
# - ProcSubset=pid and PrivateUsers=yes of mcstore-master: a master in a
#   mount namespace whose /proc is mounted subset=pid, in a user namespace
#   where only its own uid is mapped, serves a node and its clients.
# systemd-analyze verify of the installed units and drop-in is in t-package.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

UNITS=(mcstore-master.service mcstored.service)
MAX_SCORE=1.6

if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze is not installed"
	exit 0
fi

tap_plan 14

# ---- exposure scores
# score UNIT-OR-PATH [ARGS...]: the overall exposure level, e.g. 1.2
score() {
	systemd-analyze security --offline=yes --no-pager "$@" 2>"$T_DIR/score.err" |
		sed -n 's/^→ Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p'
}
# at_most A B: A <= B, both with one decimal
at_most() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
if ! systemd-analyze --help 2>/dev/null | grep -q -- "--offline"; then
	for u in "${UNITS[@]}"; do
		skip "systemd-analyze has no security --offline"
		skip "systemd-analyze has no security --offline"
	done
	skip "systemd-analyze has no security --offline"
else
	ROOT=$T_DIR/root
	mkdir -p "$ROOT/lib/systemd/system"
	for u in "${UNITS[@]}"; do
		s=$(score "$MCS_BUILDDIR/systemd/$u")
		at_most "$s" $MAX_SCORE
		ok $? "systemd-analyze security --offline=yes $u: exposure ${s:-none} <= $MAX_SCORE"
		[ -n "$s" ] || sed 's/^/# /' "$T_DIR/score.err"
		# with the example drop-in, in a root of its own
		cp "$MCS_BUILDDIR/systemd/$u" "$ROOT/lib/systemd/system/"
		mkdir -p "$ROOT/etc/systemd/system/$u.d"
		cp "$MCS_BUILDDIR/systemd/ip-address-allow.conf" "$ROOT/etc/systemd/system/$u.d/"
		systemd-analyze security --offline=yes --no-pager --root="$ROOT" "$u" >"$T_DIR/dropin.out" 2>&1
		s2=$(sed -n 's/^→ Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p' "$T_DIR/dropin.out")
		grep -q "IPAddressDeny=.*defines IP address allow list" "$T_DIR/dropin.out" && at_most "$s2" "$s"
		ok $? "with the example drop-in: its IP address allow list is seen, exposure ${s2:-none} <= ${s:-none}"
	done
	# the drop-in names where it is installed
	grep -q "^#   cp /.*/systemd/ip-address-allow.conf /etc/systemd/system/mcstored.service.d/$" \
		"$MCS_BUILDDIR/systemd/ip-address-allow.conf"
	ok $? "the example drop-in says where it is installed ($(sed -n 's/^#   cp \([^ ]*\) .*/\1/p' \
		"$MCS_BUILDDIR/systemd/ip-address-allow.conf"))"
fi

# ---- the system calls the daemons make, against the units' filter
# group_calls @GROUP: the calls of a group, nested groups expanded
group_calls() {
	systemd-analyze syscall-filter --no-pager "$1" | awk 'NR > 1 && !/^ *#/ && NF { print $1 }' |
		while read -r c; do
			case $c in @*) group_calls "$c" ;; *) echo "$c" ;; esac
		done
}
# the filter of both units: SystemCallFilter=@system-service, then ~@privileged @resources
for u in "${UNITS[@]}"; do
	grep -qx "SystemCallFilter=@system-service" "$MCS_BUILDDIR/systemd/$u" &&
		grep -qx "SystemCallFilter=~@privileged @resources" "$MCS_BUILDDIR/systemd/$u" || echo "$u" >>"$T_DIR/filters"
done
[ ! -s "$T_DIR/filters" ]
ok $? "both units filter @system-service without @privileged and @resources"
if ! command -v strace >/dev/null; then
	skip "strace is not installed"
	skip "strace is not installed"
	skip "strace is not installed"
elif ldd "$MASTER_BIN" 2>/dev/null | grep -q "libasan"; then
	# the sanitizers' own calls, and LeakSanitizer cannot run traced
	skip "a sanitizer build"
	skip "a sanitizer build"
	skip "a sanitizer build"
else
	group_calls @system-service | sort -u >"$T_DIR/allowed.all"
	{ group_calls @privileged; group_calls @resources; } | sort -u >"$T_DIR/denied"
	comm -23 "$T_DIR/allowed.all" "$T_DIR/denied" >"$T_DIR/allowed"
	# traced.sh OUT BIN ARGS...: BIN under strace -D (the traced process
	# keeps its PID: start_daemon's PID is the daemon's, strace its
	# grandchild), every call of every thread into OUT
	cat >"$T_DIR/traced.sh" <<'EOF'
#!/bin/sh
out=$1
shift
exec strace -D -f -qq -o "$out" "$@"
EOF
	chmod +x "$T_DIR/traced.sh"
	real_master=$MASTER_BIN real_node=$NODE_BIN
	printf '#!/bin/sh\nexec "%s" "%s" "%s" "$@"\n' "$T_DIR/traced.sh" "$T_DIR/master.strace" "$real_master" >"$T_DIR/master-bin"
	printf '#!/bin/sh\nexec "%s" "%s" "%s" "$@"\n' "$T_DIR/traced.sh" "$T_DIR/node.strace" "$real_node" >"$T_DIR/node-bin"
	chmod +x "$T_DIR/master-bin" "$T_DIR/node-bin"
	MASTER_BIN=$T_DIR/master-bin NODE_BIN=$T_DIR/node-bin
	start_master --metrics-port 0
	start_node traced 32M --hugepages off --metrics-port 0
	head -c 1000000 /dev/urandom >"$T_DIR/v.bin"
	ctl put k "$T_DIR/v.bin" && ctl get k -o "$T_DIR/v.out" && cmp -s "$T_DIR/v.bin" "$T_DIR/v.out" &&
		ctl health >/dev/null && http "$(metrics_port_of "$T_DIR/master.log")" GET /metrics | grep -q "^HTTP/1.[01] 200"
	st=$?
	stop_pid "$NODE_PID" && stop_pid "$MASTER_PID"
	ok $((st || $?)) "traced master and node serve a put, a get, health and a scrape, and stop cleanly"
	MASTER_BIN=$real_master NODE_BIN=$real_node
	for d in master node; do
		# "PID name(" lines and "<... name resumed>" lines
		sed -n -e 's/^[0-9]\+ \+\([a-z0-9_]\+\)(.*/\1/p' -e 's/^[0-9]\+ \+<\.\.\. \([a-z0-9_]\+\) resumed>.*/\1/p' \
			"$T_DIR/$d.strace" | sort -u >"$T_DIR/$d.calls"
		# execve: strace's own exec of the daemon, before any filter
		comm -23 "$T_DIR/$d.calls" "$T_DIR/allowed" | grep -vx execve >"$T_DIR/$d.outside"
		[ -s "$T_DIR/$d.calls" ] && [ ! -s "$T_DIR/$d.outside" ]
		ok $? "the $d made $(wc -l <"$T_DIR/$d.calls") different system calls, all let through by the filter"
		[ ! -s "$T_DIR/$d.outside" ] || diag "outside the filter: $(tr '\n' ' ' <"$T_DIR/$d.outside")"
	done
fi

# ---- mcstore-master under ProcSubset=pid and PrivateUsers=yes
for u in mcstore-master.service; do
	grep -qx "ProcSubset=pid" "$MCS_BUILDDIR/systemd/$u" && grep -qx "PrivateUsers=yes" "$MCS_BUILDDIR/systemd/$u"
	ok $? "$u has ProcSubset=pid and PrivateUsers=yes"
done
if [ "$(id -u)" -ne 0 ] || ! unshare -m --user --map-root-user true 2>/dev/null; then
	skip "needs root and user namespaces (unshare)"
	skip "needs root and user namespaces (unshare)"
else
	# a mount namespace with /proc as ProcSubset=pid and ProtectProc=invisible
	# mount it, then a user namespace mapping only the master's uid (as
	# PrivateUsers=yes does, with its user and root); the PID stays
	real_master=$MASTER_BIN
	cat >"$T_DIR/sandboxed-master" <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec unshare --user --map-root-user "\$0" "\$@"' "$real_master" "\$@"
EOF
	chmod +x "$T_DIR/sandboxed-master"
	MASTER_BIN=$T_DIR/sandboxed-master
	start_master
	MASTER_BIN=$real_master
	grep -qE " /proc .* - proc proc .*subset=pid" "/proc/$MASTER_PID/mountinfo" &&
		[ "$(awk '{ print $1, $2, $3 }' "/proc/$MASTER_PID/uid_map")" = "0 0 1" ] &&
		[ ! -e "/proc/$MASTER_PID/root/proc/meminfo" ]
	ok $? "the master runs with /proc subset=pid (no /proc/meminfo) and only its uid mapped"
	start_node sandboxed 32M --hugepages off
	head -c 1000000 /dev/urandom >"$T_DIR/w.bin"
	ctl put k "$T_DIR/w.bin" && ctl get k -o "$T_DIR/w.out" && cmp -s "$T_DIR/w.bin" "$T_DIR/w.out" &&
		ctl health >"$T_DIR/health.out" 2>&1 && grep -q "^healthy: node sandboxed" "$T_DIR/health.out"
	ok $? "and serves: the node mounts, a put and a get round-trip, health says healthy"
fi
if compgen -G "$T_DIR/*.log" >/dev/null; then
	finish_daemons
else
	skip "no daemon was run"
	skip "no daemon was run"
fi
