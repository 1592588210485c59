#!/bin/bash
# SPDX-License-Identifier: MIT
# README command one: install what is missing (scripts/deps.sh build),
# build, and run a local cluster on loopback (one mcstore-master, one
# mcstored) with its logs on this terminal, until Ctrl-C stops both cleanly.
#
#   scripts/run-local.sh [--segment-size SIZE] [--port PORT] [--no-demo]
#                        [--build-dir DIR] [--no-build]
#
#   --segment-size SIZE  the node's segment (default 256M)
#   --port PORT          the master's port (default 50051); 0: ports the
#                        kernel picks, the master's and the node's data port
#   --no-demo            do not store and read back the 4 MiB demo object
#   --build-dir DIR      the build tree (default build/ of this checkout)
#   --no-build           install nothing and build nothing: use DIR as built
#
# Exits 0 after a clean stop, 1 with the reason when the build, a daemon or
# the demo fails. The node's socket is $XDG_RUNTIME_DIR/mcstore-local/
# mcstored.sock (/tmp/mcstore-local/ without XDG_RUNTIME_DIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
SIZE=256M
PORT=50051
DEMO=1
BUILD=1
B=$top/build
usage() { sed -n '3,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
need() { [ $# -ge 2 ] || { echo "run-local: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
	case $1 in
	--segment-size) need "$@"; SIZE=$2; shift 2 ;;
	--port) need "$@"; PORT=$2; shift 2 ;;
	--no-demo) DEMO=0; shift ;;
	--build-dir) need "$@"; B=$(realpath -m "$2"); shift 2 ;;
	--no-build) BUILD=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run-local: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
case $PORT in
'' | *[!0-9]*) echo "run-local: --port wants a number (0: any free port), not '$PORT'" >&2; exit 2 ;;
esac

fail() { echo "run-local: $*" >&2; exit 1; }
if [ $BUILD = 1 ]; then
	"$top/scripts/deps.sh" build || fail "installing the build dependencies failed"
	"$top/scripts/build.sh" "$B" || fail "the build failed (see above)"
fi
for f in master/mcstore-master daemon/mcstored ctl/mcstorectl; do
	[ -x "$B/$f" ] || fail "$B/$f is missing: build first (or drop --no-build)"
done
CTL=$B/ctl/mcstorectl
RUN=${XDG_RUNTIME_DIR:-/tmp}/mcstore-local
mkdir -p "$RUN"
export MCSTORE_SOCKET=$RUN/mcstored.sock

# The daemons run in sessions of their own: Ctrl-C reaches this script
# only, which stops the node first (it unmounts its segment), then the
# master. Their logs go to this terminal and to $RUN/*.log (read here for
# the master's port and for the reason of a failure).
MPID=
NPID=
log_to() { # FILE: stdout to this terminal and FILE, immune to Ctrl-C
	trap '' INT TERM
	exec tee "$1"
}
# start NAME LOG COMMAND...: sets PID, with its output through log_to LOG
# (whose PID is kept: a dead daemon's last words are in LOG once it ends)
declare -A TEE=()
start() {
	local name=$1 log=$2 fd; shift 2
	: >"$log"
	exec {fd}> >(log_to "$log")
	TEE[$name]=$!
	setsid "$@" >&"$fd" 2>&1 &
	PID=$!
	exec {fd}>&-
}
stop_one() { # PID NAME: SIGTERM, wait; 0 if it exited 0
	local st=0
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || st=$?
	[ $st -eq 0 ] || echo "run-local: $2 exited with status $st" >&2
	return $st
}
stopped=0
on_exit() {
	local st=$?
	trap - EXIT INT TERM
	if [ -n "$NPID$MPID" ]; then
		echo "run-local: stopping"
		if [ -n "$NPID" ]; then stop_one "$NPID" mcstored || st=1; fi
		if [ -n "$MPID" ]; then stop_one "$MPID" mcstore-master || st=1; fi
	fi
	# Ctrl-C (or SIGTERM) is how this ends well
	[ $stopped = 1 ] && [ $st = 130 ] && st=0
	exit $st
}
trap on_exit EXIT
trap 'stopped=1; exit 130' INT TERM
died() { # NAME LOG STATUS: a daemon that exited on its own: its last words, and exit 1
	if [ "$1" = mcstored ]; then NPID=; else MPID=; fi
	wait "${TEE[$1]}" 2>/dev/null || true
	echo "run-local: last lines of $1's log ($2):" >&2
	tail -15 "$2" | sed 's/^/  | /' >&2
	fail "$1 exited with status $3"
}
# reap NAME PID LOG: if the daemon has exited, die with its reason
reap() {
	local st=0
	kill -0 "$2" 2>/dev/null && return 0
	wait "$2" 2>/dev/null || st=$?
	died "$1" "$3" "$st"
}

