//! [`Store`]: the contract's semantics, written once over any [`Backend`].
//!
//! A backend only stores records; it knows nothing of expiry, versions or sliding. Every rule
//! of the contract lives here, so every backend behaves the same by construction, and the
//! conformance suite checks that each backend's storage mechanics keep it so.

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

    /// Removes every record of this store, unreadable ones included, and nothing else.
    async fn clear(&self) -> Result<(), StoreError>;
}

/// A session store: the contract of [`SessionStore`] over a [`Backend`].
///
/// Usually named by its alias, such as [`MemoryStore`](crate::MemoryStore).
pub struct Store<B> {
    backend: B,
    options: StoreOptions,
    subscribers: Rc<Subscribers>,
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

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        Err(StoreError::invalid("state keys must be non-empty strings"))
    } else {
        Ok(())
    }
}

/// INVALID_INPUT when an id appears twice in a batch.
fn check_distinct(ids: &[&SessionId]) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    if !ids.iter().all(|id| seen.insert(*id)) {
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

/// Takes the single slot of a one-id transaction.
fn only(slots: Vec<Slot>) -> Slot {
    slots.into_iter().next().unwrap_or(Slot::Empty)
}

impl<B: Backend> Store<B> {
    /// A store over `backend`.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) when an option is out of range.
    pub fn with_backend(backend: B, options: StoreOptions) -> Result<Self, StoreError> {
        options.validate()?;
        Ok(Store {
            backend,
            options,
            subscribers: Rc::default(),
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

    /// [`Backend::transact`] for a `decide` that also computes the operation's result and
    /// the events it makes (those of the call whose writes were applied), which are emitted
    /// once the writes are.
    async fn transact<R>(
        &self,
        ids: &[&SessionId],
        mut decide: impl FnMut(Vec<Slot>, &mut Vec<StoreEvent>) -> Result<(Vec<Write>, R), StoreError>,
    ) -> Result<R, StoreError> {
        let mut out = None;
        let mut events = Vec::new();
        self.backend
            .transact(ids, &mut |slots| {
                events.clear();
                let (writes, result) = decide(slots, &mut events)?;
                out = Some(result);
                Ok(writes)
            })
            .await?;
        let out = out.ok_or_else(|| StoreError::Unavailable {
            reason: "the backend finished a transaction without running it".into(),
        })?;
        self.emit(events);
        Ok(out)
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
            state,
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
        self.slide(record, now);
        Ok(record.version)
    }

    /// The read-modify-write of one live record: `NOT_FOUND` unless live; `change` edits it and
    /// says whether to store it; a stored change is reported as `kind`.
    async fn modify_live<R>(
        &self,
        id: &SessionId,
        kind: EventKind,
        mut change: impl FnMut(&mut SessionRecord, u64) -> Result<(bool, R), StoreError>,
    ) -> Result<R, StoreError> {
        let now = self.now()?;
        self.transact(&[id], |slots, events| match classify(only(slots), now)? {
            Found::Live(mut record) => {
                let (store, out) = change(&mut record, now)?;
                let writes = if store {
                    events.push(StoreEvent::about(kind, id, record.version));
                    vec![Write::Put(record)]
                } else {
                    Vec::new()
                };
                Ok((writes, out))
            }
            Found::Expired(_) | Found::Missing => Err(not_found(id)),
        })
        .await
    }

    /// Reads live records; with sliding expiry it is a write, to move the deadlines (and
    /// expired records met are removed then rather than at the next sweep).
    async fn read_live(
        &self,
        ids: &[&SessionId],
    ) -> Result<Vec<Option<SessionRecord>>, StoreError> {
        let now = self.now()?;
        if !self.options.is_sliding() {
            let slots = self.backend.read(ids).await?;
            let mut out = Vec::with_capacity(slots.len());
            for slot in slots {
                out.push(match classify(slot, now)? {
                    Found::Live(record) => Some(record),
                    Found::Expired(_) | Found::Missing => None,
                });
            }
            return Ok(out);
        }
        self.transact(ids, |slots, events| {
            let mut writes = Vec::new();
            let mut out = Vec::with_capacity(slots.len());
            for (id, slot) in ids.iter().zip(slots) {
                out.push(match classify(slot, now)? {
                    Found::Live(mut record) => {
                        self.slide(&mut record, now);
                        writes.push(Write::Put(record.clone()));
                        Some(record)
                    }
                    Found::Expired(version) => {
                        events.push(StoreEvent::about(EventKind::Expired, id, version));
                        writes.push(Write::Delete((*id).clone()));
                        None
                    }
                    Found::Missing => None,
                });
            }
            Ok((writes, out))
        })
        .await
    }

    /// Reads one live record, as [`read_live`](Self::read_live).
    async fn read_one(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.read_live(&[id]).await?.pop().flatten())
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

    /// A write of the whole state: unconditional when `expected` is `None`, else a CAS.
    async fn put_state(
        &self,
        id: &SessionId,
        state: State,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        check_expected(expected)?;
        let now = self.now()?;
        self.transact(&[id], |slots, events| {
            let record = self.put_state_in(id, only(slots), &state, expected, now, events)?;
            let version = record.version;
            Ok((vec![Write::Put(record)], version))
        })
        .await
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
        let now = self.now()?;
        self.transact(&[id], |slots, events| {
            match classify(only(slots), now)? {
                Found::Live(_) => {
                    return Err(StoreError::AlreadyExists {
                        id: id.as_str().to_owned(),
                    })
                }
                Found::Expired(version) => {
                    events.push(StoreEvent::about(EventKind::Expired, id, version))
                }
                Found::Missing => {}
            }
            let record = self.new_record(id, state.clone(), ttl_ms, now);
            events.push(StoreEvent::about(EventKind::Created, id, 1));
            Ok((vec![Write::Put(record.clone())], record))
        })
        .await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.read_one(id).await
    }

    async fn load_many(&self, ids: &[SessionId]) -> Result<Vec<Option<SessionRecord>>, StoreError> {
        let ids: Vec<&SessionId> = ids.iter().collect();
        check_distinct(&ids)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read_live(&ids).await
    }

    async fn save_many(
        &self,
        entries: Vec<SaveEntry>,
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        let ids: Vec<&SessionId> = entries.iter().map(|e| &e.id).collect();
        check_distinct(&ids)?;
        for entry in &entries {
            check_expected(entry.expected)?;
        }
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now()?;
        self.transact(&ids, |slots, events| {
            let mut writes = Vec::with_capacity(slots.len());
            let mut results = Vec::with_capacity(slots.len());
            for (entry, slot) in entries.iter().zip(slots) {
                let put =
                    self.put_state_in(&entry.id, slot, &entry.state, entry.expected, now, events);
                results.push(put.map(|record| {
                    let version = record.version;
                    writes.push(Write::Put(record));
                    version
                }));
            }
            Ok((writes, results))
        })
        .await
    }

    async fn save(&self, id: &SessionId, state: State) -> Result<u64, StoreError> {
        self.put_state(id, state, None).await
    }

    async fn save_if_version(
        &self,
        id: &SessionId,
        state: State,
        expected: u64,
    ) -> Result<u64, StoreError> {
        self.put_state(id, state, Some(expected)).await
    }

    async fn update_ttl(&self, id: &SessionId, ttl_ms: Option<u64>) -> Result<(), StoreError> {
        check_positive("ttlMs", ttl_ms)?;
        self.modify_live(id, EventKind::TtlUpdated, |record, now| {
            record.ttl_ms = ttl_ms;
            record.expires_at = self.deadline(record.created_at, now, ttl_ms);
            Ok((true, ()))
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let now = self.now()?;
        self.transact(&[id], |slots, events| {
            let (kind, version) = match only(slots) {
                Slot::Empty => return Ok((Vec::new(), false)),
                // Unreadable: its version is unknown.
                Slot::Corrupt(_) => (EventKind::Deleted, 0),
                Slot::Record(record) if record.is_expired(now) => {
                    (EventKind::Expired, record.version)
                }
                Slot::Record(record) => (EventKind::Deleted, record.version),
            };
            events.push(StoreEvent::about(kind, id, version));
            Ok((vec![Write::Delete(id.clone())], kind == EventKind::Deleted))
        })
        .await
    }

    async fn change_id(
        &self,
        old_id: &SessionId,
        new_id: Option<&SessionId>,
    ) -> Result<SessionId, StoreError> {
        let new_id = match new_id {
            Some(id) if id == old_id => {
                return Err(StoreError::invalid(
                    "changeId needs a new id different from the old one",
                ))
            }
            Some(id) => id.clone(),
            None => SessionId::generate()?,
        };
        let now = self.now()?;
        self.transact(&[old_id, &new_id], |slots, events| {
            let mut slots = slots.into_iter();
            let old_slot = slots.next().unwrap_or(Slot::Empty);
            let new_slot = slots.next().unwrap_or(Slot::Empty);
            let mut record = match classify(old_slot, now)? {
                Found::Live(record) => record,
                Found::Expired(_) | Found::Missing => return Err(not_found(old_id)),
            };
            match classify(new_slot, now)? {
                Found::Live(_) => {
                    return Err(StoreError::AlreadyExists {
                        id: new_id.as_str().to_owned(),
                    })
                }
                Found::Expired(version) => {
                    events.push(StoreEvent::about(EventKind::Expired, &new_id, version))
                }
                Found::Missing => {}
            }
            let mut renamed = StoreEvent::about(EventKind::IdChanged, old_id, record.version);
            renamed.new_id = Some(new_id.clone());
            events.push(renamed);
            record.id = new_id.clone();
            Ok((
                vec![Write::Delete(old_id.clone()), Write::Put(record)],
                new_id.clone(),
            ))
        })
        .await
    }

    async fn delete_expired(&self, batch_size: Option<NonZeroUsize>) -> Result<usize, StoreError> {
        let now = self.now()?;
        let removed = self
            .backend
            .delete_expired(now, batch_size.map(NonZeroUsize::get))
            .await?;
        let count = removed.len();
        self.emit(
            removed
                .into_iter()
                .map(|(id, version)| StoreEvent::about(EventKind::Expired, &id, version))
                .collect(),
        );
        Ok(count)
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        let now = self.now()?;
        self.backend.live_ids(now).await
    }

    async fn get_json(&self, id: &SessionId, key: &str) -> Result<Option<String>, StoreError> {
        check_key(key)?;
        match self.read_one(id).await? {
            Some(record) => Ok(record.state.get_json(key).map(str::to_owned)),
            None => Err(not_found(id)),
        }
    }

    async fn set_json(&self, id: &SessionId, key: &str, value: &str) -> Result<u64, StoreError> {
        check_key(key)?;
        let value = checked_value(value)?;
        self.modify_live(id, EventKind::Saved, |record, now| {
            record.state.insert_checked(key, value);
            Ok((true, self.write_state(record, now)?))
        })
        .await
    }

    async fn remove(&self, id: &SessionId, key: &str) -> Result<u64, StoreError> {
        check_key(key)?;
        self.modify_live(id, EventKind::Saved, |record, now| {
            if !record.state.remove(key) {
                return Ok((false, record.version));
            }
            Ok((true, self.write_state(record, now)?))
        })
        .await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.backend.clear().await?;
        self.emit(vec![StoreEvent {
            kind: EventKind::Cleared,
            id: None,
            new_id: None,
            version: None,
            local: true,
        }]);
        Ok(())
    }
}
