//! Idempotency-Keys: what a write with one keeps for a day (the request's digest and the
//! write's answer), and that answer given again to a retry.

use super::{Idempotency, SyncStore, Written, DAY_MS};
use crate::error::ApiError;
use crate::json::record_json;
use crate::kv::{random_token, Kv, Put, STAMP_LEN};
use serde::{Deserialize, Serialize};
use wasm_session_store::{SessionId, SessionRecord, StoreError, SyncWrite};

/// A PUT's record without its state: version, createdAt, updatedAt, expiresAt, ttlMs.
type Fields = (u64, u64, u64, Option<u64>, Option<u64>);

/// What an Idempotency-Key remembers: the request's digest and the write's answer. A PUT's
/// record is kept without its state (the retry carries the same state), a move's whole.
#[derive(Serialize, Deserialize)]
struct Replay {
    fp: String,
    status: u16,
    etag: Option<String>,
    /// A PUT's record: version, createdAt, updatedAt, expiresAt, ttlMs.
    #[serde(default)]
    fields: Option<Fields>,
    /// A move's answer.
    #[serde(default)]
    body: Option<String>,
}

impl<K: Kv> SyncStore<K> {
    /// What an Idempotency-Key keeps for a day: the request's digest and this answer.
    pub(super) fn replay_put(
        &self,
        id: &SessionId,
        idem: &Idempotency,
        written: &Written,
        record: Option<&SessionRecord>,
        write: &SyncWrite,
        now: u64,
    ) -> Result<Put, ApiError> {
        let replay = Replay {
            fp: idem.fingerprint.clone(),
            status: written.status,
            etag: written.etag.clone(),
            fields: match (write, record) {
                (SyncWrite::Replace { .. }, Some(r)) => Some((
                    r.version,
                    r.created_at,
                    r.updated_at,
                    r.expires_at,
                    r.ttl_ms,
                )),
                _ => None,
            },
            body: match write {
                SyncWrite::Move(_) => written.body.clone(),
                _ => None,
            },
        };
        let mut value = random_token()?;
        value.push('\n');
        value.push_str(&serde_json::to_string(&replay).unwrap_or_default());
        Ok(Put {
            key: self.scope().replay_key(id.as_str(), &idem.key),
            value: value.into(),
            expire_at: Some(self.backend().storage_time(now + DAY_MS, now)),
        })
    }
}

/// The answer of the write an Idempotency-Key names, given again.
pub(super) fn replay(
    value: &[u8],
    idem: &Idempotency,
    id: &SessionId,
    write: &SyncWrite,
) -> Result<Written, ApiError> {
    let replay: Replay = std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.get(STAMP_LEN + 1..))
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or_else(|| {
            ApiError::Store(StoreError::corrupt(
                id.as_str(),
                "the answer kept for this Idempotency-Key does not decode",
            ))
        })?;
    if replay.fp != idem.fingerprint {
        return Err(ApiError::invalid(
            "this Idempotency-Key was sent with another request for this session: a retry \
             sends the same request, a new change a new key",
        ));
    }
    let body = match (write, replay.fields) {
        (SyncWrite::Replace { with, .. }, Some((version, created_at, updated_at, e, t))) => {
            Some(record_json(&SessionRecord {
                id: id.clone(),
                state: with.state.clone(),
                version,
                created_at,
                updated_at,
                expires_at: e,
                ttl_ms: t,
            }))
        }
        _ => replay.body,
    };
    Ok(Written {
        status: replay.status,
        etag: replay.etag,
        body,
    })
}
