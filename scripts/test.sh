#!/usr/bin/env bash
# Every test: set-up, formatting, lints (native and wasm32), the conformance suite natively and
# in headless Chromium, the release build with its size, and the JS-level browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
t0=$SECONDS
# pkg/ (wasm + JS glue) must stay within 80 KB gzipped: 80,000 bytes, the stricter reading.
SIZE_BUDGET=80000
step() { echo; echo "=== [$((SECONDS - t0))s] $*"; }

step "set-up (installs only what is missing)"
bash scripts/setup.sh

step "rustfmt"
cargo fmt --check

step "clippy -D warnings: native, then wasm32"
cargo clippy --all-targets --features testing -- -D warnings
cargo clippy --all-targets --features testing --target wasm32-unknown-unknown -- -D warnings

step "docs build without broken links"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features testing --quiet

step "native tests (conformance suite against MemoryStore, unit tests, doc examples)"
cargo test --features testing

step "browser tests: wasm-bindgen-test in headless Chromium"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
CHROMEDRIVER="$(command -v chromedriver)" \
WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/webdriver.json" \
WASM_BINDGEN_TEST_TIMEOUT=120 \
  cargo test --features testing --target wasm32-unknown-unknown --tests

step "release build of pkg/, and its size budget (wasm + JS glue, gzip -9)"
bash scripts/build.sh
node scripts/size.mjs --budget "$SIZE_BUDGET"

step "TypeScript: the shipped declarations against the typed usage file and the README example"
npm run --silent typecheck

step "JS-level tests against pkg/ in headless Chromium"
node --test tests/js/

step "all passed"
