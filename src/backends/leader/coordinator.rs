//! A tab's part in the leader protocol (see the [module docs](super)): the election, the seq,
//! serving requests as leader, and sending them to the leader otherwise.

use super::wire::{Answer, Message, Reply, Request};
use crate::backends::storage::SingleTabStorageBackend;
use crate::browser::{global_property, sleep, unavailable_from, Deferred, WebLock};
use crate::error::StoreError;
use crate::id::SessionId;
use js_sys::{Function, Reflect};
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{BroadcastChannel, MessageEvent};

/// How often a leader re-checks its localStorage while waiting for writes to arrive. Only
/// liveness depends on it: correctness comes from the seq comparison.
const SEQ_POLL_MS: u32 = 5;

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/backends/leader/applied.js")]
extern "C" {
    /// Another tab's request `token` ("<tab>.<request id>") in the token list
    /// (`<name>::applied`, found from the seq key `<name>::seq`): with [`HAS`], whether the
    /// list holds it; with [`ADD`], adds it (keeping the newest 32); with [`REMOVE`], takes it
    /// out. False, and nothing written, for an empty token (the leader's own requests) and
    /// when localStorage throws (a full quota: then the token is not kept).
    fn applied_tokens(seq_key: &str, token: &str, op: u8) -> bool;
}

/// [`applied_tokens`]: is the request's token there?
const HAS: u8 = 0;
/// [`applied_tokens`]: record the request's token.
const ADD: u8 = 1;
/// [`applied_tokens`]: take the request's token out again.
const REMOVE: u8 = 2;

/// The token of tab `tab`'s request number `id`: "<tab>.<id>".
fn token(tab: &str, id: u64) -> String {
    let mut token = String::from(tab);
    token.push('.');
    crate::error::push_u64(&mut token, id);
    token
}

/// A request waiting for the leader's answer.
struct Pending {
    id: u64,
    /// The seq this tab had seen when it asked.
    min_seq: u64,
    request: Request,
    /// Where [`Coordinator::settle`] puts the answer before resolving `answered`.
    answer: Rc<RefCell<Option<Answer>>>,
    answered: Function,
}

/// The tab's part in the protocol: leadership, the channel, requests in flight.
pub(super) struct Coordinator {
    local: Rc<SingleTabStorageBackend>,
    seq_key: String,
    tab: String,
    channel: BroadcastChannel,
    pub(super) leader: Cell<bool>,
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
    /// seq was last bumped (see `SharedStorageBackend::direct`).
    pub(super) dirty: Cell<bool>,
    /// The channel's message handler, kept alive while the coordinator lives.
    on_message: OnceCell<MessageHandler>,
    /// Tests: apply other tabs' `cas` requests, but never answer them (a leader that closes
    /// before its answers arrive).
    #[cfg(feature = "test-hooks")]
    pub(super) mute: Cell<bool>,
}

type MessageHandler = Closure<dyn FnMut(MessageEvent)>;

