//! The storage port under the server's backend: keys holding stamped bytes, a commit that
//! applies only where every key read still holds the stamp it was read with, a per-store
//! index of session ids and a per-store changes feed, all written in that one atomic step.
//!
//! Two implementations: [`MemoryKv`](crate::memory::MemoryKv) (one process) and
//! [`RedisKv`](crate::redis::RedisKv) (Redis or Redis Cluster, one Lua script). They only
//! store; what to write is decided above them, once, for both
//! ([`ServerBackend`](crate::backend::ServerBackend) and [`sync`](crate::sync)).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;
use wasm_session_store::StoreError;

/// How long a stamp is: 128 random bits, base64url. Every value written starts with a fresh
/// one, so a commit compares stamps, never whole values (a 1 MiB state is not sent back to be
/// compared).
pub const STAMP_LEN: usize = 22;

/// 128 random bits from the OS, base64url (22 characters).
///
/// # Errors
/// UNAVAILABLE when the OS has no random source.
pub fn random_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|_| StoreError::unavailable("the operating system gave no random bytes"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// One owner's one store: the prefix of its keys, `wss:{<base64url of the owner>}:<name>:`.
///
/// The braces are Redis Cluster's hash tag: every key of one owner hashes to one slot, so one
/// script may touch them all, and owners spread over the masters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    prefix: String,
}

impl Scope {
    /// The scope of `owner`'s store `name` (a valid store name).
    pub fn new(owner: &str, name: &str) -> Self {
        let mut prefix = String::with_capacity(8 + owner.len() * 4 / 3 + name.len());
        prefix.push_str("wss:{");
        URL_SAFE_NO_PAD.encode_string(owner.as_bytes(), &mut prefix);
        prefix.push_str("}:");
        prefix.push_str(name);
        prefix.push(':');
        Scope { prefix }
    }

    /// The prefix every key of the scope starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, kind: &str, id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + id.len());
        key.push_str(&self.prefix);
        key.push_str(kind);
        key.push_str(id);
        key
    }

    /// Where session `id`'s record is.
    pub fn record_key(&self, id: &str) -> String {
        self.key("s:", id)
    }

    /// Where session `id` moved to, kept for a day after the move.
    pub fn moved_key(&self, id: &str) -> String {
        self.key("mv:", id)
    }

    /// The answer of the write of session `id` that carried Idempotency-Key `key`, kept for a
    /// day.
    pub fn replay_key(&self, id: &str, key: &str) -> String {
        let mut k = self.key("k:", id);
        k.push(':');
        k.push_str(key);
        k
    }

    /// The sorted set of the store's session ids (scored by when the storage forgets them).
    pub fn index_key(&self) -> String {
        self.key("ids", "")
    }

    /// The stream of the store's changes.
    pub fn feed_key(&self) -> String {
        self.key("feed", "")
    }

    /// The feed's epoch and last sequence number.
    pub fn seq_key(&self) -> String {
        self.key("seq", "")
    }
}

/// A value to write.
#[derive(Clone, Debug)]
pub struct Put {
    /// The key.
    pub key: String,
    /// The bytes, starting with their stamp.
    pub value: Bytes,
    /// When the storage forgets it, in ms since the epoch on the storage's clock; `None`:
    /// never.
    pub expire_at: Option<u64>,
}

/// One atomic write, applied only if every key of `expect` still holds its stamp.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// Keys read, each with the stamp it held (`None`: absent).
    pub expect: Vec<(String, Option<String>)>,
    /// Values to write.
    pub put: Vec<Put>,
    /// Keys to remove.
    pub delete: Vec<String>,
    /// Session ids to index, each with when the storage forgets it (`None`: never).
    pub index: Vec<(String, Option<u64>)>,
    /// Session ids to remove from the index.
    pub unindex: Vec<String>,
    /// Changes to append to the feed: a session id and its ETag (empty: deleted or moved).
    pub feed: Vec<(String, String)>,
}

