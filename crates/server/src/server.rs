//! Serving: one thread per core, each with its own current-thread Tokio runtime accepting on
//! the one listening socket and serving its connections with hyper. The store's futures are
//! not `Send` (the engine is shared with the browser), so each request runs start to end on
//! the thread that accepted it; the storage is shared (memory behind a lock, Redis through a
//! connection per worker).

use crate::http::{handle, App, Body, Config};
use crate::kv::{Kv, Notices};
use crate::memory::{system_ms, MemoryKv};
use crate::redis::{cluster, standalone, RedisKv};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;
use wasm_session_store::{Clock, StoreError};

/// Where the sessions are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// In this process (the default; gone when it stops).
    Memory,
    /// A standalone Redis (or Valkey) at this URL.
    Redis(String),
    /// A Redis Cluster, reached through these node URLs.
    Cluster(Vec<String>),
}

/// The time, in ms since the epoch: the system clock in the server, a test's clock in tests.
pub type Now = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_now() -> Now {
    Arc::new(system_ms)
}

/// A [`Now`] as each worker's store reads it.
struct FnClock(Now);

impl Clock for FnClock {
    fn now_ms(&self) -> Result<u64, StoreError> {
        Ok((self.0)())
    }
}

/// What a server is started with.
#[derive(Clone)]
pub struct Options {
    /// The address to listen on (port 0: a free one).
    pub listen: SocketAddr,
    /// Where sessions are kept.
    pub storage: Storage,
    /// The service's configuration.
    pub config: Config,
    /// How many worker threads (each a runtime): the number of cores by default.
    pub workers: usize,
    /// The clock.
    pub now: Now,
}

impl Options {
    /// A server on `listen` with `config`, memory, a worker per core, the system clock.
    pub fn new(listen: SocketAddr, config: Config) -> Self {
        Options {
            listen,
            storage: Storage::Memory,
            config,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            now: system_now(),
        }
    }
}

/// A server that is serving.
pub struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// The address it listens on (with the port it got).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, drops open connections, and waits for the workers to end.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Starts a server as `options` say, and returns once every worker serves.
///
/// # Errors
/// The listening socket's error, or UNAVAILABLE (as an `io::Error`) when a Redis Cluster
/// cannot be reached at start.
pub fn start(options: Options) -> std::io::Result<Running> {
    let notices = Arc::new(Notices::default());
    match options.storage.clone() {
        Storage::Memory => {
            let kv = MemoryKv::default();
            kv.sweep_every(Duration::from_secs(60))?;
            start_with(options, move || {
                let kv = kv.clone();
                async move { Ok(kv) }
            })
        }
        Storage::Redis(url) => start_with(options, move || {
            let kv = standalone(&url).map(|conn| RedisKv::new(conn, notices.clone()));
            async move { kv }
        }),
        Storage::Cluster(urls) => start_with(options, move || {
            let (urls, notices) = (urls.clone(), notices.clone());
            async move { Ok(RedisKv::new(cluster(&urls).await?, notices)) }
        }),
    }
}

/// Starts a server on the storage `make` gives each worker (called on the worker's thread).
///
/// # Errors
/// As [`start`].
pub fn start_with<K, F, Fut>(options: Options, make: F) -> std::io::Result<Running>
where
    K: Kv,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<K, StoreError>> + 'static,
{
    let config = Arc::new(options.config);
    let now = options.now;
    let app = move || {
        let (kv, config, now) = (make(), config.clone(), now.clone());
        async move {
            let kv = kv.await.map_err(|e| e.message())?;
            let clock: Rc<dyn Clock> = Rc::new(FnClock(now));
            Ok(App::new(kv, clock, config))
        }
    };
    start_service(options.listen, options.workers, app, handle::<K>)
}

/// Serves `handler` on `workers` threads, each a current-thread runtime accepting on one
/// socket bound to `listen`, each with the state `make` gives it (made on its thread: it need
/// not be `Send`). Returns once every worker serves. The service and the benchmark's
/// hello-world share it, so they measure the same serving.
///
/// # Errors
/// The socket's error, or the first error of a worker's `make`.
pub fn start_service<S, F, Fut, H, HFut>(
    listen: SocketAddr,
    workers: usize,
    make: F,
    handler: H,
) -> std::io::Result<Running>
where
    S: 'static,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S, String>> + 'static,
    H: Fn(Rc<S>, Request<Incoming>) -> HFut + Copy + Send + Sync + 'static,
    HFut: Future<Output = Result<Response<Body>, Infallible>> + 'static,
{
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let make = Arc::new(make);
    let (ready, ready_rx) = mpsc::channel();
    let mut threads = Vec::new();
    for n in 0..workers.max(1) {
        let listener = listener.try_clone()?;
        let make = make.clone();
        let (ready, mut stopped) = (ready.clone(), stopped.clone());
        let thread = std::thread::Builder::new()
            .name(format!("wss-worker-{n}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(ready.send(Err(e.to_string()))),
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let state = match make().await {
                        Ok(state) => Rc::new(state),
                        Err(e) => return drop(ready.send(Err(e))),
                    };
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return drop(ready.send(Err(e.to_string()))),
                    };
                    let _ = ready.send(Ok(()));
                    loop {
                        tokio::select! {
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    let _ = stream.set_nodelay(true);
                                    tokio::task::spawn_local(connection(state.clone(), stream, handler));
                                }
                            }
                            _ = stopped.changed() => break,
                        }
                    }
                });
            })?;
        threads.push(thread);
    }
    drop(ready);
    let running = Running {
        addr,
        stop,
        threads,
    };
    for _ in 0..running.threads.len() {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                running.stop();
                return Err(std::io::Error::other(why));
            }
            Err(_) => {
                running.stop();
                return Err(std::io::Error::other("a worker ended while starting"));
            }
        }
    }
    Ok(running)
}

/// Serves one connection (HTTP/1.1, keep-alive) until it closes.
async fn connection<S, H, HFut>(state: Rc<S>, stream: tokio::net::TcpStream, handler: H)
where
    H: Fn(Rc<S>, Request<Incoming>) -> HFut + Copy + 'static,
    HFut: Future<Output = Result<Response<Body>, Infallible>> + 'static,
{
    let service = service_fn(move |req| handler(state.clone(), req));
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        // A client that sends its head slowly is cut off rather than holding the connection.
        .header_read_timeout(Duration::from_secs(30))
        // Past 1 MiB of head, hyper answers 431 itself, without a body; below, the service
        // answers 400 with a coded body past its own limit (32 KiB).
        .max_buf_size(1 << 20)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
