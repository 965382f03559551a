//! [`StoreError`]: every way an operation can fail, each with a stable [`ErrorCode`].
//!
//! Messages are built with plain string pushes rather than `format!`, so that using an error on
//! the wasm path does not pull `core::fmt` into the binary (about 8 KB gzipped).

use std::borrow::Cow;

/// The stable, machine-readable kind of a [`StoreError`], shared with JavaScript as `error.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The session does not exist or has expired.
    NotFound,
    /// A live session already has that id.
    AlreadyExists,
    /// A compare-and-swap saw a different version than the caller expected.
    VersionConflict,
    /// An argument or option is malformed; nothing was written.
    InvalidInput,
    /// The storage is full; the previous version of the record is intact.
    QuotaExceeded,
    /// A stored record cannot be decoded (or was written by a newer format version).
    Corrupt,
    /// The storage cannot be used at all (blocked by policy, missing in this context).
    Unavailable,
    /// Opening the database was blocked by another connection past the timeout.
    Blocked,
    /// The store was closed.
    Closed,
    /// Sync: the server refused the credentials (401 or 403), or the `headers` option failed.
    Unauthorized,
}

impl ErrorCode {
    /// The code as JavaScript sees it: `"NOT_FOUND"`, `"VERSION_CONFLICT"`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::VersionConflict => "VERSION_CONFLICT",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorCode::Corrupt => "CORRUPT",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Blocked => "BLOCKED",
            ErrorCode::Closed => "CLOSED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
        }
    }
}

/// Why an operation of a [`SessionStore`](crate::SessionStore) failed.
///
/// Match on [`code()`](StoreError::code) (stable) rather than on variants: new variants may be
/// added. Every failed operation leaves stored data as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// No live session has this id (it is missing or has expired).
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// A live session already has this id.
    AlreadyExists {
        /// The id that is taken.
        id: String,
    },
    /// `save_if_version` expected one version and found another (0 = no live record).
    VersionConflict {
        /// The session id.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The version actually stored (0 when missing or expired).
        actual: u64,
    },
    /// An argument or option is malformed.
    InvalidInput {
        /// What is wrong and what is allowed.
        reason: Cow<'static, str>,
    },
    /// The storage quota is exhausted.
    QuotaExceeded {
        /// What the browser said.
        reason: Cow<'static, str>,
        /// The browser's exception ("QuotaExceededError"), when one was thrown.
        cause: Option<BrowserException>,
    },
    /// The stored record for `id` cannot be decoded.
    Corrupt {
        /// The session id whose record is unreadable.
        id: String,
        /// Why it could not be decoded.
        reason: Cow<'static, str>,
    },
    /// The storage cannot be used here.
    Unavailable {
        /// Why, as far as it can be told.
        reason: Cow<'static, str>,
        /// The browser's exception ("SecurityError", "InvalidStateError", ...), when one was
        /// thrown.
        cause: Option<BrowserException>,
    },
    /// Opening the database was blocked by another connection.
    Blocked {
        /// What blocked it and how long was waited.
        reason: Cow<'static, str>,
    },
    /// The store was closed with `close()`.
    Closed,
    /// Sync: the server refused the credentials, or the `headers` option failed.
    Unauthorized {
        /// What the server or the option said.
        reason: Cow<'static, str>,
    },
    /// Sync: the server could not be reached or read, failed, or asked to wait (code
    /// [`Unavailable`](ErrorCode::Unavailable)).
    SyncUnavailable {
        /// What happened.
        reason: Cow<'static, str>,
    },
}

