#!/bin/bash
# SPDX-License-Identifier: MIT
# What an operator installs from /usr/share/mcstore/, and /health:
# - monitoring/mcstore-alerts.yml passes promtool check rules, and its unit
#   tests (mcstore-alerts.test.yml) show each alert firing when it must;
# - monitoring/mcstore-dashboard.json is JSON with what Grafana needs to
#   import it (title, uid, schemaVersion, panels with ids, places on the
#   24-column grid that do not overlap, targets on the datasource
#   variable), and its expressions are valid PromQL;
# - against a real master and node: every metric the rules and the
#   dashboard name is on their pages (so neither drifts from the code),
#   and the pages pass promtool check metrics;
# - /health on both: 200 while the node's segment is mounted, 503 with the
#   reason once the master is stopped, 200 again once it is back.
# promtool comes from scripts/promtool.sh (Debian's prometheus package,
# unpacked, not installed), the JSON checks need jq; without them those
# checks are skipped, saying why.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

RULES=$MCS_SRCDIR/monitoring/mcstore-alerts.yml
RULES_TEST=$MCS_SRCDIR/tests/integration/mcstore-alerts.test.yml
DASH=$MCS_SRCDIR/monitoring/mcstore-dashboard.json

# check_empty DESCRIPTION FILE: ok if FILE (a list of problems) is empty
check_empty() {
	[ ! -s "$2" ]
	ok $? "$1"
	sed 's/^/# /' "$2" | head -20
}

tap_plan 22

# a package build must not download anything
fetch=()
[ -z "${MCS_IN_PACKAGE_BUILD:-}" ] || fetch=(--no-fetch)
PROMTOOL=$("$MCS_SRCDIR/scripts/promtool.sh" "${fetch[@]}" 2>"$T_DIR/promtool.err") || PROMTOOL=
NO_PROMTOOL=$(head -1 "$T_DIR/promtool.err")
JQ=$(command -v jq) || JQ=
NO_JQ="jq is not installed (scripts/deps.sh installs it)"

# ---- the alerting rules
if [ -n "$PROMTOOL" ]; then
	"$PROMTOOL" check rules "$RULES" >"$T_DIR/check.out" 2>&1
	ok $? "promtool check rules: $(grep -o '[0-9]* rules found' "$T_DIR/check.out")"
	sed 's/^/# /' "$T_DIR/check.out" | grep -v '^# *$'
	# the test file names the rules relative to itself
	"$PROMTOOL" test rules "$RULES_TEST" >"$T_DIR/test.out" 2>&1
	st=$?
	ok $st "promtool test rules: the alerts fire when they must, and only then"
	[ $st -eq 0 ] || sed 's/^/# /' "$T_DIR/test.out" | head -40
else
	skip "$NO_PROMTOOL"
	skip "$NO_PROMTOOL"
fi

# ---- the dashboard
if [ -n "$JQ" ]; then
	jq empty "$DASH" >"$T_DIR/jq.out" 2>&1
	ok $? "the dashboard is JSON"
	sed 's/^/# /' "$T_DIR/jq.out"
	jq -r '
		(if (.title | type) != "string" or .title == "" then "no title" else empty end),
		(if (.uid | type) != "string" or .uid == "" then "no uid" else empty end),
		(if (.schemaVersion | type) != "number" or .schemaVersion < 30 then "no schemaVersion >= 30" else empty end),
		(if (.panels | type) != "array" or (.panels | length) == 0 then "no panels" else empty end),
		(if ([.templating.list[]? | select(.type == "datasource" and .query == "prometheus" and .name == "datasource")]
		     | length) != 1 then "no datasource variable of type prometheus" else empty end)
	' "$DASH" >"$T_DIR/dash.out" 2>&1
	check_empty "the dashboard has a title, uid, schemaVersion, panels and a Prometheus datasource variable" \
		"$T_DIR/dash.out"
	jq -r '
		(if ([.panels[].id] | (unique | length) != length) then "panel ids are not unique" else empty end),
		(.panels[] |
			(if (.id | type) != "number" then "panel \(.title): no id" else empty end),
			(if (.title | type) != "string" or .title == "" then "panel \(.id): no title" else empty end),
			(if (.type | IN("row", "timeseries", "stat") | not) then "panel \(.title): type \(.type)" else empty end),
			(if ([.gridPos.h, .gridPos.w, .gridPos.x, .gridPos.y] | all(type == "number") | not)
			 then "panel \(.title): no gridPos"
			 elif .gridPos.x < 0 or .gridPos.w < 1 or .gridPos.x + .gridPos.w > 24 or .gridPos.h < 1
			 then "panel \(.title): outside the 24 columns" else empty end)),
		([.panels[] | {t: .title, g: .gridPos}] as $p | range(0; $p | length) as $i | range($i + 1; $p | length) as $j
		 | $p[$i].g as $a | $p[$j].g as $b
		 | select($a.x < $b.x + $b.w and $b.x < $a.x + $a.w and $a.y < $b.y + $b.h and $b.y < $a.y + $a.h)
		 | "panels \"\($p[$i].t)\" and \"\($p[$j].t)\" overlap")
	' "$DASH" >"$T_DIR/dash.out" 2>&1
	check_empty "$(jq '.panels | length' "$DASH") panels: unique ids, titles, known types, on the grid, no overlap" \
		"$T_DIR/dash.out"
	jq -r '
		[.templating.list[].name] as $vars |
		(.panels[] | select(.type != "row") | . as $p |
			(if .datasource.uid != "${datasource}" then "panel \(.title): not on the datasource variable" else empty end),
			(if (.targets | length) == 0 then "panel \(.title): no targets" else empty end),
			(if ([.targets[].refId] | (unique | length) != length) then "panel \(.title): refIds not unique" else empty end),
			(.targets[] |
				(if (.expr | type) != "string" or .expr == "" then "panel \($p.title) \(.refId): no expr" else empty end),
				(if .datasource.uid != "${datasource}" then "panel \($p.title) \(.refId): datasource" else empty end),
				(.expr | [scan("\\$(\\w+)")[0]] | map(select(startswith("__") | not)) | .[]
				 | select(IN($vars[]) | not) | "panel \($p.title): unknown variable $\(.)")))
	' "$DASH" >"$T_DIR/dash.out" 2>&1
	check_empty "every panel queries the datasource variable, with refIds, expressions and known variables" \
		"$T_DIR/dash.out"
