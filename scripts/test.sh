#!/usr/bin/env bash
# Every test: set-up, formatting, lints (native and wasm32), the native tests, then in each of
# Chromium, Firefox and WebKit (headless) the Rust browser suites (wasm-bindgen-test) and the
# engine-neutral JS tests against the built pkg/, then the Chromium-only tests that need the
# DevTools protocol. A failure in any engine fails the run; every engine runs regardless, and
# the summary at the end gives each engine's counts.
#   WSS_ENGINES="firefox webkit" npm test    only those engines (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
t0=$SECONDS
# pkg/ (wasm + JS glue) must stay within 80 KB gzipped: 80,000 bytes, the stricter reading.
SIZE_BUDGET=80000
# Every JS test gets a bound (a hang fails instead of stalling CI); page waits have their own.
JS_TEST_TIMEOUT_MS=300000
ENGINES=(${WSS_ENGINES:-chromium firefox webkit})
step() { echo; echo "=== [$((SECONDS - t0))s] $*"; }
logs=$(mktemp -d)
summary=()
failed=()

step "set-up (installs only what is missing)"
bash scripts/setup.sh

node -e 'const [a, b] = process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 11)) { console.error(`node ${process.version}: the tests need node >= 20.11 (node --test --test-timeout)`); process.exit(1); }'

step "rustfmt"
cargo fmt --check

step "clippy -D warnings: native, then wasm32"
cargo clippy --all-targets --features testing -- -D warnings
cargo clippy --all-targets --features testing --target wasm32-unknown-unknown -- -D warnings

step "docs build without broken links"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features testing --quiet

step "native tests (conformance suite against MemoryStore, unit tests, doc examples)"
cargo test --features testing

step "release build of pkg/, and its size budget (wasm + JS glue, gzip -9)"
bash scripts/build.sh
node scripts/size.mjs --budget "$SIZE_BUDGET"

step "TypeScript: the shipped declarations against the typed usage file and the README example"
npm run --silent typecheck

# WebKitGTK's MiniBrowser needs a display: a private Xvfb for this run, stopped on exit.
source scripts/engines.sh
trap 'stop_xvfb; rm -rf "$logs"' EXIT
if [[ " ${ENGINES[*]} " == *" webkit "* ]]; then start_xvfb; fi

# The JS tests that run in every engine; the Chromium-only ones (CDP) are in tests/js/chromium/.
js_tests=(tests/js/*.test.mjs)

# "12 passed" from cargo's "test result:" lines, or node's "# pass" / "ℹ pass" lines.
count() { { grep -Eo "$2" "$1" || true; } | grep -Eo '[0-9]+' | awk '{ n += $1 } END { print n + 0 }'; }

# One engine: its Rust browser suites, then its JS tests. Output goes to `$logs/$engine.log`
# (and to the terminal when `live`); the summary line and any failures to files, since the
# engines after the first run side by side in subshells.
run_engine() {
  local engine=$1 live=$2 log="$logs/$1.log" version
  local out=/dev/null
  [ "$live" = 1 ] && out=/dev/stdout
  : >"$logs/$engine.failed"
  if ! version=$(node scripts/engines.mjs --version "$engine" 2>&1); then
    echo "$engine: does not start: $version" >>"$logs/$engine.failed"
    echo "$version" >"$log"
    return
  fi
  {
    step "$engine ($version): Rust browser suites (wasm-bindgen-test)"
    if env $(rust_test_env "$engine") WASM_BINDGEN_TEST_TIMEOUT=300 \
        cargo test --features testing --target wasm32-unknown-unknown --tests 2>&1; then :
    else echo "$engine: Rust browser suites" >>"$logs/$engine.failed"; fi
    step "$engine ($version): JS-level tests against pkg/"
    if WSS_ENGINE=$engine node --test --test-reporter=spec --test-timeout="$JS_TEST_TIMEOUT_MS" \
        --test-concurrency=1 "${js_tests[@]}" 2>&1; then :
    else echo "$engine: JS-level tests" >>"$logs/$engine.failed"; fi
  } 2>&1 | tee "$log" >"$out"
  # Cargo prints "test result: ok. 51 passed; 0 failed; ..." per binary, node "ℹ pass 67".
  printf '%-9s %-28s Rust %4s passed %3s failed   JS %4s passed %3s failed\n' "$engine" "$version" \
    "$(count "$log" '[0-9]+ passed;')" "$(count "$log" '[0-9]+ failed;')" \
    "$(count "$log" '^ℹ pass [0-9]+')" "$(count "$log" '^ℹ fail [0-9]+')" >"$logs/$engine.summary"
}

# The first engine runs in view (and builds the wasm test binaries); the others then run side by
# side (WSS_PARALLEL_ENGINES=0: one after the other), their logs shown as each block ends.
# Two engines at once keep both cores busy while each waits on its browser: ~2 min less.
run_engine "${ENGINES[0]}" 1
rest=("${ENGINES[@]:1}")
if [ ${#rest[@]} -gt 0 ]; then
  if [ "${WSS_PARALLEL_ENGINES:-1}" = 1 ]; then
    step "${rest[*]}: side by side (each one's output follows when all are done)"
    pids=()
    for engine in "${rest[@]}"; do run_engine "$engine" 0 & pids+=($!); done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    for engine in "${rest[@]}"; do echo; echo "----- $engine -----"; cat "$logs/$engine.log"; done
  else
    for engine in "${rest[@]}"; do run_engine "$engine" 1; done
  fi
fi
for engine in "${ENGINES[@]}"; do
  summary+=("$(cat "$logs/$engine.summary" 2>/dev/null || echo "$engine: no summary")")
  while IFS= read -r line; do failed+=("$line"); done <"$logs/$engine.failed"
done

if [[ " ${ENGINES[*]} " == *" chromium "* ]]; then
  step "Chromium only (these need the DevTools protocol: the IndexedDB quota override, the demo's installability and offline checks, the benchmarks' timings)"
  cdp_log="$logs/chromium-cdp.log"
  if node --test --test-reporter=spec --test-timeout="$JS_TEST_TIMEOUT_MS" --test-concurrency=1 tests/js/chromium/*.test.mjs 2>&1 | tee "$cdp_log"; then :
  else failed+=("chromium: Chromium-only tests"); fi
  summary+=("$(printf '%-9s %-28s %24s   JS %4s passed %3s failed' chromium "(DevTools protocol only)" "" \
    "$(count "$cdp_log" '^ℹ pass [0-9]+')" "$(count "$cdp_log" '^ℹ fail [0-9]+')")")
fi

step "summary ($((SECONDS - t0)) s)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all passed"