impl StoreError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::AlreadyExists { .. } => ErrorCode::AlreadyExists,
            StoreError::VersionConflict { .. } => ErrorCode::VersionConflict,
            StoreError::InvalidInput { .. } => ErrorCode::InvalidInput,
            StoreError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            StoreError::Corrupt { .. } => ErrorCode::Corrupt,
            StoreError::Unavailable { .. } => ErrorCode::Unavailable,
            StoreError::Blocked { .. } => ErrorCode::Blocked,
            StoreError::Closed => ErrorCode::Closed,
            StoreError::Unauthorized { .. } => ErrorCode::Unauthorized,
            StoreError::SyncUnavailable { .. } => ErrorCode::Unavailable,
        }
    }

    /// An [`InvalidInput`](StoreError::InvalidInput) error with this reason.
    pub fn invalid(reason: impl Into<Cow<'static, str>>) -> Self {
        StoreError::InvalidInput {
            reason: reason.into(),
        }
    }

    /// An [`Unavailable`](StoreError::Unavailable) error with this reason and no exception
    /// behind it.
    pub fn unavailable(reason: impl Into<Cow<'static, str>>) -> Self {
        StoreError::Unavailable {
            reason: reason.into(),
            cause: None,
        }
    }

    /// A [`SyncUnavailable`](StoreError::SyncUnavailable) error with this reason.
    pub fn sync_unavailable(reason: impl Into<Cow<'static, str>>) -> Self {
        StoreError::SyncUnavailable {
            reason: reason.into(),
        }
    }

    /// An [`Unauthorized`](StoreError::Unauthorized) error with this reason.
    pub fn unauthorized(reason: impl Into<Cow<'static, str>>) -> Self {
        StoreError::Unauthorized {
            reason: reason.into(),
        }
    }

    /// The browser exception this error comes from, if any (also [`source`]).
    ///
    /// [`source`]: std::error::Error::source
    pub fn cause(&self) -> Option<&BrowserException> {
        match self {
            StoreError::QuotaExceeded { cause, .. } | StoreError::Unavailable { cause, .. } => {
                cause.as_ref()
            }
            _ => None,
        }
    }

    /// A [`Corrupt`](StoreError::Corrupt) error for `id`.
    pub fn corrupt(id: &str, reason: impl Into<Cow<'static, str>>) -> Self {
        StoreError::Corrupt {
            id: id.to_owned(),
            reason: reason.into(),
        }
    }

    /// A message a person can act on: what happened, to which id, and what to do about it.
    pub fn message(&self) -> String {
        let mut m = String::new();
        match self {
            StoreError::NotFound { id } => {
                m.push_str("no live session with id \"");
                m.push_str(id);
                m.push_str("\": it was never created, was deleted, or has expired");
            }
            StoreError::AlreadyExists { id } => {
                m.push_str("a live session with id \"");
                m.push_str(id);
                m.push_str("\" already exists: load it, or delete it first");
            }
            StoreError::VersionConflict {
                id,
                expected,
                actual,
            } => {
                m.push_str("session \"");
                m.push_str(id);
                m.push_str("\" is at version ");
                push_u64(&mut m, *actual);
                if *actual == 0 {
                    m.push_str(" (missing or expired)");
                }
                m.push_str(", not the expected ");
                push_u64(&mut m, *expected);
                m.push_str(": load it again, reapply the change and retry");
            }
            StoreError::InvalidInput { reason } => {
                m.push_str("invalid input: ");
                m.push_str(reason);
            }
            StoreError::QuotaExceeded { reason, .. } => {
                m.push_str("storage quota exceeded, the previous record is intact: ");
                m.push_str(reason);
            }
            StoreError::Corrupt { id, reason } => {
                m.push_str("stored record of session \"");
                m.push_str(id);
                m.push_str("\" cannot be read (");
                m.push_str(reason);
                m.push(')');
                // A reason that says what to do ("...: upgrade wasm-session-store", "...:
                // reload the app") is about data that is fine: deleting it would lose it.
                // (Bytes rather than `str::contains`, whose substring search costs ~350 B of
                // gzipped wasm.)
                if !reason.as_bytes().windows(2).any(|w| w == b": ") {
                    m.push_str("; delete it to start over");
                }
            }
            StoreError::Unavailable { reason, .. } => {
                m.push_str("storage unavailable: ");
                m.push_str(reason);
            }
            StoreError::Blocked { reason } => {
                m.push_str("database upgrade blocked: ");
                m.push_str(reason);
            }
            StoreError::Closed => m.push_str("the store is closed: open a new one"),
            StoreError::Unauthorized { reason } => {
                m.push_str("sync unauthorized: ");
                m.push_str(reason);
            }
            StoreError::SyncUnavailable { reason } => {
                m.push_str("sync unavailable: ");
                m.push_str(reason);
                m.push_str(" (nothing queued is lost)");
            }
        }
        m
    }
}

