#!/bin/bash
# SPDX-License-Identifier: MIT
# Build mcstore's binary packages from this source tree:
#
#   packaging/build.sh deb OUTDIR   # dpkg-buildpackage -us -uc -b
#   packaging/build.sh rpm OUTDIR   # rpmbuild -bb
#
# The tree is copied (without .git and build directories) into a scratch
# directory, so the source tree is left as it was; the packages land in
# OUTDIR, the build log in OUTDIR/build-{deb,rpm}.log. Extra arguments for
# the builder come from $DPKG_BUILDPACKAGE_ARGS or $RPMBUILD_ARGS; the
# usual DEB_BUILD_OPTIONS (nocheck, parallel=N) apply.
set -euo pipefail

usage() {
	echo "usage: $0 deb|rpm OUTDIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
kind=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
ver=$(sed -n 's/^AC_INIT(\[mcstore\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
[ -n "$ver" ] || { echo "$0: no version in $top/configure.ac" >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mcstore-pkg.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
src=$scratch/mcstore-$ver
mkdir "$src"
# a directory holding config.status is a build tree; make distcheck's
# _build and _inst live inside its source tree
tar -C "$top" --exclude-vcs --exclude-tag-all=config.status --exclude=./autom4te.cache \
	--exclude=./_build --exclude=./_inst --exclude='./mcstore-*.tar.gz' -cf - . | tar -C "$src" -xf -
if [ ! -f "$src/configure.ac" ]; then
	echo "$0: $top is configured in place; build the packages from a clean tree" >&2
	exit 1
fi

case $kind in
deb)
	cp -a "$src/packaging/debian" "$src/debian"
	log=$out/build-deb.log
	# shellcheck disable=SC2086
	if ! (cd "$src" && dpkg-buildpackage -us -uc -b ${DPKG_BUILDPACKAGE_ARGS:-}) >"$log" 2>&1; then
		tail -40 "$log" >&2
		echo "$0: dpkg-buildpackage failed; the whole log is $log" >&2
		exit 1
	fi
	cp "$scratch"/*.deb "$out"/
	;;
rpm)
	log=$out/build-rpm.log
	mkdir -p "$scratch/rpm"
	tar -C "$scratch" -czf "$scratch/mcstore-$ver.tar.gz" "mcstore-$ver"
	args=()
	# BuildRequires name RPM packages; where no RPM database knows them
	# (rpm on Debian), they cannot be checked
	rpm -q rpm >/dev/null 2>&1 || args+=(--nodeps)
	# shellcheck disable=SC2086
	if ! rpmbuild -bb "${args[@]}" ${RPMBUILD_ARGS:-} --define "_topdir $scratch/rpm" \
		--define "_sourcedir $scratch" "$src/packaging/rpm/mcstore.spec" >"$log" 2>&1; then
		tail -40 "$log" >&2
		echo "$0: rpmbuild failed; the whole log is $log" >&2
		exit 1
	fi
	find "$scratch/rpm/RPMS" -name '*.rpm' -exec cp {} "$out"/ \;
	;;
*)
	usage
	;;
esac
ls "$out"/*."$kind"
