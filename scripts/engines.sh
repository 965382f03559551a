# Sourced by scripts/test.sh and scripts/soak.sh: what their engine loops share.
# `start_xvfb` starts a private Xvfb on the first free display and exports DISPLAY (WebKitGTK's
# MiniBrowser needs one, even headless); `stop_xvfb` stops it (the caller's EXIT trap calls it).
# `rust_test_env ENGINE` prints what wasm-bindgen-test-runner needs to drive that engine
# (../shared/TOOLCHAIN.md, "Other engines"), for `env $(rust_test_env firefox) cargo test ...`.
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
  case "$1" in
    chromium) echo "CHROMEDRIVER=$(command -v chromedriver)" ;;
    firefox) echo "GECKODRIVER=$(command -v geckodriver)" ;;
    webkit) echo "SAFARIDRIVER=/usr/bin/WebKitWebDriver" ;;
    *) echo "unknown engine $1" >&2; return 1 ;;
  esac
  echo "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner"
  echo "WASM_BINDGEN_TEST_WEBDRIVER_JSON=$PWD/tests/webdriver/$1.json"
}
