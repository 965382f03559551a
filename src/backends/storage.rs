//! [`StorageBackend`]: records in `localStorage` or `sessionStorage`, one key per record.
//!
//! Each record sits at exactly `<name>:<id>`, in the versioned [codec](crate::codec) format;
//! anything of the store's own sits under `<name>::`. Names and ids cannot contain `:`, so no
//! two stores share a key, and keys of other code are never read, changed or removed.

use super::web::{global_property, storage_error};
use crate::codec;
use crate::engine::{Backend, Slot, Store, Write};
use crate::error::StoreError;
use crate::id::SessionId;
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

/// Records in a Web Storage area, under the store's key prefix.
pub struct StorageBackend {
    storage: Storage,
    kind: StorageKind,
    /// `<name>:`
    prefix: String,
}

impl std::fmt::Debug for StorageBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageBackend")
            .field("kind", &self.kind)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A session store in `localStorage` or `sessionStorage`.
pub type StorageStore = Store<StorageBackend>;

impl Store<StorageBackend> {
    /// Opens the store in the given storage area.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) for bad options;
    /// [`Unavailable`](StoreError::Unavailable) where the area does not exist (workers) or is
    /// blocked.
    pub fn open(kind: StorageKind, options: StoreOptions) -> Result<Self, StoreError> {
        options.validate()?;
        let backend = StorageBackend::open(kind, options.get_name())?;
        Store::with_backend(backend, options)
    }
}

impl StorageBackend {
    /// The storage area for store `name`.
    ///
    /// # Errors
    /// [`Unavailable`](StoreError::Unavailable) where the area does not exist or is blocked.
    pub fn open(kind: StorageKind, name: &str) -> Result<Self, StoreError> {
        let value = global_property(kind.global_name())?;
        let storage = value.dyn_into::<Storage>().map_err(|_| {
            let mut reason = String::from(kind.global_name());
            reason.push_str(" does not exist in this context (workers have none)");
            StoreError::Unavailable {
                reason: reason.into(),
            }
        })?;
        let mut prefix = String::from(name);
        prefix.push(':');
        Ok(StorageBackend {
            storage,
            kind,
            prefix,
        })
    }

    /// Which storage area this is.
    pub fn kind(&self) -> StorageKind {
        self.kind
    }

    fn key(&self, id: &SessionId) -> String {
        let mut key = self.prefix.clone();
        key.push_str(id.as_str());
        key
    }

    fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.storage.get_item(key).map_err(|e| storage_error(&e))
    }

    fn slot(&self, id: &SessionId) -> Result<Slot, StoreError> {
        Ok(match self.get(&self.key(id))? {
            None => Slot::Empty,
            Some(text) => match codec::decode(id, &text) {
                Ok(record) => Slot::Record(record),
                Err(e) => Slot::Corrupt(e),
            },
        })
    }

    /// Every key of this store: records (`<name>:<valid id>`) and metadata (`<name>::...`),
    /// with the record's id where it is one.
    fn own_keys(&self) -> Result<Vec<(String, Option<SessionId>)>, StoreError> {
        let len = self.storage.length().map_err(|e| storage_error(&e))?;
        let mut keys = Vec::new();
        for i in 0..len {
            let Some(key) = self.storage.key(i).map_err(|e| storage_error(&e))? else {
                continue;
            };
            let Some(rest) = key.strip_prefix(self.prefix.as_str()) else {
                continue;
            };
            if rest.starts_with(':') {
                keys.push((key, None));
            } else if let Ok(id) = SessionId::new(rest) {
                keys.push((key, Some(id)));
            }
        }
        Ok(keys)
    }

    /// Every readable record.
    fn records(&self) -> Result<Vec<crate::SessionRecord>, StoreError> {
        let mut out = Vec::new();
        for (key, id) in self.own_keys()? {
            let Some(id) = id else { continue };
            if let Some(text) = self.get(&key)? {
                if let Ok(record) = codec::decode(&id, &text) {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    /// Applies `writes` all or nothing: puts first (a full storage fails them before anything
    /// is removed), and on a failure every key already written gets its old value back.
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let (puts, deletes): (Vec<Write>, Vec<Write>) =
            writes.into_iter().partition(|w| matches!(w, Write::Put(_)));
        let mut undo: Vec<(String, Option<String>)> = Vec::new();
        for write in puts.into_iter().chain(deletes) {
            let (key, result) = match &write {
                Write::Put(record) => {
                    let key = self.key(&record.id);
                    let before = self.get(&key)?;
                    let result = self.storage.set_item(&key, &codec::encode(record));
                    undo.push((key.clone(), before));
                    (key, result)
                }
                Write::Delete(id) => {
                    let key = self.key(id);
                    undo.push((key.clone(), self.get(&key)?));
                    let result = self.storage.remove_item(&key);
                    (key, result)
                }
            };
            if let Err(e) = result {
                let _ = key;
                for (key, before) in undo.into_iter().rev() {
                    let _ = match before {
                        Some(text) => self.storage.set_item(&key, &text),
                        None => self.storage.remove_item(&key),
                    };
                }
                return Err(storage_error(&e));
            }
        }
        Ok(())
    }
}

impl Backend for StorageBackend {
    async fn read(&self, id: &SessionId) -> Result<Slot, StoreError> {
        self.slot(id)
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        let slots = ids
            .iter()
            .map(|id| self.slot(id))
            .collect::<Result<Vec<_>, _>>()?;
        self.apply(decide(slots)?)
    }

    async fn live_ids(&self, now_ms: u64) -> Result<Vec<SessionId>, StoreError> {
        Ok(self
            .records()?
            .into_iter()
            .filter(|r| !r.is_expired(now_ms))
            .map(|r| r.id)
            .collect())
    }

    async fn delete_expired(
        &self,
        now_ms: u64,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let expired: Vec<(SessionId, u64)> = self
            .records()?
            .into_iter()
            .filter(|r| r.is_expired(now_ms))
            .map(|r| (r.id, r.version))
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        for (id, _) in &expired {
            self.storage
                .remove_item(&self.key(id))
                .map_err(|e| storage_error(&e))?;
        }
        Ok(expired)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        for (key, _) in self.own_keys()? {
            self.storage
                .remove_item(&key)
                .map_err(|e| storage_error(&e))?;
        }
        Ok(())
    }
}
