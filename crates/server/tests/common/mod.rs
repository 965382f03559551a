//! What the server's tests share: the storages they run on, an in-process server on a test
//! clock, a plain HTTP/1.1 client, tokens, and Redis processes of their own for the fault
//! tests (started on free ports, stopped by PID).
#![allow(dead_code)]

pub mod api;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use wasm_session_store_server::auth::Auth;
use wasm_session_store_server::http::{Config, DEFAULT_MAX_BODY};
use wasm_session_store_server::server::Now;
use wasm_session_store_server::{start, Options, Running, Settings, Storage};

/// The standalone Redis the test script started (`WSS_TEST_REDIS`).
pub fn redis_url() -> String {
    std::env::var("WSS_TEST_REDIS")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("WSS_TEST_REDIS: these tests run in scripts/test-server.sh, which starts Redis")
}

/// The nodes of the 3-master cluster the test script started (`WSS_TEST_REDIS_CLUSTER`).
pub fn cluster_urls() -> Vec<String> {
    std::env::var("WSS_TEST_REDIS_CLUSTER")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("WSS_TEST_REDIS_CLUSTER: these tests run in scripts/test-server.sh")
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// A Tokio runtime for Redis connections driven from tests' blocking executors.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

thread_local! {
    static ENTERED: Cell<bool> = const { Cell::new(false) };
}

/// Enters [`runtime`] on this thread for the rest of its life, so redis-rs finds its timers
/// and spawns its connection tasks there while the conformance kit polls with pollster.
pub fn enter() {
    if !ENTERED.replace(true) {
        // Never left: dropping the guard in a thread-local destructor would touch Tokio's own
        // thread-local, which may be gone by then. The thread's end leaves it anyway.
        std::mem::forget(runtime().enter());
    }
}

/// The system clock in ms.
pub fn system_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A clock tests move, starting at the real time (Redis forgets keys by its own clock).
#[derive(Clone)]
pub struct TestClock(Arc<AtomicU64>);

impl TestClock {
    pub fn new() -> Self {
        TestClock(Arc::new(AtomicU64::new(system_ms())))
    }
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn as_now(&self) -> Now {
        let c = self.0.clone();
        Arc::new(move || c.load(Ordering::SeqCst))
    }
}

/// Where a test's server keeps sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Redis,
    Cluster,
}

impl Kind {
    pub fn storage(self) -> Storage {
        match self {
            Kind::Memory => Storage::Memory,
            Kind::Redis => Storage::Redis(redis_url()),
            Kind::Cluster => Storage::Cluster(cluster_urls()),
        }
    }
}

/// The configuration of a test server: no auth, defaults, and the test's tweaks.
pub fn config() -> Config {
    Config {
        auth: Auth::Dev,
        max_body: DEFAULT_MAX_BODY,
        settings: Settings::default(),
        origins: Vec::new(),
    }
}

/// A server in this process on a free port, and its clock.
pub struct TestServer {
    pub running: Option<Running>,
    pub clock: TestClock,
    pub addr: SocketAddr,
}

impl TestServer {
    pub fn start(kind: Kind, config: Config) -> Self {
        Self::start_on(kind.storage(), config)
    }

    pub fn start_on(storage: Storage, config: Config) -> Self {
        let clock = TestClock::new();
        let mut options = Options::new("127.0.0.1:0".parse().unwrap(), config);
        options.storage = storage;
        options.workers = 2;
        options.now = clock.as_now();
        let running = start(options).expect("the server starts");
        let addr = running.addr();
        TestServer {
            running: Some(running),
            clock,
            addr,
        }
    }

    pub fn client(&self) -> Client {
        Client {
            addr: self.addr,
            headers: Vec::new(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag").to_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }
}

/// A plain HTTP/1.1 client: one connection per request, written as given.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub headers: Vec<(String, String)>,
}

impl Client {
    /// The same client sending `name: value` on every request.
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut c = self.clone();
        c.headers.push((name.into(), value.into()));
        c
    }

    pub fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], None)
    }

    pub fn put(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut h = headers.to_vec();
        h.push(("Content-Type", "application/json"));
        self.send("PUT", path, &h, Some(body.as_bytes()))
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Answer {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (n, v) in self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(headers.iter().copied())
        {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body.unwrap_or(b""));
        self.raw(&raw)
    }

    /// Sends `bytes` as they are, and reads the answer.
    pub fn raw(&self, bytes: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        // The server may answer (413) and close before reading all of a large body.
        let _ = stream.write_all(bytes);
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        parse(&out)
    }
}

fn parse(raw: &[u8]) -> Answer {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&raw[end + 4..]).into_owned(),
    }
}

/// An HS256 token for `claims` signed with `secret`.
pub fn token(secret: &[u8], claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

/// A free TCP port on loopback (free when asked; the caller binds it at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server of a test's own, on a free port in a temporary directory, stopped (by its
/// PID) when dropped.
pub struct RedisProcess {
    pub port: u16,
    pub child: Option<Child>,
    pub dir: PathBuf,
    cluster: bool,
}

impl RedisProcess {
    pub fn start(cluster: bool) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("wss-test-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = RedisProcess {
            port,
            child: None,
            dir,
            cluster,
        };
        p.restart();
        p
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port), and waits until it answers.
    pub fn restart(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                .arg("--cluster-config-file")
                .arg(self.dir.join("nodes.conf"));
        }
        self.child = Some(
            cmd.spawn()
                .expect("redis-server is installed (scripts/setup.sh)"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis_cli(self.port, &["ping"]) != "PONG" {
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (SIGKILL by PID: as abrupt as a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What `redis-cli -p port args...` prints, trimmed.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// A 3-master Redis Cluster of a test's own.
pub struct TestCluster {
    pub nodes: Vec<RedisProcess>,
}

impl TestCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisProcess> = (0..3).map(|_| RedisProcess::start(true)).collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend([
            "--cluster-replicas".into(),
            "0".into(),
            "--cluster-yes".into(),
        ]);
        let out = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !nodes
            .iter()
            .all(|n| redis_cli(n.port, &["cluster", "info"]).contains("cluster_state:ok"))
        {
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        TestCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisProcess::url).collect()
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot = redis_cli(self.nodes[0].port, &["cluster", "keyslot", key]);
        let slot: u16 = slot.parse().unwrap();
        // `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <state> <ranges>...`
        for line in redis_cli(self.nodes[0].port, &["cluster", "nodes"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            for range in fields.iter().skip(8) {
                let (start, end) = range.split_once('-').unwrap_or((range, range));
                let (Ok(start), Ok(end)) = (start.parse::<u16>(), end.parse::<u16>()) else {
                    continue;
                };
                if (start..=end).contains(&slot) {
                    let port = fields[1]
                        .split('@')
                        .next()
                        .unwrap()
                        .rsplit(':')
                        .next()
                        .unwrap();
                    return port.parse().unwrap();
                }
            }
        }
        panic!("no master for slot {slot}");
    }
}
