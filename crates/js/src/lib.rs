//! The JavaScript API of the npm package: the `SessionStore` class of the contract, over
//! `WebStore`, the browser runtime of the `wasm-session-store` crate. The only crate with
//! `#[wasm_bindgen]` exports, and the one that sets the wasm's allocator: only the npm build
//! (`scripts/build.sh`) compiles it, so Rust apps depending on the library get neither.
//!
//! Every async method returns a promise that rejects with a `StoreError` (never throws
//! synchronously), whatever the argument types: arguments arrive as `JsValue` and are checked
//! here, inside the promise.

#![cfg(target_arch = "wasm32")]

mod convert;

use convert::{id_from_js, int_from_js, key_from_js, record_to_js, state_from_js};
use js_sys::{Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::rc::Weak;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use wasm_session_store::__private::{
    check_key, engine, event_object, exception_reason, js_headers, new_id_for, run, sync,
    text_from_js, text_to_js, Op, Outcome,
};
use wasm_session_store::{
    BackendKind, Clock, Conflict, Encryption, SaveEntry, SessionId, SessionStore as _, State,
    StoreError, StoreEvent, StoreOptions, Subscribers, Subscription, SyncOptions, WebStore,
};

/// The clock of the `now` option: a JS function returning ms since the epoch.
struct JsClock(Function);

impl Clock for JsClock {
    fn now_ms(&self) -> Result<u64, StoreError> {
        let value = self.0.call0(&JsValue::UNDEFINED).map_err(|e| {
            let mut reason = String::from("the now() option threw: ");
            reason.push_str(&exception_reason(&e));
            StoreError::invalid(reason)
        })?;
        match value.as_f64() {
            Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(ms as u64),
            _ => Err(StoreError::invalid(
                "the now() option must return a finite number of ms since the epoch",
            )),
        }
    }
}

/// The `migrate` option: `migrate(state, fromVersion)`, a synchronous JS function returning
/// the state of the current `stateVersion`.
fn js_migrate(migrate: Function) -> impl Fn(State, u64) -> Result<State, StoreError> {
    move |state, from| {
        let value = migrate
            .call2(
                &JsValue::UNDEFINED,
                &text_to_js(state.as_json()),
                &JsValue::from_f64(from as f64),
            )
            .map_err(|e| StoreError::invalid(exception_reason(&e)))?;
        // A promise is refused there, as not a plain object: migrate is synchronous.
        state_from_js(&value, "the state it returned")
    }
}

const OPTION_KEYS: [&str; 11] = [
    "backend",
    "name",
    "ttlMs",
    "sliding",
    "maxLifetimeMs",
    "sweepIntervalMs",
    "now",
    "encryption",
    "stateVersion",
    "migrate",
    "sync",
];

/// The `sync` option: `{ url, headers?, intervalMs?, conflict? }`.
fn sync_from_js(value: &JsValue) -> Result<SyncOptions, StoreError> {
    let object = options_object(value, "sync", &["url", "headers", "intervalMs", "conflict"])?;
    let url = field(&object, "url").as_string().ok_or_else(|| {
        StoreError::invalid("sync.url must be a string: the server's absolute http(s) URL")
    })?;
    let mut sync = SyncOptions::new(url);
    let headers = field(&object, "headers");
    if !headers.is_undefined() {
        if !headers.is_function() {
            return Err(StoreError::invalid(
                "sync.headers must be a function returning an object of headers (or a promise of one)",
            ));
        }
        sync = sync.shared_headers(js_headers(headers));
    }
    let interval = field(&object, "intervalMs");
    if !interval.is_undefined() {
        sync = sync.interval_ms(int_from_js(&interval, "sync.intervalMs", 1, true)?);
    }
    let conflict = field(&object, "conflict");
    sync = sync.conflict(match conflict.as_string().as_deref() {
        _ if conflict.is_undefined() => Conflict::Server,
        Some("server") => Conflict::Server,
        Some("client") => Conflict::Client,
        _ => match conflict.dyn_into::<Function>() {
            Ok(resolve) => Conflict::Resolve(Rc::new(move |local, remote| {
                let arg = |r: Option<&wasm_session_store::SessionRecord>| r.map_or(JsValue::NULL, record_to_js);
                let value = resolve
                    .call2(&JsValue::UNDEFINED, &arg(local), &arg(remote))
                    .map_err(|e| StoreError::invalid(exception_reason(&e)))?;
                if value.is_null() {
                    return Ok(None);
                }
                // A promise is refused there, as not a plain object: the function is synchronous.
                state_from_js(&value, "the state it returned").map(Some)
            })),
            Err(_) => {
                return Err(StoreError::invalid(
                    "sync.conflict must be \"server\", \"client\" or a function (local, remote) => state | null",
                ))
            }
        },
    });
    Ok(sync)
}

/// Reads the own enumerable keys of an options object, refusing unknown ones.
fn options_object(value: &JsValue, what: &str, known: &[&str]) -> Result<Object, StoreError> {
    let not_object = || {
        let mut reason = String::from(what);
        reason.push_str(" must be a plain object or undefined");
        StoreError::invalid(reason)
    };
    if value.is_undefined() {
        return Ok(Object::new());
    }
    if !value.is_object() || js_sys::Array::is_array(value) || value.is_function() {
        return Err(not_object());
    }
    let object: Object = value.clone().unchecked_into();
    for key in Object::keys(&object).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            let mut reason = String::from("unknown key \"");
            reason.push_str(&key);
            reason.push_str("\" in ");
            reason.push_str(what);
            reason.push_str("; known keys: ");
            // A loop rather than `join`, whose generic code costs ~300 B of gzipped wasm.
            for (i, known) in known.iter().enumerate() {
                if i > 0 {
                    reason.push_str(", ");
                }
                reason.push_str(known);
            }
            return Err(StoreError::invalid(reason));
        }
    }
    Ok(object)
}

