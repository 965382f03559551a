//! JSON text, checked and navigated without building values.
//!
//! The store never needs a session's state as values: it keeps the state as the JSON text of
//! an object ([`State`](crate::State)) and only ever looks at its top-level keys (get, set,
//! remove). So rather than a parser that builds `serde_json::Value`s (BTreeMaps, Strings, a
//! float parser: the largest part of the wasm that handled state, and a copy of every state
//! on every load), this module has a checking [`Scanner`] that walks the text once and
//! reports where the members of an object are.
//!
//! What it accepts is RFC 8259 JSON, nested at most as deep as asked, without lone surrogate
//! escapes (which a Rust string cannot hold) and without numbers out of the f64 range
//! (`1e400`: `JSON.parse` would turn it into Infinity, which JSON cannot hold).

use std::ops::Range;

/// How deep a state may nest: the state object itself and 511 levels inside it, as the JS
/// checker (`json_text.js`) allows.
pub(crate) const MAX_STATE_DEPTH: usize = 512;

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

/// One member of an object: where its key's string literal (quotes included) and its value
/// are in the text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Member {
    pub(crate) key: Range<usize>,
    pub(crate) value: Range<usize>,
}

/// The members of the JSON object `text` (whitespace around it allowed), in order; `None`
/// when `text` is not one object of JSON nesting at most `depth` levels (the object itself
/// counts as one).
pub(crate) fn members(text: &str, depth: usize) -> Option<Vec<Member>> {
    let mut scan = Scanner { text, pos: 0 };
    let mut out = Vec::new();
    scan.space();
    if scan.peek() != Some(b'{') || depth == 0 {
        return None;
    }
    scan.object(depth - 1, &mut |key, value| out.push(Member { key, value }))?;
    scan.space();
    (scan.pos == text.len()).then_some(out)
}

/// A JSON object's members, looked up by name (the last of a repeated name, as `JSON.parse`).
pub(crate) struct Fields<'a> {
    text: &'a str,
    members: Vec<Member>,
}

impl<'a> Fields<'a> {
    /// The members of the object `text` nesting at most `depth` levels.
    pub(crate) fn of(text: &'a str, depth: usize) -> Option<Self> {
        Some(Fields {
            text,
            members: members(text, depth)?,
        })
    }

    /// The value text of member `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.members
            .iter()
            .rev()
            .find(|m| key_is(at(self.text, &m.key), name))
            .map(|m| at(self.text, &m.value))
    }

    /// Member `name` as a string.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.get(name).and_then(unescape)
    }

    /// Member `name` as a non-negative integer.
    pub(crate) fn uint(&self, name: &str) -> Option<u64> {
        self.get(name).and_then(uint)
    }
}

/// Whether `text` is one JSON value (whitespace around it allowed) nesting at most `depth`
/// levels.
pub(crate) fn is_value(text: &str, depth: usize) -> bool {
    let mut scan = Scanner { text, pos: 0 };
    scan.space();
    scan.value(depth).is_some() && {
        scan.space();
        scan.pos == text.len()
    }
}

/// `text[range]`, or "" where that is not a slice of it (never, for ranges this module
/// found): slicing with `[]` would link the panic path's formatting code (~3 KB of wasm).
pub(crate) fn at<'a>(text: &'a str, range: &Range<usize>) -> &'a str {
    text.get(range.clone()).unwrap_or("")
}

/// A non-negative integer written in plain digits (no sign, fraction or exponent); `None`
/// for anything else or past `u64::MAX`.
pub(crate) fn uint(text: &str) -> Option<u64> {
    let mut n: u64 = 0;
    if text.is_empty() {
        return None;
    }
    for digit in text.bytes() {
        if !digit.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    Some(n)
}

/// Whether the string literal `token` (quotes included, checked JSON) means `key`.
pub(crate) fn key_is(token: &str, key: &str) -> bool {
    let inner = token.get(1..token.len().saturating_sub(1)).unwrap_or("");
    if inner.contains('\\') {
        unescape(token).is_some_and(|s| s == key)
    } else {
        inner == key
    }
}

/// The text of the string literal `token` (quotes included), escapes decoded; `None` when it
/// is not a checked string literal.
pub(crate) fn unescape(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'"' || bytes[bytes.len() - 1] != b'"' {
        return None;
    }
    let inner = token.get(1..token.len() - 1).unwrap_or("");
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'u' => {
                let first = hex4(&mut chars)?;
                if (0xd800..0xdc00).contains(&first) {
                    // The scanner checked that a low surrogate escape follows.
                    let (_, _) = (chars.next()?, chars.next()?);
                    let second = hex4(&mut chars)?;
                    char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00))?
                } else {
                    char::from_u32(first)?
                }
            }
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            c => c, // '"', '\\', '/'
        });
    }
    Some(out)
}

