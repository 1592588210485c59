#!/bin/bash
# SPDX-License-Identifier: MIT
# The daemons and the service manager: each daemon gets a NOTIFY_SOCKET
# served by notify-recv (standing in for systemd) and must send READY=1
# only once it serves (the node: once its segment is mounted, so never
# while the master is away), STATUS= lines, WATCHDOG=1 at the rate
# WATCHDOG_USEC asks for and only when WATCHDOG_PID is its own pid, and
# STOPPING=1 on SIGTERM.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

# Messages are read by another process: every check of one that may just
# have been sent waits for it (wait_until), and only a check that something
# was NOT sent relies on a delay.

# listen NAME: a notification socket $T_DIR/NAME.notify; messages go to
# $T_DIR/NAME.msgs ("pid N MS" then the message's lines)
listen() {
	"$TESTBIN/notify-recv" "$T_DIR/$1.notify" >"$T_DIR/$1.msgs" 2>"$T_DIR/$1-recv.log" &
	T_PIDS+=("$!")
	if ! wait_until 30 test -S "$T_DIR/$1.notify"; then
		echo "Bail out! notify-recv did not start"
		exit 1
	fi
}
# the lines PID sent, from a .msgs file
sent_by() { awk -v p="$1" '/^pid /{on=($2==p); next} on' "$2"; }
# the arrival times of the watchdog pings of a .msgs file, one a line
pings() { awk '/^pid /{t=$3; next} /^WATCHDOG=1$/{print t}' "$1"; }
# at least N pings in a .msgs file
has_pings() { [ "$(pings "$1" | wc -l)" -ge "$2" ]; }

tap_plan 22

# ---- the master
listen master
NOTIFY_SOCKET=$T_DIR/master.notify WATCHDOG_USEC=4000000 start_master
wait_until 30 grep -qx READY=1 "$T_DIR/master.msgs"
ok $? "master: READY=1"
sent_by "$MASTER_PID" "$T_DIR/master.msgs" | grep -qx READY=1
ok $? "master: sent by the master's own pid"
wait_until 30 grep -qx "STATUS=listening on 127.0.0.1 port $MASTER_PORT" "$T_DIR/master.msgs"
ok $? "master: STATUS= says where it listens"
# WatchdogSec=4s: pings at most every 2 s (half the interval: the rate
# limit), and every 3 s at worst (the timer runs every second), within the
# interval with a second to spare for a loaded machine; the times are the
# kernel's (when each ping was queued), so only the sender's own lateness
# moves them, hence the little slack below 2 s
wait_until 60 has_pings "$T_DIR/master.msgs" 4
ok $? "master: pings the watchdog"
pings "$T_DIR/master.msgs" | awk 'NR > 1 { d = $1 - p; if (!min || d < min) min = d; if (d > max) max = d }
	{ p = $1 } END { print min + 0, max + 0 }' >"$T_DIR/gaps"
read -r gmin gmax <"$T_DIR/gaps"
[ "$gmin" -ge 1900 ] && [ "$gmax" -lt 4000 ]
ok $? "master: pings $gmin..$gmax ms apart at a 4 s interval (want 1900..3999)"

# WATCHDOG_PID names another process: the watchdog is not ours to ping
listen other
NOTIFY_SOCKET=$T_DIR/other.notify WATCHDOG_USEC=100000 WATCHDOG_PID=1 \
	"$MASTER_BIN" --no-config --listen 127.0.0.1 --port 0 >"$T_DIR/other.log" 2>&1 &
OTHER_PID=$!
T_PIDS+=("$OTHER_PID")
wait_until 30 grep -qx READY=1 "$T_DIR/other.msgs"
ok $? "second master: READY=1"
# (a ping would be due every 50 ms: half a second of none shows there is
# none; a check of something NOT sent needs a window, and a loaded machine
# can only make it pass without testing, never fail)
sleep 0.5
! grep -qx WATCHDOG=1 "$T_DIR/other.msgs"
ok $? "second master: no watchdog ping when WATCHDOG_PID is another process"
stop_pid "$OTHER_PID"
ok $? "second master: exits 0 on SIGTERM"
wait_until 30 grep -qx STOPPING=1 "$T_DIR/other.msgs"
ok $? "second master: STOPPING=1 on SIGTERM"

# ---- a node that starts before its master
port=$MASTER_PORT
stop_pid "$MASTER_PID"
ok $? "master: exits 0 on SIGTERM"
wait_until 30 grep -qx STOPPING=1 "$T_DIR/master.msgs"
ok $? "master: STOPPING=1 on SIGTERM"
listen node
NODE_SOCK=$T_DIR/n1.sock
NOTIFY_SOCKET=$T_DIR/node.notify WATCHDOG_USEC=200000 \
	"$NODE_BIN" --no-config --master "127.0.0.1:$port" --name n1 --segment-size 16M --hugepages off \
	--socket "$NODE_SOCK" --data-port 0 >"$T_DIR/n1.log" 2>&1 &
NODE_PID=$!
T_PIDS+=("$NODE_PID")
wait_until 30 grep -q "info: waiting for master 127.0.0.1:$port (Connection refused)" "$T_DIR/n1.log"
ok $? "node: waits for the master (not started yet), at info: no warning in its first seconds"
wait_until 30 grep -qx "STATUS=mounting segment n1-0 with master 127.0.0.1:$port" "$T_DIR/node.msgs"
ok $? "node: STATUS= says what it waits for"
! grep -qx READY=1 "$T_DIR/node.msgs" && [ ! -S "$NODE_SOCK" ]
ok $? "node: no READY=1 and no socket without a master"
wait_until 30 grep -qx WATCHDOG=1 "$T_DIR/node.msgs"
ok $? "node: pings the watchdog while it waits (its loop runs)"

start_master --port "$port"
wait_until 20 grep -qx READY=1 "$T_DIR/node.msgs"
ok $? "node: READY=1 once the master is up"
# no retry: READY=1 promises a serving socket
"$CTL" --socket "$NODE_SOCK" stat >"$T_DIR/stat.out" 2>&1
ok $? "node: serves clients as soon as it says READY=1"
node_mounted() { sent_by "$NODE_PID" "$T_DIR/node.msgs" | grep -q "^STATUS=segment n1-0 mounted with master 127.0.0.1:$port"; }
wait_until 30 node_mounted
ok $? "node: STATUS= says the segment is mounted"

stop_pid "$NODE_PID"
ok $? "node: exits 0 on SIGTERM (segment unmounted)"
wait_until 30 grep -qx STOPPING=1 "$T_DIR/node.msgs"
ok $? "node: STOPPING=1 on SIGTERM"

finish_daemons
