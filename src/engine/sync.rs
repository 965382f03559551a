//! Writes that a sync peer asks of one session: a server applying what a client pushed, or
//! (later) a client applying what it pulled. Each is decided by the engine's rules on what a
//! backend read, synchronously, so a peer that runs its own transaction (a sync server commits
//! metadata of its own with the record: its ETag, Idempotency-Keys, its changes feed) calls
//! [`decide_sync`](Store::decide_sync) inside it, and a store without one calls
//! [`write_synced`](Store::write_synced).
//!
//! States here are as stored: a sealed state (a client's ciphertext, the server's `enc`) stays
//! opaque text, never opened nor reported CORRUPT. That is the explicit opt-in of a server
//! store; a browser store's own operations still report a sealed record CORRUPT when they lack
//! its key, as before.

use super::ops::Op;
use super::{Backend, Slot, Store, Write};
use crate::error::StoreError;
use crate::event::StoreEvent;
use crate::id::SessionId;
use crate::record::{SessionRecord, State};
use crate::store::{check_positive, MAX_SAFE_INTEGER};

/// What a [`SyncWrite::Replace`] writes: the whole state (or a sealed one), and the deadline
/// and TTL as the peer has them.
#[derive(Clone, Debug, PartialEq)]
pub struct Replacement {
    /// The new state: a plain state, or a sealed one ([`sealed_state`]) kept as opaque text.
    pub state: State,
    /// The deadline in ms since the epoch (capped by the store's `maxLifetimeMs`); `None`
    /// never expires. It must be after now.
    pub expires_at: Option<u64>,
    /// The session's own TTL, kept as given (a positive safe integer, or `None`).
    pub ttl_ms: Option<u64>,
}

/// A write a sync peer asks of one session.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncWrite {
    /// Replaces the state, `expiresAt` and `ttlMs` of the live session (version + 1,
    /// `createdAt` kept, `updatedAt` now), or creates it (version 1) when it is missing or
    /// expired. With `expected`, a compare-and-swap as in
    /// [`save_if_version`](crate::SessionStore::save_if_version) (0: must not exist).
    Replace {
        /// What to write.
        with: Replacement,
        /// The version the live session must have; `None` for no check.
        expected: Option<u64>,
    },
    /// Deletes the session, whatever it holds.
    Delete,
    /// Moves the live session to this id, as [`change_id`](crate::SessionStore::change_id).
    Move(SessionId),
}

impl SyncWrite {
    /// The ids the write reads and writes, in the order its slots are given: `id`, and a
    /// move's target.
    pub fn ids<'a>(&'a self, id: &'a SessionId) -> Vec<&'a SessionId> {
        match self {
            SyncWrite::Move(to) => vec![id, to],
            _ => vec![id],
        }
    }
}

/// A sealed state: `text` (a client's ciphertext) kept opaque, as a server stores `enc`.
pub fn sealed_state(text: String) -> State {
    State::sealed(text)
}

/// INVALID_INPUT for a sealed state given to a store's own writes (`create`, `save`,
/// `saveIfVersion`, `saveMany`): only an encrypted store's sealing and the sync writes above
/// store one, so opening [`sealed_state`] to Rust changes nothing a store's writes accept.
pub(super) fn check_plain(state: &State) -> Result<(), StoreError> {
    if state.is_sealed() {
        return Err(StoreError::invalid(
            "a sealed state (a client's ciphertext) is written by a sync write, not by create or save",
        ));
    }
    Ok(())
}

/// The text of a sealed state; `None` for a plain state.
pub fn sealed_text(state: &State) -> Option<&str> {
    state.is_sealed().then(|| state.as_json())
}

impl<B: Backend> Store<B> {
    /// The time now on the store's clock, in ms since the epoch.
    ///
    /// # Errors
    /// What the clock gives (a JS `now` that returns no number: INVALID_INPUT).
    pub fn now_ms(&self) -> Result<u64, StoreError> {
        self.now()
    }

    /// The live record in `slot` at `now`, as stored (no sliding, no migration, a sealed
    /// state opaque); `None` when it is missing or expired.
    ///
    /// # Errors
    /// [`Corrupt`](StoreError::Corrupt) when the slot does not decode.
    pub fn live_in(&self, slot: Slot, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        Self::live(slot, self.expiry(now))
    }

