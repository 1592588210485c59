#!/bin/bash
# SPDX-License-Identifier: MIT
# --metrics-port: the master and a node serve Prometheus text over HTTP.
# The pages are scraped (bash's /dev/tcp, no HTTP client needed), every
# line is checked against the text format, and the counters are checked
# against traffic the test drives: N gets give N lease grants and N
# GET_REPLICAS requests, puts give objects and bytes, the node's
# heartbeats reach the master.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 17


# scrape PORT [PATH]: the whole HTTP answer (status line, headers, body)
scrape() { http "$1" GET "${2:-/metrics}"; }
# body PORT: the page only
body() { scrape "$1" | tr -d '\r' | sed '1,/^$/d'; }
# value PORT NAME[{LABELS}]: the sample's value
value() { body "$1" | awk -v n="$2" '$1 == n { print $2; exit }'; }
# wait_value PORT NAME WANT: the page is republished every 100 ms
value_is() { [ "$(value "$1" "$2")" = "$3" ]; }

# Every line is a comment (# HELP / # TYPE) or a sample
# name{label="value",...} number, and every sample's family has a TYPE.
valid_page() {
	awk '
	/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* / { next }
	/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/ { typed[$3] = 1; next }
	/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$/ {
		name = $1; sub(/\{.*/, "", name)
		if (!(name in typed)) { print "untyped sample: " $0; bad = 1 }
		n++; next
	}
	{ print "bad line: " $0; bad = 1 }
	END { if (n == 0) { print "no samples"; bad = 1 } exit bad }'
}

start_master --metrics-port 0
MPORT=$(metrics_port_of "$T_DIR/master.log")
[ -n "$MPORT" ]
ok $? "master logs its metrics port ($MPORT)"
start_node n1 64M --hugepages off --metrics-port 0 --data-listen 127.0.0.1 --heartbeat-interval-ms 50
NPORT=$(metrics_port_of "$T_DIR/n1.log")
[ -n "$NPORT" ]
ok $? "node logs its metrics port ($NPORT)"

scrape "$MPORT" >"$T_DIR/m.http"
head -1 "$T_DIR/m.http" | grep -q "^HTTP/1.0 200 OK"
ok $? "master: GET /metrics answers 200"
grep -qi "^Content-Type: text/plain; version=0.0.4" "$T_DIR/m.http"
ok $? "master: with the Prometheus text content type"
tr -d '\r' <"$T_DIR/m.http" | sed '1,/^$/d' | valid_page >"$T_DIR/valid.out"
ok $? "master: every line is valid Prometheus text"; sed 's/^/# /' "$T_DIR/valid.out" | head -5
body "$NPORT" | valid_page >"$T_DIR/valid.out"
ok $? "node: every line is valid Prometheus text"; sed 's/^/# /' "$T_DIR/valid.out" | head -5
scrape "$MPORT" /nope | head -1 | grep -q "^HTTP/1.0 404"
ok $? "an unknown path answers 404"

# known traffic
N=7
head -c 100000 /dev/urandom >"$T_DIR/v.bin"
for i in 1 2 3; do ctl put "k$i" "$T_DIR/v.bin" || break; done
# the count before the gets, from a page that counts the 3 puts (one
# rendered before them would be short of any lease they took)
puts_counted() {
	body "$MPORT" >"$T_DIR/page"
	grep -qx 'mcstore_master_requests_total{op="PUT_END"} 3' "$T_DIR/page"
}
wait_until 30 puts_counted
leases0=$(awk '$1 == "mcstore_master_leases_granted_total" { print $2 }' "$T_DIR/page")
for i in $(seq 1 $N); do ctl get k1 -o /dev/null || break; done
wait_until 30 value_is "$MPORT" mcstore_master_leases_granted_total $((leases0 + N))
ok $? "$N gets: $N more lease grants ($leases0 -> $(value "$MPORT" mcstore_master_leases_granted_total))"
value_is "$MPORT" 'mcstore_master_requests_total{op="GET_REPLICAS"}' "$N"
ok $? "and $N GET_REPLICAS requests"
value_is "$MPORT" 'mcstore_master_requests_total{op="PUT_END"}' 3
ok $? "3 puts: 3 PUT_END requests"
value_is "$MPORT" mcstore_master_objects 3
ok $? "3 objects"
value_is "$MPORT" mcstore_master_capacity_bytes $((64 << 20))
ok $? "capacity is the node's segment"
value_is "$MPORT" 'mcstore_segment_size_bytes{node="n1",segment="n1-0"}' $((64 << 20))
ok $? "per-node segment line"
hb=$(value "$NPORT" mcstore_node_heartbeats_sent_total)
# re-read on every try (a $(...) argument would be read once)
master_hb_ge() { [ "$(value "$MPORT" mcstore_master_heartbeats_received_total)" -ge "$1" ]; }
wait_until 30 master_hb_ge "${hb:-1}"
ok $? "the master counts the heartbeats the node sent ($hb sent)"
value_is "$NPORT" mcstore_node_mounted 1
ok $? "node: mounted"

finish_daemons
