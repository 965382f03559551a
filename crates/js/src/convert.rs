//! Values across the JS boundary: strict JSON in, fresh plain objects out, errors as `Error`s.

use js_sys::JsString;
use wasm_bindgen::{JsCast, JsValue};
use wasm_session_store::__private::{push_u64, state_from_checked, text_from_js, text_to_js};
use wasm_session_store::{codec, SessionId, SessionRecord, State, StoreError, MAX_SAFE_INTEGER};

/// A session state from JS: a plain object of JSON values (`what` names it in errors).
pub(crate) fn state_from_js(value: &JsValue, what: &str) -> Result<State, StoreError> {
    let text = text_from_js(value, what)?;
    if text.starts_with('{') {
        // json_text.js wrote it: a JSON object within the state's limits.
        Ok(state_from_checked(text))
    } else {
        let mut reason = String::from(what);
        reason.push_str(" must be a plain object of JSON values, like { user: \"ada\" }");
        Err(StoreError::invalid(reason))
    }
}

/// A session id from JS.
pub(crate) fn id_from_js(value: &JsValue, what: &str) -> Result<SessionId, StoreError> {
    match value.as_string() {
        Some(s) => SessionId::new(s),
        None => {
            let mut reason = String::from(what);
            reason.push_str(" must be a string of 1 to 128 characters of A-Z a-z 0-9 _ -");
            Err(StoreError::invalid(reason))
        }
    }
}

/// A non-empty state key from JS.
pub(crate) fn key_from_js(value: &JsValue) -> Result<String, StoreError> {
    // A lone surrogate would silently become U+FFFD: another key than the one given.
    let valid = value
        .dyn_ref::<JsString>()
        .is_some_and(|s| s.length() > 0 && s.is_valid_utf16());
    match value.as_string() {
        Some(s) if valid => Ok(s),
        _ => Err(StoreError::invalid(
            "key must be a non-empty string (without lone surrogates)",
        )),
    }
}

/// A safe integer from JS: `Ok(None)` for undefined (and for null when `null_ok`); otherwise
/// an integer in `min..=2^53-1`.
pub(crate) fn int_from_js(
    value: &JsValue,
    what: &str,
    min: u64,
    null_ok: bool,
) -> Result<Option<u64>, StoreError> {
    if value.is_undefined() || (null_ok && value.is_null()) {
        return Ok(None);
    }
    match value.as_f64() {
        Some(x) if x.fract() == 0.0 && x >= min as f64 && x <= MAX_SAFE_INTEGER as f64 => {
            Ok(Some(x as u64))
        }
        _ => {
            let mut reason = String::from(what);
            reason.push_str(" must be an integer from ");
            push_u64(&mut reason, min);
            reason.push_str(" to 2^53-1");
            if null_ok {
                reason.push_str(", or null");
            }
            Err(StoreError::invalid(reason))
        }
    }
}

/// A record as the plain object of the contract, with exactly its seven fields.
pub(crate) fn record_to_js(record: &SessionRecord) -> JsValue {
    text_to_js(&codec::to_plain_json(record))
}
