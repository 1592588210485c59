#!/bin/bash
# SPDX-License-Identifier: MIT
# Run one libFuzzer binary (tests/fuzz/fuzz-X.fuzz, the test make check
# names) for MCS_FUZZ_SECONDS (default 30) from its seed corpus
# tests/fuzz/corpus/X/, and say in TAP how many inputs it ran. New inputs
# go to a scratch corpus in the build tree (the committed one is only
# read); a crash, a leak, a broken invariant or a hang (-timeout) fails the
# test and leaves the input as tests/fuzz/X-crash-* (X-timeout-*, X-leak-*) in the build tree, to
# be replayed with `fuzz-X.fuzz FILE` and added to the corpus once fixed.
set -u
bin=$1
name=$(basename "$bin" .fuzz)
target=${name#fuzz-}
src=${MCS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
seeds=$src/tests/fuzz/corpus/$target
secs=${MCS_FUZZ_SECONDS:-30}
dir=$(dirname "$bin")
work=$dir/$name.corpus
log=$dir/$name.fuzzlog
echo "1..1"
if [ ! -d "$seeds" ]; then
	echo "not ok 1 - $target: no seed corpus $seeds"
	exit 0
fi
mkdir -p "$work"
# libFuzzer's own sanitizer settings: abort on the first error, keep leaks
# fatal; one job, on one core
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
	-artifact_prefix="$dir/$target-" "$work" "$seeds" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if [ $rc -eq 0 ]; then
	echo "ok 1 - $target: ${execs:-?} executions in $secs s"
else
	echo "not ok 1 - $target: libFuzzer exit $rc after ${execs:-?} executions; input: $(ls -t "$dir/$target"-* 2>/dev/null | head -1)"
	grep -E 'ERROR|SUMMARY|failed|==[0-9]+==' "$log" | head -20 | sed 's/^/# /'
fi
exit 0
