//! The sealing plan of an encrypted store: what is opened and sealed (through `crypto.js`,
//! outside the backend's transaction) before the transaction decides on what it reads.

use super::ops::{Op, Outcome};
use super::{Backend, Slot, Store, Write};
use crate::crypto::{Cipher, CHECK_ID, DEVICE_CHECK, MAKE, OPEN, RELOAD, SEAL};
use crate::error::StoreError;
use crate::event::StoreEvent;
use crate::id::SessionId;
use crate::record::{SessionRecord, State};

/// What an encrypted operation learned about one state: `sealed` is `plain` sealed for `id`
/// at `version`, because this store sealed it (with the key of `generation`) or opened it
/// (`generation` `None`). An empty `plain`: `sealed` does not open.
pub(super) struct Sealing {
    pub(super) id: SessionId,
    pub(super) version: u64,
    pub(super) plain: String,
    pub(super) sealed: String,
    pub(super) generation: Option<u32>,
}

/// Why an encrypted transaction's decision could not be made: it failed, or it needs a state
/// opened or sealed first (what was read is given back, to prepare from).
pub(super) enum Undecided {
    Failed(StoreError),
    Stale(Vec<Slot>),
}

/// What an encrypted operation carries from one attempt to the next.
pub(super) struct Sealer {
    pub(super) known: Vec<Sealing>,
    /// The cipher's key generation when the operation began.
    pub(super) generation: u32,
    /// A device store's key check that does not open with its key (whose key is gone): the
    /// store's key check is replaced if it is still that one.
    pub(super) replace_check: Option<String>,
    /// Whether what is written at a version known up front was sealed.
    pub(super) presealed: bool,
    /// Whether the device key was read again for a state that did not open.
    pub(super) reloaded: bool,
}

/// What an encrypted operation does next.
pub(super) enum Step {
    /// Ask `crypto.js` (`Cipher::call`): seal or open these `(id, version, text)`, or read
    /// (or make) the device key again.
    Call(u32, Vec<(SessionId, u64, String)>),
    /// Run the transaction (or, read-only, give the result).
    Ready,
}

impl From<StoreError> for Undecided {
    fn from(e: StoreError) -> Self {
        Undecided::Failed(e)
    }
}

/// How many times an encrypted operation seals again for what changed under it before it
/// gives up: each time, another writer's change landed (or this one's guess of the next
/// version was wrong, which happens once).
pub(super) const SEAL_ATTEMPTS: usize = 32;