    /// Decides `write` on session `id`, given what the backend read under
    /// [`write.ids(id)`](SyncWrite::ids) (in order): the writes to apply and, for a replace or
    /// a move, the record written. Pushes the events of those writes. Synchronous, so an
    /// optimistic backend may call it again with fresh slots.
    ///
    /// # Errors
    /// - [`VersionConflict`](StoreError::VersionConflict): a replace's `expected` is not the
    ///   live version (0 when missing or expired).
    /// - [`InvalidInput`](StoreError::InvalidInput): `expiresAt` at or before now, a TTL or
    ///   deadline that is not a safe integer, a move onto `id` itself, or a version at 2^53-1.
    /// - [`NotFound`](StoreError::NotFound): a move of a missing or expired session.
    /// - [`AlreadyExists`](StoreError::AlreadyExists): a move onto a live session.
    /// - [`Corrupt`](StoreError::Corrupt): a slot that does not decode (a delete of it still
    ///   succeeds, as `delete` does).
    pub fn decide_sync(
        &self,
        id: &SessionId,
        write: &SyncWrite,
        slots: Vec<Slot>,
        now: u64,
        events: &mut Vec<StoreEvent>,
    ) -> Result<(Vec<Write>, Option<SessionRecord>), StoreError> {
        match write {
            SyncWrite::Replace { with, expected } => {
                let slot = slots.into_iter().next().unwrap_or(Slot::Empty);
                let record = self.replace_in(id, slot, with, *expected, now, events)?;
                Ok((vec![Write::Put(record.clone())], Some(record)))
            }
            SyncWrite::Delete => {
                let (writes, _) = self.decide(&Op::Delete, &[id], slots, now, events)?;
                Ok((writes, None))
            }
            SyncWrite::Move(to) => {
                if to == id {
                    return Err(StoreError::invalid(
                        "a move needs a new id different from the old one",
                    ));
                }
                let (writes, _) = self.decide(&Op::ChangeId, &[id, to], slots, now, events)?;
                let moved = writes.iter().find_map(|w| match w {
                    Write::Put(record) => Some(record.clone()),
                    Write::Delete(_) => None,
                });
                Ok((writes, moved))
            }
        }
    }

    /// Carries out `write` on session `id` in one backend transaction, and emits its events:
    /// what a store that has no transaction of its own calls. Returns the record a replace or
    /// a move wrote.
    ///
    /// # Errors
    /// As [`decide_sync`](Self::decide_sync), and the backend's. An encrypted store refuses
    /// (INVALID_INPUT): its states are sealed by its own operations, which this one is not.
    pub async fn write_synced(
        &self,
        id: &SessionId,
        write: &SyncWrite,
    ) -> Result<Option<SessionRecord>, StoreError> {
        if self.cipher.is_some() {
            return Err(StoreError::invalid(
                "a sync write is not available on an encrypted store",
            ));
        }
        let now = self.now()?;
        let ids = write.ids(id);
        let mut events = Vec::new();
        let mut written = None;
        self.backend
            .transact(&ids, &mut |slots| {
                events.clear();
                let (writes, record) = self.decide_sync(id, write, slots, now, &mut events)?;
                written = record;
                Ok(writes)
            })
            .await?;
        self.emit(events);
        Ok(written)
    }

    /// The record a replace writes over what `slot` holds.
    fn replace_in(
        &self,
        id: &SessionId,
        slot: Slot,
        with: &Replacement,
        expected: Option<u64>,
        now: u64,
        events: &mut Vec<StoreEvent>,
    ) -> Result<SessionRecord, StoreError> {
        check_positive("ttlMs", with.ttl_ms)?;
        match with.expires_at {
            Some(at) if at > MAX_SAFE_INTEGER => {
                return Err(StoreError::invalid(
                    "expiresAt must be a safe integer (ms since the epoch) or null",
                ))
            }
            Some(at) if at <= now => return Err(StoreError::invalid(
                "expiresAt must be after now (a session past its deadline is deleted, not written)",
            )),
            _ => {}
        }
        // The state as `save` and `saveIfVersion` write it (version, createdAt, updatedAt,
        // events), then the deadline and TTL as the peer has them, capped as every deadline is.
        let mut record = self.put_state_in(id, slot, &with.state, expected, now, events)?;
        record.ttl_ms = with.ttl_ms;
        record.expires_at = with.expires_at;
        record.expires_at = self.expiry(now).deadline(&record);
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, ManualClock, MemoryStore, SessionStore, StoreOptions, Ttl};

