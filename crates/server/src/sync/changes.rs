//! The changes feed as the API reads it: every live session without a cursor, what changed
//! after one (each session once), 410 for a cursor of another feed or older than the feed
//! keeps, and the long poll.

use super::{SyncStore, POLL_SHARED};
use crate::error::ApiError;
use crate::kv::{random_token, Kv, STAMP_LEN};
use std::time::Duration;

/// A page of the changes feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Changes {
    /// Each session changed, once, with its ETag now (`None`: deleted or moved away).
    pub changes: Vec<(String, Option<String>)>,
    /// Where the next read starts.
    pub cursor: String,
}

impl<K: Kv> SyncStore<K> {
    /// GET changes: what changed after `since` (every live session without it), waiting up to
    /// `wait_ms` for a change when there is none yet.
    ///
    /// # Errors
    /// 400 for a cursor this server never gives; 410 for one of another feed, or older than
    /// the feed keeps.
    pub async fn changes(&self, since: Option<&str>, wait_ms: u64) -> Result<Changes, ApiError> {
        let since = since.map(parse_cursor).transpose()?;
        let kv = self.backend().kv();
        let scope = self.scope();
        let Some((epoch, after)) = since else {
            let page = kv.feed(scope, None, &random_token()?).await?;
            let now = self.store.now_ms()?;
            let expiry = wasm_session_store::Expiry {
                now_ms: now,
                max_lifetime_ms: None,
            };
            let live = self.backend().live_stamps(expiry).await?;
            return Ok(Changes {
                changes: live
                    .into_iter()
                    .map(|(id, etag)| (String::from(id), Some(etag)))
                    .collect(),
                cursor: cursor(&page.epoch, page.last),
            });
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
        loop {
            // Watched before the read, so a change committed after it wakes this poll.
            let notify = kv.notices().watch(scope);
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let page = kv.feed(scope, Some(after), &random_token()?).await?;
            if page.epoch != epoch {
                return Err(ApiError::CursorExpired(
                    "this cursor is of another feed (another store, owner, or server run): \
                     list again without since"
                        .into(),
                ));
            }
            let first_held = page.last + 1 - page.held;
            if after > page.last || after + 1 < first_held {
                return Err(ApiError::CursorExpired(format!(
                    "this cursor is older than the {} changes the server keeps: list again \
                     without since",
                    self.backend().keep()
                )));
            }
            let now = tokio::time::Instant::now();
            if !page.entries.is_empty() || now >= deadline {
                return Ok(Changes {
                    changes: once_each(page.entries),
                    cursor: cursor(&epoch, page.last),
                });
            }
            let mut nap = deadline - now;
            if kv.shared() {
                nap = nap.min(POLL_SHARED);
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }
}

/// The changes `entries` name, each session once with its last ETag, in the order of their
/// last change.
fn once_each(entries: Vec<(u64, String, String)>) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::with_capacity(entries.len());
    let mut seen = std::collections::HashSet::new();
    for (_, id, etag) in entries.into_iter().rev() {
        if seen.insert(id.clone()) {
            out.push((id, (!etag.is_empty()).then_some(etag)));
        }
    }
    out.reverse();
    out
}

fn cursor(epoch: &str, seq: u64) -> String {
    format!("{epoch}.{seq}")
}

/// A cursor's epoch and sequence number.
fn parse_cursor(text: &str) -> Result<(String, u64), ApiError> {
    let bad = || ApiError::invalid("since is not a cursor this server gave");
    let (epoch, seq) = text.split_once('.').ok_or_else(bad)?;
    let valid_epoch = epoch.len() == STAMP_LEN
        && epoch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_epoch || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok((epoch.to_owned(), seq.parse().map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_or_are_refused() {
        let epoch = "A".repeat(STAMP_LEN);
        assert_eq!(
            parse_cursor(&format!("{epoch}.12")).unwrap(),
            (epoch.clone(), 12)
        );
        for bad in [
            "",
            "12",
            ".12",
            &format!("{epoch}."),
            &format!("{epoch}.-1"),
            &format!("{epoch}.1x"),
            "a.b.c",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_session_is_listed_once_with_its_last_etag() {
        let e = |n: u64, id: &str, etag: &str| (n, id.to_owned(), etag.to_owned());
        let out = once_each(vec![e(1, "a", "x"), e(2, "b", "y"), e(3, "a", "")]);
        assert_eq!(out, [("b".into(), Some("y".into())), ("a".into(), None)]);
    }
}
