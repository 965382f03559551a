//! [`IndexedDbBackend`]: one IndexedDB database per store name, one object store keyed by id,
//! an index on the deadline so expiry walks only expired records.
//!
//! Each value is `{ exp, rec }`: `rec` is the record in the versioned [codec](crate::codec)
//! format, `exp` its deadline (absent for records that never expire, so the index skips them).
//! Every read-check-write is one readwrite transaction, so no two tabs can both win a CAS.

use super::web::{
    exception_name, exception_reason, global_property, requests, storage_error, Deferred, Done,
};
use crate::codec;
use crate::engine::{Backend, Slot, Store, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::SessionRecord;
use crate::store::StoreOptions;
use js_sys::{Array, Function, Object, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbIndexParameters, IdbKeyRange, IdbObjectStore, IdbOpenDbRequest,
    IdbRequest, IdbTransaction,
};

/// The object store holding the records.
const RECORDS: &str = "records";
/// The index on `exp`, the deadline.
const BY_DEADLINE: &str = "expiresAt";
/// How long an open may stay blocked by other connections before it fails with BLOCKED.
pub const DEFAULT_BLOCKED_TIMEOUT_MS: u32 = 3_000;

/// Records in IndexedDB. Works in windows, dedicated workers and service workers.
pub struct IndexedDbBackend {
    name: String,
    blocked_timeout_ms: u32,
    /// The open connection; `None` after the browser or another tab asked us to close it.
    db: RefCell<Option<IdbDatabase>>,
    /// Set by the `versionchange` handler; the handler itself lives as long as the backend.
    closed_by_peer: Rc<Cell<bool>>,
    _on_version_change: RefCell<Option<Closure<dyn FnMut()>>>,
}

impl std::fmt::Debug for IndexedDbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedDbBackend")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A session store in IndexedDB.
pub type IndexedDbStore = Store<IndexedDbBackend>;

impl Store<IndexedDbBackend> {
    /// Opens (creating if needed) the database named after the store.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) for bad options;
    /// [`Unavailable`](StoreError::Unavailable) when IndexedDB cannot be used here;
    /// [`Blocked`](StoreError::Blocked) when another connection blocks the schema upgrade for
    /// longer than [`DEFAULT_BLOCKED_TIMEOUT_MS`].
    pub async fn open(options: StoreOptions) -> Result<Self, StoreError> {
        options.validate()?;
        let backend =
            IndexedDbBackend::open(options.get_name(), DEFAULT_BLOCKED_TIMEOUT_MS).await?;
        Store::with_backend(backend, options)
    }
}

fn unavailable(reason: &str, err: &JsValue) -> StoreError {
    let mut text = String::from(reason);
    text.push_str(": ");
    text.push_str(&exception_reason(err));
    StoreError::Unavailable {
        reason: text.into(),
    }
}

fn factory() -> Result<IdbFactory, StoreError> {
    let value = global_property("indexedDB")?;
    if value.is_undefined() || value.is_null() {
        return Err(StoreError::Unavailable {
            reason: "IndexedDB is not available in this context".into(),
        });
    }
    Ok(value.unchecked_into())
}

fn has_records(db: &IdbDatabase) -> bool {
    db.object_store_names().contains(RECORDS)
}

/// Creates the object store and its index, from inside an upgrade.
fn create_schema(db: &IdbDatabase) -> Result<(), JsValue> {
    if !has_records(db) {
        let store = db.create_object_store(RECORDS)?;
        let params = IdbIndexParameters::new();
        params.set_unique(false);
        store.create_index_with_str_and_optional_parameters(BY_DEADLINE, "exp", &params)?;
    }
    Ok(())
}

/// Opens `name` at `version` (the current one when `None`), creating the schema on upgrade.
/// Rejects with BLOCKED when the open stays blocked for `blocked_timeout_ms`.
async fn open_db(
    factory: &IdbFactory,
    name: &str,
    version: Option<f64>,
    blocked_timeout_ms: u32,
) -> Result<IdbDatabase, StoreError> {
    let req: IdbOpenDbRequest = match version {
        Some(v) => factory.open_with_f64(name, v),
        None => factory.open(name),
    }
    .map_err(|e| unavailable("IndexedDB refused to open the database", &e))?;

    let upgrade_req = req.clone();
    let on_upgrade = Closure::<dyn FnMut()>::new(move || {
        if let Ok(db) = upgrade_req.result() {
            // A failure here aborts the upgrade, which fails the open request with the reason.
            let _ = create_schema(&db.unchecked_into());
        }
    });
    req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));

    // When blocked, give the other connections `blocked_timeout_ms` to close.
    let timed_out = Rc::new(Cell::new(false));
    let timer: Rc<RefCell<Option<gloo_timers::callback::Timeout>>> = Rc::default();
    let blocked = Deferred::new();
    let on_blocked = {
        let (timer, timed_out) = (timer.clone(), timed_out.clone());
        let reject = blocked.reject.clone();
        Closure::<dyn FnMut()>::new(move || {
            if timer.borrow().is_some() {
                return;
            }
            let (reject, timed_out) = (reject.clone(), timed_out.clone());
            *timer.borrow_mut() = Some(gloo_timers::callback::Timeout::new(
                blocked_timeout_ms,
                move || {
                    timed_out.set(true);
                    let _ = reject.call0(&JsValue::UNDEFINED);
                },
            ));
        })
    };
    req.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));

    let opened = js_sys::Promise::race(&Array::of2(&request_promise(&req), &blocked.promise));
    let result = JsFuture::from(opened).await;
    req.set_onupgradeneeded(None);
    req.set_onblocked(None);
    drop(timer.borrow_mut().take());
    if timed_out.get() {
        // The request is still pending: close the connection if it ever opens.
        let late = req.clone();
        req.set_onsuccess(Some(
            Closure::once_into_js(move || {
                if let Ok(db) = late.result() {
                    db.unchecked_into::<IdbDatabase>().close();
                }
            })
            .unchecked_ref(),
        ));
        let mut reason = String::from("another tab or worker keeps database \"");
        reason.push_str(name);
        reason.push_str("\" open at an older version and did not close it within ");
        crate::error::push_u64(&mut reason, blocked_timeout_ms.into());
        reason.push_str(" ms: close the other tabs of this site and retry");
        return Err(StoreError::Blocked {
            reason: reason.into(),
        });
    }
    match result {
        Ok(db) => Ok(db.unchecked_into()),
        Err(e) if exception_name(&e) == "VersionError" => Err(unavailable(
            "the database was upgraded while opening; retry",
            &e,
        )),
        Err(e) => Err(unavailable("IndexedDB could not open the database", &e)),
    }
}

