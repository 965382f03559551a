//! [`SessionRecord`] and the types its fields are made of.

use crate::error::StoreError;
use crate::id::SessionId;
use crate::json::{self, Member, MAX_STATE_DEPTH};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::type_name;

/// A session's state: a JSON object (string keys to JSON values), kept as its JSON text.
///
/// The store never needs the values themselves, only the object's top-level keys (for
/// [`get`](crate::SessionStore::get), [`set`](crate::SessionStore::set) and
/// [`remove`](crate::SessionStore::remove)), so a state is stored, loaded and handed to JS as the
/// text it was written as, checked but never taken apart.
///
/// Build one from text ([`from_json`](Self::from_json)), from `serde_json` values
/// (`State::from(map)`, or `collect()` over `(String, Value)` pairs), or key by key
/// ([`insert`](Self::insert), [`insert_json`](Self::insert_json)). Keys keep the order they
/// were written in; a key that appears twice means its last value, as in `JSON.parse`. Two
/// states are equal (`==`) when they hold the same keys with equal values, in any order.
///
/// ```
/// use wasm_session_store::State;
/// let mut state = State::from_json(r#"{"user":"ada"}"#).unwrap();
/// state.insert("cart", &serde_json::json!(["apple"])).unwrap();
/// assert_eq!(state.as_json(), r#"{"user":"ada","cart":["apple"]}"#);
/// assert_eq!(state.get_json("cart"), Some(r#"["apple"]"#));
/// assert!(state.remove("user"));
/// assert_eq!(state.as_json(), r#"{"cart":["apple"]}"#);
/// ```
#[derive(Clone)]
pub struct State {
    json: String,
    /// Inside the engine only, never handed out: when not 0, `json` is the state sealed
    /// (base64 of IV, ciphertext and tag) as stored, and this is the number of the storage
    /// format that sealed it ([`codec::SEALED_FORMAT_VERSION`](crate::codec::SEALED_FORMAT_VERSION),
    /// or the previous release's 2, which binds less and is only ever opened to reseal it).
    sealed: u8,
    /// The app's shape version of this state (the store's `stateVersion` when it was
    /// written; see [`StoreOptions::migrate`](crate::StoreOptions::migrate)). Kept by the
    /// engine and the storage format, never compared: 0 for states built by the app.
    shape: u64,
}

impl State {
    /// The empty state, `{}`.
    pub fn new() -> Self {
        Self::from_checked("{}".into())
    }

    /// A state from the JSON text of an object.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::StoreError::InvalidInput) when `text` is not a JSON object
    /// (RFC 8259, nesting at most 512 levels, no lone surrogate escapes, numbers within the
    /// f64 range).
    pub fn from_json(text: impl Into<String>) -> Result<Self, StoreError> {
        let json = text.into();
        if json::members(&json, MAX_STATE_DEPTH).is_none() {
            return Err(StoreError::invalid(
                "state must be the JSON text of an object, nesting at most 512 levels",
            ));
        }
        Ok(Self::from_checked(json))
    }

    /// A state from any value that serializes (serde) to a JSON object: a struct, or a map
    /// with string keys.
    ///
    /// Floats that are not finite are written as `null`, as serde_json writes them.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::StoreError::InvalidInput) naming the type and serde's reason when
    /// it does not serialize, or not to an object, or nests more than 512 levels.
    ///
    /// # Examples
    /// ```
    /// # #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// # struct Cart { items: Vec<String> }
    /// use wasm_session_store::State;
    /// let state = State::from_typed(&Cart { items: vec!["apple".into()] }).unwrap();
    /// assert_eq!(state.as_json(), r#"{"items":["apple"]}"#);
    /// assert_eq!(state.to_typed::<Cart>().unwrap(), Cart { items: vec!["apple".into()] });
    /// assert!(State::from_typed(&vec![1, 2]).is_err()); // an array, not an object
    /// ```
    pub fn from_typed<T: Serialize + ?Sized>(value: &T) -> Result<Self, StoreError> {
        let text = serde_json::to_string(value)
            .map_err(|e| serialize_error("the state", type_name::<T>(), &e))?;
        if !text.starts_with('{') {
            let mut reason = String::from(
                "the state must serialize to a JSON object (a struct, or a map with string keys); ",
            );
            reason.push_str(type_name::<T>());
            reason.push_str(" serializes to ");
            reason.push_str(json_kind(&text));
            return Err(StoreError::invalid(reason));
        }
        Self::from_json(text)
    }

