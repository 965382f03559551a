//! [`SharedStorageBackend`]: localStorage whose read-check-writes are atomic across tabs.
//!
//! A Web Lock alone does not make localStorage safe across tabs: each renderer process caches
//! it and sees other pages' writes late, so the next lock holder can read a stale value
//! (measured in headless Chromium 156: three pages' 300 increments under one Web Lock ended at
//! 233, 198 and 216; README.md, "localStorage across tabs"). Here one tab per store name, elected with a
//! Web Lock, is the leader, and only its localStorage is ever written:
//!
//! - Every other tab reaches the records through the leader (the leader runs its own
//!   operations directly on its localStorage, as serving them would): `read` returns
//!   raw values, `cas` applies writes only if the raw values read are still there (else it
//!   answers `changed` and the caller reads and decides again), `scan` lists the store's
//!   records, `clear` removes them. Other tabs send these over a BroadcastChannel; the leader
//!   serves them one at a time, synchronously, on its own localStorage, which no other
//!   renderer writes, so what it reads is current.
//! - Handover: leader writes bump `<name>::seq` (its own direct ones once, before anything
//!   is told to another tab), and every answer carries it. Each tab
//!   tracks the highest seq it has seen and sends it with each request; a leader serves a
//!   request only once its own localStorage shows that seq, and a new leader first waits for
//!   the highest seq it has seen. So a new leader never serves from a view older than what
//!   any requester has already been told.
//! - Re-sent requests: a tab re-sends what it is still waiting for when a new leader announces
//!   itself, so a `cas` the old leader applied, but whose answer never arrived (the old leader
//!   closed first, or the new leader's answer overtook it), comes again. Its expected values
//!   are gone by then (its own write replaced them), and answering `changed` would turn a
//!   successful write into a version conflict, and the caller's retry into a second write.
//!   So a leader applying another tab's `cas` also records its token (tab and request id) in
//!   `<name>::applied` (the last 32, just before the records; see `Coordinator::apply`),
//!   and a `cas` whose values changed but whose token is there is answered as
//!   applied. The list is kept in JS (`src/bindings/applied.js`): ~1 KB less wasm.
//!
//! Without `navigator.locks` or `BroadcastChannel` (very old browsers) the store uses
//! localStorage directly: atomic within the tab, not across tabs.

use super::storage::{expired_among, live_among, removals, StorageBackend};
use super::web::{exception_reason, global_property, sleep, Deferred, WebLock};
use crate::engine::{Backend, Slot, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use js_sys::{Array, Function, Object, Reflect};
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{BroadcastChannel, MessageEvent};

/// How often a leader re-checks its localStorage while waiting for writes to arrive. Only
/// liveness depends on it: correctness comes from the seq comparison.
const SEQ_POLL_MS: u32 = 5;

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &JsValue::from_str(key), &value.into());
}

fn number(value: &JsValue) -> u64 {
    value.as_f64().filter(|n| *n >= 0.0).map_or(0, |n| n as u64)
}

fn unavailable(reason: &'static str) -> StoreError {
    StoreError::Unavailable {
        reason: reason.into(),
    }
}

/// The raw value pairs of a `cas`: `[[key, value | null], ...]`.
fn pairs_to_js(pairs: &[(String, Option<String>)]) -> Array {
    pairs
        .iter()
        .map(|(key, value)| {
            let value = value.as_deref().map_or(JsValue::NULL, JsValue::from_str);
            JsValue::from(Array::of2(&JsValue::from_str(key), &value))
        })
        .collect()
}

fn pairs_from_js(value: &JsValue) -> Vec<(String, Option<String>)> {
    let Some(array) = value.dyn_ref::<Array>() else {
        return Vec::new();
    };
    array
        .iter()
        .filter_map(|pair| {
            let pair: Array = pair.dyn_into().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()))
        })
        .collect()
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/bindings/applied.js")]
extern "C" {
    /// Another tab's `request` in the token list (`<name>::applied`, found from the seq key
    /// `<name>::seq`): with [`HAS`], whether the list holds it; with [`ADD`], adds it (keeping
    /// the newest 32); with [`REMOVE`], takes it out. False, and nothing written, for the
    /// leader's own requests, and when localStorage throws (a full quota: then the token is
    /// not kept).
    fn applied_tokens(seq_key: &str, request: &JsValue, op: u8) -> bool;
}

