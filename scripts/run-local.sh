#!/bin/bash
# SPDX-License-Identifier: MIT
# README command one: install what is missing, build, and run a local
# cluster on loopback (one mcstore-master, one mcstored) with its logs on
# this terminal, until Ctrl-C stops both cleanly.
#
#   scripts/run-local.sh [--segment-size SIZE] [--port PORT] [--no-demo]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
SIZE=256M
PORT=50051
DEMO=1
while [ $# -gt 0 ]; do
	case $1 in
	--segment-size) SIZE=$2; shift 2 ;;
	--port) PORT=$2; shift 2 ;;
	--no-demo) DEMO=0; shift ;;
	-h|--help) sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-local: unknown option $1" >&2; exit 2 ;;
	esac
done

"$top/scripts/deps.sh"
"$top/scripts/build.sh" build
B=$top/build
RUN=${XDG_RUNTIME_DIR:-/tmp}/mcstore-local
mkdir -p "$RUN"
export MCSTORE_SOCKET=$RUN/mcstored.sock

"$B/master/mcstore-master" --listen 127.0.0.1 --port "$PORT" &
MPID=$!
stop() {
	trap - INT TERM EXIT
	echo "run-local: stopping"
	[ -n "${NPID:-}" ] && kill -TERM "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
	kill -TERM "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
	exit 0
}
trap stop INT TERM EXIT
"$B/daemon/mcstored" --master "127.0.0.1:$PORT" --name local --segment-size "$SIZE" &
NPID=$!
for _ in $(seq 1 500); do
	"$B/ctl/mcstorectl" stat >/dev/null 2>&1 && break
	kill -0 "$NPID" 2>/dev/null || { echo "run-local: mcstored failed to start" >&2; exit 1; }
	sleep 0.02
done

if [ "$DEMO" = 1 ]; then
	f=$RUN/demo.bin
	head -c 4194304 /dev/urandom >"$f"
	"$B/ctl/mcstorectl" put demo "$f"
	"$B/ctl/mcstorectl" get demo -o "$f.out"
	if cmp -s "$f" "$f.out"; then
		echo "run-local: put/get of a 4 MiB object: OK (byte for byte)"
	else
		echo "run-local: put/get of a 4 MiB object: MISMATCH" >&2
		exit 1
	fi
	"$B/ctl/mcstorectl" stat
fi
cat <<EOM

run-local: cluster up. In another terminal:
  export MCSTORE_SOCKET=$MCSTORE_SOCKET
  $B/ctl/mcstorectl put KEY FILE
  $B/ctl/mcstorectl get KEY -o OUT
  $B/ctl/mcstorectl stat
Ctrl-C stops both daemons.
EOM
wait "$NPID"
