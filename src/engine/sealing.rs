//! An encrypted store's side of the engine: opening and sealing states around the backend's
//! transaction, and the life of the key check.
//!
//! WebCrypto is asynchronous and an IndexedDB transaction does not survive waiting for it (in
//! Firefox and WebKit), so states are opened and sealed outside the transaction, optimistically:
//! [`plan`](Store::plan) says what to open or seal before it, and
//! [`decide_sealed`](Store::decide_sealed) runs [`decide`](Store::decide) inside it on what it
//! read, writing only what was sealed for exactly the record it decided, and only while the
//! stored key check is this key's. Otherwise it writes nothing and the operation prepares again
//! from what it read.
//!
//! The key check (the state `{}` sealed under the reserved id [`CHECK_ID`]) is what every
//! encrypted write vouches by: [`settle_check`](Store::settle_check) makes the stored one this
//! key's before any write goes ahead. A store with no check of this release's format (none yet,
//! the previous release's, an upgrade left unfinished, or the tombstone `clear` leaves) is
//! brought to one by [`upgrade`](Store::upgrade), which also seals the store's plaintext records
//! and reseals the previous release's, so that afterwards every record this store trusts is one
//! this key sealed with every field but the deadline bound to it.

use super::ops::{Op, Outcome};
use super::{Backend, Slot, Store, Write};
use crate::crypto::{Cipher, CHECK_ID, DEVICE_CHECK, MAKE, OPEN, RELOAD, SEAL};
use crate::error::StoreError;
use crate::event::StoreEvent;
use crate::id::SessionId;
use crate::record::{SessionRecord, State};

/// What an encrypted operation learned about one state: `sealed` is `plain` sealed with the
/// additional data `aad`, because this store sealed it (with the key of `generation`) or opened
/// it (`generation` `None`). An empty `plain`: `sealed` does not open.
pub(super) struct Sealing {
    pub(super) aad: String,
    pub(super) plain: String,
    pub(super) sealed: String,
    pub(super) generation: Option<u32>,
}

/// Why an encrypted transaction's decision could not be made: it failed, or it needs a state
/// opened or sealed first, or the key check settled (what was read is given back, to prepare
/// from).
pub(super) enum Undecided {
    Failed(StoreError),
    Stale(Vec<Slot>),
}

impl From<StoreError> for Undecided {
    fn from(e: StoreError) -> Self {
        Undecided::Failed(e)
    }
}

/// What an encrypted operation carries from one attempt to the next.
#[derive(Default)]
pub(super) struct Sealer {
    pub(super) known: Vec<Sealing>,
    /// Whether what is written at a version known up front was sealed.
    pub(super) presealed: bool,
    /// Whether the device key was read again for a state that did not open.
    pub(super) reloaded: bool,
}

/// What an encrypted operation does next.
pub(super) enum Step {
    /// Ask `crypto.js` (`Cipher::call`): seal or open these `(additional data, text)`.
    Call(u32, Vec<(String, String)>),
    /// Settle the key check first ([`settle`](Store::settle)), then read again.
    Check,
    /// Run the transaction (or, read-only, give the result).
    Ready,
    /// Read: the op's ids; settling, the key-check slot, or the records it listed.
    Read,
    /// Settling: list every readable record.
    Scan,
    /// Settling: write these if the slots of these ids (the key check's last) still hold
    /// these; on success, the check sealed (when it vouches for the key) becomes the cipher's.
    Commit(Vec<SessionId>, Vec<Slot>, Vec<Write>, Option<String>),
    /// The key check is this key's.
    Settled,
}

/// How many times an encrypted operation prepares again for what changed under it before it
/// gives up: each time, another writer's change landed (or this one's guess of the next
/// version was wrong, which happens once).
pub(super) const SEAL_ATTEMPTS: usize = 32;

/// The plaintext of a key check that vouches for its key.
const CHECK: &str = "{}";

/// The plaintext of a key check written while an upgrade is under way (before it seals the
/// store's records): it keeps tabs without the key from writing, and any tab with the key
/// finishes the upgrade.
const UPGRADING: &str = "{\"upgrading\":true}";

/// The start of a tombstone's `enc`: what `clear` leaves in the key check's place (never
/// base64, so it never opens), followed by a random nonce, so that a write decided on the
/// absence of a check made before a `clear` is told apart from one made after it.
const TOMBSTONE: char = '!';

