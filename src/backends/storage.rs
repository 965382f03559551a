//! [`SingleTabStorageBackend`]: records in `localStorage` or `sessionStorage`, one key per
//! record, atomic within one tab (the name says so: across tabs, localStorage goes through
//! the leader protocol of [`SharedStorageBackend`](super::leader::SharedStorageBackend)).
//!
//! Each record sits at exactly `<name>:<id>`, in the versioned [codec] format;
//! anything of the store's own sits under `<name>::`. Names and ids cannot contain `:`, so no
//! two stores share a key, and keys of other code are never read, changed or removed.

use crate::browser::{global_property, storage_error};
use crate::codec;
use crate::engine::{Backend, Expiry, Slot, Store, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::SessionRecord;
use crate::store::StoreOptions;
use wasm_bindgen::JsCast;
use web_sys::Storage;

/// Which Web Storage area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageKind {
    /// `localStorage`: shared by the tabs of an origin, kept across restarts.
    Local,
    /// `sessionStorage`: one per tab, kept across reloads of that tab.
    Session,
}

impl StorageKind {
    fn global_name(self) -> &'static str {
        match self {
            StorageKind::Local => "localStorage",
            StorageKind::Session => "sessionStorage",
        }
    }
}

/// Records in a Web Storage area, under the store's key prefix, **for one tab only** (see
/// [`SingleTabStorageStore`]). The coordinated localStorage backend keeps its records through
/// one of these in the leader tab.
pub struct SingleTabStorageBackend {
    storage: Storage,
    kind: StorageKind,
    /// `<name>:`
    prefix: String,
}

impl std::fmt::Debug for SingleTabStorageBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleTabStorageBackend")
            .field("kind", &self.kind)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Raw `(key, value)` pairs of localStorage; a `None` value is an absent key (or a removal).
pub(crate) type RawPairs = Vec<(String, Option<String>)>;

/// A readable record found by a scan: its key, its raw value, and the record.
pub(crate) type Readable = (String, Option<String>, SessionRecord);

/// The ids of the records live by `expiry`.
pub(crate) fn live_among(found: Vec<Readable>, expiry: Expiry) -> Vec<SessionId> {
    found
        .into_iter()
        .filter(|(_, _, r)| !expiry.is_expired(r))
        .map(|(_, _, r)| r.id)
        .collect()
}

/// Up to `limit` records expired by `expiry`: their `(key, raw value)` as read, and the id
/// and version of each.
pub(crate) fn expired_among(
    found: Vec<Readable>,
    expiry: Expiry,
    limit: Option<usize>,
) -> (RawPairs, Vec<(SessionId, u64)>) {
    found
        .into_iter()
        .filter(|(_, _, r)| expiry.is_expired(r))
        .take(limit.unwrap_or(usize::MAX))
        .map(|(key, raw, r)| ((key, raw), (r.id, r.version)))
        .unzip()
}

/// Removals of the given keys.
pub(crate) fn removals(pairs: &[(String, Option<String>)]) -> RawPairs {
    pairs.iter().map(|(key, _)| (key.clone(), None)).collect()
}

/// A session store in `localStorage` or `sessionStorage`, used directly: **for one tab only**.
///
/// Its read-check-writes are atomic within the tab, not across tabs: two tabs writing one
/// session through `localStorage` this way can lose each other's updates (each renderer caches
/// localStorage). For localStorage shared by tabs, open a
/// [`WebStore`](crate::WebStore) with `BackendKind::LocalStorage` (the leader-tab protocol).
/// sessionStorage belongs to one tab, so this is all it needs.
pub type SingleTabStorageStore = Store<SingleTabStorageBackend>;

impl Store<SingleTabStorageBackend> {
    /// Opens the store in the given storage area.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) for bad options;
    /// [`Unavailable`](StoreError::Unavailable) where the area does not exist (workers) or is
    /// blocked.
    pub fn open(kind: StorageKind, options: StoreOptions) -> Result<Self, StoreError> {
        options.validate()?;
        let backend = SingleTabStorageBackend::open(kind, options.get_name())?;
        Store::with_backend(backend, options)
    }
}

