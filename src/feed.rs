//! [`ChangeFeed`]: a store's events carried between the tabs and workers of an origin.

use crate::browser::field;
use crate::event::{EventKind, Resolution, StoreEvent};
use crate::id::SessionId;
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, EventTarget, MessageEvent, StorageEvent};

type MessageHandler = Closure<dyn FnMut(MessageEvent)>;
type StorageHandler = Closure<dyn FnMut(StorageEvent)>;

#[wasm_bindgen(module = "/src/presence.js")]
extern "C" {
    /// Joins the feed's presence (Web Locks); resolves once every other instance posts.
    fn feed_join(channel: &BroadcastChannel, name: &str) -> Promise;
    /// Queues `event` for the next post (nothing when this instance is alone).
    fn feed_publish(channel: &BroadcastChannel, event: &Object);
    /// Posts what is queued now.
    fn feed_flush(channel: &BroadcastChannel);
    /// Lets the presence locks go.
    fn feed_leave(channel: &BroadcastChannel);
}

/// The events of one store, shared by every instance of it in this origin: what one
/// instance [`publish`](Self::publish)es, the others receive, with `local: false`.
///
/// Carried by a `BroadcastChannel` named `wasm-session-store:<feed>:events`, where `feed` names
/// the shared data (the JS API uses `<backend>:<name>`: an IndexedDB store and a localStorage
/// store of one name are different data). Where there is no `BroadcastChannel`, a
/// localStorage store can still hear other tabs through `storage` events
/// ([`with_storage_fallback`](Self::with_storage_fallback)), which say less: created, saved,
/// deleted and cleared, derived from the keys that changed. Messages carry ids and versions,
/// never state.
///
/// An instance that [`join`](Self::join)s and finds itself alone in its origin posts nothing
/// until another instance of the feed joins (`src/backends/presence.js`, on Web Locks): a
/// write's post costs about as much as a raw localStorage write.
pub struct ChangeFeed {
    channel: Option<(BroadcastChannel, MessageHandler)>,
    storage: Option<(EventTarget, StorageHandler)>,
    name: String,
}

impl ChangeFeed {
    /// Joins the feed `feed`; `on_remote` receives the other instances' events.
    pub fn open(feed: &str, on_remote: impl Fn(StoreEvent) + 'static) -> ChangeFeed {
        let mut name = String::from("wasm-session-store:");
        name.push_str(feed);
        name.push_str(":events");
        let channel = BroadcastChannel::new(&name).ok().map(|channel| {
            let handler = MessageHandler::new(move |message: MessageEvent| {
                let data = message.data();
                match data.dyn_ref::<Array>() {
                    Some(events) => events
                        .iter()
                        .filter_map(|event| from_message(&event))
                        .for_each(&on_remote),
                    None => from_message(&data).into_iter().for_each(&on_remote),
                }
            });
            channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
            (channel, handler)
        });
        ChangeFeed {
            channel,
            storage: None,
            name,
        }
    }

    /// Announces this instance to the others of the feed and waits until each of them posts
    /// its writes (at most a second, for a frozen tab): a write that completes after this
    /// resolves reaches this instance. Learns whether this instance is alone, in which case
    /// [`publish`](Self::publish) posts nothing until another instance joins. Without
    /// Web Locks every instance posts.
    pub async fn join(&self) {
        if let Some(joining) = self.start_join() {
            let _ = JsFuture::from(joining).await;
        }
    }

    /// Starts [`join`](Self::join): its promise, for a caller that cannot hold the feed
    /// across the wait.
    pub(crate) fn start_join(&self) -> Option<Promise> {
        let (channel, _) = self.channel.as_ref()?;
        Some(feed_join(channel, &self.name))
    }

    /// [`open`](Self::open), and when this context has no `BroadcastChannel`, listens to
    /// `storage` events of the localStorage keys `<name>:<id>` of store `name` instead.
    pub fn with_storage_fallback(
        feed: &str,
        name: &str,
        on_remote: impl Fn(StoreEvent) + 'static,
    ) -> Self {
        let on_remote = std::rc::Rc::new(on_remote);
        let forward = on_remote.clone();
        let mut feed = ChangeFeed::open(feed, move |event| forward(event));
        if feed.channel.is_some() {
            return feed;
        }
        let Ok(target) = js_sys::global().dyn_into::<EventTarget>() else {
            return feed;
        };
        // (WebKit delivers `storage` events only to windows that touched their localStorage:
        // SingleTabStorageBackend::open does, for the store this feed belongs to.)
        let mut prefix = String::from(name);
        prefix.push(':');
        let handler = StorageHandler::new(move |e: StorageEvent| {
            if let Some(event) = from_storage_event(&e, &prefix) {
                on_remote(event);
            }
        });
        if target
            .add_event_listener_with_callback("storage", handler.as_ref().unchecked_ref())
            .is_ok()
        {
            feed.storage = Some((target, handler));
        }
        feed
    }

