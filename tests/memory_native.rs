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

/// Model-based: generated sequences of every operation against MemoryStore and the model of
/// the contract, shrunk to a minimal sequence on failure (kept in proptest-regressions/).
/// `WSS_MODEL_CASES` asks for more cases (`npm run soak`).
#[test]
fn memory_store_matches_the_model() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use std::cell::Cell;
    use wasm_session_store::testing::{block_on, model};

    let cases = model::case_count(std::env::var("WSS_MODEL_CASES").ok().as_deref(), 3_000);
    let config = Config {
        cases: cases as u32,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..Config::default()
    };
    let total = Cell::new(model::Stats::default());
    let open = |options| async move { MemoryStore::open(options).expect("valid options") };
    TestRunner::new(config)
        .run(&model::case(40), |case| {
            let stats = block_on(model::run(&open, "model", &case)).map_err(TestCaseError::fail)?;
            let mut sum = total.get();
            sum += stats;
            total.set(sum);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "model (MemoryStore): {cases} cases, {} operations, {} records compared",
        total.get().ops,
        total.get().records_checked
    );
}
