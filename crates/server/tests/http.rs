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

/// `wss-server` itself: started as a user would, it prints where it listens and serves.
mod binary {
    use super::common::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    fn run(args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_wss-server"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wss-server runs")
    }

    /// The address of the `listening on http://HOST:PORT` line, the first it prints.
    fn listening(child: &mut std::process::Child) -> std::net::SocketAddr {
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        line.trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn it_serves_on_a_free_port_with_a_secret_file() {
        let dir = std::env::temp_dir().join(format!("wss-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "file secret\n").unwrap();
        let mut child = run(&[
            "--listen",
            "127.0.0.1:0",
            "--jwt-secret-file",
            secret.to_str().unwrap(),
        ]);
        let addr = listening(&mut child);
        let c = Client {
            addr,
            headers: Vec::new(),
        };
        assert_eq!(c.get("/v1/stores/app/sessions/a").status, 401);
        let tok = token(b"file secret", serde_json::json!({"sub": "ada"}));
        let a = c
            .with("Authorization", &format!("Bearer {tok}"))
            .get("/v1/stores/app/sessions/a");
        assert_eq!((a.status, a.code()), (404, "NOT_FOUND".to_owned()));
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn insecure_dev_serves_memory_on_loopback_only() {
        let mut child = run(&["--insecure-dev", "--listen", "127.0.0.1:0"]);
        let c = Client {
            addr: listening(&mut child),
            headers: Vec::new(),
        };
        let p = "/v1/stores/app/sessions/a";
        assert_eq!(
            c.put(p, &[("If-None-Match", "*")], r#"{"state":{}}"#)
                .status,
            201
        );
        assert_eq!(c.get(p).status, 200);
        child.kill().unwrap();
        child.wait().unwrap();
        for args in [
            &["--insecure-dev", "--listen", "0.0.0.0:0"][..],
            &["--listen", "127.0.0.1:0"],
            &[
                "--insecure-dev",
                "--redis",
                "redis://a",
                "--redis-cluster",
                "redis://b",
            ],
        ] {
            let out = run(args).wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
        }
    }
}

#[test]
fn a_cursor_of_a_previous_memory_server_is_410() {
    let first = TestServer::start(Kind::Memory, config());
    let cursor = first.client().get("/v1/stores/app/changes").json()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(first);
    let second = TestServer::start(Kind::Memory, config());
    let a = second
        .client()
        .get(&format!("/v1/stores/app/changes?since={cursor}"));
    assert_eq!((a.status, a.code()), (410, "CURSOR_EXPIRED".to_owned()));
}
