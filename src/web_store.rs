//! [`WebStore`]: the browser runtime. It is what the JS `SessionStore` class wraps, and what a
//! Rust web app opens: the backend chosen at run time (with the "auto" fallback chain), the
//! change feed between tabs and workers, the background sweeper with its Web Lock election, and
//! localStorage through the leader-tab protocol.

use crate::backends::indexeddb::{IndexedDbBackend, DEFAULT_BLOCKED_TIMEOUT_MS};
use crate::backends::leader::SharedStorageBackend;
use crate::backends::storage::{SingleTabStorageBackend, StorageKind};
use crate::backends::AnyBackend;
use crate::browser::{Interval, WebLock};
use crate::crypto::Cipher;
use crate::engine::{Op, Store};
use crate::error::StoreError;
use crate::event::{EventKind, StoreEvent, Subscribers, Subscription};
use crate::feed::ChangeFeed;
use crate::id::SessionId;
use crate::record::{SaveEntry, SessionRecord, State, Ttl};
use crate::store::{SessionStore, StoreOptions};
use crate::sync::runtime::Syncer;
use crate::sync::{SyncReport, SyncStatus};
use std::cell::{Cell, RefCell};
use std::num::NonZeroUsize;
use std::rc::{Rc, Weak};
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// Which storage a [`WebStore`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendKind {
    /// IndexedDB, else localStorage, else memory ([`WebStore::fallback_reason`] says why).
    /// Only ever asked for: an open store reports the backend it got.
    Auto,
    /// IndexedDB: windows, dedicated and service workers.
    IndexedDb,
    /// localStorage, atomic across tabs through the leader-tab protocol (windows only).
    LocalStorage,
    /// sessionStorage: one tab's.
    SessionStorage,
    /// Memory: this instance's, for its lifetime.
    Memory,
}

impl BackendKind {
    /// The name JS uses: "auto", "indexeddb", "localstorage", "sessionstorage" or "memory".
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::IndexedDb => "indexeddb",
            BackendKind::LocalStorage => "localstorage",
            BackendKind::SessionStorage => "sessionstorage",
            BackendKind::Memory => "memory",
        }
    }
}

/// How many expired sessions one sweep removes per `deleteExpired` call (one transaction);
/// a sweep repeats until a call removes fewer.
const SWEEP_BATCH: usize = 100;

/// Opens the chosen backend: `(backend, what it is, why "auto" fell back)`.
async fn open_backend(
    kind: BackendKind,
    name: &str,
) -> Result<(AnyBackend, BackendKind, Option<String>), StoreError> {
    let indexeddb = || async {
        IndexedDbBackend::open(name, DEFAULT_BLOCKED_TIMEOUT_MS)
            .await
            .map(|b| (AnyBackend::IndexedDb(b), BackendKind::IndexedDb))
    };
    // localStorage is shared by tabs, so it goes through the leader-tab protocol;
    // sessionStorage belongs to one tab and is used directly.
    let storage = |kind: StorageKind| match kind {
        StorageKind::Local => SharedStorageBackend::open(name)
            .map(|b| (AnyBackend::SharedStorage(b), BackendKind::LocalStorage)),
        StorageKind::Session => SingleTabStorageBackend::open(kind, name)
            .map(|b| (AnyBackend::Storage(b), BackendKind::SessionStorage)),
    };
    let (backend, got) = match kind {
        BackendKind::Memory => (AnyBackend::memory(), BackendKind::Memory),
        BackendKind::IndexedDb => indexeddb().await?,
        BackendKind::LocalStorage => storage(StorageKind::Local)?,
        BackendKind::SessionStorage => storage(StorageKind::Session)?,
        BackendKind::Auto => {
            let idb_error = match indexeddb().await {
                Ok((backend, got)) => return Ok((backend, got, None)),
                // Falling back would split the data between two backends: report it instead.
                Err(e @ StoreError::Blocked { .. }) => return Err(e),
                Err(e) => e,
            };
            let mut reason = String::from("IndexedDB unavailable (");
            reason.push_str(&idb_error.message());
            reason.push(')');
            return match storage(StorageKind::Local) {
                Ok((backend, got)) => Ok((backend, got, Some(reason))),
                Err(ls_error) => {
                    reason.push_str("; localStorage unavailable (");
                    reason.push_str(&ls_error.message());
                    reason.push_str("): data lives in memory only, for this page's lifetime");
                    Ok((AnyBackend::memory(), BackendKind::Memory, Some(reason)))
                }
            };
        }
    };
    Ok((backend, got, None))
}

