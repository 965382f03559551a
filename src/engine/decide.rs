//! The contract's semantics: [`decide`](Store::decide), synchronous, on what a backend read.
//! Nothing here knows of crypto or I/O: expiry, versions, sliding, migrations, and what each
//! operation writes and returns.

use super::ops::{Op, Outcome};
use super::{Backend, Expiry, Slot, Store, Write};
use crate::error::StoreError;
use crate::event::{EventKind, StoreEvent};
use crate::id::SessionId;
use crate::record::{SessionRecord, State, Ttl};
use crate::store::{check_positive, MAX_SAFE_INTEGER};

/// What one slot holds, as the contract sees it at a given time.
pub(super) enum Found {
    Live(SessionRecord),
    /// Expired (with its version): invisible, but still taking space until removed.
    Expired(u64),
    Missing,
}

/// What `slot` holds by `expiry`; a live record with its deadline capped (see [`Expiry`]).
pub(super) fn classify(slot: Slot, expiry: Expiry) -> Result<Found, StoreError> {
    match slot {
        Slot::Empty => Ok(Found::Missing),
        Slot::Corrupt(e) => Err(e),
        Slot::Record(r) if expiry.is_expired(&r) => Ok(Found::Expired(r.version)),
        Slot::Record(mut r) => {
            r.expires_at = expiry.deadline(&r);
            Ok(Found::Live(r))
        }
    }
}

pub(super) fn not_found(id: &SessionId) -> StoreError {
    StoreError::NotFound {
        id: id.as_str().to_owned(),
    }
}

impl<B: Backend> Store<B> {
    /// When records expire at `now`, by this store's cap.
    pub(super) fn expiry(&self, now: u64) -> Expiry {
        Expiry {
            now_ms: now,
            max_lifetime_ms: self.options.get_max_lifetime_ms(),
        }
    }

    /// The deadline of a record created at `created_at` whose TTL starts now: now + TTL, capped
    /// at created_at + max lifetime; `None` when neither applies.
    pub(super) fn deadline(&self, created_at: u64, now: u64, ttl_ms: Option<u64>) -> Option<u64> {
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

    pub(super) fn resolve_ttl(&self, ttl: Ttl) -> Result<Option<u64>, StoreError> {
        match ttl {
            Ttl::StoreDefault => Ok(self.options.get_ttl_ms()),
            Ttl::Never => Ok(None),
            Ttl::Millis(ms) => {
                check_positive("ttlMs", Some(ms))?;
                Ok(Some(ms))
            }
        }
    }

    pub(super) fn new_record(
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
    pub(super) fn slide(&self, record: &mut SessionRecord, now: u64) {
        if self.options.is_sliding() {
            record.expires_at = self.deadline(record.created_at, now, record.ttl_ms);
        }
    }

    /// Applies a write of the state: version + 1, updated now, sliding deadline.
    pub(super) fn write_state(
        &self,
        record: &mut SessionRecord,
        now: u64,
    ) -> Result<u64, StoreError> {
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
    pub(super) fn migrated(&self, mut record: SessionRecord) -> Result<SessionRecord, StoreError> {
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
    pub(super) fn put_state_in(
        &self,
        id: &SessionId,
        slot: Slot,
        state: &State,
        expected: Option<u64>,
        now: u64,
        events: &mut Vec<StoreEvent>,
    ) -> Result<SessionRecord, StoreError> {
        let (live, expired) = match classify(slot, self.expiry(now))? {
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
    pub(super) fn live(slot: Slot, expiry: Expiry) -> Result<Option<SessionRecord>, StoreError> {
        Ok(match classify(slot, expiry)? {
            Found::Live(record) => Some(record),
            Found::Expired(_) | Found::Missing => None,
        })
    }

    /// What `op` writes, given what the backend read under `ids` (in order), and what it
    /// returns; pushes the events of those writes. Synchronous: an optimistic backend may call
    /// it again with fresh slots.
    pub(super) fn decide(
        &self,
        op: &Op,
        ids: &[&SessionId],
        slots: Vec<Slot>,
        now: u64,
        events: &mut Vec<StoreEvent>,
    ) -> Result<(Vec<Write>, Outcome), StoreError> {
        if let Op::Apply(_) | Op::Ack(_) | Op::Queue | Op::Meta(_) | Op::Lease(..) = op {
            return self.decide_synced(op, ids, slots, now, events);
        }
        let expiry = self.expiry(now);
        let mut writes = Vec::new();
        let mut slots = slots.into_iter();
        let mut next = || slots.next().unwrap_or(Slot::Empty);
        let outcome = match op {
            // Sliding expiry: every live record read is written with its deadline moved, and
            // expired records met are removed now rather than at the next sweep.
            Op::Read => {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    out.push(match classify(next(), expiry)? {
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
                claim(id, next(), expiry, events)?;
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
                let mut record = Self::live(next(), expiry)?.ok_or_else(|| not_found(id))?;
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
                    Slot::Record(record) if expiry.is_expired(&record) => {
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
                let mut record = Self::live(next(), expiry)?.ok_or_else(|| not_found(old_id))?;
                claim(new_id, next(), expiry, events)?;
                let mut renamed = StoreEvent::about(EventKind::IdChanged, old_id, record.version);
                renamed.new_id = Some(new_id.clone());
                events.push(renamed);
                record.id = new_id.clone();
                writes.push(Write::Delete(old_id.clone()));
                writes.push(Write::Put(record));
                Outcome::Done
            }
            _ => Outcome::Done,
        };
        Ok((writes, outcome))
    }
}

/// Whether a new record may take `id`, given what `slot` holds there: ALREADY_EXISTS when a
/// live session has it; an expired one is replaced, and its `expired` event pushed.
pub(super) fn claim(
    id: &SessionId,
    slot: Slot,
    expiry: Expiry,
    events: &mut Vec<StoreEvent>,
) -> Result<(), StoreError> {
    match classify(slot, expiry)? {
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

/// An operation run without the ids it needs (a bug in the caller, not the user's input).
pub(super) fn no_id() -> StoreError {
    StoreError::invalid("an operation was run without its session id")
}
