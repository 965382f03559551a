//! [`ServerBackend`]: the engine's [`Backend`] over a [`Kv`], so that
//! `Store<ServerBackend<K>>` is the server's `SessionStore` on memory and Redis alike: the
//! engine decides every write, and the storage only makes the commit atomic (read, decide,
//! then commit only if what was read is still there, else decide again on what is).
//!
//! Also the one place a record becomes stored bytes and back, and a decided write becomes a
//! [`Commit`] (its stamp, its deadline on the storage's clock, its index entry and its
//! change), for the sync operations too.

use crate::kv::{random_token, Commit, Kv, Put, Scope, STAMP_LEN};
use crate::memory::system_ms;
use bytes::{BufMut, Bytes, BytesMut};
use std::rc::Rc;
use wasm_session_store::codec;
use wasm_session_store::{
    sealed_state, sealed_text, Backend, Clock, Expiry, SessionId, SessionRecord, Slot, State,
    StoreError, Write,
};

/// How many times a commit is tried again when another writer changed what it read, before
/// the request is answered 503.
pub const ATTEMPTS: usize = 64;

/// What a stored record is: its stamp (the ETag) and what it decodes to.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The stamp the value was written with (`None`: nothing stored).
    pub stamp: Option<String>,
    /// The record, nothing, or why it does not decode.
    pub slot: Slot,
}

/// A record as stored: `<stamp>\n<enc>\n<record>`, where `<record>` is the library's storage
/// format ([`codec`]) and `<enc>` is empty, or a sealed state as a JSON string (the record's
/// own state is then `{}`): the server keeps a client's ciphertext opaque and escaped, apart
/// from the library's own encrypted format.
pub fn encode_record(stamp: &str, record: &SessionRecord) -> Bytes {
    let (enc, text) = match sealed_text(&record.state) {
        Some(enc) => {
            let mut plain = record.clone();
            plain.state = State::new();
            (
                serde_json::to_string(enc).unwrap_or_default(),
                codec::encode(&plain),
            )
        }
        None => (String::new(), codec::encode(record)),
    };
    let mut out = BytesMut::with_capacity(STAMP_LEN + enc.len() + text.len() + 2);
    out.put_slice(stamp.as_bytes());
    out.put_u8(b'\n');
    out.put_slice(enc.as_bytes());
    out.put_u8(b'\n');
    out.put_slice(text.as_bytes());
    out.freeze()
}

/// What `value`, stored under session `id`, holds.
pub fn decode_record(id: &SessionId, value: Option<&Bytes>) -> Stored {
    let Some(value) = value else {
        return Stored {
            stamp: None,
            slot: Slot::Empty,
        };
    };
    let corrupt = |why: &'static str| Slot::Corrupt(StoreError::corrupt(id.as_str(), why));
    let text = match std::str::from_utf8(value) {
        Ok(text) => text,
        Err(_) => {
            return Stored {
                stamp: None,
                slot: corrupt("not UTF-8"),
            }
        }
    };
    let mut parts = text.splitn(3, '\n');
    let (Some(stamp), Some(enc), Some(record)) = (parts.next(), parts.next(), parts.next()) else {
        return Stored {
            stamp: text.get(..STAMP_LEN).map(str::to_owned),
            slot: corrupt("not a record of this server"),
        };
    };
    let slot = match codec::decode(id, record) {
        Ok(mut record) if !enc.is_empty() => match serde_json::from_str::<String>(enc) {
            Ok(enc) => {
                record.state = sealed_state(enc);
                Slot::Record(record)
            }
            Err(_) => corrupt("its enc is not a JSON string"),
        },
        Ok(record) => Slot::Record(record),
        Err(e) => Slot::Corrupt(e),
    };
    Stored {
        stamp: Some(stamp.to_owned()),
        slot,
    }
}

/// The records of one owner's one store, in a [`Kv`].
pub struct ServerBackend<K> {
    kv: K,
    scope: Scope,
    clock: Rc<dyn Clock>,
    keep: u64,
    grace_ms: u64,
}

impl<K: Kv> ServerBackend<K> {
    /// The records of `scope` in `kv`, for a store reading `clock` (the same clock as its
    /// options'), whose feed keeps the last `keep` changes.
    pub fn new(kv: K, scope: Scope, clock: Rc<dyn Clock>, keep: u64) -> Self {
        ServerBackend {
            kv,
            scope,
            clock,
            keep,
            grace_ms: 0,
        }
    }

    /// Has the storage forget records `grace_ms` after their deadline rather than at it.
    /// For tests on a manual clock, which judge expiry themselves while real time runs on.
    pub fn forget_after(mut self, grace_ms: u64) -> Self {
        self.grace_ms = grace_ms;
        self
    }

    /// The storage.
    pub fn kv(&self) -> &K {
        &self.kv
    }

    /// The owner's store this backend holds.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// How many changes the feed keeps.
    pub fn keep(&self) -> u64 {
        self.keep
    }

    /// When the storage forgets what ends at `deadline` (ms on the store's clock, read as
    /// `now`): the same moment on the storage's clock (the system clock), so Redis's PEXPIREAT
    /// is the record's `expiresAt` in the server, whose store reads the system clock. A store
    /// on a manual clock behind real time gets keys that live as long as they have left.
    pub fn storage_time(&self, deadline: u64, now: u64) -> u64 {
        deadline
            .saturating_add(system_ms().saturating_sub(now))
            .saturating_add(self.grace_ms)
    }

