//! The change feed: [`StoreEvent`]s and the [`Subscribers`] of one store instance.

use crate::id::SessionId;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

/// What kind of change a [`StoreEvent`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A session was created (by create, or by a save or saveIfVersion that created it).
    Created,
    /// A session's state was written (save, saveIfVersion, set, or a remove that removed a key).
    Saved,
    /// A session's TTL was replaced (updateTtl).
    TtlUpdated,
    /// A session was deleted.
    Deleted,
    /// An expired session was removed: by deleteExpired, the sweeper, or an operation that
    /// met it.
    Expired,
    /// A session was renamed: `id` is the old id, `new_id` the new one.
    IdChanged,
    /// Every session of the store was removed.
    Cleared,
    /// A synced store settled a conflict with the server: [`resolution`](StoreEvent::resolution)
    /// says which way.
    Conflict,
    /// A synced store's push or pass failed: [`error`](StoreEvent::error) says why (`id` is the
    /// session the server refused, if one).
    SyncError,
}

/// How a synced store settled a conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The local session took the server's record.
    Server,
    /// The local state was pushed again.
    Client,
    /// The state the conflict function returned was pushed.
    Merged,
}

impl Resolution {
    /// The name JS uses: "server", "client" or "merged".
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Server => "server",
            Resolution::Client => "client",
            Resolution::Merged => "merged",
        }
    }

    /// The resolution named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "server" => Resolution::Server,
            "client" => Resolution::Client,
            "merged" => Resolution::Merged,
            _ => return None,
        })
    }
}

impl EventKind {
    /// The name JS uses for it: "created", "saved", "ttlUpdated", "deleted", "expired",
    /// "idChanged", "cleared", "conflict" or "syncError".
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Saved => "saved",
            EventKind::TtlUpdated => "ttlUpdated",
            EventKind::Deleted => "deleted",
            EventKind::Expired => "expired",
            EventKind::IdChanged => "idChanged",
            EventKind::Cleared => "cleared",
            EventKind::Conflict => "conflict",
            EventKind::SyncError => "syncError",
        }
    }

    /// The kind named `name` by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "created" => EventKind::Created,
            "saved" => EventKind::Saved,
            "ttlUpdated" => EventKind::TtlUpdated,
            "deleted" => EventKind::Deleted,
            "expired" => EventKind::Expired,
            "idChanged" => EventKind::IdChanged,
            "cleared" => EventKind::Cleared,
            "conflict" => EventKind::Conflict,
            "syncError" => EventKind::SyncError,
            _ => return None,
        })
    }
}

/// One change to a store. It carries ids and versions, never state: readers call `load`, so
/// nothing private reaches other tabs through the feed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoreEvent {
    /// What happened.
    pub kind: EventKind,
    /// The session; `None` only for [`Cleared`](EventKind::Cleared).
    pub id: Option<SessionId>,
    /// The new id, for [`IdChanged`](EventKind::IdChanged) only.
    pub new_id: Option<SessionId>,
    /// The session's version after the change (for deletions: the version removed; 0 for a
    /// record that could not be read); `None` only for [`Cleared`](EventKind::Cleared).
    pub version: Option<u64>,
    /// True when this store instance made the change; false when another instance, tab or
    /// worker did.
    pub local: bool,
    /// True when a pull from the sync server made the change.
    pub remote: bool,
    /// A [`Conflict`](EventKind::Conflict)'s resolution.
    pub resolution: Option<Resolution>,
    /// A [`SyncError`](EventKind::SyncError)'s error.
    pub error: Option<crate::sync::SyncError>,
}

