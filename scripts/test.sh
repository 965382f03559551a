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
# pkg/ (wasm + JS glue, gzip -9) may not grow: the budget is lowered as the data path shrinks
# (60,234 B when it was set: the JS class in its own crate, issue 17; issue 16 aimed at 40,000). Bytes are deterministic with the
# pinned toolchain (rust-toolchain.toml, Cargo.lock, package-lock.json).
# Issue 19: 68,718 -> 69,242 B (migrations ~+930 B; the glue's .wasm location, Node's read and a
# load error that says what to do +190 B; the sweeper's timer unref'd in Node; short names for
# wasm-bindgen's closure shims -329 B and for the snippets' imports -321 B).
# Issue 27: 69,242 -> 73,369 B, +4,127 B for integrity (the key check settled before every
# encrypted write, the upgrade that seals plaintext and format-2 records, additional data over
# every field but expiresAt, the lifetime cap on every read, tombstones, stores without
# encryption refusing an encrypted one, duplicated tabs' keys).
# Issue 29: 73,369 -> 101,941 B, +28,572 B for client sync, over the issue's +6,000 B budget
# (measured, and what would meet it, in BENCHMARKS.md "Issue 29"): the pass and its runtime
# ~17,900 B of the wasm (a build with the pass cut out: 75,404 B of wasm against 93,303), the
# queue rows written by every local write, pulls and answers applied in the engine, the options,
# events and bindings ~8,700 B, sync.js (fetch, the Web Lock, online) +1,300 B of glue.
# Then +2,929 B (101,941 -> 104,870 B): the wasm's allocator is Rust's default (dlmalloc) again
# instead of talc 5.1.1. A fresh-clone npm test trapped once with an out-of-bounds access inside
# talc's free-list code (deregister_gap, from a Vec allocation in a sync pass; the project has
# no unsafe code), and talc fixed wasm heap corruption as recently as 5.0.4 (talc PR #49).
SIZE_BUDGET=105000
# A bound on the JS tests, so that a hang fails instead of stalling CI; page waits have their own
# (an evaluate 60 s, a waitFor 15 s). node --test applies --test-timeout to each test *file* as a
# whole, and run-all.mjs is one file: this bounds an engine's whole JS run (3-4 min measured on a
# 2-core machine, over 5 under heavy load: at 300 s Firefox's was cut off, issue 27).
JS_TEST_TIMEOUT_MS=1200000
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
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --exclude wasm-session-store-server --all-targets --target wasm32-unknown-unknown -- -D warnings

step "docs build without broken links"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude wasm-session-store-server --no-deps --quiet --target wasm32-unknown-unknown

step "the library crate ships no JS class, no allocator and no test kit"
bash scripts/crate-hygiene.sh

step "native tests (conformance suite against MemoryStore, unit tests, doc examples)"
cargo test --workspace

step "sync server: its tests on memory, a real redis-server and a real 3-master Redis Cluster (started and stopped here)"
bash scripts/test-server.sh

step "sync server: target/server/wss-server (the server profile), which the client-sync tests start (scripts/sync-server.mjs: the JS tests; scripts/sync-test-runner.mjs: tests/sync_web.rs)"
bash scripts/build-server.sh

step "release build of pkg/, and its size budget (wasm + JS glue, gzip -9)"
bash scripts/build.sh
node scripts/size.mjs --budget "$SIZE_BUDGET"

step "the Rust example app (examples/cart): its release build and wasm-bindgen module (tests/js/example.test.mjs drives it in every engine)"
bash scripts/build-example.sh

step "TypeScript: the shipped declarations against the typed usage file and the README example"
npm run --silent typecheck

# WebKitGTK's MiniBrowser needs a display: a private Xvfb for this run, stopped on exit.
source scripts/engines.sh
trap 'stop_xvfb; rm -rf "$logs"' EXIT
if [[ " ${ENGINES[*]} " == *" webkit "* ]]; then start_xvfb; fi