/// The changes feed of one scope, as read at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPage {
    /// The feed's epoch: random, made with the feed; a cursor of another epoch is of another
    /// feed (another store, owner, server run or storage).
    pub epoch: String,
    /// The sequence number of the last change (0: none yet).
    pub last: u64,
    /// How many changes the feed still holds (the last ones, up to its limit).
    pub held: u64,
    /// The changes after the cursor asked for: sequence number, session id, ETag (empty:
    /// deleted or moved away).
    pub entries: Vec<(u64, String, String)>,
}

/// What the server's backend needs of its storage.
///
/// Every method takes keys of one [`Scope`] at a time, so each runs on one Redis Cluster slot.
#[allow(async_fn_in_trait)]
pub trait Kv: Clone + 'static {
    /// The values under `keys`, in order (`None`: absent or forgotten).
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, StoreError>;

    /// Applies `commit` to `scope` if every expected stamp still holds; whether it did. The
    /// feed keeps the last `keep` changes; a new feed gets the epoch `epoch`.
    async fn commit(
        &self,
        scope: &Scope,
        commit: &Commit,
        keep: u64,
        epoch: &str,
    ) -> Result<bool, StoreError>;

    /// The ids in `scope`'s index (possibly some the storage has forgotten since).
    async fn index(&self, scope: &Scope) -> Result<Vec<String>, StoreError>;

    /// `scope`'s feed, with the changes after sequence number `after` (none when `None`); a
    /// feed that does not exist yet is made, with the epoch `epoch`.
    async fn feed(
        &self,
        scope: &Scope,
        after: Option<u64>,
        epoch: &str,
    ) -> Result<FeedPage, StoreError>;

    /// Where this process announces the changes it commits, to the long polls waiting for
    /// them.
    fn notices(&self) -> &Notices;

    /// Whether changes committed by other processes reach the feed too (a shared storage), so
    /// a long poll must also look at it now and then rather than only wait for this process's
    /// notices.
    fn shared(&self) -> bool;
}

/// The long polls of this process waiting on each scope's feed.
#[derive(Debug, Default)]
pub struct Notices {
    waiting: Mutex<HashMap<String, Weak<Notify>>>,
}

impl Notices {
    /// What to wait on for `scope`'s next change committed by this process.
    pub fn watch(&self, scope: &Scope) -> Arc<Notify> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = waiting.get(scope.prefix()).and_then(Weak::upgrade) {
            return notify;
        }
        // Forget the scopes nobody waits on any more, now and then (here, not on every
        // commit: a commit only looks its scope up).
        if waiting.len() >= 1024 && waiting.len().is_power_of_two() {
            waiting.retain(|_, w| w.strong_count() > 0);
        }
        let notify = Arc::new(Notify::new());
        waiting.insert(scope.prefix().to_owned(), Arc::downgrade(&notify));
        notify
    }

    /// Wakes the long polls waiting on `scope`.
    pub fn announce(&self, scope: &Scope) {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = waiting.get(scope.prefix()).and_then(Weak::upgrade) {
            notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_share_a_hash_tag_and_never_collide() {
        let a = Scope::new("ada", "app");
        assert_eq!(a.record_key("x"), "wss:{YWRh}:app:s:x");
        assert_eq!(a.moved_key("x"), "wss:{YWRh}:app:mv:x");
        assert_eq!(a.replay_key("x", "k"), "wss:{YWRh}:app:k:x:k");
        assert_eq!(a.feed_key(), "wss:{YWRh}:app:feed");
        // Owners with braces or colons cannot escape their tag.
        let b = Scope::new("}:app:s:x", "app");
        assert!(b.prefix().starts_with("wss:{"));
        assert_eq!(b.prefix().matches('}').count(), 1);
        assert_ne!(Scope::new("a", "b.c"), Scope::new("a.b", "c"));
        assert_eq!(random_token().unwrap().len(), STAMP_LEN);
    }
}