    /// The state as a `T` (serde).
    ///
    /// # Errors
    /// [`InvalidInput`](crate::StoreError::InvalidInput) naming the type and serde's reason when
    /// the state does not deserialize into it.
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_str(&self.json)
            .map_err(|e| deserialize_error("the state", type_name::<T>(), &e))
    }

    /// A state from text known to be a JSON object within the limits of
    /// [`from_json`](Self::from_json).
    pub(crate) fn from_checked(json: String) -> Self {
        State {
            json,
            sealed: 0,
            shape: 0,
        }
    }

    /// A sealed state: its ciphertext as stored (see [`crypto`](crate::crypto)).
    pub(crate) fn sealed(ciphertext: String) -> Self {
        Self::sealed_by(crate::codec::SEALED_FORMAT_VERSION as u8, ciphertext)
    }

    /// A state sealed by storage format `format` (2 or 3): its ciphertext as stored.
    pub(crate) fn sealed_by(format: u8, ciphertext: String) -> Self {
        State {
            json: ciphertext,
            sealed: format,
            shape: 0,
        }
    }

    /// The `stateVersion` the state was written with (0 for a state the app built).
    pub(crate) fn shape(&self) -> u64 {
        self.shape
    }

    /// The same state, said to be of `stateVersion` `shape`.
    pub(crate) fn with_shape(mut self, shape: u64) -> Self {
        self.set_shape(shape);
        self
    }

    /// Says the state is of `stateVersion` `shape`.
    pub(crate) fn set_shape(&mut self, shape: u64) {
        self.shape = shape;
    }

    /// Whether this is a sealed state (its text the ciphertext).
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed != 0
    }

    /// The storage format that sealed the state (0: not sealed).
    pub(crate) fn sealed_format(&self) -> u8 {
        self.sealed
    }

    /// The state's JSON text.
    pub fn as_json(&self) -> &str {
        &self.json
    }

    /// The state's JSON text, owned.
    pub fn into_json(self) -> String {
        self.json
    }

    fn members(&self) -> Vec<Member> {
        json::members(&self.json, MAX_STATE_DEPTH).unwrap_or_default()
    }

    fn key_of(&self, member: &Member) -> &str {
        json::at(&self.json, &member.key)
    }

    /// The JSON text of `key`'s value; `None` when the key is absent.
    pub fn get_json(&self, key: &str) -> Option<&str> {
        let found = self
            .members()
            .into_iter()
            .rev()
            .find(|m| json::key_is(self.key_of(m), key))?;
        Some(json::at(&self.json, &found.value))
    }

    /// `key`'s value; `None` when the key is absent (or nests deeper than the 128 levels
    /// `serde_json` reads).
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        serde_json::from_str(self.get_json(key)?).ok()
    }

    /// Whether `key` is in the state.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get_json(key).is_some()
    }

    /// The keys, in order (a repeated key once, where it first appears).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for member in self.members() {
            let key = json::unescape(self.key_of(&member)).unwrap_or_default();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// How many keys the state has.
    pub fn len(&self) -> usize {
        self.keys().len()
    }

    /// Whether the state has no keys.
    pub fn is_empty(&self) -> bool {
        self.members().is_empty()
    }

    /// Sets `key` to the JSON value `value` (its text), in place when the key is there, else
    /// as the last key.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::StoreError::InvalidInput) when `value` is not JSON nesting at
    /// most 511 levels; the state is unchanged.
    pub fn insert_json(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.insert_checked(key, checked_value(value)?);
        Ok(())
    }

    /// Sets `key` to `value`, as [`insert_json`](Self::insert_json).
    ///
    /// # Errors
    /// As [`insert_json`](Self::insert_json).
    pub fn insert(&mut self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.insert_json(key, &value_text(value))
    }

    /// [`insert_json`](Self::insert_json) of a value known to be checked JSON.
    pub(crate) fn insert_checked(&mut self, key: &str, value: &str) {
        let members = self.members();
        let last = members
            .iter()
            .rposition(|m| json::key_is(self.key_of(m), key));
        let mut quoted = String::new();
        if last.is_none() {
            json::write_str(key, &mut quoted);
        }
        let pairs = members.iter().enumerate().map(|(i, member)| {
            let own = json::at(&self.json, &member.value);
            (
                self.key_of(member),
                if Some(i) == last { value } else { own },
            )
        });
        let added = last.is_none().then_some((quoted.as_str(), value));
        self.json = object_text(
            pairs.chain(added),
            self.json.len() + quoted.len() + value.len(),
        );
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let members = self.members();
        let is_key = |m: &&Member| json::key_is(self.key_of(m), key);
        if !members.iter().any(|m| is_key(&m)) {
            return false;
        }
        let kept = members
            .iter()
            .filter(|m| !is_key(m))
            .map(|m| (self.key_of(m), json::at(&self.json, &m.value)));
        self.json = object_text(kept, self.json.len());
        true
    }

    /// The state as a `serde_json` map (empty if it nests deeper than the 128 levels
    /// `serde_json` reads: compare [`as_json`](Self::as_json) texts then).
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }
}

