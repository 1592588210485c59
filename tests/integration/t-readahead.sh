#!/bin/bash
# SPDX-License-Identifier: MIT
# libmcstore reads answers through a read-ahead buffer, and a frame is
# taken only once whole: a request that times out in the middle of its
# answer leaves the partial frame buffered, and the next request skips the
# late answer by request id. An answer that carries an fd (BUF_ALLOC: a
# memfd by SCM_RIGHTS on its first byte) must then be read without any
# recv reaching past the late frame, or the fd is dropped and the link
# falls out of step. fake-daemon plays the node daemon with a scripted
# timing (see its header) against a real libmcstore client it forks:
#   split     late EXIST cut in its header; rest, then 50 ms later the answer
#   together  the same, both already queued before the client asks
#   body      late STAT cut in its body; both queued before the client asks
# No real daemon takes part.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 28

# step VARIANT NAME DESCRIPTION: ok if fake-daemon printed "ok NAME"
step() {
	local out=$T_DIR/$1.out
	if grep -qx "ok $2" "$out"; then
		ok 0 "$1: $3"
	else
		ok 1 "$1: $3"
		grep -E "^not ok $2:" "$out" | sed 's/^/# /'
		sed 's/^/# /' "$T_DIR/$1.log" | head -20
	fi
}

for v in split together body; do
	late="an EXIST"
	[ $v = body ] && late="a STAT"
	timeout 120 "$TESTBIN/fake-daemon" "$T_DIR/$v.sock" $v >"$T_DIR/$v.out" 2>"$T_DIR/$v.log"
	st=$?
	step $v connect "HELLO answered with a memfd: the client connects and maps it"
	step $v timeout "$late answered in part times out (-ETIMEDOUT) after the 2 s timeout"
	step $v alloc "mcs_buffer_alloc after the late frame gets the memfd and maps the fake's bytes"
	step $v order "BUF_ALLOC came with the next request id and the asked size"
	step $v shared "what the client wrote in the buffer shows in the fake's mapping"
	step $v after "a later mcs_exists gets its own answer (the link stayed in step)"
	step $v free "mcs_buffer_free sends BUF_FREE naming the buffer"
	step $v done "the client closed the link and exited 0"
	ok $st "$v: fake-daemon exited 0 (every step of both sides passed)"
done
logs_clean >/dev/null
ok $? "no sanitizer report from the fake or the client"