/// The key-check record sealed as `sealed` at `version`, written at `now`: its version says
/// what wrote it, the app's key (1) or a device key ([`DEVICE_CHECK`]).
fn check_record(sealed: String, version: u64, now: u64) -> SessionRecord {
    SessionRecord {
        id: SessionId::reserved(CHECK_ID),
        state: State::sealed(sealed),
        version,
        created_at: now,
        updated_at: now,
        expires_at: None,
        ttl_ms: None,
    }
}

/// What `clear` leaves under the key check's id: a tombstone with a fresh nonce.
fn tombstone(now: u64) -> Result<SessionRecord, StoreError> {
    let mut mark = String::from(TOMBSTONE);
    mark.push_str(SessionId::generate()?.as_str());
    Ok(check_record(mark, 1, now))
}

/// Whether the key-check slot holds a key check (of any format, or an upgrade's): what makes a
/// store encrypted, so that a store opened without its key refuses to write beside it. An
/// unreadable one (a newer release's) is its error.
pub(super) fn holds_check(slot: &Slot) -> Result<bool, StoreError> {
    match slot {
        Slot::Corrupt(e) => Err(e.clone()),
        Slot::Record(r) => Ok(r.state.is_sealed() && !r.state.as_json().starts_with(TOMBSTONE)),
        Slot::Empty => Ok(false),
    }
}

/// INVALID_INPUT: a store opened without encryption over one that is encrypted.
pub(super) fn encrypted_store() -> StoreError {
    StoreError::invalid("this store is encrypted: open it with its encryption option")
}

/// Whether two slots hold the same bytes, as far as a transaction that decided on one needs:
/// records by their encoding (not `==`, whose comparison of plaintext states by value would
/// bring a JSON parser into the wasm), unreadable ones as alike.
pub(super) fn same(a: &Slot, b: &Slot) -> bool {
    match (a, b) {
        (Slot::Record(a), Slot::Record(b)) => crate::codec::encode(a) == crate::codec::encode(b),
        (Slot::Empty, Slot::Empty) | (Slot::Corrupt(_), Slot::Corrupt(_)) => true,
        _ => false,
    }
}

/// The join of `items` by NUL, how lists cross to `crypto.js`.
pub(super) fn joined<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push('\0');
        }
        out.push_str(item);
    }
    out
}

/// The opening of the sealed state `sealed` with additional data `aad`, in `known`.
fn find_opened<'a>(known: &'a [Sealing], aad: &str, sealed: &str) -> Option<&'a Sealing> {
    known
        .iter()
        .find(|k| k.generation.is_none() && k.sealed == sealed && k.aad == aad)
}

/// The sealing of `plain` with additional data `aad`, by the key of `generation` (or opened
/// from storage).
fn find_sealed<'a>(
    known: &'a [Sealing],
    aad: &str,
    plain: &str,
    generation: Option<u32>,
) -> Option<&'a Sealing> {
    known.iter().find(|k| {
        (k.generation.is_none() || k.generation == generation)
            && !k.plain.is_empty()
            && k.plain == plain
            && k.aad == aad
    })
}

/// INVALID_INPUT: the app's key is not the one the store's data was written with.
fn wrong_key() -> StoreError {
    StoreError::invalid(
        "this store's data was encrypted with another key: its key check, or a record where it \
         has none, does not decrypt with this one (a device key never opens data written with \
         the app's key)",
    )
}

/// Gave up: other writers kept changing what an encrypted operation prepared for.
pub(super) fn busy() -> StoreError {
    StoreError::unavailable(
        "other writers kept changing these sessions while this encrypted write sealed them",
    )
}

impl<B: Backend> Store<B> {
    /// Whether `op` needs the stored states themselves (opened, when encrypted): reads, and
    /// writes that keep the state but change what its additional data binds (a TTL, an id).
    pub(super) fn reads_state(op: &Op) -> bool {
        matches!(
            op,
            Op::Read
                | Op::Set(..)
                | Op::Remove(_)
                | Op::ChangeId
                | Op::UpdateTtl(_)
                | Op::Apply(_)
                | Op::Queue
        )
    }

    /// Whether `op` reads the key check (last, after `ids`). Encrypted: every write but a
    /// delete (which needs no key) and a synced store's bookkeeping, and the check at open.
    /// Without encryption: every write of a state (which must not land beside ciphertext),
    /// and the check at open.
    pub(super) fn guarded(&self, op: &Op) -> bool {
        match op {
            // A synced store's bookkeeping reads and writes only its own rows, in clear.
            Op::Delete | Op::Queue | Op::Meta(_) | Op::Ack(_) | Op::Lease(..) => false,
            Op::Read => self.cipher.is_some() && self.options.is_sliding(),
            _ => true,
        }
    }