/// [`applied_tokens`]: is the request's token there?
const HAS: u8 = 0;
/// [`applied_tokens`]: record the request's token.
const ADD: u8 = 1;
/// [`applied_tokens`]: take the request's token out again.
const REMOVE: u8 = 2;

/// A request waiting for the leader's answer.
struct Pending {
    id: u64,
    message: JsValue,
    resolve: Function,
}

/// The tab's part in the protocol: leadership, the channel, requests in flight.
struct Coordinator {
    local: Rc<StorageBackend>,
    seq_key: String,
    tab: String,
    channel: BroadcastChannel,
    leader: Cell<bool>,
    /// The highest seq this tab has seen in any answer.
    max_seq: Cell<u64>,
    next_request: Cell<u64>,
    /// In request-id order. A few at a time, so a Vec: a BTreeMap of its own would cost
    /// about 2 KB of gzipped wasm.
    pending: RefCell<Vec<Pending>>,
    /// The leader election; held while this tab leads.
    lock: OnceCell<WebLock>,
    closed: Cell<bool>,
    /// This tab ran operations of its own directly on its localStorage, as leader, since the
    /// seq was last bumped (see [`SharedStorageBackend::direct`]).
    dirty: Cell<bool>,
    /// The channel's message handler, kept alive while the coordinator lives.
    on_message: OnceCell<MessageHandler>,
    /// Tests: apply other tabs' `cas` requests, but never answer them (a leader that closes
    /// before its answers arrive).
    #[cfg(feature = "testing")]
    mute: Cell<bool>,
}

type MessageHandler = Closure<dyn FnMut(MessageEvent)>;

