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

    /// Ids of the readable records not expired by `expiry`.
    async fn live_ids(&self, expiry: Expiry) -> Result<Vec<SessionId>, StoreError>;

    /// Removes up to `limit` (all when `None`) readable records expired by `expiry`, skipping
    /// unreadable ones, and returns the id and version of each one removed.
    async fn delete_expired(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError>;

    /// Removes every session record of this store (every valid session id), unreadable ones
    /// included, and nothing else: what the engine keeps under its reserved ids (which start
    /// with `:`, such as an encrypted store's key check, `:key`) stays, for the engine to
    /// handle in its own transactions.
    async fn clear(&self) -> Result<(), StoreError>;

    /// The ids stored under the engine's reserved prefix `prefix` (a synced store's queue
    /// rows, `:s:<id>`), readable or not, in no particular order. A listing, not a read: what
    /// they hold is read with [`read`](Self::read) or in a transaction. The default lists none,
    /// for backends that never hold such rows (a store that does not sync).
    async fn reserved_ids(&self, prefix: &str) -> Result<Vec<SessionId>, StoreError> {
        let _ = prefix;
        Ok(Vec::new())
    }
}

/// When records expire, as the engine and a backend's scans judge it: at `now_ms`, a record is
/// expired once now reaches its deadline, which is its `expires_at` capped at `created_at +
/// max_lifetime_ms`. The cap is applied on every read, not only when deadlines are written: a
/// deadline moved past it in storage (by a tamperer, or under a store since opened with a
/// lower cap) still ends at the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    /// The time, in ms since the Unix epoch.
    pub now_ms: u64,
    /// The store's `maxLifetimeMs`.
    pub max_lifetime_ms: Option<u64>,
}

impl Expiry {
    /// `record`'s deadline: its `expires_at`, capped.
    pub fn deadline(&self, record: &SessionRecord) -> Option<u64> {
        let cap = self
            .max_lifetime_ms
            .map(|max| record.created_at.saturating_add(max));
        match (record.expires_at, cap) {
            (Some(at), Some(cap)) => Some(at.min(cap)),
            (at, cap) => at.or(cap),
        }
    }

    /// Whether `record` is expired (`now >= deadline`).
    pub fn is_expired(&self, record: &SessionRecord) -> bool {
        self.deadline(record).is_some_and(|at| self.now_ms >= at)
    }
}
