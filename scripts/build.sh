#!/bin/bash
# SPDX-License-Identifier: MIT
# Configure and build mcstore in build/ (or $1), with extra configure
# arguments after it. Regenerates the autotools files when needed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ]; then
	"$top/configure" -q "$@"
fi
make -j"$(nproc)" >/dev/null
echo "build: $top/$dir"
