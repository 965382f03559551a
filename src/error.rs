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
    },
    /// Opening the database was blocked by another connection.
    Blocked {
        /// What blocked it and how long was waited.
        reason: Cow<'static, str>,
    },
    /// The store was closed with `close()`.
    Closed,
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
        }
    }

    /// An [`InvalidInput`](StoreError::InvalidInput) error with this reason.
    pub fn invalid(reason: impl Into<Cow<'static, str>>) -> Self {
        StoreError::InvalidInput {
            reason: reason.into(),
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
            StoreError::QuotaExceeded { reason } => {
                m.push_str("storage quota exceeded, the previous record is intact: ");
                m.push_str(reason);
            }
            StoreError::Corrupt { id, reason } => {
                m.push_str("stored record of session \"");
                m.push_str(id);
                m.push_str("\" cannot be read (");
                m.push_str(reason);
                m.push_str("); delete it to start over");
            }
            StoreError::Unavailable { reason } => {
                m.push_str("storage unavailable: ");
                m.push_str(reason);
            }
            StoreError::Blocked { reason } => {
                m.push_str("database upgrade blocked: ");
                m.push_str(reason);
            }
            StoreError::Closed => m.push_str("the store is closed: open a new one"),
        }
        m
    }
}

/// Appends the decimal digits of `n` without going through `core::fmt`.
pub(crate) fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code().as_str())?;
        f.write_str(": ")?;
        f.write_str(&self.message())
    }
}

impl std::error::Error for StoreError {}

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
}
