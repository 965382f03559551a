//! A sync pass, in the browser: push every queued change (settling 412s by the conflict
//! policy), then pull the server's changes; and the store's sync records, which keep the pull
//! cursor, the last pass and the last error with the queue.
//!
//! The pass is planned synchronously ([`Plan::next`]: what it read and was answered so far
//! decides its next step) and carried out by one small loop with one await per kind of step
//! ([`Pass::run`]): an engine operation, a batch of HTTP work (`sync.js`, at most
//! [`IN_FLIGHT`] requests in flight, never two for one session), sealing or opening for the
//! server. The same pass as async functions was ~30 KB of wasm; the engine's own operations
//! are one loop over a synchronous plan for the same reason. What the pass learns is written
//! through the engine ([`Op::Ack`], [`Op::Apply`]), so every local rule (versions, expiry,
//! sealing, the queue's rows) applies to it.

use super::{Conflict, SyncError, SyncOptions, SyncReport, SyncStatus};
use crate::backends::AnyBackend;
use crate::browser::exception_reason;
use crate::engine::{session_of, Acked, Backend, Op, Outcome, Pulled, Remote, Row, Store, ROWS};
use crate::error::{push_u64, StoreError};
use crate::event::{EventKind, Resolution, StoreEvent};
use crate::id::SessionId;
use crate::json::{self, Fields};
use crate::record::{SaveEntry, SessionRecord, State};
use crate::store::SessionStore as _;
use js_sys::{Function, Object, Promise, Reflect};
use std::cell::Cell;
use std::mem::take;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/src/sync.js")]
extern "C" {
    fn sync_headers(f: &JsValue) -> Promise;
    fn sync_batch(base: &str, headers: &JsValue, items: &str, limit: u32) -> Promise;
    fn sync_lock(name: &str, wait: bool) -> Promise;
    /// Calls `f` on each `online` event; returns the function that stops it.
    pub(crate) fn sync_online(f: &Function) -> Function;
    /// Whether this context believes it is online.
    pub(crate) fn sync_is_online() -> bool;
}

/// Requests in flight at once.
const IN_FLIGHT: u32 = 6;

/// Push rounds in one pass: conflicts settled by pushing again go out in the next.
const ROUNDS: usize = 4;

/// How long a context without Web Locks holds the pass (ms): long enough for a pass, short
/// enough that a closed tab's lease does not stall the others for long.
const LEASE_MS: u64 = 30_000;

/// How often a pass that waits polls for the lease (without Web Locks).
const LEASE_POLL_MS: u32 = 50;

/// Why a pass stopped: the error, and a Retry-After (ms from now) the server asked for.
pub(crate) struct Stopped {
    pub(crate) error: StoreError,
    pub(crate) retry_after_ms: Option<u64>,
}

impl From<StoreError> for Stopped {
    fn from(error: StoreError) -> Self {
        Stopped {
            error,
            retry_after_ms: None,
        }
    }
}

/// The store's sync record (`:sync`): the last pass that completed, the last failure, a
/// Retry-After still running.
#[derive(Default)]
pub(crate) struct Meta {
    pub(crate) last_sync_at: Option<u64>,
    pub(crate) last_error: Option<SyncError>,
    /// A Retry-After running until then (`Date.now()` ms).
    pub(crate) retry_until: Option<u64>,
}

impl Meta {
    fn from(outcome: Outcome) -> Meta {
        let record = outcome.into_record();
        let Some(f) = record
            .as_ref()
            .and_then(|r| Fields::of(r.state.as_json(), 2))
        else {
            return Meta::default();
        };
        Meta {
            last_sync_at: f.uint("t"),
            last_error: f.string("ec").map(|code| SyncError {
                code,
                message: f.string("em").unwrap_or_default(),
            }),
            retry_until: f.uint("r"),
        }
    }

    fn state(&self) -> State {
        let mut out = String::from("{\"_\":0");
        if let Some(t) = self.last_sync_at {
            out.push_str(",\"t\":");
            push_u64(&mut out, t);
        }
        if let Some(e) = &self.last_error {
            out.push_str(",\"ec\":");
            json::write_str(&e.code, &mut out);
            out.push_str(",\"em\":");
            json::write_str(&e.message, &mut out);
        }
        if let Some(r) = self.retry_until {
            out.push_str(",\"r\":");
            push_u64(&mut out, r);
        }
        out.push('}');
        State::from_checked(out)
    }
}

/// The reserved ids of the sync records: the last pass (`:sync`) and the pull cursor
/// (`:cursor`, a record of its own, so that a pass writes it without reading the other).
fn meta_id() -> SessionId {
    SessionId::reserved(":sync")
}
fn cursor_id() -> SessionId {
    SessionId::reserved(":cursor")
}

/// Runs `op` on `ids`: the engine's one operation, boxed (see `__private::run`).
async fn run(store: &Store<AnyBackend>, ids: &[SessionId], op: Op) -> Result<Outcome, StoreError> {
    let refs: Vec<&SessionId> = ids.iter().collect();
    crate::__private::run(store, &refs, op).await
}

