//! The leader protocol's messages, typed, and their JS objects on the BroadcastChannel: the
//! one place where they are built and read.
//!
//! The objects keep the field names tabs have always exchanged, so that tabs running an
//! earlier build of an app (during a rolling upgrade) still understand each other; an error
//! now also carries the browser exception's `name` and `message`.

use crate::backends::storage::RawPairs;
use crate::browser::field;
use crate::error::{BrowserException, StoreError};
use crate::ErrorCode;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// What a tab asks of the leader.
#[derive(Clone)]
pub(super) enum Request {
    /// The raw values of these localStorage keys.
    Read(Vec<String>),
    /// Applies `writes` if every `expect`ed raw value is still there (else answers that it
    /// changed, and the caller reads and decides again).
    Cas {
        /// The raw values the caller read, by key (`None`: absent).
        expect: RawPairs,
        /// The values to write, by key (`None`: remove).
        writes: RawPairs,
    },
    /// Every record of the store, raw.
    Scan,
    /// Removes every record of the store.
    Clear,
}

/// What the leader answers to a [`Request`].
pub(super) enum Reply {
    /// To `Read`: the raw values, in the order of the keys.
    Values(Vec<Option<String>>),
    /// To `Scan`: the store's keys and raw values.
    Pairs(RawPairs),
    /// To `Cas`: whether the writes were applied (false: a value had changed); to `Clear`,
    /// true.
    Applied(bool),
}

/// An answer: the leader's seq once it served the request, and the reply or the error.
pub(super) struct Answer {
    pub(super) seq: u64,
    pub(super) reply: Result<Reply, StoreError>,
}

/// A message on the store's BroadcastChannel.
pub(super) enum Message {
    /// Tab `from`'s request number `id`, to be served once the leader's localStorage shows
    /// `min_seq`. `None`: a request this build does not know.
    Request {
        from: String,
        id: u64,
        min_seq: u64,
        request: Option<Request>,
    },
    /// The answer to tab `to`'s request number `id`.
    Answer { to: String, id: u64, answer: Answer },
    /// Tab `from` leads now; its localStorage shows `seq`.
    Leader { from: String, seq: u64 },
}

fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &JsValue::from_str(key), &value.into());
}

fn number(value: &JsValue) -> u64 {
    value.as_f64().filter(|n| *n >= 0.0).map_or(0, |n| n as u64)
}

fn string(value: &JsValue) -> String {
    value.as_string().unwrap_or_default()
}

/// `[[key, value | null], ...]`.
fn pairs_to_js(pairs: &[(String, Option<String>)]) -> Array {
    pairs
        .iter()
        .map(|(key, value)| {
            let value = value.as_deref().map_or(JsValue::NULL, JsValue::from_str);
            JsValue::from(Array::of2(&JsValue::from_str(key), &value))
        })
        .collect()
}

fn pairs_from_js(value: &JsValue) -> RawPairs {
    let Some(array) = value.dyn_ref::<Array>() else {
        return Vec::new();
    };
    array
        .iter()
        .filter_map(|pair| {
            let pair: Array = pair.dyn_into().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()))
        })
        .collect()
}

impl Request {
    fn write_to(&self, object: &Object) {
        let op = match self {
            Request::Read(keys) => {
                let keys: Array = keys.iter().map(|k| JsValue::from_str(k)).collect();
                set(object, "keys", keys);
                "read"
            }
            Request::Cas { expect, writes } => {
                set(object, "expect", pairs_to_js(expect));
                set(object, "writes", pairs_to_js(writes));
                "cas"
            }
            Request::Scan => "scan",
            Request::Clear => "clear",
        };
        set(object, "op", op);
    }

    fn read_from(object: &JsValue) -> Option<Request> {
        Some(match string(&field(object, "op")).as_str() {
            "read" => {
                let keys: Array = field(object, "keys").dyn_into().unwrap_or_default();
                Request::Read(keys.iter().map(|k| string(&k)).collect())
            }
            "cas" => Request::Cas {
                expect: pairs_from_js(&field(object, "expect")),
                writes: pairs_from_js(&field(object, "writes")),
            },
            "scan" => Request::Scan,
            "clear" => Request::Clear,
            _ => return None,
        })
    }
}