/// A promise of an open request (whose handlers stay set until the request settles).
fn request_promise(req: &IdbOpenDbRequest) -> js_sys::Promise {
    let req = req.clone();
    js_sys::Promise::new(&mut |resolve, reject| {
        let ok = req.clone();
        req.set_onsuccess(Some(
            Closure::once_into_js(move || {
                let _ = resolve.call1(&JsValue::UNDEFINED, &ok.result().unwrap_or(JsValue::NULL));
            })
            .unchecked_ref(),
        ));
        let err = req.clone();
        req.set_onerror(Some(
            Closure::once_into_js(move || {
                let error = err.error().ok().flatten().map(JsValue::from);
                let _ = reject.call1(&JsValue::UNDEFINED, &error.unwrap_or(JsValue::NULL));
            })
            .unchecked_ref(),
        ));
    })
}

/// The results of two requests of one transaction, as arrays (`getAll`, `getAllKeys`).
async fn all_of(a: &IdbRequest, b: &IdbRequest) -> Result<(Array, Array), StoreError> {
    requests(&[a.clone(), b.clone()])
        .await
        .map_err(|e| storage_error(&e))?;
    let result = |req: &IdbRequest| req.result().unwrap_or_default().unchecked_into();
    Ok((result(a), result(b)))
}

/// The version of a stored value holding an expired, readable record of `id`.
fn expired_version(id: &SessionId, value: &JsValue, now_ms: u64) -> Option<u64> {
    match to_slot(id, value) {
        Slot::Record(record) if record.is_expired(now_ms) => Some(record.version),
        _ => None,
    }
}

/// The stored value for a record: `{ exp?, rec }`.
fn to_value(record: &SessionRecord) -> JsValue {
    let value = Object::new();
    if let Some(at) = record.expires_at {
        let _ = Reflect::set(&value, &"exp".into(), &JsValue::from_f64(at as f64));
    }
    let _ = Reflect::set(
        &value,
        &"rec".into(),
        &JsValue::from_str(&codec::encode(record)),
    );
    value.into()
}

/// What a stored value holds for `id`.
fn to_slot(id: &SessionId, value: &JsValue) -> Slot {
    if value.is_undefined() {
        return Slot::Empty;
    }
    let text = Reflect::get(value, &"rec".into())
        .ok()
        .and_then(|rec| rec.as_string());
    match text {
        Some(text) => match codec::decode(id, &text) {
            Ok(record) => Slot::Record(record),
            Err(e) => Slot::Corrupt(e),
        },
        None => Slot::Corrupt(StoreError::corrupt(id.as_str(), "not a session record")),
    }
}

