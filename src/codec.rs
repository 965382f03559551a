//! The storage format: a versioned JSON envelope around a record.
//!
//! `{"v":1,"id":..,"state":{..},"version":..,"createdAt":..,"updatedAt":..,"expiresAt":..,"ttlMs":..}`
//!
//! An encrypted store's records are format 3: the same, with `"enc":"<base64>"` (the state
//! sealed with AES-GCM: IV, ciphertext and tag) in place of `state`, sealed with additional
//! data that binds the store name and every field but `expiresAt` (see the crate's `crypto`
//! module). Format 2, the previous release's, is the same envelope sealed with additional data
//! that bound only the name, the id and the version: it is read only to be resealed in format 3
//! when a store is first opened with its key by this release, and is CORRUPT after that, like
//! a plaintext record in an encrypted store. A release before encryption reads either as
//! written by a newer format, and says so.
//!
//! A record written by a store with a `stateVersion` above 0 also carries it, as
//! `"stateVersion":N` (the app's shape of the state; see
//! [`StoreOptions::migrate`](crate::StoreOptions::migrate)); without it the state is of
//! version 0, so records of apps that never set one keep their bytes.
//!
//! `v` is the format version. A later release that changes the layout reads `v` and migrates
//! older records lazily, when they are next read, with no IndexedDB schema bump. Records with a
//! `v` newer than this release understands are reported as
//! [`Corrupt`](crate::StoreError::Corrupt), saying so, rather than misread.

use crate::error::{push_u64, StoreError};
use crate::id::SessionId;
use crate::json;
use crate::json::MAX_STATE_DEPTH;
use crate::record::{SessionRecord, State};

/// The format version of plaintext records.
pub const FORMAT_VERSION: u64 = 1;

/// The format version of encrypted records, the newest this release reads.
pub const SEALED_FORMAT_VERSION: u64 = 3;

/// The format version of the previous release's encrypted records (see the module docs).
pub const LEGACY_SEALED_FORMAT_VERSION: u64 = 2;

/// Encodes `record` in the current format.
pub fn encode(record: &SessionRecord) -> String {
    to_json(record, Some(FORMAT_VERSION))
}

/// `record` as the JSON object of the JS contract: exactly its seven fields.
pub fn to_plain_json(record: &SessionRecord) -> String {
    to_json(record, None)
}

fn to_json(record: &SessionRecord, v: Option<u64>) -> String {
    let mut out = String::with_capacity(128);
    out.push('{');
    if let Some(v) = v {
        out.push_str("\"v\":");
        let sealed = record.state.sealed_format();
        push_u64(&mut out, if sealed > 0 { u64::from(sealed) } else { v });
        out.push(',');
    }
    out.push_str("\"id\":");
    json::write_str(record.id.as_str(), &mut out);
    if record.state.is_sealed() {
        // Base64 needs no escaping.
        out.push_str(",\"enc\":\"");
        out.push_str(record.state.as_json());
        out.push('"');
    } else {
        out.push_str(",\"state\":");
        out.push_str(record.state.as_json());
    }
    let fields = [
        ("version", Some(record.version)),
        ("createdAt", Some(record.created_at)),
        ("updatedAt", Some(record.updated_at)),
        ("expiresAt", record.expires_at),
        ("ttlMs", record.ttl_ms),
    ];
    for (name, value) in fields {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        match value {
            Some(n) => push_u64(&mut out, n),
            None => out.push_str("null"),
        }
    }
    let shape = record.state.shape();
    if v.is_some() && shape > 0 {
        out.push_str(",\"stateVersion\":");
        push_u64(&mut out, shape);
    }
    out.push('}');
    out
}

