//! [`SyncStore`]: what the HTTP API does to one owner's store, on any [`Kv`]: reads with their
//! ETag, writes under `If-Match` / `If-None-Match` with their Idempotency-Key, moves, and the
//! changes feed.
//!
//! Each write is one optimistic transaction: read the records (and the answer of an earlier
//! try with the same Idempotency-Key), check the ETag, let the engine decide
//! ([`Store::decide_sync`]), then commit the records, the key's answer, the index and the
//! feed together, only if nothing read has changed; otherwise again from the read.
//!
//! `changes` reads the feed (and long-polls it); `replay` keeps and gives again the answers of
//! writes sent with an Idempotency-Key.

mod changes;
mod replay;

pub use changes::Changes;

use crate::backend::{decode_record, ServerBackend, Stored, ATTEMPTS};
use crate::error::{ApiError, Tagged};
use crate::json::{record_json, PutBody};
use crate::kv::{random_token, Commit, Kv, Put};
use crate::kv::{Scope, STAMP_LEN};
use std::rc::Rc;
use std::time::Duration;
use wasm_session_store::{
    Clock, Replacement, SessionId, Store, StoreError, StoreOptions, SyncWrite,
};

/// How long Idempotency-Keys and moves are remembered: a day.
pub const DAY_MS: u64 = 86_400_000;

/// The longest `wait` of a long poll, in ms.
pub const MAX_WAIT_MS: u64 = 30_000;

/// How often a long poll on shared storage (Redis) looks at the feed for changes other
/// server processes made (this process's own changes wake it at once).
pub const POLL_SHARED: Duration = Duration::from_millis(500);

/// The server's settings that shape what it stores.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How many changes each feed keeps (`--keep-changes`).
    pub keep_changes: u64,
    /// The cap on deadlines, from now (`--max-ttl-ms`).
    pub max_ttl_ms: Option<u64>,
    /// How long after its deadline the storage forgets a session (0 in the server; tests on a
    /// manual clock give it time).
    pub grace_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            keep_changes: 10_000,
            max_ttl_ms: None,
            grace_ms: 0,
        }
    }
}

/// What a write requires of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// `If-None-Match: *`: no live session has the id.
    Absent,
    /// `If-Match: <etag>`: the live session has this ETag (unquoted).
    Match(String),
}

/// An `Idempotency-Key` and what it was sent with.
#[derive(Clone, Debug)]
pub struct Idempotency {
    /// The key.
    pub key: String,
    /// A digest of the request (method, preconditions, body): a retry sends the same.
    pub fingerprint: String,
}

/// A write's success answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// 200, 201 or 204.
    pub status: u16,
    /// The ETag of the record answered.
    pub etag: Option<String>,
    /// The record answered (JSON), if any.
    pub body: Option<String>,
}

/// One owner's store, as the HTTP API sees it.
pub struct SyncStore<K> {
    store: Store<ServerBackend<K>>,
    max_ttl_ms: Option<u64>,
}

fn unavailable_contention() -> ApiError {
    ApiError::Store(StoreError::unavailable(
        "other writers kept changing this session: the write was not applied, try again",
    ))
}

/// A store name the API takes: the record's rules, and not `.` or `..`.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name == "." || name == ".." {
        return Err(ApiError::invalid("a store name cannot be . or .."));
    }
    Ok(())
}

impl<K: Kv> SyncStore<K> {
    /// `owner`'s store `name` in `kv`, on `clock`.
    ///
    /// # Errors
    /// INVALID_INPUT for a name that is not a store name.
    pub fn open(
        kv: K,
        owner: &str,
        name: &str,
        clock: Rc<dyn Clock>,
        settings: &Settings,
    ) -> Result<Self, ApiError> {
        check_name(name)?;
        let backend = ServerBackend::new(
            kv,
            Scope::new(owner, name),
            clock.clone(),
            settings.keep_changes,
        )
        .forget_after(settings.grace_ms);
        // Server sessions carry their own deadlines; reads never slide them.
        let options = StoreOptions::new()
            .name(name)
            .ttl_ms(None)
            .sweep_interval_ms(None)
            .shared_clock(clock);
        Ok(SyncStore {
            store: Store::with_backend(backend, options)?,
            max_ttl_ms: settings.max_ttl_ms,
        })
    }