impl IndexedDbBackend {
    /// Opens the database `name`, creating the object store and index if missing.
    ///
    /// # Errors
    /// As [`IndexedDbStore::open`].
    pub async fn open(name: &str, blocked_timeout_ms: u32) -> Result<Self, StoreError> {
        let backend = IndexedDbBackend {
            name: name.to_owned(),
            blocked_timeout_ms,
            db: RefCell::new(None),
            closed_by_peer: Rc::new(Cell::new(false)),
            _on_version_change: RefCell::new(None),
        };
        backend.connect().await?;
        Ok(backend)
    }

    /// Opens a connection with the schema in place and keeps it.
    async fn connect(&self) -> Result<IdbDatabase, StoreError> {
        let factory = factory()?;
        let mut db = open_db(&factory, &self.name, None, self.blocked_timeout_ms).await?;
        if !has_records(&db) {
            // A database of that name exists without our object store: add it in an upgrade.
            let version = db.version() + 1.0;
            db.close();
            db = open_db(&factory, &self.name, Some(version), self.blocked_timeout_ms).await?;
        }
        // Another tab wants to upgrade: close so it is not blocked; reopen on next use.
        let (peer_db, closed) = (db.clone(), self.closed_by_peer.clone());
        let on_version_change = Closure::<dyn FnMut()>::new(move || {
            peer_db.close();
            closed.set(true);
        });
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        *self._on_version_change.borrow_mut() = Some(on_version_change);
        self.closed_by_peer.set(false);
        *self.db.borrow_mut() = Some(db.clone());
        Ok(db)
    }

    /// The open connection, reopened if it was closed by a peer's upgrade.
    async fn db(&self) -> Result<IdbDatabase, StoreError> {
        let current = self.db.borrow().clone();
        match current {
            Some(db) if !self.closed_by_peer.get() => Ok(db),
            _ => self.connect().await,
        }
    }

    /// Starts a transaction on the records, reconnecting once if the connection was lost.
    async fn transaction(&self, write: bool) -> Result<IdbTransaction, StoreError> {
        let mode = JsValue::from_str(if write { "readwrite" } else { "readonly" });
        let options = Object::new();
        let _ = Reflect::set(&options, &"durability".into(), &"relaxed".into());
        let mut retried = false;
        loop {
            let db = self.db().await?;
            // `transaction(names, mode, { durability })`, called through Reflect because the
            // options overload is still behind web-sys's unstable APIs.
            let start = Reflect::get(&db, &"transaction".into())
                .and_then(|f| f.dyn_into::<Function>())
                .and_then(|f| f.call3(&db, &RECORDS.into(), &mode, &options));
            match start {
                Ok(tx) => return Ok(tx.unchecked_into()),
                Err(e) if !retried && exception_name(&e) == "InvalidStateError" => {
                    // The browser closed the connection (e.g. storage cleared): reopen once.
                    retried = true;
                    *self.db.borrow_mut() = None;
                    self.closed_by_peer.set(true);
                }
                Err(e) if exception_name(&e) == "NotFoundError" => {
                    return Err(unavailable(
                        "the database has no session records store (was it deleted?)",
                        &e,
                    ))
                }
                Err(e) => return Err(storage_error(&e)),
            }
        }
    }

    fn records(tx: &IdbTransaction) -> Result<IdbObjectStore, StoreError> {
        tx.object_store(RECORDS).map_err(|e| storage_error(&e))
    }