/// Where an encrypted store's device key is kept in IndexedDB: `<backend>:<name>`, so each
/// store's `clear` destroys its own key only. sessionStorage is each tab's own, so its key
/// is too: the second value is the sessionStorage key (`<name>::device`) of the tab's name for
/// it, which `crypto.js` writes when it makes the tab's first key. A memory store's key is kept
/// nowhere (`""`): its data dies with it.
fn device_key_entry(backend: &AnyBackend, kind: BackendKind, name: &str) -> (String, String) {
    let mut entry = String::from(kind.as_str());
    entry.push(':');
    entry.push_str(name);
    match backend {
        AnyBackend::Memory(_) => (String::new(), String::new()),
        AnyBackend::Storage(storage) => (entry, storage.meta_key("device")),
        _ => (entry, String::new()),
    }
}

/// The background sweep: a timer, and the Web Lock that makes one instance per store name
/// the sweeper (none for memory and sessionStorage, whose data no other context shares).
struct Sweeper {
    _interval: Interval,
    lock: Option<WebLock>,
}

/// What a [`WebStore`] holds; shared with its callbacks (weakly) and its sweeps.
struct Runtime {
    store: Rc<Store<AnyBackend>>,
    /// A synced store's passes and their timers.
    sync: RefCell<Option<Rc<Syncer>>>,
    kind: BackendKind,
    fallback_reason: Option<String>,
    closed: Cell<bool>,
    /// The subscribers of [`WebStore::subscribe`]: this instance's events as they are
    /// written, and other instances' as they arrive.
    listeners: Rc<Subscribers>,
    /// This instance's events, for the other instances of the store name, and theirs for us.
    feed: RefCell<Option<ChangeFeed>>,
    /// Forwards the engine's events to the feed and the listeners.
    subscription: RefCell<Option<Subscription>>,
    sweeper: RefCell<Option<Sweeper>>,
    sweeping: Cell<bool>,
}

/// A session store in the browser, on the backend chosen at run time, safe across tabs and
/// workers: what the JS `SessionStore` class is.
///
/// [`SessionStore`]'s operations, plus: the "auto" fallback chain (IndexedDB, else
/// localStorage, else memory, with the reason), the change feed ([`subscribe`] hears every
/// tab's and worker's writes), the background sweeper (one instance per store name sweeps,
/// elected with a Web Lock; [`StoreOptions::sweep_interval_ms`]), and localStorage through the
/// leader-tab protocol that makes its read-check-writes atomic across tabs.
///
/// Cloning gives another handle to the same store; [`close`] closes it for all of them.
/// Dropping the last handle closes it too: the sweeper stops, the tab leaves the change feed
/// and the localStorage leader election (the tasks the store runs hold it weakly).
///
/// [`subscribe`]: WebStore::subscribe
/// [`close`]: WebStore::close
///
/// # Examples
/// ```no_run
/// use wasm_session_store::prelude::*;
/// # async fn run() -> Result<(), StoreError> {
/// let store = WebStore::open(StoreOptions::new().name("app").ttl_ms(Some(1_800_000)), BackendKind::Auto).await?;
/// let rec = store.create(State::new(), Ttl::StoreDefault).await?;
/// let _sub = store.subscribe(|event: &StoreEvent| { /* every tab's writes */ });
/// store.close();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebStore {
    rt: Rc<Runtime>,
}

impl std::fmt::Debug for WebStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebStore")
            .field("name", &self.rt.store.name())
            .field("backend", &self.rt.kind)
            .field("closed", &self.rt.closed.get())
            .finish_non_exhaustive()
    }
}

impl WebStore {
    /// Opens the store `options` names on `kind` (with [`BackendKind::Auto`], the first of
    /// IndexedDB, localStorage and memory that works here), joins its change feed and starts
    /// its sweeper. Resolves once every other instance of the store posts its writes, so none
    /// made after this resolves is missed.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) for bad options;
    /// [`Unavailable`](StoreError::Unavailable) when an explicitly chosen backend cannot be
    /// used here; [`Blocked`](StoreError::Blocked) when another tab keeps an older IndexedDB
    /// version open (also with `Auto`: falling back would split the data).
    pub async fn open(options: StoreOptions, kind: BackendKind) -> Result<WebStore, StoreError> {
        options.validate()?;
        let (backend, kind, fallback_reason) = open_backend(kind, options.get_name()).await?;
        let cipher = match options.get_encryption() {
            Some(encryption) => {
                let (entry, tab) = device_key_entry(&backend, kind, options.get_name());
                Some(Cipher::new(options.get_name(), encryption, &entry, &tab)?)
            }
            None => None,
        };
        let store = Store::with_cipher(backend, options, cipher)?;
        // Encrypted: the key checked against the data's (and the store upgraded to this
        // release's key check); without encryption: refused where the data is encrypted.
        crate::__private::run(&store, &[], Op::CheckKey).await?;
        let rt = Rc::new(Runtime {
            store: Rc::new(store),
            sync: RefCell::default(),
            kind,
            fallback_reason,
            closed: Cell::new(false),
            listeners: Rc::default(),
            feed: RefCell::default(),
            subscription: RefCell::default(),
            sweeper: RefCell::default(),
            sweeping: Cell::new(false),
        });
        Runtime::start(&rt);
        let joining = rt.feed.borrow().as_ref().and_then(ChangeFeed::start_join);
        if let Some(joining) = joining {
            let _ = JsFuture::from(joining).await;
        }
        Ok(WebStore { rt })
    }

