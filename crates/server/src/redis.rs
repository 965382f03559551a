//! [`RedisKv`]: the storage on Redis or Redis Cluster. One generic type serves both: redis-rs's
//! `ConnectionManager` (standalone, reconnecting) and its cluster connection are both
//! `ConnectionLike`.
//!
//! A commit is one Lua script ([`COMMIT`]): it compares the stamps of the keys read, then
//! writes the values (with `PXAT`, Redis's PEXPIREAT), the index and the feed, or writes
//! nothing. Every key it names is of one scope, so of one hash slot.

use crate::kv::{Commit, FeedPage, Kv, Notices, Scope};
use bytes::Bytes;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, RedisError, Script, Value};
use std::sync::Arc;
use std::time::Duration;
use wasm_session_store::StoreError;

/// The commit script. KEYS: the index, the feed, the feed's sequence, then the keys expected
/// (`ne`), put (`np`) and deleted (`nd`). ARGV: `ne np nd keep epoch nindex nunindex nfeed`,
/// then a stamp per expected key ("" for absent), a value and its PXAT ("" for none) per put,
/// an id and its score ("" for never) per indexed id, an id per unindexed one, and an id and
/// its ETag per change. Returns 1 when applied, 0 when a stamp differed (nothing written).
pub const COMMIT: &str = r#"
local ne, np, nd = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local keep, epoch = ARGV[4], ARGV[5]
local ni, nu, nf = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local k, a = 4, 9
for i = 1, ne do
  if redis.call('GETRANGE', KEYS[k], 0, 21) ~= ARGV[a] then return 0 end
  k, a = k + 1, a + 1
end
for i = 1, np do
  if ARGV[a + 1] == '' then
    redis.call('SET', KEYS[k], ARGV[a])
  else
    redis.call('SET', KEYS[k], ARGV[a], 'PXAT', ARGV[a + 1])
  end
  k, a = k + 1, a + 2
end
for i = 1, nd do
  redis.call('DEL', KEYS[k])
  k = k + 1
end
for i = 1, ni do
  local score = ARGV[a + 1]
  if score == '' then score = '+inf' end
  redis.call('ZADD', KEYS[1], score, ARGV[a])
  a = a + 2
end
for i = 1, nu do
  redis.call('ZREM', KEYS[1], ARGV[a])
  a = a + 1
end
if ni > 0 then
  -- Ids whose keys Redis has forgotten (their PXAT passed) leave the index.
  local t = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (t[1] * 1000 + math.floor(t[2] / 1000)))
end
if nf > 0 then
  redis.call('HSETNX', KEYS[3], 'e', epoch)
  for i = 1, nf do
    local n = redis.call('HINCRBY', KEYS[3], 'n', 1)
    redis.call('XADD', KEYS[2], 'MAXLEN', '=', keep, string.format('%d-0', n), 'i', ARGV[a], 'e', ARGV[a + 1])
    a = a + 2
  end
end
return 1
"#;

/// The feed script. KEYS: the feed's sequence, the feed. ARGV: an epoch for a new feed, the
/// sequence number to read after ("" to read nothing). Returns the epoch, the last sequence
/// number, how many changes the feed holds, then a sequence number, id and ETag per change.
pub const FEED: &str = r#"
redis.call('HSETNX', KEYS[1], 'e', ARGV[1])
local e = redis.call('HGET', KEYS[1], 'e')
local n = redis.call('HGET', KEYS[1], 'n') or '0'
local out = {e, n, tostring(redis.call('XLEN', KEYS[2]))}
if ARGV[2] ~= '' and tonumber(ARGV[2]) < tonumber(n) then
  local rows = redis.call('XRANGE', KEYS[2], string.format('%d-1', tonumber(ARGV[2])), '+')
  for _, row in ipairs(rows) do
    table.insert(out, row[1])
    table.insert(out, row[2][2])
    table.insert(out, row[2][4])
  end
end
return out
"#;

/// How long a Redis call may take before the request is answered 503.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Keys, index and feed in Redis, through any redis-rs async connection.
#[derive(Clone)]
pub struct RedisKv<C> {
    conn: C,
    scripts: Arc<(Script, Script)>,
    notices: Arc<Notices>,
}

impl<C> std::fmt::Debug for RedisKv<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisKv")
    }
}

/// UNAVAILABLE, saying what Redis answered: down, timed out, or refused.
pub fn unavailable(e: RedisError) -> StoreError {
    StoreError::unavailable(format!("Redis: {e}"))
}

impl<C: ConnectionLike + Clone + Send + 'static> RedisKv<C> {
    /// Storage over `conn`, announcing this process's commits on `notices`.
    pub fn new(conn: C, notices: Arc<Notices>) -> Self {
        RedisKv {
            conn,
            scripts: Arc::new((Script::new(COMMIT), Script::new(FEED))),
            notices,
        }
    }

    /// The commit script's SHA1, as `EVALSHA` names it (the benchmark's redis-benchmark runs
    /// the same script).
    pub fn commit_sha(&self) -> String {
        self.scripts.0.get_hash().to_owned()
    }
}