impl Coordinator {
    fn local_seq(&self) -> u64 {
        self.local
            .get_raw(&self.seq_key)
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn see_seq(&self, seq: u64) {
        if seq > self.max_seq.get() {
            self.max_seq.set(seq);
        }
    }

    /// Waits until this tab's localStorage shows every write up to `seq`.
    async fn wait_for_seq(&self, seq: u64) {
        while self.local_seq() < seq && !self.closed.get() {
            sleep(SEQ_POLL_MS).await;
        }
    }

    /// Bumps the seq before a write, so that a write never lands without a newer seq.
    fn bump_seq(&self) -> Result<u64, StoreError> {
        let seq = self.local_seq() + 1;
        let mut text = String::new();
        crate::error::push_u64(&mut text, seq);
        self.local.set_raw(&self.seq_key, &text)?;
        self.see_seq(seq);
        Ok(seq)
    }

    /// Applies a `cas` whose expected values are all there: the seq first, then, for another
    /// tab's request, its token, then the records.
    ///
    /// The token goes first: other tabs see one tab's localStorage writes in order, so a new
    /// leader that sees the records also sees the token. (Written after, a new leader could
    /// serve the re-sent request between the two, and answer `changed`: measured, 1 run in
    /// 45.) One that sees the token but not yet the records finds the expected values still
    /// there and writes the same records again. If the records fail (a full quota), the token
    /// is taken out again: a token for a write that never landed would let a re-sent request
    /// pass as applied, a write lost in silence. If the token itself cannot be written, the
    /// write goes ahead without this protection.
    fn apply(
        &self,
        request: &JsValue,
        writes: &[(String, Option<String>)],
    ) -> Result<(), StoreError> {
        self.bump_seq()?;
        applied_tokens(&self.seq_key, request, ADD);
        self.local.apply_raw(writes).inspect_err(|_| {
            applied_tokens(&self.seq_key, request, REMOVE);
        })
    }

    /// Whether this tab may run its own operations directly on its localStorage: it leads,
    /// and its localStorage shows every write it has been told of.
    fn leads_currently(&self) -> bool {
        self.leader.get() && !self.closed.get() && self.local_seq() >= self.max_seq.get()
    }

    /// Bumps the seq once for the leader's own direct writes since the last bump, before
    /// anything is told to another tab (or the lead is handed over), so that whoever learns
    /// the seq from now on also sees those writes.
    fn flush(&self) {
        if self.dirty.replace(false) && self.bump_seq().is_err() {
            self.dirty.set(true);
        }
    }

    /// Executes one request on this tab's localStorage (leader only). Synchronous, so no two
    /// requests interleave.
    fn serve(&self, request: &JsValue) -> JsValue {
        self.flush();
        let body = Object::new();
        let op = get(request, "op").as_string().unwrap_or_default();
        let result = match op.as_str() {
            "read" => {
                let keys: Array = get(request, "keys").dyn_into().unwrap_or_default();
                let mut values = Vec::with_capacity(keys.length() as usize);
                let mut failed = None;
                for key in keys.iter() {
                    match self.local.get_raw(&key.as_string().unwrap_or_default()) {
                        Ok(v) => values.push(v.map_or(JsValue::NULL, |v| JsValue::from_str(&v))),
                        Err(e) => failed = Some(e),
                    }
                }
                set(&body, "values", values.into_iter().collect::<Array>());
                failed.map_or(Ok(()), Err)
            }
            "cas" => {
                let expect = pairs_from_js(&get(request, "expect"));
                let writes = pairs_from_js(&get(request, "writes"));
                let unchanged = expect
                    .iter()
                    .all(|(key, value)| self.local.get_raw(key).ok().as_ref() == Some(value));
                if unchanged {
                    self.apply(request, &writes)
                } else {
                    // Applied already, by this leader or an earlier one, if its token is there
                    // (the leader's own requests have no token: they never cross a handover).
                    if !applied_tokens(&self.seq_key, request, HAS) {
                        set(&body, "changed", true);
                    }
                    Ok(())
                }
            }
            "scan" => self
                .local
                .scan_raw()
                .map(|pairs| set(&body, "pairs", pairs_to_js(&pairs))),
            "clear" => self.bump_seq().and_then(|_| self.local.clear_records()),
            _ => Err(unavailable("unknown request")),
        };
        if let Err(e) = result {
            let error = Object::new();
            set(&error, "quota", e.code() == crate::ErrorCode::QuotaExceeded);
            set(&error, "reason", e.message());
            set(&body, "error", error);
        }
        set(&body, "seq", JsValue::from_f64(self.local_seq() as f64));
        body.into()
    }

    /// Serves a request on this tab once its view is current (leader only).
    async fn serve_when_current(&self, request: &JsValue) -> JsValue {
        let min_seq = number(&get(request, "minSeq")).max(self.max_seq.get());
        self.wait_for_seq(min_seq).await;
        self.serve(request)
    }

    fn post(&self, message: &JsValue) {
        let _ = self.channel.post_message(message);
    }

    fn on_message(self: &Rc<Self>, message: JsValue) {
        self.see_seq(number(&get(&message, "seq")));
        let kind = get(&message, "kind").as_string().unwrap_or_default();
        match kind.as_str() {
            "request" if self.leader.get() => {
                let this = self.clone();
                spawn_local(async move {
                    let body = this.serve_when_current(&message).await;
                    if this.closed.get() || !this.leader.get() {
                        return; // the next leader answers the re-sent request
                    }
                    #[cfg(feature = "testing")]
                    if this.mute.get() && get(&message, "op").as_string().as_deref() == Some("cas")
                    {
                        return;
                    }
                    let answer = Object::new();
                    set(&answer, "kind", "answer");
                    set(&answer, "to", get(&message, "from"));
                    set(&answer, "id", get(&message, "id"));
                    set(&answer, "seq", get(&body, "seq"));
                    set(&answer, "body", body);
                    this.post(&answer);
                });
            }
            "answer" if get(&message, "to").as_string().as_deref() == Some(&self.tab) => {
                let id = number(&get(&message, "id"));
                self.settle(id, &get(&message, "body"));
            }
            // A new leader: whatever was asked of the old one is asked again.
            "leader" => {
                for pending in self.pending.borrow().iter() {
                    self.post(&pending.message);
                }
            }
            _ => {}
        }
    }

    /// Called when the Web Lock makes this tab the leader.
    fn on_elected(self: &Rc<Self>) {
        if self.closed.get() {
            self.release();
            return;
        }
        let this = self.clone();
        spawn_local(async move {
            // Serve nothing until every write the old leader was known to make is here.
            this.wait_for_seq(this.max_seq.get()).await;
            this.leader.set(true);
            let hello = Object::new();
            set(&hello, "kind", "leader");
            set(&hello, "from", this.tab.as_str());
            set(&hello, "seq", JsValue::from_f64(this.local_seq() as f64));
            this.post(&hello);
            // Our own requests sent while nobody led: serve them here.
            let waiting: Vec<(u64, JsValue)> = this
                .pending
                .borrow()
                .iter()
                .map(|p| (p.id, p.message.clone()))
                .collect();
            for (id, message) in waiting {
                let body = this.serve_when_current(&message).await;
                this.settle(id, &body);
            }
        });
    }

    /// Resolves the request `id` with `body`, if it is still waiting.
    fn settle(&self, id: u64, body: &JsValue) {
        let mut pending = self.pending.borrow_mut();
        if let Some(i) = pending.iter().position(|p| p.id == id) {
            let done = pending.remove(i);
            drop(pending);
            let _ = done.resolve.call1(&JsValue::UNDEFINED, body);
        }
    }

    fn release(&self) {
        self.leader.set(false);
        if let Some(lock) = self.lock.get() {
            lock.release();
        }
    }

    /// Sends a request to the leader (or serves it, when this tab leads) and waits for the
    /// answer.
    async fn call(self: &Rc<Self>, request: Object) -> Result<JsValue, StoreError> {
        if self.closed.get() {
            return Err(StoreError::Closed);
        }
        set(
            &request,
            "minSeq",
            JsValue::from_f64(self.max_seq.get() as f64),
        );
        let body = if self.leader.get() {
            self.serve_when_current(&request).await
        } else {
            let id = self.next_request.get() + 1;
            self.next_request.set(id);
            set(&request, "kind", "request");
            set(&request, "from", self.tab.as_str());
            set(&request, "id", JsValue::from_f64(id as f64));
            let answered = Deferred::new();
            let message: JsValue = request.into();
            self.pending.borrow_mut().push(Pending {
                id,
                message: message.clone(),
                resolve: answered.resolve.clone(),
            });
            self.post(&message);
            JsFuture::from(answered.promise)
                .await
                .map_err(|_| unavailable("the leader tab did not answer"))?
        };
        self.see_seq(number(&get(&body, "seq")));
        let error = get(&body, "error");
        if error.is_object() {
            let reason = get(&error, "reason").as_string().unwrap_or_default();
            return Err(if get(&error, "quota").is_truthy() {
                StoreError::QuotaExceeded {
                    reason: reason.into(),
                }
            } else {
                StoreError::Unavailable {
                    reason: reason.into(),
                }
            });
        }
        Ok(body)
    }

    /// A `read` request: the raw values of `keys`.
    fn read_request(keys: &[String]) -> Object {
        let request = Object::new();
        set(&request, "op", "read");
        set(
            &request,
            "keys",
            keys.iter().map(|k| JsValue::from_str(k)).collect::<Array>(),
        );
        request
    }

    /// A `cas` request: applies `writes` if every `expect`ed value is unchanged (answered
    /// `changed` when one is not).
    fn cas_request(
        expect: &[(String, Option<String>)],
        writes: &[(String, Option<String>)],
    ) -> Object {
        let request = Object::new();
        set(&request, "op", "cas");
        set(&request, "expect", pairs_to_js(expect));
        set(&request, "writes", pairs_to_js(writes));
        request
    }

    /// A request of `op` alone: "scan" or "clear".
    fn request(op: &str) -> Object {
        let request = Object::new();
        set(&request, "op", op);
        request
    }

    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        if self.leader.get() {
            self.flush();
        }
        self.release();
        self.channel.set_onmessage(None);
        self.channel.close();
        for pending in std::mem::take(&mut *self.pending.borrow_mut()) {
            let error = Object::new();
            set(&error, "reason", "the store was closed");
            let body = Object::new();
            set(&body, "error", error);
            let _ = pending.resolve.call1(&JsValue::UNDEFINED, &body);
        }
    }
}

