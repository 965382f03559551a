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

    async fn open(options: StoreOptions) -> Store<ServerBackend<RedisKv<redis::aio::ConnectionManager>>> {
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