/// The value of the next four hex digits of `chars`.
fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut n = 0;
    for _ in 0..4 {
        n = n * 16 + chars.next()?.to_digit(16)?;
    }
    Some(n)
}

/// A checking walk over JSON text that builds nothing.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    /// Skips one value (after whitespace) that may nest `depth` more levels.
    fn value(&mut self, depth: usize) -> Option<()> {
        self.space();
        let word = match self.peek()? {
            b'n' => "null",
            b't' => "true",
            b'f' => "false",
            b'"' => return self.string().map(drop),
            b'[' | b'{' if depth == 0 => return None,
            b'[' => return self.array(depth - 1),
            b'{' => return self.object(depth - 1, &mut |_, _| {}),
            _ => return self.number(),
        };
        let found = self.bytes().get(self.pos..self.pos + word.len()) == Some(word.as_bytes());
        self.pos += word.len();
        found.then_some(())
    }

    /// `[a, b, ...]`, with `self.pos` on the `[`; items may nest `depth` more levels.
    fn array(&mut self, depth: usize) -> Option<()> {
        self.pos += 1;
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.value(depth)?;
            if self.eat(b']') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// `{"k": v, ...}`, with `self.pos` on the `{`, calling `each` with every member's key
    /// literal and value; values may nest `depth` more levels.
    fn object(
        &mut self,
        depth: usize,
        each: &mut dyn FnMut(Range<usize>, Range<usize>),
    ) -> Option<()> {
        self.pos += 1;
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            self.space();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            self.space();
            let start = self.pos;
            self.value(depth)?;
            each(key, start..self.pos);
            if self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// A string literal, with `self.pos` on its opening quote; where it is, quotes included.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match *self.bytes().get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(start..self.pos);
                }
                b'\\' => {
                    self.pos += 1;
                    match *self.bytes().get(self.pos)? {
                        b'u' => {
                            let first = self.hex4()?;
                            if (0xd800..0xdc00).contains(&first) {
                                if self.bytes().get(self.pos + 1..self.pos + 3)? != b"\\u" {
                                    return None;
                                }
                                self.pos += 2;
                                if !(0xdc00..0xe000).contains(&self.hex4()?) {
                                    return None;
                                }
                            } else if (0xdc00..0xe000).contains(&first) {
                                return None;
                            }
                        }
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        _ => return None,
                    }
                    self.pos += 1;
                }
                0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
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

    /// Skips a run of digits; how many.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        self.pos += usize::from(self.peek() == Some(b'-'));
        let int_start = self.pos;
        let int_digits = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.bytes().get(int_start) == Some(&b'0')) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            exponent = true;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // Without an exponent, fewer than 309 integer digits are always below f64::MAX; only
        // the rest needs reading as a float.
        if exponent || int_digits > 308 {
            is_finite(at(self.text, &(start..self.pos))).then_some(())
        } else {
            Some(())
        }
    }
}

/// Whether a JSON number's text is within the f64 range.
#[cfg(not(target_arch = "wasm32"))]
fn is_finite(text: &str) -> bool {
    text.parse::<f64>().is_ok_and(f64::is_finite)
}

/// Whether a JSON number's text is within the f64 range, by the browser's `parseFloat`
/// (Rust's own float parser costs several KB of wasm); only numbers with an exponent get here.
#[cfg(target_arch = "wasm32")]
fn is_finite(text: &str) -> bool {
    js_sys::parse_float(text).is_finite()
}

#[cfg(target_arch = "wasm32")]
pub mod js {
    //! JSON text to and from JS: strict on the way in (nothing JSON cannot hold gets through,
    //! nothing is silently converted), fresh plain objects on the way out. Both ways cross the
    //! boundary as one string.

    use crate::browser::exception_reason;
    use crate::error::StoreError;
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::JsValue;

    #[wasm_bindgen(module = "/src/json_text.js")]
    extern "C" {
        /// `value` as JSON text, checked strictly; throws a string naming the first part that
        /// is not JSON.
        #[wasm_bindgen(catch)]
        fn json_text(value: &JsValue, what: &str) -> Result<String, JsValue>;
    }

