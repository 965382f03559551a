//! [`Store`]: the contract's semantics, written once over any [`Backend`].
//!
//! A backend only stores records; it knows nothing of expiry, versions or sliding. Every rule
//! of the contract lives here, so every backend behaves the same by construction, and the
//! conformance suite checks that each backend's storage mechanics keep it so.
//!
//! One file per job: `backend` (the storage port), `decide` (the contract's rules, synchronous),
//! `ops` (the operations and their arguments), `sealing` (an encrypted store's plan around the
//! transaction), `api` (the [`SessionStore`](crate::SessionStore) methods), `queue` (a synced
//! store's queue rows, written with its writes, and what a sync pass writes), `sync` (the writes
//! a sync peer asks of one session, for a transaction of its own: the server's), and here the
//! one async path every operation takes.

mod api;
mod backend;
mod decide;
mod ops;
mod queue;
mod sealing;
mod sync;

pub use backend::{Backend, Expiry, Slot, Write};
pub use ops::{check_key, new_id_for, Op, Outcome};
#[cfg(target_arch = "wasm32")]
pub(crate) use queue::{session_of, Acked, Pulled, Remote, Row, ROWS};
pub use sync::{sealed_state, sealed_text, Replacement, SyncWrite};

use crate::crypto::{Cipher, CHECK_ID, DESTROY};
use crate::error::StoreError;
use crate::event::{EventKind, StoreEvent, Subscribers};
use crate::id::SessionId;
use crate::store::StoreOptions;
use ops::{check_distinct, check_expected};
use sealing::{
    busy, encrypted_store, holds_check, joined, same, Sealer, Settle, Step, Undecided,
    SEAL_ATTEMPTS,
};
use std::rc::Rc;

/// A session store: the contract of [`SessionStore`](crate::SessionStore) over a [`Backend`].
///
/// Usually named by its alias, such as [`MemoryStore`](crate::MemoryStore).
pub struct Store<B> {
    backend: B,
    options: StoreOptions,
    subscribers: Rc<Subscribers>,
    /// An encrypted store's key (see [`crypto`](crate::crypto)).
    cipher: Option<Cipher>,
}

impl<B: Backend> Store<B> {
    /// A store over `backend`.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) when an option is out of range.
    pub fn with_backend(backend: B, options: StoreOptions) -> Result<Self, StoreError> {
        #[cfg(target_arch = "wasm32")]
        if options.get_encryption().is_some() {
            return Err(StoreError::invalid(
                "an encrypted store is opened with WebStore::open, which makes or checks its key",
            ));
        }
        Self::with_cipher(backend, options, None)
    }

    /// A store over `backend`, encrypted with `cipher`.
    pub(crate) fn with_cipher(
        backend: B,
        options: StoreOptions,
        cipher: Option<Cipher>,
    ) -> Result<Self, StoreError> {
        options.validate()?;
        Ok(Store {
            backend,
            options,
            subscribers: Rc::default(),
            cipher,
        })
    }

    /// Removes every subscriber (what closing a store does).
    pub fn unsubscribe_all(&self) {
        self.subscribers.clear();
    }

