#!/usr/bin/env bash
# Installs what building and testing need, skipping whatever is already there:
# apt Chromium + ChromeDriver, Firefox ESR, WebKitGTK's WebKitWebDriver + MiniBrowser and Xvfb
# (MiniBrowser needs a display; scripts/test.sh starts and stops its own), geckodriver at a pinned
# version (crates.io), the wasm32 Rust target, wasm-bindgen-cli at exactly the version Cargo.lock
# pins, and the npm dev dependencies. Safe to run any number of times.
#   scripts/setup.sh                everything
#   scripts/setup.sh --no-browser   skip the browsers (enough for `npm run demo`)
#   scripts/setup.sh --chromium     Chromium only (`npm run bench`, `npm run demo -- --check`)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
say() { echo "setup: $*"; }

# geckodriver drives Firefox for the Rust and JS browser tests (builds from source: ~3 min).
GECKODRIVER_VERSION=0.37.1

browsers=all
case "${1:-}" in
  --no-browser) browsers=none ;;
  --chromium) browsers=chromium ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--no-browser | --chromium]" >&2; exit 2 ;;
esac

apt_packages=()
if [ "$browsers" != none ]; then
  command -v chromium >/dev/null || apt_packages+=(chromium)
  command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
fi
if [ "$browsers" = all ]; then
  command -v firefox-esr >/dev/null || apt_packages+=(firefox-esr)
  [ -x /usr/bin/WebKitWebDriver ] || apt_packages+=(webkit2gtk-driver)
  command -v Xvfb >/dev/null || apt_packages+=(xvfb)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  say "installing ${apt_packages[*]} (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

if [ "$browsers" = all ]; then
  have=$(geckodriver --version 2>/dev/null | head -n1 | cut -d' ' -f2 || true)
  if [ "$have" != "$GECKODRIVER_VERSION" ]; then
    say "installing geckodriver $GECKODRIVER_VERSION (found: ${have:-none}; builds from source, a few minutes)"
    cargo install --force geckodriver --version "$GECKODRIVER_VERSION"
  fi
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