/// Whether a session's change is queued: a write's, or a delete of a synced session whose
/// record is gone.
fn pending(row: &Row, record: &Option<SessionRecord>) -> bool {
    row.key.is_some() || record.is_none() && row.etag.is_some()
}

fn count_pending(queue: &Outcome) -> usize {
    match queue {
        Outcome::Queue(q) => q.iter().filter(|(_, r, rec)| pending(r, rec)).count(),
        _ => 0,
    }
}

/// How many sessions have a change queued, and the store's sync record.
pub(crate) async fn status(store: &Store<AnyBackend>) -> Result<SyncStatus, StoreError> {
    let ids = rows(store).await?;
    let pending = count_pending(&run(store, &ids, Op::Queue).await?);
    let meta = Meta::from(run(store, &[meta_id()], Op::Meta(None)).await?);
    Ok(SyncStatus {
        pending,
        last_sync_at: meta.last_sync_at,
        last_error: meta.last_error,
    })
}

/// The sessions that have a queue row.
async fn rows(store: &Store<AnyBackend>) -> Result<Vec<SessionId>, StoreError> {
    let rows = store.backend().reserved_ids(ROWS).await?;
    Ok(rows.iter().filter_map(session_of).collect())
}

/// One answer of `sync.js`: status, ETag, Retry-After, and what it says.
struct Answer {
    status: i32,
    etag: String,
    retry_after_ms: Option<u64>,
    fields: Vec<String>,
}

impl Answer {
    fn parse(text: &str) -> Answer {
        let mut parts = text.split('\u{1}').map(str::to_owned);
        let status = parts.next().unwrap_or_default();
        let status = match status.strip_prefix('-') {
            Some(_) => -1,
            None => json::uint(&status).unwrap_or(1) as i32,
        };
        Answer {
            status,
            etag: parts.next().unwrap_or_default(),
            retry_after_ms: parts.next().and_then(|r| json::uint(&r)),
            fields: parts.collect(),
        }
    }

    fn field(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", String::as_str)
    }

    /// The `{ code, message }` of an error answer.
    fn error(&self) -> SyncError {
        let mut code = self.field(0).to_owned();
        if code.is_empty() {
            code.push_str("HTTP_");
            push_u64(&mut code, self.status.max(0) as u64);
        }
        let mut message = self.field(1).to_owned();
        if message.is_empty() {
            message.push_str("the sync server answered ");
            push_u64(&mut message, self.status.max(0) as u64);
        }
        SyncError { code, message }
    }

    /// The server's record in the answer: `Ok(None)` for null; `Err` when it is not one.
    fn record(&self) -> Result<Option<Server>, ()> {
        let num = |i: usize| json::uint(self.field(i)).ok_or(());
        let opt = |i: usize| match self.field(i) {
            "" => Ok(None),
            n => json::uint(n).map(Some).ok_or(()),
        };
        match self.field(0) {
            "N" => Ok(None),
            "R" => Ok(Some(Server {
                id: SessionId::new(self.field(1)).map_err(drop)?,
                version: num(2)?,
                created_at: num(3)?,
                expires_at: opt(4)?,
                ttl_ms: opt(5)?,
                enc: self.field(6) == "1",
                text: self.field(7).to_owned(),
            })),
            _ => Err(()),
        }
    }

    /// What stops a pass in this answer: UNAUTHORIZED, or UNAVAILABLE with the Retry-After
    /// asked for; `None` for an answer about one session.
    fn stop(&self) -> Option<Stopped> {
        let error = match self.status {
            401 | 403 => StoreError::unauthorized(self.error().message),
            0 => {
                let mut reason = String::from("the sync server could not be reached: ");
                reason.push_str(self.field(0));
                StoreError::sync_unavailable(reason)
            }
            1 => StoreError::sync_unavailable("the sync server's answer could not be read"),
            s if s == 429 || s >= 500 => {
                let mut reason = String::from("the sync server answered ");
                push_u64(&mut reason, s as u64);
                reason.push_str(": ");
                reason.push_str(&self.error().message);
                StoreError::sync_unavailable(reason)
            }
            _ => return None,
        };
        Some(Stopped {
            error,
            retry_after_ms: self.retry_after_ms,
        })
    }
}

/// A record as the server has it.
struct Server {
    id: SessionId,
    version: u64,
    created_at: u64,
    expires_at: Option<u64>,
    ttl_ms: Option<u64>,
    enc: bool,
    /// The state's JSON, or the sealed `enc`.
    text: String,
}

/// One queued change to push.
struct Item {
    id: SessionId,
    row: Row,
    /// The live record (its state to push); `None`: a delete.
    record: Option<SessionRecord>,
}

impl Item {
    /// The Idempotency-Key of the change: the row's, or for a delete of a session whose record
    /// went without one (expired, cleared), one made from the ETag it deletes.
    fn key(&self) -> String {
        match (&self.row.key, &self.row.etag) {
            (Some(key), _) => key.clone(),
            (None, etag) => {
                let mut key = String::from("d:");
                key.push_str(etag.as_deref().unwrap_or(""));
                key
            }
        }
    }

