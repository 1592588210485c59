#!/bin/bash
# SPDX-License-Identifier: MIT
# The Python package's tests (tests/python/test_*.py) under pytest, against
# a real mcstore-master and mcstored from the build tree (conftest.py),
# with the package from build/python/site: each pytest case is one TAP
# line. Skipped as a whole when the package was not built (configure found
# no Python headers) or pytest is missing.
set -u
BUILD=${MCS_BUILDDIR:?}
SRC=${MCS_SRCDIR:?}
PY=$(sed -n 's/^PYTHON = //p' "$BUILD/Makefile")
if [ ! -f "$BUILD/python/site/.stamp" ] || [ -z "$PY" ]; then
	echo "1..0 # SKIP the Python package is not built (configure --enable-python needs python3-dev)"
	exit 0
fi
if ! "$PY" -c 'import pytest' 2>/dev/null; then
	echo "1..0 # SKIP $PY has no pytest (python3-pytest)"
	exit 0
fi
export PYTHONPATH=$BUILD/python/site MCS_BUILDDIR=$BUILD
export MCSTORE_MCSTORED=$BUILD/daemon/mcstored
export PYTHONDONTWRITEBYTECODE=1
# an instrumented core (--enable-sanitizers) loads its runtime first;
# Python's own allocations are not ours to report
if grep -q -- '-fsanitize=address' "$BUILD/Makefile" 2>/dev/null; then
	LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
	export LD_PRELOAD ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
fi
exec 3>&1
cd "$SRC/tests/python" || exit 1
MCS_TAP_FD=3 "$PY" -m pytest -p no:terminal -p no:cacheprovider "$@" >&2