    /// The engine's store over this owner's records: the `SessionStore` of the server.
    pub fn store(&self) -> &Store<ServerBackend<K>> {
        &self.store
    }

    fn backend(&self) -> &ServerBackend<K> {
        self.store.backend()
    }

    fn scope(&self) -> &Scope {
        self.backend().scope()
    }

    /// The live record in `stored`, with its ETag.
    fn tagged(&self, stored: Stored, now: u64) -> Result<Option<Tagged>, ApiError> {
        let record = self.store.live_in(stored.slot, now)?;
        Ok(match (record, stored.stamp) {
            (Some(record), Some(etag)) => Some(Tagged { record, etag }),
            _ => None,
        })
    }

    /// The live session `id`.
    ///
    /// # Errors
    /// NOT_FOUND (with where it moved, for a day after a move) when it is missing or expired.
    pub async fn get(&self, id: &SessionId) -> Result<Tagged, ApiError> {
        let now = self.store.now_ms()?;
        let stored = self.backend().read_stored(&[id]).await?;
        let stored = stored.into_iter().next().unwrap_or(Stored {
            stamp: None,
            slot: wasm_session_store::Slot::Empty,
        });
        if let Some(tagged) = self.tagged(stored, now)? {
            return Ok(tagged);
        }
        let moved = self
            .backend()
            .kv()
            .get(&[self.scope().moved_key(id.as_str())])
            .await?;
        let moved_to = moved.into_iter().flatten().next().and_then(|v| {
            let text = std::str::from_utf8(v.get(STAMP_LEN + 1..)?).ok()?;
            let (to, at) = text.split_once('\n')?;
            let at: u64 = at.parse().ok()?;
            (now < at.saturating_add(DAY_MS)).then(|| to.to_owned())
        });
        Err(ApiError::NotFound {
            id: id.as_str().to_owned(),
            moved_to,
        })
    }

    /// PUT: writes `body` over session `id` under `pre`.
    ///
    /// # Errors
    /// 412 when `pre` fails; 400 for a deadline at or before now; 503 when the storage is
    /// down or too busy.
    pub async fn put(
        &self,
        id: &SessionId,
        pre: &Precondition,
        body: PutBody,
        idem: Option<&Idempotency>,
    ) -> Result<Written, ApiError> {
        let with = Replacement {
            state: body.state,
            expires_at: body.expires_at,
            ttl_ms: body.ttl_ms,
        };
        let write = SyncWrite::Replace {
            with,
            expected: None,
        };
        self.write(id, write, pre, idem).await
    }

    /// DELETE under `If-Match`.
    ///
    /// # Errors
    /// 412 when the ETag is not the live session's.
    pub async fn delete(
        &self,
        id: &SessionId,
        etag: String,
        idem: Option<&Idempotency>,
    ) -> Result<Written, ApiError> {
        self.write(id, SyncWrite::Delete, &Precondition::Match(etag), idem)
            .await
    }

    /// POST move: moves session `id` to `to` under `If-Match`.
    ///
    /// # Errors
    /// 412 when the ETag is not the live session's; 409 when `to` is live.
    pub async fn move_to(
        &self,
        id: &SessionId,
        to: SessionId,
        etag: String,
        idem: Option<&Idempotency>,
    ) -> Result<Written, ApiError> {
        self.write(id, SyncWrite::Move(to), &Precondition::Match(etag), idem)
            .await
    }