/// A JS array, or INVALID_INPUT with `reason`.
fn array_from_js(value: &JsValue, reason: &'static str) -> Result<js_sys::Array, StoreError> {
    value
        .dyn_ref::<js_sys::Array>()
        .cloned()
        .ok_or_else(|| StoreError::invalid(reason))
}

fn field(object: &Object, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn parse_options(value: &JsValue) -> Result<(BackendKind, StoreOptions), StoreError> {
    let object = options_object(value, "open() options", &OPTION_KEYS)?;
    let backend = field(&object, "backend");
    let choice = if backend.is_undefined() {
        BackendKind::Auto
    } else {
        match backend.as_string().as_deref() {
            Some("auto") => BackendKind::Auto,
            Some("indexeddb") => BackendKind::IndexedDb,
            Some("localstorage") => BackendKind::LocalStorage,
            Some("sessionstorage") => BackendKind::SessionStorage,
            Some("memory") => BackendKind::Memory,
            _ => {
                return Err(StoreError::invalid(
                    "backend must be \"auto\", \"indexeddb\", \"localstorage\", \"sessionstorage\" or \"memory\"",
                ))
            }
        }
    };
    let mut options = StoreOptions::new();
    let name = field(&object, "name");
    if !name.is_undefined() {
        match name.as_string() {
            Some(name) => options = options.name(name),
            None => return Err(StoreError::invalid("name must be a string")),
        }
    }
    let nullable = |key: &str, default: Option<u64>| -> Result<Option<u64>, StoreError> {
        let value = field(&object, key);
        if value.is_undefined() {
            Ok(default)
        } else {
            int_from_js(&value, key, 1, true)
        }
    };
    let ttl_ms = nullable("ttlMs", options.get_ttl_ms())?;
    let max_lifetime_ms = nullable("maxLifetimeMs", None)?;
    let sweep_interval_ms = nullable("sweepIntervalMs", options.get_sweep_interval_ms())?;
    options = options
        .ttl_ms(ttl_ms)
        .max_lifetime_ms(max_lifetime_ms)
        .sweep_interval_ms(sweep_interval_ms);
    let sliding = field(&object, "sliding");
    if !sliding.is_undefined() {
        match sliding.as_bool() {
            Some(sliding) => options = options.sliding(sliding),
            None => return Err(StoreError::invalid("sliding must be a boolean")),
        }
    }
    let now = field(&object, "now");
    if !now.is_undefined() {
        match now.dyn_into::<Function>() {
            Ok(now) => options = options.clock(JsClock(now)),
            Err(_) => {
                return Err(StoreError::invalid(
                    "now must be a function returning ms since the epoch",
                ))
            }
        }
    }
    let encryption = field(&object, "encryption");
    if !encryption.is_undefined() {
        let encryption = if encryption.as_string().as_deref() == Some("device") {
            Encryption::Device
        } else if encryption.is_object() {
            let key = options_object(&encryption, "encryption", &["key"])?;
            // Checked (an AES-GCM CryptoKey that encrypts and decrypts) when the store opens.
            Encryption::Key(field(&key, "key").unchecked_into())
        } else {
            return Err(StoreError::invalid(
                "encryption must be \"device\" or { key: CryptoKey }",
            ));
        };
        options = options.encryption(encryption);
    }
    let state_version = field(&object, "stateVersion");
    if let Some(version) = int_from_js(&state_version, "stateVersion", 0, false)? {
        options = options.state_version(version);
    }
    let migrate = field(&object, "migrate");
    if !migrate.is_undefined() {
        match migrate.dyn_into::<Function>() {
            Ok(migrate) => options = options.migrate(js_migrate(migrate)),
            Err(_) => {
                return Err(StoreError::invalid(
                    "migrate must be a function (state, fromVersion) => state",
                ))
            }
        }
    }
    let sync = field(&object, "sync");
    if !sync.is_undefined() {
        options = options.sync(sync_from_js(&sync)?);
    }
    options.validate()?;
    Ok((choice, options))
}

/// What the JS class holds: the store, and its JS subscribers.
struct Inner {
    web: WebStore,
    /// The JS subscribers (each wraps its function; local and remote events alike).
    listeners: Rc<Subscribers>,
    /// Forwards the store's events (this instance's and other instances') to the listeners.
    subscription: RefCell<Option<Subscription>>,
    /// The store itself, once a JS listener subscribed: events can still come when the page
    /// holds no reference to the store (the change feed, the sweeper), so like a
    /// `BroadcastChannel` with a listener or a running `setInterval`, a store that was
    /// subscribed to stays alive until `close()`, whatever the garbage collector does with
    /// the `SessionStore` object and the unsubscribe functions.
    pinned: RefCell<Option<Rc<Inner>>>,
}

impl Inner {
    /// Hears the store's events; called once, right after `open`.
    fn start(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let subscription = self
            .web
            .subscribe(move |event| Inner::deliver(&weak, event.clone()));
        *self.subscription.borrow_mut() = Some(subscription);
    }

    /// Hands `event` to the JS listeners subscribed now, asynchronously and in order: after
    /// the promise of the call that wrote it has settled and the code awaiting it has resumed.
    ///
    /// The write's task resolves its promise when it ends, which queues the caller's
    /// continuation; this task runs right after it in the same run of the task queue, so it
    /// first waits for one more microtask turn, which comes after that continuation. (Events
    /// keep their order: every event takes the same path.) A listener subscribed by then (by
    /// that continuation, say) does not get it: it was not listening when the write happened.
    fn deliver(weak: &Weak<Inner>, event: StoreEvent) {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.listeners.is_empty() {
            return;
        }
        let last = inner.listeners.last_key();
        let weak = weak.clone();
        spawn_local(async move {
            let _ = JsFuture::from(Promise::resolve(&JsValue::UNDEFINED)).await;
            if let Some(inner) = weak.upgrade() {
                // After close() the list is empty: nothing is called.
                inner.listeners.emit_upto(last, &event);
            }
        });
    }

    fn close(&self) {
        self.web.close();
        self.subscription.borrow_mut().take();
        self.listeners.clear();
        self.pinned.borrow_mut().take();
    }
}

/// A subscriber threw: report it as an uncaught error (`reportError`, as event listeners'
/// exceptions are), without stopping the other subscribers.
fn report_error(thrown: &JsValue) {
    let report = Reflect::get(&js_sys::global(), &JsValue::from_str("reportError"));
    if let Ok(report) = report.and_then(|f| f.dyn_into::<Function>()) {
        let _ = report.call1(&JsValue::UNDEFINED, thrown);
    }
}

/// The TypeScript declarations of the JS API, written by hand (`types.d.ts`): generated ones
/// would type every argument as `any`, since arguments arrive as `JsValue` to be checked here.
#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

/// A session store, opened with `SessionStore.open(options)`.
#[wasm_bindgen(js_name = SessionStore, skip_typescript)]
pub struct JsSessionStore {
    inner: Rc<Inner>,
}

fn version_to_js(version: u64) -> JsValue {
    JsValue::from_f64(version as f64)
}

/// One method call with its arguments as they came from JS, checked inside the promise.
///
/// Every method goes through [`execute`] (its arguments checked into an engine [`Op`] by
/// [`plan`], run by the engine's one async function, the outcome made JS by [`reply_to_js`])
/// rather than a future type each: that shares the promise plumbing and keeps the wasm smaller.
enum Call {
    Create(JsValue, JsValue),
    Load(JsValue),
    LoadMany(JsValue),
    Save(JsValue, JsValue),
    SaveMany(JsValue),
    SaveIfVersion(JsValue, JsValue, JsValue),
    UpdateTtl(JsValue, JsValue),
    Delete(JsValue),
    ChangeId(JsValue, JsValue),
    DeleteExpired(JsValue),
    Ids,
    Get(JsValue, JsValue),
    Set(JsValue, JsValue, JsValue),
    Remove(JsValue, JsValue),
    Clear,
    SyncNow,
    SyncStatus,
}

/// How an [`Outcome`] becomes the JS value a method resolves to.
enum Reply {
    /// The record (create).
    Record,
    /// The record or null (load).
    RecordOrNull,
    /// An array of records or nulls (loadMany).
    Records,
    /// An array of `{ ok, id, version | error }` (saveMany).
    Results,
    /// The version (save, saveIfVersion, set, remove).
    Version,
    /// The new id (changeId).
    NewId,
    /// A boolean (delete).
    Bool,
    /// A number (deleteExpired).
    Count,
    /// An array of ids (ids).
    Ids,
    /// The JSON value of this key, or undefined (get); NOT_FOUND without a live session.
    Value(String),
    /// undefined (updateTtl, clear).
    Undefined,
}

/// Checks a call's arguments: the ids it works on, the engine operation and how its outcome
/// is returned.
fn plan(
    call: Call,
    store_options: &StoreOptions,
) -> Result<(Vec<SessionId>, Op, Reply), StoreError> {
    Ok(match call {
        Call::Create(state, options) => {
            let state = if state.is_undefined() {
                State::new()
            } else {
                state_from_js(&state, "state")?
            };
            let object = options_object(&options, "create() options", &["ttlMs", "id"])?;
            let ttl_value = field(&object, "ttlMs");
            let ttl_ms = if ttl_value.is_undefined() {
                store_options.get_ttl_ms()
            } else {
                int_from_js(&ttl_value, "ttlMs", 1, true)?
            };
            let id = field(&object, "id");
            let id = if id.is_undefined() {
                SessionId::generate()?
            } else {
                id_from_js(&id, "id")?
            };
            (vec![id], Op::Create(state, ttl_ms), Reply::Record)
        }
        Call::Load(id) => (vec![id_from_js(&id, "id")?], Op::Read, Reply::RecordOrNull),
        Call::LoadMany(ids) => {
            let ids = array_from_js(&ids, "loadMany needs an array of ids")?
                .iter()
                .map(|id| id_from_js(&id, "each id"))
                .collect::<Result<Vec<_>, _>>()?;
            (ids, Op::Read, Reply::Records)
        }
        Call::SaveMany(entries) => {
            let mut batch = Vec::new();
            for entry in array_from_js(
                &entries,
                "saveMany needs an array of { id, state, expected? }",
            )?
            .iter()
            {
                if entry.is_undefined() {
                    return Err(StoreError::invalid(
                        "each saveMany entry must be { id, state, expected? }",
                    ));
                }
                let object =
                    options_object(&entry, "each saveMany entry", &["id", "state", "expected"])?;
                batch.push(SaveEntry {
                    id: id_from_js(&field(&object, "id"), "id")?,
                    state: state_from_js(&field(&object, "state"), "state")?,
                    expected: int_from_js(&field(&object, "expected"), "expected", 0, false)?,
                });
            }
            let ids = batch.iter().map(|e| e.id.clone()).collect();
            (ids, Op::Put(batch, false), Reply::Results)
        }
        Call::Save(id, state) => {
            let id = id_from_js(&id, "id")?;
            let entry = SaveEntry {
                state: state_from_js(&state, "state")?,
                id: id.clone(),
                expected: None,
            };
            (vec![id], Op::Put(vec![entry], true), Reply::Version)
        }
        Call::SaveIfVersion(id, state, expected) => {
            let id = id_from_js(&id, "id")?;
            let state = state_from_js(&state, "state")?;
            let expected = int_from_js(&expected, "expected", 0, false)?
                .ok_or_else(|| StoreError::invalid("expected must be an integer >= 0"))?;
            let entry = SaveEntry {
                id: id.clone(),
                state,
                expected: Some(expected),
            };
            (vec![id], Op::Put(vec![entry], true), Reply::Version)
        }
        Call::UpdateTtl(id, ttl_ms) => {
            let id = id_from_js(&id, "id")?;
            if ttl_ms.is_undefined() {
                return Err(StoreError::invalid(
                    "updateTtl needs ttlMs: a positive integer, or null for no expiry",
                ));
            }
            let ttl = int_from_js(&ttl_ms, "ttlMs", 1, true)?;
            (vec![id], Op::UpdateTtl(ttl), Reply::Undefined)
        }
        Call::Delete(id) => (vec![id_from_js(&id, "id")?], Op::Delete, Reply::Bool),
        Call::ChangeId(old_id, new_id) => {
            let old_id = id_from_js(&old_id, "oldId")?;
            let new_id = if new_id.is_undefined() {
                None
            } else {
                Some(id_from_js(&new_id, "newId")?)
            };
            let new_id = new_id_for(&old_id, new_id.as_ref())?;
            (vec![old_id, new_id], Op::ChangeId, Reply::NewId)
        }
        Call::DeleteExpired(batch_size) => {
            let limit = int_from_js(&batch_size, "batchSize", 1, false)?.map(|n| n as usize);
            (Vec::new(), Op::DeleteExpired(limit), Reply::Count)
        }
        Call::Ids => (Vec::new(), Op::Ids, Reply::Ids),
        Call::Get(id, key) => {
            let id = id_from_js(&id, "id")?;
            let key = key_from_js(&key)?;
            check_key(&key)?;
            (vec![id], Op::Read, Reply::Value(key))
        }
        Call::Set(id, key, value) => {
            let id = id_from_js(&id, "id")?;
            let key = key_from_js(&key)?;
            if value.is_undefined() {
                return Err(StoreError::invalid(
                    "value is undefined: use remove(id, key) to delete a key",
                ));
            }
            let value = text_from_js(&value, "value")?;
            (vec![id], Op::set(&key, &value)?, Reply::Version)
        }
        Call::Remove(id, key) => {
            let id = id_from_js(&id, "id")?;
            let key = key_from_js(&key)?;
            (vec![id], Op::remove(&key)?, Reply::Version)
        }
        Call::Clear => (Vec::new(), Op::Clear, Reply::Undefined),
        // Not engine operations: `execute` runs them.
        Call::SyncNow | Call::SyncStatus => return Err(StoreError::Closed),
    })
}

/// The JS value of `outcome`, as `reply` says.
fn reply_to_js(reply: Reply, ids: Vec<SessionId>, outcome: Outcome) -> Result<JsValue, StoreError> {
    Ok(match reply {
        Reply::Record | Reply::RecordOrNull => match outcome.into_record() {
            Some(record) => record_to_js(&record),
            None => JsValue::NULL,
        },
        Reply::Records => outcome
            .into_records()
            .iter()
            .map(|record| record.as_ref().map_or(JsValue::NULL, record_to_js))
            .collect::<js_sys::Array>()
            .into(),
        Reply::Results => ids
            .iter()
            .zip(outcome.into_versions())
            .map(|(id, result)| {
                let out = Object::new();
                let set = |key: &str, value: &JsValue| {
                    let _ = Reflect::set(&out, &JsValue::from_str(key), value);
                };
                set("ok", &JsValue::from_bool(result.is_ok()));
                set("id", &JsValue::from_str(id.as_str()));
                match result {
                    Ok(version) => set("version", &version_to_js(version)),
                    Err(e) => set("error", &e.to_js()),
                }
                JsValue::from(out)
            })
            .collect::<js_sys::Array>()
            .into(),
        Reply::Version => version_to_js(outcome.version()?),
        Reply::NewId => ids
            .get(1)
            .map_or(JsValue::UNDEFINED, |id| JsValue::from_str(id.as_str())),
        Reply::Bool => JsValue::from_bool(outcome.count() == 1),
        Reply::Count => JsValue::from_f64(outcome.count() as f64),
        Reply::Ids => outcome
            .into_ids()
            .iter()
            .map(|id| JsValue::from_str(id.as_str()))
            .collect::<js_sys::Array>()
            .into(),
        Reply::Value(key) => {
            let record = outcome.into_record().ok_or_else(|| StoreError::NotFound {
                id: ids
                    .first()
                    .map_or_else(String::new, |id| id.as_str().to_owned()),
            })?;
            match record.state.get_json(&key) {
                Some(value) => text_to_js(value),
                None => JsValue::UNDEFINED,
            }
        }
        Reply::Undefined => JsValue::UNDEFINED,
    })
}

/// syncNow() and syncStatus(): their objects.
async fn sync_call(inner: Rc<Inner>, call: Call) -> Result<JsValue, StoreError> {
    let out = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&out, &JsValue::from_str(key), &value);
    };
    let count = |n: usize| JsValue::from_f64(n as f64);
    let now = matches!(call, Call::SyncNow);
    let (report, status) = sync(&inner.web, now).await?;
    match now {
        true => {
            set("pushed", count(report.pushed));
            set("pulled", count(report.pulled));
            set("conflicts", count(report.conflicts));
            set("pending", count(report.pending));
        }
        false => {
            set("pending", count(status.pending));
            set(
                "lastSyncAt",
                status.last_sync_at.map_or(JsValue::NULL, version_to_js),
            );
            set(
                "lastError",
                match status.last_error {
                    Some(e) => {
                        let error = Object::new();
                        let _ = Reflect::set(&error, &"code".into(), &e.code.into());
                        let _ = Reflect::set(&error, &"message".into(), &e.message.into());
                        error.into()
                    }
                    None => JsValue::NULL,
                },
            );
        }
    }
    Ok(out.into())
}