/// `value` without the whitespace around it, when it is JSON text a state may hold as one
/// key's value (nesting at most 511 levels inside the state's object).
/// INVALID_INPUT for stored JSON that does not deserialize into `type_name`:
/// `<what> does not deserialize into <type>: <serde's reason>`.
pub(crate) fn deserialize_error(
    what: &str,
    type_name: &str,
    error: &serde_json::Error,
) -> StoreError {
    let mut reason = String::from(what);
    reason.push_str(" does not deserialize into ");
    reason.push_str(type_name);
    serde_reason(reason, error)
}

/// INVALID_INPUT for a value of `type_name` that does not serialize to JSON:
/// `<what> (<type>) does not serialize to JSON: <serde's reason>`.
pub(crate) fn serialize_error(
    what: &str,
    type_name: &str,
    error: &serde_json::Error,
) -> StoreError {
    let mut reason = String::from(what);
    reason.push_str(" (");
    reason.push_str(type_name);
    reason.push_str(") does not serialize to JSON");
    serde_reason(reason, error)
}

fn serde_reason(mut reason: String, error: &serde_json::Error) -> StoreError {
    reason.push_str(": ");
    reason.push_str(&error.to_string());
    StoreError::invalid(reason)
}

/// What kind of JSON value `text` (valid JSON) is.
fn json_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

pub(crate) fn checked_value(value: &str) -> Result<&str, StoreError> {
    if json::is_value(value, MAX_STATE_DEPTH - 1) {
        Ok(value.trim_ascii())
    } else {
        Err(StoreError::invalid(
            "a state value must be JSON text, nesting at most 511 levels",
        ))
    }
}

/// `{"k":v,...}` of (key literal, value text) pairs.
fn object_text<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity + 2);
    out.push('{');
    for (i, (key, value)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// A `serde_json` value's text (which writing a `Value` cannot fail to give).
fn value_text(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

impl PartialEq for State {
    /// The same text, or the same keys with equal values (compared as `serde_json` values).
    fn eq(&self, other: &Self) -> bool {
        self.sealed == other.sealed
            && (self.json == other.json || (self.sealed == 0 && self.to_map() == other.to_map()))
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.json)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.json)
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for State {
    /// The map's members in its order (values nesting deeper than 511 levels make a state
    /// the store reads back as CORRUPT).
    fn from(map: serde_json::Map<String, serde_json::Value>) -> Self {
        Self::from_checked(value_text(&serde_json::Value::Object(map)))
    }
}

impl FromIterator<(String, serde_json::Value)> for State {
    /// As `State::from` a map of the pairs (a repeated key keeps its last value).
    fn from_iter<I: IntoIterator<Item = (String, serde_json::Value)>>(pairs: I) -> Self {
        Self::from(pairs.into_iter().collect::<serde_json::Map<_, _>>())
    }
}

/// One session as stored.
///
/// All times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    /// The session id.
    pub id: SessionId,
    /// The session data.
    pub state: State,
    /// 1 on create, +1 on every write to `state`; TTL and id changes keep it.
    pub version: u64,
    /// When the session was created.
    pub created_at: u64,
    /// When `state` was last written.
    pub updated_at: u64,
    /// The absolute deadline; `None` never expires. Expired when `now >= expires_at`.
    pub expires_at: Option<u64>,
    /// The session's own TTL, which sliding expiry uses; `None` for no TTL.
    pub ttl_ms: Option<u64>,
}

impl SessionRecord {
    /// The state as a `T` (serde): [`State::to_typed`].
    ///
    /// # Errors
    /// [`InvalidInput`](crate::StoreError::InvalidInput) naming the type and serde's reason when
    /// the state does not deserialize into it.
    pub fn state_as<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        self.state.to_typed()
    }

    /// Whether the record is expired at `now_ms` (`now >= expires_at`).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|at| now_ms >= at)
    }
}