# The JS tests that run in every engine (tests/js/*.test.mjs, in one process sharing one
# browser: tests/js/run-all.mjs); the Chromium-only ones (CDP) are in tests/js/chromium/.
js_tests=(tests/js/run-all.mjs)

# The library's browser suites, one test binary at a time (so that one failing does not skip the
# others), as `cargo test --tests` would run them.
rust_suites=("--lib")
for file in tests/*_web.rs; do rust_suites+=("--test $(basename "$file" .rs)"); done
# A suite (one test binary) in one engine, through scripts/wbg-attempt.mjs. The runner's page
# could stall loading its scripts, before any test or library code ran: "Loading scripts..." and,
# 609 s later, "Failed to detect test as having been run" (issue 27, item 18: a snippet request
# left unserved by the runner's HTTP server under load; the cause is in that file). It frees such
# a page after 1 s (the tests then run), and ends an attempt still stalled 4 s later (exit 75).
# Only such an attempt is retried, twice; any failure of an attempt whose tests started fails the
# suite.
# tests/sync_web.rs syncs with a real wss-server, which answers CORS for exact origins only:
# scripts/sync-test-runner.mjs runs the runner on a port it picks, with a server for that origin.
rust_suite() { # engine cargo-args...
  local engine=$1 attempt rc runner=()
  shift
  [[ " $* " == *" sync_web "* ]] && runner=("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=node $PWD/scripts/sync-test-runner.mjs")
  for attempt in 1 2 3; do
    rc=0
    node scripts/wbg-attempt.mjs env $(rust_test_env "$engine") "${runner[@]}" WASM_BINDGEN_TEST_TIMEOUT=300 \
      cargo test -p wasm-session-store --target wasm32-unknown-unknown "$@" 2>&1 || rc=$?
    [ "$rc" -eq 75 ] || return "$rc"
    echo "(the runner's page stalled before any test ran: attempt $attempt of 3)"
  done
  return 1
}

# "12 passed" from cargo's "test result:" lines, or node's "# pass" / "ℹ pass" lines.
count() { { grep -Eo "$2" "$1" || true; } | grep -Eo '[0-9]+' | awk '{ n += $1 } END { print n + 0 }'; }

# One engine at a time: its Rust browser suites, then its JS tests. (Engines side by side were
# measured slower on 2 cores: 402 s for Firefox and WebKit together against 375 s one after
# the other, cargo holding its build lock while a browser suite runs.)
for engine in "${ENGINES[@]}"; do
  version=$(node scripts/engines.mjs --version "$engine" 2>&1) || { failed+=("$engine: does not start: $version"); continue; }
  log="$logs/$engine.log"
  {
    step "$engine ($version): Rust browser suites (wasm-bindgen-test)"
    for suite in "${rust_suites[@]}"; do
      rust_suite "$engine" $suite || echo "FAILED: $engine: Rust browser suite $suite"
    done
    step "$engine ($version): JS-level tests against pkg/"
    if WSS_ENGINE=$engine node --test --test-reporter=spec --test-timeout="$JS_TEST_TIMEOUT_MS" \
        --test-concurrency=1 "${js_tests[@]}" 2>&1; then :
    else echo "FAILED: $engine: JS-level tests"; fi
  } 2>&1 | tee "$log"
  while IFS= read -r line; do failed+=("${line#FAILED: }"); done < <(grep '^FAILED: ' "$log" || true)
  # Cargo prints "test result: ok. 51 passed; 0 failed; ..." per binary, node "ℹ pass 67".
  summary+=("$(printf '%-9s %-28s Rust %4s passed %3s failed   JS %4s passed %3s failed' "$engine" "$version" \
    "$(count "$log" '[0-9]+ passed;')" "$(count "$log" '[0-9]+ failed;')" \
    "$(count "$log" '^ℹ pass [0-9]+')" "$(count "$log" '^ℹ fail [0-9]+')")")
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
