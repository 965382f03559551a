//! A sync pass, in the browser: push every queued change (settling 412s by the conflict
//! policy), then pull the server's changes; and the store's sync record, which keeps the pull
//! cursor, the last pass and the last error with the queue.
//!
//! HTTP goes through `sync.js` (one call per batch, at most [`IN_FLIGHT`] requests in flight,
//! never two for one session): the pass builds the requests, reads the answers and writes what
//! it learned through the engine ([`Op::Ack`], [`Op::Apply`]), so every local rule (versions,
//! expiry, sealing, the queue's rows) applies to what it writes.

use super::{Conflict, SyncError, SyncOptions, SyncReport, SyncStatus};
use crate::backends::AnyBackend;
use crate::browser::exception_reason;
use crate::engine::{session_of, Acked, Backend, Op, Outcome, Pulled, Remote, Row, Store, ROWS};
use crate::error::{push_u64, StoreError};
use crate::event::{EventKind, Resolution, StoreEvent};
use crate::id::SessionId;
use crate::json::{self, Fields, MAX_STATE_DEPTH};
use crate::record::{SessionRecord, State};
use crate::store::SessionStore as _;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/src/sync.js")]
extern "C" {
    fn sync_headers(f: &JsValue) -> Promise;
    fn sync_fetch(base: &str, headers: &JsValue, reqs: &str, limit: u32) -> Promise;
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

/// The id of the store's sync record.
pub(crate) const META: &str = ":sync";

/// How long a context without Web Locks holds the pass (ms): long enough for a pass, short
/// enough that a closed tab's lease does not stall the others for long.
const LEASE_MS: u64 = 30_000;

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

/// The store's sync record (`:sync`).
#[derive(Default)]
pub(crate) struct Meta {
    pub(crate) cursor: Option<String>,
    pub(crate) last_sync_at: Option<u64>,
    pub(crate) last_error: Option<SyncError>,
    /// A Retry-After running until then (`Date.now()` ms).
    pub(crate) retry_until: Option<u64>,
}

impl Meta {
    fn from_record(record: Option<SessionRecord>) -> Meta {
        let Some(record) = record else {
            return Meta::default();
        };
        let Some(f) = Fields::of(record.state.as_json(), 2) else {
            return Meta::default();
        };
        Meta {
            cursor: f.string("c"),
            last_sync_at: f.uint("t"),
            last_error: f.string("ec").map(|code| SyncError {
                code,
                message: f.string("em").unwrap_or_default(),
            }),
            retry_until: f.uint("r"),
        }
    }

    fn state(&self) -> State {
        let mut out = String::from("{");
        let mut put = |name: &str, text: Option<&str>, number: Option<u64>| {
            if text.is_none() && number.is_none() {
                return;
            }
            if out.len() > 1 {
                out.push(',');
            }
            json::write_str(name, &mut out);
            out.push(':');
            match (text, number) {
                (Some(text), _) => json::write_str(text, &mut out),
                (_, Some(n)) => push_u64(&mut out, n),
                _ => {}
            }
        };
        put("c", self.cursor.as_deref(), None);
        put("t", None, self.last_sync_at);
        put(
            "ec",
            self.last_error.as_ref().map(|e| e.code.as_str()),
            None,
        );
        put(
            "em",
            self.last_error.as_ref().map(|e| e.message.as_str()),
            None,
        );
        put("r", None, self.retry_until);
        out.push('}');
        State::from_checked(out)
    }
}

fn meta_id() -> SessionId {
    SessionId::reserved(META)
}

/// The store's sync record.
pub(crate) async fn read_meta(store: &Store<AnyBackend>) -> Result<Meta, StoreError> {
    let id = meta_id();
    let out = store.run(&[&id], Op::Meta(None)).await?;
    Ok(Meta::from_record(out.into_record()))
}

/// Writes the store's sync record.
pub(crate) async fn write_meta(store: &Store<AnyBackend>, meta: &Meta) -> Result<(), StoreError> {
    let id = meta_id();
    store.run(&[&id], Op::Meta(Some(meta.state()))).await?;
    Ok(())
}

/// Every session with a queue row: its row and live record.
async fn queue(
    store: &Store<AnyBackend>,
) -> Result<Vec<(SessionId, Row, Option<SessionRecord>)>, StoreError> {
    let rows = store.backend().reserved_ids(ROWS).await?;
    let ids: Vec<SessionId> = rows.iter().filter_map(session_of).collect();
    rows_of(store, ids).await
}

/// The rows and live records of `ids`.
async fn rows_of(
    store: &Store<AnyBackend>,
    ids: Vec<SessionId>,
) -> Result<Vec<(SessionId, Row, Option<SessionRecord>)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let refs: Vec<&SessionId> = ids.iter().collect();
    let found = match store.run(&refs, Op::Queue).await? {
        Outcome::Queue(found) => found,
        _ => Vec::new(),
    };
    drop(refs);
    Ok(ids
        .into_iter()
        .zip(found)
        .map(|(id, (row, record))| (id, row, record))
        .collect())
}

