//! Helpers for the browser tests: raw browser storage access behind the store's back.
#![allow(dead_code)]

use js_sys::{Function, Promise};
use serde_json::json;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_session_store::testing::state;
use wasm_session_store::{ErrorCode, SessionId, SessionStore};

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

/// Read, increment `n`, compare-and-swap, retry on conflict: `rounds` times. Returns how many
/// conflicts were retried.
pub async fn increment<S: SessionStore>(store: &S, id: &SessionId, rounds: u32) -> u32 {
    let mut conflicts = 0;
    for _ in 0..rounds {
        loop {
            let r = store.load(id).await.unwrap().unwrap();
            let n = r.state["n"].as_u64().unwrap();
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
/// build time) asks for.
pub fn model_seeds() -> impl Iterator<Item = u64> {
    let extra = wasm_session_store::testing::model::case_count(option_env!("WSS_MODEL_SEEDS"), 0);
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
    use wasm_session_store::testing::model;
    let (mut cases, mut total) = (0, model::Stats::default());
    for seed in model_seeds() {
        let batch = model::seeded_cases(seed, per_seed, 30);
        total += model::replay(&open, label, seed, &batch).await;
        cases += batch.len();
    }
    wasm_bindgen_test::console_log!(
        "model ({label}): {cases} cases, {} operations, {} records compared",
        total.ops,
        total.records_checked
    );
}