impl Coordinator {
    /// Joins the election of store `name`'s leader tab, on its channel; `Err` without Web
    /// Locks or BroadcastChannel.
    pub(super) fn start(
        local: &Rc<SingleTabStorageBackend>,
        name: &str,
    ) -> Result<Rc<Self>, StoreError> {
        let navigator = global_property("navigator")?;
        let locks = Reflect::get(&navigator, &JsValue::from_str("locks")).unwrap_or_default();
        let request = Reflect::get(&locks, &JsValue::from_str("request")).unwrap_or_default();
        if !request.is_function() {
            return Err(StoreError::unavailable("no Web Locks"));
        }
        let mut channel_name = String::from("wasm-session-store:");
        channel_name.push_str(name);
        let channel = BroadcastChannel::new(&channel_name).map_err(|e| unavailable_from("", &e))?;
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
            #[cfg(feature = "test-hooks")]
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
    fn apply(&self, token: &str, writes: &[(String, Option<String>)]) -> Result<(), StoreError> {
        self.bump_seq()?;
        applied_tokens(&self.seq_key, token, ADD);
        self.local.apply_raw(writes).inspect_err(|_| {
            applied_tokens(&self.seq_key, token, REMOVE);
        })
    }

    /// Whether this tab may run its own operations directly on its localStorage: it leads,
    /// and its localStorage shows every write it has been told of.
    pub(super) fn leads_currently(&self) -> bool {
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
    /// requests interleave. `token`: "<tab>.<request id>" for another tab's request, empty
    /// for this tab's own.
    fn serve(&self, token: &str, request: Option<&Request>) -> Answer {
        self.flush();
        let reply = match request {
            Some(Request::Read(keys)) => keys
                .iter()
                .map(|key| self.local.get_raw(key))
                .collect::<Result<Vec<_>, _>>()
                .map(Reply::Values),
            Some(Request::Cas { expect, writes }) => {
                let unchanged = expect
                    .iter()
                    .all(|(key, value)| self.local.get_raw(key).ok().as_ref() == Some(value));
                if unchanged {
                    self.apply(token, writes).map(|()| Reply::Applied(true))
                } else {
                    // Applied already, by this leader or an earlier one, if its token is there
                    // (the leader's own requests have no token: they never cross a handover).
                    Ok(Reply::Applied(applied_tokens(&self.seq_key, token, HAS)))
                }
            }
            Some(Request::Scan) => self.local.scan_raw().map(Reply::Pairs),
            Some(Request::Clear) => self
                .bump_seq()
                .and_then(|_| self.local.clear_records())
                .map(|()| Reply::Applied(true)),
            None => Err(StoreError::unavailable("unknown request")),
        };
        Answer {
            seq: self.local_seq(),
            reply,
        }
    }

    /// Serves a request on this tab once its view is current (leader only).
    async fn serve_when_current(
        &self,
        min_seq: u64,
        token: &str,
        request: Option<&Request>,
    ) -> Answer {
        self.wait_for_seq(min_seq.max(self.max_seq.get())).await;
        self.serve(token, request)
    }

    fn post(&self, message: &Message) {
        let _ = self.channel.post_message(&message.to_js());
    }

    fn on_message(self: &Rc<Self>, message: JsValue) {
        let (seq, message) = Message::from_js(&message);
        self.see_seq(seq);
        match message {
            Some(Message::Request {
                from,
                id,
                min_seq,
                request,
            }) if self.leader.get() => {
                let this = self.clone();
                spawn_local(async move {
                    let token = token(&from, id);
                    let answer = this
                        .serve_when_current(min_seq, &token, request.as_ref())
                        .await;
                    if this.closed.get() || !this.leader.get() {
                        return; // the next leader answers the re-sent request
                    }
                    #[cfg(feature = "test-hooks")]
                    if this.mute.get() && matches!(request, Some(Request::Cas { .. })) {
                        return;
                    }
                    this.post(&Message::Answer {
                        to: from,
                        id,
                        answer,
                    });
                });
            }
            Some(Message::Answer { to, id, answer }) if to == self.tab => self.settle(id, answer),
            // A new leader: whatever was asked of the old one is asked again.
            Some(Message::Leader { .. }) => {
                for pending in self.pending.borrow().iter() {
                    self.post(&self.request_message(pending));
                }
            }
            _ => {}
        }
    }

    /// The message that asks the leader for `pending`. (The request is encoded again for a
    /// re-send: cheaper than keeping its JS object.)
    fn request_message(&self, pending: &Pending) -> Message {
        Message::Request {
            from: self.tab.clone(),
            id: pending.id,
            min_seq: pending.min_seq,
            request: Some(pending.request.clone()),
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
            this.post(&Message::Leader {
                from: this.tab.clone(),
                seq: this.local_seq(),
            });
            // Our own requests sent while nobody led: serve them here. They went out on the
            // channel, so the old leader may have applied them: they keep their tokens.
            let waiting: Vec<(u64, u64, Request)> = this
                .pending
                .borrow()
                .iter()
                .map(|p| (p.id, p.min_seq, p.request.clone()))
                .collect();
            for (id, min_seq, request) in waiting {
                let token = token(&this.tab, id);
                let answer = this
                    .serve_when_current(min_seq, &token, Some(&request))
                    .await;
                this.settle(id, answer);
            }
        });
    }

    /// Hands `answer` to the request `id`, if it is still waiting.
    fn settle(&self, id: u64, answer: Answer) {
        let mut pending = self.pending.borrow_mut();
        if let Some(i) = pending.iter().position(|p| p.id == id) {
            let done = pending.remove(i);
            drop(pending);
            *done.answer.borrow_mut() = Some(answer);
            let _ = done.answered.call0(&JsValue::UNDEFINED);
        }
    }

    fn release(&self) {
        self.leader.set(false);
        if let Some(lock) = self.lock.get() {
            lock.release();
        }
    }

    /// Sends a request to the leader (or serves it, when this tab leads) and waits for the
    /// reply.
    pub(super) async fn call(self: &Rc<Self>, request: Request) -> Result<Reply, StoreError> {
        if self.closed.get() {
            return Err(StoreError::Closed);
        }
        let min_seq = self.max_seq.get();
        let answer = if self.leader.get() {
            self.serve_when_current(min_seq, "", Some(&request)).await
        } else {
            let id = self.next_request.get() + 1;
            self.next_request.set(id);
            let answered = Deferred::new();
            let slot = Rc::new(RefCell::new(None));
            let pending = Pending {
                id,
                min_seq,
                request,
                answer: slot.clone(),
                answered: answered.resolve.clone(),
            };
            self.post(&self.request_message(&pending));
            self.pending.borrow_mut().push(pending);
            let _ = JsFuture::from(answered.promise).await;
            let answer = slot.borrow_mut().take();
            answer.ok_or_else(|| StoreError::unavailable("the leader tab did not answer"))?
        };
        self.see_seq(answer.seq);
        answer.reply
    }

    pub(super) fn close(&self) {
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
            *pending.answer.borrow_mut() = Some(Answer {
                seq: 0,
                reply: Err(StoreError::unavailable("the store was closed")),
            });
            let _ = pending.answered.call0(&JsValue::UNDEFINED);
        }
    }
}