    /// A write: the optimistic transaction described in the module's doc.
    async fn write(
        &self,
        id: &SessionId,
        write: SyncWrite,
        pre: &Precondition,
        idem: Option<&Idempotency>,
    ) -> Result<Written, ApiError> {
        let backend = self.backend();
        let scope = self.scope();
        let ids = write.ids(id);
        let mut keys: Vec<String> = ids.iter().map(|i| scope.record_key(i.as_str())).collect();
        if let Some(idem) = idem {
            keys.push(scope.replay_key(id.as_str(), &idem.key));
        }
        for _ in 0..ATTEMPTS {
            let now = self.store.now_ms()?;
            let mut values = backend.kv().get(&keys).await?;
            if let Some(idem) = idem {
                if let Some(Some(value)) = values.pop() {
                    return replay::replay(&value, idem, id, &write);
                }
            }
            let mut stored: Vec<Stored> = ids
                .iter()
                .zip(&values)
                .map(|(id, value)| decode_record(id, value.as_ref()))
                .collect();
            let mut commit = Commit::default();
            for (key, s) in keys.iter().zip(&stored) {
                commit.expect.push((key.clone(), s.stamp.clone()));
            }
            let current = self.tagged(stored[0].clone(), now)?;
            match (pre, &current) {
                (Precondition::Absent, Some(_)) => {
                    return Err(ApiError::Precondition {
                        current: current.map(Box::new),
                        exists: true,
                    })
                }
                (Precondition::Match(etag), c) if c.as_ref().map(|c| &c.etag) != Some(etag) => {
                    return Err(ApiError::Precondition {
                        current: current.map(Box::new),
                        exists: false,
                    })
                }
                _ => {}
            }
            let write = self.at(&write, current.as_ref(), now);
            let slots = stored.drain(..).map(|s| s.slot).collect();
            let (writes, record) =
                self.store
                    .decide_sync(id, &write, slots, now, &mut Vec::new())?;
            let created = matches!(write, SyncWrite::Replace { .. }) && current.is_none();
            self.remember_moves(&mut commit, id, &write, created, now)?;
            let stamps = backend.stage(&mut commit, writes, now)?;
            let etag = stamps.into_iter().next();
            let written = Written {
                status: match (&write, created) {
                    (SyncWrite::Delete, _) => 204,
                    (SyncWrite::Move(_), _) | (_, true) => 201,
                    _ => 200,
                },
                body: record.as_ref().map(record_json),
                etag,
            };
            if let Some(idem) = idem {
                let put = self.replay_put(id, idem, &written, record.as_ref(), &write, now)?;
                commit.expect.push((put.key.clone(), None));
                commit.put.push(put);
            }
            if backend.apply(&commit).await? {
                return Ok(written);
            }
        }
        Err(unavailable_contention())
    }

    /// `write` as decided now: a replace checks the version just read (the ETag held), and
    /// its deadline is capped by `--max-ttl-ms`.
    fn at(&self, write: &SyncWrite, current: Option<&Tagged>, now: u64) -> SyncWrite {
        match write {
            SyncWrite::Replace { with, .. } => {
                let mut with = with.clone();
                if let Some(max) = self.max_ttl_ms {
                    let cap = now.saturating_add(max);
                    with.expires_at = Some(with.expires_at.map_or(cap, |at| at.min(cap)));
                }
                SyncWrite::Replace {
                    with,
                    expected: Some(current.map_or(0, |c| c.record.version)),
                }
            }
            other => other.clone(),
        }
    }

    /// A move leaves where it went for a day; a session created at an id (by a PUT, or as a
    /// move's target) ends what was remembered of a move away from it. (An update finds no
    /// such memory: the create before it ended it.)
    fn remember_moves(
        &self,
        commit: &mut Commit,
        id: &SessionId,
        write: &SyncWrite,
        created: bool,
        now: u64,
    ) -> Result<(), ApiError> {
        let scope = self.scope();
        match write {
            SyncWrite::Move(to) => commit.delete.push(scope.moved_key(to.as_str())),
            SyncWrite::Replace { .. } if created => {
                commit.delete.push(scope.moved_key(id.as_str()))
            }
            _ => {}
        }
        if let SyncWrite::Move(to) = write {
            let mut value = String::with_capacity(STAMP_LEN + 40);
            value.push_str(&random_token()?);
            value.push('\n');
            value.push_str(to.as_str());
            value.push('\n');
            value.push_str(&now.to_string());
            commit.put.push(Put {
                key: scope.moved_key(id.as_str()),
                value: value.into(),
                expire_at: Some(self.backend().storage_time(now + DAY_MS, now)),
            });
        }
        Ok(())
    }
}