/// One call: its arguments checked, the engine's one async operation, its outcome in JS.
async fn execute(inner: Rc<Inner>, call: Call) -> Result<JsValue, StoreError> {
    if let Call::SyncNow | Call::SyncStatus = call {
        return sync_call(inner, call).await;
    }
    let (ids, op, reply) = plan(call, inner.web.options())?;
    let refs: Vec<&SessionId> = ids.iter().collect();
    let outcome = run(engine(&inner.web)?, &refs, op).await?;
    drop(refs);
    reply_to_js(reply, ids, outcome)
}

impl JsSessionStore {
    /// Runs `call` as a promise: CLOSED first, then the call, errors as `StoreError`s.
    ///
    /// The call starts at once: on memory and Web Storage, and whenever it fails its checks, it
    /// is done before this returns, and the promise is made settled. Only a call still waiting
    /// (IndexedDB, another tab's answer) goes on as a wasm-bindgen-futures task: for the rest,
    /// that task, its promise executor and its two closures were most of the cost of a call.
    fn run(&self, call: Call) -> Promise {
        if self.inner.web.is_closed() {
            return Promise::reject(&StoreError::Closed.to_js());
        }
        let mut call = Box::pin(execute(self.inner.clone(), call));
        // What the call awaits keeps its own result until polled again (JsFuture does), so
        // polling it first with a waker that does nothing loses no wake-up: the task polls it
        // again right away.
        match call.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(value)) => Promise::resolve(&value),
            Poll::Ready(Err(e)) => Promise::reject(&e.to_js()),
            Poll::Pending => future_to_promise(async move { call.await.map_err(|e| e.to_js()) }),
        }
    }
}

