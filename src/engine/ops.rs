//! [`Op`] and [`Outcome`]: the operations the engine's one async path carries out, what they
//! return, and the checks of their arguments.

use super::queue::{Acked, Pulled, Row};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::{checked_value, SaveEntry, SessionRecord, State};
use crate::store::MAX_SAFE_INTEGER;

/// A state key is non-empty, else INVALID_INPUT.
pub fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        Err(StoreError::invalid("state keys must be non-empty strings"))
    } else {
        Ok(())
    }
}

/// Sorts `v` in O(n log n). By hand because `sort_unstable` (quicksort with its small-sort and
/// heapsort fallbacks) costs ~1 KB of gzipped wasm for this one use, and this ~100 B.
fn heapsort(v: &mut [&str]) {
    fn sift(v: &mut [&str], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && v[child] < v[child + 1] {
                child += 1;
            }
            if v[root] >= v[child] {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    for root in (0..v.len() / 2).rev() {
        sift(v, root, v.len());
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

/// INVALID_INPUT when an id appears twice in a batch.
pub(super) fn check_distinct(ids: &[&SessionId]) -> Result<(), StoreError> {
    if ids.len() < 2 {
        return Ok(());
    }
    // Sorted rather than hashed: the build then needs no hash map at all (~2 KB of gzipped
    // wasm).
    let mut sorted: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    heapsort(&mut sorted);
    if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(StoreError::invalid(
            "a batch must not name the same id twice",
        ));
    }
    Ok(())
}

pub(super) fn check_expected(expected: Option<u64>) -> Result<(), StoreError> {
    match expected {
        Some(v) if v > MAX_SAFE_INTEGER => Err(StoreError::invalid(
            "expected version must be a safe integer >= 0",
        )),
        _ => Ok(()),
    }
}

/// One operation of the contract, as the engine's one async function (`Store::run`) carries it
/// out, its arguments checked.
///
/// Every operation goes through that one async function, with what it writes decided by a
/// synchronous `decide` on what the backend read: the engine's async code, and the backend's
/// that it awaits, is compiled once rather than once per operation (async state machines are
/// most of the wasm's size).
pub enum Op {
    /// The live records of the ids (with sliding expiry, a write moving their deadlines).
    Read,
    /// A new session under the one id: its state and TTL.
    Create(State, Option<u64>),
    /// Whole-state writes, one per id, unconditional or a CAS; with `true` (a single write),
    /// a failure fails the operation rather than being its result.
    Put(Vec<SaveEntry>, bool),
    /// Replaces the TTL of the one id's live session.
    UpdateTtl(Option<u64>),
    /// Sets a state key (non-empty) to a checked JSON value.
    Set(String, String),
    /// Removes a state key (non-empty).
    Remove(String),
    /// Deletes the one id's record, whatever it holds.
    Delete,
    /// Moves the live session of the first id to the second (different) id.
    ChangeId,
    /// Removes expired sessions, at most this many.
    DeleteExpired(Option<usize>),
    /// The ids of the live sessions.
    Ids,
    /// Removes every record.
    Clear,
    /// A synced store: sessions pulled from the server (or taken from it in a conflict),
    /// written where nothing newer is queued. The ids are each one's, and a move's target.
    Apply(Vec<Pulled>),
    /// A synced store: what the server took of queued changes.
    Ack(Vec<Acked>),
    /// A synced store: the queue rows of the ids, each with its session's live record (as
    /// `load` gives it, without sliding).
    Queue,
    /// A synced store: reads (`None`) or writes the store's sync record (the pull cursor, the
    /// last pass, the last error), under the one id given.
    Meta(Option<State>),
    /// A synced store without Web Locks: takes the pass lease of the one id given for `by`
    /// until `until` if it is free at `now` (or `by`'s), or with `until` 0 gives it back;
    /// the count says whether `by` holds it.
    Lease(String, u64, u64),
    /// At open: confirms that an encrypted store's key opens its key check (INVALID_INPUT for
    /// the app's key when it does not), upgrading the store to this release's check where it
    /// has none; without encryption, INVALID_INPUT where the store has a key check.
    CheckKey,
}

impl Op {
    /// [`Op::Set`], with the key and the value's JSON text checked.
    pub fn set(key: &str, value: &str) -> Result<Op, StoreError> {
        check_key(key)?;
        Ok(Op::Set(key.to_owned(), checked_value(value)?.to_owned()))
    }

    /// [`Op::Remove`], with the key checked.
    pub fn remove(key: &str) -> Result<Op, StoreError> {
        check_key(key)?;
        Ok(Op::Remove(key.to_owned()))
    }
}

/// What an [`Op`] returns.
pub enum Outcome {
    /// Read and Create: a record (or `None`) per id.
    Records(Vec<Option<SessionRecord>>),
    /// Put: one result per entry.
    Versions(Vec<Result<u64, StoreError>>),
    /// Set, Remove, UpdateTtl: the version now stored.
    Version(u64),
    /// Delete: whether a live session was removed.
    Deleted(bool),
    /// DeleteExpired: how many were removed; Apply and Ack: how many were written.
    Count(usize),
    /// Ids.
    Ids(Vec<SessionId>),
    /// Queue: each id with its row and live record (unreadable ones with a change queued
    /// left out: nobody pushes them until they are deleted or written again).
    Queue(Vec<(SessionId, Row, Option<SessionRecord>)>),
    /// Clear and ChangeId.
    Done,
}

impl Outcome {
    /// The records of Read or Create.
    pub fn into_records(self) -> Vec<Option<SessionRecord>> {
        match self {
            Outcome::Records(records) => records,
            _ => Vec::new(),
        }
    }

    /// The first record of Read or Create.
    pub fn into_record(self) -> Option<SessionRecord> {
        self.into_records().into_iter().next().flatten()
    }

    /// The results of Put.
    pub fn into_versions(self) -> Vec<Result<u64, StoreError>> {
        match self {
            Outcome::Versions(results) => results,
            _ => Vec::new(),
        }
    }

    /// The version of Set, Remove and UpdateTtl, or of a single Put.
    pub fn version(self) -> Result<u64, StoreError> {
        match self {
            Outcome::Version(version) => Ok(version),
            other => other.into_versions().into_iter().next().unwrap_or(Ok(0)),
        }
    }

    /// A count (DeleteExpired) or a flag (Delete) as a number.
    pub fn count(&self) -> usize {
        match self {
            Outcome::Count(n) => *n,
            Outcome::Deleted(deleted) => usize::from(*deleted),
            _ => 0,
        }
    }

    /// The ids of Ids.
    pub fn into_ids(self) -> Vec<SessionId> {
        match self {
            Outcome::Ids(ids) => ids,
            _ => Vec::new(),
        }
    }
}

/// The id changeId moves a session to: `new_id`, or a generated one; INVALID_INPUT when it is
/// the old id.
pub fn new_id_for(old_id: &SessionId, new_id: Option<&SessionId>) -> Result<SessionId, StoreError> {
    match new_id {
        Some(id) if id == old_id => Err(StoreError::invalid(
            "changeId needs a new id different from the old one",
        )),
        Some(id) => Ok(id.clone()),
        None => SessionId::generate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heapsort_sorts_every_arrangement() {
        // Every permutation of up to 6 items (with duplicates among them), and longer runs.
        let base = ["d", "a", "c", "a", "b", "e"];
        for n in 0..=base.len() {
            let mut items: Vec<&str> = base[..n].to_vec();
            let mut expected = items.clone();
            expected.sort();
            // Heap's algorithm over the indices.
            let mut c = vec![0; n];
            let check = |v: &[&str]| {
                let mut v = v.to_vec();
                heapsort(&mut v);
                assert_eq!(v, expected);
            };
            check(&items);
            let mut i = 0;
            while i < n {
                if c[i] < i {
                    items.swap(if i % 2 == 0 { 0 } else { c[i] }, i);
                    check(&items);
                    c[i] += 1;
                    i = 0;
                } else {
                    c[i] = 0;
                    i += 1;
                }
            }
        }
        let long: Vec<String> = (0..1000).map(|i| ((i * 7919) % 1009).to_string()).collect();
        let mut v: Vec<&str> = long.iter().map(String::as_str).collect();
        let mut expected = v.clone();
        expected.sort();
        heapsort(&mut v);
        assert_eq!(v, expected);
    }

    #[test]
    fn a_batch_naming_an_id_twice_is_refused() {
        let ids: Vec<SessionId> = ["b", "a", "c", "a"]
            .iter()
            .map(|s| SessionId::new(s.to_string()).unwrap())
            .collect();
        let refs: Vec<&SessionId> = ids.iter().collect();
        assert!(check_distinct(&refs).is_err());
        assert!(check_distinct(&refs[..3]).is_ok());
        assert!(check_distinct(&refs[..1]).is_ok());
    }
}