    /// The server version the push will make (the additional data of an encrypted store's).
    fn next_version(&self) -> u64 {
        if self.row.etag.is_some() {
            self.row.server_version + 1
        } else {
            1
        }
    }
}

/// A work item of `sync.js`: `kind, id, etag, key, body`.
fn work(kind: &str, id: &str, etag: Option<&str>, key: &str, body: &str) -> String {
    let mut out = String::from(kind);
    for field in [id, etag.unwrap_or(""), key, body] {
        out.push('\u{1}');
        out.push_str(field);
    }
    out
}

/// The body of a PUT: `{ state | enc, expiresAt, ttlMs }`.
fn put_body(record: &SessionRecord, enc: Option<&str>) -> String {
    let mut out = String::from("{");
    match enc {
        Some(enc) => {
            out.push_str("\"enc\":");
            json::write_str(enc, &mut out);
        }
        None => {
            out.push_str("\"state\":");
            out.push_str(record.state.as_json());
        }
    }
    for (name, value) in [
        (",\"expiresAt\":", record.expires_at),
        (",\"ttlMs\":", record.ttl_ms),
    ] {
        out.push_str(name);
        match value {
            Some(n) => push_u64(&mut out, n),
            None => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

/// What to write of the server's record `remote` (`None`: gone) of `id` at `etag`: over the
/// queued change `over` (a conflict settled for the server), else only where none is queued.
fn pulled(
    id: &SessionId,
    remote: Option<&SessionRecord>,
    etag: &str,
    over: Option<String>,
) -> Pulled {
    Pulled {
        id: id.clone(),
        remote: match remote {
            Some(r) => Remote::Put {
                state: r.state.clone(),
                created_at: r.created_at,
                expires_at: r.expires_at,
                ttl_ms: r.ttl_ms,
            },
            None => Remote::Gone,
        },
        etag: remote.map(|_| etag.to_owned()),
        server_version: remote.map_or(0, |r| r.version),
        over,
    }
}

/// The server's record as a local one, its state `text` (opened, for an encrypted store).
fn local(server: &Server, text: String) -> Result<SessionRecord, SyncError> {
    let state = State::from_json(text).map_err(|e| corrupt(&e.message()))?;
    Ok(SessionRecord {
        id: server.id.clone(),
        state,
        version: server.version,
        created_at: server.created_at,
        updated_at: server.created_at,
        expires_at: server.expires_at,
        ttl_ms: server.ttl_ms,
    })
}

fn corrupt(message: &str) -> SyncError {
    SyncError {
        code: "CORRUPT".to_owned(),
        message: message.to_owned(),
    }
}

/// What the pass does next: each is one await of [`Pass::run`].
enum Io {
    /// An engine operation.
    Run(Vec<SessionId>, Op),
    /// List the sessions that have a queue row.
    List,
    /// A batch of HTTP work.
    Send(Vec<String>),
    /// Seal (`true`) or open `(id, server version, text)`s for the server.
    Crypto(bool, Vec<(SessionId, u64, String)>),
    /// The pass is over.
    Done,
}

/// What a step gave back.
enum Input {
    Start,
    Outcome(Outcome),
    Ids(Vec<SessionId>),
    Answers(Vec<Answer>),
    Texts(Vec<Option<String>>),
}

/// What the plan waits for.
#[derive(Clone, Copy, PartialEq)]
enum Wait {
    Start,
    /// The queue listed, then read: for a push round (`Push`), after a 410 (`Relist`), at the
    /// end (`Count`).
    Listed(Purpose),
    Queue(Purpose),
    Dropped,
    Sealed,
    Sent,
    Acked,
    /// A conflict's current record opened, its settling written (`true`: one more write).
    ConflictOpened,
    ConflictWritten(bool),
    Cursor,
    Changes,
    PullRows,
    Gets,
    GetsOpened,
    Applied,
    CursorWritten,
}

#[derive(Clone, Copy, PartialEq)]
enum Purpose {
    Push,
    Relist,
    Count,
}

/// A pass, planned step by step.
struct Plan<'a> {
    store: &'a Store<AnyBackend>,
    options: &'a SyncOptions,
    pull: bool,
    wait: Wait,
    report: SyncReport,
    /// The last session the server refused in this pass.
    refused: Option<SyncError>,
    /// What stopped the pass, once the answers in hand are taken in.
    stop: Option<Stopped>,
    /// Sessions settled in this pass: not pushed again in it.
    done: Vec<SessionId>,
    round: usize,
    again: bool,
    /// The writes of a push round being sent, and its deletes, sent after them (so that an
    /// encrypted store's move creates before it deletes).
    batch: Vec<Item>,
    later: Vec<Item>,
    conflicts: Vec<(Item, Answer)>,
    /// The conflict being settled, and its second write.
    conflict: Option<(Item, Answer)>,
    second: Option<Op>,
    /// The pull: the cursor, the changes listed, the sessions to get, what to write.
    cursor: String,
    relist: bool,
    /// A pulled session could not be read or opened: the cursor stays (the next pull gets it
    /// again).
    unread: bool,
    listed: Vec<(SessionId, String)>,
    gets: Vec<(SessionId, Answer)>,
    pulled: Vec<Pulled>,
    /// How the pass ends (written to the sync record first).
    result: Option<Result<SyncReport, Stopped>>,
}

impl Plan<'_> {
    fn encrypted(&self) -> bool {
        self.store.is_encrypted()
    }

    /// Tells the store's subscribers (and its other tabs) of a sync event about `id`.
    fn announce(&self, id: &SessionId, resolution: Option<Resolution>, error: Option<SyncError>) {
        let kind = if error.is_some() {
            EventKind::SyncError
        } else {
            EventKind::Conflict
        };
        let mut event = StoreEvent::new(kind, Some(id.clone()), None);
        event.resolution = resolution;
        event.error = error;
        self.store.announce(event);
    }

    /// A session the server refused (another 4xx), or whose record does not read: a
    /// `syncError`, its row kept.
    fn refuse(&mut self, id: &SessionId, error: SyncError) {
        self.announce(id, None, Some(error.clone()));
        self.refused = Some(error);
        self.done.push(id.clone());
    }

    /// The next step, given what the last one gave.
    fn next(&mut self, input: Input) -> Result<Io, StoreError> {
        match (self.wait, input) {
            (Wait::Start, _) => self.list(Purpose::Push),
            (Wait::Listed(purpose), Input::Ids(mut ids)) => {
                if purpose == Purpose::Relist {
                    for (id, _) in &self.listed {
                        if !ids.contains(id) {
                            ids.push(id.clone());
                        }
                    }
                }
                self.wait = Wait::Queue(purpose);
                Ok(Io::Run(ids, Op::Queue))
            }
            (Wait::Queue(Purpose::Push), Input::Outcome(Outcome::Queue(queue))) => {
                self.round_of(queue)
            }
            (Wait::Queue(Purpose::Count), Input::Outcome(Outcome::Queue(queue))) => {
                self.report.pending = queue.iter().filter(|(_, r, rec)| pending(r, rec)).count();
                self.result = Some(Ok(self.report));
                self.finish()
            }
            (Wait::Queue(Purpose::Relist), Input::Outcome(Outcome::Queue(queue)))
            | (Wait::PullRows, Input::Outcome(Outcome::Queue(queue))) => self.pull_rows(queue),
            (Wait::Dropped, _) => {
                let batch = take(&mut self.batch);
                self.send(batch, Vec::new())
            }
            (Wait::Sealed, Input::Texts(sealed)) => {
                let batch = take(&mut self.batch);
                self.send(batch, sealed)
            }
            (Wait::Sent, Input::Answers(answers)) => self.answered(answers),
            (Wait::Acked, _) => self.next_conflict(),
            (Wait::ConflictOpened, Input::Texts(mut opened)) => {
                let plain = opened.pop().flatten();
                self.settle(plain)
            }
            (Wait::ConflictWritten(true), _) => {
                self.wait = Wait::ConflictWritten(false);
                let op = self.second.take().unwrap_or(Op::Ack(Vec::new()));
                let id = self.conflict.as_ref().map(|c| c.0.id.clone());
                Ok(Io::Run(id.into_iter().collect(), op))
            }
            (Wait::ConflictWritten(false), _) => self.next_conflict(),
            (Wait::Cursor, Input::Outcome(outcome)) => {
                let cursor = outcome
                    .into_record()
                    .and_then(|r| Fields::of(r.state.as_json(), 2).and_then(|f| f.string("c")));
                self.changes(cursor.unwrap_or_default())
            }
            (Wait::Changes, Input::Answers(mut answers)) => {
                let answer = answers.pop().unwrap_or_else(|| Answer::parse("1"));
                self.listed_changes(answer)
            }
            (Wait::Gets, Input::Answers(answers)) => self.got(answers),
            (Wait::GetsOpened, Input::Texts(opened)) => self.opened(opened),
            (Wait::Applied, Input::Outcome(outcome)) => {
                self.report.pulled += outcome.count();
                self.write_cursor()
            }
            (Wait::CursorWritten, _) => self.list(Purpose::Count),
            _ => Err(lost()),
        }
    }

    /// Lists the queue, for `purpose`.
    fn list(&mut self, purpose: Purpose) -> Result<Io, StoreError> {
        self.wait = Wait::Listed(purpose);
        Ok(Io::List)
    }

    /// A push round on the queue read: every change not settled yet in this pass.
    fn round_of(
        &mut self,
        queue: Vec<(SessionId, Row, Option<SessionRecord>)>,
    ) -> Result<Io, StoreError> {
        let mut writes = Vec::new();
        let mut drops = Vec::new();
        for (id, row, record) in queue {
            if !pending(&row, &record) || self.done.contains(&id) {
                continue;
            }
            let item = Item { id, row, record };
            match (&item.record, &item.row.etag) {
                (Some(_), _) => writes.push(item),
                (None, Some(_)) => self.later.push(item),
                // Never on the server, and gone here: nothing to push.
                (None, None) => drops.push(Acked {
                    id: item.id,
                    key: item.row.key,
                    etag: None,
                    server_version: 0,
                }),
            }
        }
        if drops.is_empty() {
            return self.send(writes, Vec::new());
        }
        self.batch = writes;
        self.wait = Wait::Dropped;
        let ids = drops.iter().map(|a| a.id.clone()).collect();
        Ok(Io::Run(ids, Op::Ack(drops)))
    }

    /// Sends `items`, their states sealed first for an encrypted store (`sealed`, once they
    /// are); with none, goes on to the deletes, the next round, the pull.
    fn send(&mut self, items: Vec<Item>, sealed: Vec<Option<String>>) -> Result<Io, StoreError> {
        if items.is_empty() {
            if !self.later.is_empty() {
                let later = take(&mut self.later);
                return self.send(later, Vec::new());
            }
            if self.again && self.round + 1 < ROUNDS {
                self.again = false;
                self.round += 1;
                return self.list(Purpose::Push);
            }
            if self.pull {
                self.wait = Wait::Cursor;
                return Ok(Io::Run(vec![cursor_id()], Op::Meta(None)));
            }
            return self.list(Purpose::Count);
        }
        let states = items.iter().filter(|i| i.record.is_some()).count();
        if self.encrypted() && sealed.len() < states {
            // Ciphertext only: each state sealed for the version the server will give it.
            let todo = items
                .iter()
                .filter_map(|i| {
                    let state = i.record.as_ref()?.state.as_json().to_owned();
                    Some((i.id.clone(), i.next_version(), state))
                })
                .collect();
            self.batch = items;
            self.wait = Wait::Sealed;
            return Ok(Io::Crypto(true, todo));
        }
        let mut sealed = sealed.into_iter();
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let key = item.key();
            let etag = item.row.etag.as_deref();
            out.push(match (&item.record, &item.row.moved_from) {
                (Some(_), Some(from)) => work("M", from.as_str(), etag, &key, item.id.as_str()),
                (Some(record), None) => {
                    let enc = sealed.next().flatten();
                    let body = put_body(record, enc.as_deref().filter(|_| self.encrypted()));
                    work("P", item.id.as_str(), etag, &key, &body)
                }
                (None, _) => work("D", item.id.as_str(), etag, &key, ""),
            });
        }
        self.batch = items;
        self.wait = Wait::Sent;
        Ok(Io::Send(out))
    }

    /// Takes in the answers to a push batch.
    fn answered(&mut self, answers: Vec<Answer>) -> Result<Io, StoreError> {
        let mut acks = Vec::new();
        for (item, answer) in take(&mut self.batch).into_iter().zip(answers) {
            match answer.status {
                200 | 201 | 204 => {
                    let server = answer.record().ok().flatten();
                    // A move keeps the server's state: the local one is still to push where it
                    // differs.
                    let settled = item.row.moved_from.is_none()
                        || match (&server, &item.record) {
                            (Some(s), Some(local)) => {
                                s.text == local.state.as_json()
                                    && s.expires_at == local.expires_at
                                    && s.ttl_ms == local.ttl_ms
                            }
                            _ => false,
                        };
                    if settled {
                        self.report.pushed += 1;
                        self.done.push(item.id.clone());
                    } else {
                        // Moved with the server's state: the local one goes in the next round.
                        self.again = true;
                    }
                    acks.push(Acked {
                        key: if settled { item.row.key.clone() } else { None },
                        id: item.id,
                        etag: (answer.status != 204).then_some(answer.etag),
                        server_version: server.map_or(0, |s| s.version),
                    });
                }
                412 => self.conflicts.push((item, answer)),
                -1 => {}
                _ => match answer.stop() {
                    Some(stop) => {
                        self.stop.get_or_insert(stop);
                    }
                    None => self.refuse(&item.id, answer.error()),
                },
            }
        }
        if acks.is_empty() {
            return self.next_conflict();
        }
        self.wait = Wait::Acked;
        let ids = acks.iter().map(|a| a.id.clone()).collect();
        Ok(Io::Run(ids, Op::Ack(acks)))
    }

    /// Settles the next conflict of the batch; with none left, goes on (or stops).
    fn next_conflict(&mut self) -> Result<Io, StoreError> {
        let Some((item, answer)) = self.conflicts.pop() else {
            if let Some(stop) = self.stop.take() {
                self.result = Some(Err(stop));
                return self.finish();
            }
            return self.send(Vec::new(), Vec::new());
        };
        let current = answer.record();
        self.conflict = Some((item, answer));
        match current {
            Ok(Some(server)) if server.enc => {
                self.wait = Wait::ConflictOpened;
                let text = server.text;
                Ok(Io::Crypto(false, vec![(server.id, server.version, text)]))
            }
            Ok(Some(server)) => {
                let text = server.text.clone();
                self.settle_with(Some((server, text)))
            }
            Ok(None) => self.settle_with(None),
            Err(()) => {
                let (item, _) = self.conflict.take().ok_or_else(lost)?;
                self.refuse(
                    &item.id,
                    corrupt("the sync server sent a record that is not one"),
                );
                self.next_conflict()
            }
        }
    }

    /// The conflict's current record, opened (`None`: it does not open).
    fn settle(&mut self, plain: Option<String>) -> Result<Io, StoreError> {
        let server = self
            .conflict
            .as_ref()
            .and_then(|c| c.1.record().ok().flatten());
        match (server, plain) {
            (Some(server), Some(plain)) => self.settle_with(Some((server, plain))),
            _ => {
                let (item, _) = self.conflict.take().ok_or_else(lost)?;
                let error =
                    corrupt("the server's encrypted state does not decrypt with this store's key");
                self.refuse(&item.id, error);
                self.next_conflict()
            }
        }
    }

    /// Settles the conflict by the policy, with the server's current record (`None`: gone).
    fn settle_with(&mut self, current: Option<(Server, String)>) -> Result<Io, StoreError> {
        let (item, answer) = self.conflict.as_ref().ok_or_else(lost)?;
        let remote = match current
            .map(|(server, text)| local(&server, text))
            .transpose()
        {
            Ok(remote) => remote,
            Err(error) => {
                let id = item.id.clone();
                self.conflict = None;
                self.refuse(&id, error);
                return self.next_conflict();
            }
        };
        let id = item.id.clone();
        // The row based on the server's version now, its change still queued.
        let rebase = Op::Ack(vec![Acked {
            id: id.clone(),
            key: None,
            etag: remote.as_ref().map(|_| answer.etag.clone()),
            server_version: remote.as_ref().map_or(0, |r| r.version),
        }]);
        let (resolution, first, second) = match self.options.get_conflict() {
            Conflict::Server => {
                let over = item.row.key.clone();
                let write = Op::Apply(vec![pulled(&id, remote.as_ref(), &answer.etag, over)]);
                self.done.push(id.clone());
                (Resolution::Server, write, None)
            }
            Conflict::Client => (Resolution::Client, rebase, None),
            Conflict::Resolve(resolve) => match resolve(item.record.as_ref(), remote.as_ref()) {
                // The merged state (or the delete) written here, then pushed over the
                // server's version.
                Ok(Some(state)) => {
                    let entry = SaveEntry {
                        id: id.clone(),
                        state,
                        expected: None,
                    };
                    (Resolution::Merged, Op::Put(vec![entry], true), Some(rebase))
                }
                Ok(None) => (Resolution::Merged, Op::Delete, Some(rebase)),
                Err(e) => {
                    let mut message = String::from("the conflict function failed: ");
                    message.push_str(&e.message());
                    let code = "INVALID_INPUT".to_owned();
                    self.conflict = None;
                    self.refuse(&id, SyncError { code, message });
                    return self.next_conflict();
                }
            },
        };
        self.report.conflicts += 1;
        self.again |= resolution != Resolution::Server;
        self.announce(&id, Some(resolution), None);
        self.wait = Wait::ConflictWritten(second.is_some());
        self.second = second;
        Ok(Io::Run(vec![id], first))
    }

    /// Asks for the changes since `cursor` (all, when empty).
    fn changes(&mut self, cursor: String) -> Result<Io, StoreError> {
        let item = work("C", &cursor, None, "", "");
        self.cursor = cursor;
        self.wait = Wait::Changes;
        Ok(Io::Send(vec![item]))
    }

    /// Takes in the changes listed: reads what this store has of them (after a 410, of
    /// every session too).
    fn listed_changes(&mut self, answer: Answer) -> Result<Io, StoreError> {
        if answer.status == 410 && !self.relist {
            self.relist = true;
            return self.changes(String::new());
        }
        if let Some(stop) = answer.stop() {
            self.result = Some(Err(stop));
            return self.finish();
        }
        if answer.status != 200 {
            let mut reason = String::from("the sync server's changes could not be read: ");
            reason.push_str(&answer.error().message);
            self.result = Some(Err(StoreError::sync_unavailable(reason).into()));
            return self.finish();
        }
        let mut fields = answer.fields.into_iter();
        self.cursor = fields.next().unwrap_or_default();
        while let (Some(id), Some(etag)) = (fields.next(), fields.next()) {
            if let Ok(id) = SessionId::new(id) {
                self.listed.push((id, etag));
            }
        }
        if self.relist {
            return self.list(Purpose::Relist);
        }
        self.wait = Wait::PullRows;
        let ids = self.listed.iter().map(|(id, _)| id.clone()).collect();
        Ok(Io::Run(ids, Op::Queue))
    }

    /// What this store has of the changed sessions: each one with no change queued and
    /// another ETag is got; after a 410, a synced one no longer listed is gone.
    fn pull_rows(
        &mut self,
        queue: Vec<(SessionId, Row, Option<SessionRecord>)>,
    ) -> Result<Io, StoreError> {
        let mut work_items = Vec::new();
        for (id, row, _) in queue {
            if row.key.is_some() {
                // Its push settles it.
                continue;
            }
            match self.listed.iter().find(|(c, _)| *c == id) {
                Some((_, etag)) if !etag.is_empty() && Some(etag) == row.etag.as_ref() => {}
                Some(_) => {
                    work_items.push(work("G", id.as_str(), row.etag.as_deref(), "", ""));
                    self.gets.push((id, Answer::parse("-1")));
                }
                None if row.etag.is_some() => self.pulled.push(pulled(&id, None, "", None)),
                None => {}
            }
        }
        if work_items.is_empty() {
            return self.apply();
        }
        self.wait = Wait::Gets;
        Ok(Io::Send(work_items))
    }

    /// Takes in the sessions got: each written here (an encrypted store's opened first).
    fn got(&mut self, answers: Vec<Answer>) -> Result<Io, StoreError> {
        let mut todo = Vec::new();
        let gets = take(&mut self.gets);
        for ((id, _), answer) in gets.into_iter().zip(answers) {
            match answer.status {
                200 => match answer.record() {
                    Ok(Some(server)) if server.enc => {
                        todo.push((id.clone(), server.version, server.text.clone()));
                        self.gets.push((id, answer));
                    }
                    Ok(Some(server)) => {
                        let text = server.text.clone();
                        match local(&server, text) {
                            Ok(record) => {
                                self.pulled
                                    .push(pulled(&id, Some(&record), &answer.etag, None))
                            }
                            Err(error) => {
                                self.unread = true;
                                self.refuse(&id, error);
                            }
                        }
                    }
                    _ => {
                        self.unread = true;
                        self.refuse(
                            &id,
                            corrupt("the sync server sent a record that is not one"),
                        );
                    }
                },
                404 => {
                    let mut gone = pulled(&id, None, "", None);
                    if let Ok(to) = SessionId::new(answer.field(0)) {
                        gone.remote = Remote::MovedTo(to);
                    }
                    self.pulled.push(gone);
                }
                304 | -1 => {}
                _ => match answer.stop() {
                    Some(stop) => {
                        self.stop.get_or_insert(stop);
                    }
                    None => {
                        self.unread = true;
                        self.refuse(&id, answer.error());
                    }
                },
            }
        }
        if todo.is_empty() {
            return self.apply();
        }
        self.wait = Wait::GetsOpened;
        Ok(Io::Crypto(false, todo))
    }

    /// Takes in an encrypted store's pulled states, opened.
    fn opened(&mut self, opened: Vec<Option<String>>) -> Result<Io, StoreError> {
        let mut opened = opened.into_iter();
        for (id, answer) in take(&mut self.gets) {
            let Ok(Some(server)) = answer.record() else {
                continue;
            };
            let record = match opened.next().flatten() {
                Some(plain) => local(&server, plain),
                None => Err(corrupt(
                    "the server's encrypted state does not decrypt with this store's key",
                )),
            };
            match record {
                Ok(record) => self
                    .pulled
                    .push(pulled(&id, Some(&record), &answer.etag, None)),
                Err(error) => {
                    self.unread = true;
                    self.refuse(&id, error);
                }
            }
        }
        self.apply()
    }

    /// Writes what was pulled.
    fn apply(&mut self) -> Result<Io, StoreError> {
        if self.pulled.is_empty() {
            return self.write_cursor();
        }
        let pulled = take(&mut self.pulled);
        let mut ids = Vec::new();
        for p in &pulled {
            ids.push(p.id.clone());
            if let Remote::MovedTo(to) = &p.remote {
                if !ids.contains(to) {
                    ids.push(to.clone());
                }
            }
        }
        self.wait = Wait::Applied;
        Ok(Io::Run(ids, Op::Apply(pulled)))
    }

    /// Moves the cursor once every change it covers was read (else the pass stops).
    fn write_cursor(&mut self) -> Result<Io, StoreError> {
        if let Some(stop) = self.stop.take() {
            self.result = Some(Err(stop));
            return self.finish();
        }
        if self.unread {
            return self.list(Purpose::Count);
        }
        let mut state = String::from("{\"c\":");
        json::write_str(&self.cursor, &mut state);
        state.push('}');
        self.wait = Wait::CursorWritten;
        Ok(Io::Run(
            vec![cursor_id()],
            Op::Meta(Some(State::from_checked(state))),
        ))
    }

    /// Ends the pass (`result` says how).
    fn finish(&mut self) -> Result<Io, StoreError> {
        Ok(Io::Done)
    }
}