    /// Whether other contexts can hear this feed at all.
    pub fn is_connected(&self) -> bool {
        self.channel.is_some() || self.storage.is_some()
    }

    /// Sends `event` to the other instances of the store (not to this one).
    ///
    /// The events published in one turn of the event loop go out as one message, on the next
    /// microtask (a batch of 1,000 writes is one post, not 1,000 of ~25-30 µs each); a message
    /// of one event is the event object itself, of several an array of them, in order.
    pub fn publish(&self, event: &StoreEvent) {
        if let Some((channel, _)) = &self.channel {
            feed_publish(channel, &event_object(event, false));
        }
    }

    /// Stops sending and receiving (what was published is sent first); idempotent.
    pub fn close(&mut self) {
        if let Some((channel, _)) = self.channel.take() {
            feed_flush(&channel);
            feed_leave(&channel);
            channel.set_onmessage(None);
            channel.close();
        }
        if let Some((target, handler)) = self.storage.take() {
            let _ = target
                .remove_event_listener_with_callback("storage", handler.as_ref().unchecked_ref());
        }
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.close();
    }
}

/// An event as a plain object `{ type, id?, newId?, version? }`, plus `local` when asked: the
/// message on the channel, and (with `local`) the event object of the JS contract.
pub fn event_object(event: &StoreEvent, with_local: bool) -> Object {
    let object = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&object, &JsValue::from_str(key), &value);
    };
    set("type", JsValue::from_str(event.kind.as_str()));
    if let Some(id) = &event.id {
        set("id", JsValue::from_str(id.as_str()));
    }
    if let Some(new_id) = &event.new_id {
        set("newId", JsValue::from_str(new_id.as_str()));
    }
    if let Some(version) = event.version {
        set("version", JsValue::from_f64(version as f64));
    }
    if with_local {
        set("local", JsValue::from_bool(event.local));
    }
    if event.remote {
        set("remote", JsValue::TRUE);
    }
    if let Some(resolution) = event.resolution {
        set("resolution", JsValue::from_str(resolution.as_str()));
    }
    if let Some(error) = &event.error {
        set("code", JsValue::from_str(&error.code));
        set("message", JsValue::from_str(&error.message));
    }
    object
}

fn id_field(object: &JsValue, key: &str) -> Option<SessionId> {
    SessionId::new(field(object, key).as_string()?).ok()
}

fn version_field(object: &JsValue) -> Option<u64> {
    field(object, "version")
        .as_f64()
        .filter(|v| v.fract() == 0.0 && *v >= 0.0)
        .map(|v| v as u64)
}

/// A message of another instance, checked: anything else on the channel is ignored.
fn from_message(data: &JsValue) -> Option<StoreEvent> {
    let kind = EventKind::from_name(&field(data, "type").as_string()?)?;
    let mut event = StoreEvent::new(kind, id_field(data, "id"), version_field(data));
    event.local = false;
    event.remote = field(data, "remote").is_truthy();
    match kind {
        EventKind::Cleared => event.id = None,
        EventKind::IdChanged => event.new_id = Some(id_field(data, "newId")?),
        EventKind::Conflict => {
            event.resolution = Some(Resolution::from_name(
                &field(data, "resolution").as_string()?,
            )?)
        }
        EventKind::SyncError => {
            event.error = Some(crate::sync::SyncError {
                code: field(data, "code").as_string()?,
                message: field(data, "message").as_string()?,
            })
        }
        // Every other kind is about a session, at a version.
        _ => {
            event.id.as_ref()?;
            event.version?;
        }
    }
    Some(event)
}

/// What a change of one localStorage key says about the store whose keys start `prefix`.
fn from_storage_event(e: &StorageEvent, prefix: &str) -> Option<StoreEvent> {
    let Some(key) = e.key() else {
        // localStorage.clear() in another tab.
        let mut event = StoreEvent::new(EventKind::Cleared, None, None);
        event.local = false;
        return Some(event);
    };
    let id = SessionId::new(key.strip_prefix(prefix)?).ok()?;
    let version_of = |text: Option<String>| {
        js_sys::JSON::parse(&text?)
            .ok()
            .and_then(|record| version_field(&record))
    };
    let (old, new) = (version_of(e.old_value()), version_of(e.new_value()));
    let (kind, version) = match (old, new) {
        (Some(old), None) => (EventKind::Deleted, old),
        (None, Some(new)) => (EventKind::Created, new),
        // Same version: a deadline moved (sliding or updateTtl), not the state.
        (Some(old), Some(new)) if new != old => (EventKind::Saved, new),
        _ => return None,
    };
    let mut event = StoreEvent::about(kind, &id, version);
    event.local = false;
    Some(event)
}
