# SPDX-License-Identifier: MIT
# Shared by the integration tests: TAP output, and starting/stopping the
# real mcstore-master and mcstored from the build tree in a private
# directory, on loopback. Each daemon gets a notification socket of its
# own (notify-recv standing in for systemd) and is ready once it says
# READY=1. Processes are stopped by PID; each test's daemons are checked
# for sanitizer reports, for having run to the end and for a clean exit.
#
# Source it, then: tap_plan N; start_master; start_node NAME SIZE; ...

set -u

: "${MCS_BUILDDIR:?run through make check (MCS_BUILDDIR unset)}"
: "${MCS_SRCDIR:=$MCS_BUILDDIR/..}"

MASTER_BIN=$MCS_BUILDDIR/master/mcstore-master
NODE_BIN=$MCS_BUILDDIR/daemon/mcstored
CTL=$MCS_BUILDDIR/ctl/mcstorectl
TESTBIN=$MCS_BUILDDIR/tests/integration

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mcstore-test.XXXXXX")
T_N=0
T_FAILED=0
T_PIDS=()
# what each process of T_PIDS is, for the messages about it
declare -A T_NAME=()
# the processes of T_PIDS the test ended itself (stop_pid, kill_pid, reap):
# finish_daemons leaves them alone
declare -A T_DONE=()
declare -A T_SIGOK=()
# processes that ended on their own before the test ended them (kill_pid)
T_EARLY=()
T_NOTIFY_N=0
MASTER_PID=
MASTER_PORT=

T_PLAN=0
tap_plan() { T_PLAN=$1; echo "1..$1"; }

