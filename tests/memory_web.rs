//! The conformance suite against `MemoryStore`, in headless Chromium.
#![cfg(target_arch = "wasm32")]

use wasm_session_store::MemoryStore;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

wasm_session_store_testing::conformance_tests!(wasm, |options| async move {
    MemoryStore::open(options).expect("valid options")
});

mod common;

/// The model-based test's seeded sequences, replayed against MemoryStore in the browser.
#[wasm_bindgen_test::wasm_bindgen_test]
async fn memory_store_matches_the_model_in_the_browser() {
    common::replay_model(
        |options| async move { MemoryStore::open(options).expect("valid options") },
        "memory",
        400,
    )
    .await;
}
