#!/bin/bash
# SPDX-License-Identifier: MIT
# The bash completion of mcstorectl (ctl/completion/mcstorectl), driven as
# bash drives it: COMP_WORDS and COMP_CWORD set, the function called,
# COMPREPLY read. Its commands and options are checked against
# mcstorectl's own --help, so the two cannot drift apart.
. "${MCS_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

tap_plan 14
# the completion calls "mcstorectl" by name: the one of this build
mkdir -p "$T_DIR/bin"
ln -s "$CTL" "$T_DIR/bin/mcstorectl"
PATH=$T_DIR/bin:$PATH
. "$MCS_SRCDIR/ctl/completion/mcstorectl"

# complete WORD...: the candidates for the last word, one per line, sorted
complete_line() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_mcstorectl
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}

complete -p mcstorectl 2>/dev/null | grep -q -- "-F _mcstorectl mcstorectl$"
ok $? "the script registers _mcstorectl for mcstorectl"

# every command of --help, and nothing else
"$CTL" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p; s/^  \([a-z][a-z-]*\)$/\1/p' |
	sort >"$T_DIR/help-cmds"
echo help >>"$T_DIR/help-cmds"
sort -o "$T_DIR/help-cmds" "$T_DIR/help-cmds"
complete_line mcstorectl "" >"$T_DIR/comp-cmds"
[ -s "$T_DIR/help-cmds" ] && cmp -s "$T_DIR/help-cmds" "$T_DIR/comp-cmds"
ok $? "the commands offered are those of mcstorectl --help ($(tr '\n' ' ' <"$T_DIR/comp-cmds"))"
diff "$T_DIR/help-cmds" "$T_DIR/comp-cmds" | sed 's/^/# /'

[ "$(complete_line mcstorectl st)" = "stat" ]
ok $? "a prefix completes to its command"

# each command's options, as its --help usage line names them
bad=
: >"$T_DIR/opts-all"
for cmd in $(grep -vx help "$T_DIR/help-cmds"); do
	"$CTL" "$cmd" --help 2>/dev/null | head -1 | grep -oE -- '--[a-z][a-z-]*' | sort -u >"$T_DIR/opts-$cmd"
	cat "$T_DIR/opts-$cmd" >>"$T_DIR/opts-all"
	# after "--" come arguments: no option is offered there
	complete_line mcstorectl "$cmd" -- - | grep -q -- '^--' && bad="$bad $cmd(after --)"
	complete_line mcstorectl "$cmd" - >"$T_DIR/comp-$cmd"
	comm -23 "$T_DIR/opts-$cmd" "$T_DIR/comp-$cmd" | grep -q . && bad="$bad $cmd"
done
[ -s "$T_DIR/opts-all" ] && [ -z "$bad" ]
ok $? "every option of every command's usage is offered ($(sort -u "$T_DIR/opts-all" | wc -l) options)"
[ -z "$bad" ] || diag "missing for:$bad"
complete_line mcstorectl put k --rep | grep -qx -- --replicas
ok $? "put --rep completes to --replicas"
complete_line mcstorectl put k --ups | grep -qx -- --upsert
ok $? "put --ups completes to --upsert"
complete_line mcstorectl stat --so | grep -qx -- --socket
ok $? "the global --socket is offered after a command too"

# files where a file goes
touch "$T_DIR/file-one" "$T_DIR/file-two"
[ "$(complete_line mcstorectl put key "$T_DIR/file-o")" = "$T_DIR/file-one" ]
ok $? "put KEY completes FILE from the file system"
[ "$(complete_line mcstorectl get key -o "$T_DIR/file-t")" = "$T_DIR/file-two" ]
ok $? "get -o completes a file"
[ -z "$(complete_line mcstorectl put "$T_DIR/file-o")" ]
ok $? "put's KEY (a new key) is not completed from files"

# keys where a key goes, asked of the daemon the line names
start_master
start_node n1 16M --hugepages off
for k in alpha-1 alpha-2 beta-1; do ctl put "$k" /etc/hostname; done
[ "$(complete_line mcstorectl --socket "$NODE_SOCK" get alp | tr '\n' ' ')" = "alpha-1 alpha-2 " ]
ok $? "get completes stored keys from the node (--socket on the line)"
[ "$(MCSTORE_SOCKET=$NODE_SOCK complete_line mcstorectl rm --force be)" = "beta-1" ]
ok $? "rm completes keys (\$MCSTORE_SOCKET), after its options"

finish_daemons
