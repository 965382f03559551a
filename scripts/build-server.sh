#!/usr/bin/env bash
# Builds the sync server's release binary, target/server/wss-server (the `server` profile:
# optimised, and a handler's panic is its 500 rather than an abort), which the demo, the JS sync
# tests and the benchmarks start (scripts/sync-server.mjs). Cargo skips it when it is current.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
cargo build --quiet -p wasm-session-store-server --profile server
