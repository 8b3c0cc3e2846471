#!/bin/sh
# Installs the pinned test dependencies from package-lock.json (npm ci) and
# runs the Node end-to-end tests. Environment:
#   MSG91_MCP_BIN     the server binary (default ../../build/msg91-mcp from here)
#   MSG91_SHARED_DIR  the shared folder with mcp-schema/ (default ../../../shared from here)
set -eu
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1; then
    echo "run.sh: node is not installed (Debian: apt-get install nodejs; Node 20 or newer)" >&2
    exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "run.sh: npm is not installed (Debian: apt-get install npm); it is needed to install the pinned test packages" >&2
    exit 1
fi
bin="${MSG91_MCP_BIN:-$(cd ../.. && pwd)/build/msg91-mcp}"
export MSG91_MCP_BIN="$bin"
if [ ! -x "$bin" ]; then
    echo "run.sh: the server binary $bin does not exist; build it (meson setup build && ninja -C build) or set MSG91_MCP_BIN" >&2
    exit 1
fi

npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-concurrency=1 --test-timeout=120000 *.test.mjs