/// Appends the decimal digits of `n` without going through `core::fmt`.
pub fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code().as_str())?;
        f.write_str(": ")?;
        f.write_str(&self.message())
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause().map(|cause| cause as _)
    }
}

#[cfg(target_arch = "wasm32")]
impl StoreError {
    /// The error as JavaScript sees it: an `Error` with `name` "StoreError", `code` (the
    /// [`ErrorCode`] as a string), the [`message`](Self::message), `expected` and `actual` on
    /// VERSION_CONFLICT, and as `cause` the browser's exception behind it (a `DOMException`
    /// with its name and message), as the npm package's `SessionStore` rejects. For a Rust
    /// web app that hands store errors to its JS; `JsValue::from(err)` does the same.
    pub fn to_js(&self) -> wasm_bindgen::JsValue {
        use wasm_bindgen::JsValue;
        let js = js_sys::Error::new(&self.message());
        js.set_name("StoreError");
        let set = |key: &str, value: JsValue| {
            let _ = js_sys::Reflect::set(&js, &JsValue::from_str(key), &value);
        };
        set("code", JsValue::from_str(self.code().as_str()));
        if let StoreError::VersionConflict {
            expected, actual, ..
        } = self
        {
            set("expected", JsValue::from_f64(*expected as f64));
            set("actual", JsValue::from_f64(*actual as f64));
        }
        if let Some(cause) = self.cause() {
            let exception =
                web_sys::DomException::new_with_message_and_name(&cause.message, &cause.name);
            if let Ok(exception) = exception {
                set("cause", exception.into());
            }
        }
        js.into()
    }
}

#[cfg(target_arch = "wasm32")]
impl From<StoreError> for wasm_bindgen::JsValue {
    fn from(err: StoreError) -> Self {
        err.to_js()
    }
}

/// A browser exception behind a [`StoreError`]: the `name` of the `DOMException` (or `Error`)
/// that a browser API threw, such as `"QuotaExceededError"`, `"SecurityError"` or
/// `"InvalidStateError"`, and its message. The error's [`source`] and
/// [`cause()`](StoreError::cause); in JavaScript, the error's `cause` (a `DOMException`).
///
/// [`source`]: std::error::Error::source
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserException {
    /// The exception's name, such as `"QuotaExceededError"` (empty when it had none).
    pub name: String,
    /// The browser's message.
    pub message: String,
}

impl std::fmt::Display for BrowserException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        f.write_str(": ")?;
        f.write_str(&self.message)
    }
}

impl std::error::Error for BrowserException {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_id_and_the_versions() {
        let e = StoreError::VersionConflict {
            id: "abc".into(),
            expected: 3,
            actual: 0,
        };
        assert_eq!(e.code().as_str(), "VERSION_CONFLICT");
        let m = e.message();
        assert!(m.contains("\"abc\"") && m.contains("version 0") && m.contains("expected 3"));
        assert_eq!(e.to_string(), "VERSION_CONFLICT: ".to_owned() + &m);
    }

    #[test]
    fn the_browser_exception_is_the_source() {
        use std::error::Error as _;
        let cause = BrowserException {
            name: "QuotaExceededError".into(),
            message: "the quota has been exceeded".into(),
        };
        let e = StoreError::QuotaExceeded {
            reason: "QuotaExceededError: the quota has been exceeded".into(),
            cause: Some(cause.clone()),
        };
        assert_eq!(e.cause(), Some(&cause));
        assert_eq!(
            e.source().unwrap().to_string(),
            "QuotaExceededError: the quota has been exceeded"
        );
        assert!(StoreError::unavailable("no storage").source().is_none());
        assert!(StoreError::invalid("bad").cause().is_none());
    }
}
