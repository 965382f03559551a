//! Sync to a server: the options ([`SyncOptions`]), what a pass reports ([`SyncReport`],
//! [`SyncStatus`]), and, in the browser, the runtime that pushes the queue and pulls changes.
//!
//! A synced store keeps, beside each session, a queue row (the engine's `queue` module): the
//! server's ETag of the version it last synced, and the Idempotency-Key of the change queued
//! since, written in the same transaction as the session. A pass pushes every queued change
//! with `If-Match` on the ETag it was based on (the server's compare-and-swap decides), settles
//! a 412 by the [`Conflict`] policy, then reads the server's changes and applies them as local
//! writes (`remote: true`), never over a session whose change is still queued.

use crate::error::StoreError;
use crate::record::{SessionRecord, State};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

#[cfg(target_arch = "wasm32")]
pub(crate) mod pass;
#[cfg(target_arch = "wasm32")]
pub(crate) mod runtime;

/// The default period of pulls: 30 s.
pub const DEFAULT_SYNC_INTERVAL_MS: u64 = 30_000;

/// What [`SyncOptions::headers`] is given: a function called once per pass, before its first
/// request, whose headers (`Authorization`, say) go on every request of the pass. Its error
/// fails the pass with UNAUTHORIZED.
pub type HeadersFn =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Vec<(String, String)>, StoreError>>>>;

/// What [`Conflict::Resolve`] is given: `(local, remote)`, each `None` when deleted, to the
/// state to push over the server's current version, or `None` to delete the session. An
/// error (or, in JS, a throw or a value that is not a state) is a `syncError` INVALID_INPUT,
/// and the session stays queued.
pub type ResolveFn =
    dyn Fn(Option<&SessionRecord>, Option<&SessionRecord>) -> Result<Option<State>, StoreError>;

/// How a synced store settles a conflict: a push refused with 412 because the server's
/// version moved since the one the change was based on.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Conflict {
    /// The local session takes the server's record (or is deleted when the server's is gone).
    #[default]
    Server,
    /// The local state is pushed again, over the server's current version (or created when
    /// it is gone).
    Client,
    /// A function of both records decides the state to push (see [`ResolveFn`]).
    Resolve(Rc<ResolveFn>),
}

impl std::fmt::Debug for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conflict::Server => "Server",
            Conflict::Client => "Client",
            Conflict::Resolve(_) => "Resolve(..)",
        })
    }
}

/// Sync to a server, set with [`StoreOptions::sync`](crate::StoreOptions::sync): where, with
/// which headers, how often to pull, and how to settle conflicts.
///
/// # Examples
/// ```
/// use wasm_session_store::{Conflict, StoreOptions, SyncOptions};
/// let options = StoreOptions::new().name("app").sync(
///     SyncOptions::new("https://api.example.com")
///         .interval_ms(Some(60_000))
///         .conflict(Conflict::Client),
/// );
/// assert!(options.validate().is_ok());
/// ```
#[derive(Clone)]
pub struct SyncOptions {
    url: String,
    headers: Option<Rc<HeadersFn>>,
    interval_ms: Option<u64>,
    conflict: Conflict,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("url", &self.url)
            .field("headers", &self.headers.is_some())
            .field("interval_ms", &self.interval_ms)
            .field("conflict", &self.conflict)
            .finish()
    }
}

impl SyncOptions {
    /// Sync with the server at `url` (absolute http or https; the store adds
    /// `/v1/stores/<name>/...`), pulling every 30 s, the server's record winning conflicts.
    pub fn new(url: impl Into<String>) -> Self {
        SyncOptions {
            url: url.into(),
            headers: None,
            interval_ms: Some(DEFAULT_SYNC_INTERVAL_MS),
            conflict: Conflict::Server,
        }
    }

    /// The headers of every request of a pass (see [`HeadersFn`]).
    pub fn headers<F, Fut>(mut self, headers: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<Vec<(String, String)>, StoreError>> + 'static,
    {
        self.headers = Some(Rc::new(move || Box::pin(headers())));
        self
    }

    /// Like [`headers`](Self::headers), for a function that is already shared.
    pub fn shared_headers(mut self, headers: Rc<HeadersFn>) -> Self {
        self.headers = Some(headers);
        self
    }

    /// How often to pull (a positive safe integer of ms); `None`: only in `sync_now`.
    pub fn interval_ms(mut self, interval_ms: Option<u64>) -> Self {
        self.interval_ms = interval_ms;
        self
    }

    /// How to settle conflicts ([`Conflict::Server`] unless set).
    pub fn conflict(mut self, conflict: Conflict) -> Self {
        self.conflict = conflict;
        self
    }

    /// The server's URL, as given.
    pub fn get_url(&self) -> &str {
        &self.url
    }

    /// The headers function, if any.
    pub fn get_headers(&self) -> Option<&Rc<HeadersFn>> {
        self.headers.as_ref()
    }

    /// The pull period.
    pub fn get_interval_ms(&self) -> Option<u64> {
        self.interval_ms
    }

    /// The conflict policy.
    pub fn get_conflict(&self) -> &Conflict {
        &self.conflict
    }

    /// INVALID_INPUT for a `url` that is not an absolute http(s) URL, or a pull period that is
    /// not a positive safe integer.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        crate::store::check_positive("sync.intervalMs", self.interval_ms)?;
        let rest = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        let ok = host.is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace))
            && !self.url.contains(['?', '#'])
            && !self.url.chars().any(|c| c.is_control() || c == ' ');
        if ok {
            Ok(())
        } else {
            Err(StoreError::invalid(
                "sync.url must be an absolute http or https URL, with no query or fragment",
            ))
        }
    }
}

/// What a sync pass did: counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Sessions whose queued change the server took (conflicts settled included).
    pub pushed: usize,
    /// Sessions written locally from the server's changes.
    pub pulled: usize,
    /// Conflicts settled.
    pub conflicts: usize,
    /// Sessions still queued after the pass.
    pub pending: usize,
}

/// A failure of sync, as [`SyncStatus::last_error`] keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncError {
    /// The error's code (`UNAVAILABLE`, `UNAUTHORIZED`, or the server's for a refused session).
    pub code: String,
    /// What happened.
    pub message: String,
}

/// Where sync stands, as `WebStore::sync_status` reads it from the
/// queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncStatus {
    /// Sessions with a change queued.
    pub pending: usize,
    /// When the last pass that completed ended (the store's clock, ms since the epoch).
    pub last_sync_at: Option<u64>,
    /// The last failure (of a pass, or of a session's push), until a pass completes with none.
    pub last_error: Option<SyncError>,
}