MLOG=$RUN/master.log
NLOG=$RUN/mcstored.log
start mcstore-master "$MLOG" "$B/master/mcstore-master" --no-config --listen 127.0.0.1 --port "$PORT"
MPID=$PID
# the master says where it listens once it does (with --port 0, the port)
end=$((SECONDS + 30))
until grep -q "listening on .* port [0-9]" "$MLOG"; do
	reap mcstore-master "$MPID" "$MLOG"
	[ $SECONDS -lt $end ] || fail "mcstore-master did not say it listens within 30 s (see $MLOG)"
	sleep 0.1
done
MPORT=$(sed -n 's/.*listening on .* port \([0-9][0-9]*\),.*/\1/p' "$MLOG" | head -1)
[ -n "$MPORT" ] || fail "cannot read the master's port from $MLOG"
echo "run-local: mcstore-master listening on 127.0.0.1 port $MPORT"

DATA=()
[ "$PORT" != 0 ] || DATA=(--data-port 0)
start mcstored "$NLOG" "$B/daemon/mcstored" --no-config --master "127.0.0.1:$MPORT" --name local \
	--segment-size "$SIZE" --socket "$MCSTORE_SOCKET" --data-host 127.0.0.1 "${DATA[@]}"
NPID=$PID
end=$((SECONDS + 60))
until "$CTL" stat >/dev/null 2>&1; do
	reap mcstored "$NPID" "$NLOG"
	reap mcstore-master "$MPID" "$MLOG"
	[ $SECONDS -lt $end ] || fail "mcstored did not serve within 60 s (see $NLOG)"
	sleep 0.1
done
echo "run-local: mcstored serving on $MCSTORE_SOCKET"

if [ "$DEMO" = 1 ]; then
	f=$RUN/demo.bin
	head -c 4194304 /dev/urandom >"$f"
	"$CTL" put demo "$f" || fail "demo: put of a 4 MiB object failed"
	"$CTL" get demo -o "$f.out" || fail "demo: get of the 4 MiB object failed"
	cmp -s "$f" "$f.out" || fail "demo: put/get of a 4 MiB object: MISMATCH"
	echo "run-local: put/get of a 4 MiB object: OK (byte for byte)"
	rm -f "$f" "$f.out"
	"$CTL" stat || fail "demo: mcstorectl stat failed"
fi
cat <<EOM

run-local: cluster up (master 127.0.0.1:$MPORT). In another terminal:
  export MCSTORE_SOCKET=$MCSTORE_SOCKET
  $CTL put KEY FILE
  $CTL get KEY -o OUT
  $CTL stat
Ctrl-C stops both daemons.
EOM
# until Ctrl-C, or until a daemon exits on its own (a failure)
while :; do
	st=0
	gone=
	wait -n -p gone "$MPID" "$NPID" 2>/dev/null || st=$?
	if [ "$gone" = "$NPID" ]; then died mcstored "$NLOG" "$st"; fi
	if [ "$gone" = "$MPID" ]; then died mcstore-master "$MLOG" "$st"; fi
done
