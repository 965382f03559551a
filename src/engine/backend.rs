//! The storage port: what a [`Backend`] stores and fetches for a [`Store`](super::Store).

use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::SessionRecord;

/// What a backend holds under one id.
#[derive(Clone, Debug, PartialEq)]
pub enum Slot {
    /// Nothing.
    Empty,
    /// A decoded record (possibly expired: the engine decides).
    Record(SessionRecord),
    /// Something that does not decode; the error is [`Corrupt`](StoreError::Corrupt).
    Corrupt(StoreError),
}

/// A write decided inside [`Backend::transact`].
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Store this record under its id, replacing whatever is there.
    Put(SessionRecord),
    /// Remove whatever is under this id.
    Delete(SessionId),
}

/// Where a [`Store`](super::Store) keeps its records.
///
/// Implementations store and fetch; [`Store`](super::Store) applies the contract on top. `transact` is the
/// one primitive that must be atomic: no other writer (another store instance, tab or worker on
/// the same storage) may change any of `ids` between the read and the writes.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// What is stored under each of `ids`, in order, read together (one read transaction
    /// where the storage has them).
    async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError>;

    /// Atomically reads `ids`, lets `decide` choose the writes from what it read (in the same
    /// order as `ids`), and applies them, all or nothing. When `decide` fails, nothing is
    /// written and its error is returned.
    ///
    /// An optimistic backend may call `decide` again with fresh slots when what it read
    /// changed before it could write; only the writes of the last call are applied.
    /// `decide` is a trait object so that each backend's transaction code is compiled once,
    /// not once per operation: that is most of the difference in wasm size.
    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError>;

    /// Ids of the readable records not expired at `now_ms`.
    async fn live_ids(&self, now_ms: u64) -> Result<Vec<SessionId>, StoreError>;

    /// Removes up to `limit` (all when `None`) readable records expired at `now_ms`, skipping
    /// unreadable ones, and returns the id and version of each one removed.
    async fn delete_expired(
        &self,
        now_ms: u64,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError>;

    /// Removes every record of this store, unreadable ones included, and what the engine keeps
    /// under its reserved ids (an encrypted store's key check, `:key`), and nothing else.
    async fn clear(&self) -> Result<(), StoreError>;
}