    /// The backend in use (never [`BackendKind::Auto`]).
    pub fn backend(&self) -> BackendKind {
        self.rt.kind
    }

    /// Why [`BackendKind::Auto`] did not get IndexedDB; `None` otherwise.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.rt.fallback_reason.as_deref()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.rt.closed.get()
    }

    /// Closes the store: later operations fail with [`Closed`](StoreError::Closed); stops the
    /// sweeper, leaves the change feed (and the localStorage leader election), drops every
    /// subscription. Idempotent.
    pub fn close(&self) {
        let rt = &self.rt;
        if rt.closed.replace(true) {
            return;
        }
        rt.store.backend().close();
        rt.sweeper.borrow_mut().take();
        if let Some(mut feed) = rt.feed.borrow_mut().take() {
            feed.close();
        }
        rt.subscription.borrow_mut().take();
        rt.store.unsubscribe_all();
        rt.listeners.clear();
        if let Some(sync) = rt.sync.borrow_mut().take() {
            sync.stop();
        }
    }

    /// A synced store's sync, or INVALID_INPUT (CLOSED after close).
    fn syncer(&self) -> Result<Rc<Syncer>, StoreError> {
        self.check_open()?;
        self.rt.sync.borrow().clone().ok_or_else(|| {
            StoreError::invalid("this store does not sync: open it with the sync option")
        })
    }

    /// Runs one sync pass at once: pushes every queued change (settling conflicts by the
    /// policy), then pulls the server's changes. It ignores the backoff of a failed pass, but
    /// not a Retry-After still running.
    ///
    /// # Errors
    /// INVALID_INPUT for a store without sync; UNAVAILABLE when a network error, a 5xx, a 429
    /// or an answer it cannot read stopped the pass, or a Retry-After is running (saying
    /// when); UNAUTHORIZED on 401 or 403, or when the `headers` function failed. Nothing
    /// queued is lost either way: sessions the server refused stay queued, each with a
    /// `syncError` event.
    pub async fn sync_now(&self) -> Result<SyncReport, StoreError> {
        self.syncer()?.now().await
    }

    /// How many sessions have a change queued, when the last pass completed, and the last
    /// failure, as kept with the queue.
    ///
    /// # Errors
    /// INVALID_INPUT for a store without sync; the storage's errors.
    pub async fn sync_status(&self) -> Result<SyncStatus, StoreError> {
        self.syncer()?.status().await
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        self.rt.store.options()
    }

    /// The engine, or [`Closed`](StoreError::Closed) after close.
    pub(crate) fn check_open(&self) -> Result<&Store<AnyBackend>, StoreError> {
        if self.rt.closed.get() {
            Err(StoreError::Closed)
        } else {
            Ok(&self.rt.store)
        }
    }
}

impl Runtime {
    /// Wires the change feed and the sweeper; called once, right after `open`.
    fn start(self: &Rc<Self>) {
        let name = self.store.name().to_owned();
        let weak = Rc::downgrade(self);
        let on_remote = move |event: StoreEvent| {
            if let Some(rt) = weak.upgrade() {
                if event.kind == EventKind::Cleared {
                    // Another context cleared the store and destroyed its device key: the copy
                    // held here goes too.
                    rt.store.forget_key();
                }
                rt.listeners.emit(&event);
            }
        };
        // Only data other contexts share has a feed: memory lives in this instance, and
        // sessionStorage in this tab (instances of one tab do not hear each other).
        let mut feed_name = String::from(self.kind.as_str());
        feed_name.push(':');
        feed_name.push_str(&name);
        // The sweeper's election is per shared data too: `wasm-session-store:<feed>:sweeper`.
        let mut lock_name = String::from("wasm-session-store:");
        lock_name.push_str(&feed_name);
        lock_name.push_str(":sweeper");
        let feed = match self.kind {
            BackendKind::LocalStorage => Some(ChangeFeed::with_storage_fallback(
                &feed_name, &name, on_remote,
            )),
            BackendKind::IndexedDb => Some(ChangeFeed::open(&feed_name, on_remote)),
            _ => None,
        };
        *self.feed.borrow_mut() = feed;
        *self.sync.borrow_mut() = Syncer::start(&self.store);
        let weak = Rc::downgrade(self);
        let subscription = self.store.subscribe(move |event| {
            if let Some(rt) = weak.upgrade() {
                if let Some(feed) = &*rt.feed.borrow() {
                    feed.publish(event);
                }
                rt.listeners.emit(event);
                if let Some(sync) = &*rt.sync.borrow() {
                    sync.written(event);
                }
            }
        });
        *self.subscription.borrow_mut() = Some(subscription);

        if let Some(ms) = self.store.options().get_sweep_interval_ms() {
            let lock = match self.kind {
                // Without Web Locks every instance sweeps: wasteful, still correct.
                BackendKind::IndexedDb | BackendKind::LocalStorage => {
                    WebLock::request(&lock_name, Box::new(|| {})).ok()
                }
                _ => None,
            };
            let weak: Weak<Runtime> = Rc::downgrade(self);
            // setInterval takes at most 2^31-1 ms (~24.8 days).
            let ms = ms.min(i32::MAX as u64) as u32;
            let interval = Interval::new(ms, move || {
                if let Some(rt) = weak.upgrade() {
                    rt.sweep();
                }
            });
            *self.sweeper.borrow_mut() = Some(Sweeper {
                _interval: interval,
                lock,
            });
        }
    }

