#!/usr/bin/env bash
# Builds the Leptos example (examples/leptos-cart/: a cart kept in a WebStore, client-side
# rendering) into target/examples/leptos-cart/ (index.html + wasm-bindgen's `--target web`
# output), and serves or checks it. Not part of scripts/test.sh: Leptos makes a cold build cost
# minutes on a 2-core machine (see examples/leptos-cart/README.md).
#   scripts/leptos-example.sh            release build, then prints how to serve it
#   scripts/leptos-example.sh --dev      dev-profile build (faster to compile, larger wasm)
#   scripts/leptos-example.sh --serve    build, then serve it on 127.0.0.1 (PORT, default 8080)
#   scripts/leptos-example.sh --check    build, then drive it once in headless Chromium (two
#                                        tabs: add items, see the other tab's; then two devices
#                                        synced through a wss-server, offline edits and a
#                                        conflict); non-zero on failure
#   --no-setup                           skip scripts/setup.sh (it already ran)
# Options combine (`--dev --check`). CARGO_TARGET_DIR is honoured (default: target/leptos-cart/).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never

profile=release
then=print
setup=yes
for arg in "$@"; do
  case "$arg" in
    --dev) profile=dev ;;
    --serve) then=serve ;;
    --check) then=check ;;
    --no-setup) setup=no ;;
    *) echo "usage: scripts/leptos-example.sh [--dev] [--serve | --check] [--no-setup]" >&2; exit 2 ;;
  esac
done

# The toolchain, the wasm target, wasm-bindgen-cli at the library's pin and the npm packages
# (serve.mjs, playwright-core); Chromium too for --check.
if [ "$setup" = yes ]; then
  if [ "$then" = check ]; then bash scripts/setup.sh --chromium; else bash scripts/setup.sh --no-browser; fi
fi

example=examples/leptos-cart
# The example is its own workspace with its own lockfile; its wasm-bindgen must be the CLI's.
want=$(grep -A1 '^name = "wasm-bindgen"$' "$example/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')
have=$(wasm-bindgen --version | cut -d' ' -f2)
if [ "$want" != "$have" ]; then
  echo "leptos-example: $example/Cargo.lock has wasm-bindgen $want, the CLI is $have" >&2
  exit 1
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/leptos-cart}"
flags=(--target wasm32-unknown-unknown --locked --manifest-path "$example/Cargo.toml")
if [ "$profile" = release ]; then
  cargo build --release "${flags[@]}"
  dir=release
else
  cargo build "${flags[@]}"
  dir=debug
fi

out="$repo/target/examples/leptos-cart"
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name leptos_cart \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$dir/leptos-cart.wasm"
cp "$example/index.html" "$out/"
wasm="$out/leptos_cart_bg.wasm"
if [ "$profile" = release ]; then
  # As scripts/build.sh does (binaryen from npm, never Debian's): about 28% less gzipped.
  npx --no-install wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --strip-debug --strip-producers "$wasm" -o "$wasm"
fi
echo "leptos-example: built ($profile) into $out"
echo "  $(wc -c <"$wasm") B wasm, $(gzip -9 -c "$wasm" | wc -c) B gzipped"

# Serves $out at / with the repository's static server (scripts/serve.mjs: 127.0.0.1 only).
serve_cmd=(node --input-type=module -e "
  const { serve } = await import('$repo/scripts/serve.mjs');
  const { url } = await serve({ port: Number(process.env.PORT ?? 8080), mounts: { '/': '$out' } });
  console.log('leptos-example: serving $out at ' + url + '  (Ctrl-C to stop)');
")
case "$then" in
  print)
    echo "Serve it with the repository's static server (any static server of $out works):"
    echo "  scripts/leptos-example.sh --serve --no-setup"
    echo "then open the page in two tabs and add items in either."
    ;;
  serve) exec "${serve_cmd[@]}" ;;
  check)
    # The sync server the check starts (target/server/wss-server).
    bash scripts/build-server.sh
    exec node "$example/check.mjs" "$out" ;;
esac