/// localStorage whose read-check-writes are atomic across the tabs of an origin.
pub struct SharedStorageBackend {
    local: Rc<StorageBackend>,
    coordinator: Option<Rc<Coordinator>>,
}

impl std::fmt::Debug for SharedStorageBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStorageBackend")
            .field("local", &self.local)
            .field("coordinated", &self.coordinator.is_some())
            .finish()
    }
}

impl SharedStorageBackend {
    /// Opens localStorage for store `name` and joins the election of its leader tab.
    ///
    /// # Errors
    /// [`Unavailable`](StoreError::Unavailable) where localStorage does not exist (workers)
    /// or is blocked.
    pub fn open(name: &str) -> Result<Self, StoreError> {
        let local = Rc::new(StorageBackend::open(
            super::storage::StorageKind::Local,
            name,
        )?);
        let coordinator = Self::coordinate(&local, name).ok();
        Ok(SharedStorageBackend { local, coordinator })
    }

    /// Whether this store coordinates with other tabs (Web Locks and BroadcastChannel exist).
    pub fn is_coordinated(&self) -> bool {
        self.coordinator.is_some()
    }

    /// Whether this tab is currently the leader that performs every write.
    pub fn is_leader(&self) -> bool {
        self.coordinator.as_ref().is_some_and(|c| c.leader.get())
    }

