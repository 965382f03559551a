//! [`SessionId`]: a validated session id, and generation from the platform CSPRNG.

use crate::error::StoreError;

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
        getrandom::fill(&mut bytes).map_err(|_| {
            StoreError::unavailable(
                "no cryptographically secure random source (crypto.getRandomValues)",
            )
        })?;
        Ok(SessionId(base64url(&bytes)))
    }

    /// An id the store reserves for itself, outside the valid ids (so no scan, sweep or id
    /// list ever meets it): the key check of an encrypted store.
    pub(crate) fn reserved(id: &'static str) -> Self {
        SessionId(id.to_owned())
    }

    /// A reserved id made at run time (a synced session's queue row, `:s:<id>`).
    pub(crate) fn reserved_owned(id: String) -> Self {
        SessionId(id)
    }

    /// Whether this is one of the store's reserved ids (they start with `:`, which no valid id
    /// holds).
    pub(crate) fn is_reserved(&self) -> bool {
        self.0.starts_with(':')
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unpadded base64url, constant-time (no table indexed by the secret bytes).
///
/// By hand rather than with the base64ct crate: its generic encoder cost 1.3 KB of wasm for
/// what is, for 16 bytes, this loop.
fn base64url(bytes: &[u8]) -> String {
    // 0-25 -> 'A'.., 26-51 -> 'a'.., 52-61 -> '0'.., 62 -> '-', 63 -> '_', by arithmetic:
    // `(k - x) >> 8` is all ones exactly when x > k.
    let char_of = |x: u8| {
        let x = i16::from(x);
        let offset = 65 + (((25 - x) >> 8) & 6) - (((51 - x) >> 8) & 75) - (((61 - x) >> 8) & 13)
            + (((62 - x) >> 8) & 49);
        char::from((x + offset) as u8)
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let sextets = [
            b[0] >> 2,
            ((b[0] & 3) << 4) | (b[1] >> 4),
            ((b[1] & 15) << 2) | (b[2] >> 6),
            b[2] & 63,
        ];
        for &x in &sextets[..chunk.len() + 1] {
            out.push(char_of(x));
        }
    }
    out
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
    fn base64url_matches_rfc_4648() {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        // Every sextet value, in the first position of a 3-byte group.
        for (x, want) in ALPHABET.iter().enumerate() {
            let got = base64url(&[(x as u8) << 2]);
            assert_eq!(got.as_bytes()[0], *want, "sextet {x}");
        }
        // RFC 4648 test vectors (unpadded), and bytes that hit '-' and '_'.
        for (input, want) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff, 0xbf], "-_-_"),
        ] {
            assert_eq!(base64url(input), want);
        }
    }

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
