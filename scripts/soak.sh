#!/usr/bin/env bash
# `npm run soak`: the reliability tests at soak size. The model-based test with 50,000 native
# cases (WSS_MODEL_CASES) and 20 more seeds of 400 cases per browser backend (WSS_MODEL_SEEDS),
# then the multi-page fault and storm tests SOAK_ROUNDS times (default 10), each round also
# running the leader handover storm three at once. Takes ~10 min.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
bash scripts/setup.sh
bash scripts/build.sh

echo "=== model, natively: ${WSS_MODEL_CASES:=50000} cases"
WSS_MODEL_CASES=$WSS_MODEL_CASES cargo test -q --features testing --test memory_native \
  memory_store_matches_the_model -- --nocapture

echo "=== model, in Chromium: ${WSS_MODEL_SEEDS:=20} extra seeds per backend"
WSS_MODEL_SEEDS=$WSS_MODEL_SEEDS \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
CHROMEDRIVER="$(command -v chromedriver)" \
WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/webdriver.json" \
WASM_BINDGEN_TEST_TIMEOUT=1800 \
  cargo test --features testing --target wasm32-unknown-unknown --tests model -- --nocapture

for round in $(seq 1 "${SOAK_ROUNDS:=10}"); do
  echo "=== pages and workers: round $round/$SOAK_ROUNDS"
  node --test tests/js/faults.test.mjs tests/js/cross-tab.test.mjs
  # The leader handover storm three at a time: load is how its lost-answer bug showed
  # (RELIABILITY.md, "Bugs found and fixed").
  pids=()
  for copy in 1 2 3; do
    node --test --test-name-pattern="leader page closes" tests/js/cross-tab.test.mjs &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
done
echo "=== soak passed"