else
	for i in 1 2 3 4; do skip "$NO_JQ"; done
fi
if [ -n "$PROMTOOL" ] && [ -n "$JQ" ]; then
	# every expression as a recording rule, Grafana's variables given values
	jq -r '"groups:", "  - name: dashboard", "    rules:",
		([.. | .expr? // empty] | to_entries[]
		 | "      - record: dashboard:expr\(.key)",
		   "        expr: \(.value | gsub("\\$__rate_interval"; "5m") | gsub("\\$__range"; "1h")
		                          | gsub("\\$\\w+"; ".*") | @json)")' "$DASH" >"$T_DIR/dash-rules.yml"
	"$PROMTOOL" check rules "$T_DIR/dash-rules.yml" >"$T_DIR/check.out" 2>&1
	st=$?
	grep -q '^ *- record:' "$T_DIR/dash-rules.yml" || st=1
	ok $st "the dashboard's $(grep -c '^ *- record:' "$T_DIR/dash-rules.yml") expressions are valid PromQL"
	[ $st -eq 0 ] || sed 's/^/# /' "$T_DIR/check.out" | head -20
else
	skip "${PROMTOOL:+$NO_JQ}${PROMTOOL:-$NO_PROMTOOL}"
fi

# ---- the daemons: /health, and their pages against the files
status_of() { head -1 | awk '{ print $2 }'; }
body_of() { sed '1,/^$/d'; }
page() { http "$1" GET /metrics | body_of; }
# health_is PORT STATUS: /health answers STATUS (re-read on every try)
health_is() { [ "$(http "$1" GET /health | status_of)" = "$2" ]; }
health_body() { http "$1" GET /health | body_of; }
# the sample names of a page
names_of() { awk '!/^#/ && NF { sub(/[{ ].*/, "", $1); print $1 }' | sort -u; }

start_master --metrics-port 0
MPORT=$(metrics_port_of "$T_DIR/master.log")
start_node n1 64M --hugepages off --metrics-port 0 --data-listen 127.0.0.1 --heartbeat-interval-ms 100
NPORT=$(metrics_port_of "$T_DIR/n1.log")
diag "master port $MASTER_PORT, metrics $MPORT; node metrics $NPORT"

# the node is ready (start_node waited for its socket, which it opens once
# mounted); the master counts its segment from the mount on
master_ok() { [ "$(health_body "$MPORT")" = "ok: 1 node, 1 segment" ] && health_is "$MPORT" 200; }
wait_until 10 master_ok
ok $? "master: GET /health answers 200 \"$(health_body "$MPORT")\""
want="ok: segment \"n1-0\" mounted with master 127.0.0.1:$MASTER_PORT"
node_ok() { [ "$(health_body "$NPORT")" = "$want" ] && health_is "$NPORT" 200; }
wait_until 10 node_ok
ok $? "node: GET /health answers 200 \"$(health_body "$NPORT")\""
http "$NPORT" HEAD /health >"$T_DIR/head.out"
[ "$(status_of <"$T_DIR/head.out")" = 200 ] && [ -z "$(body_of <"$T_DIR/head.out")" ] &&
	grep -q "^Content-Length: $((${#want} + 1))$" "$T_DIR/head.out"
ok $? "node: HEAD /health answers 200, the length of the line, no body"

# traffic, so that the per-operation lines the dashboard uses exist
head -c 100000 /dev/urandom >"$T_DIR/v.bin"
ctl put k1 "$T_DIR/v.bin" && ctl put k2 "$T_DIR/v.bin" && ctl get k1 -o "$T_DIR/v.out" &&
	ctl exists k1 >/dev/null && ctl rm k2 && cmp -s "$T_DIR/v.bin" "$T_DIR/v.out"
ok $? "puts, a get, an exists and a remove"
# the counters are republished every 100 ms: wait for the last request
removed() { page "$MPORT" | grep -q '^mcstore_master_requests_total{op="REMOVE"} 1$'; }
wait_until 10 removed
{ page "$MPORT"; page "$NPORT"; } >"$T_DIR/pages"
names_of <"$T_DIR/pages" >"$T_DIR/served"
diag "$(wc -l <"$T_DIR/served") metrics served"

# unserved FILE: the mcstore metrics FILE names that no page serves
unserved() {
	grep -o 'mcstore_[a-z0-9_]*' "$1" | sort -u >"$T_DIR/used"
	[ -s "$T_DIR/used" ] || echo "no mcstore_ metric found in $1"
	comm -23 "$T_DIR/used" "$T_DIR/served"
}
unserved "$RULES" >"$T_DIR/missing"
check_empty "the $(wc -l <"$T_DIR/used") metrics the alert rules use are all served" "$T_DIR/missing"
unserved "$DASH" >"$T_DIR/missing"
check_empty "the $(wc -l <"$T_DIR/used") metrics the dashboard uses are all served" "$T_DIR/missing"
# (the JSON escapes the quotes: op=\"GET_REPLICAS\")
grep -o 'op=\\"[A-Z_]*\\"' "$DASH" | tr -d '\\' | sort -u >"$T_DIR/ops"
{
	[ -s "$T_DIR/ops" ] || echo "no op=\"...\" found in the dashboard"
	while read -r op; do
		grep -q "^mcstore_master_requests_total{$op} " "$T_DIR/pages" || echo "$op"
	done <"$T_DIR/ops"
} >"$T_DIR/missing"
check_empty "the $(wc -l <"$T_DIR/ops") operations the dashboard names are on the master's page" "$T_DIR/missing"

if [ -n "$PROMTOOL" ]; then
	# (promtool passes an empty page: there must be one)
	page "$MPORT" >"$T_DIR/m.page"
	[ -s "$T_DIR/m.page" ] && "$PROMTOOL" check metrics <"$T_DIR/m.page" >"$T_DIR/lint.out" 2>&1
	ok $? "promtool check metrics: the master's page"
	sed 's/^/# /' "$T_DIR/lint.out" | head -10
	page "$NPORT" >"$T_DIR/n.page"
	[ -s "$T_DIR/n.page" ] && "$PROMTOOL" check metrics <"$T_DIR/n.page" >"$T_DIR/lint.out" 2>&1
	ok $? "promtool check metrics: the node's page"
	sed 's/^/# /' "$T_DIR/lint.out" | head -10
else
	skip "$NO_PROMTOOL"
	skip "$NO_PROMTOOL"
fi

# ---- the master goes away, and comes back on the same port
stop_pid "$MASTER_PID"
wait_until 30 health_is "$NPORT" 503
st=$?
body=$(health_body "$NPORT")
re="^master 127\.0\.0\.1:$MASTER_PORT unreachable since [0-9-]+T[0-9:]+Z \(.+\); segment \"n1-0\" not mounted\$"
[ $st -eq 0 ] && [[ $body =~ $re ]]
ok $? "master stopped: the node's /health answers 503 \"$body\""
value() { page "$NPORT" | awk -v n="$1" '$1 == n { print $2 }'; }
[ "$(value mcstore_node_master_connected)" = 0 ] && [ "$(value mcstore_node_mounted)" = 0 ]
ok $? "and its page says it: mcstore_node_master_connected 0, mcstore_node_mounted 0"

start_master --port "$MASTER_PORT" --metrics-port 0
MPORT=$(metrics_port_of "$T_DIR/master.log")
wait_until 30 node_ok
ok $? "master restarted: the node's /health answers 200 again \"$(health_body "$NPORT")\""
wait_until 10 master_ok
ok $? "and the new master's \"$(health_body "$MPORT")\""

finish_daemons