    fn emit(&self, events: Vec<StoreEvent>) {
        for event in &events {
            self.subscribers.emit(event);
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Whether the store encrypts its states.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// Tells this store's subscribers of an event that no operation wrote (a sync pass's).
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn announce(&self, event: StoreEvent) {
        self.emit(vec![event]);
    }

    /// Drops the device key held in memory, if this store has one: another context cleared
    /// the store (and destroyed the key). The next encrypted write reads the keys again.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn forget_key(&self) {
        if let Some(cipher) = &self.cipher {
            cipher.forget();
        }
    }

    fn now(&self) -> Result<u64, StoreError> {
        self.options.get_clock().now_ms()
    }

    /// Carries out `op` on the records of `ids`: the one async path of every operation.
    ///
    /// Arguments are checked before (by the [`SessionStore`] methods, or by the JS bindings,
    /// which call this directly); batches, and the expected versions of writes, are checked
    /// here.
    pub(crate) async fn run(&self, ids: &[&SessionId], op: Op) -> Result<Outcome, StoreError> {
        if let Op::Read | Op::Put(..) = op {
            check_distinct(ids)?;
            if let Op::Put(entries, _) = &op {
                for entry in entries {
                    check_expected(entry.expected)?;
                }
            }
            if ids.is_empty() {
                return Ok(Outcome::Records(Vec::new()));
            }
        }
        let mut events = Vec::new();
        let clearing = matches!(op, Op::Clear);
        if let (true, Some(cipher)) = (clearing, &self.cipher) {
            // The device key first, then (in the transaction below) a tombstone in the key
            // check's place: a tab that read the key before it was destroyed finds the slot
            // changed under any write it decided without a check, and reads the key again.
            cipher.call(DESTROY, "", "").await?;
            cipher.set_check(None);
        }
        let outcome = match op {
            Op::DeleteExpired(limit) => {
                let now = self.now()?;
                let removed = self.backend.delete_expired(self.expiry(now), limit).await?;
                for (id, version) in &removed {
                    events.push(StoreEvent::about(EventKind::Expired, id, *version));
                }
                Outcome::Count(removed.len())
            }
            Op::Ids => {
                let now = self.now()?;
                Outcome::Ids(self.backend.live_ids(self.expiry(now)).await?)
            }
            // Reads, every read-check-write, and clear's key check (a tombstone, or without
            // the key a refusal where there is a check: nothing can be shredded).
            op => self.transact(ids, &op, &mut events).await?,
        };
        if clearing {
            self.backend.clear().await?;
            events.push(StoreEvent::new(EventKind::Cleared, None, None));
        }
        self.emit(events);
        Ok(outcome)
    }

    /// Carries out `op` on the records of `ids` by one read, or one read-check-write in a
    /// backend transaction.
    ///
    /// Encrypted, states are opened and sealed outside the transaction (WebCrypto is
    /// asynchronous, and an IndexedDB transaction does not survive waiting for it in Firefox
    /// and WebKit), optimistically: what the operation will write is sealed first where its
    /// version is known (a create, a `saveIfVersion`, a save of a version this store saw), and
    /// for operations that change the stored state (set, remove, changeId, sliding reads) what
    /// they read is read and opened first. The transaction then decides on what it reads;
    /// when that needs a state not opened or sealed yet (another writer got in first, or the
    /// version was guessed wrong) it writes nothing, and the operation prepares from what it
    /// read and runs again. So what is written is always decided on what is stored.
    ///
    /// One loop with one await per kind of step, the steps planned synchronously
    /// ([`plan`](Self::plan)): each await is a state of the engine's one async function, and
    /// they are most of its size in wasm.
    async fn transact(
        &self,
        ids: &[&SessionId],
        op: &Op,
        events: &mut Vec<StoreEvent>,
    ) -> Result<Outcome, StoreError> {
        // The key check at open reads no deadline: a clock that throws fails the first
        // operation that needs it, as without encryption, not the open (its record's times
        // are only for a reader's eyes).
        let now = match op {
            Op::CheckKey => self.now().unwrap_or(0),
            _ => self.now()?,
        };
        let read_only = matches!(op, Op::CheckKey | Op::Queue | Op::Meta(None))
            || matches!(op, Op::Read) && !self.options.is_sliding();
        let check = SessionId::reserved(CHECK_ID);
        let rows = self.rows_of(op, ids);
        let mut all: Vec<&SessionId> = ids.to_vec();
        all.extend(rows.iter());
        if self.guarded(op) {
            all.push(&check);
        }
        let mut seal = Sealer::default();
        let mut settle: Option<Settle> = None;
        let mut read = None;
        let mut attempts = 0;
        loop {
            // The next step: settling the key check while that runs, else the op's own.
            let step = match (&self.cipher, &mut settle) {
                (Some(cipher), Some(s)) => self.settle(cipher, s, &mut seal.known, now)?,
                _ if read.is_none()
                    && (read_only || self.cipher.is_some() && Self::reads_state(op)) =>
                {
                    Step::Read
                }
                (Some(cipher), None) => {
                    self.plan(cipher, op, ids, read.as_deref(), now, &mut seal)?
                }
                (None, _) => Step::Ready,
            };
            let commit = match step {
                Step::Call(call, todo) => {
                    let cipher = self.cipher.as_ref().ok_or(StoreError::Closed)?;
                    let aads = joined(todo.iter().map(|t| t.0.as_str()));
                    let texts = joined(todo.iter().map(|t| t.1.as_str()));
                    let results = cipher.call(call, &aads, &texts).await?;
                    Self::absorb(cipher, call, todo, &results, &mut seal.known);
                    continue;
                }
                Step::Check => {
                    settle = Some(Settle::new(matches!(op, Op::CheckKey)));
                    continue;
                }
                Step::Settled => {
                    settle = None;
                    read = None;
                    continue;
                }
                Step::Scan => {
                    // Every readable record: at time 0 none is expired.
                    let everything = Expiry {
                        now_ms: 0,
                        max_lifetime_ms: None,
                    };
                    let found = self.backend.live_ids(everything).await?;
                    if let Some(s) = &mut settle {
                        s.ids = Some(found);
                    }
                    continue;
                }
                Step::Read => {
                    // The op's ids, or settling's: the check, or the records scanned.
                    let scanned = settle.as_mut().and_then(|s| s.ids.take());
                    let wanted: Vec<&SessionId> = match (&settle, &scanned) {
                        (None, _) => all.clone(),
                        (Some(_), Some(found)) => found.iter().collect(),
                        (Some(_), None) => vec![&check],
                    };
                    let slots = self.backend.read(&wanted).await?;
                    match &mut settle {
                        None => read = Some(slots),
                        Some(s) if scanned.is_some() => s.slots = Some(slots),
                        Some(s) => s.stored = Some(slots.into_iter().next().unwrap_or(Slot::Empty)),
                    }
                    if let (Some(s), Some(found)) = (&mut settle, scanned) {
                        s.ids = Some(found);
                    }
                    continue;
                }
                Step::Commit(ids, expect, writes, take) => Some((ids, expect, writes, take)),
                Step::Ready => None,
            };
            if commit.is_none() && matches!(op, Op::CheckKey) {
                // Without the key, a store that has a key check is not opened.
                if self.cipher.is_none() && holds_check(&read.unwrap_or_default()[0])? {
                    return Err(encrypted_store());
                }
                return Ok(Outcome::Done);
            }
            if commit.is_none() && read_only {
                // What a sliding read would return, without its writes (the states opened; the
                // rows after them as they are).
                let slots = self
                    .as_decided(op, ids, read.unwrap_or_default(), &seal.known)
                    .unwrap_or_default();
                let (_, out) = self.decide(op, ids, slots, now, &mut Vec::new())?;
                if let (Some(cipher), Outcome::Records(records)) = (&self.cipher, &out) {
                    for record in records.iter().flatten() {
                        cipher.remember(record);
                    }
                }
                return Ok(out);
            }
            // One transaction: the op's, or settling's commit.
            let wanted: Vec<&SessionId> = match &commit {
                Some((ids, ..)) => ids.iter().collect(),
                None => all.clone(),
            };
            let mut out = None;
            let mut stale = None;
            let mut written = false;
            let done = self
                .backend
                .transact(&wanted, &mut |slots| match &commit {
                    Some((_, expect, writes, _)) => {
                        written = slots.iter().zip(expect).all(|(a, b)| same(a, b));
                        Ok(if written { writes.clone() } else { Vec::new() })
                    }
                    None => {
                        events.clear();
                        match self.decide_sealed(op, ids, slots, now, events, &seal) {
                            Ok((writes, outcome)) => {
                                out = Some(outcome);
                                Ok(writes)
                            }
                            Err(Undecided::Failed(e)) => Err(e),
                            Err(Undecided::Stale(slots)) => {
                                stale = Some(slots);
                                Err(StoreError::Closed)
                            }
                        }
                    }
                })
                .await;
            if let Some((.., take)) = commit {
                done?;
                if let (true, Some(ct), Some(cipher)) = (written, take, &self.cipher) {
                    // This key's check is stored.
                    cipher.set_check(Some(ct));
                    settle = None;
                    read = None;
                }
                continue;
            }
            if stale.is_none() {
                done?;
                return out.ok_or_else(|| {
                    StoreError::unavailable("the backend finished a transaction without running it")
                });
            }
            attempts += 1;
            if attempts == SEAL_ATTEMPTS {
                return Err(busy());
            }
            read = stale;
        }
    }
}