/// Whether a session's change is queued: a write's, or a delete of a synced session whose
/// record is gone.
fn pending(row: &Row, record: &Option<SessionRecord>) -> bool {
    row.key.is_some() || record.is_none() && row.etag.is_some()
}

/// How many sessions have a change queued, and the store's sync record.
pub(crate) async fn status(store: &Store<AnyBackend>) -> Result<SyncStatus, StoreError> {
    let queued = queue(store).await?;
    let meta = read_meta(store).await?;
    Ok(SyncStatus {
        pending: queued.iter().filter(|(_, r, rec)| pending(r, rec)).count(),
        last_sync_at: meta.last_sync_at,
        last_error: meta.last_error,
    })
}

/// `Date.now()`.
fn wall() -> u64 {
    js_sys::Date::now() as u64
}

/// A request of a pass, encoded for `sync.js`: `method, path, If-Match, If-None-Match, key,
/// body`.
fn request(
    method: &str,
    path: &str,
    if_match: Option<&str>,
    if_none: Option<&str>,
    key: Option<&str>,
    body: &str,
) -> String {
    let mut out = String::from(method);
    for field in [
        path,
        if_match.unwrap_or(""),
        if_none.unwrap_or(""),
        key.unwrap_or(""),
        body,
    ] {
        out.push('\u{1}');
        out.push_str(field);
    }
    out
}

/// `/sessions/<id>` (ids need no escaping: `[A-Za-z0-9_-]`).
fn path(id: &SessionId, tail: &str) -> String {
    let mut out = String::from("/sessions/");
    out.push_str(id.as_str());
    out.push_str(tail);
    out
}

/// One answer of `sync.js`.
struct Answer {
    status: i32,
    etag: String,
    retry_after_ms: Option<u64>,
    body: String,
}

impl Answer {
    fn parse(text: &str) -> Answer {
        let mut parts = text.split('\u{1}');
        let mut next = || parts.next().unwrap_or("");
        let status = next();
        let status = match status.strip_prefix('-') {
            Some(n) => -(json::uint(n).unwrap_or(1) as i32),
            None => json::uint(status).unwrap_or(0) as i32,
        };
        Answer {
            status,
            etag: next().to_owned(),
            retry_after_ms: json::uint(next()),
            body: next().to_owned(),
        }
    }

    fn fields(&self) -> Option<Fields<'_>> {
        Fields::of(&self.body, 2 + MAX_STATE_DEPTH)
    }

    /// The `{ code, message }` of an error answer, as a sync error.
    fn error(&self) -> SyncError {
        let f = self.fields();
        let code = f
            .as_ref()
            .and_then(|f| f.string("code"))
            .unwrap_or_else(|| {
                let mut code = String::from("HTTP_");
                push_u64(&mut code, self.status.max(0) as u64);
                code
            });
        let mut message = f
            .as_ref()
            .and_then(|f| f.string("message"))
            .unwrap_or_default();
        if message.is_empty() {
            message.push_str("the sync server answered ");
            push_u64(&mut message, self.status.max(0) as u64);
        }
        SyncError { code, message }
    }
}

