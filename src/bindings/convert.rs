//! Values across the JS boundary: strict JSON in, fresh plain objects out, errors as `Error`s.

use crate::error::{push_u64, StoreError};
use crate::id::SessionId;
use crate::record::{SessionRecord, State};
use crate::store::MAX_SAFE_INTEGER;
use js_sys::{Array, JsString, Object, Reflect};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use wasm_bindgen::{JsCast, JsValue};

/// How deep a state may nest; deeper is almost certainly a bug and would exhaust the stack.
const MAX_DEPTH: usize = 512;

/// Converts a thrown JS value into a readable reason.
pub(crate) fn js_reason(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        let mut reason: String = e.name().into();
        reason.push_str(": ");
        reason.push_str(&String::from(e.message()));
        reason
    } else if let Some(s) = err.as_string() {
        s
    } else {
        "a non-Error value was thrown".into()
    }
}

/// A StoreError as a JS `Error` with `name = "StoreError"`, `code`, and `expected`/`actual` on
/// conflicts.
pub(crate) fn to_js_error(err: &StoreError) -> JsValue {
    let js = js_sys::Error::new(&err.message());
    js.set_name("StoreError");
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&js, &JsValue::from_str(key), &value);
    };
    set("code", JsValue::from_str(err.code().as_str()));
    if let StoreError::VersionConflict {
        expected, actual, ..
    } = err
    {
        set("expected", JsValue::from_f64(*expected as f64));
        set("actual", JsValue::from_f64(*actual as f64));
    }
    js.into()
}

/// Where a value being converted sits, for error messages.
struct Path<'a> {
    what: &'a str,
    keys: Vec<String>,
}

impl Path<'_> {
    fn error(&self, problem: &str) -> StoreError {
        let mut reason = String::from(self.what);
        for key in &self.keys {
            reason.push_str(key);
        }
        reason.push_str(": ");
        reason.push_str(problem);
        reason.push_str(" (state holds only JSON: null, booleans, finite numbers, strings, arrays, plain objects)");
        StoreError::invalid(reason)
    }
}

/// A JS string to Rust, refusing lone surrogates (which would silently turn into U+FFFD).
fn string(value: &JsValue, path: &Path) -> Result<String, StoreError> {
    let js: &JsString = value.unchecked_ref();
    if !js.is_valid_utf16() {
        return Err(path.error("string with a lone surrogate"));
    }
    Ok(js.into())
}

fn number(x: f64, path: &Path) -> Result<Number, StoreError> {
    if !x.is_finite() {
        return Err(path.error("NaN or Infinity"));
    }
    // Integral values within the safe range become JSON integers, as Rust users expect.
    if x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER as f64 {
        return Ok(Number::from(x as i64));
    }
    Number::from_f64(x).ok_or_else(|| path.error("not a finite number"))
}

fn is_plain_object(value: &JsValue) -> bool {
    let proto = Object::get_prototype_of(value);
    proto.is_null() || proto == Object::get_prototype_of(&Object::new())
}

fn convert(
    value: &JsValue,
    path: &mut Path,
    ancestors: &mut Vec<JsValue>,
) -> Result<Value, StoreError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(x) = value.as_f64() {
        return Ok(Value::Number(number(x, path)?));
    }
    if value.is_string() {
        return Ok(Value::String(string(value, path)?));
    }
    if value.is_undefined() {
        return Err(path.error("undefined"));
    }
    if value.is_function() {
        return Err(path.error("a function"));
    }
    if value.is_symbol() {
        return Err(path.error("a symbol"));
    }
    if value.is_bigint() {
        return Err(path.error("a BigInt"));
    }
    if !value.is_object() {
        return Err(path.error("an unsupported value"));
    }
    if ancestors.iter().any(|a| a == value) {
        return Err(path.error("a cycle (the value contains itself)"));
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(path.error("nested more than 512 levels deep"));
    }
    ancestors.push(value.clone());
    let out = if Array::is_array(value) {
        convert_array(value.unchecked_ref(), path, ancestors)
    } else if is_plain_object(value) {
        convert_object(value.unchecked_ref(), path, ancestors).map(Value::Object)
    } else {
        Err(path.error("an object that is not a plain object (Date, Map, class instance, ...)"))
    };
    ancestors.pop();
    out
}

fn convert_array(
    array: &Array,
    path: &mut Path,
    ancestors: &mut Vec<JsValue>,
) -> Result<Value, StoreError> {
    let len = array.length();
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut key = String::from("[");
        push_u64(&mut key, i.into());
        key.push(']');
        path.keys.push(key);
        let index = JsValue::from_f64(i.into());
        if !Reflect::has(array, &index).unwrap_or(false) {
            return Err(path.error("a hole in a sparse array"));
        }
        out.push(convert(&array.get(i), path, ancestors)?);
        path.keys.pop();
    }
    Ok(Value::Array(out))
}

fn convert_object(
    object: &Object,
    path: &mut Path,
    ancestors: &mut Vec<JsValue>,
) -> Result<Map<String, Value>, StoreError> {
    if Object::get_own_property_symbols(object).length() > 0 {
        return Err(path.error("an object with symbol keys"));
    }
    let mut out = Map::new();
    for key in Object::keys(object).iter() {
        let name = string(&key, path)?;
        let mut shown = String::from(".");
        shown.push_str(&name);
        path.keys.push(shown);
        let value = Reflect::get(object, &key).map_err(|e| path.error(&js_reason(&e)))?;
        out.insert(name, convert(&value, path, ancestors)?);
        path.keys.pop();
    }
    Ok(out)
}

/// A JSON value from JS, or INVALID_INPUT naming where the offending part is.
pub(crate) fn json_from_js(value: &JsValue, what: &str) -> Result<Value, StoreError> {
    let mut path = Path {
        what,
        keys: Vec::new(),
    };
    convert(value, &mut path, &mut Vec::new())
}

/// A session state from JS: a plain object of JSON values.
pub(crate) fn state_from_js(value: &JsValue) -> Result<State, StoreError> {
    if value.is_null() || value.is_undefined() || !value.is_object() || Array::is_array(value) {
        return Err(StoreError::invalid(
            "state must be a plain object of JSON values, like { user: \"ada\" }",
        ));
    }
    match json_from_js(value, "state")? {
        Value::Object(map) => Ok(map),
        _ => Err(StoreError::invalid("state must be a plain object")),
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
    match value.as_string() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(StoreError::invalid("key must be a non-empty string")),
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

/// Anything serializable to a fresh JS value, through one `JSON.parse`: plain objects and
/// arrays with no shared references, `__proto__` kept as an ordinary own key.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    let text = serde_json::to_string(value).unwrap_or_default();
    js_sys::JSON::parse(&text).unwrap_or(JsValue::UNDEFINED)
}

/// A record as the plain object of the contract, with exactly its seven fields.
pub(crate) fn record_to_js(record: &SessionRecord) -> JsValue {
    js_sys::JSON::parse(&crate::codec::to_plain_json(record)).unwrap_or(JsValue::UNDEFINED)
}
