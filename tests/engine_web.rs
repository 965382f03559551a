//! Which browser the Rust browser suites ran in. wasm-bindgen-test-runner drives the first
//! engine whose driver variable it finds (GECKODRIVER before SAFARIDRIVER before CHROMEDRIVER),
//! so a variable inherited from the caller's shell could run one engine's suites in another.
//! `scripts/engines.sh` (`rust_test_env`) unsets the others and names the engine it means in
//! `WSS_ENGINE`; this checks the browser's user agent against it, once per engine (test.sh runs
//! every `tests/*_web.rs` in each engine).
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// The engine a user agent names: WebKitGTK's says "AppleWebKit" and "Safari", Chromium's
/// says that too and "Chrome", Firefox's says "Firefox".
fn engine_of(user_agent: &str) -> Option<&'static str> {
    if user_agent.contains("Firefox/") {
        Some("firefox")
    } else if user_agent.contains("Chrome/") {
        Some("chromium")
    } else if user_agent.contains("AppleWebKit/") {
        Some("webkit")
    } else {
        None
    }
}

#[wasm_bindgen_test]
fn the_browser_is_the_engine_the_run_asked_for() {
    let user_agent = web_sys::window().unwrap().navigator().user_agent().unwrap();
    let engine = engine_of(&user_agent);
    assert!(engine.is_some(), "an engine we test: {user_agent}");
    // Read when the test was built: cargo builds and runs it in the same environment, and
    // rebuilds it when the variable changes.
    // Run by hand, outside scripts/engines.sh, nothing was asked for.
    if let Some(asked) = option_env!("WSS_ENGINE") {
        assert_eq!(
            engine,
            Some(asked),
            "WSS_ENGINE={asked}, user agent: {user_agent}"
        );
    }
}
