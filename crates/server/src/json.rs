//! The JSON of the HTTP API: request bodies in, records out.

use crate::error::ApiError;
use serde::Deserialize;
use serde_json::value::RawValue;
use wasm_session_store::codec;
use wasm_session_store::{sealed_state, sealed_text, SessionRecord, State};

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut String, s: &str) {
    // Writing a str to a String cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// `record` as the JSON object of the contract: its seven fields, with `enc` (a string) in
/// place of `state` when the state is a client's ciphertext.
pub fn record_json(record: &SessionRecord) -> String {
    let Some(enc) = sealed_text(&record.state) else {
        return codec::to_plain_json(record);
    };
    let mut plain = record.clone();
    plain.state = State::new();
    let text = codec::to_plain_json(&plain);
    // `{"id":"..","state":{},...`: the same with `"enc":<string>` for the state.
    let mut out = String::with_capacity(text.len() + enc.len() + 8);
    match text.split_once(",\"state\":{}") {
        Some((head, tail)) => {
            out.push_str(head);
            out.push_str(",\"enc\":");
            push_str(&mut out, enc);
            out.push_str(tail);
        }
        None => out.push_str(&text),
    }
    out
}

/// A PUT body: `{ state | enc, expiresAt?, ttlMs? }`.
#[derive(Debug)]
pub struct PutBody {
    /// The state, or the sealed `enc`.
    pub state: State,
    /// The deadline as pushed.
    pub expires_at: Option<u64>,
    /// The TTL as pushed.
    pub ttl_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPut<'a> {
    // A raw value: serde_json skips it without recursion, whatever its depth, and the
    // library's checker then takes it (512 levels, no lone surrogates, finite numbers).
    #[serde(borrow, default)]
    state: Option<&'a RawValue>,
    #[serde(default)]
    enc: Option<String>,
    #[serde(default, rename = "expiresAt")]
    expires_at: Option<u64>,
    #[serde(default, rename = "ttlMs")]
    ttl_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMove {
    to: String,
}

fn bad_body(e: serde_json::Error) -> ApiError {
    ApiError::invalid(format!("the body is not what this request takes: {e}"))
}

/// Reads a PUT body.
///
/// # Errors
/// INVALID_INPUT for JSON that is not such an object: unknown or repeated fields, both or
/// neither of `state` and `enc`, a state that is not an object of what JSON holds, numbers
/// that are not safe integers.
pub fn put_body(text: &str) -> Result<PutBody, ApiError> {
    let raw: RawPut = serde_json::from_str(text).map_err(bad_body)?;
    let state = match (raw.state, raw.enc) {
        (Some(state), None) => State::from_json(state.get()).map_err(ApiError::Store)?,
        (None, Some(enc)) => sealed_state(enc),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "the body has both state and enc: a session is either plain or sealed",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "the body needs a state (an object) or an enc (a string)",
            ))
        }
    };
    Ok(PutBody {
        state,
        expires_at: raw.expires_at,
        ttl_ms: raw.ttl_ms,
    })
}

/// Reads a move's body, `{ to }`: the target id, unchecked.
///
/// # Errors
/// INVALID_INPUT when it is not such an object.
pub fn move_body(text: &str) -> Result<String, ApiError> {
    let raw: RawMove = serde_json::from_str(text).map_err(bad_body)?;
    Ok(raw.to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_session_store::SessionId;

    fn record(state: State) -> SessionRecord {
        SessionRecord {
            id: SessionId::new("a").unwrap(),
            state,
            version: 2,
            created_at: 1,
            updated_at: 2,
            expires_at: None,
            ttl_ms: Some(5),
        }
    }

    #[test]
    fn records_come_out_with_state_or_enc() {
        let plain = record(State::from_json(r#"{"n":1}"#).unwrap());
        assert_eq!(
            record_json(&plain),
            r#"{"id":"a","state":{"n":1},"version":2,"createdAt":1,"updatedAt":2,"expiresAt":null,"ttlMs":5}"#
        );
        let sealed = record(sealed_state("a\"b".into()));
        assert_eq!(
            record_json(&sealed),
            r#"{"id":"a","enc":"a\"b","version":2,"createdAt":1,"updatedAt":2,"expiresAt":null,"ttlMs":5}"#
        );
    }

    #[test]
    fn bodies_are_checked() {
        let deep = format!(
            "{{\"state\":{{\"a\":{}{}}}}}",
            "[".repeat(510),
            "]".repeat(510)
        );
        assert!(put_body(&deep).is_ok());
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"state":[]}"#,
            r#"{"state":{},"enc":"x"}"#,
            r#"{"state":{"a":1e999}}"#,
            r#"{"state":{"a":"\ud800"}}"#,
            r#"{"enc":"\ud800"}"#,
            r#"{"enc":"x","expiresAt":1.5}"#,
            r#"{"enc":"x","ttlMs":-1}"#,
            r#"{"enc":"x","other":1}"#,
            r#"{"enc":"x","enc":"y"}"#,
            &format!(
                "{{\"state\":{{\"a\":{}{}}}}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
        ] {
            assert!(put_body(bad).is_err(), "{bad:.80}");
        }
        assert_eq!(move_body(r#"{"to":"b"}"#).unwrap(), "b");
        assert!(move_body(r#"{"to":1}"#).is_err());
    }
}
