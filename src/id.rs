//! [`SessionId`]: a validated session id, and generation from the platform CSPRNG.

use crate::error::StoreError;
use base64ct::{Base64UrlUnpadded, Encoding};

/// The longest id accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

/// A session id: 1..=128 characters of `[A-Za-z0-9_-]`.
///
/// Generated ids carry 128 random bits from the platform CSPRNG (`crypto.getRandomValues` in
/// the browser), base64url-encoded into 22 characters.
///
/// # Examples
/// ```
/// use wasm_session_store::SessionId;
/// let id = SessionId::new("user-42_cart").unwrap();
/// assert_eq!(id.as_str(), "user-42_cart");
/// assert!(SessionId::new("has space").is_err());
/// assert_eq!(SessionId::generate().unwrap().as_str().len(), 22);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// Validates `id`.
    ///
    /// # Errors
    /// [`InvalidInput`](StoreError::InvalidInput) when `id` is empty, longer than 128
    /// characters, or has a character outside `[A-Za-z0-9_-]`.
    pub fn new(id: impl Into<String>) -> Result<Self, StoreError> {
        let id = id.into();
        if is_valid_id(&id) {
            Ok(SessionId(id))
        } else {
            Err(invalid_id(&id))
        }
    }

    /// A fresh id of 128 random bits (22 base64url characters).
    ///
    /// # Errors
    /// [`Unavailable`](StoreError::Unavailable) when the platform has no CSPRNG.
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|_| StoreError::Unavailable {
            reason: "no cryptographically secure random source (crypto.getRandomValues)".into(),
        })?;
        Ok(SessionId(Base64UrlUnpadded::encode_string(&bytes)))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn invalid_id(id: &str) -> StoreError {
    let mut reason = String::from("session id ");
    if id.is_empty() {
        reason.push_str("is empty");
    } else {
        let shown: String = id.chars().take(40).collect();
        reason.push('"');
        reason.push_str(&shown);
        if shown.len() < id.len() {
            reason.push_str("...");
        }
        reason.push('"');
        reason.push_str(" is not 1 to 128 characters of A-Z a-z 0-9 _ -");
    }
    StoreError::invalid(reason)
}

/// Validates a store name: 1..=64 characters of `[A-Za-z0-9_.-]`.
pub(crate) fn validate_store_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        let mut reason = String::from("store name \"");
        reason.extend(name.chars().take(70));
        reason.push_str("\" is not 1 to 64 characters of A-Z a-z 0-9 _ . -");
        Err(StoreError::invalid(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn accepts_the_alphabet_and_length_bounds() {
        assert!(SessionId::new("a").is_ok());
        assert!(SessionId::new("A-z_09").is_ok());
        assert!(SessionId::new("x".repeat(128)).is_ok());
        assert!(SessionId::new("__proto__").is_ok());
    }

    #[test]
    fn rejects_empty_long_and_foreign_characters() {
        for bad in ["", "a b", "a:b", "é", "a/b", "a.b", "\u{0}"] {
            let e = SessionId::new(bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidInput, "{bad:?}");
        }
        let e = SessionId::new("x".repeat(129)).unwrap_err();
        assert!(e.message().contains("..."), "{}", e.message());
    }

    #[test]
    fn generated_ids_are_22_url_safe_chars_and_differ() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_eq!(a.as_str().len(), 22);
        assert!(is_valid_id(a.as_str()));
        assert_ne!(a, b);
    }

    #[test]
    fn store_names() {
        assert!(validate_store_name("sessions").is_ok());
        assert!(validate_store_name("app.v2-x_y").is_ok());
        assert!(validate_store_name(&"n".repeat(64)).is_ok());
        for bad in ["", "a:b", "a b", &"n".repeat(65)] {
            assert_eq!(
                validate_store_name(bad).unwrap_err().code(),
                ErrorCode::InvalidInput
            );
        }
    }
}