/// Decodes a record stored under `id`.
///
/// The envelope is walked with the checking scanner of `json`; the state is checked there
/// and kept as the text it is (see [`State`]), never parsed into values.
///
/// # Errors
/// [`Corrupt`](StoreError::Corrupt) when `text` is not a record of a known format version, or
/// is a record of another id.
pub fn decode(id: &SessionId, text: &str) -> Result<SessionRecord, StoreError> {
    let corrupt = |reason: &'static str| StoreError::corrupt(id.as_str(), reason);
    // The envelope and the state's 512 levels inside it.
    let Some(members) = json::members(text, 1 + MAX_STATE_DEPTH) else {
        return Err(corrupt("not a session record"));
    };
    let field = |name: &str| {
        members
            .iter()
            .rev()
            .find(|m| json::key_is(json::at(text, &m.key), name))
            .map(|m| json::at(text, &m.value))
    };
    let number = |value: Option<&str>| value.and_then(json::uint);
    let optional = |value: Option<&str>| match value {
        Some("null") => Some(None),
        other => number(other).map(Some),
    };
    let sealed = match number(field("v")) {
        Some(FORMAT_VERSION) => 0,
        Some(v @ (LEGACY_SEALED_FORMAT_VERSION | SEALED_FORMAT_VERSION)) => v as u8,
        Some(v) if v > SEALED_FORMAT_VERSION => return Err(newer_format(id, v)),
        _ => return Err(corrupt("no known format version")),
    };
    if field("id").and_then(json::unescape).as_deref() != Some(id.as_str()) {
        return Err(corrupt("the record inside belongs to another id"));
    }
    let (
        Some(version),
        Some(created_at),
        Some(updated_at),
        Some(expires_at),
        Some(ttl_ms),
        Some(shape),
    ) = (
        number(field("version")).filter(|&v| v > 0),
        number(field("createdAt")),
        number(field("updatedAt")),
        optional(field("expiresAt")),
        optional(field("ttlMs")),
        field("stateVersion").map_or(Some(0), json::uint),
    )
    else {
        return Err(corrupt("a field is missing or malformed"));
    };
    let state = if sealed > 0 {
        // A JSON string of base64 (no escapes); whether it decrypts is the engine's to find.
        match field("enc").and_then(|s| s.strip_prefix('"')?.strip_suffix('"')) {
            Some(enc) if !enc.contains('\\') => State::sealed_by(sealed, enc.to_owned()),
            _ => return Err(corrupt("the encrypted state is not a string")),
        }
    } else {
        match field("state").filter(|s| s.starts_with('{')) {
            Some(state) => State::from_checked(state.to_owned()),
            None => return Err(corrupt("the state is not an object")),
        }
    };
    Ok(SessionRecord {
        id: id.clone(),
        state: state.with_shape(shape),
        version,
        created_at,
        updated_at,
        expires_at,
        ttl_ms,
    })
}

