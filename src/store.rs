//! The [`SessionStore`] trait and the [`StoreOptions`] every store is opened with.

use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::event::{StoreEvent, Subscription};
use crate::id::{validate_store_name, SessionId};
use crate::record::{deserialize_error, serialize_error, SaveEntry, SessionRecord, State, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::any::type_name;
use std::num::NonZeroUsize;
use std::rc::Rc;

/// The largest integer JavaScript represents exactly (2^53 - 1); the bound for TTLs, intervals
/// and versions.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The default TTL of new sessions: one day.
pub const DEFAULT_TTL_MS: u64 = 86_400_000;

/// The default interval of the background sweep: one minute.
pub const DEFAULT_SWEEP_INTERVAL_MS: u64 = 60_000;

/// How a store behaves: its name, expiry policy and clock.
///
/// # Examples
/// ```
/// use wasm_session_store::{ManualClock, StoreOptions};
/// let options = StoreOptions::new()
///     .name("app")
///     .ttl_ms(Some(30 * 60 * 1000))
///     .sliding(true)
///     .max_lifetime_ms(Some(12 * 60 * 60 * 1000))
///     .clock(ManualClock::new(0));
/// assert!(options.validate().is_ok());
/// ```
#[derive(Clone)]
pub struct StoreOptions {
    name: String,
    ttl_ms: Option<u64>,
    sliding: bool,
    max_lifetime_ms: Option<u64>,
    sweep_interval_ms: Option<u64>,
    clock: Rc<dyn Clock>,
    #[cfg(target_arch = "wasm32")]
    encryption: Option<crate::crypto::Encryption>,
    state_version: u64,
    migrate: Option<Rc<Migrate>>,
    sync: Option<crate::sync::SyncOptions>,
}

/// What [`StoreOptions::migrate`] is given: a function from a stored state and the
/// `stateVersion` it was written with to the state of the current version.
pub type Migrate = dyn Fn(State, u64) -> Result<State, StoreError>;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            name: "sessions".into(),
            ttl_ms: Some(DEFAULT_TTL_MS),
            sliding: false,
            max_lifetime_ms: None,
            sweep_interval_ms: Some(DEFAULT_SWEEP_INTERVAL_MS),
            clock: Rc::new(SystemClock),
            #[cfg(target_arch = "wasm32")]
            encryption: None,
            state_version: 0,
            migrate: None,
            sync: None,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut f = f.debug_struct("StoreOptions");
        f.field("name", &self.name)
            .field("ttl_ms", &self.ttl_ms)
            .field("sliding", &self.sliding)
            .field("max_lifetime_ms", &self.max_lifetime_ms)
            .field("sweep_interval_ms", &self.sweep_interval_ms)
            .field("state_version", &self.state_version)
            .field("migrates", &self.migrate.is_some())
            .field("sync", &self.sync);
        #[cfg(target_arch = "wasm32")]
        f.field("encrypted", &self.encryption.is_some());
        f.finish_non_exhaustive()
    }
}

impl StoreOptions {
    /// The defaults: name `"sessions"`, TTL one day, not sliding, no lifetime cap, sweep every
    /// minute, the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Database name / key prefix: 1..=64 characters of `[A-Za-z0-9_.-]`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Default TTL of new sessions; `None` for sessions that never expire.
    pub fn ttl_ms(mut self, ttl_ms: Option<u64>) -> Self {
        self.ttl_ms = ttl_ms;
        self
    }

    /// Idle timeout: every successful load or write pushes the deadline to now + TTL.
    pub fn sliding(mut self, sliding: bool) -> Self {
        self.sliding = sliding;
        self
    }

    /// Absolute cap on a session's life, from its creation; sliding never passes it.
    pub fn max_lifetime_ms(mut self, max_lifetime_ms: Option<u64>) -> Self {
        self.max_lifetime_ms = max_lifetime_ms;
        self
    }

    /// Interval of the background sweep of expired sessions; `None` turns it off.
    pub fn sweep_interval_ms(mut self, sweep_interval_ms: Option<u64>) -> Self {
        self.sweep_interval_ms = sweep_interval_ms;
        self
    }

