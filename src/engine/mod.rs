//! [`Store`]: the contract's semantics, written once over any [`Backend`].
//!
//! A backend only stores records; it knows nothing of expiry, versions or sliding. Every rule
//! of the contract lives here, so every backend behaves the same by construction, and the
//! conformance suite checks that each backend's storage mechanics keep it so.
//!
//! One file per job: `backend` (the storage port), `decide` (the contract's rules, synchronous),
//! `ops` (the operations and their arguments), `sealing` (an encrypted store's plan around the
//! transaction), `api` (the [`SessionStore`](crate::SessionStore) methods), `sync` (the writes
//! a sync peer asks of one session, for a transaction of its own), and here the one async path
//! every operation takes.

mod api;
mod backend;
mod decide;
mod ops;
mod sealing;
mod sync;

pub use backend::{Backend, Expiry, Slot, Write};
pub use ops::{check_key, new_id_for, Op, Outcome};
pub use sync::{sealed_state, sealed_text, Replacement, SyncWrite};

use crate::crypto::{Cipher, CHECK_ID, DESTROY};
use crate::error::StoreError;
use crate::event::{EventKind, StoreEvent, Subscribers};
use crate::id::SessionId;
use crate::store::StoreOptions;
use ops::{check_distinct, check_expected};
use sealing::{joined, Sealer, Step, Undecided, SEAL_ATTEMPTS};
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
        let outcome = match op {
            Op::Clear => {
                // The device key first, so that another tab meeting the key check gone with
                // the records finds no key to write with but a new one.
                if let Some(cipher) = &self.cipher {
                    cipher.call(DESTROY, "", "").await?;
                }
                self.backend.clear().await?;
                // The backend keeps the reserved ids: the key check goes here.
                let check = SessionId::reserved(CHECK_ID);
                self.backend
                    .transact(&[&check], &mut |_| Ok(vec![Write::Delete(check.clone())]))
                    .await?;
                events.push(StoreEvent {
                    kind: EventKind::Cleared,
                    id: None,
                    new_id: None,
                    version: None,
                    local: true,
                });
                Outcome::Done
            }
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
                let mut live = self.backend.live_ids(self.expiry(now)).await?;
                // The key check is never a session (only the memory backend lists it).
                live.retain(|id| id.as_str() != CHECK_ID);
                Outcome::Ids(live)
            }
            // Reads, and every read-check-write.
            op => self.transact(ids, &op, &mut events).await?,
        };
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
        let now = self.now()?;
        let read_only =
            matches!(op, Op::CheckKey) || matches!(op, Op::Read) && !self.options.is_sliding();
        let check = SessionId::reserved(CHECK_ID);
        let mut all: Vec<&SessionId> = ids.to_vec();
        if self.cipher.is_some() && self.guarded(op) {
            all.push(&check);
        }
        let mut seal = Sealer {
            known: Vec::new(),
            generation: self.cipher.as_ref().map_or(0, Cipher::generation),
            replace_check: None,
            presealed: false,
            reloaded: false,
        };
        let mut read = None;
        let mut attempts = 0;
        loop {
            if read.is_none() && (read_only || self.cipher.is_some() && Self::reads_state(op)) {
                read = Some(self.backend.read(&all).await?);
            }
            if let Some(cipher) = &self.cipher {
                match self.plan(cipher, op, ids, read.as_deref(), now, &mut seal)? {
                    Step::Call(op, todo) => {
                        let mut aads = Vec::with_capacity(todo.len());
                        for (id, version, _) in &todo {
                            aads.push(cipher.aad(id.as_str(), *version));
                        }
                        let aads = joined(aads.iter().map(String::as_str));
                        let texts = joined(todo.iter().map(|t| t.2.as_str()));
                        let results = cipher.call(op, &aads, &texts).await?;
                        Self::absorb(cipher, op, todo, &results, &mut seal.known);
                        continue;
                    }
                    Step::Ready => {}
                }
            }
            if matches!(op, Op::CheckKey) {
                return Ok(Outcome::Done);
            }
            if read_only {
                // What a sliding read would return, without its writes.
                let mut slots = Vec::new();
                for slot in read.unwrap_or_default() {
                    slots.push(self.unseal(slot, &seal.known).unwrap_or(Slot::Empty));
                }
                let (_, out) = self.decide(op, ids, slots, now, &mut Vec::new())?;
                if let (Some(cipher), Outcome::Records(records)) = (&self.cipher, &out) {
                    for record in records.iter().flatten() {
                        cipher.remember(&record.id, record.version);
                    }
                }
                return Ok(out);
            }
            let mut out = None;
            let mut stale = None;
            let done = self
                .backend
                .transact(&all, &mut |slots| {
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
                })
                .await;
            if stale.is_none() {
                done?;
                return out.ok_or_else(|| {
                    StoreError::unavailable("the backend finished a transaction without running it")
                });
            }
            attempts += 1;
            if attempts == SEAL_ATTEMPTS {
                return Err(StoreError::unavailable(
                    "other writers kept changing these sessions while this encrypted write \
                     sealed them",
                ));
            }
            read = stale;
        }
    }
}
