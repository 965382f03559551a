//! Backends: where a [`Store`](crate::Store) keeps its records, one file each, and
//! [`AnyBackend`] to choose one at run time.

pub mod memory;

#[cfg(target_arch = "wasm32")]
pub mod indexeddb;
#[cfg(target_arch = "wasm32")]
pub mod leader;
#[cfg(target_arch = "wasm32")]
pub mod storage;

use crate::engine::{Backend, Expiry, Slot, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use memory::MemoryBackend;

/// One of the backends, chosen at run time (as the JS `backend` option does).
///
/// The engine is compiled once for this type rather than once per backend, which keeps the
/// wasm small.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyBackend {
    /// [`MemoryBackend`].
    Memory(MemoryBackend),
    /// [`IndexedDbBackend`](indexeddb::IndexedDbBackend).
    #[cfg(target_arch = "wasm32")]
    IndexedDb(indexeddb::IndexedDbBackend),
    /// [`SingleTabStorageBackend`](storage::SingleTabStorageBackend): localStorage or sessionStorage.
    #[cfg(target_arch = "wasm32")]
    Storage(storage::SingleTabStorageBackend),
    /// [`SharedStorageBackend`](leader::SharedStorageBackend): localStorage, atomic across tabs.
    #[cfg(target_arch = "wasm32")]
    SharedStorage(leader::SharedStorageBackend),
}

impl AnyBackend {
    /// An empty memory backend.
    pub fn memory() -> Self {
        AnyBackend::Memory(MemoryBackend::default())
    }

    /// Releases what the backend holds in the browser: the IndexedDB connection, the leader
    /// lock and channel of shared localStorage. Later operations reopen what they need
    /// (IndexedDB) or work without coordination.
    pub fn close(&self) {
        match self {
            #[cfg(target_arch = "wasm32")]
            AnyBackend::IndexedDb(b) => b.close(),
            #[cfg(target_arch = "wasm32")]
            AnyBackend::SharedStorage(b) => b.close(),
            _ => {}
        }
    }
}

/// Calls the same method on whichever backend is inside.
macro_rules! dispatch {
    ($self:ident, $b:ident => $call:expr) => {
        match $self {
            AnyBackend::Memory($b) => $call,
            #[cfg(target_arch = "wasm32")]
            AnyBackend::IndexedDb($b) => $call,
            #[cfg(target_arch = "wasm32")]
            AnyBackend::Storage($b) => $call,
            #[cfg(target_arch = "wasm32")]
            AnyBackend::SharedStorage($b) => $call,
        }
    };
}

impl Backend for AnyBackend {
    async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        dispatch!(self, b => b.read(ids).await)
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        dispatch!(self, b => b.transact(ids, decide).await)
    }

    async fn live_ids(&self, expiry: Expiry) -> Result<Vec<SessionId>, StoreError> {
        dispatch!(self, b => b.live_ids(expiry).await)
    }

    async fn delete_expired(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        dispatch!(self, b => b.delete_expired(expiry, limit).await)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        dispatch!(self, b => b.clear().await)
    }

    async fn reserved_ids(&self, prefix: &str) -> Result<Vec<SessionId>, StoreError> {
        dispatch!(self, b => b.reserved_ids(prefix).await)
    }
}
