#!/usr/bin/env bash
# Builds the Rust example app (examples/cart) for the browser: its wasm32 release build, then
# wasm-bindgen's ES module + .d.ts (web target) into target/examples/cart/, with the app's page
# (examples/cart/www/) next to it. tests/js/example.test.mjs serves that directory.
#   bash scripts/build-example.sh
# Expects scripts/setup.sh to have run (the wasm32 target and the wasm-bindgen CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
repo=$PWD
target_dir=${CARGO_TARGET_DIR:-$repo/target}
out=$repo/target/examples/cart

t0=$SECONDS
# A workspace member: the library's dependencies are already built by scripts/build.sh.
cargo build --release --target wasm32-unknown-unknown -p wasm-session-store-example-cart
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" \
  "$target_dir/wasm32-unknown-unknown/release/wasm_session_store_example_cart.wasm"
cp examples/cart/www/* "$out/"
echo "example: $out ($((SECONDS - t0)) s)"
