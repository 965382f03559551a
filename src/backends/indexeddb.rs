//! [`IndexedDbBackend`]: one IndexedDB database per store name, one object store keyed by id,
//! an index on the deadline so expiry walks only expired records.
//!
//! Each value is `{ exp, rec }`: `rec` is the record in the versioned [codec]
//! format, `exp` its deadline (absent for records that never expire, so the index skips them).
//! Every read-check-write is one readwrite transaction, so no two tabs can both win a CAS.

use super::web::{exception_name, exception_reason, global_property, storage_error};
use crate::codec;
use crate::engine::{Backend, Slot, Store, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::StoreOptions;
use js_sys::{Array, Promise};
use std::cell::RefCell;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory};

// Each step of a transaction is one call and one promise (`idb.js`, inlined into the glue):
// a Rust closure per request and per transaction event cost more wasm, and more time.
#[wasm_bindgen(module = "/src/backends/idb.js")]
extern "C" {
    /// Opens the database with the schema in place; rejects with "blocked" after the timeout.
    fn idb_open(factory: &IdbFactory, name: &str, blocked_ms: u32) -> Promise;
    /// Whether the connection closed itself for another context's upgrade.
    fn idb_lost(db: &IdbDatabase) -> bool;
    /// A transaction on the records (`{ tx, store, done }`).
    #[wasm_bindgen(catch)]
    fn idb_begin(db: &IdbDatabase, write: bool) -> Result<JsValue, JsValue>;
    /// The record texts under the space-separated `keys`: string, undefined or null.
    fn idb_get(t: &JsValue, keys: &str) -> Promise;
    #[wasm_bindgen(catch)]
    fn idb_put(t: &JsValue, key: &str, rec: &str, exp: Option<f64>) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    fn idb_delete(t: &JsValue, key: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    fn idb_clear(t: &JsValue) -> Result<(), JsValue>;
    /// Resolves when the transaction completes; rejects with its error when it aborts.
    fn idb_commit(t: &JsValue) -> Promise;
    /// Aborts; resolves when the transaction has ended.
    fn idb_abort(t: &JsValue) -> Promise;
    /// `[keys, texts]` of every record, or of the first `limit` (0: all) expired at `now`.
    fn idb_scan(t: &JsValue, now: Option<f64>, limit: u32) -> Promise;
}

/// Awaits one of the helpers' promises, a browser error as a StoreError.
async fn wait(promise: Promise) -> Result<JsValue, StoreError> {
    JsFuture::from(promise).await.map_err(|e| storage_error(&e))
}

/// Aborts `t` and returns `err`.
async fn abort<T>(t: &JsValue, err: StoreError) -> Result<T, StoreError> {
    let _ = JsFuture::from(idb_abort(t)).await;
    Err(err)
}

/// `[keys, texts]` of a scan, as two arrays.
fn pairs(value: &JsValue) -> (Array, Array) {
    let both: Array = value.clone().unchecked_into();
    (both.get(0).unchecked_into(), both.get(1).unchecked_into())
}

/// How long an open may stay blocked by other connections before it fails with BLOCKED.
pub const DEFAULT_BLOCKED_TIMEOUT_MS: u32 = 3_000;

/// Records in IndexedDB. Works in windows, dedicated workers and service workers.
pub struct IndexedDbBackend {
    name: String,
    blocked_timeout_ms: u32,
    /// The open connection (it closes itself when another context wants to upgrade).
    db: RefCell<Option<IdbDatabase>>,
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

/// Opens database `name` with the schema in place: BLOCKED when other connections keep it
/// from upgrading for `blocked_timeout_ms`.
async fn open_db(
    factory: &IdbFactory,
    name: &str,
    blocked_timeout_ms: u32,
) -> Result<IdbDatabase, StoreError> {
    match JsFuture::from(idb_open(factory, name, blocked_timeout_ms)).await {
        Ok(db) => Ok(db.unchecked_into()),
        Err(e) if e.as_string().is_some() => {
            let mut reason = String::from("another tab or worker keeps database \"");
            reason.push_str(name);
            reason.push_str("\" open at an older version and did not close it within ");
            crate::error::push_u64(&mut reason, blocked_timeout_ms.into());
            reason.push_str(" ms: close the other tabs of this site and retry");
            Err(StoreError::Blocked {
                reason: reason.into(),
            })
        }
        Err(e) if exception_name(&e) == "VersionError" => Err(unavailable(
            "the database was upgraded while opening; retry",
            &e,
        )),
        Err(e) => Err(unavailable("IndexedDB could not open the database", &e)),
    }
}

/// The version of an expired, readable record of `id` stored as `text`.
fn expired_version(id: &SessionId, text: &JsValue, now_ms: u64) -> Option<u64> {
    match to_slot(id, text) {
        Slot::Record(record) if record.is_expired(now_ms) => Some(record.version),
        _ => None,
    }
}

/// What a stored record text (`idb_get`: a string, undefined for nothing, null for a value
/// that is not a record) holds for `id`.
fn to_slot(id: &SessionId, text: &JsValue) -> Slot {
    if text.is_undefined() {
        return Slot::Empty;
    }
    match text.as_string() {
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
        };
        backend.connect().await?;
        Ok(backend)
    }

    /// Opens a connection with the schema in place and keeps it.
    async fn connect(&self) -> Result<IdbDatabase, StoreError> {
        let db = open_db(&factory()?, &self.name, self.blocked_timeout_ms).await?;
        *self.db.borrow_mut() = Some(db.clone());
        Ok(db)
    }

    /// The open connection, reopened if it was closed (by a peer's upgrade, or the browser).
    async fn db(&self) -> Result<IdbDatabase, StoreError> {
        let current = self.db.borrow().clone();
        match current {
            Some(db) if !idb_lost(&db) => Ok(db),
            _ => self.connect().await,
        }
    }

    /// Starts a transaction on the records, reconnecting once if the connection was lost.
    async fn transaction(&self, write: bool) -> Result<JsValue, StoreError> {
        let mut retried = false;
        loop {
            let db = self.db().await?;
            match idb_begin(&db, write) {
                Ok(t) => return Ok(t),
                Err(e) if !retried && exception_name(&e) == "InvalidStateError" => {
                    // The browser closed the connection (e.g. storage cleared): reopen once.
                    retried = true;
                    *self.db.borrow_mut() = None;
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

    /// Removes up to `limit` expired records inside `t`. The deadline index gives the
    /// candidates in bulk (`getAllKeys` + `getAll` over `exp <= now`, one round trip per page,
    /// rather than one per cursor step); each is checked by its envelope and deleted.
    /// Unreadable records are skipped, never removed by expiry; a page they filled is followed
    /// by a longer one, so they cannot hide expired records behind them.
    async fn delete_expired_in(
        t: &JsValue,
        now_ms: u64,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let mut removed = Vec::new();
        let mut skipped = 0u32;
        loop {
            // 0 asks for every match. Earlier pages' deletes are already applied in `t`.
            let page = limit.map_or(0, |n| (n - removed.len()) as u32 + skipped);
            let (keys, texts) = pairs(&wait(idb_scan(t, Some(now_ms as f64), page)).await?);
            let fetched = keys.length();
            skipped = 0;
            for (key, text) in keys.iter().zip(texts.iter()) {
                if limit.is_some_and(|n| removed.len() == n) {
                    return Ok(removed);
                }
                let id = key.as_string().and_then(|k| SessionId::new(k).ok());
                match id.and_then(|id| expired_version(&id, &text, now_ms).map(|v| (id, v))) {
                    Some((id, version)) => {
                        idb_delete(t, id.as_str()).map_err(|e| storage_error(&e))?;
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

    /// Reads `ids` inside `t`: every get is issued at once and awaited together, so the
    /// whole batch costs one round trip.
    async fn read_in(t: &JsValue, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        let mut keys = String::new();
        for id in ids {
            if !keys.is_empty() {
                keys.push(' ');
            }
            keys.push_str(id.as_str());
        }
        let texts: Array = wait(idb_get(t, &keys)).await?.unchecked_into();
        Ok(ids
            .iter()
            .zip(texts.iter())
            .map(|(id, text)| to_slot(id, &text))
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
        let t = self.transaction(false).await?;
        Self::read_in(&t, ids).await
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.transaction(true).await?;
        let slots = match Self::read_in(&t, ids).await {
            Ok(slots) => slots,
            Err(e) => return abort(&t, e).await,
        };
        let writes = match decide(slots) {
            Ok(writes) => writes,
            Err(e) => return abort(&t, e).await,
        };
        for write in writes {
            let issued = match &write {
                Write::Put(record) => idb_put(
                    &t,
                    record.id.as_str(),
                    &codec::encode(record),
                    record.expires_at.map(|at| at as f64),
                ),
                Write::Delete(id) => idb_delete(&t, id.as_str()),
            };
            if let Err(e) = issued {
                return abort(&t, storage_error(&e)).await;
            }
        }
        // Quota errors surface here, as the transaction's abort: nothing was written.
        wait(idb_commit(&t)).await.map(drop)
    }

    async fn live_ids(&self, now_ms: u64) -> Result<Vec<SessionId>, StoreError> {
        let t = self.transaction(false).await?;
        let (keys, texts) = pairs(&wait(idb_scan(&t, None, 0)).await?);
        let mut ids = Vec::new();
        for (key, text) in keys.iter().zip(texts.iter()) {
            let Some(id) = key.as_string().and_then(|k| SessionId::new(k).ok()) else {
                continue;
            };
            if let Slot::Record(record) = to_slot(&id, &text) {
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
        let t = self.transaction(true).await?;
        match Self::delete_expired_in(&t, now_ms, limit).await {
            Ok(removed) => wait(idb_commit(&t)).await.map(|_| removed),
            Err(e) => abort(&t, e).await,
        }
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let t = self.transaction(true).await?;
        if let Err(e) = idb_clear(&t) {
            return abort(&t, storage_error(&e)).await;
        }
        wait(idb_commit(&t)).await.map(drop)
    }
}