    /// Takes in the `results` of `call` on `todo`: each `(aad, plain)` sealed, or each
    /// `(aad, sealed)` opened, into `known`.
    pub(super) fn absorb(
        cipher: &Cipher,
        call: u32,
        todo: Vec<(String, String)>,
        results: &str,
        known: &mut Vec<Sealing>,
    ) {
        let open = call == OPEN;
        let generation = (!open).then(|| cipher.generation());
        for ((aad, text), result) in todo.into_iter().zip(results.split('\0')) {
            let (plain, sealed) = if open {
                (result.to_owned(), text)
            } else {
                (text, result.to_owned())
            };
            known.push(Sealing {
                aad,
                plain,
                sealed,
                generation,
            });
        }
    }

    /// `slot` as the contract sees it: a state sealed by this store's key opened (from
    /// `known`); CORRUPT for one that does not open, for a plaintext or previous-release record
    /// in an encrypted store, and for a sealed one in a store without its key; `Err` when it
    /// was not opened yet.
    pub(super) fn unseal(&self, slot: Slot, known: &[Sealing]) -> Result<Slot, ()> {
        let Slot::Record(mut record) = slot else {
            return Ok(slot);
        };
        let format = record.state.sealed_format();
        let reason = match (&self.cipher, format) {
            (None, 0) => return Ok(Slot::Record(record)),
            (None, _) => "the record is encrypted: open the store with its encryption key",
            (Some(_), 0) => {
                "a plaintext record in an encrypted store, not sealed by its key (written \
                 behind the store's back, or forged): not trusted"
            }
            (Some(_), 2) => {
                "sealed by a release before 0.2 after the store was upgraded (reload any tab \
                 of that release): not trusted"
            }
            (Some(cipher), _) => match find_opened(
                known,
                &cipher.aad(&record),
                record.state.as_json(),
            ) {
                None => return Err(()),
                Some(k) if k.plain.is_empty() => {
                    "the encrypted state does not decrypt with this store's key (tampered with: \
                     moved, its metadata changed; or another key's)"
                }
                Some(k) => {
                    let shape = record.state.shape();
                    record.state = State::from_checked(k.plain.clone()).with_shape(shape);
                    return Ok(Slot::Record(record));
                }
            },
        };
        Ok(Slot::Corrupt(StoreError::corrupt(
            record.id.as_str(),
            reason,
        )))
    }

    /// Whether `slot` (the key-check slot as read) holds the key check this store's key is
    /// known to have written.
    fn is_ours(cipher: &Cipher, slot: &Slot) -> bool {
        match slot {
            Slot::Record(r) => cipher.check().as_deref() == Some(r.state.as_json()),
            _ => false,
        }
    }

    /// A record as `op` will write it, for sealing before the first read, where the fields its
    /// additional data binds can be known: a create's, and a save's of a session this store
    /// last saw at the version it writes over.
    fn guess(&self, cipher: &Cipher, op: &Op, ids: &[&SessionId], now: u64) -> Vec<SessionRecord> {
        let mut out = Vec::new();
        match op {
            Op::Create(state, ttl_ms) => {
                if let Some(id) = ids.first() {
                    out.push(self.new_record(id, state.clone(), *ttl_ms, now));
                }
            }
            Op::Put(entries, _) => {
                for entry in entries {
                    let seen = cipher.recall(&entry.id);
                    let mut record = self.new_record(
                        &entry.id,
                        entry.state.clone(),
                        self.options.get_ttl_ms(),
                        now,
                    );
                    match (entry.expected, seen) {
                        // A create, as far as this store knows.
                        (Some(0), _) | (None, None) => {}
                        (expected, Some(seen)) if expected.is_none_or(|v| v == seen.version) => {
                            record.version = seen.version.saturating_add(1);
                            record.created_at = seen.created_at;
                            record.ttl_ms = seen.ttl_ms;
                        }
                        // Its creation time is unknown: sealed once read.
                        _ => continue,
                    }
                    out.push(record);
                }
            }
            _ => {}
        }
        out
    }

