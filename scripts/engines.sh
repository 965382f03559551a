# Sourced by scripts/test.sh and scripts/soak.sh: what their engine loops share.
# `start_xvfb` starts a private Xvfb on the first free display and exports DISPLAY (WebKitGTK's
# MiniBrowser needs one, even headless); `stop_xvfb` stops it (the caller's EXIT trap calls it).
# `rust_test_env ENGINE` prints what wasm-bindgen-test-runner needs to drive that engine
# (../shared/TOOLCHAIN.md, "Other engines"), for `env $(rust_test_env firefox) cargo test ...`:
# first `-u` for every driver variable the runner reads (it takes the first of GECKODRIVER,
# SAFARIDRIVER, CHROMEDRIVER, MSEDGEDRIVER that is set, and any *_REMOTE before those, so an
# inherited GECKODRIVER would run the "WebKit" suites in Firefox), then the engine's own, and
# WSS_ENGINE, which tests/engine_web.rs checks against the browser's user agent.
xvfb_pid=""
start_xvfb() {
  local display=99
  while [ -e "/tmp/.X11-unix/X$display" ] || [ -e "/tmp/.X$display-lock" ]; do display=$((display + 1)); done
  Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$display" ] && break; sleep 0.1; done
  [ -e "/tmp/.X11-unix/X$display" ] || { echo "Xvfb :$display did not start" >&2; return 1; }
  export DISPLAY=":$display"
}
stop_xvfb() {
  [ -z "$xvfb_pid" ] || kill "$xvfb_pid" 2>/dev/null || true
  xvfb_pid=""
}

rust_test_env() {
  local driver
  for driver in GECKODRIVER SAFARIDRIVER CHROMEDRIVER MSEDGEDRIVER; do
    echo "-u $driver -u ${driver}_REMOTE -u ${driver}_ARGS"
  done
  case "$1" in
    chromium) echo "CHROMEDRIVER=$(command -v chromedriver)" ;;
    firefox) echo "GECKODRIVER=$(command -v geckodriver)" ;;
    webkit) echo "SAFARIDRIVER=/usr/bin/WebKitWebDriver" ;;
    *) echo "unknown engine $1" >&2; return 1 ;;
  esac
  echo "WSS_ENGINE=$1"
  echo "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner"
  echo "WASM_BINDGEN_TEST_WEBDRIVER_JSON=$PWD/tests/webdriver/$1.json"
}
