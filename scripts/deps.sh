#!/bin/bash
# SPDX-License-Identifier: MIT
# Install, from Debian's archive, whatever of mcstore's build and test
# dependencies is missing. Safe to run again: it installs nothing when all
# is there. Needs root (or sudo) only when something is missing.
set -euo pipefail

PKGS=(
	gcc make autoconf automake libtool pkg-config
	liburing-dev libxxhash-dev check
	procps
	libsystemd-dev
	# USDT probes, and the eBPF telemetry of mcstorectl top (optional in
	# configure: without them top says it was built without BPF)
	systemtap-sdt-dev libbpf-dev bpftool clang
	# the man page, packaging and unit tests (t-manpages, t-package)
	mandoc man-db groff-base
	dpkg-dev debhelper
	rpm cpio
	systemd
	# bench/compare only (never make check): the peers and their C clients
	redis-server memcached libhiredis-dev libmemcached-dev
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
