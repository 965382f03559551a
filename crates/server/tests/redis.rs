//! On a real redis-server and a real 3-master Redis Cluster (started by
//! scripts/test-server.sh): the library's conformance and migration suites against
//! `Store<ServerBackend<RedisKv<_>>>`, the HTTP API's cases, and the faults (Redis down and
//! back, a cluster master down), each on Redis processes of its own.

mod common;

use common::*;
use std::sync::Arc;
use wasm_session_store::{Store, StoreOptions};
use wasm_session_store_server::kv::{Notices, Scope};
use wasm_session_store_server::redis::{cluster, standalone};
use wasm_session_store_server::{RedisKv, ServerBackend};

fn open_on<C>(kv: RedisKv<C>, options: StoreOptions) -> Store<ServerBackend<RedisKv<C>>>
where
    C: redis::aio::ConnectionLike + Clone + Send + 'static,
{
    let clock = options.get_clock().clone();
    let scope = Scope::new("conformance", options.get_name());
    // The suite's manual clock is in 2023: Redis forgets keys 10 minutes after their
    // deadline as the suite sees it, by when every case has ended.
    let backend = ServerBackend::new(kv, scope, clock, 10_000).forget_after(600_000);
    Store::with_backend(backend, options).expect("valid options")
}

mod redis_conformance {
    use super::*;

    async fn open(
        options: StoreOptions,
    ) -> Store<ServerBackend<RedisKv<redis::aio::ConnectionManager>>> {
        enter();
        let conn = standalone(&redis_url()).expect("a Redis URL");
        open_on(RedisKv::new(conn, Arc::new(Notices::default())), options)
    }

    wasm_session_store_testing::conformance_tests!(native, |options| open(options));

    mod migrations {
        wasm_session_store_testing::migration_tests!(native, |options| super::open(options));
    }
}

mod cluster_conformance {
    use super::*;

    async fn open(
        options: StoreOptions,
    ) -> Store<ServerBackend<RedisKv<redis::cluster_async::ClusterConnection>>> {
        enter();
        let conn = cluster(&cluster_urls()).await.expect("the cluster answers");
        open_on(RedisKv::new(conn, Arc::new(Notices::default())), options)
    }

    wasm_session_store_testing::conformance_tests!(native, |options| open(options));

    mod migrations {
        wasm_session_store_testing::migration_tests!(native, |options| super::open(options));
    }
}

mod redis_api {
    crate::api_cases!(crate::common::Kind::Redis);
}

mod cluster_api {
    crate::api_cases!(crate::common::Kind::Cluster);
}

use serde_json::json;
use std::time::{Duration, Instant};
use wasm_session_store_server::Storage;

/// 503 UNAVAILABLE, saying when to try again.
fn assert_unavailable(a: &Answer) {
    assert_eq!(
        (a.status, a.code()),
        (503, "UNAVAILABLE".to_owned()),
        "{}",
        a.body
    );
    assert_eq!(a.header("retry-after"), Some("1"));
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

#[test]
fn keys_share_the_owners_hash_tag_and_expire_at_the_deadline() {
    let t = TestServer::start(Kind::Redis, config());
    let c = t.client();
    let name = format!("layout-{}", system_ms());
    let expires = system_ms() + 3_600_000;
    let p = format!("/v1/stores/{name}/sessions/a");
    let body = json!({"state": {}, "expiresAt": expires}).to_string();
    assert_eq!(c.put(&p, &[("If-None-Match", "*")], &body).status, 201);
    let port = port_of(&redis_url());
    // base64url("dev") = ZGV2
    let key = format!("wss:{{ZGV2}}:{name}:s:a");
    let at: u64 = redis_cli(port, &["pexpiretime", &key]).parse().unwrap();
    // PEXPIREAT is the deadline on the server's clock: the test clock started at the real time,
    // and has not moved since, so Redis's deadline is later by the time the test took.
    assert!(at >= expires && at < expires + 10_000, "{at} vs {expires}");
    let keys = redis_cli(port, &["keys", &format!("wss:{{ZGV2}}:{name}:*")]);
    let mut keys: Vec<&str> = keys.lines().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("wss:{{ZGV2}}:{name}:feed"),
            format!("wss:{{ZGV2}}:{name}:ids"),
            key.clone(),
            format!("wss:{{ZGV2}}:{name}:seq")
        ]
    );
    let slots: Vec<String> = keys
        .iter()
        .map(|k| redis_cli(port, &["cluster", "keyslot", k]))
        .collect();
    assert!(slots.iter().all(|s| s == &slots[0]), "{slots:?}");
}

