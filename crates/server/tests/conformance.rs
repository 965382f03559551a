//! The library's conformance and migration suites against the server's backend on memory:
//! `Store<ServerBackend<MemoryKv>>` is a `SessionStore` like every other. (On Redis and the
//! cluster: tests/redis.rs.)

mod common;

use std::sync::OnceLock;
use wasm_session_store::{Store, StoreOptions};
use wasm_session_store_server::kv::{Kv, Scope};
use wasm_session_store_server::{MemoryKv, ServerBackend};

/// A store of `options` on `kv`, under a test owner; the storage forgets records 10 minutes
/// after their deadline (the suite's clock is a manual one in 2023).
pub fn open_on<K: Kv>(kv: K, options: StoreOptions) -> Store<ServerBackend<K>> {
    let clock = options.get_clock().clone();
    let scope = Scope::new("conformance", options.get_name());
    let backend = ServerBackend::new(kv, scope, clock, 10_000).forget_after(600_000);
    Store::with_backend(backend, options).expect("valid options")
}

/// One memory for every case, so that two stores of one name share their records.
fn memory() -> MemoryKv {
    static KV: OnceLock<MemoryKv> = OnceLock::new();
    KV.get_or_init(MemoryKv::default).clone()
}

wasm_session_store_testing::conformance_tests!(native, |options| async move {
    open_on(memory(), options)
});

mod migrations {
    use super::*;
    wasm_session_store_testing::migration_tests!(native, |options| async move {
        open_on(memory(), options)
    });
}
