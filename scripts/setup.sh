#!/usr/bin/env bash
# Installs what building and testing need, skipping whatever is already there:
# apt Chromium + ChromeDriver, Firefox ESR, WebKitGTK's WebKitWebDriver + MiniBrowser and Xvfb
# (MiniBrowser needs a display; scripts/test.sh starts and stops its own), redis-server (the sync
# server's tests and benchmark start their own instances), geckodriver at a pinned
# version (crates.io), the wasm32 Rust target, wasm-bindgen-cli at exactly the version Cargo.lock
# pins, and the npm dev dependencies. Safe to run any number of times.
#   scripts/setup.sh                everything
#   scripts/setup.sh --no-browser   skip the browsers (enough for `npm run demo`)
#   scripts/setup.sh --chromium     Chromium only (`npm run bench`, `npm run demo -- --check`)
#   scripts/setup.sh --redis        redis-server only (`npm run bench:server`)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
say() { echo "setup: $*"; }

# geckodriver drives Firefox for the Rust and JS browser tests. Built from source without
# optimisation (`--debug`): it only relays WebDriver commands, and it builds in 100 s instead of
# 184 s (measured on a 2-core machine).
GECKODRIVER_VERSION=0.37.1

browsers=all
case "${1:-}" in
  --no-browser) browsers=none ;;
  --chromium) browsers=chromium ;;
  --redis) browsers=redis ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--no-browser | --chromium | --redis]" >&2; exit 2 ;;
esac

# The pinned compiler (rust-toolchain.toml: the size budget's bytes depend on it), with the
# wasm target and the lint tools. rustup installs a pinned toolchain on first use only where
# auto-install is on, so it is asked for here.
toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$toolchain-"; then
  say "installing Rust $toolchain (rust-toolchain.toml)"
  rustup toolchain install "$toolchain" --profile minimal --component rustfmt,clippy \
    --target wasm32-unknown-unknown
fi

apt_packages=()
if [ "$browsers" = all ] || [ "$browsers" = redis ]; then
  command -v redis-server >/dev/null || apt_packages+=(redis-server)
fi
if [ "$browsers" != none ] && [ "$browsers" != redis ]; then
  command -v chromium >/dev/null || apt_packages+=(chromium)
  command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
fi
if [ "$browsers" = all ]; then
  command -v firefox-esr >/dev/null || apt_packages+=(firefox-esr)
  [ -x /usr/bin/WebKitWebDriver ] || apt_packages+=(webkit2gtk-driver)
  command -v Xvfb >/dev/null || apt_packages+=(xvfb)
fi
# apt runs in the background while cargo compiles (downloads and unpacking beside CPU work:
# ~2 min less on a fresh machine); its log is shown if it fails.
apt_pid=""
apt_log=$(mktemp)
gecko_log=$(mktemp)
trap 'rm -f "$apt_log" "$gecko_log"' EXIT
if [ ${#apt_packages[@]} -gt 0 ]; then
  say "installing ${apt_packages[*]} (apt, in the background)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  { $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${apt_packages[@]}"; } >"$apt_log" 2>&1 &
  apt_pid=$!
fi

# geckodriver builds in the background too, beside wasm-bindgen-cli (two cargo builds share the
# cores better than one after the other: each has long single-threaded stretches).
gecko_pid=""
if [ "$browsers" = all ]; then
  have=$(geckodriver --version 2>/dev/null | head -n1 | cut -d' ' -f2 || true)
  if [ "$have" != "$GECKODRIVER_VERSION" ]; then
    say "installing geckodriver $GECKODRIVER_VERSION (found: ${have:-none}; builds from source, in the background)"
    cargo install --force --debug geckodriver --version "$GECKODRIVER_VERSION" >"$gecko_log" 2>&1 &
    gecko_pid=$!
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
  say "installing wasm-bindgen-cli $wbv (found: ${have:-none}; builds from source, ~2 min)"
  # Not --locked: its lockfile pins a webpki-roots the registry here lacks. Without TLS (its
  # test runner only talks to WebDriver on localhost) and without optimisation: 109 s to build
  # instead of 290 s (measured on a 2-core machine), and its output is byte-identical. The price:
  # the unoptimised test runner makes an engine's Rust suites slower (Chromium's 54 s -> 102 s
  # warm), roughly what it saves against a release build without TLS (220 s) on a cold CI run.
  # For fast warm runs, install a release build once (same command without --debug); this
  # script keeps any installed CLI of the right version.
  cargo install --force --debug --no-default-features wasm-bindgen-cli --version "$wbv"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Waits for a background install; on failure shows its log and stops.
finish() { # pid log what
  [ -n "$1" ] || return 0
  if ! wait "$1"; then
    cat "$2" >&2
    say "$3 failed"
    exit 1
  fi
  say "$3: done"
}
finish "$gecko_pid" "$gecko_log" "geckodriver $GECKODRIVER_VERSION"
finish "$apt_pid" "$apt_log" "apt-get install"