    /// The next thing an encrypted `op` needs before its transaction (or, read-only, its
    /// result), given what it `read` last (`None`: nothing yet): the key check settled, the
    /// states it reads opened (a device key that fails them read again once, as another tab
    /// may have remade it), what it writes sealed.
    pub(super) fn plan(
        &self,
        cipher: &Cipher,
        op: &Op,
        ids: &[&SessionId],
        read: Option<&[Slot]>,
        now: u64,
        seal: &mut Sealer,
    ) -> Result<Step, StoreError> {
        let known = &mut seal.known;
        let mut todo = Vec::new();
        let Some(slots) = read else {
            // Before the first transaction: what is written where its record is known now.
            if !seal.presealed {
                seal.presealed = true;
                for record in self.guess(cipher, op, ids, now) {
                    todo.push((cipher.aad(&record), record.state.into_json()));
                }
            }
            return Ok(Self::seal_step(todo));
        };
        let (mine, rest) = slots.split_at(ids.len().min(slots.len()));
        let check = if self.guarded(op) { rest.last() } else { None };
        // (Clear replaces whatever check there is with its tombstone.)
        let mismatch = check.is_some_and(|slot| !Self::is_ours(cipher, slot));
        if mismatch && !matches!(op, Op::Clear) {
            return Ok(Step::Check);
        }
        // The states to open: the op's own, where it reads them.
        if Self::reads_state(op) {
            for slot in mine {
                if let Slot::Record(r) = slot {
                    let aad = cipher.aad(r);
                    let ct = r.state.as_json();
                    if r.state.sealed_format() == 3
                        && find_opened(known, &aad, ct).is_none()
                        && !todo.iter().any(|(a, _)| *a == aad)
                    {
                        todo.push((aad, ct.to_owned()));
                    }
                }
            }
        }
        if !todo.is_empty() {
            return Ok(Step::Call(OPEN, todo));
        }
        if cipher.is_device() && !seal.reloaded && known.iter().any(|k| k.plain.is_empty()) {
            // Another tab may have cleared the store and written with a new key since this one
            // read its own: read it again, once.
            seal.reloaded = true;
            known.retain(|k| !k.plain.is_empty());
            return Ok(Step::Call(RELOAD, Vec::new()));
        }
        if self.guarded(op) || matches!(op, Op::Delete) {
            // As the transaction will see them (every state it reads is opened by now), with
            // the slots after `ids` (queue rows, the key check) as `decide_sealed` passes them.
            let plain = self
                .as_decided(op, ids, slots.to_vec(), known)
                .unwrap_or_default();
            if let Ok((writes, _)) = self.decide(op, ids, plain, now, &mut Vec::new()) {
                let generation = Some(cipher.generation());
                for write in writes {
                    if let Write::Put(r) = write {
                        let aad = cipher.aad(&r);
                        if !r.id.is_reserved()
                            && !r.state.is_sealed()
                            && find_sealed(known, &aad, r.state.as_json(), generation).is_none()
                        {
                            todo.push((aad, r.state.into_json()));
                        }
                    }
                }
            }
        }
        Ok(Self::seal_step(todo))
    }

    /// Sealing `todo`, or ready.
    fn seal_step(todo: Vec<(String, String)>) -> Step {
        if todo.is_empty() {
            Step::Ready
        } else {
            Step::Call(SEAL, todo)
        }
    }

    /// The slots `decide` gets for `op` from `slots` as read: the states it reads opened
    /// from `known`, the others (and the key check, after `ids`) as stored, since a save
    /// needs only the stored version; `None` when a state it reads is not opened yet.
    pub(super) fn as_decided(
        &self,
        op: &Op,
        ids: &[&SessionId],
        slots: Vec<Slot>,
        known: &[Sealing],
    ) -> Option<Vec<Slot>> {
        let reads = Self::reads_state(op);
        let mut out = Vec::with_capacity(slots.len());
        for (i, slot) in slots.into_iter().enumerate() {
            out.push(match reads && i < ids.len() {
                true => self.unseal(slot, known).ok()?,
                false => slot,
            });
        }
        Some(out)
    }

