#!/usr/bin/env bash
# Builds pkg/: the size-tuned release wasm, wasm-bindgen's ES module + .d.ts (web target), then
# wasm-opt -Oz from the npm `binaryen` package (never Debian's: its output fails to load), then
# terser over the JS glue.
# Prints the gzipped sizes. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never

# Panic locations name source files; shorten the cargo registry's long paths to "crates/...":
# shorter strings in the wasm, and the same bytes whoever builds it.
remap=()
for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
  remap+=("--remap-path-prefix=${dir%/}=crates")
done
# With the rust-src component installed (rust-analyzer users have it), rustc names std's panic
# locations by the local sysroot's path instead of the virtual /rustc/<commit>/ it names them by
# otherwise (69,319 B against 69,242 measured in issue 27): map it back, so that pkg/'s bytes do
# not depend on the machine (checked on 45b9efc from a clean target dir: with rust-src, 104,918 B
# unmapped, and with the map the same sha-256 for the .wasm and the glue as without rust-src).
sysroot=$(rustc --print sysroot)
commit=$(rustc -vV | sed -n 's/^commit-hash: //p')
remap+=("--remap-path-prefix=$sysroot/lib/rustlib/src/rust=/rustc/$commit")
# The npm package's wasm is the JS class's crate (crates/js), which wraps the library.
RUSTFLAGS="${remap[*]}" cargo build --release --target wasm32-unknown-unknown -p wasm-session-store-js
rm -rf pkg
wasm-bindgen --target web --out-dir pkg --out-name wasm_session_store \
  "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/wasm_session_store_js.wasm"
# Skipping binaryen's own inlining pass (LLVM has inlined already) and converging: ~1.4 KB less.
# --low-memory-unused (~110 B less) lets binaryen fold address additions into load/store
# offsets: sound because the low 1 KiB is never addressed (Rust puts the 1 MiB stack first,
# growing down towards 0, and static data from 1 MiB up).
npx --no-install wasm-opt -Oz --skip-pass=inlining-optimizing --converge --low-memory-unused \
  --enable-bulk-memory --enable-nontrapping-float-to-int \
  --strip-debug --strip-producers \
  pkg/wasm_session_store_bg.wasm -o pkg/wasm_session_store_bg.wasm
# The JS of `#[wasm_bindgen(module = ...)]` into the glue: one JS file, no pkg/snippets/.
node scripts/inline-snippets.mjs pkg/wasm_session_store.js
# free() and [Symbol.dispose] (`using`) close the store first.
node scripts/close-on-free.mjs pkg/wasm_session_store.js
# The class's operations: one method each over the single `__call` export.
node scripts/class-methods.mjs pkg/wasm_session_store.js
# Short import/export names instead of wasm-bindgen's hashed ones, in the wasm and the glue:
# ~4.3 KB gzipped.
node scripts/shorten-imports.mjs pkg/wasm_session_store_bg.wasm pkg/wasm_session_store.js \
  pkg/wasm_session_store_bg.wasm.d.ts
# The .wasm into pkg/wasm-session-store/, where the glue's URL for it also names it as a package
# path (the `vite` dev server's reading once it has pre-bundled the glue); Node reads it with fs;
# a .wasm that does not load fails init() with its URL and what to do.
node scripts/locate-wasm.mjs pkg
# The JS glue is minified (names and whitespace; import names and the
# `new URL("…_bg.wasm", import.meta.url)` that bundlers look for are kept): ~2 KB gzipped less.
npx --no-install terser pkg/wasm_session_store.js --module --compress --mangle \
  --output pkg/wasm_session_store.js
node scripts/size.mjs