fn lost() -> StoreError {
    StoreError::sync_unavailable("the sync pass lost its way")
}

/// One pass, run by the store's sync runtime.
pub(crate) struct Pass;

impl Pass {
    /// Runs a pass (with `pull`, push then pull; else push), under the pass's Web Lock (waited
    /// for with `wait`, else the pass is skipped when another context holds it): what it did,
    /// and the last session the server refused in it. `Ok(None)`: skipped.
    pub(crate) async fn run(
        store: &Store<AnyBackend>,
        options: &SyncOptions,
        me: &str,
        pull: bool,
        wait: bool,
        closed: &Cell<bool>,
    ) -> Result<Option<(SyncReport, Option<SyncError>)>, Stopped> {
        let mut name = String::from("wasm-session-store:sync:");
        name.push_str(store.name());
        let lock = JsFuture::from(sync_lock(&name, wait))
            .await
            .map_err(|e| StoreError::sync_unavailable(exception_reason(&e)))?;
        if lock.is_null() {
            return Ok(None);
        }
        let leased = lock.is_undefined();
        if leased {
            // Without Web Locks: the lease, polled for while another pass holds it (which
            // ends, or its lease runs out, within LEASE_MS).
            while !lease(store, me, true).await? {
                if !wait || closed.get() {
                    return Ok(None);
                }
                crate::browser::sleep(LEASE_POLL_MS).await;
            }
        }
        let out = Self::steps(store, options, pull, closed).await;
        match lock.dyn_ref::<Function>() {
            Some(release) => {
                let _ = release.call0(&JsValue::UNDEFINED);
            }
            None => {
                let _ = lease(store, me, false).await;
            }
        }
        out.map(Some)
    }

