//! The conformance kit of [`wasm_session_store`]: one set of cases, generic over
//! [`SessionStore`], that every backend must pass unchanged, and a model-based checker
//! ([`model`]) that replays generated operation sequences against a reference model.
//!
//! A crate of its own, so that the shipped crate carries no test code: depend on it (as a
//! dev-dependency) to run the suite against a backend of your own.
//!
//! Each case opens fresh stores through an [`OpenStore`] factory (given options carrying a
//! [`ManualClock`] and a unique name) and checks one rule of the contract. Stamp the whole
//! suite out as one test per case with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! // tests/memory.rs: natively
//! wasm_session_store_testing::conformance_tests!(native, |options| async move {
//!     wasm_session_store::MemoryStore::open(options).unwrap()
//! });
//! // in a wasm-bindgen-test file: in the browser
//! wasm_session_store_testing::conformance_tests!(wasm, |options| async move { /* open */ });
//! ```
#![allow(missing_docs)] // the cases are named for what they check

pub mod migration;
pub mod model;

use serde_json::{json, Value};
use std::future::Future;
use std::num::NonZeroUsize;
use wasm_session_store::{
    ErrorCode, ManualClock, SaveEntry, SessionId, SessionRecord, SessionStore, State, StoreOptions,
    Ttl,
};

#[cfg(not(target_arch = "wasm32"))]
pub use pollster::block_on;

/// Opens a store for a case. Implemented for every `Fn(StoreOptions) -> impl Future<Output = S>`.
#[allow(async_fn_in_trait)]
pub trait OpenStore {
    /// The store type under test.
    type Store: SessionStore;
    /// Opens a store with these options. It must start empty for a name it has not seen.
    async fn open(&self, options: StoreOptions) -> Self::Store;
}

impl<F, Fut, S> OpenStore for F
where
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
    S: SessionStore,
{
    type Store = S;
    async fn open(&self, options: StoreOptions) -> S {
        self(options).await
    }
}

/// The time every case starts at.
pub const T0: u64 = 1_700_000_000_000;
/// The store TTL cases use unless they say otherwise.
pub const TTL: u64 = 60_000;

/// A store under test and the clock it reads.
pub struct Fixture<S> {
    pub store: S,
    pub clock: ManualClock,
}

/// Options for a case: a unique store name, TTL [`TTL`], a [`ManualClock`] at [`T0`], no sweep.
pub fn options(case: &str) -> (StoreOptions, ManualClock) {
    let clock = ManualClock::new(T0);
    let mut name: String = case.chars().take(38).collect();
    name.push('-');
    name.push_str(SessionId::generate().unwrap().as_str());
    let options = StoreOptions::new()
        .name(name)
        .ttl_ms(Some(TTL))
        .sweep_interval_ms(None)
        .clock(clock.clone());
    (options, clock)
}

/// Opens a fresh store for `case`, with `tune` applied to the default case options.
pub async fn fixture<O: OpenStore>(
    open: &O,
    case: &str,
    tune: impl FnOnce(StoreOptions) -> StoreOptions,
) -> Fixture<O::Store> {
    let (opts, clock) = options(case);
    Fixture {
        store: open.open(tune(opts)).await,
        clock,
    }
}

/// `json!` object literal to [`State`].
pub fn state(value: Value) -> State {
    match value {
        Value::Object(map) => State::from(map),
        other => panic!("state must be an object, got {other}"),
    }
}

/// A valid id.
pub fn id(s: &str) -> SessionId {
    SessionId::new(s).unwrap()
}

fn assert_code<T: std::fmt::Debug>(
    result: Result<T, wasm_session_store::StoreError>,
    code: ErrorCode,
) {
    match result {
        Err(e) => assert_eq!(e.code(), code, "{e}"),
        Ok(v) => panic!("expected {code:?}, got Ok({v:?})"),
    }
}

async fn load<S: SessionStore>(store: &S, id: &SessionId) -> Option<SessionRecord> {
    store.load(id).await.unwrap()
}

/// The store's live ids, sorted.
pub async fn sorted_ids<S: SessionStore>(store: &S) -> Vec<String> {
    let mut ids: Vec<String> = store
        .ids()
        .await
        .unwrap()
        .into_iter()
        .map(String::from)
        .collect();
    ids.sort();
    ids
}

// ---------------------------------------------------------------------------------------------
// Round trips

pub async fn create_then_load_round_trips<O: OpenStore>(open: &O) {
    let t = fixture(open, "round_trip", |o| o).await;
    let s = state(json!({"user": "ada", "n": 1, "tags": ["a", "b"], "deep": {"x": null}}));
    let created = t.store.create(s.clone(), Ttl::StoreDefault).await.unwrap();
    assert_eq!(created.id.as_str().len(), 22);
    assert_eq!(created.state, s);
    assert_eq!(created.version, 1);
    assert_eq!((created.created_at, created.updated_at), (T0, T0));
    assert_eq!(created.expires_at, Some(T0 + TTL));
    assert_eq!(created.ttl_ms, Some(TTL));
    assert_eq!(load(&t.store, &created.id).await, Some(created));
}

pub async fn unicode_and_numbers_round_trip<O: OpenStore>(open: &O) {
    let t = fixture(open, "unicode", |o| o).await;
    let s = state(json!({
        "emoji": "💡🇩🇪 ünïcödé ✓", "日本語キー": "值", "": "empty key is data",
        "__proto__": {"polluted": true}, "constructor": "data",
        "quotes": "\"\\\n\t\u{0}", "floats": [0.1, -2.5e-300, 5e-324, 1.7976931348623157e308],
        "ints": [0, -1, 9007199254740991i64, -9007199254740991i64], "bools": [true, false, null],
    }));
    let id = id("unicode");
    t.store
        .create_with_id(&id, s.clone(), Ttl::StoreDefault)
        .await
        .unwrap();
    let back = load(&t.store, &id).await.unwrap().state;
    assert_eq!(back, s);
    let floats = back.get("floats").unwrap();
    let floats = floats.as_array().unwrap();
    assert_eq!(floats[2].as_f64().unwrap().to_bits(), 5e-324f64.to_bits());
}

pub async fn one_mebibyte_state_round_trips<O: OpenStore>(open: &O) {
    let t = fixture(open, "large", |o| o).await;
    let big: String = "0123456789abcdeé".repeat(1 << 16);
    assert!(big.len() >= 1 << 20);
    let s = state(json!({"blob": big, "list": (0..1000).collect::<Vec<u32>>()}));
    let record = t.store.create(s.clone(), Ttl::StoreDefault).await.unwrap();
    assert_eq!(load(&t.store, &record.id).await.unwrap().state, s);
}

// ---------------------------------------------------------------------------------------------
// Create