/// The key-check record: `{}` sealed for [`CHECK_ID`] at `version`, which says what wrote
/// it: the app's key (1) or a device key ([`DEVICE_CHECK`]).
pub(super) fn check_record(sealed: String, version: u64, now: u64) -> SessionRecord {
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

impl<B: Backend> Store<B> {
    /// Whether `op` needs the stored states themselves (opened, when encrypted).
    pub(super) fn reads_state(op: &Op) -> bool {
        matches!(op, Op::Read | Op::Set(..) | Op::Remove(_) | Op::ChangeId)
    }

    /// Whether an encrypted store's `op` reads the key check (last, after `ids`): every
    /// write but a delete (which needs no key), and the check of the key at open.
    pub(super) fn guarded(&self, op: &Op) -> bool {
        match op {
            Op::Delete => false,
            Op::Read => self.options.is_sliding(),
            _ => true,
        }
    }

    /// Takes in the `results` of `op` on `todo`: each `(id, version, plain)` sealed, or
    /// each `(id, version, sealed)` opened, into `known`. A sealed key check becomes the
    /// cipher's.
    pub(super) fn absorb(
        cipher: &Cipher,
        op: u32,
        todo: Vec<(SessionId, u64, String)>,
        results: &str,
        known: &mut Vec<Sealing>,
    ) {
        let open = op == OPEN;
        let generation = (!open).then(|| cipher.generation());
        for ((id, version, text), result) in todo.into_iter().zip(results.split('\0')) {
            let (plain, sealed) = if open {
                (result.to_owned(), text)
            } else {
                (text, result.to_owned())
            };
            if !open && id.as_str() == CHECK_ID {
                cipher.set_check(Some(sealed));
                continue;
            }
            known.push(Sealing {
                id,
                version,
                plain,
                sealed,
                generation,
            });
        }
    }

    /// `slot` with a sealed state opened (from `known`), or CORRUPT when it does not open or
    /// the store has no key; `Err` when it was not opened yet.
    pub(super) fn unseal(&self, slot: Slot, known: &[Sealing]) -> Result<Slot, ()> {
        let Slot::Record(mut record) = slot else {
            return Ok(slot);
        };
        if !record.state.is_sealed() {
            return Ok(Slot::Record(record));
        }
        let reason = match (&self.cipher, find_opened(known, &record)) {
            (None, _) => "the record is encrypted: open the store with its encryption key",
            (Some(_), None) => return Err(()),
            (Some(_), Some(k)) if k.plain.is_empty() => {
                "the encrypted state does not decrypt with this store's key (tampered with, \
                 moved from another id or version, or written with another key)"
            }
            (Some(_), Some(k)) => {
                let shape = record.state.shape();
                record.state = State::from_checked(k.plain.clone()).with_shape(shape);
                return Ok(Slot::Record(record));
            }
        };
        Ok(Slot::Corrupt(StoreError::corrupt(
            record.id.as_str(),
            reason,
        )))
    }

    /// The next thing an encrypted `op` needs before its transaction (or, read-only, its
    /// result), given what it `read` last (`None`: nothing yet): the states it reads opened
    /// (a device key that fails them read again once, as another tab may have remade it), the
    /// key check confirmed (or the device key read again), what it writes sealed.
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
            // Before the first transaction: what is written at a version known now.
            if !seal.presealed {
                seal.presealed = true;
                match op {
                    Op::Create(state, _) => {
                        if let Some(id) = ids.first() {
                            todo.push(((*id).clone(), 1, state.as_json().to_owned()));
                        }
                    }
                    Op::Put(entries, _) => {
                        for entry in entries {
                            let before = entry.expected.or_else(|| cipher.recall(&entry.id));
                            let version = before.unwrap_or(0).saturating_add(1);
                            todo.push((
                                entry.id.clone(),
                                version,
                                entry.state.as_json().to_owned(),
                            ));
                        }
                    }
                    _ => {}
                }
            }
            return Ok(self.seal_step(cipher, op, todo));
        };
        // At open, a device key is read first: where IndexedDB fails, the open does.
        if matches!(op, Op::CheckKey) && cipher.is_device() && !seal.reloaded {
            seal.reloaded = true;
            return Ok(Step::Call(RELOAD, Vec::new()));
        }
        let (mine, check) = if self.guarded(op) {
            slots.split_at(ids.len())
        } else {
            (slots, &[][..])
        };
        let check = check.first();
        // The states to open: the op's own where it reads them, and a key check not known.
        let mut opens: Vec<&SessionRecord> = Vec::new();
        let reads = Self::reads_state(op);
        for slot in mine.iter().filter(|_| reads).chain(check) {
            if let Slot::Record(r) = slot {
                let known_check = cipher.check().as_deref() == Some(r.state.as_json());
                if r.state.is_sealed() && !known_check && find_opened(known, r).is_none() {
                    opens.push(r);
                }
            }
        }
        if !opens.is_empty() {
            for r in opens {
                todo.push((r.id.clone(), r.version, r.state.as_json().to_owned()));
            }
            return Ok(Step::Call(OPEN, todo));
        }
        if cipher.is_device() && !seal.reloaded && known.iter().any(|k| k.plain.is_empty()) {
            seal.reloaded = true;
            known.retain(|k| !k.plain.is_empty());
            return Ok(Step::Call(RELOAD, Vec::new()));
        }
        match check {
            Some(Slot::Record(r)) if r.state.is_sealed() => {
                let ct = r.state.as_json();
                if cipher.check().as_deref() != Some(ct) {
                    if find_opened(known, r).is_some_and(|k| !k.plain.is_empty()) {
                        cipher.set_check(Some(ct.to_owned()));
                    } else if !cipher.is_device() || r.version != DEVICE_CHECK {
                        // The app's key, or a device store meeting data under the app's key.
                        return Err(wrong_key());
                    } else if !matches!(op, Op::CheckKey) {
                        // Its key is gone: this device's key takes the store over.
                        seal.replace_check = Some(ct.to_owned());
                    }
                }
            }
            // No key check (the store was cleared, or never written encrypted): a device key
            // held since before may have been destroyed with it.
            Some(_)
                if cipher.is_device()
                    && cipher.generation() == seal.generation
                    && !matches!(op, Op::CheckKey) =>
            {
                return Ok(Step::Call(MAKE, Vec::new()));
            }
            _ => {}
        }
        if self.guarded(op) || matches!(op, Op::Delete) {
            // As the transaction will see them (every state it reads is opened by now).
            let plain = self.as_decided(op, ids, mine, known).unwrap_or_default();
            if let Ok((writes, _)) = self.decide(op, ids, plain, now, &mut Vec::new()) {
                let generation = Some(cipher.generation());
                for write in writes {
                    if let Write::Put(r) = write {
                        if !r.state.is_sealed() && find_sealed(known, &r, generation).is_none() {
                            todo.push((r.id, r.version, r.state.into_json()));
                        }
                    }
                }
            }
        }
        Ok(self.seal_step(cipher, op, todo))
    }

    /// Sealing `todo`, and the key check of a store that writes and has none; else ready.
    pub(super) fn seal_step(
        &self,
        cipher: &Cipher,
        op: &Op,
        mut todo: Vec<(SessionId, u64, String)>,
    ) -> Step {
        if cipher.check().is_none() && self.guarded(op) && !matches!(op, Op::CheckKey) {
            todo.push((
                SessionId::reserved(CHECK_ID),
                cipher.check_version(),
                "{}".to_owned(),
            ));
        }
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
        slots: &[Slot],
        known: &[Sealing],
    ) -> Option<Vec<Slot>> {
        let reads = Self::reads_state(op);
        let mut out = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            out.push(match reads && i < ids.len() {
                true => self.unseal(slot.clone(), known).ok()?,
                false => slot.clone(),
            });
        }
        Some(out)
    }

    /// [`decide`](Self::decide) on what a transaction read, opening and sealing states from
    /// what `seal` holds (and, encrypted, confirming the key check last among `slots`).
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
        let Some(cipher) = &self.cipher else {
            // Not encrypted: an encrypted record is CORRUPT, saying why.
            let slots = slots
                .into_iter()
                .map(|slot| self.unseal(slot, known).unwrap_or(Slot::Empty))
                .collect();
            return Ok(self.decide(op, ids, slots, now, events)?);
        };
        let Some(open) = self.as_decided(op, ids, &slots, known) else {
            return Err(Undecided::Stale(slots));
        };
        let (mut writes, outcome) = self.decide(op, ids, open, now, events)?;
        let generation = Some(cipher.generation());
        for write in &mut writes {
            if let Write::Put(r) = write {
                if !r.state.is_sealed() {
                    match find_sealed(known, r, generation) {
                        Some(k) => {
                            let shape = r.state.shape();
                            r.state = State::sealed(k.sealed.clone()).with_shape(shape);
                        }
                        None => return Err(Undecided::Stale(slots)),
                    }
                }
                cipher.remember(&r.id, r.version);
            }
        }
        if self.guarded(op) {
            let ours = cipher.check();
            let stored = match slots.last() {
                Some(Slot::Record(r)) if r.state.is_sealed() => Some(r.state.as_json()),
                _ => None,
            };
            // A device key this operation did not read again may be one another tab destroyed
            // with the key check.
            let fresh = !cipher.is_device() || cipher.generation() != seal.generation;
            let write_ours = match stored {
                Some(ct) if Some(ct) == ours.as_deref() => false,
                Some(ct) if Some(ct) == seal.replace_check.as_deref() => true,
                None if fresh => true,
                _ => return Err(Undecided::Stale(slots)),
            };
            if write_ours {
                match ours {
                    Some(ct) => {
                        writes.push(Write::Put(check_record(ct, cipher.check_version(), now)))
                    }
                    None => return Err(Undecided::Stale(slots)),
                }
            }
        }
        Ok((writes, outcome))
    }
}

/// The opening of `record`'s sealed state in `known`: the same ciphertext, for the same id
/// and version (a ciphertext copied to another record is not taken for it).
pub(super) fn find_opened<'a>(known: &'a [Sealing], record: &SessionRecord) -> Option<&'a Sealing> {
    known.iter().find(|k| {
        k.generation.is_none()
            && k.sealed == record.state.as_json()
            && k.id == record.id
            && k.version == record.version
    })
}

/// The sealing of `record`'s plaintext state for its id and version, by the key of
/// `generation` (or opened from storage).
pub(super) fn find_sealed<'a>(
    known: &'a [Sealing],
    record: &SessionRecord,
    generation: Option<u32>,
) -> Option<&'a Sealing> {
    known.iter().find(|k| {
        (k.generation.is_none() || k.generation == generation)
            && !k.plain.is_empty()
            && k.id == record.id
            && k.version == record.version
            && k.plain == record.state.as_json()
    })
}

/// INVALID_INPUT: the app's key is not the one the store's data was written with.
pub(super) fn wrong_key() -> StoreError {
    StoreError::invalid(
        "this store's data was encrypted with another key: its key check does not decrypt \
         with this one (a device key never opens data written with the app's key)",
    )
}
