//! JSON text for stored records, without serde_json's serializer and parser on the wasm path.
//!
//! serde_json's `to_string` and `from_str` cost about 20 KB of gzipped wasm (float printing and
//! parsing tables, the generic (de)serializer), a quarter of the package. So:
//! - [`write`] prints JSON itself and, in wasm, asks JS to print non-integral numbers
//!   (`Number.prototype.toString` gives the shortest text that parses back to the same bits);
//! - [`parse`] is a small parser of its own that, in wasm, asks JS (`parseFloat`) to read
//!   non-integral numbers.
//!
//! Natively, floats are printed by serde_json's `Number` printer and read by `str::parse`; the
//! tests below check both against serde_json.

use crate::error::push_u64;
use serde_json::{Map, Number, Value};

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

/// How deep [`parse`] lets values nest: a state's 512 levels inside a record's envelope.
const MAX_PARSE_DEPTH: usize = 513;

/// Parses JSON text (RFC 8259); `None` when it is not JSON, nests deeper than 513 levels, or
/// holds a lone surrogate escape (which a Rust string cannot).
///
/// Hand-written rather than `serde_json::from_str` (about 20 KB of gzipped wasm, see the
/// module docs) or `JSON.parse` and a walk over the result (one JS call per value: most of
/// the time of a load). Numbers come out as serde_json's would: integers that fit `u64` or
/// `i64` as integers, the rest as floats, with floats read by [`parse_f64`].
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let value = parser.value()?;
    parser.skip_space();
    (parser.pos == parser.text.len()).then_some(value)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        let found = self.bytes().get(self.pos..self.pos + word.len()) == Some(word.as_bytes());
        self.pos += word.len();
        found.then_some(value)
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_space();
        match self.peek()? {
            b'n' => self.literal("null", Value::Null),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'"' => self.string().map(Value::String),
            b'[' | b'{' => {
                self.depth += 1;
                if self.depth > MAX_PARSE_DEPTH {
                    return None;
                }
                let value = if self.peek() == Some(b'[') {
                    self.array()
                } else {
                    self.object()
                };
                self.depth -= 1;
                value
            }
            _ => self.number().map(Value::Number),
        }
    }

    /// The items of `[a, b, ...]`, with `self.pos` on the `[`.
    fn array(&mut self) -> Option<Value> {
        self.pos += 1;
        let mut items = Vec::new();
        if self.eat(b']') {
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            if self.eat(b']') {
                return Some(Value::Array(items));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// The members of `{"k": v, ...}`, with `self.pos` on the `{`; a repeated key keeps its
    /// last value, as in `JSON.parse`.
    fn object(&mut self) -> Option<Value> {
        self.pos += 1;
        let mut map = Map::new();
        if self.eat(b'}') {
            return Some(Value::Object(map));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            map.insert(key, self.value()?);
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// A string literal, with `self.pos` on its opening quote.
    fn string(&mut self) -> Option<String> {
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            match *self.bytes().get(self.pos)? {
                b'"' => {
                    out.push_str(self.text.get(run..self.pos)?);
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    out.push_str(self.text.get(run..self.pos)?);
                    self.pos += 1;
                    let escaped = match *self.bytes().get(self.pos)? {
                        b'u' => self.unicode_escape()?,
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        _ => return None,
                    };
                    out.push(escaped);
                    self.pos += 1;
                    run = self.pos;
                }
                0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
    }

    /// The character of `\uXXXX` (or of a `\uD8XX\uDCXX` pair), with `self.pos` on the `u`
    /// and left on the last hex digit.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xd800..0xdc00).contains(&first) {
            return char::from_u32(first);
        }
        if self.bytes().get(self.pos + 1..self.pos + 3)? != b"\\u" {
            return None;
        }
        self.pos += 2;
        let second = self.hex4()?;
        if !(0xdc00..0xe000).contains(&second) {
            return None;
        }
        char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00))
    }

    /// The four hex digits after `self.pos`, leaving `self.pos` on the last.
    fn hex4(&mut self) -> Option<u32> {
        let mut n = 0;
        for _ in 0..4 {
            self.pos += 1;
            n = n * 16 + char::from(self.peek()?).to_digit(16)?;
        }
        Some(n)
    }

    /// Skips a run of digits; how many, and their value (`None` past `u64::MAX`).
    fn digits(&mut self) -> (usize, Option<u64>) {
        let start = self.pos;
        let mut value = Some(0u64);
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(u64::from(digit - b'0')));
            self.pos += 1;
        }
        (self.pos - start, value)
    }

    fn number(&mut self) -> Option<Number> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        self.pos += usize::from(negative);
        let int_start = self.pos;
        let (int_digits, magnitude) = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.bytes().get(int_start) == Some(&b'0')) {
            return None;
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            integral = false;
            if self.digits().0 == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            integral = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits().0 == 0 {
                return None;
            }
        }
        if let (true, Some(magnitude)) = (integral, magnitude) {
            if !negative {
                return Some(Number::from(magnitude));
            }
            // As serde_json: -0 is a float, and so is what i64 cannot hold.
            if let Ok(n) = i64::try_from(magnitude) {
                if n > 0 {
                    return Some(Number::from(-n));
                }
            } else if magnitude == 1 << 63 {
                return Some(Number::from(i64::MIN));
            }
        }
        Number::from_f64(parse_f64(self.text.get(start..self.pos)?)?)
    }
}