    /// [`decide`](Self::decide) on what a transaction read, opening and sealing states from
    /// what `seal` holds, and writing only while the key check read last among `slots` is this
    /// key's. Without encryption, a guarded write refuses a store that has a key check.
    pub(super) fn decide_sealed(
        &self,
        op: &Op,
        ids: &[&SessionId],
        slots: Vec<Slot>,
        now: u64,
        events: &mut Vec<StoreEvent>,
        seal: &Sealer,
    ) -> Result<(Vec<Write>, Outcome), Undecided> {
        let known = &seal.known;
        let guarded = self.guarded(op);
        // The queue rows read after the ids (a synced store's), kept for the queue's writes.
        let count = self.rows_of(op, ids).len();
        let rows: Vec<Slot> = slots.iter().skip(ids.len()).take(count).cloned().collect();
        let Some(cipher) = &self.cipher else {
            if guarded && holds_check(slots.last().unwrap_or(&Slot::Empty))? {
                return Err(encrypted_store().into());
            }
            // An encrypted record is CORRUPT, saying why.
            let slots = slots
                .into_iter()
                .map(|slot| self.unseal(slot, known).unwrap_or(Slot::Empty))
                .collect();
            let (mut writes, outcome) = self.decide(op, ids, slots, now, events)?;
            self.queue(op, ids, &rows, &mut writes)?;
            return Ok((writes, outcome));
        };
        let clearing = matches!(op, Op::Clear);
        if guarded && !clearing && !slots.last().is_some_and(|slot| Self::is_ours(cipher, slot)) {
            return Err(Undecided::Stale(slots));
        }
        let Some(open) = self.as_decided(op, ids, slots.clone(), known) else {
            return Err(Undecided::Stale(slots));
        };
        let (mut writes, outcome) = self.decide(op, ids, open, now, events)?;
        let generation = Some(cipher.generation());
        for write in &mut writes {
            if let Write::Put(r) = write {
                if r.id.is_reserved() {
                    // A queue row: the store's own bookkeeping, in clear.
                    continue;
                }
                if !r.state.is_sealed() {
                    match find_sealed(known, &cipher.aad(r), r.state.as_json(), generation) {
                        Some(k) => {
                            let shape = r.state.shape();
                            r.state = State::sealed(k.sealed.clone()).with_shape(shape);
                        }
                        None => return Err(Undecided::Stale(slots)),
                    }
                }
                cipher.remember(r);
            }
        }
        if clearing {
            writes.push(Write::Put(tombstone(now)?));
        }
        self.queue(op, ids, &rows, &mut writes)?;
        Ok((writes, outcome))
    }