/// A record as the server sends it: the JS record shape, `enc` in place of `state` for an
/// encrypted store's.
struct ServerRecord {
    id: SessionId,
    /// The state's JSON text, or the sealed `enc`.
    state: String,
    enc: bool,
    version: u64,
    created_at: u64,
    expires_at: Option<u64>,
    ttl_ms: Option<u64>,
}

fn server_record(text: &str) -> Option<ServerRecord> {
    let f = Fields::of(text, 1 + MAX_STATE_DEPTH)?;
    let (state, enc) = match (f.get("state"), f.string("enc")) {
        (Some(state), None) if state.starts_with('{') => (state.to_owned(), false),
        (_, Some(enc)) => (enc, true),
        _ => return None,
    };
    Some(ServerRecord {
        id: SessionId::new(f.string("id")?).ok()?,
        state,
        enc,
        version: f.uint("version")?,
        created_at: f.uint("createdAt")?,
        expires_at: f.nullable("expiresAt")?,
        ttl_ms: f.nullable("ttlMs")?,
    })
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
    for (name, value) in [("expiresAt", record.expires_at), ("ttlMs", record.ttl_ms)] {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        match value {
            Some(n) => push_u64(&mut out, n),
            None => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

/// One pass, run by the store's sync runtime: push (and with `pull`, pull), under the pass's
/// Web Lock (waited for with `wait`, else skipped when another context holds it).
pub(crate) struct Pass<'a> {
    store: &'a Store<AnyBackend>,
    options: &'a SyncOptions,
    headers: JsValue,
    report: SyncReport,
    /// A session's refusal (another 4xx) in this pass.
    refused: Option<SyncError>,
    /// Sessions settled in this pass: never two requests for one session in a round, and
    /// none pushed again after its change was taken.
    done: Vec<SessionId>,
}

impl<'a> Pass<'a> {
    /// Runs a pass: what it did, and the last session the server refused in it.
    /// `Ok(None)`: another context is running one (with `wait` false).
    pub(crate) async fn run(
        store: &'a Store<AnyBackend>,
        options: &'a SyncOptions,
        me: &'a str,
        pull: bool,
        wait: bool,
    ) -> Result<Option<(SyncReport, Option<SyncError>)>, Stopped> {
        let mut name = String::from("wasm-session-store:sync:");
        name.push_str(store.name());
        let lock = JsFuture::from(sync_lock(&name, wait))
            .await
            .map_err(|e| StoreError::unavailable(exception_reason(&e)))?;
        if lock.is_null() {
            return Ok(None);
        }
        if lock.is_undefined() && !lease(store, me, true).await? {
            return Ok(None);
        }
        let mut pass = Pass {
            store,
            options,
            headers: JsValue::UNDEFINED,
            report: SyncReport::default(),
            refused: None,
            done: Vec::new(),
        };
        let out = pass
            .steps(pull)
            .await
            .map(|report| (report, pass.refused.take()));
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

    async fn steps(&mut self, pull: bool) -> Result<SyncReport, Stopped> {
        self.headers = headers(self.options).await?;
        let mut pushed_any = true;
        for _ in 0..ROUNDS {
            if !pushed_any {
                break;
            }
            pushed_any = self.push_round().await?;
        }
        if pull {
            self.pull().await?;
        }
        let queued = queue(self.store).await?;
        self.report.pending = queued.iter().filter(|(_, r, rec)| pending(r, rec)).count();
        Ok(self.report)
    }
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
    fn key(&self) -> Option<String> {
        self.row.key.clone().or_else(|| {
            let mut key = String::from("d:");
            key.push_str(self.row.etag.as_deref()?);
            Some(key)
        })
    }

    /// The server version the push will make (for an encrypted store's additional data).
    fn next_version(&self) -> u64 {
        if self.row.etag.is_some() {
            self.row.server_version + 1
        } else {
            1
        }
    }
}

/// What stops a pass in an answer: UNAUTHORIZED, or UNAVAILABLE with the Retry-After asked
/// for; `None` for an answer of one session.
fn stop_of(answer: &Answer) -> Option<Stopped> {
    let error = match answer.status {
        401 | 403 => StoreError::unauthorized(answer.error().message),
        0 => {
            let mut reason = String::from("the sync server could not be reached: ");
            reason.push_str(&answer.body);
            StoreError::unavailable(reason)
        }
        1 => StoreError::unavailable("the sync server's answer could not be read"),
        429 => StoreError::unavailable("the sync server is throttling (429)"),
        s if s >= 500 => {
            let mut reason = String::from("the sync server failed: ");
            reason.push_str(&answer.error().message);
            StoreError::unavailable(reason)
        }
        _ => return None,
    };
    Some(Stopped {
        error,
        retry_after_ms: answer.retry_after_ms,
    })
}

/// The ids of `items`, to run an operation on.
fn ids_of<T>(items: &[T], id: impl Fn(&T) -> &SessionId) -> Vec<SessionId> {
    items.iter().map(|i| id(i).clone()).collect()
}

impl Pass<'_> {
    /// Sends `reqs` (one string per request) and reads the answers, in order.
    async fn fetch(&self, reqs: &[String]) -> Result<Vec<Answer>, Stopped> {
        let mut base = String::from(self.options.get_url().trim_end_matches('/'));
        base.push_str("/v1/stores/");
        base.push_str(self.store.name());
        let joined = reqs.join("\0");
        let out = JsFuture::from(sync_fetch(&base, &self.headers, &joined, IN_FLIGHT))
            .await
            .map_err(|e| StoreError::unavailable(exception_reason(&e)))?;
        let text = out.as_string().unwrap_or_default();
        Ok(text.split('\0').map(Answer::parse).collect())
    }

    /// Runs `op` on `ids`.
    async fn op(&self, ids: &[SessionId], op: Op) -> Result<Outcome, StoreError> {
        let refs: Vec<&SessionId> = ids.iter().collect();
        self.store.run(&refs, op).await
    }

    /// Tells the store's subscribers (and its other tabs) of a sync event about `id`.
    fn announce(&self, id: &SessionId, resolution: Option<Resolution>, error: Option<SyncError>) {
        let kind = match error {
            Some(_) => EventKind::SyncError,
            None => EventKind::Conflict,
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

    /// One round of pushes: every queued change not settled yet in this pass, writes first,
    /// then deletes (so that an encrypted store's move creates before it deletes); `true` when
    /// a conflict asked for another round.
    async fn push_round(&mut self) -> Result<bool, Stopped> {
        let mut writes = Vec::new();
        let mut deletes = Vec::new();
        let mut drops = Vec::new();
        for (id, row, record) in queue(self.store).await? {
            if !pending(&row, &record) || self.done.contains(&id) {
                continue;
            }
            match record {
                Some(record) => writes.push(Item {
                    id,
                    row,
                    record: Some(record),
                }),
                None if row.etag.is_some() => deletes.push(Item {
                    id,
                    row,
                    record: None,
                }),
                // Never on the server, and gone here: nothing to push.
                None => drops.push(Acked {
                    id,
                    key: row.key,
                    etag: None,
                    server_version: 0,
                }),
            }
        }
        if !drops.is_empty() {
            self.op(&ids_of(&drops, |a| &a.id), Op::Ack(drops)).await?;
        }
        let mut again = false;
        for items in [writes, deletes] {
            if !items.is_empty() {
                again |= self.push(items).await?;
            }
        }
        Ok(again)
    }

    /// Pushes `items` (one request each) and takes in the answers.
    async fn push(&mut self, items: Vec<Item>) -> Result<bool, Stopped> {
        // An encrypted store pushes ciphertext only: each state sealed for the version the
        // server will give it.
        let encrypted = self.store.is_encrypted();
        let mut sealed = Vec::new();
        if encrypted {
            let todo: Vec<(SessionId, u64, String)> = items
                .iter()
                .filter_map(|i| {
                    let state = i.record.as_ref()?.state.as_json().to_owned();
                    Some((i.id.clone(), i.next_version(), state))
                })
                .collect();
            sealed = self.store.seal_for_sync(&todo).await?;
        }
        let mut sealed = sealed.into_iter();
        let mut reqs = Vec::with_capacity(items.len());
        for item in &items {
            let key = item.key();
            let etag = item.row.etag.as_deref();
            reqs.push(match (&item.record, &item.row.moved_from) {
                (Some(_), Some(from)) => {
                    let mut body = String::from("{\"to\":");
                    json::write_str(item.id.as_str(), &mut body);
                    body.push('}');
                    request(
                        "POST",
                        &path(from, "/move"),
                        etag,
                        None,
                        key.as_deref(),
                        &body,
                    )
                }
                (Some(record), None) => {
                    let enc = if encrypted { sealed.next() } else { None };
                    let none = etag.is_none().then_some("*");
                    let body = put_body(record, enc.as_deref());
                    request(
                        "PUT",
                        &path(&item.id, ""),
                        etag,
                        none,
                        key.as_deref(),
                        &body,
                    )
                }
                (None, _) => request(
                    "DELETE",
                    &path(&item.id, ""),
                    etag,
                    None,
                    key.as_deref(),
                    "",
                ),
            });
        }
        let answers = self.fetch(&reqs).await?;
        let mut acks = Vec::new();
        let mut conflicts = Vec::new();
        let mut stop = None;
        for (item, answer) in items.into_iter().zip(answers) {
            match answer.status {
                200 | 201 | 204 => {
                    let record = server_record(&answer.body);
                    // A move keeps the server's state: the local one is still to push where
                    // it differs.
                    let settled = item.row.moved_from.is_none()
                        || match (&record, &item.record) {
                            (Some(server), Some(local)) => {
                                server.state == local.state.as_json()
                                    && server.expires_at == local.expires_at
                                    && server.ttl_ms == local.ttl_ms
                            }
                            _ => false,
                        };
                    acks.push(Acked {
                        id: item.id.clone(),
                        key: if settled { item.row.key.clone() } else { None },
                        etag: (answer.status != 204).then(|| answer.etag.clone()),
                        server_version: record.map_or(0, |r| r.version),
                    });
                    if settled {
                        self.report.pushed += 1;
                        self.done.push(item.id);
                    }
                }
                412 => conflicts.push((item, answer)),
                -1 => {}
                _ => match stop_of(&answer) {
                    Some(stopped) => stop = stop.or(Some(stopped)),
                    None => self.refuse(&item.id, answer.error()),
                },
            }
        }
        if !acks.is_empty() {
            self.op(&ids_of(&acks, |a| &a.id), Op::Ack(acks)).await?;
        }
        let mut again = false;
        for (item, answer) in conflicts {
            again |= self.settle(item, answer).await?;
        }
        match stop {
            Some(stopped) => Err(stopped),
            None => Ok(again),
        }
    }

    /// The server's record `text` (of a 412, or a pull) as a local record, its state opened
    /// for an encrypted store; `None` for `null`; a sync error when it does not read.
    async fn local_of(
        &self,
        id: &SessionId,
        text: &str,
    ) -> Result<Option<SessionRecord>, SyncError> {
        if text == "null" || text.is_empty() {
            return Ok(None);
        }
        let unreadable = |message: &str| SyncError {
            code: "CORRUPT".to_owned(),
            message: message.to_owned(),
        };
        let Some(server) = server_record(text).filter(|r| r.id == *id) else {
            return Err(unreadable("the sync server sent a record that is not one"));
        };
        let state = match (server.enc, self.store.is_encrypted()) {
            (false, false) => server.state,
            (true, true) => {
                let opened = self
                    .store
                    .open_for_sync(&[(id.clone(), server.version, server.state)])
                    .await
                    .map_err(|e| unreadable(&e.message()))?;
                opened.into_iter().next().flatten().ok_or_else(|| {
                    unreadable(
                        "the server's encrypted state does not decrypt with this store's key",
                    )
                })?
            }
            (true, false) => {
                return Err(unreadable(
                    "the server's state is encrypted, and this store has no key",
                ))
            }
            (false, true) => {
                return Err(unreadable(
                    "the server's state is in plaintext, and this store is encrypted",
                ))
            }
        };
        let state = State::from_json(state).map_err(|e| unreadable(&e.message()))?;
        Ok(Some(SessionRecord {
            id: id.clone(),
            state,
            version: server.version,
            created_at: server.created_at,
            updated_at: server.created_at,
            expires_at: server.expires_at,
            ttl_ms: server.ttl_ms,
        }))
    }

    /// Settles a 412 by the conflict policy; `true` when the session is to be pushed again.
    async fn settle(&mut self, item: Item, answer: Answer) -> Result<bool, Stopped> {
        let current = answer
            .fields()
            .and_then(|f| f.get("current").map(str::to_owned))
            .unwrap_or_default();
        let remote = match self.local_of(&item.id, &current).await {
            Ok(remote) => remote,
            Err(error) => {
                self.refuse(&item.id, error);
                return Ok(false);
            }
        };
        let ids = [item.id.clone()];
        // The row based on the server's version now, its change still queued.
        let rebase = Op::Ack(vec![Acked {
            id: item.id.clone(),
            key: None,
            etag: remote.as_ref().map(|_| answer.etag.clone()),
            server_version: remote.as_ref().map_or(0, |r| r.version),
        }]);
        let resolution = match self.options.get_conflict() {
            Conflict::Server => {
                let pulled = pulled_of(&item.id, remote.as_ref(), &answer.etag, item.row.key);
                self.op(&ids, Op::Apply(vec![pulled])).await?;
                self.done.push(item.id.clone());
                Resolution::Server
            }
            Conflict::Client => {
                self.op(&ids, rebase).await?;
                Resolution::Client
            }
            Conflict::Resolve(resolve) => {
                let merged = match resolve(item.record.as_ref(), remote.as_ref()) {
                    Ok(merged) => merged,
                    Err(e) => {
                        let mut message = String::from("the conflict function failed: ");
                        message.push_str(&e.message());
                        let code = "INVALID_INPUT".to_owned();
                        self.refuse(&item.id, SyncError { code, message });
                        return Ok(false);
                    }
                };
                // The merged state (or the delete) is written here, then pushed over the
                // server's version.
                let op = match merged {
                    Some(state) => Op::Put(
                        vec![crate::record::SaveEntry {
                            id: item.id.clone(),
                            state,
                            expected: None,
                        }],
                        true,
                    ),
                    None => Op::Delete,
                };
                self.op(&ids, op).await?;
                self.op(&ids, rebase).await?;
                Resolution::Merged
            }
        };
        self.report.conflicts += 1;
        self.announce(&item.id, Some(resolution), None);
        Ok(resolution != Resolution::Server)
    }

    /// Reads the server's changes since the cursor (every session after a 410) and writes
    /// each changed session here, unless a change of it is queued.
    async fn pull(&mut self) -> Result<(), Stopped> {
        let mut since = read_meta(self.store).await?.cursor;
        let mut relist = false;
        let (changes, cursor) = loop {
            let mut path = String::from("/changes");
            if let Some(cursor) = &since {
                path.push_str("?since=");
                path.push_str(&String::from(js_sys::encode_uri_component(cursor)));
            }
            let req = request("GET", &path, None, None, None, "");
            let answer = self
                .fetch(&[req])
                .await?
                .pop()
                .map_or_else(|| Answer::parse("1"), |answer| answer);
            if answer.status == 410 && !relist {
                since = None;
                relist = true;
                continue;
            }
            if let Some(stopped) = stop_of(&answer) {
                return Err(stopped);
            }
            let listed = answer
                .fields()
                .and_then(|f| Some((f.get("changes")?.to_owned(), f.string("cursor")?)));
            let Some((list, cursor)) = listed.filter(|_| answer.status == 200) else {
                let mut reason = String::from("the sync server's changes could not be read: ");
                reason.push_str(&answer.error().message);
                return Err(StoreError::unavailable(reason).into());
            };
            let mut changes = Vec::new();
            for range in json::elements(&list, 3).unwrap_or_default() {
                let Some(f) = Fields::of(json::at(&list, &range), 2) else {
                    continue;
                };
                if let Some(id) = f.string("id").and_then(|id| SessionId::new(id).ok()) {
                    changes.push((id, f.string("etag")));
                }
            }
            break (changes, cursor);
        };
        // What this store has of them (after a 410, of every session it synced too).
        let mut ids = ids_of(&changes, |c| &c.0);
        if relist {
            for (id, row, _) in queue(self.store).await? {
                if row.etag.is_some() && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let mut gets = Vec::new();
        let mut pulled = Vec::new();
        for (id, row, _) in rows_of(self.store, ids).await? {
            if row.key.is_some() {
                // Its push settles it.
                continue;
            }
            match changes.iter().find(|(c, _)| *c == id) {
                Some((_, Some(etag))) if Some(etag) == row.etag.as_ref() => {}
                Some(_) => gets.push((id, row.etag)),
                // No longer listed: deleted or moved away.
                None => pulled.push(pulled_of(&id, None, "", None)),
            }
        }
        let reqs: Vec<String> = gets
            .iter()
            .map(|(id, etag)| request("GET", &path(id, ""), None, etag.as_deref(), None, ""))
            .collect();
        let answers = if reqs.is_empty() {
            Vec::new()
        } else {
            self.fetch(&reqs).await?
        };
        let mut stop = None;
        for ((id, _), answer) in gets.into_iter().zip(answers) {
            match answer.status {
                200 => match self.local_of(&id, &answer.body).await {
                    Ok(remote) => pulled.push(pulled_of(&id, remote.as_ref(), &answer.etag, None)),
                    Err(error) => self.refuse(&id, error),
                },
                404 => {
                    let to = answer
                        .fields()
                        .and_then(|f| f.string("movedTo"))
                        .and_then(|to| SessionId::new(to).ok());
                    let mut gone = pulled_of(&id, None, "", None);
                    if let Some(to) = to {
                        gone.remote = Remote::MovedTo(to);
                    }
                    pulled.push(gone);
                }
                304 | -1 => {}
                _ => match stop_of(&answer) {
                    Some(stopped) => stop = stop.or(Some(stopped)),
                    None => self.refuse(&id, answer.error()),
                },
            }
        }
        if !pulled.is_empty() {
            let mut ids = Vec::new();
            for p in &pulled {
                ids.push(p.id.clone());
                if let Remote::MovedTo(to) = &p.remote {
                    if !ids.contains(to) {
                        ids.push(to.clone());
                    }
                }
            }
            self.report.pulled += self.op(&ids, Op::Apply(pulled)).await?.count();
        }
        if let Some(stopped) = stop {
            return Err(stopped);
        }
        // The cursor moves once every change it covers was read.
        let mut meta = read_meta(self.store).await?;
        meta.cursor = Some(cursor);
        write_meta(self.store, &meta).await?;
        Ok(())
    }
}

/// What to write of the server's record `remote` (`None`: gone) of `id` at `etag`: over the
/// queued change `over` (a conflict settled for the server), else only where none is queued.
fn pulled_of(
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
    let id = SessionId::reserved(":lease");
    let now = wall();
    let until = if take { now + LEASE_MS } else { 0 };
    let out = store
        .run(&[&id], Op::Lease(me.to_owned(), until, now))
        .await?;
    Ok(out.count() == 1)
}