    fn coordinate(local: &Rc<StorageBackend>, name: &str) -> Result<Rc<Coordinator>, StoreError> {
        let navigator = global_property("navigator")?;
        if !get(&get(&navigator, "locks"), "request").is_function() {
            return Err(unavailable("no Web Locks"));
        }
        let mut channel_name = String::from("wasm-session-store:");
        channel_name.push_str(name);
        let channel =
            BroadcastChannel::new(&channel_name).map_err(|e| StoreError::Unavailable {
                reason: exception_reason(&e).into(),
            })?;
        let coordinator = Rc::new(Coordinator {
            local: local.clone(),
            seq_key: local.meta_key("seq"),
            tab: SessionId::generate()?.into(),
            channel,
            leader: Cell::new(false),
            max_seq: Cell::new(0),
            next_request: Cell::new(0),
            pending: RefCell::new(Vec::new()),
            lock: OnceCell::new(),
            closed: Cell::new(false),
            dirty: Cell::new(false),
            on_message: OnceCell::new(),
            #[cfg(feature = "testing")]
            mute: Cell::new(false),
        });
        coordinator.see_seq(coordinator.local_seq());

        let weak = Rc::downgrade(&coordinator);
        let on_message = MessageHandler::new(move |event: MessageEvent| {
            if let Some(this) = weak.upgrade() {
                this.on_message(event.data());
            }
        });
        coordinator
            .channel
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let _ = coordinator.on_message.set(on_message);

        let weak = Rc::downgrade(&coordinator);
        let mut lock_name = channel_name;
        lock_name.push_str(":leader");
        let lock = WebLock::request(
            &lock_name,
            Box::new(move || {
                if let Some(this) = weak.upgrade() {
                    this.on_elected();
                }
            }),
        )?;
        let _ = coordinator.lock.set(lock);
        Ok(coordinator)
    }

    /// Tests: while this tab leads, it applies other tabs' writes (`cas` requests) but never
    /// answers them, as a leader does whose page closes before its answers arrive. Reads are
    /// still answered.
    #[cfg(feature = "testing")]
    pub fn mute_answers(&self) {
        if let Some(c) = &self.coordinator {
            c.mute.set(true);
        }
    }

    /// Leaves the election and the channel; if this tab led, another takes over.
    pub fn close(&self) {
        if let Some(c) = &self.coordinator {
            c.close();
        }
    }
}

