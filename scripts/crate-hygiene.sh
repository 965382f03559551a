#!/usr/bin/env bash
# What a Rust app gets when it depends on the library crate (issue 17): no test code or test
# dependencies, no JS class, no allocator. Run by npm test after the docs are built
# (`cargo doc --workspace`, natively and for wasm32); the example app's test checks the wasm
# side (its exports and its own allocator).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
target=${CARGO_TARGET_DIR:-target}
fail=0

# The library's dependencies, without dev-dependencies, natively and for wasm32.
tree=$(cargo tree -p wasm-session-store -e normal,build --prefix none
  cargo tree -p wasm-session-store -e normal,build --prefix none --target wasm32-unknown-unknown)
for crate in proptest pollster wasm-session-store-testing wasm-session-store-js; do
  if grep -q "^$crate v" <<<"$tree"; then
    echo "crate-hygiene: the library depends on $crate (cargo tree -p wasm-session-store -e normal)"
    fail=1
  fi
done

# Its docs, native and wasm32: no JS class, no conformance kit.
for doc in "$target/doc/wasm_session_store" "$target/wasm32-unknown-unknown/doc/wasm_session_store"; do
  if [ ! -f "$doc/index.html" ]; then
    echo "crate-hygiene: $doc/index.html is missing (run cargo doc --workspace first)"
    fail=1
    continue
  fi
  if hits=$(grep -rlE 'JsSessionStore|conformance_tests|mute_answers|__private|global_allocator' "$doc"); then
    echo "crate-hygiene: the library's docs show the JS class or test code:"
    echo "$hits"
    fail=1
  fi
done

# No #[wasm_bindgen] export and no #[global_allocator] in the library's source (imports of JS
# are fine): those belong to crates/js.
if hits=$(grep -rnE '#\[global_allocator\]|#\[wasm_bindgen\((js_class|js_name|getter|start)|^#\[wasm_bindgen\]\s*$' src); then
  echo "crate-hygiene: exports or an allocator in the library's source:"
  echo "$hits"
  fail=1
fi

[ "$fail" = 0 ] && echo "crate-hygiene: the library has no JS class, allocator, test kit or test dependencies"
exit "$fail"