    /// Removes up to `limit` expired records inside `tx`. The deadline index gives the
    /// candidates in bulk (`getAllKeys` + `getAll` over `exp <= now`, one round trip per page,
    /// rather than one per cursor step); each is checked by its envelope and deleted.
    /// Unreadable records are skipped, never removed by expiry; a page they filled is followed
    /// by a longer one, so they cannot hide expired records behind them.
    async fn delete_expired_in(
        tx: &IdbTransaction,
        now_ms: u64,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let store = Self::records(tx)?;
        let index = store.index(BY_DEADLINE).map_err(|e| storage_error(&e))?;
        let range = IdbKeyRange::upper_bound(&JsValue::from_f64(now_ms as f64))
            .map_err(|e| storage_error(&e))?;
        let mut removed = Vec::new();
        let mut skipped = 0u32;
        loop {
            // 0 asks for every match. Earlier pages' deletes are already applied in `tx`.
            let page = limit.map_or(0, |n| (n - removed.len()) as u32 + skipped);
            let keys_req = index
                .get_all_keys_with_key_and_limit(&range, page)
                .map_err(|e| storage_error(&e))?;
            let values_req = index
                .get_all_with_key_and_limit(&range, page)
                .map_err(|e| storage_error(&e))?;
            let (keys, values) = all_of(&keys_req, &values_req).await?;
            let fetched = keys.length();
            skipped = 0;
            for (key, value) in keys.iter().zip(values.iter()) {
                if limit.is_some_and(|n| removed.len() == n) {
                    return Ok(removed);
                }
                let id = key.as_string().and_then(|k| SessionId::new(k).ok());
                match id.and_then(|id| expired_version(&id, &value, now_ms).map(|v| (id, v))) {
                    Some((id, version)) => {
                        store.delete(&key).map_err(|e| storage_error(&e))?;
                        removed.push((id, version));
                    }
                    None => skipped += 1,
                }
            }
            // Done unless skipped records filled the page: then the next page is longer by
            // as many, so every round gets further.
            if page == 0 || skipped == 0 || fetched < page {
                return Ok(removed);
            }
        }
    }

    /// Reads `ids` inside `tx`: every get is issued at once and awaited together, so the
    /// whole batch costs one round trip.
    async fn read_in(tx: &IdbTransaction, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        let store = Self::records(tx)?;
        let mut reads = Vec::with_capacity(ids.len());
        for id in ids {
            reads.push(
                store
                    .get(&id.as_str().into())
                    .map_err(|e| storage_error(&e))?,
            );
        }
        requests(&reads).await.map_err(|e| storage_error(&e))?;
        Ok(ids
            .iter()
            .zip(&reads)
            .map(|(id, req)| to_slot(id, &req.result().unwrap_or(JsValue::UNDEFINED)))
            .collect())
    }

    /// Closes the connection. Later operations reopen it.
    pub fn close(&self) {
        if let Some(db) = self.db.borrow_mut().take() {
            db.close();
        }
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for IndexedDbBackend {
    fn drop(&mut self) {
        self.close();
    }
}

impl Backend for IndexedDbBackend {
    async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        let tx = self.transaction(false).await?;
        Self::read_in(&tx, ids).await
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        let tx = self.transaction(true).await?;
        let done = Done::new(&tx);
        let store = Self::records(&tx)?;
        let slots = match Self::read_in(&tx, ids).await {
            Ok(slots) => slots,
            Err(e) => {
                done.abort().await;
                return Err(e);
            }
        };
        let writes = match decide(slots) {
            Ok(writes) => writes,
            Err(e) => {
                done.abort().await;
                return Err(e);
            }
        };
        if writes.is_empty() {
            return done.wait().await.map_err(|e| storage_error(&e));
        }
        for write in writes {
            let issued = match &write {
                Write::Put(record) => {
                    store.put_with_key(&to_value(record), &record.id.as_str().into())
                }
                Write::Delete(id) => store.delete(&id.as_str().into()),
            };
            if let Err(e) = issued {
                done.abort().await;
                return Err(storage_error(&e));
            }
        }
        // Quota errors surface here, as the transaction's abort: nothing was written.
        done.wait().await.map_err(|e| storage_error(&e))
    }

    async fn live_ids(&self, now_ms: u64) -> Result<Vec<SessionId>, StoreError> {
        let tx = self.transaction(false).await?;
        let store = Self::records(&tx)?;
        let keys_req = store.get_all_keys().map_err(|e| storage_error(&e))?;
        let values_req = store.get_all().map_err(|e| storage_error(&e))?;
        let (keys, values) = all_of(&keys_req, &values_req).await?;
        let mut ids = Vec::new();
        for (key, value) in keys.iter().zip(values.iter()) {
            let Some(id) = key.as_string().and_then(|k| SessionId::new(k).ok()) else {
                continue;
            };
            if let Slot::Record(record) = to_slot(&id, &value) {
                if !record.is_expired(now_ms) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    async fn delete_expired(
        &self,
        now_ms: u64,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let tx = self.transaction(true).await?;
        let done = Done::new(&tx);
        let removed = match Self::delete_expired_in(&tx, now_ms, limit).await {
            Ok(removed) => removed,
            Err(e) => {
                done.abort().await;
                return Err(e);
            }
        };
        done.wait().await.map_err(|e| storage_error(&e))?;
        Ok(removed)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let tx = self.transaction(true).await?;
        let done = Done::new(&tx);
        Self::records(&tx)?.clear().map_err(|e| storage_error(&e))?;
        done.wait().await.map_err(|e| storage_error(&e))
    }
}
