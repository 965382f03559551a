//! The sync server of wasm-session-store: the session contract over HTTP, on memory, Redis or
//! Redis Cluster, as `../shared/DESIGN.md` ("Sync to a server") and the README's "Sync server"
//! section describe it. The binary is `wss-server`.
//!
//! - [`kv`]: the storage port (stamped keys, an atomic commit that checks the stamps read, the
//!   index and the changes feed), with [`memory`] and [`redis`] under it.
//! - [`backend`]: the library's `Backend` over it, so `Store<ServerBackend<K>>` is the
//!   server's `SessionStore`, decided by the library's engine.
//! - [`sync`]: what the API does to one owner's store (ETags, Idempotency-Keys, moves, the
//!   feed); [`http`]: the service; [`auth`]: the owner of a request; [`server`]: the workers.
#![deny(missing_docs)]

// A panic in a handler is answered 500 while the server goes on, which needs unwinding: the
// workspace's `release` profile (the wasm's) aborts instead.
#[cfg(panic = "abort")]
compile_error!(
    "build the sync server with `--profile server` (or the dev profile): it needs panic = \"unwind\""
);

pub mod auth;
pub mod backend;
pub mod error;
pub mod http;
pub mod json;
pub mod kv;
pub mod memory;
pub mod redis;
pub mod server;
pub mod sync;

pub use backend::ServerBackend;
pub use memory::MemoryKv;
pub use redis::RedisKv;
pub use server::{start, start_with, Options, Running, Storage};
pub use sync::{Settings, SyncStore};