#[test]
fn redis_down_is_503_with_retry_after_and_it_recovers_without_a_restart() {
    let mut redis = RedisProcess::start(false);
    let t = TestServer::start_on(Storage::Redis(redis.url()), config());
    let c = t.client();
    let p = "/v1/stores/app/sessions/a";
    let e = c
        .put(p, &[("If-None-Match", "*")], r#"{"state":{"n":1}}"#)
        .etag();
    redis.kill();
    for a in [
        c.get(p),
        c.put(p, &[("If-Match", &e)], r#"{"state":{"n":2}}"#),
        c.get("/v1/stores/app/changes"),
    ] {
        assert_unavailable(&a);
    }
    // Back (empty: no persistence), and served again by the same server process: each
    // worker's connection reconnects on its own (its first request after may still be 503),
    // and no answer meanwhile is anything but the right one or 503.
    redis.restart();
    let until = |expected: u16, request: &dyn Fn() -> Answer| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let a = request();
            if a.status == expected {
                return a;
            }
            assert_eq!(a.status, 503, "{}", a.body);
            assert!(Instant::now() < deadline, "the server did not reconnect");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    until(201, &|| {
        c.put(p, &[("If-None-Match", "*")], r#"{"state":{"n":3}}"#)
    });
    for _ in 0..4 {
        let a = until(200, &|| c.get(p));
        assert_eq!(a.json()["state"], json!({"n": 3}));
    }
}

#[test]
fn a_cluster_master_down_is_503_for_its_owners_only() {
    let mut cluster = TestCluster::start();
    let secret = b"s";
    let mut cfg = config();
    cfg.auth = wasm_session_store_server::auth::Auth::jwt(secret).unwrap();
    let t = TestServer::start_on(Storage::Cluster(cluster.urls()), cfg);
    // Two owners whose keys live on different masters.
    use base64::Engine;
    let master = |owner: &str| {
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(owner);
        cluster.master_of(&format!("wss:{{{tag}}}:app:s:a"))
    };
    let down_owner = "owner-0".to_owned();
    let down = master(&down_owner);
    let up_owner = (1..100)
        .map(|n| format!("owner-{n}"))
        .find(|o| master(o) != down)
        .unwrap();
    let as_owner = |o: &str| {
        t.client().with(
            "Authorization",
            &format!("Bearer {}", token(secret, json!({"sub": o}))),
        )
    };
    let p = "/v1/stores/app/sessions/a";
    for o in [&down_owner, &up_owner] {
        assert_eq!(
            as_owner(o)
                .put(p, &[("If-None-Match", "*")], r#"{"state":{}}"#)
                .status,
            201
        );
    }
    let node = cluster.nodes.iter_mut().find(|n| n.port == down).unwrap();
    node.kill();
    assert_unavailable(&as_owner(&down_owner).get(p));
    let b = as_owner(&up_owner).get(p);
    assert_eq!(b.status, 200, "{}", b.body);
    let e = b.etag();
    assert_eq!(
        as_owner(&up_owner)
            .put(p, &[("If-Match", &e)], r#"{"state":{"n":1}}"#)
            .status,
        200
    );
}

#[test]
fn a_restarted_server_on_the_same_redis_keeps_its_clients_cursors() {
    let base = format!("/v1/stores/restart-{}", system_ms());
    let first = TestServer::start(Kind::Redis, config());
    let cursor = first.client().get(&format!("{base}/changes")).json()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(first);
    let second = TestServer::start(Kind::Redis, config());
    let c = second.client();
    let e = c
        .put(
            &format!("{base}/sessions/a"),
            &[("If-None-Match", "*")],
            r#"{"state":{}}"#,
        )
        .etag();
    let a = c.get(&format!("{base}/changes?since={cursor}"));
    assert_eq!(a.json()["changes"], json!([{"id": "a", "etag": e}]));
}