    const T0: u64 = 1_700_000_000_000;

    fn store() -> (MemoryStore, ManualClock) {
        let clock = ManualClock::new(T0);
        let options = StoreOptions::new().ttl_ms(None).clock(clock.clone());
        (MemoryStore::open(options).unwrap(), clock)
    }

    fn id(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    fn replace(state: &str, expires_at: Option<u64>, expected: Option<u64>) -> SyncWrite {
        SyncWrite::Replace {
            with: Replacement {
                state: State::from_json(state).unwrap(),
                expires_at,
                ttl_ms: Some(5_000),
            },
            expected,
        }
    }

    #[test]
    fn a_replace_creates_then_bumps_keeping_created_at() {
        pollster::block_on(async {
            let (store, clock) = store();
            let a = id("a");
            let first = store
                .write_synced(&a, &replace(r#"{"n":1}"#, Some(T0 + 10), Some(0)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!((first.version, first.created_at), (1, T0));
            assert_eq!(
                (first.expires_at, first.ttl_ms),
                (Some(T0 + 10), Some(5_000))
            );
            clock.advance(5);
            let second = store
                .write_synced(&a, &replace(r#"{"n":2}"#, None, Some(1)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!((second.version, second.created_at), (2, T0));
            assert_eq!((second.updated_at, second.expires_at), (T0 + 5, None));
            assert_eq!(store.load(&a).await.unwrap(), Some(second));
        });
    }

    #[test]
    fn refusals_write_nothing() {
        pollster::block_on(async {
            let (store, _) = store();
            let a = id("a");
            store
                .create_with_id(&a, State::new(), Ttl::Never)
                .await
                .unwrap();
            let before = store.load(&a).await.unwrap();
            for (write, code) in [
                (replace("{}", None, Some(7)), ErrorCode::VersionConflict),
                (replace("{}", None, Some(0)), ErrorCode::VersionConflict),
                (replace("{}", Some(T0), None), ErrorCode::InvalidInput),
                (replace("{}", Some(1 << 53), None), ErrorCode::InvalidInput),
                (SyncWrite::Move(a.clone()), ErrorCode::InvalidInput),
            ] {
                let e = store.write_synced(&a, &write).await.unwrap_err();
                assert_eq!(e.code(), code, "{write:?}");
            }
            let e = store
                .write_synced(&id("gone"), &SyncWrite::Move(id("b")))
                .await
                .unwrap_err();
            assert_eq!(e.code(), ErrorCode::NotFound);
            assert_eq!(store.load(&a).await.unwrap(), before);
        });
    }

    #[test]
    fn sealed_states_stay_opaque_through_replace_and_move() {
        pollster::block_on(async {
            let (store, _) = store();
            let (a, b) = (id("a"), id("b"));
            let write = SyncWrite::Replace {
                with: Replacement {
                    state: sealed_state("not json \" at all".into()),
                    expires_at: None,
                    ttl_ms: None,
                },
                expected: None,
            };
            store.write_synced(&a, &write).await.unwrap();
            let moved = store
                .write_synced(&a, &SyncWrite::Move(b.clone()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(sealed_text(&moved.state), Some("not json \" at all"));
            assert_eq!(moved.id, b);
            assert_eq!(sealed_text(&State::new()), None);
            // The store's own reads still refuse what they cannot open.
            let e = store.load(&b).await.unwrap_err();
            assert_eq!(e.code(), ErrorCode::Corrupt);
            let deleted = store.write_synced(&b, &SyncWrite::Delete).await.unwrap();
            assert!(deleted.is_none());
            assert!(store.ids().await.unwrap().is_empty());
            // A store's own writes take no sealed state.
            let sealed = || sealed_state("x".into());
            let c = id("c");
            for e in [
                store.save(&c, sealed()).await.unwrap_err(),
                store.save_if_version(&c, sealed(), 0).await.unwrap_err(),
                store
                    .create_with_id(&c, sealed(), Ttl::Never)
                    .await
                    .unwrap_err(),
                store
                    .save_many(vec![crate::SaveEntry {
                        id: c.clone(),
                        state: sealed(),
                        expected: None,
                    }])
                    .await
                    .unwrap_err(),
            ] {
                assert_eq!(e.code(), ErrorCode::InvalidInput);
            }
            assert!(store.ids().await.unwrap().is_empty());
        });
    }
}
