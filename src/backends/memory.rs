//! [`MemoryBackend`]: records in a map, living as long as the store instance.

use crate::engine::{Backend, Slot, Store, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::SessionRecord;
use crate::store::StoreOptions;
use std::cell::RefCell;
use std::collections::HashMap;

/// Records held in memory by one store instance; nothing is shared or persisted.
///
/// The fallback when no browser storage is usable, and the fastest store for tests.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    records: RefCell<HashMap<SessionId, SessionRecord>>,
}

/// A session store in memory. Its data lives as long as the instance.
///
/// # Examples
/// ```
/// use wasm_session_store::{MemoryStore, SessionStore, StoreOptions, Ttl};
/// # pollster::block_on(async {
/// let store = MemoryStore::open(StoreOptions::new().name("app")).unwrap();
/// let record = store.create(Default::default(), Ttl::StoreDefault).await.unwrap();
/// let version = store.set(&record.id, "user", "ada".into()).await.unwrap();
/// assert_eq!(version, 2);
/// assert_eq!(store.get(&record.id, "user").await.unwrap(), Some("ada".into()));
/// # });
/// ```
pub type MemoryStore = Store<MemoryBackend>;

impl Store<MemoryBackend> {
    /// An empty memory store.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) when an option is out of range.
    pub fn open(options: StoreOptions) -> Result<Self, StoreError> {
        Store::with_backend(MemoryBackend::default(), options)
    }
}

impl MemoryBackend {
    fn slot(&self, id: &SessionId) -> Slot {
        match self.records.borrow().get(id) {
            Some(record) => Slot::Record(record.clone()),
            None => Slot::Empty,
        }
    }
}

impl Backend for MemoryBackend {
    async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        Ok(ids.iter().map(|id| self.slot(id)).collect())
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        let writes = decide(self.read(ids).await?)?;
        let mut records = self.records.borrow_mut();
        for write in writes {
            match write {
                Write::Put(record) => {
                    records.insert(record.id.clone(), record);
                }
                Write::Delete(id) => {
                    records.remove(&id);
                }
            }
        }
        Ok(())
    }

    async fn live_ids(&self, now_ms: u64) -> Result<Vec<SessionId>, StoreError> {
        Ok(self
            .records
            .borrow()
            .values()
            .filter(|r| !r.is_expired(now_ms))
            .map(|r| r.id.clone())
            .collect())
    }

    async fn delete_expired(
        &self,
        now_ms: u64,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let mut records = self.records.borrow_mut();
        let expired: Vec<(SessionId, u64)> = records
            .values()
            .filter(|r| r.is_expired(now_ms))
            .map(|r| (r.id.clone(), r.version))
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        for (id, _) in &expired {
            records.remove(id);
        }
        Ok(expired)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.records.borrow_mut().clear();
        Ok(())
    }
}