impl StoreEvent {
    /// Whether this change may have changed the session `id`, so that a view of it should be
    /// read again: an event about `id`, a rename onto `id` (`new_id`), or a clear of the whole
    /// store.
    ///
    /// ```
    /// use wasm_session_store::{EventKind, SessionId, StoreEvent};
    /// let cart = SessionId::new("cart").unwrap();
    /// let other = SessionId::new("other").unwrap();
    /// let mut renamed = StoreEvent::new(EventKind::IdChanged, Some(other.clone()), Some(3));
    /// renamed.new_id = Some(cart.clone());
    /// assert!(renamed.concerns(&cart) && renamed.concerns(&other));
    /// let cleared = StoreEvent::new(EventKind::Cleared, None, None);
    /// assert!(cleared.concerns(&cart));
    /// ```
    pub fn concerns(&self, id: &SessionId) -> bool {
        self.kind == EventKind::Cleared
            || self.id.as_ref() == Some(id)
            || self.new_id.as_ref() == Some(id)
    }

    /// An event of this store instance (`local`), not a pull's, with no new id.
    pub fn new(kind: EventKind, id: Option<SessionId>, version: Option<u64>) -> Self {
        StoreEvent {
            kind,
            id,
            new_id: None,
            version,
            local: true,
            remote: false,
            resolution: None,
            error: None,
        }
    }

    /// A local event about one session.
    pub(crate) fn about(kind: EventKind, id: &SessionId, version: u64) -> Self {
        Self::new(kind, Some(id.clone()), Some(version))
    }
}

type Callback = Rc<dyn Fn(&StoreEvent)>;

/// The subscribers of one store instance.
#[derive(Default)]
pub struct Subscribers {
    list: RefCell<Vec<(u64, Callback)>>,
    next: Cell<u64>,
}

impl Subscribers {
    /// Adds `callback`; it is called until the returned [`Subscription`] is dropped.
    pub fn subscribe(self: &Rc<Self>, callback: impl Fn(&StoreEvent) + 'static) -> Subscription {
        let key = self.next.get() + 1;
        self.next.set(key);
        self.list.borrow_mut().push((key, Rc::new(callback)));
        Subscription {
            subscribers: Rc::downgrade(self),
            key,
        }
    }

    /// Calls every subscriber with `event`, in subscription order. A callback may subscribe
    /// or unsubscribe: the list is read before the calls.
    pub fn emit(&self, event: &StoreEvent) {
        self.emit_upto(u64::MAX, event);
    }

    /// [`emit`](Self::emit) to the subscribers whose key is at most `last`: with `last` from
    /// [`last_key`](Self::last_key) when the event happened, an event delivered later goes to
    /// those subscribed then (and still subscribed), not to later ones.
    pub fn emit_upto(&self, last: u64, event: &StoreEvent) {
        let callbacks: Vec<Callback> = self
            .list
            .borrow()
            .iter()
            .filter(|(key, _)| *key <= last)
            .map(|(_, c)| c.clone())
            .collect();
        for callback in callbacks {
            callback(event);
        }
    }

    /// The key of the latest subscriber (keys only grow).
    pub fn last_key(&self) -> u64 {
        self.next.get()
    }

    /// Whether anyone listens (so that events need not be built at all).
    pub fn is_empty(&self) -> bool {
        self.list.borrow().is_empty()
    }

    /// Removes the subscriber of a key from [`Subscription::into_key`]; nothing when it is gone.
    pub fn unsubscribe(&self, key: u64) {
        self.list.borrow_mut().retain(|(k, _)| *k != key);
    }

    /// Removes every subscriber.
    pub fn clear(&self) {
        self.list.borrow_mut().clear();
    }
}

/// A subscription to a store's events: dropping it unsubscribes.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    subscribers: Weak<Subscribers>,
    key: u64,
}

impl Subscription {
    /// Keeps the subscription for as long as the store lives.
    pub fn forget(mut self) {
        self.subscribers = Weak::new();
    }

    /// Keeps the subscription until [`Subscribers::unsubscribe`] is called with the key
    /// returned (or the list is cleared), whatever becomes of any value holding that key.
    pub fn into_key(mut self) -> u64 {
        self.subscribers = Weak::new();
        self.key
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(subscribers) = self.subscribers.upgrade() {
            subscribers.unsubscribe(self.key);
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.key)
            .finish()
    }
}
