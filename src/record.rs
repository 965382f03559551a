//! [`SessionRecord`] and the types its fields are made of.

use crate::id::SessionId;

/// A session's state: string keys to JSON values.
pub type State = serde_json::Map<String, serde_json::Value>;

/// One session as stored.
///
/// All times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    /// The session id.
    pub id: SessionId,
    /// The session data.
    pub state: State,
    /// 1 on create, +1 on every write to `state`; TTL and id changes keep it.
    pub version: u64,
    /// When the session was created.
    pub created_at: u64,
    /// When `state` was last written.
    pub updated_at: u64,
    /// The absolute deadline; `None` never expires. Expired when `now >= expires_at`.
    pub expires_at: Option<u64>,
    /// The session's own TTL, which sliding expiry uses; `None` for no TTL.
    pub ttl_ms: Option<u64>,
}

impl SessionRecord {
    /// Whether the record is expired at `now_ms` (`now >= expires_at`).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|at| now_ms >= at)
    }
}

/// One write of [`save_many`](crate::SessionStore::save_many): a whole state for `id`,
/// unconditional (as [`save`](crate::SessionStore::save)) when `expected` is `None`, else a
/// compare-and-swap (as [`save_if_version`](crate::SessionStore::save_if_version)).
#[derive(Clone, Debug, PartialEq)]
pub struct SaveEntry {
    /// The session to write.
    pub id: SessionId,
    /// Its new state.
    pub state: State,
    /// The version the live session must have (0: must not exist); `None` for no check.
    pub expected: Option<u64>,
}

/// The TTL a new session gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ttl {
    /// The store's `ttl_ms` option.
    #[default]
    StoreDefault,
    /// No TTL: the session never expires (unless the store caps lifetimes).
    Never,
    /// This many milliseconds (a positive safe integer).
    Millis(u64),
}
