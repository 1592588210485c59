#!/bin/bash
# SPDX-License-Identifier: MIT
# Configure and build mcstore in build/ (or $1), with extra configure
# arguments after it. Regenerates the autotools files when needed. Says
# what it is doing, and shows that make moves (a dot per 10 of its steps);
# warnings and errors are shown in full.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	echo "build: generating configure (autoreconf)..."
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ]; then
	echo "build: configuring $dir..."
	"$top/configure" -q "$@"
fi
echo "build: compiling in $dir with make -j$(nproc) (the first time takes a few minutes)"
make -j"$(nproc)" | awk '{ if (++n % 10 == 0) { printf "."; fflush() } } END { if (n >= 10) print "" }'
echo "build: done: $(pwd)"
