#!/bin/bash
# SPDX-License-Identifier: MIT
# The manual pages: each renders without a single warning (mandoc -T lint,
# and man --warnings, i.e. groff), documents every long option its
# program's --help lists (and the daemons accept every option their page
# documents), mcstore.conf(5) names every configuration key, libmcstore(3)
# covers every function of include/mcstore.h, and every page carries the
# package version.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

MAN=$MCS_SRCDIR/man
PAGES=(mcstored.8 mcstore-master.8 mcstorectl.1 mcstore-bench.1 libmcstore.3 mcstore-python.3 mcstore.conf.5 mcstore-protocol.7)

# a page's source with the roff escapes for dashes and fonts undone
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$1"; }
# the long options a program's --help lists
help_flags() { "$1" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
# the options a page documents as items of a list (.TP then .B/.BI/.BR --x)
page_flags() {
	plain "$1" | awk 'tp && /^\.B[IR]? / { print } { tp = /^\.TP/ }' |
		grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}
# missing WANT-LIST-FILE TEXT-FILE: the words of the list not in the text
missing() {
	local w
	while read -r w; do
		grep -qE -- "$w([^a-z0-9-]|\$)" "$2" || echo "$w"
	done <"$1"
}

tap_plan 27

# ---- rendering
if command -v mandoc >/dev/null; then
	for p in "${PAGES[@]}"; do
		mandoc -T lint "$MAN/$p" >"$T_DIR/lint.out" 2>&1
		st=$?
		[ $st -eq 0 ] && [ ! -s "$T_DIR/lint.out" ]
		ok $? "$p: mandoc -T lint reports nothing"
		sed 's/^/# /' "$T_DIR/lint.out"
	done
else
	for p in "${PAGES[@]}"; do skip "$p: mandoc is not installed"; done
fi
if command -v man >/dev/null && command -v groff >/dev/null; then
	for p in "${PAGES[@]}"; do
		LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l -Tutf8 -Z "$MAN/$p" 2>"$T_DIR/groff.out" >/dev/null
		st=$?
		[ $st -eq 0 ] && [ ! -s "$T_DIR/groff.out" ]
		ok $? "$p: man --warnings (groff) reports nothing"
		sed 's/^/# /' "$T_DIR/groff.out"
	done
else
	for p in "${PAGES[@]}"; do skip "$p: man-db or groff is not installed"; done
fi

# ---- options
for prog in "$NODE_BIN:mcstored.8" "$MASTER_BIN:mcstore-master.8" "$CTL:mcstorectl.1" \
	"$MCS_BUILDDIR/bench/mcstore-bench:mcstore-bench.1"; do
	bin=${prog%%:*} page=${prog#*:}
	help_flags "$bin" >"$T_DIR/flags"
	plain "$MAN/$page" >"$T_DIR/page"
	missing "$T_DIR/flags" "$T_DIR/page" >"$T_DIR/missing"
	[ -s "$T_DIR/flags" ] && [ ! -s "$T_DIR/missing" ]
	ok $? "$page documents all $(wc -l <"$T_DIR/flags") long options of $(basename "$bin") --help"
	sed 's/^/# undocumented: /' "$T_DIR/missing"
done
for prog in "$NODE_BIN:mcstored.8" "$MASTER_BIN:mcstore-master.8"; do
	bin=${prog%%:*} page=${prog#*:}
	page_flags "$MAN/$page" >"$T_DIR/documented"
	bad=
	while read -r f; do
		# --help comes second: getopt reports an unknown first option before
		# the program stops at --help
		"$bin" "$f=1" --help >/dev/null 2>"$T_DIR/err"
		grep -q "unrecognized option" "$T_DIR/err" && bad="$bad $f"
	done <"$T_DIR/documented"
	[ "$(wc -l <"$T_DIR/documented")" -ge 10 ] && [ -z "$bad" ]
	ok $? "$(basename "$bin") accepts all $(wc -l <"$T_DIR/documented") options $page documents"
	[ -z "$bad" ] || diag "not accepted:$bad"
done

# ---- configuration keys
plain "$MAN/mcstore.conf.5" >"$T_DIR/conf5"
for bin in "$NODE_BIN" "$MASTER_BIN"; do
	help_flags "$bin" | sed 's/^--//' | grep -vxE 'help|version|config|no-config|parent-fd' >"$T_DIR/keys"
	# each key as a word of its own in the page (.BR key ,)
	bad=
	while read -r k; do
		grep -qE "^\.BR? $k( |$)" "$T_DIR/conf5" || bad="$bad $k"
	done <"$T_DIR/keys"
	[ -s "$T_DIR/keys" ] && [ -z "$bad" ]
	ok $? "mcstore.conf.5 names all $(wc -l <"$T_DIR/keys") keys of $(basename "$bin")"
	[ -z "$bad" ] || diag "missing:$bad"
done

# ---- the library
grep -oE '\bmcs_[a-z0-9_]+\(' "$MCS_SRCDIR/include/mcstore.h" | tr -d '(' | sort -u >"$T_DIR/funcs"
plain "$MAN/libmcstore.3" >"$T_DIR/lib3"
bad=
while read -r f; do
	name=$(sed -n '/^\.SH NAME/,/^\.SH/p' "$T_DIR/lib3" | grep -cE "(^|[ ,])$f(,|$)")
	proto=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH/p' "$T_DIR/lib3" | grep -cE "[ *]$f\(")
	desc=$(sed -n '/^\.SH DESCRIPTION/,$p' "$T_DIR/lib3" | grep -cE "^\.BR $f \(\)")
	[ "$name" -ge 1 ] && [ "$proto" -ge 1 ] && [ "$desc" -ge 1 ] || bad="$bad $f"
done <"$T_DIR/funcs"
[ -s "$T_DIR/funcs" ] && [ -z "$bad" ]
ok $? "libmcstore.3 names, declares and describes all $(wc -l <"$T_DIR/funcs") functions of mcstore.h"
[ -z "$bad" ] || diag "missing or incomplete:$bad"
sed -n '/^\.SH SYNOPSIS/,/^\.SH/p' "$T_DIR/lib3" | grep -oE '\bmcs_[a-z0-9_]+\(' | tr -d '(' | sort -u >"$T_DIR/declared"
comm -13 "$T_DIR/funcs" "$T_DIR/declared" >"$T_DIR/extra"
[ ! -s "$T_DIR/extra" ]
ok $? "libmcstore.3 declares no function mcstore.h lacks"
sed 's/^/# not in mcstore.h: /' "$T_DIR/extra"

# ---- version
version=$("$CTL" --version | awk '{ print $2 }')
bad=
for p in "${PAGES[@]}"; do
	grep -q "^\.TH .* \"mcstore $version\" " "$MAN/$p" || bad="$bad $p"
done
[ -n "$version" ] && [ -z "$bad" ]
ok $? "every page says mcstore $version in its .TH line"
[ -z "$bad" ] || diag "other version in:$bad"
