//! A synced store's queue: one row per session, under the reserved id `:s:<id>`, written in the
//! same transaction as the session's record by every local write (see the crate's `sync`
//! module for what a pass does with it).
//!
//! A row holds the server's ETag of the version the session last synced at, and the
//! Idempotency-Key of the change queued since (a new key for each local write: a retry of one
//! change keeps its key, a later change is another change). Saves coalesce into the row; a
//! delete keeps the row (the record gone: the change is the delete); a `changeId` moves the row
//! to the new id as a move of the old one. A session that was synced and whose record is gone
//! without a delete (expired and swept, cleared) is a delete to push too: the row with an ETag
//! and no record says so, with no write needed when the record goes.
//!
//! The rows also take what a pass learns: the server's answers ([`Op::Ack`]) and the sessions
//! it pulled ([`Op::Apply`]), which never overwrite a session whose change is still queued.

use super::decide::{classify, no_id, Found};
use super::ops::{Op, Outcome};
use super::{Backend, Slot, Store, Write};
use crate::error::{push_u64, StoreError};
use crate::event::{EventKind, StoreEvent};
use crate::id::SessionId;
use crate::json;
use crate::record::{SessionRecord, State};

/// The prefix of the queue rows' reserved ids.
pub(crate) const ROWS: &str = ":s:";

/// What a synced store keeps about one session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// The server's ETag of the version the session last synced at (`None`: never synced, or
    /// gone from the server).
    pub etag: Option<String>,
    /// The server's version at that ETag.
    pub server_version: u64,
    /// The Idempotency-Key of the change queued (`None`: nothing queued by a write).
    pub key: Option<String>,
    /// A queued move: the id the session had on the server.
    pub moved_from: Option<SessionId>,
}

/// The queue row id of session `id`: `:s:<id>`.
pub(crate) fn row_id(id: &SessionId) -> SessionId {
    let mut row = String::from(ROWS);
    row.push_str(id.as_str());
    SessionId::reserved_owned(row)
}

/// The session of queue row `row`.
#[cfg(target_arch = "wasm32")]
pub(crate) fn session_of(row: &SessionId) -> Option<SessionId> {
    SessionId::new(row.as_str().strip_prefix(ROWS)?).ok()
}

/// A fresh Idempotency-Key: 128 random bits.
fn new_key() -> Result<String, StoreError> {
    Ok(SessionId::generate()?.as_str().to_owned())
}

impl Row {
    /// The row a slot holds; `None` where there is none (or it does not read: it is
    /// rewritten).
    pub(crate) fn from_slot(slot: &Slot) -> Option<Row> {
        let Slot::Record(record) = slot else {
            return None;
        };
        let state = &record.state;
        let text = |key: &str| state.get_json(key).and_then(json::unescape);
        Some(Row {
            etag: text("e"),
            server_version: state.get_json("v").and_then(json::uint).unwrap_or(0),
            key: text("k"),
            moved_from: text("m").and_then(|m| SessionId::new(m).ok()),
        })
    }

    /// The record that stores this row for session `id`.
    pub(crate) fn record(&self, id: &SessionId) -> SessionRecord {
        let mut out = String::from("{\"v\":");
        push_u64(&mut out, self.server_version);
        for (name, value) in [
            ("e", self.etag.as_deref()),
            ("k", self.key.as_deref()),
            ("m", self.moved_from.as_ref().map(SessionId::as_str)),
        ] {
            if let Some(value) = value {
                out.push_str(",\"");
                out.push_str(name);
                out.push_str("\":");
                json::write_str(value, &mut out);
            }
        }
        out.push('}');
        SessionRecord {
            id: row_id(id),
            state: State::from_checked(out),
            version: 1,
            created_at: 0,
            updated_at: 0,
            expires_at: None,
            ttl_ms: None,
        }
    }

    /// The write that stores this row for `id`, or removes it when it says nothing.
    fn write(self, id: &SessionId) -> Write {
        if self.etag.is_none() && self.key.is_none() {
            Write::Delete(row_id(id))
        } else {
            Write::Put(self.record(id))
        }
    }
}

