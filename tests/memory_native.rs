//! The conformance suite against `MemoryStore`, natively.
#![cfg(not(target_arch = "wasm32"))]

use wasm_session_store::{ErrorCode, MemoryStore, StoreOptions};

wasm_session_store_testing::conformance_tests!(native, |options| async move {
    MemoryStore::open(options).expect("valid options")
});

/// Memory stores that share their records by name, as two releases of an app share storage:
/// the state-migration cases need two stores on the same records.
mod shared_by_name {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_session_store::{
        Backend, Expiry, MemoryBackend, SessionId, Slot, Store, StoreError, StoreOptions, Write,
    };

    pub struct Shared(Rc<MemoryBackend>);

    impl Backend for Shared {
        async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
            self.0.read(ids).await
        }
        async fn transact(
            &self,
            ids: &[&SessionId],
            decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
        ) -> Result<(), StoreError> {
            self.0.transact(ids, decide).await
        }
        async fn live_ids(&self, expiry: Expiry) -> Result<Vec<SessionId>, StoreError> {
            self.0.live_ids(expiry).await
        }
        async fn delete_expired(
            &self,
            expiry: Expiry,
            limit: Option<usize>,
        ) -> Result<Vec<(SessionId, u64)>, StoreError> {
            self.0.delete_expired(expiry, limit).await
        }
        async fn clear(&self) -> Result<(), StoreError> {
            self.0.clear().await
        }
    }

    thread_local! {
        static BY_NAME: RefCell<Vec<(String, Rc<MemoryBackend>)>> = RefCell::default();
    }

    /// A store over the memory records of `options`' name.
    pub fn open(options: StoreOptions) -> Store<Shared> {
        let name = options.get_name().to_owned();
        let backend = BY_NAME.with(|all| {
            let mut all = all.borrow_mut();
            if let Some((_, b)) = all.iter().find(|(n, _)| *n == name) {
                return b.clone();
            }
            let b = Rc::new(MemoryBackend::default());
            all.push((name, b.clone()));
            b
        });
        Store::with_backend(Shared(backend), options).expect("valid options")
    }

    wasm_session_store_testing::migration_tests!(native, |options| async move { open(options) });
}

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
/// the contract, shrunk to a minimal sequence on failure (kept in tests/memory_native.regressions).
/// `WSS_MODEL_CASES` asks for more cases (`npm run soak`); a value that is not a positive
/// number fails the test rather than running the default.
#[test]
fn memory_store_matches_the_model() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use std::cell::Cell;
    use wasm_session_store_testing::{block_on, model};

    const VAR: &str = "WSS_MODEL_CASES";
    let value = match std::env::var(VAR) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(value)) => panic!("{VAR}={value:?} is not a number"),
    };
    let cases = model::case_count(VAR, value.as_deref(), 3_000);
    assert!(cases > 0, "{VAR}=0 would check nothing");
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
