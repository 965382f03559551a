//! [`MemoryKv`]: the storage of a server without Redis, in this process's memory, shared by
//! every worker thread. Its data lives as long as the process.

#[cfg(test)]
use crate::kv::Put;
use crate::kv::{Commit, FeedPage, Kv, Notices, Scope, STAMP_LEN};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use wasm_session_store::StoreError;

/// Keys and feeds in memory, behind one lock (each step under it is a few map operations).
#[derive(Clone, Debug, Default)]
pub struct MemoryKv(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    data: Mutex<Data>,
    notices: Notices,
}

#[derive(Debug, Default)]
struct Data {
    /// Key -> value and when it is forgotten (ms, the system clock), as Redis keeps them.
    values: HashMap<String, (Bytes, Option<u64>)>,
    scopes: HashMap<String, ScopeData>,
}

#[derive(Debug, Default)]
struct ScopeData {
    index: HashMap<String, Option<u64>>,
    epoch: Option<String>,
    last: u64,
    feed: VecDeque<(u64, String, String)>,
}

impl ScopeData {
    fn epoch(&mut self, epoch: &str) -> String {
        self.epoch.get_or_insert_with(|| epoch.to_owned()).clone()
    }
}

/// The system clock in ms, the clock keys expire by (as Redis's own clock does there).
pub(crate) fn system_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Data {
    /// The value under `key`, if not forgotten by `now`.
    fn live(&self, key: &str, now: u64) -> Option<&Bytes> {
        match self.values.get(key) {
            Some((value, at)) if at.is_none_or(|at| now <= at) => Some(value),
            _ => None,
        }
    }
}

impl MemoryKv {
    fn lock(&self) -> MutexGuard<'_, Data> {
        // Nothing under the lock panics halfway through a change; a poisoned lock (a panic
        // elsewhere while holding it) still holds consistent data.
        self.0.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sweeps every `period` on a thread of its own, for as long as some clone of this
    /// storage lives (the server's workers hold it until they stop).
    pub fn sweep_every(&self, period: std::time::Duration) -> std::io::Result<()> {
        let weak = Arc::downgrade(&self.0);
        std::thread::Builder::new()
            .name("wss-sweep".into())
            .spawn(move || loop {
                std::thread::sleep(period);
                match weak.upgrade() {
                    Some(inner) => MemoryKv(inner).sweep(),
                    None => return,
                }
            })?;
        Ok(())
    }

    /// Removes what has expired, so a long-running process does not keep it.
    pub fn sweep(&self) {
        let now = system_ms();
        let mut data = self.lock();
        data.values
            .retain(|_, (_, at)| at.is_none_or(|at| now <= at));
        for scope in data.scopes.values_mut() {
            scope.index.retain(|_, at| at.is_none_or(|at| now <= at));
        }
    }
}

impl Kv for MemoryKv {
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, StoreError> {
        let now = system_ms();
        let data = self.lock();
        Ok(keys.iter().map(|k| data.live(k, now).cloned()).collect())
    }

    async fn commit(
        &self,
        scope: &Scope,
        commit: &Commit,
        keep: u64,
        epoch: &str,
    ) -> Result<bool, StoreError> {
        let now = system_ms();
        {
            let mut data = self.lock();
            for (key, stamp) in &commit.expect {
                let held = data.live(key, now).map(|v| &v[..STAMP_LEN.min(v.len())]);
                if held != stamp.as_deref().map(str::as_bytes) {
                    return Ok(false);
                }
            }
            for put in &commit.put {
                data.values
                    .insert(put.key.clone(), (put.value.clone(), put.expire_at));
            }
            for key in &commit.delete {
                data.values.remove(key);
            }
            let s = data.scopes.entry(scope.prefix().to_owned()).or_default();
            for id in &commit.unindex {
                s.index.remove(id);
            }
            for (id, at) in &commit.index {
                s.index.insert(id.clone(), *at);
            }
            if !commit.feed.is_empty() {
                s.epoch(epoch);
                for (id, etag) in &commit.feed {
                    s.last += 1;
                    s.feed.push_back((s.last, id.clone(), etag.clone()));
                }
                while s.feed.len() as u64 > keep {
                    s.feed.pop_front();
                }
            }
        }
        if !commit.feed.is_empty() {
            self.0.notices.announce(scope);
        }
        Ok(true)
    }

    async fn index(&self, scope: &Scope) -> Result<Vec<String>, StoreError> {
        let data = self.lock();
        Ok(data
            .scopes
            .get(scope.prefix())
            .map(|s| s.index.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn feed(
        &self,
        scope: &Scope,
        after: Option<u64>,
        epoch: &str,
    ) -> Result<FeedPage, StoreError> {
        let mut data = self.lock();
        let s = data.scopes.entry(scope.prefix().to_owned()).or_default();
        let epoch = s.epoch(epoch);
        let entries = match after {
            Some(after) => s
                .feed
                .iter()
                .filter(|(n, _, _)| *n > after)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        Ok(FeedPage {
            epoch,
            last: s.last,
            held: s.feed.len() as u64,
            entries,
        })
    }

    fn notices(&self) -> &Notices {
        &self.0.notices
    }

    fn shared(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_forgets_what_has_expired_and_keeps_the_rest() {
        let kv = MemoryKv::default();
        let scope = Scope::new("o", "s");
        let now = system_ms();
        let put = |key: &str, expire_at| Put {
            key: key.into(),
            value: Bytes::from_static(b"AAAAAAAAAAAAAAAAAAAAAA\n"),
            expire_at,
        };
        let commit = Commit {
            put: vec![
                put("gone", Some(now - 1)),
                put("kept", Some(now + 60_000)),
                put("forever", None),
            ],
            index: vec![
                ("gone".into(), Some(now - 1)),
                ("kept".into(), Some(now + 60_000)),
            ],
            ..Commit::default()
        };
        ready(kv.commit(&scope, &commit, 10, "e")).unwrap();
        kv.sweep();
        let data = kv.lock();
        let mut keys: Vec<&String> = data.values.keys().collect();
        keys.sort();
        assert_eq!(keys, ["forever", "kept"]);
        let index: Vec<&String> = data.scopes[scope.prefix()].index.keys().collect();
        assert_eq!(index, ["kept"]);
    }

    /// Runs a future that never waits (the memory storage's never do).
    fn ready<F: std::future::Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => panic!("the memory storage waited"),
        }
    }
}