    /// One sweep, if this instance is the sweeper and none is running.
    fn sweep(self: &Rc<Self>) {
        let is_sweeper = match &*self.sweeper.borrow() {
            Some(sweeper) => sweeper.lock.as_ref().is_none_or(WebLock::is_held),
            None => false,
        };
        if self.closed.get() || self.sweeping.get() || !is_sweeper {
            return;
        }
        self.sweeping.set(true);
        let rt = self.clone();
        spawn_local(async move {
            while !rt.closed.get() {
                match rt
                    .store
                    .run(&[], Op::DeleteExpired(Some(SWEEP_BATCH)))
                    .await
                {
                    Ok(removed) if removed.count() == SWEEP_BATCH => continue,
                    // Errors (storage gone, corrupt data is skipped anyway) wait for the next tick.
                    _ => break,
                }
            }
            rt.sweeping.set(false);
        });
    }
}

/// Every operation of [`Store`], failing with [`Closed`](StoreError::Closed) after
/// [`close`](WebStore::close).
impl SessionStore for WebStore {
    fn name(&self) -> &str {
        self.rt.store.name()
    }

    /// Every change to the store: this instance's as it writes them (before the operation
    /// resolves), and other instances', tabs' and workers' as they arrive (`local: false`).
    /// Dropping the [`Subscription`] unsubscribes; after close, nothing is called.
    fn subscribe(&self, callback: impl Fn(&StoreEvent) + 'static) -> Subscription {
        self.rt.listeners.subscribe(callback)
    }

    async fn create(&self, state: State, ttl: Ttl) -> Result<SessionRecord, StoreError> {
        self.check_open()?.create(state, ttl).await
    }

    async fn create_with_id(
        &self,
        id: &SessionId,
        state: State,
        ttl: Ttl,
    ) -> Result<SessionRecord, StoreError> {
        self.check_open()?.create_with_id(id, state, ttl).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.check_open()?.load(id).await
    }

    async fn load_many(&self, ids: &[SessionId]) -> Result<Vec<Option<SessionRecord>>, StoreError> {
        self.check_open()?.load_many(ids).await
    }

    async fn save_many(
        &self,
        entries: Vec<SaveEntry>,
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        self.check_open()?.save_many(entries).await
    }

    async fn save(&self, id: &SessionId, state: State) -> Result<u64, StoreError> {
        self.check_open()?.save(id, state).await
    }

    async fn save_if_version(
        &self,
        id: &SessionId,
        state: State,
        expected: u64,
    ) -> Result<u64, StoreError> {
        self.check_open()?
            .save_if_version(id, state, expected)
            .await
    }

    async fn update_ttl(&self, id: &SessionId, ttl_ms: Option<u64>) -> Result<(), StoreError> {
        self.check_open()?.update_ttl(id, ttl_ms).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.check_open()?.delete(id).await
    }

    async fn change_id(
        &self,
        old_id: &SessionId,
        new_id: Option<&SessionId>,
    ) -> Result<SessionId, StoreError> {
        self.check_open()?.change_id(old_id, new_id).await
    }

    async fn delete_expired(&self, batch_size: Option<NonZeroUsize>) -> Result<usize, StoreError> {
        self.check_open()?.delete_expired(batch_size).await
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        self.check_open()?.ids().await
    }

    async fn get_json(&self, id: &SessionId, key: &str) -> Result<Option<String>, StoreError> {
        self.check_open()?.get_json(id, key).await
    }

    async fn set_json(&self, id: &SessionId, key: &str, value: &str) -> Result<u64, StoreError> {
        self.check_open()?.set_json(id, key, value).await
    }

    async fn remove(&self, id: &SessionId, key: &str) -> Result<u64, StoreError> {
        self.check_open()?.remove(id, key).await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.check_open()?.clear().await
    }
}
