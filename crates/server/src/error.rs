//! [`ApiError`]: every refusal of the HTTP API, mapped to its status and `{ code, message }`
//! body in one place ([`ApiError::status`], and the service's `respond`), never chosen in a
//! handler.

use crate::json::record_json;
use wasm_session_store::{ErrorCode, SessionRecord, StoreError};

/// A record as answered: the record and its ETag (the stamp it was stored with).
#[derive(Clone, Debug, PartialEq)]
pub struct Tagged {
    /// The record, with the server's version.
    pub record: SessionRecord,
    /// Its ETag, unquoted.
    pub etag: String,
}

impl Tagged {
    /// The record as the JSON object of the contract (`enc` in place of `state` when sealed).
    pub fn json(&self) -> String {
        record_json(&self.record)
    }
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// An error of the store (its code decides the status).
    Store(StoreError),
    /// 412: the precondition failed; `current` is the live record (`None`: missing or
    /// expired). `exists` says which code: ALREADY_EXISTS for `If-None-Match: *`.
    Precondition {
        /// The live record (boxed: errors stay small on every path).
        current: Option<Box<Tagged>>,
        /// Whether the write asked for an absent session (`If-None-Match: *`).
        exists: bool,
    },
    /// 404 NOT_FOUND, with where the session moved to (for 24 hours after a move).
    NotFound {
        /// The session id asked for.
        id: String,
        /// Where it moved.
        moved_to: Option<String>,
    },
    /// 401 UNAUTHORIZED.
    Unauthorized(String),
    /// 413: the body is over the limit.
    TooLarge(String),
    /// 400: the request's headers are over the limit (bad input like any other: the contract's
    /// refusals of input are 400, 413 for bodies, and 401).
    HeadersTooLarge(usize),
    /// 428: a write without `If-Match` or `If-None-Match`.
    PreconditionRequired,
    /// 410: the cursor is older than the feed keeps, or of another feed.
    CursorExpired(String),
    /// 404 for a path the API does not have, 405 for a method it does not take there.
    NoRoute(u16),
    /// 500: the handler failed (a bug); the server goes on serving.
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

impl ApiError {
    /// 400 INVALID_INPUT.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Store(StoreError::invalid(message.into()))
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Store(e) => match e.code() {
                ErrorCode::NotFound => 404,
                ErrorCode::AlreadyExists => 409,
                ErrorCode::VersionConflict => 412,
                ErrorCode::InvalidInput => 400,
                ErrorCode::Corrupt => 500,
                // Unavailable, QuotaExceeded, Blocked, Closed: try again later.
                _ => 503,
            },
            ApiError::Precondition { .. } => 412,
            ApiError::NotFound { .. } => 404,
            ApiError::Unauthorized(_) => 401,
            ApiError::TooLarge(_) => 413,
            ApiError::HeadersTooLarge(_) => 400,
            ApiError::PreconditionRequired => 428,
            ApiError::CursorExpired(_) => 410,
            ApiError::NoRoute(status) => *status,
            ApiError::Internal => 500,
        }
    }

    /// Whether the answer says when to try again (`Retry-After`): 503s.
    pub fn retry_after(&self) -> Option<u32> {
        (self.status() == 503).then_some(1)
    }

    /// The ETag header of the answer: a 412's current record's.
    pub fn etag(&self) -> Option<&str> {
        match self {
            ApiError::Precondition {
                current: Some(c), ..
            } => Some(&c.etag),
            _ => None,
        }
    }

    /// The body: `{ code, message }`, with `current` on a 412 and `movedTo` on a 404 after a
    /// move.
    pub fn body(&self) -> String {
        let (code, message): (&str, String) = match self {
            ApiError::Store(e) => (e.code().as_str(), e.message()),
            ApiError::Precondition {
                exists: true,
                current,
            } => (
                "ALREADY_EXISTS",
                match current {
                    Some(_) => "a live session has this id: If-None-Match: * creates only".into(),
                    None => "the session was created meanwhile".into(),
                },
            ),
            ApiError::Precondition { current, .. } => (
                "VERSION_CONFLICT",
                match current {
                    Some(_) => {
                        "the session changed since this ETag: `current` is what it is now".into()
                    }
                    None => "the session is missing or expired".into(),
                },
            ),
            ApiError::NotFound { id, moved_to } => (
                "NOT_FOUND",
                match moved_to {
                    Some(to) => format!("session {id} moved to {to}"),
                    None => format!("no session {id} (missing, deleted or expired)"),
                },
            ),
            ApiError::Unauthorized(why) => ("UNAUTHORIZED", why.clone()),
            ApiError::TooLarge(why) => ("INVALID_INPUT", why.clone()),
            ApiError::HeadersTooLarge(limit) => (
                "INVALID_INPUT",
                format!("the request's headers are over {limit} bytes"),
            ),
            ApiError::PreconditionRequired => (
                "PRECONDITION_REQUIRED",
                "a write needs If-Match: <etag>, or If-None-Match: * to create".into(),
            ),
            ApiError::CursorExpired(why) => ("CURSOR_EXPIRED", why.clone()),
            ApiError::NoRoute(405) => ("INVALID_INPUT", "method not allowed on this path".into()),
            ApiError::NoRoute(_) => (
                "NOT_FOUND",
                "no such path: the API is under /v1/stores/{name}/".into(),
            ),
            ApiError::Internal => (
                "UNAVAILABLE",
                "the server failed on this request (a bug, logged); it goes on serving".into(),
            ),
        };
        let mut out = String::with_capacity(64 + message.len());
        out.push_str("{\"code\":");
        crate::json::push_str(&mut out, code);
        out.push_str(",\"message\":");
        crate::json::push_str(&mut out, &message);
        match self {
            ApiError::Precondition { current, .. } => {
                out.push_str(",\"current\":");
                match current {
                    Some(c) => out.push_str(&c.json()),
                    None => out.push_str("null"),
                }
            }
            ApiError::NotFound {
                moved_to: Some(to), ..
            } => {
                out.push_str(",\"movedTo\":");
                crate::json::push_str(&mut out, to);
            }
            _ => {}
        }
        out.push('}');
        out
    }
}