    /// A JS value as JSON text, or INVALID_INPUT naming `what` and where the offending part is
    /// (`state.cart[2]: undefined (...)`).
    ///
    /// JS checks the value and writes its text (`json_text.js`): one call across the boundary,
    /// where reading the value from wasm took one per property. What it writes is JSON by
    /// construction, so it is not checked again here.
    pub fn text_from_js(value: &JsValue, what: &str) -> Result<String, StoreError> {
        json_text(value, what).map_err(|e| StoreError::invalid(exception_reason(&e)))
    }

    /// JSON text as a fresh JS value, through one `JSON.parse`: plain objects and arrays with
    /// no shared references, `__proto__` kept as an ordinary own key.
    pub fn text_to_js(text: &str) -> JsValue {
        js_sys::JSON::parse(text).unwrap_or(JsValue::UNDEFINED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> bool {
        is_value(text, 513)
    }

    #[test]
    fn refuses_what_is_not_json() {
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
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"\t\"",
            "{\"a\"}",
            "{\"a\":1,}",
            "{1:1}",
            "[1 2]",
            "1e400",
            "-1e400",
            &format!("1{}", "0".repeat(309)),
            "\"abc",
            "\"\\u12\"",
            "[] []",
        ] {
            assert!(!ok(text), "{text}");
        }
        let deep = |n| "[".repeat(n) + &"]".repeat(n);
        assert!(is_value(&deep(512), 512));
        assert!(!is_value(&deep(513), 512));
    }

    /// Whatever serde_json reads, the scanner accepts, and the other way round.
    #[test]
    fn accepts_what_serde_json_reads() {
        for text in [
            " { \"a\" : [ 1 , -2 , 3.5e-3 , 1E+2 , -0 , 0.0 , true , false , null ] } ",
            "18446744073709551616",
            "1.7976931348623157e308",
            "5e-324",
            "1e-400",
            &format!("1{}", "0".repeat(300)),
            "\"\\u00e9\\ud83d\\udca1\\/\\b\\f\\n\\r\\t\\\"\\\\ ü💡\"",
            "{\"k\":1,\"k\":2}",
            "{\"__proto__\":{\"constructor\":[]}}",
        ] {
            assert!(ok(text), "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn members_are_found_with_their_keys() {
        let text = r#" {"a": 1, "b\u0022": [2, {"c": 3}], "": "x" } "#;
        let found = members(text, 3).unwrap();
        let parts: Vec<(&str, &str)> = found
            .iter()
            .map(|m| (&text[m.key.clone()], &text[m.value.clone()]))
            .collect();
        assert_eq!(
            parts,
            [
                ("\"a\"", "1"),
                ("\"b\\u0022\"", "[2, {\"c\": 3}]"),
                ("\"\"", "\"x\"")
            ]
        );
        assert!(key_is("\"b\\u0022\"", "b\""));
        assert!(key_is("\"a\"", "a"));
        assert!(!key_is("\"a\"", "b"));
        assert_eq!(members(text, 2), None);
        assert_eq!(members("[1]", 3), None);
        assert_eq!(members("{} x", 3), None);
    }

    #[test]
    fn unescape_decodes_every_escape() {
        let text = "\"\\u00e9\\ud83d\\udca1\\/\\b\\f\\n\\r\\t\\\"\\\\ ü💡\"";
        let theirs: String = serde_json::from_str(text).unwrap();
        assert_eq!(unescape(text).unwrap(), theirs);
    }

    #[test]
    fn write_str_writes_what_serde_json_writes() {
        for s in [
            "quote \" backslash \\ newline \n tab \t cr \r nul \u{0} us \u{1f} del \u{7f}",
            "ü💡 \u{2028} \u{2029} 日本",
            "",
        ] {
            let mut text = String::new();
            write_str(s, &mut text);
            assert_eq!(text, serde_json::to_string(s).unwrap());
            assert_eq!(unescape(&text).unwrap(), s);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// On any text, the scanner and serde_json agree on whether it is JSON.
            #[test]
            fn agrees_with_serde_json(text in "[\\[\\]{}:,\" 0-9eE.+\\-tfrunlsa\\\\/]{0,24}") {
                let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
                prop_assert_eq!(ok(&text), theirs);
            }
        }
    }
}