    /// Where the store gets the time (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Rc::new(clock);
        self
    }

    /// Like [`clock`](Self::clock), for a clock that is already shared.
    pub fn shared_clock(mut self, clock: Rc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Encrypts the states the store writes, and authenticates every field of its records but
    /// the deadline (browser only; see [`Encryption`](crate::Encryption)): records the key did
    /// not seal, plaintext ones included, are CORRUPT, and a store that has encrypted data
    /// refuses to open without this option. Open the store with
    /// [`WebStore::open`](crate::WebStore::open): the stores opened directly on a backend
    /// refuse it, as they cannot make or check a key.
    ///
    /// # Examples
    /// ```no_run
    /// use wasm_session_store::prelude::*;
    /// use wasm_session_store::Encryption;
    /// # async fn run() -> Result<(), StoreError> {
    /// let options = StoreOptions::new().name("app").encryption(Encryption::Device);
    /// let store = WebStore::open(options, BackendKind::Auto).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(target_arch = "wasm32")]
    pub fn encryption(mut self, encryption: crate::crypto::Encryption) -> Self {
        self.encryption = Some(encryption);
        self
    }

    /// How the store encrypts, if it does.
    #[cfg(target_arch = "wasm32")]
    pub fn get_encryption(&self) -> Option<&crate::crypto::Encryption> {
        self.encryption.as_ref()
    }

    /// The shape version of the state this app writes now (default 0): every write stores it
    /// with the record, and a record read with a lower one goes through
    /// [`migrate`](Self::migrate) first. Raise it when a release changes the shape of its
    /// state.
    ///
    /// A record written with a higher one (by a newer release of the app, in another tab)
    /// is [`Corrupt`](StoreError::Corrupt) to this store's reads, saying so; its writes
    /// replace it, stored with this store's version.
    pub fn state_version(mut self, state_version: u64) -> Self {
        self.state_version = state_version;
        self
    }

    /// Upgrades the state of a record written with a lower
    /// [`state_version`](Self::state_version): `migrate(state, from)` returns the state of the
    /// current version. It runs on every read of such a record (load, load_many, get, and the
    /// read of set and remove) before anything else sees the state; what it returns is what
    /// the caller gets, and it is stored (with the current `state_version`, version + 1) by the
    /// next write of that session. Reads never write it, and it must not have side effects (it
    /// may run more than once for one read).
    ///
    /// Without `migrate`, such records are returned as they were stored. When it fails with
    /// [`InvalidInput`](StoreError::InvalidInput) (what [`State::to_typed`] and
    /// [`State::from_typed`] give), the operation is `InvalidInput` carrying its reason and
    /// the session's id; another error it returns is the operation's as it is. Either way,
    /// nothing is written.
    ///
    /// # Examples
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use wasm_session_store::{State, StoreOptions};
    ///
    /// #[derive(Deserialize)]
    /// struct CartV1 { items: Vec<String> }
    /// #[derive(Serialize)]
    /// struct Line { sku: String, qty: u32 }
    /// #[derive(Serialize)]
    /// struct CartV2 { lines: Vec<Line> }
    ///
    /// let options = StoreOptions::new().state_version(2).migrate(|state, from| {
    ///     match from {
    ///         // Version 0 had no cart; version 1 a list of SKUs.
    ///         0 => State::from_typed(&CartV2 { lines: vec![] }),
    ///         1 => {
    ///             let old: CartV1 = state.to_typed()?;
    ///             let lines = old.items.into_iter().map(|sku| Line { sku, qty: 1 }).collect();
    ///             State::from_typed(&CartV2 { lines })
    ///         }
    ///         _ => Ok(state),
    ///     }
    /// });
    /// assert_eq!(options.get_state_version(), 2);
    /// ```
    pub fn migrate(
        mut self,
        migrate: impl Fn(State, u64) -> Result<State, StoreError> + 'static,
    ) -> Self {
        self.migrate = Some(Rc::new(migrate));
        self
    }

    /// The shape version of the state this app writes.
    pub fn get_state_version(&self) -> u64 {
        self.state_version
    }

    /// The migration of older states, if any.
    pub fn get_migrate(&self) -> Option<&Rc<Migrate>> {
        self.migrate.as_ref()
    }

    /// Syncs the store with a server (browser only: `WebStore` runs it):
    /// every local write is queued, in the same transaction, and pushed; the server's changes
    /// are pulled. See [`SyncOptions`](crate::SyncOptions).
    ///
    /// # Errors
    /// At [`validate`](Self::validate): INVALID_INPUT for a bad URL or pull period, a store
    /// named `.` or `..`, or `"device"` encryption (a device key never leaves its device).
    pub fn sync(mut self, sync: crate::sync::SyncOptions) -> Self {
        self.sync = Some(sync);
        self
    }

    /// The sync options, if the store syncs.
    pub fn get_sync(&self) -> Option<&crate::sync::SyncOptions> {
        self.sync.as_ref()
    }

    /// The store name.
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// The default TTL of new sessions.
    pub fn get_ttl_ms(&self) -> Option<u64> {
        self.ttl_ms
    }

    /// Whether expiry slides on every access.
    pub fn is_sliding(&self) -> bool {
        self.sliding
    }

    /// The absolute lifetime cap.
    pub fn get_max_lifetime_ms(&self) -> Option<u64> {
        self.max_lifetime_ms
    }

    /// The sweep interval.
    pub fn get_sweep_interval_ms(&self) -> Option<u64> {
        self.sweep_interval_ms
    }

    /// The clock.
    pub fn get_clock(&self) -> &Rc<dyn Clock> {
        &self.clock
    }

    /// Checks every option.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) for a malformed name, or a TTL, lifetime or
    /// interval that is not a positive safe integer.
    pub fn validate(&self) -> Result<(), StoreError> {
        validate_store_name(&self.name)?;
        check_positive("ttlMs", self.ttl_ms)?;
        check_positive("maxLifetimeMs", self.max_lifetime_ms)?;
        check_positive("sweepIntervalMs", self.sweep_interval_ms)?;
        if let Some(sync) = &self.sync {
            sync.validate()?;
            if matches!(self.name.as_str(), "." | "..") {
                return Err(StoreError::invalid(
                    "a store named \".\" or \"..\" cannot sync: the name is a path segment on the server",
                ));
            }
            #[cfg(target_arch = "wasm32")]
            if matches!(self.encryption, Some(crate::crypto::Encryption::Device)) {
                return Err(StoreError::invalid(
                    "encryption \"device\" cannot sync: a device key never leaves its device \
                     (use { key } to sync encrypted states)",
                ));
            }
        }
        Ok(())
    }
}

