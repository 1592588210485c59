#!/bin/bash
# SPDX-License-Identifier: MIT
# The daemons and the service manager: each daemon gets a NOTIFY_SOCKET
# served by notify-recv (standing in for systemd) and must send READY=1
# only once it serves (the node: once its segment is mounted, so never
# while the master is away), STATUS= lines, WATCHDOG=1 at the rate
# WATCHDOG_USEC asks for and only when WATCHDOG_PID (if set) is its own
# pid, and STOPPING=1 on SIGTERM. The daemons this test looks at are
# started by hand (start_daemon), not by start_master / start_node, which
# rely on what is checked here.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

# Messages are read by another process: every check of one that may just
# have been sent waits for it (wait_until), and the one check that
# something was NOT sent is bounded by what another daemon sent meanwhile.

# the arrival times of the watchdog pings of a .msgs file, one a line
pings() { awk '/^pid /{t=$3; next} /^WATCHDOG=1$/{print t}' "$1"; }
# at least N pings in a .msgs file
has_pings() { [ "$(pings "$1" | wc -l)" -ge "$2" ]; }
# the TCP port PID listens on, as the kernel shows it (ss -p)
listening_port() {
	ss -Hltnp | awk -v p="pid=$1," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }'
}

tap_plan 23

# ---- the master
M=$T_DIR/master.msgs
WATCHDOG_USEC=4000000 start_daemon master "$MASTER_BIN" --no-config --listen 127.0.0.1 --port 0
MASTER_PID=$DAEMON_PID
wait_until 30 grep -qx READY=1 "$M"
ok $? "master: READY=1"
sent_by "$MASTER_PID" "$M" | grep -qx READY=1
ok $? "master: sent by the master's own pid"
MASTER_PORT=$(listening_port "$MASTER_PID")
[ -n "$MASTER_PORT" ] && wait_until 30 grep -qx "STATUS=listening on 127.0.0.1 port $MASTER_PORT" "$M"
ok $? "master: STATUS= says where it listens (port ${MASTER_PORT:-none} for ss)"
# WatchdogSec=4s: pings at most every 2 s (half the interval: the rate
# limit), and every 3 s at worst (the timer runs every second), within the
# interval with a second to spare for a loaded machine; the times are the
# kernel's (when each ping was queued), so only the sender's own lateness
# moves them, hence the little slack below 2 s
wait_until 60 has_pings "$M" 4
ok $? "master: pings the watchdog"
pings "$M" | awk 'NR > 1 { d = $1 - p; if (!min || d < min) min = d; if (d > max) max = d }
	{ p = $1 } END { print min + 0, max + 0 }' >"$T_DIR/gaps"
read -r gmin gmax <"$T_DIR/gaps"
[ "$gmin" -ge 1900 ] && [ "$gmax" -lt 4000 ]
ok $? "master: pings $gmin..$gmax ms apart at a 4 s interval (want 1900..3999)"

# WATCHDOG_PID: only the process it names pings. Two more masters asked
# for a ping every 50 ms: "self", named by its WATCHDOG_PID (sh execs
# into the master, keeping its pid), and "other", whose WATCHDOG_PID is
# pid 1. That other sends none is a check that something does NOT happen:
# its window is the ten pings self sends once other is ready (a loaded
# machine slows both alike).
WATCHDOG_USEC=100000 start_daemon self sh -c 'export WATCHDOG_PID=$$; exec "$@"' sh \
	"$MASTER_BIN" --no-config --listen 127.0.0.1 --port 0
SELF_PID=$DAEMON_PID
WATCHDOG_USEC=100000 WATCHDOG_PID=1 start_daemon other "$MASTER_BIN" --no-config --listen 127.0.0.1 --port 0
OTHER_PID=$DAEMON_PID
wait_until 30 grep -qx READY=1 "$T_DIR/other.msgs"
ok $? "second master: READY=1"
p0=$(pings "$T_DIR/self.msgs" | wc -l)
wait_until 60 has_pings "$T_DIR/self.msgs" $((p0 + 10)) && sent_by "$SELF_PID" "$T_DIR/self.msgs" | grep -qx WATCHDOG=1
ok $? "a master that WATCHDOG_PID names pings the watchdog ($(pings "$T_DIR/self.msgs" | wc -l) pings)"
! grep -qx WATCHDOG=1 "$T_DIR/other.msgs"
ok $? "second master: no watchdog ping when WATCHDOG_PID is another process"
stop_pid "$OTHER_PID"
st=$?
stop_pid "$SELF_PID" && [ $st -eq 0 ]
ok $? "second masters: exit 0 on SIGTERM"
wait_until 30 grep -qx STOPPING=1 "$T_DIR/other.msgs"
ok $? "second master: STOPPING=1 on SIGTERM"

# ---- a node that starts before its master
port=$MASTER_PORT
stop_pid "$MASTER_PID"
ok $? "master: exits 0 on SIGTERM"
wait_until 30 grep -qx STOPPING=1 "$M"
ok $? "master: STOPPING=1 on SIGTERM"
N=$T_DIR/n1.msgs
NODE_SOCK=$T_DIR/n1.sock
WATCHDOG_USEC=200000 start_daemon n1 "$NODE_BIN" --no-config --master "127.0.0.1:$port" --name n1 \
	--segment-size 16M --hugepages off --socket "$NODE_SOCK" --data-port 0
NODE_PID=$DAEMON_PID
# (the log line is checked: the node's words, at info level)
wait_until 30 grep -q "info: waiting for master 127.0.0.1:$port (Connection refused)" "$T_DIR/n1.log"
ok $? "node: waits for the master (not started yet), at info: no warning in its first seconds"
wait_until 30 grep -qx "STATUS=mounting segment n1-0 with master 127.0.0.1:$port" "$N"
ok $? "node: STATUS= says what it waits for"
! grep -qx READY=1 "$N" && [ ! -S "$NODE_SOCK" ]
ok $? "node: no READY=1 and no socket without a master"
wait_until 30 grep -qx WATCHDOG=1 "$N"
ok $? "node: pings the watchdog while it waits (its loop runs)"

start_master --port "$port"
wait_until 20 grep -qx READY=1 "$N"
ok $? "node: READY=1 once the master is up"
# no retry: READY=1 promises a serving socket
"$CTL" --socket "$NODE_SOCK" stat >"$T_DIR/stat.out" 2>&1
ok $? "node: serves clients as soon as it says READY=1"
node_mounted() { sent_by "$NODE_PID" "$N" | grep -q "^STATUS=segment n1-0 mounted with master 127.0.0.1:$port"; }
wait_until 30 node_mounted
ok $? "node: STATUS= says the segment is mounted"

stop_pid "$NODE_PID"
ok $? "node: exits 0 on SIGTERM (segment unmounted)"
wait_until 30 grep -qx STOPPING=1 "$N"
ok $? "node: STOPPING=1 on SIGTERM"

finish_daemons
