//! The conformance suite against `MemoryStore`, natively.
#![cfg(not(target_arch = "wasm32"))]

use wasm_session_store::{ErrorCode, MemoryStore, StoreOptions};

wasm_session_store::conformance_tests!(native, |options| async move {
    MemoryStore::open(options).expect("valid options")
});

#[test]
fn bad_options_are_invalid_input() {
    let cases = [
        StoreOptions::new().name(""),
        StoreOptions::new().name("has:colon"),
        StoreOptions::new().name("n".repeat(65)),
        StoreOptions::new().ttl_ms(Some(0)),
        StoreOptions::new().ttl_ms(Some(1 << 53)),
        StoreOptions::new().max_lifetime_ms(Some(0)),
        StoreOptions::new().sweep_interval_ms(Some(0)),
    ];
    for options in cases {
        let err = MemoryStore::open(options.clone()).err().expect("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{options:?}: {err}");
    }
    assert!(MemoryStore::open(StoreOptions::new().ttl_ms(None).sweep_interval_ms(None)).is_ok());
}
