#!/bin/bash
# SPDX-License-Identifier: MIT
# Configuration files of the real daemons: values from the file take
# effect, the command line wins over them, unknown keys and bad values stop
# the daemon at start with FILE:LINE, and the shipped files (etc/) list
# every option, with values the daemons accept.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

ETC=$MCS_SRCDIR/etc

# the long options a program's --help lists, one a line, without the
# command-line-only ones (--parent-fd is an fd of the caller)
help_opts() {
	"$1" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sed 's/^--//' |
		grep -vxE 'help|version|config|no-config|parent-fd' | sort -u
}
# the keys a shipped file shows (commented out)
file_keys() { sed -n 's/^#\([a-z][a-z0-9-]*\) = .*/\1/p' "$1" | sort -u; }

tap_plan 30

# ---- the master, from a file
cat >"$T_DIR/master.conf" <<EOF
# test configuration
listen = 127.0.0.1
lease-ttl-ms = 777   # an odd value to look for in the log
strategy = random
EOF
start_master --config "$T_DIR/master.conf"
grep -q "listening on 127.0.0.1 port $MASTER_PORT, lease 777 ms" "$T_DIR/master.log"
ok $? "master: lease-ttl-ms from the file"
stop_pid "$MASTER_PID"
ok $? "master: stops cleanly"
start_master --config "$T_DIR/master.conf" --lease-ttl-ms 555
grep -q "port $MASTER_PORT, lease 555 ms" "$T_DIR/master.log"
ok $? "master: the command line wins over the file"

# ---- the node, from a file only
cat >"$T_DIR/node.conf" <<EOF
master = 127.0.0.1:$MASTER_PORT
name = cfgnode
segment-size = 32M
hugepages = off
populate = yes
socket = $T_DIR/cfg.sock
data-port = 0
log-level = debug
EOF
"$NODE_BIN" --config "$T_DIR/node.conf" >"$T_DIR/cfgnode.log" 2>&1 &
track "$!" "node cfgnode"
NODE_SOCK=$T_DIR/cfg.sock
wait_until 30 ctl stat
ok $? "node: starts and serves with every setting from the file"
ctl stat --bytes >"$T_DIR/stat.out"
grep -q "^node: *cfgnode (segment cfgnode-0, normal pages)" "$T_DIR/stat.out"
ok $? "node: name and hugepages = off from the file"
grep -q "^capacity: *33554432$" "$T_DIR/stat.out"
ok $? "node: segment-size from the file"
grep -q "debug:" "$T_DIR/cfgnode.log"
ok $? "node: log-level from the file"
head -c 100000 /dev/urandom >"$T_DIR/v.bin"
ctl put k "$T_DIR/v.bin" && ctl get k -o "$T_DIR/v.out" && cmp -s "$T_DIR/v.bin" "$T_DIR/v.out"
ok $? "node: put/get through it"

# ---- errors: exit 2, FILE:LINE: reason, nothing started
# fails NAME BIN WANT-MESSAGE FILE-TEXT [ARGS...]
fails() {
	local name=$1 bin=$2 want=$3 text=$4; shift 4
	printf '%s' "$text" >"$T_DIR/bad.conf"
	"$bin" --config "$T_DIR/bad.conf" "$@" >"$T_DIR/bad.out" 2>&1
	local st=$?
	if [ $st -eq 2 ] && grep -qxF -- "$want" "$T_DIR/bad.out"; then
		ok 0 "$name"
	else
		ok 1 "$name (exit $st)"
		sed 's/^/# /' "$T_DIR/bad.out"
	fi
}
B=$T_DIR/bad.conf
fails "unknown key" "$MASTER_BIN" "$B:3: unknown key 'lease-ttl'" $'# c\nport = 0\nlease-ttl = 5\n'
fails "bad value" "$MASTER_BIN" "$B:1: invalid lease-ttl-ms '0' (1..3600000)" $'lease-ttl-ms = 0\n'
fails "bad value, node" "$NODE_BIN" "$B:2: invalid segment-size '1x' (unknown suffix: K, M, G or T (powers of 1024))" $'name = x\nsegment-size = 1x\n'
fails "bad flag value" "$NODE_BIN" "$B:1: invalid populate 'maybe' (yes or no)" $'populate = maybe\n'
fails "line without =" "$NODE_BIN" "$B:2: expected 'key = value', got 'hugepages off'" $'\nhugepages off\n'
fails "repeated key" "$MASTER_BIN" "$B:2: 'port' already set on line 1" $'port = 1\nport = 2\n'
fails "command-line-only key" "$MASTER_BIN" "$B:1: unknown key 'config' (a command-line option only)" $'config = /x\n'
fails "an inherited fd is no key" "$NODE_BIN" "$B:1: unknown key 'parent-fd' (a command-line option only)" \
	$'parent-fd = 0\n'
fails "bad file even when the command line sets the key" "$MASTER_BIN" \
	"$B:1: invalid port 'x' (0..65535)" $'port = x\n' --port 0
expect_status 2 "a missing --config file is an error" -- "$MASTER_BIN" --config "$T_DIR/none.conf"
grep -qxF "cannot open $T_DIR/none.conf: No such file or directory" "$T_DIR/last.err"
ok $? "which names the file"
expect_status 2 "--config and --no-config together are refused" -- "$NODE_BIN" --config "$B" --no-config

# ---- the shipped files
# parse them for real: a bad --port after them shows the file was accepted
expect_status 2 "etc/master.conf is accepted as shipped" -- "$MASTER_BIN" --config "$ETC/master.conf" --port x
grep -qF -- "invalid --port 'x'" "$T_DIR/last.err"
ok $? "(the command line was reached)"
# every commented value is valid: uncomment them all and start for real
sed 's/^#\([a-z][a-z0-9-]* = \)/\1/' "$ETC/master.conf" >"$T_DIR/m-all.conf"
sed 's/^#\([a-z][a-z0-9-]* = \)/\1/' "$ETC/mcstored.conf" >"$T_DIR/n-all.conf"
expect_status 2 "etc/master.conf with every line uncommented is accepted" -- \
	"$MASTER_BIN" --config "$T_DIR/m-all.conf" --port x
grep -qF -- "invalid --port 'x'" "$T_DIR/last.err"
ok $? "(the command line was reached)"
expect_status 2 "etc/mcstored.conf with every line uncommented is accepted" -- \
	"$NODE_BIN" --config "$T_DIR/n-all.conf" --segment-size x
grep -qF -- "invalid --segment-size 'x'" "$T_DIR/last.err"
ok $? "(the command line was reached)"

help_opts "$MASTER_BIN" >"$T_DIR/o1"
[ -s "$T_DIR/o1" ] && diff "$T_DIR/o1" <(file_keys "$ETC/master.conf") >"$T_DIR/d1" 2>&1
ok $? "etc/master.conf shows every option of mcstore-master --help, and no other"
sed 's/^/# /' "$T_DIR/d1"
help_opts "$NODE_BIN" >"$T_DIR/o2"
[ -s "$T_DIR/o2" ] && diff "$T_DIR/o2" <(file_keys "$ETC/mcstored.conf") >"$T_DIR/d2" 2>&1
ok $? "etc/mcstored.conf shows every option of mcstored --help, and no other"
sed 's/^/# /' "$T_DIR/d2"

finish_daemons
