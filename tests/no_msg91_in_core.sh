#!/bin/sh
# server/ and upstream/ know nothing of MSG91: every tool, field, text and
# default that is MSG91's is declared under tools/ (doc/tools.md). Fails
# listing each line of code (comments are skipped) that names a tool from
# tools/table.c or an MSG91 word. The product's own names stay allowed: the
# program name msg91-mcp and the MSG91_ prefix of its settings and macros.
# Usage: no_msg91_in_core.sh SOURCE_DIR
set -eu
src=$1

names=$(sed -n 's/^ *\.name = "\([a-z_0-9]*\)",$/\1/p' "$src/tools/table.c")
if [ -z "$names" ]; then
    echo "no tool names found in $src/tools/table.c" >&2
    exit 1
fi
words="authkey otp mobile template_id campaign segmento msg91"
pattern=$(printf '%s\n' $names $words | paste -sd '|' -)

# The code of a C file with its comments blanked (line numbers kept) and
# the allowed product names removed.
code_of() {
    perl -0777 -pe '
        s{("(?:\\.|[^"\\\n])*"|\x27(?:\\.|[^\x27\\\n])*\x27)|/\*.*?\*/|//[^\n]*}
         {defined $1 ? $1 : "\n" x (() = $& =~ /\n/g)}gse;
        s/msg91-mcp|MSG91_//g;' "$1"
}

hits=0
for f in "$src"/server/*.[ch] "$src"/upstream/*.[ch]; do
    out=$(code_of "$f" | grep -n -i -E "$pattern" || true)
    if [ -n "$out" ]; then
        printf '%s\n' "$out" | sed "s|^|${f#"$src"/}:|" >&2
        hits=$((hits + $(printf '%s\n' "$out" | wc -l)))
    fi
done
if [ "$hits" -gt 0 ]; then
    echo "$hits line(s) of server/ or upstream/ name a tool or an MSG91 field;" \
        "declare the fact under tools/ instead" >&2
    exit 1
fi
