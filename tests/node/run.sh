#!/bin/sh
# Runs the Node end-to-end tests (official MCP SDK, Inspector CLI,
# conformance suite) under the pinned Node 22 that scripts/node-runtime
# installs, whatever `node` is on PATH. The test packages are installed
# from package-lock.json with `npm ci`, but only when the lockfile (or the
# runtime) changed since the last install, so a second run spends no time
# on it. Environment:
#   MSG91_MCP_BIN  the server binary (default ../../build/msg91-mcp from here)
#   MSG91_NODE     a Node.js 22.19+ binary to use instead of the pinned one
#                  (its npm must be on PATH beside it)
set -eu
cd "$(dirname "$0")"

if [ -n "${MSG91_NODE:-}" ]; then
    bindir="$(dirname "$MSG91_NODE")"
else
    bindir="$(../../scripts/node-runtime)/bin"
fi
# Child processes (npm's scripts, the Inspector, supergateway) find the
# same node first on PATH.
PATH="$bindir:$PATH"
export PATH
# Node trusts only its own CA list; let npm also trust the CAs the machine
# trusts (curl and apt do), as a machine behind a TLS-inspecting proxy needs.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
    export NODE_EXTRA_CA_CERTS
fi

bin="${MSG91_MCP_BIN:-$(cd ../.. && pwd)/build/msg91-mcp}"
export MSG91_MCP_BIN="$bin"
if [ ! -x "$bin" ]; then
    echo "run.sh: the server binary $bin does not exist; build it (meson setup build && ninja -C build) or set MSG91_MCP_BIN" >&2
    exit 1
fi

stamp="$(sha256sum package-lock.json | cut -c1-64) $("$bindir/node" --version)"
if [ ! -f node_modules/.msg91-stamp ] || [ "$(cat node_modules/.msg91-stamp)" != "$stamp" ]; then
    echo "tests/node: npm ci: installing the test packages of package-lock.json" >&2
    "$bindir/npm" ci --no-audit --no-fund --loglevel=error
    echo "$stamp" >node_modules/.msg91-stamp
fi
exec "$bindir/node" --test --test-concurrency=1 --test-timeout=120000 *.test.mjs