fn newer_format(id: &SessionId, v: u64) -> StoreError {
    let mut reason = String::from("written by a newer format version (v");
    push_u64(&mut reason, v);
    reason.push_str("; this release reads up to v");
    push_u64(&mut reason, SEALED_FORMAT_VERSION);
    reason.push_str("): upgrade wasm-session-store");
    StoreError::corrupt(id.as_str(), reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use serde_json::json;

    fn record() -> SessionRecord {
        let state = json!({"user": "ü💡", "n": 0.1, "big": 9007199254740991u64, "nested": {"a": [1, null, true]}});
        SessionRecord {
            id: SessionId::new("abc").unwrap(),
            state: State::from(state.as_object().unwrap().clone()),
            version: 3,
            created_at: 10,
            updated_at: 20,
            expires_at: Some(30),
            ttl_ms: None,
        }
    }

    #[test]
    fn round_trips_with_a_format_version() {
        let text = encode(&record());
        assert!(text.starts_with("{\"v\":1,"), "{text}");
        assert_eq!(decode(&record().id, &text).unwrap(), record());
    }

    /// A record exactly as the release before the text-kept state wrote it (keys sorted, as
    /// its serde_json map kept them): the format did not change, and it reads the same.
    #[test]
    fn records_of_the_previous_release_read_the_same() {
        let text = r#"{"v":1,"id":"abc","state":{"big":9007199254740991,"n":0.1,"nested":{"a":[1,null,true]},"user":"ü💡"},"version":3,"createdAt":10,"updatedAt":20,"expiresAt":30,"ttlMs":null}"#;
        assert_eq!(decode(&record().id, text).unwrap(), record());
        assert_eq!(encode(&record()), text);
    }

    #[test]
    fn sealed_states_are_format_3_and_round_trip() {
        let mut sealed = record();
        sealed.state = State::sealed("AAEC/+8=".into());
        let text = encode(&sealed);
        assert!(
            text.starts_with(r#"{"v":3,"id":"abc","enc":"AAEC/+8=","version":3,"#),
            "{text}"
        );
        let back = decode(&sealed.id, &text).unwrap();
        assert_eq!(back.state.sealed_format(), 3);
        assert_eq!(back, sealed);
        // The previous release's sealed records (format 2) read as such, never as format 3.
        let legacy = text.replacen(r#""v":3"#, r#""v":2"#, 1);
        let old = decode(&sealed.id, &legacy).unwrap();
        assert_eq!(old.state.sealed_format(), 2);
        assert_ne!(old, sealed);
        assert_eq!(encode(&old), legacy);
        for bad in [
            text.replace(r#""enc":"AAEC/+8=""#, r#""enc":7"#),
            text.replace(r#""enc":"AAEC/+8=""#, r#""enc":"a\u0041""#),
            text.replace(r#""enc""#, r#""state""#),
        ] {
            assert_eq!(
                decode(&sealed.id, &bad).unwrap_err().code(),
                ErrorCode::Corrupt,
                "{bad}"
            );
        }
        // A plaintext record is not read as sealed, nor a sealed one as plaintext.
        let plain = encode(&record());
        assert!(!decode(&sealed.id, &plain).unwrap().state.is_sealed());
        assert_ne!(back.state, record().state);
    }

    #[test]
    fn a_state_version_is_stored_when_above_0_and_read_back() {
        let mut r = record();
        r.state = r.state.with_shape(7);
        let text = encode(&r);
        assert!(
            text.ends_with(r#""ttlMs":null,"stateVersion":7}"#),
            "{text}"
        );
        assert_eq!(decode(&r.id, &text).unwrap().state.shape(), 7);
        // The contract's plain object has exactly its seven fields.
        assert!(!to_plain_json(&r).contains("stateVersion"));
        // 0 is not written, and a record without it is of version 0.
        assert!(!encode(&record()).contains("stateVersion"));
        assert_eq!(decode(&r.id, &encode(&record())).unwrap().state.shape(), 0);
        for bad in ["-1", "1.5", "null", "\"7\""] {
            let text = text.replace(":7}", &format!(":{bad}}}"));
            assert_eq!(
                decode(&r.id, &text).unwrap_err().code(),
                ErrorCode::Corrupt,
                "{text}"
            );
        }
        // Sealed states keep it beside the ciphertext.
        let mut sealed = r.clone();
        sealed.state = State::sealed("AAEC".into()).with_shape(3);
        let back = decode(&r.id, &encode(&sealed)).unwrap();
        assert!(back.state.is_sealed());
        assert_eq!(back.state.shape(), 3);
    }

    #[test]
    fn floats_are_bit_exact() {
        let mut r = record();
        for x in [0.1, 1e-300, 5e-324, 1.7976931348623157e308, 123456.789e-7] {
            r.state.insert("x", &json!(x)).unwrap();
            let back = decode(&r.id, &encode(&r)).unwrap();
            let got = back.state.get("x").unwrap().as_f64().unwrap();
            assert_eq!(got.to_bits(), f64::to_bits(x));
        }
    }

    #[test]
    fn garbage_newer_versions_and_foreign_ids_are_corrupt() {
        let id = record().id;
        for text in [
            "",
            "{",
            "null",
            "{\"v\":1}",
            "[1]",
            // A state that is not JSON, or not an object, inside a well-formed envelope.
            r#"{"v":1,"id":"abc","state":{"a":},"version":1,"createdAt":1,"updatedAt":1,"expiresAt":null,"ttlMs":null}"#,
            r#"{"v":1,"id":"abc","state":[],"version":1,"createdAt":1,"updatedAt":1,"expiresAt":null,"ttlMs":null}"#,
            r#"{"v":1,"id":"abc","state":{},"version":1.0,"createdAt":1,"updatedAt":1,"expiresAt":null,"ttlMs":null}"#,
            r#"{"v":1,"id":"abc","state":{},"version":1,"createdAt":-1,"updatedAt":1,"expiresAt":null,"ttlMs":null}"#,
        ] {
            assert_eq!(decode(&id, text).unwrap_err().code(), ErrorCode::Corrupt);
        }
        let newer = encode(&record()).replacen("\"v\":1", "\"v\":4", 1);
        let e = decode(&id, &newer).unwrap_err();
        assert!(
            e.message().contains("newer format version (v4"),
            "{}",
            e.message()
        );
        let e = decode(&id, "{\"v\":7,\"other\":1}").unwrap_err();
        assert!(e.message().contains("newer format"), "{}", e.message());
        let other = SessionId::new("xyz").unwrap();
        assert_eq!(
            decode(&other, &encode(&record())).unwrap_err().code(),
            ErrorCode::Corrupt
        );
    }
}