impl SingleTabStorageBackend {
    /// The storage area for store `name`.
    ///
    /// # Errors
    /// [`Unavailable`](StoreError::Unavailable) where the area does not exist or is blocked.
    pub fn open(kind: StorageKind, name: &str) -> Result<Self, StoreError> {
        let value = global_property(kind.global_name())?;
        let storage = value.dyn_into::<Storage>().map_err(|_| {
            let mut reason = String::from(kind.global_name());
            reason.push_str(" does not exist in this context (workers have none)");
            StoreError::unavailable(reason)
        })?;
        // WebKit (WebKitGTK 2.50.6, Safari's engine) dispatches `storage` events to a window of
        // another web process only once that window has touched its storage: a window that
        // only listens hears nothing (the change feed's fallback without BroadcastChannel).
        // Touching it (its length) connects it.
        let _ = storage.length();
        let mut prefix = String::from(name);
        prefix.push(':');
        Ok(SingleTabStorageBackend {
            storage,
            kind,
            prefix,
        })
    }

    /// Which storage area this is.
    pub fn kind(&self) -> StorageKind {
        self.kind
    }

    /// The key of a record: `<name>:<id>`.
    pub(crate) fn key(&self, id: &SessionId) -> String {
        let mut key = self.prefix.clone();
        key.push_str(id.as_str());
        key
    }

    /// A key for the store's own metadata: `<name>::<what>`.
    pub(crate) fn meta_key(&self, what: &str) -> String {
        let mut key = self.prefix.clone();
        key.push(':');
        key.push_str(what);
        key
    }

    /// The id of a record key, or `None` for any other key.
    pub(crate) fn id_of(&self, key: &str) -> Option<SessionId> {
        key.strip_prefix(self.prefix.as_str())
            .and_then(|rest| SessionId::new(rest).ok())
    }

    /// The raw value at `key`.
    pub(crate) fn get_raw(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.storage.get_item(key).map_err(|e| storage_error(&e))
    }

    /// What a raw value holds for `id`.
    pub(crate) fn decode_slot(id: &SessionId, raw: Option<String>) -> Slot {
        match raw {
            None => Slot::Empty,
            Some(text) => match codec::decode(id, &text) {
                Ok(record) => Slot::Record(record),
                Err(e) => Slot::Corrupt(e),
            },
        }
    }

    /// The keys of this store's records (`<name>:<valid id>`), readable or not, with their
    /// ids. Metadata (`<name>::...`) and every foreign key are left out.
    pub(crate) fn record_keys(&self) -> Result<Vec<(String, SessionId)>, StoreError> {
        let len = self.storage.length().map_err(|e| storage_error(&e))?;
        let mut keys = Vec::new();
        for i in 0..len {
            let Some(key) = self.storage.key(i).map_err(|e| storage_error(&e))? else {
                continue;
            };
            let Some(id) = self.id_of(&key) else {
                continue;
            };
            keys.push((key, id));
        }
        Ok(keys)
    }

    /// `(key, raw value)` of every record key of this store, readable or not.
    pub(crate) fn scan_raw(&self) -> Result<RawPairs, StoreError> {
        self.record_keys()?
            .into_iter()
            .map(|(key, _)| {
                let raw = self.get_raw(&key)?;
                Ok((key, raw))
            })
            .collect()
    }

    /// The readable records among `(key, raw value)` pairs of this store, with both.
    pub(crate) fn readable(&self, pairs: RawPairs) -> Vec<Readable> {
        pairs
            .into_iter()
            .filter_map(|(key, raw)| {
                let id = self.id_of(&key)?;
                match Self::decode_slot(&id, raw.clone()) {
                    Slot::Record(record) => Some((key, raw, record)),
                    _ => None,
                }
            })
            .collect()
    }

