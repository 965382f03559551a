//! Helpers for the browser tests: raw browser storage access behind the store's back.
#![allow(dead_code)]

use js_sys::{Function, Promise};
use serde_json::json;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_session_store::codec;
use wasm_session_store::{
    ErrorCode, ManualClock, SaveEntry, SessionId, SessionRecord, SessionStore, StoreError, Ttl,
};
use wasm_session_store_testing::{state, T0};

/// Runs `body` as an async JS function of `(a, b)` and awaits its result.
pub async fn js(args: &str, body: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    let f = Function::new_with_args(args, &format!("return (async () => {{ {body} }})();"));
    let promise: Promise = f.call2(&JsValue::UNDEFINED, a, b)?.into();
    JsFuture::from(promise).await
}

/// Puts `value` at `key` in database `db`'s "records" store, with a fresh raw connection.
pub async fn idb_put_raw(db: &str, key: &str, value: JsValue) {
    let body = r#"
        const [db, key] = a;
        const conn = await new Promise((ok, no) => { const r = indexedDB.open(db); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
        await new Promise((ok, no) => {
            const tx = conn.transaction("records", "readwrite");
            tx.objectStore("records").put(b, key);
            tx.oncomplete = ok; tx.onabort = () => no(tx.error);
        });
        conn.close();
    "#;
    let pair = js_sys::Array::of2(&db.into(), &key.into());
    js("a, b", body, &pair, &value).await.expect("raw put");
}

/// A value as the IndexedDB backend stores it, `{ rec, exp? }`, with any `rec` text: for
/// writing damaged or foreign records behind the store's back with [`idb_put_raw`].
pub fn idb_value(rec: &str, exp: Option<f64>) -> JsValue {
    let value = js_sys::Object::new();
    js_sys::Reflect::set(&value, &"rec".into(), &rec.into()).unwrap();
    if let Some(exp) = exp {
        js_sys::Reflect::set(&value, &"exp".into(), &exp.into()).unwrap();
    }
    value.into()
}

/// How many entries database `db`'s "records" store holds, whatever their keys, read with a
/// fresh raw connection.
pub async fn idb_count_raw(db: &str) -> u32 {
    let body = r#"
        const conn = await new Promise((ok, no) => { const r = indexedDB.open(a); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
        const n = await new Promise((ok, no) => {
            const r = conn.transaction("records").objectStore("records").count();
            r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
        });
        conn.close();
        return n;
    "#;
    let n = js("a, b", body, &db.into(), &JsValue::UNDEFINED)
        .await
        .expect("raw count");
    n.as_f64().expect("a count") as u32
}

/// A well-formed record envelope (format version 1, as the codec writes it) whose `id` field
/// is `id`, whatever it is: for records written behind the store's back under another key.
pub fn envelope(id: &str, expires_at: Option<u64>) -> String {
    let placeholder = SessionId::new("placeholder").unwrap();
    let record = SessionRecord {
        id: placeholder,
        state: state(json!({"owner": id})),
        version: 3,
        created_at: T0,
        updated_at: T0,
        expires_at,
        ttl_ms: None,
    };
    let text = codec::encode(&record).replacen(
        "\"id\":\"placeholder\"",
        &format!("\"id\":{}", serde_json::Value::from(id)),
        1,
    );
    assert!(
        text.contains(&serde_json::Value::from(id).to_string()),
        "{text}"
    );
    text
}

/// The id a record under the wrong id is stored at, and the id its envelope names.
pub const WRONG: (&str, &str) = ("wrong", "other");

/// A record stored at id `WRONG.0` whose envelope names `WRONG.1` (moved or copied behind the
/// store's back: [`envelope`]`(WRONG.1, Some(T0 + 1))`), in a store that also holds `good`,
/// live: every operation on `WRONG.0` rejects CORRUPT naming it; `good` works, `WRONG.1` is
/// not found, `ids()` lists only `good`, `delete_expired` skips the record although its
/// envelope's deadline has passed, and `delete` removes it. Ends with `WRONG.0` empty and the
/// store holding only `good`; the caller checks the raw storage.
pub async fn assert_a_record_under_the_wrong_id_is_corrupt_alone<S: SessionStore>(
    store: &S,
    clock: &ManualClock,
    good: &SessionRecord,
) {
    let (wrong, other) = (
        SessionId::new(WRONG.0).unwrap(),
        SessionId::new(WRONG.1).unwrap(),
    );
    let corrupt = |what: &str, e: StoreError| {
        let m = e.message();
        assert_eq!(e.code(), ErrorCode::Corrupt, "{what}: {e}");
        assert!(
            m.contains("\"wrong\"") && m.contains("another id"),
            "{what}: {m}"
        );
    };
    let s = || state(json!({"n": 1}));
    corrupt("load", store.load(&wrong).await.unwrap_err());
    corrupt(
        "loadMany",
        store
            .load_many(&[good.id.clone(), wrong.clone()])
            .await
            .unwrap_err(),
    );
    corrupt("save", store.save(&wrong, s()).await.unwrap_err());
    corrupt(
        "saveIfVersion",
        store.save_if_version(&wrong, s(), 3).await.unwrap_err(),
    );
    corrupt(
        "createWithId",
        store
            .create_with_id(&wrong, s(), Ttl::StoreDefault)
            .await
            .unwrap_err(),
    );
    corrupt("get", store.get(&wrong, "owner").await.unwrap_err());
    corrupt("set", store.set(&wrong, "k", json!(1)).await.unwrap_err());
    corrupt("remove", store.remove(&wrong, "owner").await.unwrap_err());
    corrupt(
        "updateTtl",
        store.update_ttl(&wrong, None).await.unwrap_err(),
    );
    corrupt(
        "changeId from it",
        store.change_id(&wrong, Some(&other)).await.unwrap_err(),
    );
    corrupt(
        "changeId onto it",
        store.change_id(&good.id, Some(&wrong)).await.unwrap_err(),
    );
    let results = store
        .save_many(vec![
            SaveEntry {
                id: wrong.clone(),
                state: s(),
                expected: None,
            },
            SaveEntry {
                id: other.clone(),
                state: s(),
                expected: Some(1),
            },
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    corrupt("saveMany", results[0].clone().unwrap_err());
    assert_eq!(
        results[1].as_ref().map_err(|e| e.code()),
        Err(ErrorCode::VersionConflict),
        "{} names no record: version 0",
        WRONG.1
    );
    assert_eq!(store.load(&other).await.unwrap(), None);
    assert_eq!(store.load(&good.id).await.unwrap().as_ref(), Some(good));
    assert_eq!(store.ids().await.unwrap(), vec![good.id.clone()]);
    clock.advance(1); // past the envelope's deadline, not the good record's
    assert_eq!(
        store.delete_expired(None).await.unwrap(),
        0,
        "the unreadable record is skipped"
    );
    corrupt(
        "load after deleteExpired",
        store.load(&wrong).await.unwrap_err(),
    );
    assert_eq!(
        store.save(&good.id, s()).await.unwrap(),
        good.version + 1,
        "the good record is writable"
    );
    assert!(store.delete(&wrong).await.unwrap(), "delete removes it");
    assert_eq!(store.load(&wrong).await.unwrap(), None);
    assert!(!store.delete(&wrong).await.unwrap(), "already gone");
    assert_eq!(store.ids().await.unwrap(), vec![good.id.clone()]);
    assert_eq!(
        store
            .create_with_id(&wrong, s(), Ttl::StoreDefault)
            .await
            .unwrap()
            .version,
        1,
        "the id is usable again"
    );
    assert!(store.delete(&wrong).await.unwrap());
}

/// Read, increment `n`, compare-and-swap, retry on conflict: `rounds` times. Returns how many
/// conflicts were retried.
pub async fn increment<S: SessionStore>(store: &S, id: &SessionId, rounds: u32) -> u32 {
    let mut conflicts = 0;
    for _ in 0..rounds {
        loop {
            let r = store.load(id).await.unwrap().unwrap();
            let n = r.state.get("n").unwrap().as_u64().unwrap();
            match store
                .save_if_version(id, state(json!({"n": n + 1})), r.version)
                .await
            {
                Ok(_) => break,
                Err(e) if e.code() == ErrorCode::VersionConflict => conflicts += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }
    conflicts
}

/// The record stored under "newer" was written by format version `v`: loading it is CORRUPT,
/// and the message says so (so that the user knows to upgrade rather than to delete).
pub async fn assert_newer_format<S: SessionStore>(store: &S, v: u64) {
    let e = store
        .load(&SessionId::new("newer").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Corrupt);
    let expected = format!("newer format version (v{v}");
    assert!(e.message().contains(&expected), "{}", e.message());
}

/// The seed of the browser replays of the model-based test: fixed, so every run checks the
/// same sequences (`npm run soak` adds more seeds through `WSS_MODEL_SEEDS`).
pub const MODEL_SEED: u64 = 20_261_122;

/// The seeds a replay runs: [`MODEL_SEED`], plus as many more as `WSS_MODEL_SEEDS` (read at
/// build time) asks for; a value that is not a number fails the replay.
pub fn model_seeds() -> impl Iterator<Item = u64> {
    let extra = wasm_session_store_testing::model::case_count(
        "WSS_MODEL_SEEDS",
        option_env!("WSS_MODEL_SEEDS"),
        0,
    );
    (0..=extra as u64).map(|n| MODEL_SEED + n)
}

/// Replays the model's seeded cases (`per_seed` cases of up to 30 operations) against stores
/// opened by `open`, and logs what it checked.
pub async fn replay_model<S, F, Fut>(open: F, label: &str, per_seed: usize)
where
    S: wasm_session_store::SessionStore,
    F: Fn(wasm_session_store::StoreOptions) -> Fut,
    Fut: std::future::Future<Output = S>,
{
    use wasm_session_store_testing::model;
    // `npm test` runs every engine: Chromium replays every case, Firefox and WebKit the first
    // quarter of the same sequences, to keep CI within its 15 minutes (issue 15 allows fewer
    // seeds in the extra engines, never fewer scenarios: every test still runs). A soak run
    // (WSS_MODEL_SEEDS set) replays everything everywhere.
    let user_agent = web_sys::window()
        .and_then(|w| w.navigator().user_agent().ok())
        .unwrap_or_default();
    let per_seed = if user_agent.contains("Chrome/") || option_env!("WSS_MODEL_SEEDS").is_some() {
        per_seed
    } else {
        per_seed / 4
    };
    let started = js_sys::Date::now();
    let (mut cases, mut total) = (0, model::Stats::default());
    for seed in model_seeds() {
        let batch = model::seeded_cases(seed, per_seed, 30);
        total += model::replay(&open, label, seed, &batch).await;
        cases += batch.len();
    }
    wasm_bindgen_test::console_log!(
        "model ({label}): {cases} cases, {} operations, {} records compared, in {:.1} s",
        total.ops,
        total.records_checked,
        (js_sys::Date::now() - started) / 1000.0
    );
}

/// Waits `ms` milliseconds (a `setTimeout`), for what arrives asynchronously from another
/// instance (the change feed). Never for expiry: that reads the injected clock.
#[allow(dead_code)]
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout: js_sys::Function = js_sys::Reflect::get(&global, &"setTimeout".into())
            .expect("setTimeout")
            .into();
        set_timeout
            .call2(&global, &resolve, &ms.into())
            .expect("setTimeout");
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A localStorage store on the leader protocol, opened directly on its backend as
/// `WebStore` does (no sweeper, no change feed): for [`ThroughFollower`].
pub async fn shared_store(
    options: wasm_session_store::StoreOptions,
) -> wasm_session_store::Store<wasm_session_store::SharedStorageBackend> {
    use wasm_session_store::{SharedStorageBackend, Store};
    let backend = SharedStorageBackend::open(options.get_name()).expect("localStorage");
    assert!(
        backend.is_coordinated(),
        "Web Locks and BroadcastChannel exist"
    );
    Store::with_backend(backend, options).expect("valid options")
}

/// Two instances of one localStorage store name: which of them leads, checked from outside.
#[allow(async_fn_in_trait)]
pub trait Leads: SessionStore + Sized {
    /// Panics unless `leader` is the leader and `follower` is not (`when` names the moment).
    async fn check_roles(leader: &Self, follower: &Self, when: &str);
}

impl Leads for wasm_session_store::Store<wasm_session_store::SharedStorageBackend> {
    async fn check_roles(leader: &Self, follower: &Self, when: &str) {
        let roles = (leader.backend().is_leader(), follower.backend().is_leader());
        assert_eq!(roles, (true, false), "{when}: (leader, follower) lead");
    }
}

impl Leads for wasm_session_store::WebStore {
    /// `WebStore` does not say whether it leads: the Web Locks of the origin do. The leader
    /// lock of the name is held once (by the leader, opened first and alive) and waited for
    /// once (by the follower, opened second); no other instance of the name exists.
    async fn check_roles(leader: &Self, follower: &Self, when: &str) {
        assert_eq!(leader.name(), follower.name());
        let lock = format!("wasm-session-store:{}:leader", leader.name());
        let body = r#"
            const { held, pending } = await navigator.locks.query();
            return [held.filter((l) => l.name === a).length, pending.filter((l) => l.name === a).length].join();
        "#;
        let counts = js("a, b", body, &lock.as_str().into(), &JsValue::UNDEFINED)
            .await
            .expect("navigator.locks.query()");
        assert_eq!(
            counts.as_string().as_deref(),
            Some("1,1"),
            "{when}: {lock} held once (the leader) and waited for once (the follower)"
        );
        assert!(
            !leader.is_closed() && !follower.is_closed(),
            "{when}: both open"
        );
    }
}

/// A localStorage store whose every operation goes through a follower: `leader`, another
/// instance of the same store name opened first and kept for as long as this lives, leads,
/// so every read and write crosses the leader protocol (a request over BroadcastChannel, the
/// leader's answer), not the leader's direct path. Every call checks the roles before and
/// after it.
pub struct ThroughFollower<S> {
    // Dropped first: the leader outlives every request of the follower.
    follower: S,
    leader: S,
}

impl<S: Leads> ThroughFollower<S> {
    /// Opens the leader with `open`, then the follower, once the leader leads.
    pub async fn open<F, Fut>(open: F, options: wasm_session_store::StoreOptions) -> Self
    where
        F: Fn(wasm_session_store::StoreOptions) -> Fut,
        Fut: std::future::Future<Output = S>,
    {
        let leader = open(options.clone()).await;
        leader.ids().await.unwrap(); // served once it is elected: it is alone
        let follower = open(options).await;
        follower.ids().await.unwrap(); // served by the leader: the follower has joined
        let this = ThroughFollower { follower, leader };
        S::check_roles(&this.leader, &this.follower, "open").await;
        this
    }

    /// `call`, a call of the follower, with the roles checked before and after.
    async fn via<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        S::check_roles(&self.leader, &self.follower, "before a call").await;
        let out = call.await;
        S::check_roles(&self.leader, &self.follower, "after a call").await;
        out
    }
}

impl<S: Leads> SessionStore for ThroughFollower<S> {
    fn name(&self) -> &str {
        self.follower.name()
    }
    async fn create(
        &self,
        state: wasm_session_store::State,
        ttl: Ttl,
    ) -> Result<SessionRecord, StoreError> {
        self.via(self.follower.create(state, ttl)).await
    }
    async fn create_with_id(
        &self,
        id: &SessionId,
        state: wasm_session_store::State,
        ttl: Ttl,
    ) -> Result<SessionRecord, StoreError> {
        self.via(self.follower.create_with_id(id, state, ttl)).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.via(self.follower.load(id)).await
    }
    async fn load_many(&self, ids: &[SessionId]) -> Result<Vec<Option<SessionRecord>>, StoreError> {
        self.via(self.follower.load_many(ids)).await
    }
    async fn save_many(
        &self,
        entries: Vec<SaveEntry>,
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        self.via(self.follower.save_many(entries)).await
    }
    async fn save(
        &self,
        id: &SessionId,
        state: wasm_session_store::State,
    ) -> Result<u64, StoreError> {
        self.via(self.follower.save(id, state)).await
    }
    async fn save_if_version(
        &self,
        id: &SessionId,
        state: wasm_session_store::State,
        expected: u64,
    ) -> Result<u64, StoreError> {
        self.via(self.follower.save_if_version(id, state, expected))
            .await
    }
    async fn update_ttl(&self, id: &SessionId, ttl_ms: Option<u64>) -> Result<(), StoreError> {
        self.via(self.follower.update_ttl(id, ttl_ms)).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.via(self.follower.delete(id)).await
    }
    async fn change_id(
        &self,
        old_id: &SessionId,
        new_id: Option<&SessionId>,
    ) -> Result<SessionId, StoreError> {
        self.via(self.follower.change_id(old_id, new_id)).await
    }
    async fn delete_expired(
        &self,
        batch_size: Option<std::num::NonZeroUsize>,
    ) -> Result<usize, StoreError> {
        self.via(self.follower.delete_expired(batch_size)).await
    }
    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        self.via(self.follower.ids()).await
    }
    async fn get_json(&self, id: &SessionId, key: &str) -> Result<Option<String>, StoreError> {
        self.via(self.follower.get_json(id, key)).await
    }
    async fn set_json(&self, id: &SessionId, key: &str, value: &str) -> Result<u64, StoreError> {
        self.via(self.follower.set_json(id, key, value)).await
    }
    async fn remove(&self, id: &SessionId, key: &str) -> Result<u64, StoreError> {
        self.via(self.follower.remove(id, key)).await
    }
    async fn clear(&self) -> Result<(), StoreError> {
        self.via(self.follower.clear()).await
    }
    fn subscribe(
        &self,
        callback: impl Fn(&wasm_session_store::StoreEvent) + 'static,
    ) -> wasm_session_store::Subscription {
        self.follower.subscribe(callback)
    }
}