/// One session as the server has it, pulled (or taken in a conflict) to be written locally.
#[derive(Clone, Debug, PartialEq)]
pub enum Remote {
    /// The server's record: its state (opened, for an encrypted store), creation time,
    /// deadline and TTL.
    Put {
        /// The state.
        state: State,
        /// When the server's session was created.
        created_at: u64,
        /// Its deadline.
        expires_at: Option<u64>,
        /// Its TTL.
        ttl_ms: Option<u64>,
    },
    /// Gone from the server.
    Gone,
    /// Moved on the server to this id (whose record is pulled on its own).
    MovedTo(SessionId),
}

/// A session the server has, to write locally.
#[derive(Clone, Debug, PartialEq)]
pub struct Pulled {
    /// The session.
    pub id: SessionId,
    /// What the server has.
    pub remote: Remote,
    /// Its ETag (`None` when gone).
    pub etag: Option<String>,
    /// Its server version.
    pub server_version: u64,
    /// `None`: written only where nothing is queued. `Some(key)`: a conflict settled for the
    /// server, written while the queued change is still the one with this key (a local
    /// write since stays queued).
    pub over: Option<String>,
}

/// What the server took of a queued change.
#[derive(Clone, Debug, PartialEq)]
pub struct Acked {
    /// The session.
    pub id: SessionId,
    /// The key of the change pushed (`None`: a delete of a session whose record went without
    /// one, or a row dropped).
    pub key: Option<String>,
    /// The server's ETag now (`None`: gone from the server).
    pub etag: Option<String>,
    /// The server's version now.
    pub server_version: u64,
}

impl<B: Backend> Store<B> {
    /// Whether this store keeps a sync queue.
    pub(crate) fn is_synced(&self) -> bool {
        self.options.get_sync().is_some()
    }

    /// The queue rows read with `op` (after its ids, before the key check): one per id.
    pub(super) fn rows_of(&self, op: &Op, ids: &[&SessionId]) -> Vec<SessionId> {
        match op {
            _ if !self.is_synced() => Vec::new(),
            Op::DeleteExpired(_)
            | Op::Ids
            | Op::Clear
            | Op::CheckKey
            | Op::Meta(_)
            | Op::Lease(..) => Vec::new(),
            _ => ids.iter().map(|id| row_id(id)).collect(),
        }
    }

    /// Adds to `writes` (what a local `op` on `ids` writes) the rows of the sessions it
    /// changed, given the `rows` read with them: each session written gets a new change key; a
    /// deleted one keeps its row as a delete where the server has it; a renamed one's row moves
    /// to the new id as a move.
    pub(super) fn queue(
        &self,
        op: &Op,
        ids: &[&SessionId],
        rows: &[Slot],
        writes: &mut Vec<Write>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() || matches!(op, Op::Apply(_) | Op::Ack(_) | Op::Queue) {
            return Ok(());
        }
        let row = |id: &SessionId| {
            let at = ids.iter().position(|i| *i == id)?;
            Row::from_slot(rows.get(at)?)
        };
        let mut queued = Vec::new();
        for write in writes.iter() {
            match write {
                // A sliding read's write moves a deadline only: not a change to push.
                Write::Put(_) if matches!(op, Op::Read) => {}
                Write::Put(record) => {
                    let mut next = row(&record.id).unwrap_or_default();
                    if let (Op::ChangeId, Some(old)) = (op, ids.first()) {
                        let before = row(old).unwrap_or_default();
                        next = if self.cipher.is_some() {
                            // Encrypted (a ciphertext is bound to its id): a create here, and the
                            // old id's row a delete of its own.
                            Row::default()
                        } else {
                            // The row of the old id, moved: a move of it on the server.
                            Row {
                                moved_from: before
                                    .moved_from
                                    .clone()
                                    .or_else(|| before.etag.is_some().then(|| (*old).clone())),
                                ..before
                            }
                        };
                    }
                    if record.version == 1
                        && next.key.is_none()
                        && matches!(op, Op::Create(..) | Op::Put(..))
                    {
                        // A new session where a synced one expired (on the server too, as far
                        // as this store knows): a create there, not a replace of the old one.
                        next = Row::default();
                    }
                    next.key = Some(new_key()?);
                    queued.push(next.write(&record.id));
                }
                Write::Delete(id) if matches!(op, Op::ChangeId) && self.cipher.is_none() => {
                    queued.push(Write::Delete(row_id(id)));
                }
                Write::Delete(id) => {
                    let mut next = row(id).unwrap_or_default();
                    // Never on the server: nothing to push.
                    next.key = next.etag.is_some().then(new_key).transpose()?;
                    next.moved_from = None;
                    queued.push(next.write(id));
                }
            }
        }
        writes.extend(queued);
        Ok(())
    }