#[wasm_bindgen(js_class = SessionStore)]
impl JsSessionStore {
    /// Opens a store. Resolves to a `SessionStore`; rejects with INVALID_INPUT for bad options
    /// and UNAVAILABLE when an explicitly chosen backend cannot be used here.
    pub fn open(options: JsValue) -> Promise {
        future_to_promise(async move {
            let (kind, options) = parse_options(&options).map_err(|e| e.to_js())?;
            let web = WebStore::open(options, kind).await.map_err(|e| e.to_js())?;
            let inner = Rc::new(Inner {
                web,
                listeners: Rc::default(),
                subscription: RefCell::default(),
                pinned: RefCell::default(),
            });
            inner.start();
            Ok(JsSessionStore { inner }.into())
        })
    }

    /// The backend in use: "indexeddb", "localstorage", "sessionstorage" or "memory".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.inner.web.backend().as_str().to_owned()
    }

    /// Why "auto" did not get IndexedDB; null otherwise.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> JsValue {
        match self.inner.web.fallback_reason() {
            Some(reason) => JsValue::from_str(reason),
            None => JsValue::NULL,
        }
    }

    /// The store name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.web.name().to_owned()
    }

    /// Method number `op` of the class, with its arguments as they came (missing ones are
    /// undefined): `scripts/class-methods.mjs` gives the class one method per operation that
    /// calls this with its number, in the order of `Call` (create 0 … clear 14). One export
    /// for all of them, where each had its own: ~1.6 KB less wasm.
    #[wasm_bindgen(js_name = __call, skip_typescript)]
    pub fn call(&self, op: u8, a: JsValue, b: JsValue, c: JsValue) -> Promise {
        self.run(match op {
            0 => Call::Create(a, b),
            1 => Call::Load(a),
            2 => Call::LoadMany(a),
            3 => Call::Save(a, b),
            4 => Call::SaveMany(a),
            5 => Call::SaveIfVersion(a, b, c),
            6 => Call::UpdateTtl(a, b),
            7 => Call::Delete(a),
            8 => Call::ChangeId(a, b),
            9 => Call::DeleteExpired(a),
            10 => Call::Ids,
            11 => Call::Get(a, b),
            12 => Call::Set(a, b, c),
            13 => Call::Remove(a, b),
            14 => Call::Clear,
            15 => Call::SyncNow,
            _ => Call::SyncStatus,
        })
    }

    /// Calls `callback` with every change to the store, from this instance (`local: true`)
    /// and from other instances, tabs and workers of the origin (`local: false`); returns the
    /// function that unsubscribes. Throws (synchronously) INVALID_INPUT when `callback` is not
    /// a function, and CLOSED after `close()`.
    ///
    /// The listener lives until that function is called or the store is closed: the returned
    /// function only holds the listener's key, so dropping it (as people do with
    /// `addEventListener`) unsubscribes nothing, and a store subscribed to stays alive until
    /// `close()`.
    pub fn subscribe(&self, callback: JsValue) -> Result<Function, JsValue> {
        if self.inner.web.is_closed() {
            return Err(StoreError::Closed.to_js());
        }
        let callback: Function = callback.dyn_into().map_err(|_| {
            StoreError::invalid("subscribe needs a function, called with each event").to_js()
        })?;
        let subscription = self.inner.listeners.subscribe(move |event| {
            // A fresh object per listener: one cannot change what the next one sees.
            if let Err(thrown) = callback.call1(&JsValue::UNDEFINED, &event_object(event, true)) {
                report_error(&thrown);
            }
        });
        let key = subscription.into_key();
        *self.inner.pinned.borrow_mut() = Some(self.inner.clone());
        // Calling it again, or after close, does nothing. It holds the listener list weakly:
        // a forgotten unsubscribe function must not end the listener (dropping it runs this
        // closure's destructor, which owns nothing that unsubscribes).
        let listeners = Rc::downgrade(&self.inner.listeners);
        let off = Closure::<dyn Fn()>::new(move || {
            if let Some(listeners) = listeners.upgrade() {
                listeners.unsubscribe(key);
            }
        });
        Ok(off.into_js_value().unchecked_into())
    }

    /// Closes the store: later calls reject with CLOSED; stops the sweeper and every
    /// subscription. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }
}
