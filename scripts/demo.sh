#!/usr/bin/env bash
# Builds pkg/ and serves the demo (www/) on 127.0.0.1, printing its URL. PORT sets the port
# (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-browser
bash scripts/build.sh
exec node scripts/serve.mjs --port "${PORT:-8080}"
