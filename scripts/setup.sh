#!/usr/bin/env bash
# Installs what building and testing need, skipping whatever is already there:
# apt Chromium + ChromeDriver, the wasm32 Rust target, wasm-bindgen-cli at exactly the version
# Cargo.lock pins, and the npm dev dependencies. Safe to run any number of times.
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-browser   skip Chromium (enough for `npm run demo`)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
say() { echo "setup: $*"; }

want_browser=1
[ "${1:-}" = "--no-browser" ] && want_browser=0

if [ "$want_browser" = 1 ] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  say "installing chromium and chromium-driver (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wbv=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
have=$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2 || true)
if [ "$have" != "$wbv" ]; then
  say "installing wasm-bindgen-cli $wbv (found: ${have:-none}; takes a few minutes)"
  # Not --locked: its lockfile pins a webpki-roots the registry here lacks.
  cargo install --force wasm-bindgen-cli --version "$wbv"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
