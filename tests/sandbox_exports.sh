#!/bin/sh
# The loadable sandbox module promises one dynamic symbol, its entry point
# (sandbox/module.h). Fails when it exports anything else, or when the
# server can no longer load it through that symbol.
# Usage: sandbox_exports.sh NM MODULE SERVER
set -eu
nm=$1
module=$2
server=$3
want=msg91_sandbox_module_api

got=$("$nm" -D --defined-only "$module" | awk '{ print $NF }' | sort)
if [ "$got" != "$want" ]; then
    echo "$module exports $(printf '%s\n' "$got" | wc -l) symbols, want only $want:" >&2
    printf '%s\n' "$got" >&2
    exit 1
fi

# The server finds the table by name and serves one call from the sandbox.
out=$(MSG91_SANDBOX_MODULE="$module" MSG91_AUTH_KEY=exports-test-key \
    "$server" --sandbox call list_campaigns '{"limit":1}')
case $out in
*'"total":32}}') ;;
*)
    echo "unexpected answer through the module: $out" >&2
    exit 1
    ;;
esac