    async fn steps(
        store: &Store<AnyBackend>,
        options: &SyncOptions,
        pull: bool,
        closed: &Cell<bool>,
    ) -> Result<(SyncReport, Option<SyncError>), Stopped> {
        let headers = headers(options).await?;
        let mut base = String::from(options.get_url().trim_end_matches('/'));
        base.push_str("/v1/stores/");
        base.push_str(store.name());
        let mut plan = Plan {
            store,
            options,
            pull,
            wait: Wait::Start,
            report: SyncReport::default(),
            refused: None,
            stop: None,
            done: Vec::new(),
            round: 0,
            again: false,
            batch: Vec::new(),
            later: Vec::new(),
            conflicts: Vec::new(),
            conflict: None,
            second: None,
            cursor: String::new(),
            relist: false,
            unread: false,
            listed: Vec::new(),
            gets: Vec::new(),
            pulled: Vec::new(),
            result: None,
        };
        let mut input = Input::Start;
        loop {
            if closed.get() {
                return Err(StoreError::Closed.into());
            }
            input = match plan.next(input)? {
                Io::Run(ids, op) => Input::Outcome(run(store, &ids, op).await?),
                Io::List => Input::Ids(rows(store).await?),
                Io::Send(items) => {
                    let joined = items.join("\0");
                    let out = JsFuture::from(sync_batch(&base, &headers, &joined, IN_FLIGHT))
                        .await
                        .map_err(|e| StoreError::sync_unavailable(exception_reason(&e)))?;
                    let text = out.as_string().unwrap_or_default();
                    Input::Answers(text.split('\0').map(Answer::parse).collect())
                }
                Io::Crypto(seal, items) => Input::Texts(if seal {
                    store
                        .seal_for_sync(&items)
                        .await?
                        .into_iter()
                        .map(Some)
                        .collect()
                } else {
                    store.open_for_sync(&items).await?
                }),
                Io::Done => break,
            };
        }
        match plan.result.take() {
            Some(Ok(report)) => Ok((report, plan.refused.take())),
            Some(Err(stop)) => Err(stop),
            None => Err(lost().into()),
        }
    }
}

