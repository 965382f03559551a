//! [`Store`]: the contract's semantics, written once over any [`Backend`].
//!
//! A backend only stores records; it knows nothing of expiry, versions or sliding. Every rule
//! of the contract lives here, so every backend behaves the same by construction, and the
//! conformance suite checks that each backend's storage mechanics keep it so.

use crate::crypto::{Cipher, CHECK_ID, DESTROY, DEVICE_CHECK, MAKE, OPEN, RELOAD, SEAL};
use crate::error::StoreError;
use crate::event::{EventKind, StoreEvent, Subscribers, Subscription};
use crate::id::SessionId;
use crate::record::{checked_value, SaveEntry, SessionRecord, State, Ttl};
use crate::store::{check_positive, SessionStore, StoreOptions, MAX_SAFE_INTEGER};
use std::num::NonZeroUsize;
use std::rc::Rc;

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

/// Where a [`Store`] keeps its records.
///
/// Implementations store and fetch; [`Store`] applies the contract on top. `transact` is the
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

/// A session store: the contract of [`SessionStore`] over a [`Backend`].
///
/// Usually named by its alias, such as [`MemoryStore`](crate::MemoryStore).
pub struct Store<B> {
    backend: B,
    options: StoreOptions,
    subscribers: Rc<Subscribers>,
    /// An encrypted store's key (see [`crypto`](crate::crypto)).
    cipher: Option<Cipher>,
}

/// What an encrypted operation learned about one state: `sealed` is `plain` sealed for `id`
/// at `version`, because this store sealed it (with the key of `generation`) or opened it
/// (`generation` `None`). An empty `plain`: `sealed` does not open.
struct Sealing {
    id: SessionId,
    version: u64,
    plain: String,
    sealed: String,
    generation: Option<u32>,
}

/// Why an encrypted transaction's decision could not be made: it failed, or it needs a state
/// opened or sealed first (what was read is given back, to prepare from).
enum Undecided {
    Failed(StoreError),
    Stale(Vec<Slot>),
}

/// What an encrypted operation carries from one attempt to the next.
struct Sealer {
    known: Vec<Sealing>,
    /// The cipher's key generation when the operation began.
    generation: u32,
    /// A device store's key check that does not open with its key (whose key is gone): the
    /// store's key check is replaced if it is still that one.
    replace_check: Option<String>,
    /// Whether what is written at a version known up front was sealed.
    presealed: bool,
    /// Whether the device key was read again for a state that did not open.
    reloaded: bool,
}

/// What an encrypted operation does next.
enum Step {
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
const SEAL_ATTEMPTS: usize = 32;

/// The key-check record: `{}` sealed for [`CHECK_ID`] at `version`, which says what wrote
/// it: the app's key (1) or a device key ([`DEVICE_CHECK`]).
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

/// The join of `items` by NUL, how lists cross to `crypto.js`.
fn joined<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push('\0');
        }
        out.push_str(item);
    }
    out
}

/// What one slot holds, as the contract sees it at a given time.
enum Found {
    Live(SessionRecord),
    /// Expired (with its version): invisible, but still taking space until removed.
    Expired(u64),
    Missing,
}

fn classify(slot: Slot, now: u64) -> Result<Found, StoreError> {
    match slot {
        Slot::Empty => Ok(Found::Missing),
        Slot::Corrupt(e) => Err(e),
        Slot::Record(r) if r.is_expired(now) => Ok(Found::Expired(r.version)),
        Slot::Record(r) => Ok(Found::Live(r)),
    }
}

fn not_found(id: &SessionId) -> StoreError {
    StoreError::NotFound {
        id: id.as_str().to_owned(),
    }
}

/// A state key is non-empty, else INVALID_INPUT.
pub fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        Err(StoreError::invalid("state keys must be non-empty strings"))
    } else {
        Ok(())
    }
}

