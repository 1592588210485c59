#!/bin/bash
# SPDX-License-Identifier: MIT
# The RDMA suite: boots one QEMU guest with Soft-RoCE (tests/rdma/rxe-guest.sh)
# and runs tests/rdma/in-guest.sh there, whose TAP this prints. Skipped,
# with the reason, where the guest cannot run (not root, no QEMU, built
# without libibverbs); MCS_RDMA_REQUIRED=1 turns each such skip into a
# failure, for a CI that must run it.
: "${MCS_BUILDDIR:?run through make check (MCS_BUILDDIR unset)}"
: "${MCS_SRCDIR:=$MCS_BUILDDIR/..}"
HERE=$MCS_SRCDIR/tests/rdma

not_here() {
	if [ "${MCS_RDMA_REQUIRED:-0}" = 1 ]; then
		echo "1..1"
		echo "not ok 1 - the RDMA suite cannot run (MCS_RDMA_REQUIRED=1): $*"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 0
}
[ -x "$MCS_BUILDDIR/tests/rdma/verbs-check" ] ||
	not_here "built without the RDMA transport (configure found no libibverbs-dev)"
why=$(bash "$HERE/rxe-guest.sh" why-not) || not_here "no test guest here: $why"
# the guest reads the build tree and writes its results there
out=$(mktemp -d "$MCS_BUILDDIR/tests/rdma/run.XXXXXX")
trap 'rm -rf "$out"' EXIT
if ! bash "$HERE/rxe-guest.sh" prepare >"$out/prepare.log" 2>&1; then
	cat "$out/prepare.log" >&2
	not_here "the guest's kernel could not be fetched (see above)"
fi
rc=0
MCS_RXE_SHARE=$out RDMA_OUT=$out \
	MCS_RXE_ENV="MCS_BUILDDIR MCS_SRCDIR RDMA_OUT ASAN_OPTIONS UBSAN_OPTIONS CK_DEFAULT_TIMEOUT" \
	bash "$HERE/rxe-guest.sh" run bash "$HERE/in-guest.sh" >"$out/tap" 2>"$out/err" || rc=$?
cat "$out/tap"
if [ "$rc" != 0 ]; then
	echo "# the guest's suite exited $rc" >&2
	cat "$out/err" >&2
	# a guest that died gives no plan: say so as a failure
	grep -q '^1\.\.' "$out/tap" || { echo "1..1"; echo "not ok 1 - the RDMA guest ran to its end (exit $rc)"; }
fi
exit "$rc"