    /// Reads the records of `ids`.
    pub async fn read_stored(&self, ids: &[&SessionId]) -> Result<Vec<Stored>, StoreError> {
        let keys: Vec<String> = ids
            .iter()
            .map(|id| self.scope.record_key(id.as_str()))
            .collect();
        let values = self.kv.get(&keys).await?;
        Ok(ids
            .iter()
            .zip(&values)
            .map(|(id, value)| decode_record(id, value.as_ref()))
            .collect())
    }

    /// Adds `writes` (decided at `now`) to `commit`: each record with a fresh stamp, its
    /// deadline, its index entry and its change; each delete with its change. Returns the
    /// stamps of the records written, in order.
    pub fn stage(
        &self,
        commit: &mut Commit,
        writes: Vec<Write>,
        now: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut stamps = Vec::new();
        for write in writes {
            match write {
                Write::Put(record) => {
                    let stamp = random_token()?;
                    let id = record.id.as_str().to_owned();
                    let expire_at = record.expires_at.map(|at| self.storage_time(at, now));
                    commit.put.push(Put {
                        key: self.scope.record_key(&id),
                        value: encode_record(&stamp, &record),
                        expire_at,
                    });
                    if !id.starts_with(':') {
                        commit.index.push((id.clone(), expire_at));
                        commit.feed.push((id, stamp.clone()));
                    }
                    stamps.push(stamp);
                }
                Write::Delete(id) => {
                    let id = id.as_str();
                    commit.delete.push(self.scope.record_key(id));
                    if !id.starts_with(':') {
                        commit.unindex.push(id.to_owned());
                        commit.feed.push((id.to_owned(), String::new()));
                    }
                }
            }
        }
        Ok(stamps)
    }

    /// Applies `commit` if what it expects still holds.
    pub async fn apply(&self, commit: &Commit) -> Result<bool, StoreError> {
        self.kv
            .commit(&self.scope, commit, self.keep, &random_token()?)
            .await
    }

    /// The stored records of every indexed id, in batches of one `MGET` each.
    async fn scan(&self) -> Result<Vec<(SessionId, Stored)>, StoreError> {
        let mut ids = Vec::new();
        for id in self.kv.index(&self.scope).await? {
            // The index holds only what this backend wrote: valid ids.
            if let Ok(id) = SessionId::new(id) {
                ids.push(id);
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(256) {
            let refs: Vec<&SessionId> = batch.iter().collect();
            let stored = self.read_stored(&refs).await?;
            out.extend(batch.iter().cloned().zip(stored));
        }
        Ok(out)
    }

    /// The ids of the live records, each with its stamp, as of `expiry`.
    pub async fn live_stamps(
        &self,
        expiry: Expiry,
    ) -> Result<Vec<(SessionId, String)>, StoreError> {
        let mut live = Vec::new();
        for (id, stored) in self.scan().await? {
            if let (Slot::Record(r), Some(stamp)) = (&stored.slot, stored.stamp) {
                if !expiry.is_expired(r) {
                    live.push((id, stamp));
                }
            }
        }
        Ok(live)
    }
}

fn contention() -> StoreError {
    StoreError::unavailable(
        "other writers kept changing these sessions: the write was not applied, try again",
    )
}

impl<K: Kv> Backend for ServerBackend<K> {
    async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        Ok(self
            .read_stored(ids)
            .await?
            .into_iter()
            .map(|s| s.slot)
            .collect())
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        for _ in 0..ATTEMPTS {
            let now = self.clock.now_ms()?;
            let stored = self.read_stored(ids).await?;
            let mut commit = Commit::default();
            let mut slots = Vec::with_capacity(stored.len());
            for (id, s) in ids.iter().zip(stored) {
                commit
                    .expect
                    .push((self.scope.record_key(id.as_str()), s.stamp));
                slots.push(s.slot);
            }
            let writes = decide(slots)?;
            if writes.is_empty() {
                return Ok(());
            }
            self.stage(&mut commit, writes, now)?;
            if self.apply(&commit).await? {
                return Ok(());
            }
        }
        Err(contention())
    }

    async fn live_ids(&self, expiry: Expiry) -> Result<Vec<SessionId>, StoreError> {
        Ok(self
            .live_stamps(expiry)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    async fn delete_expired(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        for _ in 0..ATTEMPTS {
            let mut commit = Commit::default();
            let mut removed = Vec::new();
            for (id, stored) in self.scan().await? {
                if removed.len() == limit.unwrap_or(usize::MAX) {
                    break;
                }
                if let Slot::Record(r) = &stored.slot {
                    if expiry.is_expired(r) {
                        let key = self.scope.record_key(id.as_str());
                        commit.expect.push((key.clone(), stored.stamp));
                        commit.delete.push(key);
                        // Expiry is not announced in the feed: every client knows the deadline.
                        commit.unindex.push(id.as_str().to_owned());
                        removed.push((id, r.version));
                    }
                }
            }
            if removed.is_empty() || self.apply(&commit).await? {
                return Ok(removed);
            }
        }
        Err(contention())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let mut commit = Commit::default();
        for id in self.kv.index(&self.scope).await? {
            commit.delete.push(self.scope.record_key(&id));
            commit.unindex.push(id.clone());
            commit.feed.push((id, String::new()));
        }
        if !commit.delete.is_empty() {
            self.apply(&commit).await?;
        }
        Ok(())
    }
}