/// Sorts `v` in O(n log n). By hand because `sort_unstable` (quicksort with its small-sort and
/// heapsort fallbacks) costs ~1 KB of gzipped wasm for this one use, and this ~100 B.
fn heapsort(v: &mut [&str]) {
    fn sift(v: &mut [&str], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && v[child] < v[child + 1] {
                child += 1;
            }
            if v[root] >= v[child] {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    for root in (0..v.len() / 2).rev() {
        sift(v, root, v.len());
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

/// INVALID_INPUT when an id appears twice in a batch.
fn check_distinct(ids: &[&SessionId]) -> Result<(), StoreError> {
    if ids.len() < 2 {
        return Ok(());
    }
    // Sorted rather than hashed: the build then needs no hash map at all (~2 KB of gzipped
    // wasm).
    let mut sorted: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    heapsort(&mut sorted);
    if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(StoreError::invalid(
            "a batch must not name the same id twice",
        ));
    }
    Ok(())
}

fn check_expected(expected: Option<u64>) -> Result<(), StoreError> {
    match expected {
        Some(v) if v > MAX_SAFE_INTEGER => Err(StoreError::invalid(
            "expected version must be a safe integer >= 0",
        )),
        _ => Ok(()),
    }
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

    /// The deadline of a record created at `created_at` whose TTL starts now: now + TTL, capped
    /// at created_at + max lifetime; `None` when neither applies.
    fn deadline(&self, created_at: u64, now: u64, ttl_ms: Option<u64>) -> Option<u64> {
        let by_ttl = ttl_ms.map(|ttl| now.saturating_add(ttl));
        let cap = self
            .options
            .get_max_lifetime_ms()
            .map(|max| created_at.saturating_add(max));
        match (by_ttl, cap) {
            (Some(at), Some(cap)) => Some(at.min(cap)),
            (at, cap) => at.or(cap),
        }
    }

    fn resolve_ttl(&self, ttl: Ttl) -> Result<Option<u64>, StoreError> {
        match ttl {
            Ttl::StoreDefault => Ok(self.options.get_ttl_ms()),
            Ttl::Never => Ok(None),
            Ttl::Millis(ms) => {
                check_positive("ttlMs", Some(ms))?;
                Ok(Some(ms))
            }
        }
    }

    fn new_record(
        &self,
        id: &SessionId,
        state: State,
        ttl_ms: Option<u64>,
        now: u64,
    ) -> SessionRecord {
        SessionRecord {
            id: id.clone(),
            state: state.with_shape(self.options.get_state_version()),
            version: 1,
            created_at: now,
            updated_at: now,
            expires_at: self.deadline(now, now, ttl_ms),
            ttl_ms,
        }
    }

    /// Moves the deadline of a touched record when expiry slides.
    fn slide(&self, record: &mut SessionRecord, now: u64) {
        if self.options.is_sliding() {
            record.expires_at = self.deadline(record.created_at, now, record.ttl_ms);
        }
    }

    /// Applies a write of the state: version + 1, updated now, sliding deadline.
    fn write_state(&self, record: &mut SessionRecord, now: u64) -> Result<u64, StoreError> {
        if record.version >= MAX_SAFE_INTEGER {
            return Err(StoreError::invalid(
                "the session's version reached 2^53-1: create a new session",
            ));
        }
        record.version += 1;
        record.updated_at = now;
        record.state.set_shape(self.options.get_state_version());
        self.slide(record, now);
        Ok(record.version)
    }

    /// `record` as this store's app reads it: a state of a lower `stateVersion` through
    /// `migrate` (when there is one; the record is otherwise as stored), CORRUPT for a higher
    /// one, INVALID_INPUT when `migrate` fails.
    fn migrated(&self, mut record: SessionRecord) -> Result<SessionRecord, StoreError> {
        let current = self.options.get_state_version();
        let from = record.state.shape();
        let id = record.id.as_str();
        if from > current {
            return Err(StoreError::corrupt(
                id,
                "written with a higher stateVersion, by a newer release of the app: reload the app \
                 to read it",
            ));
        }
        if let (true, Some(migrate)) = (from < current, self.options.get_migrate()) {
            // Moved out (a placeholder that allocates nothing), not cloned.
            let state = std::mem::replace(&mut record.state, State::sealed(String::new()));
            record.state = migrate(state, from)
                .map_err(|e| match e {
                    StoreError::InvalidInput { reason: why } => {
                        let mut reason = String::from("migrate failed on session ");
                        reason.push_str(id);
                        reason.push_str(": ");
                        reason.push_str(&why);
                        StoreError::invalid(reason)
                    }
                    // Another error the app's Rust closure chose: as it is.
                    other => other,
                })?
                .with_shape(current);
        }
        Ok(record)
    }

    /// Decides a write of the whole state of `id` over what `slot` holds: unconditional when
    /// `expected` is `None`, else a CAS. Returns the record to store; its events are pushed
    /// only when it succeeds.
    fn put_state_in(
        &self,
        id: &SessionId,
        slot: Slot,
        state: &State,
        expected: Option<u64>,
        now: u64,
        events: &mut Vec<StoreEvent>,
    ) -> Result<SessionRecord, StoreError> {
        let (live, expired) = match classify(slot, now)? {
            Found::Live(record) => (Some(record), None),
            Found::Expired(version) => (None, Some(version)),
            Found::Missing => (None, None),
        };
        if let Some(expected) = expected {
            let actual = live.as_ref().map_or(0, |r| r.version);
            if actual != expected {
                return Err(StoreError::VersionConflict {
                    id: id.as_str().to_owned(),
                    expected,
                    actual,
                });
            }
        }
        let (record, kind) = match live {
            Some(mut record) => {
                record.state = state.clone();
                self.write_state(&mut record, now)?;
                (record, EventKind::Saved)
            }
            None => (
                self.new_record(id, state.clone(), self.options.get_ttl_ms(), now),
                EventKind::Created,
            ),
        };
        if let Some(version) = expired {
            events.push(StoreEvent::about(EventKind::Expired, id, version));
        }
        events.push(StoreEvent::about(kind, id, record.version));
        Ok(record)
    }

    /// The live record of one slot read at `now`, or `None`.
    fn live(slot: Slot, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        Ok(match classify(slot, now)? {
            Found::Live(record) => Some(record),
            Found::Expired(_) | Found::Missing => None,
        })
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
                let removed = self.backend.delete_expired(now, limit).await?;
                for (id, version) in &removed {
                    events.push(StoreEvent::about(EventKind::Expired, id, *version));
                }
                Outcome::Count(removed.len())
            }
            Op::Ids => {
                let now = self.now()?;
                let mut live = self.backend.live_ids(now).await?;
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

    /// Whether `op` needs the stored states themselves (opened, when encrypted).
    fn reads_state(op: &Op) -> bool {
        matches!(op, Op::Read | Op::Set(..) | Op::Remove(_) | Op::ChangeId)
    }

    /// Whether an encrypted store's `op` reads the key check (last, after `ids`): every
    /// write but a delete (which needs no key), and the check of the key at open.
    fn guarded(&self, op: &Op) -> bool {
        match op {
            Op::Delete => false,
            Op::Read => self.options.is_sliding(),
            _ => true,
        }
    }

    /// Takes in the `results` of `op` on `todo`: each `(id, version, plain)` sealed, or
    /// each `(id, version, sealed)` opened, into `known`. A sealed key check becomes the
    /// cipher's.
    fn absorb(
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
    fn unseal(&self, slot: Slot, known: &[Sealing]) -> Result<Slot, ()> {
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
    fn plan(
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
    fn seal_step(&self, cipher: &Cipher, op: &Op, mut todo: Vec<(SessionId, u64, String)>) -> Step {
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
    fn as_decided(
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
    fn decide_sealed(
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

    /// What `op` writes, given what the backend read under `ids` (in order), and what it
    /// returns; pushes the events of those writes. Synchronous: an optimistic backend may call
    /// it again with fresh slots.
    fn decide(
        &self,
        op: &Op,
        ids: &[&SessionId],
        slots: Vec<Slot>,
        now: u64,
        events: &mut Vec<StoreEvent>,
    ) -> Result<(Vec<Write>, Outcome), StoreError> {
        let mut writes = Vec::new();
        let mut slots = slots.into_iter();
        let mut next = || slots.next().unwrap_or(Slot::Empty);
        let outcome = match op {
            // Sliding expiry: every live record read is written with its deadline moved, and
            // expired records met are removed now rather than at the next sweep.
            Op::Read => {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    out.push(match classify(next(), now)? {
                        Found::Live(mut record) => {
                            // Stored as it was (a read never writes a migrated state), and
                            // returned migrated.
                            if self.options.is_sliding() {
                                self.slide(&mut record, now);
                                writes.push(Write::Put(record.clone()));
                            }
                            Some(self.migrated(record)?)
                        }
                        Found::Expired(version) => {
                            events.push(StoreEvent::about(EventKind::Expired, id, version));
                            writes.push(Write::Delete((*id).clone()));
                            None
                        }
                        Found::Missing => None,
                    });
                }
                Outcome::Records(out)
            }
            Op::Create(state, ttl_ms) => {
                let id = ids.first().copied().ok_or_else(no_id)?;
                claim(id, next(), now, events)?;
                let record = self.new_record(id, state.clone(), *ttl_ms, now);
                events.push(StoreEvent::about(EventKind::Created, id, 1));
                writes.push(Write::Put(record.clone()));
                Outcome::Records(vec![Some(record)])
            }
            Op::Put(entries, single) => {
                let mut results = Vec::with_capacity(entries.len());
                for entry in entries {
                    let put = self.put_state_in(
                        &entry.id,
                        next(),
                        &entry.state,
                        entry.expected,
                        now,
                        events,
                    );
                    // One write: its failure is the operation's.
                    let put = if *single { Ok(put?) } else { put };
                    results.push(put.map(|record| {
                        let version = record.version;
                        writes.push(Write::Put(record));
                        version
                    }));
                }
                Outcome::Versions(results)
            }
            Op::UpdateTtl(_) | Op::Set(..) | Op::Remove(_) => {
                let id = ids.first().copied().ok_or_else(no_id)?;
                let mut record = Self::live(next(), now)?.ok_or_else(|| not_found(id))?;
                if !matches!(op, Op::UpdateTtl(_)) {
                    // A write of the state: of the current stateVersion.
                    record = self.migrated(record)?;
                }
                let mut kind = EventKind::Saved;
                let changed = match op {
                    Op::UpdateTtl(ttl_ms) => {
                        kind = EventKind::TtlUpdated;
                        record.ttl_ms = *ttl_ms;
                        record.expires_at = self.deadline(record.created_at, now, *ttl_ms);
                        true
                    }
                    Op::Set(key, value) => {
                        record.state.insert_checked(key, value);
                        true
                    }
                    Op::Remove(key) => record.state.remove(key),
                    _ => false,
                };
                let version = if changed {
                    if kind == EventKind::Saved {
                        self.write_state(&mut record, now)?;
                    }
                    events.push(StoreEvent::about(kind, id, record.version));
                    let version = record.version;
                    writes.push(Write::Put(record));
                    version
                } else {
                    record.version
                };
                Outcome::Version(version)
            }
            Op::Delete => {
                let id = ids.first().copied().ok_or_else(no_id)?;
                let (kind, version) = match next() {
                    Slot::Empty => return Ok((writes, Outcome::Deleted(false))),
                    // Unreadable: its version is unknown.
                    Slot::Corrupt(_) => (EventKind::Deleted, 0),
                    Slot::Record(record) if record.is_expired(now) => {
                        (EventKind::Expired, record.version)
                    }
                    Slot::Record(record) => (EventKind::Deleted, record.version),
                };
                events.push(StoreEvent::about(kind, id, version));
                writes.push(Write::Delete(id.clone()));
                Outcome::Deleted(kind == EventKind::Deleted)
            }
            Op::ChangeId => {
                let (Some(&old_id), Some(&new_id)) = (ids.first(), ids.get(1)) else {
                    return Err(no_id());
                };
                let mut record = Self::live(next(), now)?.ok_or_else(|| not_found(old_id))?;
                claim(new_id, next(), now, events)?;
                let mut renamed = StoreEvent::about(EventKind::IdChanged, old_id, record.version);
                renamed.new_id = Some(new_id.clone());
                events.push(renamed);
                record.id = new_id.clone();
                writes.push(Write::Delete(old_id.clone()));
                writes.push(Write::Put(record));
                Outcome::Done
            }
            Op::DeleteExpired(_) | Op::Ids | Op::Clear | Op::CheckKey => Outcome::Done,
        };
        Ok((writes, outcome))
    }
}

/// Whether a new record may take `id`, given what `slot` holds there: ALREADY_EXISTS when a
/// live session has it; an expired one is replaced, and its `expired` event pushed.
fn claim(
    id: &SessionId,
    slot: Slot,
    now: u64,
    events: &mut Vec<StoreEvent>,
) -> Result<(), StoreError> {
    match classify(slot, now)? {
        Found::Live(_) => Err(StoreError::AlreadyExists {
            id: id.as_str().to_owned(),
        }),
        Found::Expired(version) => {
            events.push(StoreEvent::about(EventKind::Expired, id, version));
            Ok(())
        }
        Found::Missing => Ok(()),
    }
}

/// The opening of `record`'s sealed state in `known`: the same ciphertext, for the same id
/// and version (a ciphertext copied to another record is not taken for it).
fn find_opened<'a>(known: &'a [Sealing], record: &SessionRecord) -> Option<&'a Sealing> {
    known.iter().find(|k| {
        k.generation.is_none()
            && k.sealed == record.state.as_json()
            && k.id == record.id
            && k.version == record.version
    })
}

/// The sealing of `record`'s plaintext state for its id and version, by the key of
/// `generation` (or opened from storage).
fn find_sealed<'a>(
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
fn wrong_key() -> StoreError {
    StoreError::invalid(
        "this store's data was encrypted with another key: its key check does not decrypt \
         with this one (a device key never opens data written with the app's key)",
    )
}

/// An operation run without the ids it needs (a bug in the caller, not the user's input).
fn no_id() -> StoreError {
    StoreError::invalid("an operation was run without its session id")
}

/// One operation of the contract, as the engine's one async function (`Store::run`) carries it
/// out, its arguments checked.
///
/// Every operation goes through that one async function, with what it writes decided by a
/// synchronous `decide` on what the backend read: the engine's async code, and the backend's
/// that it awaits, is compiled once rather than once per operation (async state machines are
/// most of the wasm's size).
pub enum Op {
    /// The live records of the ids (with sliding expiry, a write moving their deadlines).
    Read,
    /// A new session under the one id: its state and TTL.
    Create(State, Option<u64>),
    /// Whole-state writes, one per id, unconditional or a CAS; with `true` (a single write),
    /// a failure fails the operation rather than being its result.
    Put(Vec<SaveEntry>, bool),
    /// Replaces the TTL of the one id's live session.
    UpdateTtl(Option<u64>),
    /// Sets a state key (non-empty) to a checked JSON value.
    Set(String, String),
    /// Removes a state key (non-empty).
    Remove(String),
    /// Deletes the one id's record, whatever it holds.
    Delete,
    /// Moves the live session of the first id to the second (different) id.
    ChangeId,
    /// Removes expired sessions, at most this many.
    DeleteExpired(Option<usize>),
    /// The ids of the live sessions.
    Ids,
    /// Removes every record.
    Clear,
    /// Confirms that an encrypted store's key opens its key check (INVALID_INPUT for the
    /// app's key when it does not); nothing for a store that is not encrypted.
    CheckKey,
}

impl Op {
    /// [`Op::Set`], with the key and the value's JSON text checked.
    pub fn set(key: &str, value: &str) -> Result<Op, StoreError> {
        check_key(key)?;
        Ok(Op::Set(key.to_owned(), checked_value(value)?.to_owned()))
    }

    /// [`Op::Remove`], with the key checked.
    pub fn remove(key: &str) -> Result<Op, StoreError> {
        check_key(key)?;
        Ok(Op::Remove(key.to_owned()))
    }
}

/// What an [`Op`] returns.
pub enum Outcome {
    /// Read and Create: a record (or `None`) per id.
    Records(Vec<Option<SessionRecord>>),
    /// Put: one result per entry.
    Versions(Vec<Result<u64, StoreError>>),
    /// Set, Remove, UpdateTtl: the version now stored.
    Version(u64),
    /// Delete: whether a live session was removed.
    Deleted(bool),
    /// DeleteExpired: how many were removed.
    Count(usize),
    /// Ids.
    Ids(Vec<SessionId>),
    /// Clear and ChangeId.
    Done,
}

impl Outcome {
    /// The records of Read or Create.
    pub fn into_records(self) -> Vec<Option<SessionRecord>> {
        match self {
            Outcome::Records(records) => records,
            _ => Vec::new(),
        }
    }

    /// The first record of Read or Create.
    pub fn into_record(self) -> Option<SessionRecord> {
        self.into_records().into_iter().next().flatten()
    }

    /// The results of Put.
    pub fn into_versions(self) -> Vec<Result<u64, StoreError>> {
        match self {
            Outcome::Versions(results) => results,
            _ => Vec::new(),
        }
    }

    /// The version of Set, Remove and UpdateTtl, or of a single Put.
    pub fn version(self) -> Result<u64, StoreError> {
        match self {
            Outcome::Version(version) => Ok(version),
            other => other.into_versions().into_iter().next().unwrap_or(Ok(0)),
        }
    }

    /// A count (DeleteExpired) or a flag (Delete) as a number.
    pub fn count(&self) -> usize {
        match self {
            Outcome::Count(n) => *n,
            Outcome::Deleted(deleted) => usize::from(*deleted),
            _ => 0,
        }
    }

    /// The ids of Ids.
    pub fn into_ids(self) -> Vec<SessionId> {
        match self {
            Outcome::Ids(ids) => ids,
            _ => Vec::new(),
        }
    }
}

impl<B: Backend> SessionStore for Store<B> {
    fn name(&self) -> &str {
        self.options.get_name()
    }

    fn subscribe(&self, callback: impl Fn(&StoreEvent) + 'static) -> Subscription {
        self.subscribers.subscribe(callback)
    }

    async fn create(&self, state: State, ttl: Ttl) -> Result<SessionRecord, StoreError> {
        self.create_with_id(&SessionId::generate()?, state, ttl)
            .await
    }

    async fn create_with_id(
        &self,
        id: &SessionId,
        state: State,
        ttl: Ttl,
    ) -> Result<SessionRecord, StoreError> {
        let ttl_ms = self.resolve_ttl(ttl)?;
        let out = self.run(&[id], Op::Create(state, ttl_ms)).await?;
        out.into_record().ok_or_else(no_id)
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.run(&[id], Op::Read).await?.into_record())
    }

    async fn load_many(&self, ids: &[SessionId]) -> Result<Vec<Option<SessionRecord>>, StoreError> {
        let ids: Vec<&SessionId> = ids.iter().collect();
        Ok(self.run(&ids, Op::Read).await?.into_records())
    }

    async fn save_many(
        &self,
        entries: Vec<SaveEntry>,
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        let ids: Vec<SessionId> = entries.iter().map(|e| e.id.clone()).collect();
        let ids: Vec<&SessionId> = ids.iter().collect();
        Ok(self
            .run(&ids, Op::Put(entries, false))
            .await?
            .into_versions())
    }

    async fn save(&self, id: &SessionId, state: State) -> Result<u64, StoreError> {
        self.put(id, state, None).await
    }

    async fn save_if_version(
        &self,
        id: &SessionId,
        state: State,
        expected: u64,
    ) -> Result<u64, StoreError> {
        self.put(id, state, Some(expected)).await
    }

    async fn update_ttl(&self, id: &SessionId, ttl_ms: Option<u64>) -> Result<(), StoreError> {
        check_positive("ttlMs", ttl_ms)?;
        self.run(&[id], Op::UpdateTtl(ttl_ms)).await?;
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.run(&[id], Op::Delete).await?.count() == 1)
    }

    async fn change_id(
        &self,
        old_id: &SessionId,
        new_id: Option<&SessionId>,
    ) -> Result<SessionId, StoreError> {
        let new_id = new_id_for(old_id, new_id)?;
        self.run(&[old_id, &new_id], Op::ChangeId).await?;
        Ok(new_id)
    }

    async fn delete_expired(&self, batch_size: Option<NonZeroUsize>) -> Result<usize, StoreError> {
        let limit = batch_size.map(NonZeroUsize::get);
        Ok(self.run(&[], Op::DeleteExpired(limit)).await?.count())
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        Ok(self.run(&[], Op::Ids).await?.into_ids())
    }

    async fn get_json(&self, id: &SessionId, key: &str) -> Result<Option<String>, StoreError> {
        check_key(key)?;
        let record = self.run(&[id], Op::Read).await?.into_record();
        Ok(record
            .ok_or_else(|| not_found(id))?
            .state
            .get_json(key)
            .map(str::to_owned))
    }

    async fn set_json(&self, id: &SessionId, key: &str, value: &str) -> Result<u64, StoreError> {
        let op = Op::set(key, value)?;
        self.run(&[id], op).await?.version()
    }

    async fn remove(&self, id: &SessionId, key: &str) -> Result<u64, StoreError> {
        let op = Op::remove(key)?;
        self.run(&[id], op).await?.version()
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.run(&[], Op::Clear).await?;
        Ok(())
    }
}

impl<B: Backend> Store<B> {
    /// save and saveIfVersion: one whole-state write.
    async fn put(
        &self,
        id: &SessionId,
        state: State,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let entry = SaveEntry {
            id: id.clone(),
            state,
            expected,
        };
        self.run(&[id], Op::Put(vec![entry], true)).await?.version()
    }
}

/// The id changeId moves a session to: `new_id`, or a generated one; INVALID_INPUT when it is
/// the old id.
pub fn new_id_for(old_id: &SessionId, new_id: Option<&SessionId>) -> Result<SessionId, StoreError> {
    match new_id {
        Some(id) if id == old_id => Err(StoreError::invalid(
            "changeId needs a new id different from the old one",
        )),
        Some(id) => Ok(id.clone()),
        None => SessionId::generate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heapsort_sorts_every_arrangement() {
        // Every permutation of up to 6 items (with duplicates among them), and longer runs.
        let base = ["d", "a", "c", "a", "b", "e"];
        for n in 0..=base.len() {
            let mut items: Vec<&str> = base[..n].to_vec();
            let mut expected = items.clone();
            expected.sort();
            // Heap's algorithm over the indices.
            let mut c = vec![0; n];
            let check = |v: &[&str]| {
                let mut v = v.to_vec();
                heapsort(&mut v);
                assert_eq!(v, expected);
            };
            check(&items);
            let mut i = 0;
            while i < n {
                if c[i] < i {
                    items.swap(if i % 2 == 0 { 0 } else { c[i] }, i);
                    check(&items);
                    c[i] += 1;
                    i = 0;
                } else {
                    c[i] = 0;
                    i += 1;
                }
            }
        }
        let long: Vec<String> = (0..1000).map(|i| ((i * 7919) % 1009).to_string()).collect();
        let mut v: Vec<&str> = long.iter().map(String::as_str).collect();
        let mut expected = v.clone();
        expected.sort();
        heapsort(&mut v);
        assert_eq!(v, expected);
    }

    #[test]
    fn a_batch_naming_an_id_twice_is_refused() {
        let ids: Vec<SessionId> = ["b", "a", "c", "a"]
            .iter()
            .map(|s| SessionId::new(s.to_string()).unwrap())
            .collect();
        let refs: Vec<&SessionId> = ids.iter().collect();
        assert!(check_distinct(&refs).is_err());
        assert!(check_distinct(&refs[..3]).is_ok());
        assert!(check_distinct(&refs[..1]).is_ok());
    }
}