/// A JSON number's text as the nearest float; `None` when out of range (as serde_json).
#[cfg(not(target_arch = "wasm32"))]
fn parse_f64(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A JSON number's text as the nearest float, by the browser's `parseFloat` (Rust's own float
/// parser costs several KB of wasm); `None` when out of range.
#[cfg(target_arch = "wasm32")]
fn parse_f64(text: &str) -> Option<f64> {
    Some(js_sys::parse_float(text)).filter(|x| x.is_finite())
}

#[cfg(target_arch = "wasm32")]
pub(crate) mod js {
    //! JS values to and from [`Value`]: strict on the way in (nothing JSON cannot hold gets
    //! through, nothing is silently converted), fresh plain objects on the way out. Both ways
    //! cross the boundary as one string of JSON text.

    use super::{parse, write};
    use crate::error::StoreError;
    use serde_json::Value;
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::{JsCast, JsValue};

    #[wasm_bindgen(module = "/src/bindings/json_text.js")]
    extern "C" {
        /// `value` as JSON text, checked strictly; throws a string naming the first part that
        /// is not JSON.
        #[wasm_bindgen(catch)]
        fn json_text(value: &JsValue, what: &str) -> Result<String, JsValue>;
    }

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

    /// A JSON value from JS, or INVALID_INPUT naming `what` and where the offending part is
    /// (`state.cart[2]: undefined (...)`).
    ///
    /// JS checks the value and writes its text (`json_text.js`), and [`parse`] reads it: one
    /// call across the boundary, where reading the value from wasm took one per property.
    pub(crate) fn from_js(value: &JsValue, what: &str) -> Result<Value, StoreError> {
        let text = json_text(value, what).map_err(|e| StoreError::invalid(js_reason(&e)))?;
        parse(&text).ok_or_else(|| StoreError::invalid("not JSON"))
    }

    /// JSON text as a fresh JS value, through one `JSON.parse`: plain objects and arrays with
    /// no shared references, `__proto__` kept as an ordinary own key.
    pub(crate) fn text_to_js(text: &str) -> JsValue {
        js_sys::JSON::parse(text).unwrap_or(JsValue::UNDEFINED)
    }

    /// A value as a fresh JS value (see [`text_to_js`]).
    pub(crate) fn to_js(value: &Value) -> JsValue {
        let mut text = String::new();
        write(value, &mut text);
        text_to_js(&text)
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
        for text in [
            "",
            "{",
            "nul",
            "nulls",
            "[1,]",
            "{'a':1}",
            "NaN",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "\"\\ud800\"",
            "\"\\udc00\\ud800\"",
            "\"\\x\"",
            "\"\t\"",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1 2]",
            "1e400",
            "\"abc",
            "\"\\u12\"",
            "[] []",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
        let deep = |n| "[".repeat(n) + &"]".repeat(n);
        assert!(parse(&deep(MAX_PARSE_DEPTH)).is_some());
        assert_eq!(parse(&deep(MAX_PARSE_DEPTH + 1)), None);
    }

    /// Texts serde_json reads, read as serde_json reads them.
    #[test]
    fn parse_reads_what_serde_json_reads() {
        for text in [
            " { \"a\" : [ 1 , -2 , 3.5e-3 , 1E+2 , -0 , 0.0 , true , false , null ] } ",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "\"\\u00e9\\ud83d\\udca1\\/\\b\\f\\n\\r\\t\\\"\\\\ ü💡\"",
            "{\"k\":1,\"k\":2}",
            "{\"__proto__\":{\"constructor\":[]}}",
        ] {
            let ours = parse(text).unwrap_or_else(|| panic!("{text}"));
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
            if let Some(x) = theirs.as_f64() {
                assert_eq!(ours.as_f64().unwrap().to_bits(), x.to_bits(), "{text}");
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod generated {
        use super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<u64>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |x| x.is_finite())
                    .prop_map(Value::from),
                any::<String>().prop_map(Value::String),
            ];
            leaf.prop_recursive(6, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::btree_map(any::<String>(), inner, 0..8)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// What `write` prints, `parse` reads back exactly, as serde_json does.
            #[test]
            fn write_then_parse_is_identity(v in value()) {
                let mut text = String::new();
                write(&v, &mut text);
                prop_assert_eq!(&text, &serde_json::to_string(&v).unwrap());
                prop_assert_eq!(parse(&text), Some(v));
            }

            /// On any text, `parse` and serde_json agree on whether it is JSON, and on what.
            #[test]
            fn parse_agrees_with_serde_json(text in "[\\[\\]{}:,\" 0-9eE.+\\-tfrunlsa\\\\/]{0,24}") {
                let theirs = serde_json::from_str::<Value>(&text).ok();
                prop_assert_eq!(parse(&text), theirs);
            }
        }
    }
}