/// Checks that `value`, when present, is a positive safe integer.
pub(crate) fn check_positive(what: &'static str, value: Option<u64>) -> Result<(), StoreError> {
    match value {
        Some(v) if v == 0 || v > MAX_SAFE_INTEGER => {
            let mut reason = String::from(what);
            reason.push_str(" must be a positive safe integer (1 to 2^53-1) or null");
            Err(StoreError::invalid(reason))
        }
        _ => Ok(()),
    }
}

/// A session store: the one operation set every backend offers, with the same behaviour for
/// missing, expired and conflicting records on each.
///
/// An expired session (`now >= expires_at`) is invisible to every operation: reads see nothing,
/// writes give [`NotFound`](StoreError::NotFound), and creating its id succeeds. Every
/// read-check-write is atomic. Futures are not `Send`, so browser backends can implement it.
///
/// Errors common to all methods: [`Corrupt`](StoreError::Corrupt) when the record of the id
/// cannot be decoded, [`QuotaExceeded`](StoreError::QuotaExceeded) when storage is full (the
/// previous record stays intact), [`Unavailable`](StoreError::Unavailable) when the storage
/// failed, [`Closed`](StoreError::Closed) after close.
#[allow(async_fn_in_trait)]
pub trait SessionStore {
    /// The store name (database name / key prefix).
    fn name(&self) -> &str;

    /// Creates a session with a generated id, version 1.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) for a TTL that is not a positive safe integer.
    async fn create(&self, state: State, ttl: Ttl) -> Result<SessionRecord, StoreError>;

    /// Creates a session with the given id, version 1, replacing an expired one.
    ///
    /// # Errors
    /// [`AlreadyExists`](StoreError::AlreadyExists) when a live session has `id`;
    /// [`InvalidInput`](StoreError::InvalidInput) for a bad TTL.
    async fn create_with_id(
        &self,
        id: &SessionId,
        state: State,
        ttl: Ttl,
    ) -> Result<SessionRecord, StoreError>;

    /// The live session, or `None` when it is missing or expired. With sliding expiry, also
    /// moves its deadline (the returned record shows the moved deadline).
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;