    /// Writes as raw `(key, value)` pairs (`None` removes).
    pub(crate) fn raw_writes(&self, writes: Vec<Write>) -> Vec<(String, Option<String>)> {
        writes
            .into_iter()
            .map(|write| match write {
                Write::Put(record) => (self.key(&record.id), Some(codec::encode(&record))),
                Write::Delete(id) => (self.key(&id), None),
            })
            .collect()
    }

    /// Applies raw writes all or nothing: puts first (a full storage fails them before
    /// anything is removed), and on a failure every key already written gets its old value
    /// back.
    pub(crate) fn apply_raw(&self, writes: &[(String, Option<String>)]) -> Result<(), StoreError> {
        let puts = writes.iter().filter(|(_, v)| v.is_some());
        let removes = writes.iter().filter(|(_, v)| v.is_none());
        let mut undo: Vec<(&str, Option<String>)> = Vec::new();
        for (i, (key, value)) in puts.chain(removes).enumerate() {
            // What the last write replaces is never restored (its own failure writes
            // nothing): a single write, a save, reads nothing back first.
            if i + 1 < writes.len() {
                undo.push((key, self.get_raw(key)?));
            }
            let result = match value {
                Some(text) => self.storage.set_item(key, text),
                None => self.storage.remove_item(key),
            };
            if let Err(e) = result {
                for (key, before) in undo.into_iter().rev() {
                    let _ = match before {
                        Some(text) => self.storage.set_item(key, &text),
                        None => self.storage.remove_item(key),
                    };
                }
                return Err(storage_error(&e));
            }
        }
        Ok(())
    }

    /// Removes every record of this store, readable or not (metadata, the engine's reserved
    /// ids among it, stays).
    pub(crate) fn clear_records(&self) -> Result<(), StoreError> {
        for (key, _) in self.record_keys()? {
            self.storage
                .remove_item(&key)
                .map_err(|e| storage_error(&e))?;
        }
        Ok(())
    }

    /// The reserved ids under `prefix` that this area holds for the store (`<name>:<prefix>...`).
    pub(crate) fn reserved_now(&self, prefix: &str) -> Result<Vec<SessionId>, StoreError> {
        let len = self.storage.length().map_err(|e| storage_error(&e))?;
        let mut ids = Vec::new();
        for i in 0..len {
            let key = self.storage.key(i).map_err(|e| storage_error(&e))?;
            if let Some(rest) = key
                .as_deref()
                .and_then(|k| k.strip_prefix(self.prefix.as_str()))
            {
                if rest.starts_with(prefix) {
                    ids.push(SessionId::reserved_owned(rest.to_owned()));
                }
            }
        }
        Ok(ids)
    }

    /// Sets a metadata value.
    pub(crate) fn set_raw(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.storage
            .set_item(key, value)
            .map_err(|e| storage_error(&e))
    }
}

impl SingleTabStorageBackend {
    /// [`Backend::read`], which localStorage does synchronously.
    pub(crate) fn read_now(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        let mut slots = Vec::with_capacity(ids.len());
        for id in ids {
            slots.push(Self::decode_slot(id, self.get_raw(&self.key(id))?));
        }
        Ok(slots)
    }

    /// [`Backend::transact`], synchronously.
    pub(crate) fn transact_now(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        let writes = self.raw_writes(decide(self.read_now(ids)?)?);
        self.apply_raw(&writes)
    }

    /// [`Backend::delete_expired`], synchronously.
    pub(crate) fn delete_expired_now(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let (found, removed) = expired_among(self.readable(self.scan_raw()?), expiry, limit);
        self.apply_raw(&removals(&found))?;
        Ok(removed)
    }
}

impl Backend for SingleTabStorageBackend {
    async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        self.read_now(ids)
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        self.transact_now(ids, decide)
    }

    async fn live_ids(&self, expiry: Expiry) -> Result<Vec<SessionId>, StoreError> {
        Ok(live_among(self.readable(self.scan_raw()?), expiry))
    }

    async fn delete_expired(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        self.delete_expired_now(expiry, limit)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.clear_records()
    }

    async fn reserved_ids(&self, prefix: &str) -> Result<Vec<SessionId>, StoreError> {
        self.reserved_now(prefix)
    }
}