impl Answer {
    /// The answer's body: `{ seq, values | changed | pairs | error }`.
    pub(super) fn to_js(&self) -> JsValue {
        let body = Object::new();
        match &self.reply {
            Ok(Reply::Values(values)) => {
                let values: Array = values
                    .iter()
                    .map(|v| v.as_deref().map_or(JsValue::NULL, JsValue::from_str))
                    .collect();
                set(&body, "values", values);
            }
            Ok(Reply::Applied(applied)) => {
                if !applied {
                    set(&body, "changed", true);
                }
            }
            Ok(Reply::Pairs(pairs)) => set(&body, "pairs", pairs_to_js(pairs)),
            Err(e) => {
                let error = Object::new();
                set(&error, "quota", e.code() == ErrorCode::QuotaExceeded);
                set(&error, "reason", e.message());
                if let Some(cause) = e.cause() {
                    set(&error, "name", cause.name.as_str());
                    set(&error, "message", cause.message.as_str());
                }
                set(&body, "error", error);
            }
        }
        set(&body, "seq", JsValue::from_f64(self.seq as f64));
        body.into()
    }

    /// An answer's body.
    pub(super) fn from_js(body: &JsValue) -> Answer {
        let seq = number(&field(body, "seq"));
        let error = field(body, "error");
        let reply = if error.is_object() {
            let reason = string(&field(&error, "reason"));
            let name = field(&error, "name");
            let cause = name.as_string().map(|name| BrowserException {
                name,
                message: string(&field(&error, "message")),
            });
            Err(if field(&error, "quota").is_truthy() {
                StoreError::QuotaExceeded {
                    reason: reason.into(),
                    cause,
                }
            } else {
                StoreError::Unavailable {
                    reason: reason.into(),
                    cause,
                }
            })
        } else if let Ok(values) = field(body, "values").dyn_into::<Array>() {
            Ok(Reply::Values(
                values.iter().map(|v| v.as_string()).collect(),
            ))
        } else {
            let pairs = field(body, "pairs");
            if pairs.is_object() {
                Ok(Reply::Pairs(pairs_from_js(&pairs)))
            } else {
                Ok(Reply::Applied(!field(body, "changed").is_truthy()))
            }
        };
        Answer { seq, reply }
    }
}

impl Message {
    /// The message as the object posted on the channel.
    pub(super) fn to_js(&self) -> JsValue {
        let object = Object::new();
        match self {
            Message::Request {
                from,
                id,
                min_seq,
                request,
            } => {
                set(&object, "kind", "request");
                set(&object, "from", from.as_str());
                set(&object, "id", JsValue::from_f64(*id as f64));
                set(&object, "minSeq", JsValue::from_f64(*min_seq as f64));
                if let Some(request) = request {
                    request.write_to(&object);
                }
            }
            Message::Answer { to, id, answer } => {
                set(&object, "kind", "answer");
                set(&object, "to", to.as_str());
                set(&object, "id", JsValue::from_f64(*id as f64));
                set(&object, "seq", JsValue::from_f64(answer.seq as f64));
                set(&object, "body", answer.to_js());
            }
            Message::Leader { from, seq } => {
                set(&object, "kind", "leader");
                set(&object, "from", from.as_str());
                set(&object, "seq", JsValue::from_f64(*seq as f64));
            }
        }
        object.into()
    }

    /// A message received on the channel, with the seq it carries (0 when none); `None` for
    /// what is not a message of the protocol.
    pub(super) fn from_js(message: &JsValue) -> (u64, Option<Message>) {
        let seq = number(&field(message, "seq"));
        let message = match string(&field(message, "kind")).as_str() {
            "request" => Some(Message::Request {
                from: string(&field(message, "from")),
                id: number(&field(message, "id")),
                min_seq: number(&field(message, "minSeq")),
                request: Request::read_from(message),
            }),
            "answer" => Some(Message::Answer {
                to: string(&field(message, "to")),
                id: number(&field(message, "id")),
                answer: Answer::from_js(&field(message, "body")),
            }),
            "leader" => Some(Message::Leader {
                from: string(&field(message, "from")),
                seq,
            }),
            _ => None,
        };
        (seq, message)
    }
}