    /// The live sessions of `ids`, in the same order (`None` where missing or expired), read
    /// in one transaction. With sliding expiry, moves each one's deadline, as [`load`] does.
    ///
    /// [`load`]: SessionStore::load
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) when an id appears twice;
    /// [`Corrupt`](StoreError::Corrupt) for the first id whose record cannot be decoded.
    async fn load_many(&self, ids: &[SessionId]) -> Result<Vec<Option<SessionRecord>>, StoreError>;

    /// Writes many sessions in one transaction: each entry as [`save`] (no `expected`) or
    /// [`save_if_version`] would, with a result per entry in the same order.
    ///
    /// Not all-or-nothing: an entry that fails its version check (or whose record is corrupt)
    /// gets its own error and is not written, and the others are; the entries that succeed are
    /// committed together, so other tabs see all of them or none. A failure of the whole
    /// transaction (e.g. [`QuotaExceeded`](StoreError::QuotaExceeded)) writes nothing and is the
    /// call's error.
    ///
    /// [`save`]: SessionStore::save
    /// [`save_if_version`]: SessionStore::save_if_version
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) when an id appears twice or an `expected`
    /// is above 2^53-1 (nothing is written).
    async fn save_many(
        &self,
        entries: Vec<SaveEntry>,
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError>;

    /// Replaces the state unconditionally and returns the new version; creates the session
    /// (version 1, the store's TTL) when it is missing or expired.
    async fn save(&self, id: &SessionId, state: State) -> Result<u64, StoreError>;

    /// Replaces the state only if the live version is `expected` (0: must not exist, creates
    /// it) and returns the new version.
    ///
    /// # Errors
    /// [`VersionConflict`](StoreError::VersionConflict) with `expected` and `actual` (0 when
    /// missing or expired) otherwise.
    async fn save_if_version(
        &self,
        id: &SessionId,
        state: State,
        expected: u64,
    ) -> Result<u64, StoreError>;

    /// Sets the session's TTL and its deadline to now + `ttl_ms` (`None`: no deadline), both
    /// under the store's lifetime cap. Keeps the version.
    ///
    /// # Errors
    /// [`NotFound`](StoreError::NotFound) when missing or expired;
    /// [`InvalidInput`](StoreError::InvalidInput) for a TTL that is not a positive safe integer.
    async fn update_ttl(&self, id: &SessionId, ttl_ms: Option<u64>) -> Result<(), StoreError>;

    /// Deletes the session; whether a live (or unreadable) record was removed.
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// Atomically moves a session to `new_id` (generated when `None`), keeping its state,
    /// version, times and TTL. Returns the new id.
    ///
    /// # Errors
    /// [`NotFound`](StoreError::NotFound) when `old_id` is missing or expired;
    /// [`AlreadyExists`](StoreError::AlreadyExists) when `new_id` is live;
    /// [`InvalidInput`](StoreError::InvalidInput) when `new_id == old_id`.
    async fn change_id(
        &self,
        old_id: &SessionId,
        new_id: Option<&SessionId>,
    ) -> Result<SessionId, StoreError>;

    /// Removes expired sessions, at most `batch_size` of them when given; how many it removed.
    /// Unreadable records are skipped.
    async fn delete_expired(&self, batch_size: Option<NonZeroUsize>) -> Result<usize, StoreError>;

    /// The ids of live sessions, in no particular order (unreadable records are left out).
    async fn ids(&self) -> Result<Vec<SessionId>, StoreError>;

    /// The JSON text of one value of the state; `None` when the key is absent.
    ///
    /// # Errors
    /// [`NotFound`](StoreError::NotFound) when the session is missing or expired;
    /// [`InvalidInput`](StoreError::InvalidInput) for an empty key.
    async fn get_json(&self, id: &SessionId, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets one key of the state to the JSON value `value` (its text); the new version.
    ///
    /// # Errors
    /// [`NotFound`](StoreError::NotFound) when the session is missing or expired;
    /// [`InvalidInput`](StoreError::InvalidInput) for an empty key, or a `value` that is not
    /// JSON nesting at most 511 levels.
    async fn set_json(&self, id: &SessionId, key: &str, value: &str) -> Result<u64, StoreError>;

    /// One value of the state; `None` when the key is absent.
    ///
    /// # Errors
    /// As [`get_json`](Self::get_json).
    async fn get(&self, id: &SessionId, key: &str) -> Result<Option<Value>, StoreError> {
        let text = self.get_json(id, key).await?;
        Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Sets one key of the state; the new version.
    ///
    /// # Errors
    /// As [`set_json`](Self::set_json).
    async fn set(&self, id: &SessionId, key: &str, value: Value) -> Result<u64, StoreError> {
        let text = serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
        self.set_json(id, key, &text).await
    }

    /// Creates a session with a generated id from a typed state (serde): [`create`] with
    /// [`State::from_typed`].
    ///
    /// [`create`]: SessionStore::create
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) when `state` does not serialize to a JSON
    /// object (nothing is written); otherwise as [`create`].
    ///
    /// # Examples
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use wasm_session_store::prelude::*;
    ///
    /// #[derive(Serialize, Deserialize, PartialEq, Debug)]
    /// struct Cart {
    ///     items: Vec<String>,
    /// }
    ///
    /// # pollster::block_on(async {
    /// let store = MemoryStore::open(StoreOptions::new()).unwrap();
    /// let cart = Cart { items: vec!["apple".into()] };
    /// let rec = store.create_from(&cart, Ttl::StoreDefault).await?;
    /// assert_eq!(rec.state_as::<Cart>()?, cart);
    ///
    /// let v = store.set_as(&rec.id, "coupon", &"SPRING").await?;
    /// let coupon: Option<String> = store.get_as(&rec.id, "coupon").await?;
    /// assert_eq!((v, coupon.as_deref()), (2, Some("SPRING")));
    ///
    /// // A write based on a stale version is refused, typed or not.
    /// let err = store.save_if_version_from(&rec.id, &cart, 1).await.unwrap_err();
    /// assert_eq!(err.code(), ErrorCode::VersionConflict);
    /// # Ok::<(), StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn create_from<T: Serialize + ?Sized>(
        &self,
        state: &T,
        ttl: Ttl,
    ) -> Result<SessionRecord, StoreError> {
        let state = State::from_typed(state)?;
        self.create(state, ttl).await
    }

    /// Creates a session with the given id from a typed state: [`create_with_id`] with
    /// [`State::from_typed`].
    ///
    /// [`create_with_id`]: SessionStore::create_with_id
    ///
    /// # Errors
    /// As [`create_from`](Self::create_from) and [`create_with_id`].
    async fn create_with_id_from<T: Serialize + ?Sized>(
        &self,
        id: &SessionId,
        state: &T,
        ttl: Ttl,
    ) -> Result<SessionRecord, StoreError> {
        let state = State::from_typed(state)?;
        self.create_with_id(id, state, ttl).await
    }

    /// Replaces the state with a typed one: [`save`] with [`State::from_typed`].
    ///
    /// [`save`]: SessionStore::save
    ///
    /// # Errors
    /// As [`create_from`](Self::create_from) and [`save`].
    async fn save_from<T: Serialize + ?Sized>(
        &self,
        id: &SessionId,
        state: &T,
    ) -> Result<u64, StoreError> {
        let state = State::from_typed(state)?;
        self.save(id, state).await
    }

    /// Replaces the state with a typed one if the live version is `expected`:
    /// [`save_if_version`] with [`State::from_typed`].
    ///
    /// [`save_if_version`]: SessionStore::save_if_version
    ///
    /// # Errors
    /// As [`create_from`](Self::create_from) and [`save_if_version`]
    /// ([`VersionConflict`](StoreError::VersionConflict)).
    async fn save_if_version_from<T: Serialize + ?Sized>(
        &self,
        id: &SessionId,
        state: &T,
        expected: u64,
    ) -> Result<u64, StoreError> {
        let state = State::from_typed(state)?;
        self.save_if_version(id, state, expected).await
    }

    /// Changes a typed state safely against concurrent writers (other tabs, workers, tasks):
    /// reads the live session's state as a `T`, calls `change` on it, and writes the result
    /// with compare-and-swap on the version read ([`save_if_version`]). When another writer
    /// got in between, it reads again and calls `change` on the fresh state, up to
    /// [`UPDATE_ATTEMPTS`] times in all, so `change` should only compute: it may run more
    /// than once, each time on the latest state. Resolves to the state written and its
    /// version. As with [`save_from`](Self::save_from), the whole state becomes `T`'s
    /// serialization: keys that `T` does not have are dropped.
    ///
    /// [`save_if_version`]: SessionStore::save_if_version
    ///
    /// # Errors
    /// [`NotFound`](StoreError::NotFound) when no live session has the id (also when it
    /// expired between attempts); [`InvalidInput`](StoreError::InvalidInput) when the stored
    /// state is not a `T`, or the changed one does not serialize to a JSON object (nothing is
    /// written); [`VersionConflict`](StoreError::VersionConflict) when other writers won
    /// every attempt; otherwise as [`load`](Self::load) and [`save_if_version`].
    ///
    /// # Examples
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use wasm_session_store::prelude::*;
    ///
    /// #[derive(Serialize, Deserialize, Default)]
    /// struct Cart {
    ///     items: Vec<String>,
    /// }
    ///
    /// # pollster::block_on(async {
    /// let store = MemoryStore::open(StoreOptions::new()).unwrap();
    /// let rec = store.create_from(&Cart::default(), Ttl::StoreDefault).await?;
    /// let (cart, version) = store
    ///     .update_as(&rec.id, |cart: &mut Cart| cart.items.push("apple".into()))
    ///     .await?;
    /// assert_eq!((cart.items.len(), version), (1, 2));
    /// # Ok::<(), StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn update_as<T, F>(&self, id: &SessionId, mut change: F) -> Result<(T, u64), StoreError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(&mut T),
    {
        let mut attempt = 1;
        loop {
            let record = self.load(id).await?.ok_or_else(|| StoreError::NotFound {
                id: id.as_str().to_owned(),
            })?;
            let mut state: T = record.state_as()?;
            change(&mut state);
            match self.save_if_version_from(id, &state, record.version).await {
                Ok(version) => return Ok((state, version)),
                Err(StoreError::VersionConflict { .. }) if attempt < UPDATE_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One value of the state as a `T` (serde); `None` when the key is absent.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) naming the key, the type and serde's reason
    /// when the stored value does not deserialize into `T`; otherwise as
    /// [`get_json`](Self::get_json).
    async fn get_as<T: DeserializeOwned>(
        &self,
        id: &SessionId,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(text) = self.get_json(id, key).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| deserialize_error(&key_label(key), type_name::<T>(), &e))
    }

    /// Sets one key of the state to a typed value (serde); the new version.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) naming the key, the type and serde's reason
    /// when `value` does not serialize to JSON (nothing is written); otherwise as
    /// [`set_json`](Self::set_json).
    async fn set_as<T: Serialize + ?Sized>(
        &self,
        id: &SessionId,
        key: &str,
        value: &T,
    ) -> Result<u64, StoreError> {
        let text = serde_json::to_string(value)
            .map_err(|e| serialize_error(&key_label(key), type_name::<T>(), &e))?;
        self.set_json(id, key, &text).await
    }

    /// Removes one key of the state; the new version, or the current one (nothing written,
    /// not even a sliding deadline) when the key was absent.
    ///
    /// # Errors
    /// [`NotFound`](StoreError::NotFound) when the session is missing or expired;
    /// [`InvalidInput`](StoreError::InvalidInput) for an empty key.
    async fn remove(&self, id: &SessionId, key: &str) -> Result<u64, StoreError>;

    /// Removes every session of this store (and only this store's data), unreadable ones too.
    async fn clear(&self) -> Result<(), StoreError>;

    /// Calls `callback` with every change this instance makes ([`StoreEvent`]: created, saved,
    /// ttlUpdated, deleted, expired, idChanged, cleared), in write order, once the change is
    /// applied and before the operation resolves. Dropping the [`Subscription`] unsubscribes.
    ///
    /// # Examples
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use wasm_session_store::{EventKind, MemoryStore, SessionStore, StoreOptions, Ttl};
    /// # pollster::block_on(async {
    /// let store = MemoryStore::open(StoreOptions::new()).unwrap();
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let sink = seen.clone();
    /// let _subscription = store.subscribe(move |e| sink.borrow_mut().push((e.kind, e.version)));
    /// let record = store.create(Default::default(), Ttl::StoreDefault).await.unwrap();
    /// store.delete(&record.id).await.unwrap();
    /// assert_eq!(*seen.borrow(), [(EventKind::Created, Some(1)), (EventKind::Deleted, Some(1))]);
    /// # });
    /// ```
    fn subscribe(&self, callback: impl Fn(&StoreEvent) + 'static) -> Subscription;
}

/// How many times [`SessionStore::update_as`] reads, changes and tries to write a state
/// before it gives up with [`VersionConflict`](StoreError::VersionConflict).
///
/// Generous on purpose: each conflict means another writer's change landed, and a writer
/// that keeps losing to one busy writer (which re-reads right after each of its own writes)
/// can lose once per write of that burst.
pub const UPDATE_ATTEMPTS: u32 = 32;

/// `key "<key>"`, for errors about one key's value.
fn key_label(key: &str) -> String {
    let mut label = String::from("key \"");
    label.push_str(key);
    label.push('"');
    label
}
