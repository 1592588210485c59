#!/bin/bash
# SPDX-License-Identifier: MIT
# Print the path of a promtool, Prometheus's checker of rules and metrics,
# for the tests (t-monitoring.sh), without installing Prometheus: Debian
# ships promtool only inside the prometheus package, whose installation
# would start a server. So: promtool from PATH if there is one, else the
# one unpacked (dpkg-deb -x) from that package into a cache, fetched once
# with apt-get download (the apt lists must be there: apt-get update).
#
#   scripts/promtool.sh [--no-fetch]   path on stdout; exit 1 with the
#                                      reason on stderr when none is had
#   MCS_CACHE_DIR  the cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/mcstore)
set -euo pipefail

fetch=1
[ "${1:-}" = "--no-fetch" ] && fetch=
if p=$(command -v promtool); then
	echo "$p"
	exit 0
fi
if [ -n "${MCS_CACHE_DIR:-}" ]; then
	cache=$MCS_CACHE_DIR
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
	cache=$XDG_CACHE_HOME/mcstore
elif [ -n "${HOME:-}" ]; then
	cache=$HOME/.cache/mcstore
else
	cache=${TMPDIR:-/tmp}/mcstore-cache-$(id -u)
fi
bin=$cache/promtool/usr/bin/promtool
if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi
if [ -z "$fetch" ]; then
	echo "promtool: not on PATH nor in $cache, and --no-fetch" >&2
	exit 1
fi
for t in apt-get dpkg-deb; do
	if ! command -v "$t" >/dev/null; then
		echo "promtool: $t is not installed" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcstore-promtool.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# as root apt drops to the _apt user to download, who cannot write in a
# private temporary directory
opts=()
[ "$(id -u)" -ne 0 ] || opts=(-o APT::Sandbox::User=root)
if ! (cd "$tmp" && apt-get download -q "${opts[@]}" prometheus) >"$tmp/log" 2>&1; then
	echo "promtool: apt-get download prometheus failed: $(grep -m1 '^E:' "$tmp/log" || tail -1 "$tmp/log")" >&2
	exit 1
fi
deb=$(ls "$tmp"/prometheus_*.deb)
dpkg-deb -x "$deb" "$tmp/root"
if ! "$tmp/root/usr/bin/promtool" --version >/dev/null 2>&1; then
	echo "promtool: the promtool of $(basename "$deb") does not run here" >&2
	exit 1
fi
mkdir -p "$(dirname "$bin")"
# rename into place: a test running beside this one sees all or nothing
cp "$tmp/root/usr/bin/promtool" "$bin.$$"
mv -f "$bin.$$" "$bin"
echo "$bin"