/// The pass's headers: the `headers` option's, called once per pass, as a JS object.
async fn headers(options: &SyncOptions) -> Result<JsValue, Stopped> {
    let object = Object::new();
    if let Some(headers) = options.get_headers() {
        let list = headers().await.map_err(|e| {
            let mut reason = String::from("headers() failed: ");
            reason.push_str(&e.message());
            StoreError::unauthorized(reason)
        })?;
        for (name, value) in list {
            let _ = Reflect::set(
                &object,
                &JsValue::from_str(&name),
                &JsValue::from_str(&value),
            );
        }
    }
    Ok(object.into())
}

/// The JS `headers` option as a [`HeadersFn`](super::HeadersFn): called, awaited when it
/// returns a promise, its object's entries.
pub fn js_headers(f: JsValue) -> std::rc::Rc<super::HeadersFn> {
    std::rc::Rc::new(move || {
        let promise = sync_headers(&f);
        Box::pin(async move {
            let object = JsFuture::from(promise)
                .await
                .map_err(|e| StoreError::unauthorized(exception_reason(&e)))?;
            let mut out = Vec::new();
            for entry in Object::entries(object.unchecked_ref()).iter() {
                let pair: js_sys::Array = entry.unchecked_into();
                out.push((
                    pair.get(0).as_string().unwrap_or_default(),
                    pair.get(1).as_string().unwrap_or_default(),
                ));
            }
            Ok(out)
        })
    })
}

/// Takes (`take`) or gives back the pass lease of a context without Web Locks, in one
/// transaction: whether this context holds it.
async fn lease(store: &Store<AnyBackend>, me: &str, take: bool) -> Result<bool, StoreError> {
    let now = js_sys::Date::now() as u64;
    let until = if take { now + LEASE_MS } else { 0 };
    let id = SessionId::reserved(":lease");
    let out = run(store, &[id], Op::Lease(me.to_owned(), until, now)).await?;
    Ok(out.count() == 1)
}

/// Reads the store's sync record.
pub(crate) async fn read_meta(store: &Store<AnyBackend>) -> Result<Meta, StoreError> {
    Ok(Meta::from(run(store, &[meta_id()], Op::Meta(None)).await?))
}

/// Writes the store's sync record.
pub(crate) async fn write_meta(store: &Store<AnyBackend>, meta: &Meta) -> Result<(), StoreError> {
    run(store, &[meta_id()], Op::Meta(Some(meta.state()))).await?;
    Ok(())
}
