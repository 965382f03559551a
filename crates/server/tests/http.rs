//! The HTTP API on memory: every case of tests/common/api.rs, and what only a test storage
//! can provoke (a handler that panics).

mod common;

use bytes::Bytes;
use common::*;
use std::net::SocketAddr;
use wasm_session_store::StoreError;
use wasm_session_store_server::kv::{Commit, FeedPage, Kv, Notices, Scope};
use wasm_session_store_server::{start_with, MemoryKv, Options};

mod memory {
    crate::api_cases!(crate::common::Kind::Memory);
}

/// Memory that panics when asked for a key of a session named `boom`.
#[derive(Clone, Default)]
struct Boom(MemoryKv);

impl Kv for Boom {
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, StoreError> {
        assert!(
            !keys.iter().any(|k| k.ends_with(":boom")),
            "a bug in a handler"
        );
        self.0.get(keys).await
    }
    async fn commit(
        &self,
        s: &Scope,
        c: &Commit,
        keep: u64,
        epoch: &str,
    ) -> Result<bool, StoreError> {
        self.0.commit(s, c, keep, epoch).await
    }
    async fn index(&self, s: &Scope) -> Result<Vec<String>, StoreError> {
        self.0.index(s).await
    }
    async fn feed(
        &self,
        s: &Scope,
        after: Option<u64>,
        epoch: &str,
    ) -> Result<FeedPage, StoreError> {
        self.0.feed(s, after, epoch).await
    }
    fn notices(&self) -> &Notices {
        self.0.notices()
    }
    fn shared(&self) -> bool {
        false
    }
}

#[test]
fn a_panic_in_a_handler_is_a_500_and_the_server_goes_on() {
    let kv = Boom::default();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut options = Options::new(addr, config());
    options.workers = 1;
    let running = start_with(options, move || {
        let kv = kv.clone();
        async move { Ok(kv) }
    })
    .unwrap();
    let c = Client {
        addr: running.addr(),
        headers: Vec::new(),
    };
    for _ in 0..3 {
        let a = c.get("/v1/stores/app/sessions/boom");
        assert_eq!((a.status, a.code()), (500, "UNAVAILABLE".to_owned()));
        assert_eq!(c.get("/v1/stores/app/sessions/fine").status, 404);
    }
    running.stop();
}