ok() {
	# ok CONDITION-EXIT-STATUS DESCRIPTION
	local st=$1; shift
	T_N=$((T_N + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $T_N - $*"
	else
		echo "not ok $T_N - $*"
		T_FAILED=$((T_FAILED + 1))
	fi
}

# skip REASON: a check that cannot run here, reported as skipped
skip() {
	T_N=$((T_N + 1))
	echo "ok $T_N # SKIP $*"
}

# check DESCRIPTION -- COMMAND...: ok if the command succeeds
check() {
	local desc=$1; shift
	[ "$1" = "--" ] && shift
	"$@" >"$T_DIR/last.out" 2>"$T_DIR/last.err"
	local st=$?
	ok $st "$desc"
	if [ $st -ne 0 ]; then
		sed 's/^/# /' "$T_DIR/last.err" | head -20
	fi
	return $st
}

# expect_status N DESCRIPTION -- COMMAND...: ok if the command exits N
expect_status() {
	local want=$1 desc=$2; shift 2
	[ "$1" = "--" ] && shift
	"$@" >"$T_DIR/last.out" 2>"$T_DIR/last.err"
	local st=$?
	if [ $st -eq "$want" ]; then
		ok 0 "$desc"
	else
		ok 1 "$desc (exit $st, wanted $want)"
		sed 's/^/# /' "$T_DIR/last.err" | head -20
	fi
}

diag() { echo "# $*"; }

# wait_until SECONDS COMMAND...: poll (every 20 ms) until the command succeeds
wait_until() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.02
	done
	return 0
}

alive() { kill -0 "$1" 2>/dev/null; }

# metrics_port_of LOG: the metrics port a daemon logged (--metrics-port 0)
metrics_port_of() { sed -n 's/.*metrics at http:\/\/[^ ]*:\([0-9][0-9]*\)\/metrics.*/\1/p' "$1" | head -1; }
# http PORT METHOD PATH: the whole HTTP/1.0 answer of 127.0.0.1:PORT (of
# $HTTP_HOST:PORT when it is set) (status line, headers, body), CRs
# removed; bash's /dev/tcp, no client
http() {
	local host=${HTTP_HOST:-127.0.0.1}
	exec 3<>"/dev/tcp/$host/$1" || return 1
	printf '%s %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$3" "$host" >&3
	timeout 5 cat <&3 | tr -d '\r'
	local st=${PIPESTATUS[0]}
	exec 3<&-
	return "$st"
}

# track PID NAME: a process the test started in the background, which
# finish_daemons stops (and cleanup kills) unless the test ended it itself
track() { T_PIDS+=("$1"); T_NAME[$1]=$2; }
what() { echo "pid $1${T_NAME[$1]:+ (${T_NAME[$1]})}"; }

# notify_listen NAME: a notification socket standing in for the service
# manager's (tests/integration/notify-recv), for one daemon: sets
# NOTIFY_PATH; what comes in is appended to $T_DIR/NAME.msgs, each
# message as "pid PID MS" (its sender, from the kernel) then its lines
notify_listen() {
	T_NOTIFY_N=$((T_NOTIFY_N + 1))
	NOTIFY_PATH=$T_DIR/notify-$T_NOTIFY_N.sock
	"$TESTBIN/notify-recv" "$NOTIFY_PATH" >>"$T_DIR/$1.msgs" 2>>"$T_DIR/notify-recv.log" &
	track "$!" "notify-recv for $1"
	if ! wait_until 30 test -S "$NOTIFY_PATH"; then
		echo "Bail out! notify-recv did not start"
		exit 1
	fi
}
# sent_by PID MSGS: the lines PID sent, from a .msgs file
sent_by() { awk -v p="$1" '/^pid /{ on = ($2 == p); next } on' "$2"; }
# start_daemon NAME COMMAND...: COMMAND in the background with its own
# notification socket ($NOTIFY_SOCKET), its output appended to
# $T_DIR/NAME.log, its messages to $T_DIR/NAME.msgs; sets DAEMON_PID
start_daemon() {
	local name=$1; shift
	notify_listen "$name"
	NOTIFY_SOCKET=$NOTIFY_PATH "$@" >>"$T_DIR/$name.log" 2>&1 &
	DAEMON_PID=$!
	track "$DAEMON_PID" "$name"
}
# wait_ready NAME PID: until PID (started by start_daemon NAME) says READY=1;
# Bail out!, with its log, if it dies first or takes more than 60 s
wait_ready() {
	local end=$((SECONDS + 60))
	until sent_by "$2" "$T_DIR/$1.msgs" | grep -qx READY=1; do
		if ! alive "$2" || [ $SECONDS -ge $end ]; then
			echo "Bail out! $1 ($(what "$2")) did not become ready:"
			sed 's/^/# /' "$T_DIR/$1.log"
			exit 1
		fi
		sleep 0.02
	done
}
# listen_port NAME PID: the port the master PID (started by start_daemon NAME)
# said it listens on (STATUS=listening on ADDR port N)
listen_port() {
	sent_by "$2" "$T_DIR/$1.msgs" | sed -n 's/^STATUS=listening on .* port \([0-9][0-9]*\)$/\1/p' | tail -1
}

# start_master [EXTRA ARGS...]: on 127.0.0.1, a port the kernel picks;
# ready once it says READY=1, its port from its STATUS= line
start_master() {
	local log=$T_DIR/master.log msgs=$T_DIR/master.msgs
	# a second master beside a running one: the first keeps its log and
	# messages whole, as master-PID.log and .msgs
	if [ -n "$MASTER_PID" ] && alive "$MASTER_PID"; then
		[ ! -f "$log" ] || mv "$log" "$T_DIR/master-$MASTER_PID.log"
		[ ! -f "$msgs" ] || mv "$msgs" "$T_DIR/master-$MASTER_PID.msgs"
	fi
	# emptied: a restarted master's log is its own
	: >"$log"
	: >"$msgs"
	start_daemon master "$MASTER_BIN" --listen 127.0.0.1 --port 0 "$@"
	MASTER_PID=$DAEMON_PID
	wait_ready master "$MASTER_PID"
	MASTER_PORT=$(listen_port master "$MASTER_PID")
	if [ -z "$MASTER_PORT" ]; then
		echo "Bail out! the master said READY=1 but not where it listens:"
		sed 's/^/# /' "$msgs"
		exit 1
	fi
}

# start_node NAME SIZE [EXTRA ARGS...]: sets NODE_PID and NODE_SOCK, and
# mounts with $NODE_MASTER (default: the master start_master started);
# PID_<NAME> / SOCK_<NAME> for clusters (data port: a free one); ready
# once it says READY=1 (its segment mounted, its socket serving)
start_node() {
	local name=$1 size=$2; shift 2
	NODE_SOCK=$T_DIR/$name.sock
	start_daemon "$name" "$NODE_BIN" --master "${NODE_MASTER:-127.0.0.1:$MASTER_PORT}" --name "$name" --segment-size "$size" \
		--socket "$NODE_SOCK" --data-port 0 --data-host 127.0.0.1 "$@"
	NODE_PID=$DAEMON_PID
	T_NAME[$NODE_PID]="node $name"
	printf -v "PID_$name" %s "$NODE_PID"
	printf -v "SOCK_$name" %s "$NODE_SOCK"
	wait_ready "$name" "$NODE_PID"
}

ctl() { "$CTL" --socket "$NODE_SOCK" "$@"; }

# stop_pid PID: SIGTERM, wait (30 s at most: a node unmounts first, and a
# loaded machine is slow), return the exit status. A process already gone
# did not stop on the signal: its own exit status (that of wait, for a
# child of this shell), and 1 if that was 0.
stop_pid() {
	local pid=$1 end=$((SECONDS + 30)) st
	T_DONE[$pid]=1
	if ! kill -TERM "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null
		st=$?
		diag "$(what "$pid") had exited (status $st) before SIGTERM"
		return $((st ? st : 1))
	fi
	while alive "$pid" && [ $SECONDS -lt $end ]; do
		sleep 0.02
	done
	if alive "$pid"; then
		diag "$(what "$pid") did not stop on SIGTERM, killing"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# kill_pid PID: SIGKILL a process the test means to kill, and reap it. One
# that had ended before (any exit status but SIGKILL's) fails
# finish_daemons' check.
kill_pid() {
	local pid=$1 st
	T_DONE[$pid]=1
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	st=$?
	[ $st -eq 137 ] || T_EARLY+=("$(what "$pid") had exited (status $st) before the test killed it")
}

# reap PID: wait for a process of the test that ends by itself (a client
# told to finish); returns its exit status
reap() {
	T_DONE[$1]=1
	wait "$1"
}

# no sanitizer report and no crash in any log (and there are logs to read)
logs_clean() {
	local logs=("$T_DIR"/*.log)
	if [ ! -f "${logs[0]}" ]; then
		echo "no log in $T_DIR"
		return 1
	fi
	grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehavior' "${logs[@]}"
	[ $? -eq 1 ]
}

# at_cleanup COMMAND: one more thing cleanup undoes (a network namespace,
# say), after it has killed the test's processes, in the reverse order of
# the calls; COMMAND is a shell command line, run whatever way the script
# ends (the end of its checks, a Bail out!, a signal)
T_CLEANUP=()
at_cleanup() { T_CLEANUP+=("$1"); }

cleanup() {
	local st=$? pid
	# a script that stops before its plan (a Bail out!, an unset variable)
	# must say where, and show its daemons' logs like a failed check
	if [ "$T_N" -lt "$T_PLAN" ]; then
		echo "# stopped after $T_N of $T_PLAN checks (exit $st): the logs follow"
		T_FAILED=$((T_FAILED + 1))
	fi
	for pid in "${T_PIDS[@]}"; do
		if alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
	done
	# what the test set up besides its processes (at_cleanup), last first
	local i
	for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${T_CLEANUP[$i]}"
	done
	if [ "$T_FAILED" -ne 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
		for f in "$T_DIR"/*.log; do
			[ -f "$f" ] || continue
			echo "# ---- $f (last 30 lines)"
			tail -30 "$f" | sed 's/^/# /'
		done
		# MCS_KEEP_FAILED=DIR: a failed test's whole directory is kept there
		if [ "$T_FAILED" -ne 0 ] && [ -n "${MCS_KEEP_FAILED:-}" ]; then
			mkdir -p "$MCS_KEEP_FAILED" && cp -a "$T_DIR" "$MCS_KEEP_FAILED/" &&
				echo "# kept $T_DIR in $MCS_KEEP_FAILED/"
		fi
	fi
	# KEEP_DIR=1: the whole private directory stays, for a post-mortem
	if [ -n "${KEEP_DIR:-}" ]; then
		echo "# kept $T_DIR (KEEP_DIR)"
	else
		rm -rf "$T_DIR"
	fi
}
trap cleanup EXIT
# a signal ends the script through exit, so that cleanup stops the daemons
# (SIGPIPE: a write to a helper that died; TERM/INT: make check stopped)
trap 'echo "# killed by SIGPIPE"; exit 141' PIPE
trap 'exit 143' TERM
trap 'exit 130' INT

# finish: every process of the test still runs (but those it ended
# itself) and stops cleanly on SIGTERM; no sanitizer report in the logs
finish_daemons() {
	local i pid st all=0
	for ((i = ${#T_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${T_PIDS[$i]}
		[ -z "${T_DONE[$pid]:-}" ] || continue
		if ! alive "$pid"; then
			stop_pid "$pid" # says how it ended
			all=1
			continue
		fi
		stop_pid "$pid"
		st=$?
		# etcd ends on SIGTERM by the signal (143): its clean stop
		[ $st -eq 143 ] && [ -n "${T_SIGOK[$pid]:-}" ] && st=0
		[ $st -eq 0 ] || { diag "$(what "$pid") exited with $st on SIGTERM"; all=1; }
	done
	for i in "${T_EARLY[@]}"; do
		diag "$i"
		all=1
	done
	ok $all "every daemon ran to the end and stopped cleanly on SIGTERM (exit 0)"
	logs_clean >"$T_DIR/logs-clean.out"
	ok $? "no sanitizer report in any daemon log"
	sed 's/^/# report in /' "$T_DIR/logs-clean.out"
}

# free_port: a TCP port nothing listens on now, in 20000..31999: below the
# kernel's ephemeral ports (32768..), which a connection could hold when
# the port is bound again (for programs that must be told theirs: etcd)
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

# start_etcd NAME: a one-member etcd on loopback, its client port in
# ETCD_PORT, its pid in ETCD_PID, ready once /health says so; skips the
# whole script (exit 77) when etcd is not installed
start_etcd() {
	local name=$1 pp
	if ! command -v etcd >/dev/null; then
		echo "1..0 # SKIP etcd is not installed (package etcd-server)"
		exit 77
	fi
	ETCD_PORT=$(free_port)
	pp=$(free_port)
	# a short election timeout: leases of 1 s are allowed (etcd's floor
	# is 1.5 election timeouts)
	etcd --name "$name" --data-dir "$T_DIR/$name.etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$pp" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pp" --initial-cluster "$name=http://127.0.0.1:$pp" \
		--election-timeout 500 --heartbeat-interval 100 >>"$T_DIR/$name.log" 2>&1 &
	ETCD_PID=$!
	track "$ETCD_PID" "etcd $name"
	T_SIGOK[$ETCD_PID]=1
	if ! wait_until 60 etcd_healthy "$ETCD_PORT"; then
		echo "Bail out! etcd $name did not become healthy:"
		tail -20 "$T_DIR/$name.log" | sed 's/^/# /'
		exit 1
	fi
}
etcd_healthy() { http "$1" GET /health 2>/dev/null | grep -q '"health":"true"'; }

# on NODE CTL-ARGS...: mcstorectl against node NAME
on() { local sv="SOCK_$1"; shift; "$CTL" --socket "${!sv}" "$@"; }
pid_of() { local pv="PID_$1"; echo "${!pv}"; }