    /// Seals each `(id, server version, plain)` for the sync server: the additional data
    /// binds the store name, the id and the version the server will give it
    /// (`wss-sync1:<name>:<id>:<version>`), so another device with the key opens it and the
    /// server never can.
    #[cfg(target_arch = "wasm32")]
    pub(crate) async fn seal_for_sync(
        &self,
        items: &[(SessionId, u64, String)],
    ) -> Result<Vec<String>, StoreError> {
        let out = self.sync_call(SEAL, items).await?;
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Opens each `(id, server version, enc)` the sync server sent; `None` for one that does
    /// not open.
    #[cfg(target_arch = "wasm32")]
    pub(crate) async fn open_for_sync(
        &self,
        items: &[(SessionId, u64, String)],
    ) -> Result<Vec<Option<String>>, StoreError> {
        self.sync_call(OPEN, items).await
    }

    #[cfg(target_arch = "wasm32")]
    async fn sync_call(
        &self,
        call: u32,
        items: &[(SessionId, u64, String)],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let Some(cipher) = &self.cipher else {
            return Ok(items.iter().map(|_| None).collect());
        };
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let aads: Vec<String> = items
            .iter()
            .map(|(id, version, _)| {
                let mut aad = String::from("wss-sync1:");
                aad.push_str(self.options.get_name());
                aad.push(':');
                aad.push_str(id.as_str());
                aad.push(':');
                crate::error::push_u64(&mut aad, *version);
                aad
            })
            .collect();
        let aads = joined(aads.iter().map(String::as_str));
        let texts = joined(items.iter().map(|i| i.2.as_str()));
        let out = cipher.call(call, &aads, &texts).await?;
        Ok(out
            .split('\0')
            .map(|s| (!s.is_empty()).then(|| s.to_owned()))
            .collect())
    }

    /// The next step of settling the key check (see [`Settle`]): making the stored check this
    /// key's, and known to the cipher, before a write goes ahead. One this key wrote is opened
    /// and taken; one a device key wrote that is gone (the keys database lost it) is replaced by
    /// this device key's; where there is none of this release's, the store is upgraded to one.
    ///
    /// The upgrade. Turning encryption on, and the first open by this release, seal the
    /// store's plaintext records and reseal the previous release's in the same transaction that
    /// writes the check, so that no plaintext record is trusted after it. First an [`UPGRADING`]
    /// check is written, which every write of a tab without the key refuses from then on, so
    /// that nothing the seal step did not see can be written beside it; any tab with the key
    /// finishes an upgrade it meets. Where the store holds records of this release's format, it
    /// was encrypted already (its check was lost, or replaced by an older tab's): nothing is
    /// sealed, and a plaintext record stays CORRUPT.
    ///
    /// A key may write a first check only where every sealed record opens with it (unless it
    /// is a device key: the key that sealed them is gone with the keys database, and they stay
    /// CORRUPT for their ids). A device key that writes where no check vouches for a key is one
    /// read after the slot was: a key read before may be one a `clear` destroyed since (its
    /// tombstone then differs from the slot read, and the write does not go ahead).
    ///
    /// Synchronous, on what was read and learned so far (like [`plan`](Self::plan)): the
    /// engine's one loop carries out each step and comes back.
    pub(super) fn settle(
        &self,
        cipher: &Cipher,
        s: &mut Settle,
        known: &mut Vec<Sealing>,
        now: u64,
    ) -> Result<Step, StoreError> {
        if s.committed {
            // A check was written (an UPGRADING one), or the store changed: read it all again.
            s.committed = false;
            s.rounds += 1;
            if s.rounds == SEAL_ATTEMPTS {
                return Err(busy());
            }
            *s = Settle {
                rounds: s.rounds,
                reloaded: s.reloaded,
                at_open: s.at_open,
                ..Settle::default()
            };
        }
        let Some(stored) = &s.stored else {
            return Ok(Step::Read);
        };
        if Self::is_ours(cipher, stored) {
            return Ok(Step::Settled);
        }
        // What the stored check says, where it opens with this key.
        let mut opened = None;
        if let (true, Slot::Record(r)) = (holds_check(stored)?, stored) {
            let legacy = r.state.sealed_format() == 2;
            let aad = if legacy {
                cipher.legacy_aad(r)
            } else {
                cipher.aad(r)
            };
            let ct = r.state.as_json();
            match find_opened(known, &aad, ct).map(|k| k.plain.as_str()) {
                None => return Ok(Step::Call(OPEN, vec![(aad, ct.to_owned())])),
                Some(CHECK) if !legacy => {
                    cipher.set_check(Some(ct.to_owned()));
                    return Ok(Step::Settled);
                }
                // The previous release's check, or an unfinished upgrade's: this key's.
                Some(CHECK) => opened = Some(CHECK),
                Some(UPGRADING) if !legacy => opened = Some(UPGRADING),
                Some(_) if cipher.is_device() && !s.reloaded => {
                    // Another tab may have remade the key since this one read it.
                    s.reloaded = true;
                    s.stored = None;
                    known.retain(|k| !k.plain.is_empty());
                    return Ok(Step::Call(RELOAD, Vec::new()));
                }
                // The app's key, or a device store meeting data under the app's key.
                Some(_) if !cipher.is_device() || r.version != DEVICE_CHECK => {
                    return Err(wrong_key())
                }
                // A device key that is gone wrote it: this device's key takes the store over
                // (what it sealed stays CORRUPT, for its ids only).
                Some(_) => return Ok(self.commit_check(cipher, s, known, CHECK, Vec::new(), now)),
            }
        }
        if s.ids.is_none() {
            return Ok(Step::Scan);
        }
        let Some(slots) = &s.slots else {
            return Ok(Step::Read);
        };
        let records: Vec<&SessionRecord> = slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::Record(r) => Some(r),
                _ => None,
            })
            .collect();
        let vouched = opened.is_some();
        // At open, a store with no check of a key and nothing to seal is only checked (an app
        // key against its records): the first write makes the check (and a device key).
        let write_now =
            !s.at_open || vouched || records.iter().any(|r| r.state.sealed_format() != 3);
        if !write_now && cipher.is_device() {
            return Ok(Step::Ready);
        }
        if write_now && !vouched && cipher.is_device() && !s.made {
            // The key this device store writes with, read after the slot was (made where there
            // is none).
            s.made = true;
            return Ok(Step::Call(MAKE, Vec::new()));
        }
        let encrypted = records.iter().any(|r| r.state.sealed_format() == 3);
        // What to open: the previous release's states to reseal them; and where no check
        // vouches for this key, every sealed state, to check the key on them.
        let mut todo = Vec::new();
        let mut fails = false;
        for r in &records {
            let aad = match r.state.sealed_format() {
                2 if !encrypted || !vouched => cipher.legacy_aad(r),
                3 if !vouched => cipher.aad(r),
                _ => continue,
            };
            match find_opened(known, &aad, r.state.as_json()) {
                None => todo.push((aad, r.state.as_json().to_owned())),
                Some(k) => fails |= k.plain.is_empty(),
            }
        }
        if !todo.is_empty() {
            return Ok(Step::Call(OPEN, todo));
        }
        if fails && !vouched && !cipher.is_device() {
            return Err(wrong_key());
        }
        if !write_now {
            return Ok(Step::Ready);
        }
        if encrypted {
            return Ok(self.commit_check(cipher, s, known, CHECK, Vec::new(), now));
        }
        if opened != Some(UPGRADING) {
            // Writes of tabs without the key stop here; the records are read again after.
            return Ok(self.commit_check(cipher, s, known, UPGRADING, Vec::new(), now));
        }
        // Seal the plaintext records and reseal the previous release's (those that open).
        let generation = Some(cipher.generation());
        let mut writes = Vec::new();
        for r in &records {
            let plain = match r.state.sealed_format() {
                0 => r.state.as_json(),
                2 => match find_opened(known, &cipher.legacy_aad(r), r.state.as_json()) {
                    Some(k) if !k.plain.is_empty() => &k.plain,
                    _ => continue,
                },
                _ => continue,
            };
            let mut record = (*r).clone();
            record.state = State::from_checked(plain.to_owned()).with_shape(r.state.shape());
            let aad = cipher.aad(&record);
            match find_sealed(known, &aad, plain, generation) {
                Some(k) => {
                    record.state = State::sealed(k.sealed.clone()).with_shape(r.state.shape());
                    writes.push(Write::Put(record));
                }
                None => todo.push((aad, plain.to_owned())),
            }
        }
        if !todo.is_empty() {
            return Ok(Step::Call(SEAL, todo));
        }
        Ok(self.commit_check(cipher, s, known, CHECK, writes, now))
    }

    /// The step that writes a key check of `plain` (sealed first) in place of the slot as
    /// read, with `writes`, if the slot and every record scanned still hold what was read.
    fn commit_check(
        &self,
        cipher: &Cipher,
        s: &mut Settle,
        known: &[Sealing],
        plain: &str,
        mut writes: Vec<Write>,
        now: u64,
    ) -> Step {
        let mut check = check_record(String::new(), cipher.check_version(), now);
        check.state = State::from_checked(plain.to_owned());
        let aad = cipher.aad(&check);
        let Some(k) = find_sealed(known, &aad, plain, Some(cipher.generation())) else {
            return Step::Call(SEAL, vec![(aad, plain.to_owned())]);
        };
        let ct = k.sealed.clone();
        check.state = State::sealed(ct.clone());
        let mut ids = s.ids.take().unwrap_or_default();
        let mut expect = s.slots.take().unwrap_or_default();
        ids.truncate(expect.len());
        ids.push(check.id.clone());
        expect.push(s.stored.take().unwrap_or(Slot::Empty));
        writes.push(Write::Put(check));
        s.committed = true;
        Step::Commit(ids, expect, writes, (plain == CHECK).then_some(ct))
    }
}

impl Settle {
    /// Settling from the start; `at_open` when the store is being opened.
    pub(super) fn new(at_open: bool) -> Self {
        Settle {
            at_open,
            ..Settle::default()
        }
    }
}

/// Settling the key check ([`Store::settle`]): what was read and done so far.
#[derive(Default)]
pub(super) struct Settle {
    /// The key-check slot as read (`None`: read it).
    pub(super) stored: Option<Slot>,
    /// The ids of every readable record, as scanned for an upgrade (`None`: scan).
    pub(super) ids: Option<Vec<SessionId>>,
    /// Their slots (`None`: read them).
    pub(super) slots: Option<Vec<Slot>>,
    /// Whether the store is being opened: an empty store with no check is left as it is.
    at_open: bool,
    /// Whether the device key was read after the slot was.
    made: bool,
    /// Whether the device key was read again for a check that did not open.
    reloaded: bool,
    /// Whether a check was just committed (or tried): read everything again.
    committed: bool,
    rounds: usize,
}