    /// [`Op::Apply`] and [`Op::Ack`], decided on what was read: `slots` holds the records of
    /// `ids` then their rows.
    pub(super) fn decide_synced(
        &self,
        op: &Op,
        ids: &[&SessionId],
        slots: Vec<Slot>,
        now: u64,
        events: &mut Vec<StoreEvent>,
    ) -> Result<(Vec<Write>, Outcome), StoreError> {
        let (records, rows) = slots.split_at(ids.len().min(slots.len()));
        let at = |id: &SessionId| ids.iter().position(|i| *i == id).ok_or_else(no_id);
        let mut writes = Vec::new();
        let mut done = 0;
        match op {
            Op::Queue => {
                let expiry = self.expiry(now);
                let mut out = Vec::with_capacity(ids.len());
                for (i, slot) in records.iter().enumerate() {
                    let row = rows.get(i).and_then(Row::from_slot).unwrap_or_default();
                    let live = match classify(slot.clone(), expiry) {
                        Ok(Found::Live(record)) => Some(self.migrated(record)?),
                        // Unreadable: pushed by nobody until it is deleted or written again.
                        Err(_) if row.key.is_some() => continue,
                        _ => None,
                    };
                    out.push((ids[i].clone(), row, live));
                }
                return Ok((Vec::new(), Outcome::Queue(out)));
            }
            Op::Lease(by, until, at) => {
                let id = ids.first().copied().ok_or_else(no_id)?;
                let held = match records.first() {
                    Some(Slot::Record(r)) => json::Fields::of(r.state.as_json(), 2)
                        .and_then(|f| Some((f.string("by")?, f.uint("until")?))),
                    _ => None,
                };
                // Taking it: free when nobody holds it or the lease ran out (a pass of this
                // context holding it is running: not free to another of its passes). Giving
                // it back: only by its holder.
                let free =
                    held.is_none_or(|(holder, end)| end <= *at || (*until == 0 && holder == *by));
                if free {
                    let mut lease = String::from("{\"by\":");
                    json::write_str(by, &mut lease);
                    lease.push_str(",\"until\":");
                    push_u64(&mut lease, *until);
                    lease.push('}');
                    let mut record = Row::default().record(id);
                    record.id = id.clone();
                    record.state = State::from_checked(lease);
                    writes.push(Write::Put(record));
                }
                return Ok((writes, Outcome::Count(usize::from(free && *until > 0))));
            }
            Op::Meta(meta) => {
                let id = ids.first().copied().ok_or_else(no_id)?;
                return Ok(match meta {
                    None => {
                        let record = match records.first() {
                            Some(Slot::Record(r)) => Some(r.clone()),
                            _ => None,
                        };
                        (Vec::new(), Outcome::Records(vec![record]))
                    }
                    Some(state) => {
                        let mut record = Row::default().record(id);
                        record.id = id.clone();
                        record.state = state.clone();
                        (vec![Write::Put(record)], Outcome::Done)
                    }
                });
            }
            Op::Ack(acks) => {
                for ack in acks {
                    let i = at(&ack.id)?;
                    let mut row = rows.get(i).and_then(Row::from_slot).unwrap_or_default();
                    if row.key == ack.key {
                        row.key = None;
                    }
                    row.etag = ack.etag.clone();
                    row.server_version = ack.server_version;
                    row.moved_from = None;
                    writes.push(row.write(&ack.id));
                    done += 1;
                }
            }
            Op::Apply(pulled) => {
                let expiry = self.expiry(now);
                // Each entry decided on what the entries before it left: a move's target is
                // also pulled on its own, and sees the moved record. Moves first, so that the
                // target's pull is a save over the moved session (its version goes on).
                let mut records = records.to_vec();
                let mut rows = rows.to_vec();
                let live = |slot: Option<&Slot>| match classify(
                    slot.cloned().unwrap_or(Slot::Empty),
                    expiry,
                ) {
                    Ok(Found::Live(record)) => Some(record),
                    _ => None,
                };
                let moved = |p: &&Pulled| matches!(p.remote, Remote::MovedTo(_));
                for p in pulled
                    .iter()
                    .filter(moved)
                    .chain(pulled.iter().filter(|p| !moved(p)))
                {
                    let i = at(&p.id)?;
                    let row = rows.get(i).and_then(Row::from_slot).unwrap_or_default();
                    let clean = match &p.over {
                        None => row.key.is_none(),
                        Some(key) => row.key.as_ref() == Some(key),
                    };
                    if !clean {
                        continue;
                    }
                    let synced = Row {
                        etag: p.etag.clone(),
                        server_version: p.server_version,
                        ..Row::default()
                    };
                    let mut out = Vec::new();
                    let mut event = match (&p.remote, live(records.get(i))) {
                        (
                            Remote::Put {
                                state,
                                created_at,
                                expires_at,
                                ttl_ms,
                            },
                            live,
                        ) => {
                            let (mut record, kind) = match live {
                                Some(mut record) => {
                                    record.state = state.clone();
                                    self.write_state(&mut record, now)?;
                                    (record, EventKind::Saved)
                                }
                                None => {
                                    let mut record =
                                        self.new_record(&p.id, state.clone(), None, now);
                                    record.created_at = *created_at;
                                    (record, EventKind::Created)
                                }
                            };
                            record.ttl_ms = *ttl_ms;
                            record.expires_at = *expires_at;
                            record.expires_at = expiry.deadline(&record);
                            let event = StoreEvent::about(kind, &p.id, record.version);
                            out.push(Write::Put(record));
                            Some(event)
                        }
                        (Remote::MovedTo(to), Some(mut record))
                            if live(records.get(at(to)?)).is_none() =>
                        {
                            let mut event =
                                StoreEvent::about(EventKind::IdChanged, &p.id, record.version);
                            event.new_id = Some(to.clone());
                            out.push(Write::Delete(p.id.clone()));
                            record.id = to.clone();
                            out.push(Write::Put(record));
                            out.push(synced.clone().write(to));
                            Some(event)
                        }
                        (_, Some(record)) => {
                            out.push(Write::Delete(p.id.clone()));
                            Some(StoreEvent::about(EventKind::Deleted, &p.id, record.version))
                        }
                        (_, None) => None,
                    };
                    out.push(if moved(&p) { Row::default() } else { synced }.write(&p.id));
                    // What the next entries read, and one write per id (the last).
                    for write in out {
                        let (id, slot) = match &write {
                            Write::Put(record) => (&record.id, Slot::Record(record.clone())),
                            Write::Delete(id) => (id, Slot::Empty),
                        };
                        let read = if let Some(at) = ids.iter().position(|i| *i == id) {
                            records.get_mut(at)
                        } else if let Some(session) = id.as_str().strip_prefix(ROWS) {
                            ids.iter()
                                .position(|i| i.as_str() == session)
                                .and_then(|at| rows.get_mut(at))
                        } else {
                            None
                        };
                        if let Some(read) = read {
                            *read = slot;
                        }
                        writes.retain(|w: &Write| match w {
                            Write::Put(r) => r.id != *id,
                            Write::Delete(d) => d != id,
                        });
                        writes.push(write);
                    }
                    if let Some(event) = event.as_mut() {
                        // A pull's change: made by the server, in this tab too.
                        event.remote = true;
                        event.local = false;
                        events.push(event.clone());
                        done += 1;
                    }
                }
            }
            _ => return Err(no_id()),
        }
        Ok((writes, Outcome::Count(done)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, MemoryStore, SessionStore, StoreOptions, SyncOptions, Ttl};

    fn store() -> (MemoryStore, ManualClock) {
        let clock = ManualClock::new(1_000);
        let options = StoreOptions::new()
            .name("q")
            .sync(SyncOptions::new("http://127.0.0.1:1"))
            .clock(clock.clone());
        (MemoryStore::open(options).unwrap(), clock)
    }

    fn id(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    /// Each id's row and live record, as a pass reads them.
    fn queue(store: &MemoryStore, ids: &[&str]) -> Vec<(Row, Option<SessionRecord>)> {
        let ids: Vec<SessionId> = ids.iter().map(|s| id(s)).collect();
        let refs: Vec<&SessionId> = ids.iter().collect();
        match pollster::block_on(store.run(&refs, Op::Queue)).unwrap() {
            Outcome::Queue(q) => q.into_iter().map(|(_, row, rec)| (row, rec)).collect(),
            _ => panic!("not a queue"),
        }
    }

    fn run(store: &MemoryStore, ids: &[&str], op: Op) -> Outcome {
        let ids: Vec<SessionId> = ids.iter().map(|s| id(s)).collect();
        let refs: Vec<&SessionId> = ids.iter().collect();
        pollster::block_on(store.run(&refs, op)).unwrap()
    }

    fn synced(store: &MemoryStore, s: &str, key: Option<String>, etag: &str, version: u64) {
        let ack = Acked {
            id: id(s),
            key,
            etag: Some(etag.to_owned()),
            server_version: version,
        };
        run(store, &[s], Op::Ack(vec![ack]));
    }

    #[test]
    fn every_local_write_queues_a_new_change_and_sliding_reads_do_not() {
        let (store, _) = store();
        pollster::block_on(async {
            store
                .create_with_id(&id("a"), State::new(), Ttl::StoreDefault)
                .await
                .unwrap();
        });
        let (row, record) = queue(&store, &["a"]).remove(0);
        let first = row.key.clone().expect("a create queues a change");
        assert!(row.etag.is_none() && record.is_some());
        pollster::block_on(store.set_json(&id("a"), "k", "1")).unwrap();
        let second = queue(&store, &["a"]).remove(0).0.key.unwrap();
        assert_ne!(
            first, second,
            "a later write is another change, with another key"
        );
        // The server took the second: clean, at its ETag.
        synced(&store, "a", Some(second.clone()), "\"e1\"", 1);
        let (row, _) = queue(&store, &["a"]).remove(0);
        assert_eq!(
            (row.key, row.etag.as_deref(), row.server_version),
            (None, Some("\"e1\""), 1)
        );
        pollster::block_on(store.load(&id("a"))).unwrap();
        assert!(
            queue(&store, &["a"])[0].0.key.is_none(),
            "a read is not a change"
        );
    }

    #[test]
    fn an_answer_to_an_older_change_keeps_the_newer_one_queued() {
        let (store, _) = store();
        pollster::block_on(store.create_with_id(&id("a"), State::new(), Ttl::StoreDefault))
            .unwrap();
        let pushed = queue(&store, &["a"])[0].0.key.clone();
        pollster::block_on(store.set_json(&id("a"), "k", "2")).unwrap();
        synced(&store, "a", pushed, "\"e1\"", 1);
        let row = queue(&store, &["a"]).remove(0).0;
        assert!(
            row.key.is_some(),
            "the write made during the push is still queued"
        );
        assert_eq!(
            row.etag.as_deref(),
            Some("\"e1\""),
            "now based on the server's version"
        );
    }

    #[test]
    fn deletes_of_synced_sessions_stay_queued_and_of_others_leave_nothing() {
        let (store, clock) = store();
        for s in ["synced", "local", "expires"] {
            pollster::block_on(store.create_with_id(&id(s), State::new(), Ttl::Millis(100)))
                .unwrap();
        }
        synced(
            &store,
            "synced",
            queue(&store, &["synced"])[0].0.key.clone(),
            "\"s\"",
            1,
        );
        synced(
            &store,
            "expires",
            queue(&store, &["expires"])[0].0.key.clone(),
            "\"x\"",
            1,
        );
        pollster::block_on(store.delete(&id("synced"))).unwrap();
        pollster::block_on(store.delete(&id("local"))).unwrap();
        let q = queue(&store, &["synced", "local"]);
        assert!(
            q[0].0.key.is_some() && q[0].0.etag.is_some() && q[0].1.is_none(),
            "{q:?}"
        );
        assert_eq!(q[1].0, Row::default(), "never on the server: no row");
        // Expired and swept without a delete: the row with its ETag and no record says it.
        clock.advance(100);
        pollster::block_on(store.delete_expired(None)).unwrap();
        let q = queue(&store, &["expires"]);
        assert!(q[0].0.etag.is_some() && q[0].1.is_none(), "{q:?}");
    }

    #[test]
    fn a_rename_of_a_synced_session_is_a_move_and_later_saves_coalesce_into_it() {
        let (store, _) = store();
        pollster::block_on(store.create_with_id(&id("old"), State::new(), Ttl::StoreDefault))
            .unwrap();
        synced(
            &store,
            "old",
            queue(&store, &["old"])[0].0.key.clone(),
            "\"o\"",
            3,
        );
        pollster::block_on(store.change_id(&id("old"), Some(&id("new")))).unwrap();
        pollster::block_on(store.set_json(&id("new"), "k", "1")).unwrap();
        let q = queue(&store, &["old", "new"]);
        assert_eq!(q[0].0, Row::default(), "the old id's row moved");
        let row = &q[1].0;
        assert_eq!(row.moved_from.as_ref().map(SessionId::as_str), Some("old"));
        assert_eq!(
            (row.etag.as_deref(), row.server_version),
            (Some("\"o\""), 3)
        );
        assert!(row.key.is_some());
    }

    #[test]
    fn pulled_sessions_never_overwrite_a_queued_change() {
        let (store, _) = store();
        pollster::block_on(store.create_with_id(&id("dirty"), State::new(), Ttl::StoreDefault))
            .unwrap();
        let put = |s: &str, over: Option<String>| Pulled {
            id: id(s),
            remote: Remote::Put {
                state: State::from_json(r#"{"from":"server"}"#).unwrap(),
                created_at: 5,
                expires_at: None,
                ttl_ms: None,
            },
            etag: Some("\"srv\"".into()),
            server_version: 7,
            over,
        };
        let out = run(
            &store,
            &["dirty", "fresh"],
            Op::Apply(vec![put("dirty", None), put("fresh", None)]),
        );
        assert_eq!(out.count(), 1, "only the session with nothing queued");
        let q = queue(&store, &["dirty", "fresh"]);
        assert!(q[0].1.as_ref().unwrap().state.get_json("from").is_none());
        let fresh = q[1].1.clone().unwrap();
        assert_eq!((fresh.version, fresh.created_at), (1, 5));
        assert_eq!(q[1].0.etag.as_deref(), Some("\"srv\""));
        assert!(
            q[1].0.key.is_none(),
            "a pulled write is not a change to push"
        );
        // A conflict settled for the server: over the change that conflicted.
        let key = q[0].0.key.clone();
        assert_eq!(
            run(&store, &["dirty"], Op::Apply(vec![put("dirty", key)])).count(),
            1
        );
        let q = queue(&store, &["dirty"]);
        assert_eq!(
            q[0].1.as_ref().unwrap().state.get_json("from"),
            Some("\"server\"")
        );
        assert!(q[0].0.key.is_none());
    }

    #[test]
    fn a_ttl_change_of_a_synced_first_version_replaces_it_on_the_server() {
        let (store, _) = store();
        pollster::block_on(store.create_with_id(&id("a"), State::new(), Ttl::StoreDefault))
            .unwrap();
        synced(
            &store,
            "a",
            queue(&store, &["a"])[0].0.key.clone(),
            "\"e\"",
            1,
        );
        pollster::block_on(store.update_ttl(&id("a"), Some(5_000))).unwrap();
        let row = queue(&store, &["a"]).remove(0).0;
        assert!(row.key.is_some(), "a TTL change is a change to push");
        assert_eq!(
            (row.etag.as_deref(), row.server_version),
            (Some("\"e\""), 1),
            "over the server's version (a replace), not a create"
        );
    }

    #[test]
    fn pulled_changes_are_events_of_the_server_in_this_tab_too() {
        use std::cell::RefCell;
        use std::rc::Rc;
        let (store, _) = store();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let to = seen.clone();
        let _sub = store.subscribe(move |e| to.borrow_mut().push((e.kind, e.local, e.remote)));
        let pulled = Pulled {
            id: id("p"),
            remote: Remote::Put {
                state: State::new(),
                created_at: 5,
                expires_at: None,
                ttl_ms: None,
            },
            etag: Some("\"p\"".into()),
            server_version: 1,
            over: None,
        };
        run(&store, &["p"], Op::Apply(vec![pulled]));
        assert_eq!(*seen.borrow(), [(EventKind::Created, false, true)]);
    }

    #[test]
    fn the_lease_is_not_free_to_its_holders_second_pass_and_only_its_holder_gives_it_back() {
        let (store, _) = store();
        let lease = SessionId::reserved(":lease");
        let take = |by: &str, until: u64, at: u64| {
            pollster::block_on(store.run(&[&lease], Op::Lease(by.into(), until, at)))
                .unwrap()
                .count()
        };
        assert_eq!(take("a", 100, 0), 1, "free: taken");
        assert_eq!(take("a", 150, 50), 0, "a second pass of the holder waits");
        assert_eq!(take("b", 150, 50), 0, "so does another context");
        take("b", 0, 60);
        assert_eq!(take("b", 160, 60), 0, "a give-back by another is ignored");
        take("a", 0, 70);
        assert_eq!(take("b", 170, 70), 1, "given back by its holder: free");
        assert_eq!(take("a", 400, 170), 1, "ran out: free");
    }

    #[test]
    fn a_pulled_move_and_its_targets_pull_in_one_batch_go_on_from_the_moved_session() {
        use std::cell::RefCell;
        use std::rc::Rc;
        for put_first in [true, false] {
            let (store, _) = store();
            pollster::block_on(store.create_with_id(&id("old"), State::new(), Ttl::StoreDefault))
                .unwrap();
            pollster::block_on(store.set_json(&id("old"), "k", "1")).unwrap();
            pollster::block_on(store.set_json(&id("old"), "k", "2")).unwrap();
            synced(
                &store,
                "old",
                queue(&store, &["old"])[0].0.key.clone(),
                "\"o\"",
                3,
            );
            let seen = Rc::new(RefCell::new(Vec::new()));
            let to = seen.clone();
            let _sub = store.subscribe(move |e| {
                to.borrow_mut()
                    .push((e.kind, e.id.clone(), e.new_id.clone(), e.version))
            });
            let put = Pulled {
                id: id("new"),
                remote: Remote::Put {
                    state: State::from_json(r#"{"k":3}"#).unwrap(),
                    created_at: 5,
                    expires_at: None,
                    ttl_ms: None,
                },
                etag: Some("\"n\"".into()),
                server_version: 4,
                over: None,
            };
            let moved = Pulled {
                id: id("old"),
                remote: Remote::MovedTo(id("new")),
                etag: None,
                server_version: 0,
                over: None,
            };
            let batch = if put_first {
                vec![put, moved]
            } else {
                vec![moved, put]
            };
            assert_eq!(run(&store, &["new", "old"], Op::Apply(batch)).count(), 2);
            let q = queue(&store, &["old", "new"]);
            assert!(q[0].1.is_none() && q[0].0 == Row::default(), "{q:?}");
            let new = q[1].1.clone().unwrap();
            assert_eq!(
                (new.version, new.state.get_json("k")),
                (4, Some("3")),
                "the moved session saved over (put first: {put_first})"
            );
            assert_eq!(
                (q[1].0.etag.as_deref(), q[1].0.key.as_ref()),
                (Some("\"n\""), None)
            );
            assert_eq!(
                *seen.borrow(),
                [
                    (
                        EventKind::IdChanged,
                        Some(id("old")),
                        Some(id("new")),
                        Some(3)
                    ),
                    (EventKind::Saved, Some(id("new")), None, Some(4)),
                ]
            );
        }
    }
}
