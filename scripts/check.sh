#!/bin/bash
# SPDX-License-Identifier: MIT
# README command two: install what is missing (scripts/deps.sh test),
# build, and run the whole test suite (Check unit tests and integration
# tests with the real daemons) under AddressSanitizer +
# UndefinedBehaviorSanitizer, then a plain -Werror build's `make
# distcheck`. Ends with one line:
#   N passed, N failed, N skipped
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

"$top/scripts/deps.sh" test || exit 1

count() {
	# sum the results of every test case from automake's .trs files
	local dir=$1
	local pass fail skip
	pass=$(cat $(find "$dir" -name '*.trs') /dev/null | grep -cE '^:test-result: (PASS|XFAIL)')
	fail=$(cat $(find "$dir" -name '*.trs') /dev/null | grep -cE '^:test-result: (FAIL|XPASS|ERROR)')
	skip=$(cat $(find "$dir" -name '*.trs') /dev/null | grep -cE '^:test-result: SKIP')
	echo "$pass $fail $skip"
}

status=0
echo "== sanitizer build (ASan + UBSan) and test suite"
if ! "$top/scripts/build.sh" build-san --enable-sanitizers; then
	echo "check: sanitizer build failed"
	exit 1
fi
find build-san -name '*.trs' -delete
( cd build-san && make -j"$(nproc)" check ) || status=1
# show failures in full
for log in $(grep -lE '^:test-result: (FAIL|XPASS|ERROR)' $(find build-san -name '*.trs') /dev/null 2>/dev/null); do
	echo "---- ${log%.trs}.log"
	cat "${log%.trs}.log"
done
read -r P F S < <(count build-san)

echo "== plain build and make distcheck"
if "$top/scripts/build.sh" build && (cd build && make -j"$(nproc)" distcheck >distcheck.log 2>&1); then
	echo "distcheck: OK"
else
	echo "distcheck: FAILED (tail of build/distcheck.log follows)"
	tail -60 build/distcheck.log
	status=1
	# a failed distcheck leaves its tree: show its failed tests in full
	# and count them in the final line, which sums the whole suite
	DF=0
	dtree=$(find build -maxdepth 2 -type d -name _build 2>/dev/null | head -1)
	if [ -n "$dtree" ]; then
		for log in $(grep -lE '^:test-result: (FAIL|XPASS|ERROR)' $(find "$dtree" -name '*.trs') /dev/null 2>/dev/null); do
			echo "---- distcheck: ${log%.trs}.log"
			cat "${log%.trs}.log"
		done
		read -r _ DF _ < <(count "$dtree")
	fi
	# no test result failed: the build, install or dist step did; count it
	[ "$DF" -gt 0 ] || DF=1
	echo "distcheck: $DF failed"
	F=$((F + DF))
fi

if [ "$P" -eq 0 ]; then
	echo "check: no test ran"
	status=1
fi
[ "$F" -eq 0 ] || status=1
echo "$P passed, $F failed, $S skipped"
exit $status