/// A standalone Redis at `url`: a connection that reconnects by itself when Redis comes back,
/// and gives up on a call after [`RESPONSE_TIMEOUT`]. Made lazily: a server starts with Redis
/// down, and answers 503 until it is up.
///
/// # Errors
/// INVALID_INPUT for a URL redis-rs does not take.
pub fn standalone(url: &str) -> Result<ConnectionManager, StoreError> {
    let client =
        Client::open(url).map_err(|e| StoreError::invalid(format!("--redis {url}: {e}")))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)
}

/// A Redis Cluster reached through `urls` (any of its nodes): a connection that follows the
/// slots' moves, and whose calls to a master that is down give up after
/// [`RESPONSE_TIMEOUT`] (only that master's owners are answered 503).
///
/// # Errors
/// INVALID_INPUT for URLs redis-rs does not take; UNAVAILABLE when no node answers.
pub async fn cluster(urls: &[String]) -> Result<ClusterConnection, StoreError> {
    let client = ClusterClientBuilder::new(urls.to_vec())
        .connection_timeout(RESPONSE_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .retries(1)
        .build()
        .map_err(|e| StoreError::invalid(format!("--redis-cluster: {e}")))?;
    client.get_async_connection().await.map_err(unavailable)
}

fn bytes_of(value: Value) -> Option<Bytes> {
    match value {
        Value::BulkString(b) => Some(Bytes::from(b)),
        Value::SimpleString(s) => Some(Bytes::from(s.into_bytes())),
        _ => None,
    }
}

fn malformed() -> StoreError {
    StoreError::unavailable("Redis answered something this server does not expect")
}

impl<C: ConnectionLike + Clone + Send + 'static> Kv for RedisKv<C> {
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, StoreError> {
        let mut conn = self.conn.clone();
        let cmd = if keys.len() == 1 {
            redis::cmd("GET").arg(&keys[0]).clone()
        } else {
            redis::cmd("MGET").arg(keys).clone()
        };
        let value: Value = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        match value {
            Value::Array(values) if values.len() == keys.len() => {
                Ok(values.into_iter().map(bytes_of).collect())
            }
            Value::Nil if keys.len() == 1 => Ok(vec![None]),
            other if keys.len() == 1 => Ok(vec![bytes_of(other)]),
            _ => Err(malformed()),
        }
    }

    async fn commit(
        &self,
        scope: &Scope,
        commit: &Commit,
        keep: u64,
        epoch: &str,
    ) -> Result<bool, StoreError> {
        let mut call = self.scripts.0.prepare_invoke();
        call.key(scope.index_key())
            .key(scope.feed_key())
            .key(scope.seq_key());
        call.arg(commit.expect.len())
            .arg(commit.put.len())
            .arg(commit.delete.len())
            .arg(keep)
            .arg(epoch)
            .arg(commit.index.len())
            .arg(commit.unindex.len())
            .arg(commit.feed.len());
        for (key, stamp) in &commit.expect {
            call.key(key).arg(stamp.as_deref().unwrap_or(""));
        }
        for put in &commit.put {
            call.key(&put.key).arg(&put.value[..]);
            match put.expire_at {
                Some(at) => call.arg(at),
                None => call.arg(""),
            };
        }
        for key in &commit.delete {
            call.key(key);
        }
        for (id, at) in &commit.index {
            call.arg(id);
            match at {
                Some(at) => call.arg(*at),
                None => call.arg(""),
            };
        }
        for id in &commit.unindex {
            call.arg(id);
        }
        for (id, etag) in &commit.feed {
            call.arg(id).arg(etag);
        }
        let mut conn = self.conn.clone();
        let applied: i64 = call.invoke_async(&mut conn).await.map_err(unavailable)?;
        if applied == 1 && !commit.feed.is_empty() {
            self.notices.announce(scope);
        }
        Ok(applied == 1)
    }

    async fn index(&self, scope: &Scope) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("ZRANGE")
            .arg(scope.index_key())
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn feed(
        &self,
        scope: &Scope,
        after: Option<u64>,
        epoch: &str,
    ) -> Result<FeedPage, StoreError> {
        let mut call = self.scripts.1.prepare_invoke();
        call.key(scope.seq_key()).key(scope.feed_key()).arg(epoch);
        match after {
            Some(after) => call.arg(after),
            None => call.arg(""),
        };
        let mut conn = self.conn.clone();
        let out: Vec<String> = call.invoke_async(&mut conn).await.map_err(unavailable)?;
        let [epoch, last, held, rest @ ..] = &out[..] else {
            return Err(malformed());
        };
        let number = |s: &str| s.parse::<u64>().map_err(|_| malformed());
        let mut entries = Vec::with_capacity(rest.len() / 3);
        for row in rest.chunks_exact(3) {
            let seq = row[0].split('-').next().unwrap_or("");
            entries.push((number(seq)?, row[1].clone(), row[2].clone()));
        }
        Ok(FeedPage {
            epoch: epoch.clone(),
            last: number(last)?,
            held: number(held)?,
            entries,
        })
    }

    fn notices(&self) -> &Notices {
        &self.notices
    }

    fn shared(&self) -> bool {
        true
    }
}
