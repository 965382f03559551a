//! [`IndexedDbBackend`]: one IndexedDB database per store name, one object store keyed by id,
//! an index on the deadline so expiry walks only expired records.
//!
//! Each value is `{ exp, rec }`: `rec` is the record in the versioned [codec]
//! format, `exp` its deadline (absent for records that never expire, so the index skips them).
//! Every read-check-write is one readwrite transaction, so no two tabs can both win a CAS.

use crate::browser::{exception_name, global_property, storage_error, unavailable_from};
use crate::codec;
use crate::engine::{Backend, Expiry, Slot, Store, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::StoreOptions;
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::IdbFactory;

// Each transaction is one call and one promise (`idb.js`, inlined into the glue), and so is
// reconnecting: a Rust closure per request and per transaction event, and an `await` per step
// (each a state in the engine's one async function), cost more wasm, and more time.
#[wasm_bindgen(module = "/src/backends/idb.js")]
extern "C" {
    /// Opens the database with the schema in place: a connection handle that reopens itself
    /// when lost. Rejects with "blocked" after the timeout.
    fn idb_connect(factory: &IdbFactory, name: &str, blocked_ms: u32) -> Promise;
    /// Closes the connection; the next operation reopens it.
    fn idb_close(c: &JsValue);
    /// `[t, ...texts]`: a new transaction and the record texts under the space-separated
    /// `keys` (string, undefined or null).
    fn idb_get(c: &JsValue, write: bool, keys: &str) -> Promise;
    #[wasm_bindgen(catch)]
    fn idb_put(t: &JsValue, key: &str, rec: &str, exp: Option<f64>) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    fn idb_delete(t: &JsValue, key: &str) -> Result<(), JsValue>;
    /// Removes every record in a transaction of its own.
    fn idb_clear(c: &JsValue) -> Promise;
    /// Resolves when the transaction completes; rejects with its error when it aborts.
    fn idb_commit(t: &JsValue) -> Promise;
    /// Aborts the transaction.
    fn idb_abort(t: &JsValue);
    /// `[t, keys, texts]` of every record, or of the first `limit` (0: all) expired at `now`
    /// (in `t`, or a new readwrite transaction when it is undefined).
    fn idb_scan(c: &JsValue, t: &JsValue, now: Option<f64>, limit: u32) -> Promise;
    /// The keys from `lower` (inclusive) to `upper` (exclusive).
    fn idb_keys(c: &JsValue, lower: &str, upper: &str) -> Promise;
}

/// How long an open may stay blocked by other connections before it fails with BLOCKED.
pub const DEFAULT_BLOCKED_TIMEOUT_MS: u32 = 3_000;

/// Records in IndexedDB. Works in windows, dedicated workers and service workers.
pub struct IndexedDbBackend {
    name: String,
    blocked_timeout_ms: u32,
    /// The connection handle of `idb.js` (which reopens the database when it was closed).
    conn: JsValue,
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

fn factory() -> Result<IdbFactory, StoreError> {
    let value = global_property("indexedDB")?;
    if value.is_undefined() || value.is_null() {
        return Err(StoreError::unavailable(
            "IndexedDB is not available in this context",
        ));
    }
    Ok(value.unchecked_into())
}

/// The error of an open of database `name`: BLOCKED when other connections kept it from
/// upgrading for `blocked_timeout_ms`.
fn open_error(name: &str, blocked_timeout_ms: u32, e: &JsValue) -> StoreError {
    if e.as_string().is_some() {
        let mut reason = String::from("another tab or worker keeps database \"");
        reason.push_str(name);
        reason.push_str("\" open at an older version and did not close it within ");
        crate::error::push_u64(&mut reason, blocked_timeout_ms.into());
        reason.push_str(" ms: close the other tabs of this site and retry");
        StoreError::Blocked {
            reason: reason.into(),
        }
    } else if exception_name(e) == "VersionError" {
        unavailable_from("the database was upgraded while opening; retry", e)
    } else {
        unavailable_from("IndexedDB could not open the database", e)
    }
}

/// The version of an expired, readable record of `id` stored as `text`.
fn expired_version(id: &SessionId, text: &JsValue, expiry: Expiry) -> Option<u64> {
    match to_slot(id, text) {
        Slot::Record(record) if expiry.is_expired(&record) => Some(record.version),
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
        let conn = JsFuture::from(idb_connect(&factory()?, name, blocked_timeout_ms))
            .await
            .map_err(|e| open_error(name, blocked_timeout_ms, &e))?;
        Ok(IndexedDbBackend {
            name: name.to_owned(),
            blocked_timeout_ms,
            conn,
        })
    }

    /// Awaits one of the helpers' promises, a browser error as a StoreError.
    async fn wait(&self, promise: Promise) -> Result<Array, StoreError> {
        match JsFuture::from(promise).await {
            Ok(value) => Ok(value.unchecked_into()),
            // A reopen that failed.
            Err(e) if Array::is_array(&e) => Err(open_error(
                &self.name,
                self.blocked_timeout_ms,
                &Array::from(&e).get(0),
            )),
            Err(e) if exception_name(&e) == "NotFoundError" => Err(unavailable_from(
                "the database has no session records store (was it deleted?)",
                &e,
            )),
            Err(e) => Err(storage_error(&e)),
        }
    }

    /// Removes up to `limit` expired records in one transaction. The deadline index gives the
    /// candidates in bulk (`getAllKeys` + `getAll` over `exp <= now`, one round trip per page,
    /// rather than one per cursor step); each is checked by its envelope and deleted.
    /// Unreadable records are skipped, never removed by expiry; a page they filled is followed
    /// by a longer one, so they cannot hide expired records behind them.
    ///
    /// The index holds the deadlines as written, which this store caps when it writes them: a
    /// record whose stored deadline lies past `expiry`'s cap (moved there in storage, or written
    /// under a higher cap) is not a candidate here, and is removed when it is next read.
    async fn delete_expired_in(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<(JsValue, Vec<(SessionId, u64)>), StoreError> {
        let mut t = JsValue::UNDEFINED;
        let mut removed = Vec::new();
        let mut skipped = 0u32;
        loop {
            // 0 asks for every match. Earlier pages' deletes are already applied in `t`.
            let page = limit.map_or(0, |n| (n - removed.len()) as u32 + skipped);
            let scan = self.wait(idb_scan(&self.conn, &t, Some(expiry.now_ms as f64), page));
            let scan = match scan.await {
                Ok(scan) => scan,
                Err(e) => {
                    // Nothing this transaction deleted is kept.
                    if !t.is_undefined() {
                        idb_abort(&t);
                    }
                    return Err(e);
                }
            };
            t = scan.get(0);
            let (keys, texts): (Array, Array) =
                (scan.get(1).unchecked_into(), scan.get(2).unchecked_into());
            let fetched = keys.length();
            skipped = 0;
            for (key, text) in keys.iter().zip(texts.iter()) {
                if limit.is_some_and(|n| removed.len() == n) {
                    return Ok((t, removed));
                }
                let id = key.as_string().and_then(|k| SessionId::new(k).ok());
                match id.and_then(|id| expired_version(&id, &text, expiry).map(|v| (id, v))) {
                    Some((id, version)) => {
                        if let Err(e) = idb_delete(&t, id.as_str()) {
                            idb_abort(&t);
                            return Err(storage_error(&e));
                        }
                        removed.push((id, version));
                    }
                    None => skipped += 1,
                }
            }
            // Done unless skipped records filled the page: then the next page is longer by
            // as many, so every round gets further.
            if page == 0 || skipped == 0 || fetched < page {
                return Ok((t, removed));
            }
        }
    }

    /// Space-separated ids.
    fn keys(ids: &[&SessionId]) -> String {
        let mut keys = String::new();
        for id in ids {
            if !keys.is_empty() {
                keys.push(' ');
            }
            keys.push_str(id.as_str());
        }
        keys
    }

    /// The slots of `ids` from `[t, ...texts]`.
    fn slots(ids: &[&SessionId], got: &Array) -> Vec<Slot> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| to_slot(id, &got.get(i as u32 + 1)))
            .collect()
    }

    /// Closes the connection. Later operations reopen it.
    pub fn close(&self) {
        idb_close(&self.conn);
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
        let got = self
            .wait(idb_get(&self.conn, false, &Self::keys(ids)))
            .await?;
        Ok(Self::slots(ids, &got))
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        let got = self
            .wait(idb_get(&self.conn, true, &Self::keys(ids)))
            .await?;
        let t = got.get(0);
        let issued = decide(Self::slots(ids, &got)).and_then(|writes| {
            for write in writes {
                match &write {
                    Write::Put(record) => idb_put(
                        &t,
                        record.id.as_str(),
                        &codec::encode(record),
                        record.expires_at.map(|at| at as f64),
                    ),
                    Write::Delete(id) => idb_delete(&t, id.as_str()),
                }
                .map_err(|e| storage_error(&e))?;
            }
            Ok(())
        });
        if let Err(e) = issued {
            idb_abort(&t);
            return Err(e);
        }
        // Quota errors surface here, as the transaction's abort: nothing was written.
        self.wait(idb_commit(&t)).await.map(drop)
    }

    async fn live_ids(&self, expiry: Expiry) -> Result<Vec<SessionId>, StoreError> {
        let scan = self.wait(idb_scan(&self.conn, &JsValue::UNDEFINED, None, 0));
        let scan = scan.await?;
        let (keys, texts): (Array, Array) =
            (scan.get(1).unchecked_into(), scan.get(2).unchecked_into());
        let mut ids = Vec::new();
        for (key, text) in keys.iter().zip(texts.iter()) {
            let Some(id) = key.as_string().and_then(|k| SessionId::new(k).ok()) else {
                continue;
            };
            if let Slot::Record(record) = to_slot(&id, &text) {
                if !expiry.is_expired(&record) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    async fn delete_expired(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let (t, removed) = self.delete_expired_in(expiry, limit).await?;
        self.wait(idb_commit(&t)).await.map(|_| removed)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.wait(idb_clear(&self.conn)).await.map(drop)
    }

    async fn reserved_ids(&self, prefix: &str) -> Result<Vec<SessionId>, StoreError> {
        // Every key that starts with `prefix`: up to the prefix with its last character bumped
        // (prefixes are ASCII).
        let mut upper = prefix.to_owned();
        if let Some(last) = upper.pop() {
            upper.push(char::from(last as u8 + 1));
        }
        let keys = self.wait(idb_keys(&self.conn, prefix, &upper)).await?;
        Ok(keys
            .iter()
            .filter_map(|key| key.as_string().map(SessionId::reserved_owned))
            .collect())
    }
}
