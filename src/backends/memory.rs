//! [`MemoryBackend`]: records in a map, living as long as the store instance.

use crate::engine::{Backend, Expiry, Slot, Store, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::SessionRecord;
use crate::store::StoreOptions;
use std::cell::RefCell;

/// Records held in memory by one store instance; nothing is shared or persisted.
///
/// The fallback when no browser storage is usable, and the fastest store for tests.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    /// Sorted by id, found by binary search: a `HashMap` would bring hashbrown and SipHash into
    /// the wasm (~2 KB gzipped) for the one map of the build.
    records: RefCell<Vec<SessionRecord>>,
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

/// Where `id` is, or would go, in `records`.
fn find(records: &[SessionRecord], id: &SessionId) -> Result<usize, usize> {
    records.binary_search_by(|r| r.id.as_str().cmp(id.as_str()))
}

impl MemoryBackend {
    fn slot(&self, id: &SessionId) -> Slot {
        let records = self.records.borrow();
        match find(&records, id) {
            Ok(i) => Slot::Record(records[i].clone()),
            Err(_) => Slot::Empty,
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
                Write::Put(record) => match find(&records, &record.id) {
                    Ok(i) => records[i] = record,
                    Err(i) => records.insert(i, record),
                },
                Write::Delete(id) => {
                    if let Ok(i) = find(&records, &id) {
                        records.remove(i);
                    }
                }
            }
        }
        Ok(())
    }

    async fn live_ids(&self, expiry: Expiry) -> Result<Vec<SessionId>, StoreError> {
        Ok(self
            .records
            .borrow()
            .iter()
            .filter(|r| !r.id.is_reserved() && !expiry.is_expired(r))
            .map(|r| r.id.clone())
            .collect())
    }

    async fn delete_expired(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut expired = Vec::new();
        self.records.borrow_mut().retain(|r| {
            let remove = expired.len() < limit && !r.id.is_reserved() && expiry.is_expired(r);
            if remove {
                expired.push((r.id.clone(), r.version));
            }
            !remove
        });
        Ok(expired)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.records.borrow_mut().retain(|r| r.id.is_reserved());
        Ok(())
    }

    async fn reserved_ids(&self, prefix: &str) -> Result<Vec<SessionId>, StoreError> {
        Ok(self
            .records
            .borrow()
            .iter()
            .filter(|r| r.id.as_str().starts_with(prefix))
            .map(|r| r.id.clone())
            .collect())
    }
}
