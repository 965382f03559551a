//! JSON text for stored records, without serde_json's serializer and parser on the wasm path.
//!
//! serde_json's `to_string` and `from_str` cost about 20 KB of gzipped wasm (float printing and
//! parsing tables, the generic (de)serializer), a quarter of the package. The browser already
//! has an exact JSON parser and number printer, so in wasm:
//! - [`write`] prints JSON itself and asks JS to print non-integral numbers
//!   (`Number.prototype.toString` gives the shortest text that parses back to the same bits);
//! - [`parse`] is `JSON.parse` followed by the strict JS-to-[`Value`] conversion that user
//!   input goes through.
//!
//! Natively, `write` prints floats with serde_json's `Number` printer and `parse` is
//! `serde_json::from_str`; the tests below check the writer against serde_json.

use crate::error::push_u64;
use serde_json::{Number, Value};

/// Appends `value` as JSON text to `out`.
pub(crate) fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

/// Appends a JSON object to `out`.
pub(crate) fn write_object(map: &serde_json::Map<String, Value>, out: &mut String) {
    out.push('{');
    for (i, (key, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(key, out);
        out.push(':');
        write(item, out);
    }
    out.push('}');
}

/// Appends `s` as a JSON string literal.
pub(crate) fn write_str(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(n: &Number, out: &mut String) {
    if let Some(u) = n.as_u64() {
        push_u64(out, u);
    } else if let Some(i) = n.as_i64() {
        out.push('-');
        push_u64(out, i.unsigned_abs());
    } else if let Some(x) = n.as_f64() {
        push_f64(x, out);
    }
}

/// A finite float as the shortest JSON text that parses back to the same bits.
#[cfg(target_arch = "wasm32")]
fn push_f64(x: f64, out: &mut String) {
    // Finite numbers print as JSON does; -0 prints as "0", which the contract allows.
    match js_sys::Number::from(x).to_string_with_radix(10) {
        Ok(text) => out.push_str(&String::from(text)),
        Err(_) => out.push('0'),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn push_f64(x: f64, out: &mut String) {
    if let Some(n) = Number::from_f64(x) {
        out.push_str(&n.to_string());
    }
}

/// Parses JSON text; `None` when it is not JSON.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// Parses JSON text; `None` when it is not JSON (or holds a string with a lone surrogate,
/// which a Rust string cannot).
#[cfg(target_arch = "wasm32")]
pub(crate) fn parse(text: &str) -> Option<Value> {
    let parsed = js_sys::JSON::parse(text).ok()?;
    js::from_js(&parsed, "stored record").ok()
}

#[cfg(target_arch = "wasm32")]
pub(crate) mod js {
    //! JS values to and from [`Value`]: strict on the way in (nothing JSON cannot hold gets
    //! through, nothing is silently converted), fresh plain objects on the way out.

    use super::write;
    use crate::error::{push_u64, StoreError};
    use crate::store::MAX_SAFE_INTEGER;
    use js_sys::{Array, JsString, Object, Reflect};
    use serde_json::{Map, Number, Value};
    use wasm_bindgen::{JsCast, JsValue};

    /// How deep a value may nest; deeper is almost certainly a bug and would exhaust the stack.
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

    /// A JSON value from JS, or INVALID_INPUT naming `what` and where the offending part is.
    pub(crate) fn from_js(value: &JsValue, what: &str) -> Result<Value, StoreError> {
        let mut path = Path {
            what,
            keys: Vec::new(),
        };
        convert(value, &mut path, &mut Vec::new())
    }

    /// JSON text as a fresh JS value, through one `JSON.parse`: plain objects and arrays with
    /// no shared references, `__proto__` kept as an ordinary own key.
    pub(crate) fn text_to_js(text: &str) -> JsValue {
        js_sys::JSON::parse(text).unwrap_or(JsValue::UNDEFINED)
    }

    /// A value as a fresh JS value (see [`text_to_js`]).
    pub(crate) fn to_js(value: &Value) -> JsValue {
        match value {
            Value::Null => JsValue::NULL,
            Value::Bool(b) => JsValue::from_bool(*b),
            Value::Number(n) => JsValue::from_f64(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => JsValue::from_str(s),
            _ => {
                let mut text = String::new();
                write(value, &mut text);
                text_to_js(&text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: Value) {
        let mut text = String::new();
        write(&value, &mut text);
        assert_eq!(text, serde_json::to_string(&value).unwrap());
        assert_eq!(parse(&text), Some(value));
    }

    #[test]
    fn writes_what_serde_json_writes() {
        round_trip(json!(null));
        round_trip(json!([
            true,
            false,
            0,
            -1,
            9007199254740991u64,
            -9007199254740991i64
        ]));
        round_trip(json!({"a": {"b": [1, {"c": "d"}]}, "": "", "__proto__": {}}));
        round_trip(json!(
            "quote \" backslash \\ newline \n tab \t cr \r nul \u{0} us \u{1f} del \u{7f}"
        ));
        round_trip(json!("ü💡 \u{2028} \u{2029} 日本"));
        round_trip(json!({"u64": u64::MAX, "i64": i64::MIN}));
    }

    #[test]
    fn floats_are_bit_exact() {
        for x in [
            0.1f64,
            -2.5,
            1e-300,
            5e-324,
            1.7976931348623157e308,
            123456.789e-7,
            1e21,
        ] {
            let mut text = String::new();
            write(&json!(x), &mut text);
            let back = parse(&text).unwrap();
            assert_eq!(back.as_f64().unwrap().to_bits(), x.to_bits(), "{text}");
        }
    }

    #[test]
    fn parse_refuses_what_is_not_json() {
        for text in ["", "{", "nul", "[1,]", "{'a':1}", "NaN"] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
