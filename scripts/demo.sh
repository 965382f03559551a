#!/usr/bin/env bash
# Builds pkg/ and the sync server, serves the demo PWA (www/) on 127.0.0.1 and starts
# `wss-server --insecure-dev` (memory) for it to sync to (scripts/demo-sync.mjs), printing both
# URLs. PORT sets the demo's port (default 8080; the sync server takes a free one).
#   npm run demo                 build and serve until Ctrl-C
#   npm run demo -- --check      build, drive the demo once in headless Chromium (two tabs, a
#                                conflict, two devices syncing through offline edits and a
#                                conflict, an offline reload), print each step, exit non-zero
#                                if any failed; for machines without a screen
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") bash scripts/setup.sh --no-browser ;;
  --check) bash scripts/setup.sh --chromium ;;
  *) echo "usage: npm run demo [-- --check]" >&2; exit 2 ;;
esac
bash scripts/build.sh
bash scripts/build-server.sh
if [ "${1:-}" = "--check" ]; then
  exec node scripts/demo-check.mjs
fi
exec node scripts/demo-sync.mjs --port "${PORT:-8080}"