/// One write of [`save_many`](crate::SessionStore::save_many): a whole state for `id`,
/// unconditional (as [`save`](crate::SessionStore::save)) when `expected` is `None`, else a
/// compare-and-swap (as [`save_if_version`](crate::SessionStore::save_if_version)).
#[derive(Clone, Debug, PartialEq)]
pub struct SaveEntry {
    /// The session to write.
    pub id: SessionId,
    /// Its new state.
    pub state: State,
    /// The version the live session must have (0: must not exist); `None` for no check.
    pub expected: Option<u64>,
}

/// The TTL a new session gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ttl {
    /// The store's `ttl_ms` option.
    #[default]
    StoreDefault,
    /// No TTL: the session never expires (unless the store caps lifetimes).
    Never,
    /// This many milliseconds (a positive safe integer).
    Millis(u64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_found_set_and_removed_in_the_text() {
        let mut s = State::from_json(r#" { "a" : 1 , "b\u0022" : [2] , "a" : 3 } "#).unwrap();
        // A repeated key means its last value, as in JSON.parse.
        assert_eq!(s.get_json("a"), Some("3"));
        assert_eq!(s.get("b\""), Some(json!([2])));
        assert_eq!(s.keys(), ["a", "b\""]);
        assert_eq!(s.len(), 2);
        s.insert_json("a", " {\"x\": null} ").unwrap();
        assert_eq!(s.as_json(), r#"{"a":1,"b\u0022":[2],"a":{"x": null}}"#);
        assert_eq!(s.get("a"), Some(json!({"x": null})));
        s.insert("new\n", &json!("v")).unwrap();
        assert_eq!(s.get_json("new\n"), Some("\"v\""));
        assert!(s.remove("a"));
        assert!(!s.remove("a"));
        assert_eq!(s.as_json(), r#"{"b\u0022":[2],"new\n":"v"}"#);
        assert!(s.remove("b\"") && s.remove("new\n"));
        assert!(s.is_empty());
        assert_eq!(s.as_json(), "{}");
    }

    #[test]
    fn bad_text_is_refused_and_changes_nothing() {
        for text in [
            "[]",
            "1",
            "{",
            "{\"a\":1,}",
            "{\"a\":NaN}",
            "{\"a\":1e400}",
            "",
        ] {
            let err = State::from_json(text).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidInput, "{text}");
        }
        // The state object and 511 levels inside it, as the JS checker allows.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(512), "]".repeat(512));
        assert!(State::from_json(deep).is_err());
        let deepest = format!("{{\"a\":{}{}}}", "[".repeat(511), "]".repeat(511));
        assert!(State::from_json(deepest).is_ok());
        let mut s = State::from_json("{\"k\":1}").unwrap();
        assert!(s.insert_json("j", "undefined").is_err());
        assert!(s.insert_json("j", "1 2").is_err());
        assert_eq!(s.as_json(), "{\"k\":1}");
    }

    #[test]
    fn equality_is_by_content() {
        let a = State::from_json(r#"{"a":1,"b":[true]}"#).unwrap();
        let b = State::from_json(r#"{ "b": [ true ], "a": 1 }"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, State::from_json(r#"{"a":2,"b":[true]}"#).unwrap());
        assert_eq!(State::from(a.to_map()), a);
        let pairs: State = [("a".to_owned(), json!(1))].into_iter().collect();
        assert_eq!(pairs.as_json(), r#"{"a":1}"#);
    }
}
