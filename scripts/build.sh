#!/usr/bin/env bash
# Builds pkg/: the size-tuned release wasm, wasm-bindgen's ES module + .d.ts (web target), then
# wasm-opt -Oz from the npm `binaryen` package (never Debian's: its output fails to load).
# Prints the gzipped sizes. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never

cargo build --release --target wasm32-unknown-unknown --lib
rm -rf pkg
wasm-bindgen --target web --out-dir pkg target/wasm32-unknown-unknown/release/wasm_session_store.wasm
npx --no-install wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  --strip-debug --strip-producers \
  pkg/wasm_session_store_bg.wasm -o pkg/wasm_session_store_bg.wasm
node scripts/size.mjs