pub async fn create_on_live_id_is_already_exists<O: OpenStore>(open: &O) {
    let t = fixture(open, "create_live", |o| o).await;
    let id = id("taken");
    let first = t
        .store
        .create_with_id(&id, state(json!({"a": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_code(
        t.store
            .create_with_id(&id, state(json!({"a": 2})), Ttl::StoreDefault)
            .await,
        ErrorCode::AlreadyExists,
    );
    assert_eq!(load(&t.store, &id).await, Some(first));
}

pub async fn create_on_expired_id_replaces_it<O: OpenStore>(open: &O) {
    let t = fixture(open, "create_expired", |o| o).await;
    let id = id("reused");
    t.store
        .create_with_id(&id, state(json!({"old": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    t.store.save(&id, state(json!({"old": 2}))).await.unwrap();
    t.clock.advance(TTL);
    let again = t
        .store
        .create_with_id(&id, state(json!({"new": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(again.created_at, T0 + TTL);
    assert_eq!(
        load(&t.store, &id).await.unwrap().state,
        state(json!({"new": 1}))
    );
}

pub async fn create_ttl_choices<O: OpenStore>(open: &O) {
    let t = fixture(open, "create_ttl", |o| o).await;
    let never = t.store.create(State::new(), Ttl::Never).await.unwrap();
    assert_eq!((never.expires_at, never.ttl_ms), (None, None));
    let short = t.store.create(State::new(), Ttl::Millis(5)).await.unwrap();
    assert_eq!((short.expires_at, short.ttl_ms), (Some(T0 + 5), Some(5)));
    t.clock.advance(5);
    assert_eq!(load(&t.store, &short.id).await, None);
    t.clock.advance(10 * 365 * 86_400_000);
    assert!(load(&t.store, &never.id).await.is_some());
}

pub async fn store_without_ttl_creates_sessions_that_never_expire<O: OpenStore>(open: &O) {
    let t = fixture(open, "no_ttl", |o| o.ttl_ms(None)).await;
    let r = t
        .store
        .create(State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!((r.expires_at, r.ttl_ms), (None, None));
    let saved = id("saved");
    t.store.save(&saved, State::new()).await.unwrap();
    assert_eq!(load(&t.store, &saved).await.unwrap().expires_at, None);
}

pub async fn bad_ttls_are_invalid_input_and_write_nothing<O: OpenStore>(open: &O) {
    let t = fixture(open, "bad_ttl", |o| o).await;
    let id = id("victim");
    for bad in [0, wasm_session_store::MAX_SAFE_INTEGER + 1, u64::MAX] {
        assert_code(
            t.store
                .create_with_id(&id, State::new(), Ttl::Millis(bad))
                .await,
            ErrorCode::InvalidInput,
        );
        assert_code(
            t.store.create(State::new(), Ttl::Millis(bad)).await,
            ErrorCode::InvalidInput,
        );
    }
    assert!(sorted_ids(&t.store).await.is_empty());
    let before = t
        .store
        .create_with_id(&id, state(json!({"k": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    for bad in [0, wasm_session_store::MAX_SAFE_INTEGER + 1] {
        assert_code(
            t.store.update_ttl(&id, Some(bad)).await,
            ErrorCode::InvalidInput,
        );
    }
    assert_eq!(load(&t.store, &id).await, Some(before));
}

// ---------------------------------------------------------------------------------------------
// Load and expiry

pub async fn load_of_missing_and_expired_is_none<O: OpenStore>(open: &O) {
    let t = fixture(open, "load_expired", |o| o).await;
    assert_eq!(load(&t.store, &id("nobody")).await, None);
    let r = t
        .store
        .create(State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    t.clock.set(T0 + TTL - 1);
    assert!(
        load(&t.store, &r.id).await.is_some(),
        "live one ms before the deadline"
    );
    t.clock.set(T0 + TTL);
    assert_eq!(
        load(&t.store, &r.id).await,
        None,
        "expired at now == expiresAt"
    );
    t.clock.set(T0 + TTL - 1);
    // Whether the backend removed it on the read above is its choice; it must not come back
    // with anything but the original record.
    if let Some(back) = load(&t.store, &r.id).await {
        assert_eq!(back, r);
    }
}

pub async fn ids_lists_live_sessions_only<O: OpenStore>(open: &O) {
    let t = fixture(open, "ids", |o| o).await;
    t.store
        .create_with_id(&id("short"), State::new(), Ttl::Millis(10))
        .await
        .unwrap();
    t.store
        .create_with_id(&id("long"), State::new(), Ttl::Millis(1000))
        .await
        .unwrap();
    t.store
        .create_with_id(&id("forever"), State::new(), Ttl::Never)
        .await
        .unwrap();
    assert_eq!(sorted_ids(&t.store).await, ["forever", "long", "short"]);
    t.clock.advance(10);
    assert_eq!(sorted_ids(&t.store).await, ["forever", "long"]);
    t.clock.advance(990);
    assert_eq!(sorted_ids(&t.store).await, ["forever"]);
}

// ---------------------------------------------------------------------------------------------
// Save and versions

pub async fn save_upserts_and_bumps_the_version<O: OpenStore>(open: &O) {
    let t = fixture(open, "save", |o| o).await;
    let id = id("upsert");
    assert_eq!(t.store.save(&id, state(json!({"v": 1}))).await.unwrap(), 1);
    let first = load(&t.store, &id).await.unwrap();
    assert_eq!(
        (first.created_at, first.expires_at, first.ttl_ms),
        (T0, Some(T0 + TTL), Some(TTL))
    );
    t.clock.advance(100);
    assert_eq!(t.store.save(&id, state(json!({"v": 2}))).await.unwrap(), 2);
    assert_eq!(t.store.save(&id, state(json!({"v": 3}))).await.unwrap(), 3);
    let r = load(&t.store, &id).await.unwrap();
    assert_eq!(r.state, state(json!({"v": 3})));
    assert_eq!((r.version, r.created_at, r.updated_at), (3, T0, T0 + 100));
    assert_eq!(
        r.expires_at,
        Some(T0 + TTL),
        "not sliding: the deadline stays"
    );
}

pub async fn save_on_expired_id_starts_over_at_version_1<O: OpenStore>(open: &O) {
    let t = fixture(open, "save_expired", |o| o).await;
    let id = id("again");
    t.store.save(&id, state(json!({"v": 1}))).await.unwrap();
    t.store.save(&id, state(json!({"v": 2}))).await.unwrap();
    t.clock.advance(TTL);
    assert_eq!(t.store.save(&id, state(json!({"v": 3}))).await.unwrap(), 1);
    let r = load(&t.store, &id).await.unwrap();
    assert_eq!(
        (r.version, r.created_at, r.expires_at),
        (1, T0 + TTL, Some(T0 + 2 * TTL))
    );
}

pub async fn save_if_version_succeeds_on_the_expected_version<O: OpenStore>(open: &O) {
    let t = fixture(open, "cas_ok", |o| o).await;
    let r = t
        .store
        .create(state(json!({"n": 0})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(
        t.store
            .save_if_version(&r.id, state(json!({"n": 1})), 1)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        t.store
            .save_if_version(&r.id, state(json!({"n": 2})), 2)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        load(&t.store, &r.id).await.unwrap().state,
        state(json!({"n": 2}))
    );
}

pub async fn save_if_version_conflict_reports_expected_and_actual<O: OpenStore>(open: &O) {
    let t = fixture(open, "cas_conflict", |o| o).await;
    let r = t
        .store
        .create(state(json!({"n": 0})), Ttl::StoreDefault)
        .await
        .unwrap();
    t.store.save(&r.id, state(json!({"n": 1}))).await.unwrap();
    let before = load(&t.store, &r.id).await.unwrap();
    match t
        .store
        .save_if_version(&r.id, state(json!({"n": 99})), 1)
        .await
    {
        Err(wasm_session_store::StoreError::VersionConflict {
            expected,
            actual,
            id,
        }) => {
            assert_eq!((expected, actual, id.as_str()), (1, 2, r.id.as_str()));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_code(
        t.store
            .save_if_version(&r.id, state(json!({"n": 99})), 0)
            .await,
        ErrorCode::VersionConflict,
    );
    assert_eq!(
        load(&t.store, &r.id).await,
        Some(before),
        "a conflict writes nothing"
    );
}

pub async fn save_if_version_zero_creates_only_when_absent<O: OpenStore>(open: &O) {
    let t = fixture(open, "cas_zero", |o| o).await;
    let id = id("fresh");
    assert_eq!(
        t.store
            .save_if_version(&id, state(json!({"a": 1})), 0)
            .await
            .unwrap(),
        1
    );
    let r = load(&t.store, &id).await.unwrap();
    assert_eq!((r.version, r.created_at, r.ttl_ms), (1, T0, Some(TTL)));
    match t
        .store
        .save_if_version(&id, state(json!({"a": 2})), 0)
        .await
    {
        Err(wasm_session_store::StoreError::VersionConflict {
            expected: 0,
            actual: 1,
            ..
        }) => {}
        other => panic!("expected a conflict 0/1, got {other:?}"),
    }
    match t
        .store
        .save_if_version(&crate::id("ghost"), State::new(), 3)
        .await
    {
        Err(wasm_session_store::StoreError::VersionConflict {
            expected: 3,
            actual: 0,
            ..
        }) => {}
        other => panic!("expected a conflict 3/0, got {other:?}"),
    }
    assert_eq!(sorted_ids(&t.store).await, ["fresh"]);
}

pub async fn save_if_version_on_expired_sees_version_0<O: OpenStore>(open: &O) {
    let t = fixture(open, "cas_expired", |o| o).await;
    let r = t
        .store
        .create(State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    t.clock.advance(TTL);
    match t
        .store
        .save_if_version(&r.id, state(json!({"x": 1})), 1)
        .await
    {
        Err(wasm_session_store::StoreError::VersionConflict {
            expected: 1,
            actual: 0,
            ..
        }) => {}
        other => panic!("expected a conflict 1/0, got {other:?}"),
    }
    assert_eq!(
        t.store
            .save_if_version(&r.id, state(json!({"x": 2})), 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        load(&t.store, &r.id).await.unwrap().state,
        state(json!({"x": 2}))
    );
}

// ---------------------------------------------------------------------------------------------
// TTL updates, sliding, lifetime caps

pub async fn update_ttl_moves_the_deadline_and_keeps_the_version<O: OpenStore>(open: &O) {
    let t = fixture(open, "update_ttl", |o| o).await;
    let r = t
        .store
        .create(state(json!({"a": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    t.clock.advance(1000);
    t.store.update_ttl(&r.id, Some(5000)).await.unwrap();
    let after = load(&t.store, &r.id).await.unwrap();
    assert_eq!(after.expires_at, Some(T0 + 1000 + 5000));
    assert_eq!(after.ttl_ms, Some(5000));
    assert_eq!(
        (after.version, after.updated_at, after.state),
        (1, T0, r.state.clone())
    );
    t.store.update_ttl(&r.id, None).await.unwrap();
    let forever = load(&t.store, &r.id).await.unwrap();
    assert_eq!((forever.expires_at, forever.ttl_ms), (None, None));
    t.clock.advance(100 * TTL);
    assert!(load(&t.store, &r.id).await.is_some());
}

pub async fn update_ttl_of_missing_or_expired_is_not_found<O: OpenStore>(open: &O) {
    let t = fixture(open, "update_ttl_nf", |o| o).await;
    assert_code(
        t.store.update_ttl(&id("nobody"), Some(10)).await,
        ErrorCode::NotFound,
    );
    let r = t
        .store
        .create(State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    t.clock.advance(TTL);
    assert_code(
        t.store.update_ttl(&r.id, Some(TTL)).await,
        ErrorCode::NotFound,
    );
    assert_code(t.store.update_ttl(&r.id, None).await, ErrorCode::NotFound);
    assert_eq!(
        load(&t.store, &r.id).await,
        None,
        "an expired session stays expired"
    );
}

pub async fn sliding_moves_the_deadline_on_every_access<O: OpenStore>(open: &O) {
    let t = fixture(open, "sliding", |o| o.sliding(true)).await;
    let r = t
        .store
        .create(state(json!({"k": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(r.expires_at, Some(T0 + TTL));
    // Each step comes 1 ms before the deadline the previous step should have set, so a step
    // that failed to slide makes the next one fail. `ids()` observes without touching.
    let mut now = T0;
    for step in 0..6 {
        now += TTL - 1;
        t.clock.set(now);
        match step {
            0 => {
                let loaded = load(&t.store, &r.id).await.expect("alive at step 0");
                assert_eq!(
                    loaded.expires_at,
                    Some(now + TTL),
                    "load returns the moved deadline"
                );
                assert_eq!(
                    (loaded.version, loaded.updated_at),
                    (1, T0),
                    "load writes no state"
                );
            }
            1 => assert_eq!(t.store.get(&r.id, "k").await.unwrap(), Some(json!(1))),
            2 => assert_eq!(
                t.store.save(&r.id, state(json!({"k": 2}))).await.unwrap(),
                2
            ),
            3 => assert_eq!(
                t.store
                    .save_if_version(&r.id, state(json!({"k": 3})), 2)
                    .await
                    .unwrap(),
                3
            ),
            4 => assert_eq!(t.store.set(&r.id, "j", json!(true)).await.unwrap(), 4),
            _ => assert_eq!(t.store.remove(&r.id, "j").await.unwrap(), 5),
        }
    }
    t.clock.set(now + TTL - 1);
    assert_eq!(
        sorted_ids(&t.store).await,
        [r.id.as_str()],
        "the last step slid too"
    );
    t.clock.set(now + TTL);
    assert!(
        sorted_ids(&t.store).await.is_empty(),
        "idle for a whole TTL, it expires"
    );
    assert_eq!(load(&t.store, &r.id).await, None);
}

pub async fn sliding_skips_removal_of_an_absent_key<O: OpenStore>(open: &O) {
    let t = fixture(open, "sliding_remove", |o| o.sliding(true)).await;
    let r = t
        .store
        .create(state(json!({"k": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    t.clock.advance(TTL - 1);
    assert_eq!(t.store.remove(&r.id, "absent").await.unwrap(), 1);
    t.clock.advance(1);
    assert_eq!(
        load(&t.store, &r.id).await,
        None,
        "removing nothing did not slide the deadline"
    );
}

pub async fn sliding_without_ttl_never_expires<O: OpenStore>(open: &O) {
    let t = fixture(open, "sliding_never", |o| o.sliding(true)).await;
    let r = t.store.create(State::new(), Ttl::Never).await.unwrap();
    t.clock.advance(1000 * TTL);
    assert_eq!(load(&t.store, &r.id).await.unwrap().expires_at, None);
}

pub async fn max_lifetime_caps_every_deadline<O: OpenStore>(open: &O) {
    let cap = 3 * TTL;
    let t = fixture(open, "max_lifetime", |o| {
        o.sliding(true).max_lifetime_ms(Some(cap))
    })
    .await;
    let r = t
        .store
        .create(State::new(), Ttl::Millis(10 * cap))
        .await
        .unwrap();
    assert_eq!(r.expires_at, Some(T0 + cap), "create is capped");
    let short = t
        .store
        .create(State::new(), Ttl::Millis(TTL))
        .await
        .unwrap();
    assert_eq!(
        short.expires_at,
        Some(T0 + TTL),
        "below the cap the TTL rules"
    );
    t.clock.set(T0 + cap - TTL / 2);
    let slid = load(&t.store, &short.id).await;
    assert!(slid.is_none(), "the short one was not touched and expired");
    t.store.update_ttl(&r.id, Some(TTL)).await.unwrap();
    assert_eq!(
        load(&t.store, &r.id).await.unwrap().expires_at,
        Some(T0 + cap),
        "sliding stops at the cap"
    );
    t.store.update_ttl(&r.id, None).await.unwrap();
    let capped = load(&t.store, &r.id).await.unwrap();
    assert_eq!(
        (capped.expires_at, capped.ttl_ms),
        (Some(T0 + cap), None),
        "null TTL under a cap gives the cap"
    );
    t.clock.set(T0 + cap);
    assert_eq!(load(&t.store, &r.id).await, None);
}

pub async fn max_lifetime_applies_to_sessions_without_ttl<O: OpenStore>(open: &O) {
    let t = fixture(open, "max_life_null", |o| {
        o.ttl_ms(None).max_lifetime_ms(Some(1000))
    })
    .await;
    let r = t
        .store
        .create(State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!((r.expires_at, r.ttl_ms), (Some(T0 + 1000), None));
    let never = t.store.create(State::new(), Ttl::Never).await.unwrap();
    assert_eq!(never.expires_at, Some(T0 + 1000));
    t.clock.advance(1000);
    assert!(sorted_ids(&t.store).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Delete, changeId, deleteExpired, clear

pub async fn delete_reports_whether_a_live_record_went<O: OpenStore>(open: &O) {
    let t = fixture(open, "delete", |o| o).await;
    let r = t
        .store
        .create(State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    let expiring = t.store.create(State::new(), Ttl::Millis(1)).await.unwrap();
    t.clock.advance(1);
    assert!(t.store.delete(&r.id).await.unwrap());
    assert_eq!(load(&t.store, &r.id).await, None);
    assert!(!t.store.delete(&r.id).await.unwrap(), "already gone");
    assert!(!t.store.delete(&id("never-was")).await.unwrap());
    assert!(
        !t.store.delete(&expiring.id).await.unwrap(),
        "expired is not live"
    );
    assert_eq!(
        t.store.delete_expired(None).await.unwrap(),
        0,
        "but it was removed"
    );
}

pub async fn change_id_moves_everything_but_the_id<O: OpenStore>(open: &O) {
    let t = fixture(open, "change_id", |o| o).await;
    let old = id("old-id");
    t.store
        .create_with_id(&old, state(json!({"cart": [1, 2]})), Ttl::Millis(5000))
        .await
        .unwrap();
    t.clock.advance(10);
    t.store.set(&old, "k", json!("v")).await.unwrap();
    t.clock.advance(10);
    let before = load(&t.store, &old).await.unwrap();
    let new = id("new-id");
    assert_eq!(t.store.change_id(&old, Some(&new)).await.unwrap(), new);
    assert_eq!(load(&t.store, &old).await, None);
    let after = load(&t.store, &new).await.unwrap();
    assert_eq!(
        after,
        SessionRecord {
            id: new.clone(),
            ..before
        }
    );
    assert_eq!(sorted_ids(&t.store).await, ["new-id"]);
    assert_code(t.store.get(&old, "k").await, ErrorCode::NotFound);
}

pub async fn change_id_generates_an_id_when_none_is_given<O: OpenStore>(open: &O) {
    let t = fixture(open, "change_id_gen", |o| o).await;
    let r = t
        .store
        .create(state(json!({"a": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    let new = t.store.change_id(&r.id, None).await.unwrap();
    assert_ne!(new, r.id);
    assert_eq!(new.as_str().len(), 22);
    assert_eq!(load(&t.store, &new).await.unwrap().state, r.state);
    assert_eq!(load(&t.store, &r.id).await, None);
}

pub async fn change_id_refusals_change_nothing<O: OpenStore>(open: &O) {
    let t = fixture(open, "change_id_err", |o| o).await;
    let (a, b) = (id("a"), id("b"));
    let ra = t
        .store
        .create_with_id(&a, state(json!({"who": "a"})), Ttl::StoreDefault)
        .await
        .unwrap();
    let rb = t
        .store
        .create_with_id(&b, state(json!({"who": "b"})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_code(
        t.store.change_id(&id("missing"), Some(&id("c"))).await,
        ErrorCode::NotFound,
    );
    assert_code(
        t.store.change_id(&id("missing"), Some(&a)).await,
        ErrorCode::NotFound,
    );
    assert_code(
        t.store.change_id(&a, Some(&b)).await,
        ErrorCode::AlreadyExists,
    );
    assert_code(
        t.store.change_id(&a, Some(&a)).await,
        ErrorCode::InvalidInput,
    );
    assert_eq!(load(&t.store, &a).await, Some(ra));
    assert_eq!(load(&t.store, &b).await, Some(rb));
    assert_eq!(sorted_ids(&t.store).await, ["a", "b"]);
}

pub async fn change_id_of_expired_fails_and_onto_expired_succeeds<O: OpenStore>(open: &O) {
    let t = fixture(open, "change_id_exp", |o| o).await;
    let (short, live) = (id("short"), id("live"));
    t.store
        .create_with_id(&short, State::new(), Ttl::Millis(10))
        .await
        .unwrap();
    t.store
        .create_with_id(&live, state(json!({"x": 1})), Ttl::Never)
        .await
        .unwrap();
    t.clock.advance(10);
    assert_code(
        t.store.change_id(&short, Some(&id("z"))).await,
        ErrorCode::NotFound,
    );
    assert_eq!(t.store.change_id(&live, Some(&short)).await.unwrap(), short);
    assert_eq!(
        load(&t.store, &short).await.unwrap().state,
        state(json!({"x": 1}))
    );
    assert_eq!(sorted_ids(&t.store).await, ["short"]);
}

pub async fn delete_expired_counts_and_honours_the_batch<O: OpenStore>(open: &O) {
    let t = fixture(open, "delete_expired", |o| o).await;
    for i in 0..5 {
        t.store
            .create_with_id(&id(&format!("dead{i}")), State::new(), Ttl::Millis(10))
            .await
            .unwrap();
    }
    for i in 0..3 {
        t.store
            .create_with_id(&id(&format!("live{i}")), State::new(), Ttl::Millis(1000))
            .await
            .unwrap();
    }
    assert_eq!(
        t.store.delete_expired(None).await.unwrap(),
        0,
        "nothing expired yet"
    );
    t.clock.advance(10);
    assert_eq!(
        t.store.delete_expired(NonZeroUsize::new(2)).await.unwrap(),
        2
    );
    assert_eq!(
        t.store.delete_expired(NonZeroUsize::new(2)).await.unwrap(),
        2
    );
    assert_eq!(t.store.delete_expired(None).await.unwrap(), 1);
    assert_eq!(t.store.delete_expired(None).await.unwrap(), 0);
    assert_eq!(sorted_ids(&t.store).await, ["live0", "live1", "live2"]);
    // Expired-then-recreated ids are live again.
    t.store
        .create_with_id(&id("dead0"), State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(t.store.delete_expired(None).await.unwrap(), 0);
    assert_eq!(sorted_ids(&t.store).await.len(), 4);
}

pub async fn clear_removes_only_this_stores_sessions<O: OpenStore>(open: &O) {
    let t = fixture(open, "clear", |o| o).await;
    let other = fixture(open, "clear_other", |o| o).await;
    for i in 0..3 {
        t.store
            .create(state(json!({"i": i})), Ttl::StoreDefault)
            .await
            .unwrap();
    }
    let kept = other
        .store
        .create(state(json!({"mine": true})), Ttl::StoreDefault)
        .await
        .unwrap();
    t.store.clear().await.unwrap();
    assert!(sorted_ids(&t.store).await.is_empty());
    assert_eq!(sorted_ids(&other.store).await, [kept.id.as_str()]);
    assert_eq!(load(&other.store, &kept.id).await, Some(kept));
    let again = t
        .store
        .create(State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(again.version, 1, "usable after clear");
}

pub async fn stores_with_different_names_are_isolated<O: OpenStore>(open: &O) {
    let a = fixture(open, "iso_a", |o| o).await;
    let b = fixture(open, "iso_b", |o| o).await;
    let shared = id("same-id");
    a.store
        .create_with_id(&shared, state(json!({"from": "a"})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(load(&b.store, &shared).await, None);
    b.store
        .create_with_id(&shared, state(json!({"from": "b"})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(
        load(&a.store, &shared).await.unwrap().state,
        state(json!({"from": "a"}))
    );
    assert!(b.store.delete(&shared).await.unwrap());
    assert!(load(&a.store, &shared).await.is_some());
}

// ---------------------------------------------------------------------------------------------
// One key at a time

pub async fn get_set_remove_work_on_one_key<O: OpenStore>(open: &O) {
    let t = fixture(open, "keys", |o| o).await;
    let r = t
        .store
        .create(state(json!({"keep": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(t.store.get(&r.id, "absent").await.unwrap(), None);
    t.clock.advance(5);
    assert_eq!(
        t.store
            .set(&r.id, "user", json!({"name": "ada"}))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        t.store
            .set(&r.id, "user", json!({"name": "ada"}))
            .await
            .unwrap(),
        3,
        "every set writes"
    );
    assert_eq!(
        t.store.get(&r.id, "user").await.unwrap(),
        Some(json!({"name": "ada"}))
    );
    assert_eq!(
        t.store
            .set(&r.id, "__proto__", json!("data"))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        t.store.get(&r.id, "__proto__").await.unwrap(),
        Some(json!("data"))
    );
    t.clock.advance(5);
    assert_eq!(t.store.remove(&r.id, "user").await.unwrap(), 5);
    assert_eq!(t.store.get(&r.id, "user").await.unwrap(), None);
    let after = load(&t.store, &r.id).await.unwrap();
    assert_eq!(after.state, state(json!({"keep": 1, "__proto__": "data"})));
    assert_eq!((after.version, after.updated_at), (5, T0 + 10));
}

pub async fn remove_of_an_absent_key_writes_nothing<O: OpenStore>(open: &O) {
    let t = fixture(open, "remove_absent", |o| o).await;
    let r = t
        .store
        .create(state(json!({"a": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    t.clock.advance(7);
    assert_eq!(t.store.remove(&r.id, "nope").await.unwrap(), 1);
    assert_eq!(load(&t.store, &r.id).await, Some(r));
}

pub async fn key_operations_on_missing_or_expired_are_not_found<O: OpenStore>(open: &O) {
    let t = fixture(open, "keys_nf", |o| o).await;
    let missing = id("missing");
    assert_code(t.store.get(&missing, "k").await, ErrorCode::NotFound);
    assert_code(
        t.store.set(&missing, "k", json!(1)).await,
        ErrorCode::NotFound,
    );
    assert_code(t.store.remove(&missing, "k").await, ErrorCode::NotFound);
    let r = t
        .store
        .create(state(json!({"k": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    t.clock.advance(TTL);
    assert_code(t.store.get(&r.id, "k").await, ErrorCode::NotFound);
    assert_code(t.store.set(&r.id, "k", json!(2)).await, ErrorCode::NotFound);
    assert_code(t.store.remove(&r.id, "k").await, ErrorCode::NotFound);
    assert!(sorted_ids(&t.store).await.is_empty(), "nothing was created");
}

pub async fn empty_keys_are_invalid_input<O: OpenStore>(open: &O) {
    let t = fixture(open, "empty_key", |o| o).await;
    let r = t
        .store
        .create(state(json!({"a": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_code(t.store.get(&r.id, "").await, ErrorCode::InvalidInput);
    assert_code(
        t.store.set(&r.id, "", json!(1)).await,
        ErrorCode::InvalidInput,
    );
    assert_code(t.store.remove(&r.id, "").await, ErrorCode::InvalidInput);
    assert_eq!(load(&t.store, &r.id).await, Some(r));
}

/// Every record of `store` in full, sorted by id: for comparing the whole store before and
/// after calls that must change nothing.
async fn snapshot<S: SessionStore>(store: &S) -> Vec<SessionRecord> {
    let ids: Vec<SessionId> = sorted_ids(store).await.iter().map(|s| id(s)).collect();
    let records = store.load_many(&ids).await.unwrap();
    assert_eq!(records.len(), ids.len());
    records
        .into_iter()
        .zip(&ids)
        .map(|(r, i)| r.unwrap_or_else(|| panic!("{i} is listed but does not load")))
        .collect()
}

/// In Rust an id reaches a store only as a [`SessionId`], so a malformed one is refused when
/// the `SessionId` is made, before any store call (the JS API validates the same way at each
/// call; `api.test.mjs` checks that). What the store itself must do is carry every valid id
/// unchanged: ids at the limits of the grammar (1 character, 128 characters, each of `-` and
/// `_`, every character of the alphabet) go through every operation that takes an id, and
/// come back as they went in from `ids()`, records and `change_id`.
pub async fn ids_at_the_limits_work_everywhere_and_malformed_ones_are_refused<O: OpenStore>(
    open: &O,
) {
    let t = fixture(open, "id_limits", |o| o).await;
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let longest = alphabet.repeat(wasm_session_store::MAX_ID_LEN / alphabet.len());
    assert_eq!(longest.len(), wasm_session_store::MAX_ID_LEN);
    let dashes = "-".repeat(wasm_session_store::MAX_ID_LEN);
    let limits = ["a", "Z", "9", "-", "_", longest.as_str(), dashes.as_str()];
    for (n, raw) in limits.iter().enumerate() {
        let i = id(raw);
        let n = n as i64;
        let created = t
            .store
            .create_with_id(&i, state(json!({"n": n})), Ttl::StoreDefault)
            .await
            .unwrap();
        assert_eq!(created.id.as_str(), *raw);
        assert_eq!(load(&t.store, &i).await, Some(created));
        assert_eq!(t.store.save(&i, state(json!({"n": n}))).await.unwrap(), 2);
        assert_eq!(
            t.store
                .save_if_version(&i, state(json!({"n": n})), 2)
                .await
                .unwrap(),
            3
        );
        assert_eq!(t.store.set(&i, "k", json!(raw)).await.unwrap(), 4);
        assert_eq!(t.store.get(&i, "k").await.unwrap(), Some(json!(raw)));
        assert_eq!(t.store.remove(&i, "k").await.unwrap(), 5);
        t.store.update_ttl(&i, Some(2 * TTL)).await.unwrap();
        let results = t
            .store
            .save_many(vec![SaveEntry {
                id: i.clone(),
                state: state(json!({"n": n, "many": true})),
                expected: Some(5),
            }])
            .await
            .unwrap();
        assert_eq!(results, vec![Ok(6)], "{raw}");
        let many = t.store.load_many(std::slice::from_ref(&i)).await.unwrap();
        assert_eq!(many.len(), 1);
        let back = many[0].as_ref().expect("loadMany finds it");
        assert_eq!(
            (back.id.as_str(), back.version, back.expires_at),
            (*raw, 6, Some(T0 + 2 * TTL))
        );
    }
    let mut all: Vec<String> = limits.iter().map(|s| s.to_string()).collect();
    all.sort();
    assert_eq!(sorted_ids(&t.store).await, all);
    // changeId onto and off a 128-character id, from a 1-character one.
    let moved = id(&"_".repeat(wasm_session_store::MAX_ID_LEN));
    let before = load(&t.store, &id("a")).await.unwrap();
    assert_eq!(
        t.store.change_id(&id("a"), Some(&moved)).await.unwrap(),
        moved
    );
    assert_eq!(
        load(&t.store, &moved).await,
        Some(SessionRecord {
            id: moved.clone(),
            ..before.clone()
        })
    );
    assert_eq!(load(&t.store, &id("a")).await, None);
    assert_eq!(
        t.store.change_id(&moved, Some(&id("a"))).await.unwrap(),
        id("a")
    );
    assert_eq!(load(&t.store, &id("a")).await, Some(before));
    assert_eq!(sorted_ids(&t.store).await, all);

    // Malformed ids: refused, naming the id, and the whole store is as it was.
    let stored = snapshot(&t.store).await;
    assert_eq!(stored.len(), limits.len());
    let too_long = format!("{longest}x");
    for bad in [
        "",
        "has space",
        "colon:id",
        "slash/id",
        "dot.id",
        "ünï",
        "日本",
        "tab\tid",
        "nul\u{0}",
        too_long.as_str(),
    ] {
        match SessionId::new(bad) {
            Ok(accepted) => panic!("{bad:?} was accepted as an id: {accepted}"),
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::InvalidInput, "{bad:?}: {e}");
                let shown: String = bad.chars().take(40).collect();
                assert!(e.message().contains(&shown), "{bad:?}: {e}");
            }
        }
    }
    assert_eq!(snapshot(&t.store).await, stored, "nothing changed");

    for raw in limits {
        assert!(t.store.delete(&id(raw)).await.unwrap(), "{raw}");
        assert_eq!(load(&t.store, &id(raw)).await, None, "{raw}");
    }
    assert!(sorted_ids(&t.store).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The change feed

/// Events as `(kind, id, new_id, version)`, in the order they came.
type SeenEvents =
    std::rc::Rc<std::cell::RefCell<Vec<(String, Option<String>, Option<String>, Option<u64>)>>>;

/// Collects a store's events.
fn record_events<S: SessionStore>(store: &S) -> (wasm_session_store::Subscription, SeenEvents) {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = seen.clone();
    let subscription = store.subscribe(move |e| {
        assert!(e.local, "a store's own events are local");
        sink.borrow_mut().push((
            e.kind.as_str().to_owned(),
            e.id.as_ref().map(|id| id.as_str().to_owned()),
            e.new_id.as_ref().map(|id| id.as_str().to_owned()),
            e.version,
        ));
    });
    (subscription, seen)
}

// ---------------------------------------------------------------------------------------------
// Batches

pub async fn load_many_returns_each_live_record_in_order<O: OpenStore>(open: &O) {
    let t = fixture(open, "load_many", |o| o).await;
    let short = t
        .store
        .create_with_id(&id("lm-short"), state(json!({"n": 1})), Ttl::Millis(5))
        .await
        .unwrap();
    let long = t
        .store
        .create_with_id(&id("lm-long"), state(json!({"n": 2})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(t.store.load_many(&[]).await.unwrap(), vec![]);
    let ids = [id("lm-long"), id("lm-missing"), id("lm-short")];
    let got = t.store.load_many(&ids).await.unwrap();
    assert_eq!(got, vec![Some(long.clone()), None, Some(short)]);
    t.clock.advance(5);
    let got = t.store.load_many(&ids).await.unwrap();
    assert_eq!(got, vec![Some(long), None, None], "expired reads as None");
    assert_code(
        t.store.load_many(&[id("lm-long"), id("lm-long")]).await,
        ErrorCode::InvalidInput,
    );
}

pub async fn load_many_slides_every_record_it_returns<O: OpenStore>(open: &O) {
    let t = fixture(open, "load_many_sliding", |o| o.sliding(true)).await;
    for name in ["lms-a", "lms-b"] {
        t.store
            .create_with_id(&id(name), State::new(), Ttl::StoreDefault)
            .await
            .unwrap();
    }
    t.clock.advance(TTL - 1);
    let got = t
        .store
        .load_many(&[id("lms-a"), id("lms-b")])
        .await
        .unwrap();
    let now = T0 + TTL - 1;
    assert_eq!(got.len(), 2, "one entry per id asked for");
    for (record, name) in got.iter().zip(["lms-a", "lms-b"]) {
        let record = record
            .as_ref()
            .unwrap_or_else(|| panic!("{name} is live one ms before its deadline"));
        assert_eq!(record.id.as_str(), name);
        assert_eq!(record.expires_at, Some(now + TTL), "{name} slid");
        assert_eq!(record.version, 1, "a read is not a state write");
    }
    t.clock.advance(TTL - 1);
    assert_eq!(
        sorted_ids(&t.store).await,
        ["lms-a", "lms-b"],
        "the moved deadlines were stored (ids() reads without sliding)"
    );
}

pub async fn save_many_writes_each_entry_or_reports_its_conflict<O: OpenStore>(open: &O) {
    let t = fixture(open, "save_many", |o| o).await;
    let (_subscription, seen) = record_events(&t.store);
    for name in ["sm-a", "sm-b"] {
        t.store
            .create_with_id(&id(name), state(json!({"n": 0})), Ttl::StoreDefault)
            .await
            .unwrap();
    }
    t.store
        .save(&id("sm-b"), state(json!({"n": 1})))
        .await
        .unwrap(); // sm-b at version 2
    t.clock.advance(1);
    let entry = |name: &str, n: i32, expected: Option<u64>| SaveEntry {
        id: id(name),
        state: state(json!({ "n": n })),
        expected,
    };
    let results = t
        .store
        .save_many(vec![
            entry("sm-a", 10, None),      // unconditional: version 2
            entry("sm-b", 20, Some(1)),   // stale: conflict, not written
            entry("sm-new", 30, Some(0)), // must not exist: created
            entry("sm-up", 40, None),     // upsert: created
        ])
        .await
        .unwrap();
    assert_eq!(results[0], Ok(2));
    assert_eq!(
        results[1],
        Err(wasm_session_store::StoreError::VersionConflict {
            id: "sm-b".into(),
            expected: 1,
            actual: 2
        })
    );
    assert_eq!((&results[2], &results[3]), (&Ok(1), &Ok(1)));
    let loaded = t
        .store
        .load_many(&[id("sm-a"), id("sm-b"), id("sm-new"), id("sm-up")])
        .await
        .unwrap();
    let ns: Vec<_> = loaded
        .iter()
        .map(|r| r.as_ref().map(|r| (r.state.get("n").unwrap(), r.version)))
        .collect();
    assert_eq!(
        ns,
        vec![
            Some((json!(10), 2)),
            Some((json!(1), 2)),
            Some((json!(30), 1)),
            Some((json!(40), 1))
        ]
    );
    assert_eq!(loaded[0].as_ref().unwrap().updated_at, T0 + 1);
    let s = |x: &str| Some(x.to_owned());
    let tail: Vec<_> = seen.borrow()[3..].to_vec();
    assert_eq!(
        tail,
        vec![
            ("saved".to_owned(), s("sm-a"), None, Some(2)),
            ("created".into(), s("sm-new"), None, Some(1)),
            ("created".into(), s("sm-up"), None, Some(1)),
        ],
        "events for the written entries only, in entry order"
    );
    // The whole call is refused, with nothing written, for duplicate ids or a bad expected.
    assert_code(
        t.store
            .save_many(vec![entry("sm-a", 1, None), entry("sm-a", 2, None)])
            .await,
        ErrorCode::InvalidInput,
    );
    assert_code(
        t.store
            .save_many(vec![
                entry("sm-a", 1, None),
                entry("sm-z", 2, Some(1 << 53)),
            ])
            .await,
        ErrorCode::InvalidInput,
    );
    assert_eq!(load(&t.store, &id("sm-a")).await.unwrap().version, 2);
    assert!(load(&t.store, &id("sm-z")).await.is_none());
    assert_eq!(t.store.save_many(vec![]).await.unwrap(), vec![]);
}

pub async fn save_many_over_expired_records_starts_them_over<O: OpenStore>(open: &O) {
    let t = fixture(open, "save_many_expired", |o| o).await;
    t.store
        .create_with_id(&id("sme-a"), state(json!({"n": 1})), Ttl::Millis(5))
        .await
        .unwrap();
    t.store
        .save(&id("sme-a"), state(json!({"n": 2})))
        .await
        .unwrap();
    t.clock.advance(5);
    let results = t
        .store
        .save_many(vec![SaveEntry {
            id: id("sme-a"),
            state: state(json!({"n": 3})),
            expected: Some(2),
        }])
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().map_err(|e| e.code()),
        Err(ErrorCode::VersionConflict),
        "an expired record has version 0"
    );
    let results = t
        .store
        .save_many(vec![SaveEntry {
            id: id("sme-a"),
            state: state(json!({"n": 3})),
            expected: Some(0),
        }])
        .await
        .unwrap();
    assert_eq!(results, vec![Ok(1)]);
}

pub async fn events_report_every_change_in_write_order<O: OpenStore>(open: &O) {
    let t = fixture(open, "events", |o| o).await;
    let (subscription, seen) = record_events(&t.store);
    let a = id("ev-a");
    t.store
        .create_with_id(&a, state(json!({"n": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    t.store.save(&a, state(json!({"n": 2}))).await.unwrap();
    t.store
        .save_if_version(&a, state(json!({"n": 3})), 2)
        .await
        .unwrap();
    t.store.set(&a, "k", json!(true)).await.unwrap();
    t.store.remove(&a, "k").await.unwrap();
    t.store.remove(&a, "absent").await.unwrap(); // changes nothing: no event
    t.store.update_ttl(&a, Some(5)).await.unwrap();
    t.store.load(&a).await.unwrap(); // reads make no event
    t.store.change_id(&a, Some(&id("ev-b"))).await.unwrap();
    t.store.save(&id("ev-c"), state(json!({}))).await.unwrap();
    t.store
        .save_if_version(&id("ev-d"), state(json!({})), 0)
        .await
        .unwrap();
    assert!(t.store.delete(&id("ev-c")).await.unwrap());
    assert!(!t.store.delete(&id("ev-c")).await.unwrap()); // nothing there: no event
                                                          // Refused writes make no event.
    assert_code(
        t.store
            .save_if_version(&id("ev-d"), state(json!({})), 7)
            .await,
        ErrorCode::VersionConflict,
    );
    assert_code(
        t.store.set(&id("ev-c"), "k", json!(1)).await,
        ErrorCode::NotFound,
    );
    t.clock.advance(5); // ev-b expires (TTL 5)
    assert_eq!(t.store.delete_expired(None).await.unwrap(), 1);
    t.store.clear().await.unwrap();
    let s = |x: &str| Some(x.to_owned());
    let expected = vec![
        ("created".to_owned(), s("ev-a"), None, Some(1)),
        ("saved".into(), s("ev-a"), None, Some(2)),
        ("saved".into(), s("ev-a"), None, Some(3)),
        ("saved".into(), s("ev-a"), None, Some(4)),
        ("saved".into(), s("ev-a"), None, Some(5)),
        ("ttlUpdated".into(), s("ev-a"), None, Some(5)),
        ("idChanged".into(), s("ev-a"), s("ev-b"), Some(5)),
        ("created".into(), s("ev-c"), None, Some(1)),
        ("created".into(), s("ev-d"), None, Some(1)),
        ("deleted".into(), s("ev-c"), None, Some(1)),
        ("expired".into(), s("ev-b"), None, Some(5)),
        ("cleared".into(), None, None, None),
    ];
    assert_eq!(*seen.borrow(), expected);
    drop(subscription);
    t.store
        .create(State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(
        seen.borrow().len(),
        expected.len(),
        "no events after unsubscribing"
    );
}

pub async fn replacing_or_touching_an_expired_session_reports_it_expired<O: OpenStore>(open: &O) {
    let t = fixture(open, "events_expired", |o| o.sliding(true)).await;
    let (_subscription, seen) = record_events(&t.store);
    for name in ["ex-a", "ex-b", "ex-c", "ex-d"] {
        t.store
            .create_with_id(&id(name), State::new(), Ttl::Millis(10))
            .await
            .unwrap();
    }
    t.clock.advance(10);
    assert!(t.store.load(&id("ex-a")).await.unwrap().is_none()); // removed on access
    t.store
        .create_with_id(&id("ex-b"), State::new(), Ttl::StoreDefault)
        .await
        .unwrap();
    t.store.save(&id("ex-c"), State::new()).await.unwrap();
    assert!(!t.store.delete(&id("ex-d")).await.unwrap());
    let kinds: Vec<(String, Option<String>)> = seen.borrow()[4..]
        .iter()
        .map(|(k, i, _, _)| (k.clone(), i.clone()))
        .collect();
    let e = |k: &str, i: &str| (k.to_owned(), Some(i.to_owned()));
    assert_eq!(
        kinds,
        [
            e("expired", "ex-a"),
            e("expired", "ex-b"),
            e("created", "ex-b"),
            e("expired", "ex-c"),
            e("created", "ex-c"),
            e("expired", "ex-d"),
        ]
    );
    assert_eq!(
        t.store.delete_expired(None).await.unwrap(),
        0,
        "each removed once"
    );
}

/// Calls `$m!(name)` for every case of the suite, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_conformance_case {
    (($($m:tt)*) ($($args:tt)*)) => {
        $($m)*!($($args)*;
            create_then_load_round_trips, unicode_and_numbers_round_trip,
            one_mebibyte_state_round_trips, create_on_live_id_is_already_exists,
            create_on_expired_id_replaces_it, create_ttl_choices,
            store_without_ttl_creates_sessions_that_never_expire,
            bad_ttls_are_invalid_input_and_write_nothing, load_of_missing_and_expired_is_none,
            ids_lists_live_sessions_only, save_upserts_and_bumps_the_version,
            save_on_expired_id_starts_over_at_version_1,
            save_if_version_succeeds_on_the_expected_version,
            save_if_version_conflict_reports_expected_and_actual,
            save_if_version_zero_creates_only_when_absent, save_if_version_on_expired_sees_version_0,
            update_ttl_moves_the_deadline_and_keeps_the_version,
            update_ttl_of_missing_or_expired_is_not_found, sliding_moves_the_deadline_on_every_access,
            sliding_skips_removal_of_an_absent_key, sliding_without_ttl_never_expires,
            max_lifetime_caps_every_deadline, max_lifetime_applies_to_sessions_without_ttl,
            delete_reports_whether_a_live_record_went, change_id_moves_everything_but_the_id,
            change_id_generates_an_id_when_none_is_given, change_id_refusals_change_nothing,
            change_id_of_expired_fails_and_onto_expired_succeeds,
            delete_expired_counts_and_honours_the_batch, clear_removes_only_this_stores_sessions,
            stores_with_different_names_are_isolated, get_set_remove_work_on_one_key,
            remove_of_an_absent_key_writes_nothing, key_operations_on_missing_or_expired_are_not_found,
            empty_keys_are_invalid_input,
            ids_at_the_limits_work_everywhere_and_malformed_ones_are_refused,
            events_report_every_change_in_write_order,
            replacing_or_touching_an_expired_session_reports_it_expired,
            load_many_returns_each_live_record_in_order, load_many_slides_every_record_it_returns,
            save_many_writes_each_entry_or_reports_its_conflict,
            save_many_over_expired_records_starts_them_over
        );
    };
}

/// Stamps out the conformance suite as one test per case.
///
/// `conformance_tests!(native, factory)` makes `#[test]`s driven by a blocking executor;
/// `conformance_tests!(wasm, factory)` makes `#[wasm_bindgen_test]`s (the calling crate depends
/// on `wasm-bindgen-test`). `factory` is an expression of a type implementing [`OpenStore`],
/// typically `|options| async move { ... }`.
#[macro_export]
macro_rules! conformance_tests {
    (native, $factory:expr) => {
        $crate::__for_each_conformance_case!(($crate::__conformance_native)($factory));
    };
    (wasm, $factory:expr) => {
        $crate::__for_each_conformance_case!(($crate::__conformance_wasm)($factory));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_native {
    ($factory:expr; $($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            $crate::block_on($crate::$case(&$factory));
        }
    )*};
    ($module:ident, $factory:expr; $($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            $crate::block_on($crate::$module::$case(&$factory));
        }
    )*};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_wasm {
    ($factory:expr; $($case:ident),* $(,)?) => {$(
        #[::wasm_bindgen_test::wasm_bindgen_test]
        async fn $case() {
            $crate::$case(&$factory).await;
        }
    )*};
    ($module:ident, $factory:expr; $($case:ident),* $(,)?) => {$(
        #[::wasm_bindgen_test::wasm_bindgen_test]
        async fn $case() {
            $crate::$module::$case(&$factory).await;
        }
    )*};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_migration_case {
    (($($m:tt)*) ($($args:tt)*)) => {
        $($m)*!($($args)*;
            an_old_record_is_migrated_on_read_and_stored_by_the_next_write,
            get_set_and_remove_see_the_migrated_state,
            a_newer_record_is_corrupt_to_an_old_store_and_its_writes_replace_it,
            a_failing_migrate_is_invalid_input_and_writes_nothing,
            without_migrate_older_records_are_returned_as_stored,
            a_sliding_read_moves_the_deadline_but_stores_the_old_state,
            two_releases_interleave_without_losing_an_update
        );
    };
}

/// Stamps out the state-migration cases ([`migration`]) as one test per case, like
/// [`conformance_tests!`](crate::conformance_tests). The factory must open the same records
/// for the same store name (two releases of an app on one storage).
#[macro_export]
macro_rules! migration_tests {
    (native, $factory:expr) => {
        $crate::__for_each_migration_case!(($crate::__conformance_native)(migration, $factory));
    };
    (wasm, $factory:expr) => {
        $crate::__for_each_migration_case!(($crate::__conformance_wasm)(migration, $factory));
    };
}