impl Drop for SharedStorageBackend {
    fn drop(&mut self) {
        self.close();
    }
}

impl SharedStorageBackend {
    /// The coordinator to send an operation through; `None` when it runs directly on this
    /// tab's localStorage: uncoordinated, or this tab leads with a current view.
    ///
    /// The leader's own operations need no requests: it is the only writer, and it serves
    /// requests synchronously, so running its own read-check-writes synchronously on its
    /// localStorage is what serving them would do, without building, serving and reading
    /// back request objects: per save, 1 localStorage write and 5 reads instead of 2 and 10,
    /// and no request objects (the benchmark's save went from 0.21x to 0.44x raw
    /// `setItem`, load from 88 to 30 µs in Chromium). Their seq bump is deferred to
    /// [`Coordinator::flush`]: nothing can have learned of these writes through an answer
    /// before it runs. `writes`: whether the operation may write (reads need no bump).
    fn direct(&self, writes: bool) -> Option<&Rc<Coordinator>> {
        let c = self.coordinator.as_ref()?;
        if c.leads_currently() {
            if writes {
                c.dirty.set(true);
            }
            return None;
        }
        Some(c)
    }
}

impl Backend for SharedStorageBackend {
    async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        let Some(c) = self.direct(false) else {
            return self.local.read_now(ids);
        };
        let keys: Vec<String> = ids.iter().map(|id| self.local.key(id)).collect();
        let body = c.call(Coordinator::read_request(&keys)).await?;
        Ok(ids
            .iter()
            .zip(values(&body))
            .map(|(id, raw)| StorageBackend::decode_slot(id, raw))
            .collect())
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        let Some(c) = self.direct(true) else {
            return self.local.transact_now(ids, decide);
        };
        let keys: Vec<String> = ids.iter().map(|id| self.local.key(id)).collect();
        loop {
            let raws = values(&c.call(Coordinator::read_request(&keys)).await?);
            let slots = ids
                .iter()
                .zip(&raws)
                .map(|(id, raw)| StorageBackend::decode_slot(id, raw.clone()))
                .collect();
            let writes = self.local.raw_writes(decide(slots)?);
            if writes.is_empty() {
                return Ok(());
            }
            let expect: Vec<(String, Option<String>)> = keys.iter().cloned().zip(raws).collect();
            let body = c.call(Coordinator::cas_request(&expect, &writes)).await?;
            if applied(&body) {
                return Ok(());
            }
        }
    }

    async fn live_ids(&self, now_ms: u64) -> Result<Vec<SessionId>, StoreError> {
        let found = match self.direct(false) {
            None => self.local.scan_raw()?,
            Some(c) => pairs_from_js(&get(&c.call(Coordinator::request("scan")).await?, "pairs")),
        };
        Ok(live_among(self.local.readable(found), now_ms))
    }

    async fn delete_expired(
        &self,
        now_ms: u64,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let Some(c) = self.direct(true) else {
            return self.local.delete_expired_now(now_ms, limit);
        };
        loop {
            let scan = c.call(Coordinator::request("scan")).await?;
            let found = self.local.readable(pairs_from_js(&get(&scan, "pairs")));
            let (expect, removed) = expired_among(found, now_ms, limit);
            if removed.is_empty() {
                return Ok(removed);
            }
            let body = c
                .call(Coordinator::cas_request(&expect, &removals(&expect)))
                .await?;
            if applied(&body) {
                return Ok(removed);
            }
        }
    }

    async fn clear(&self) -> Result<(), StoreError> {
        match self.direct(true) {
            None => self.local.clear_records(),
            Some(c) => c.call(Coordinator::request("clear")).await.map(drop),
        }
    }
}

/// Whether a `cas` answer says the writes were applied (not `changed`).
fn applied(body: &JsValue) -> bool {
    !get(body, "changed").is_truthy()
}

/// The raw values of a `read` answer.
fn values(body: &JsValue) -> Vec<Option<String>> {
    let values: Array = get(body, "values").dyn_into().unwrap_or_default();
    values.iter().map(|v| v.as_string()).collect()
}
