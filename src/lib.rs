//! A client-side session store for browsers, written in Rust and compiled to WebAssembly.
//!
//! Sessions live in IndexedDB, localStorage, sessionStorage or memory, with expiry (TTL,
//! sliding, absolute caps) and optimistic versioning (compare-and-swap on a version number)
//! running in the client. The same [`SessionStore`] trait fronts every backend, with the same
//! behaviour for missing, expired and conflicting records on each; your own types go in and
//! out through serde.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use wasm_session_store::prelude::*;
//! use wasm_session_store::ManualClock;
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Cart {
//!     items: Vec<String>,
//! }
//!
//! # pollster::block_on(async {
//! // In the browser: `WebStore::open(options, BackendKind::Auto).await?` (IndexedDB, else
//! // localStorage, else memory; safe across tabs). Natively, and in tests, a MemoryStore.
//! let clock = ManualClock::new(1_000);
//! let store = MemoryStore::open(StoreOptions::new().ttl_ms(Some(60_000)).clock(clock.clone()))?;
//!
//! let cart = Cart { items: vec!["apple".into()] };
//! let record = store.create_from(&cart, Ttl::StoreDefault).await?;
//! assert_eq!((record.version, record.expires_at), (1, Some(61_000)));
//! assert_eq!(record.state_as::<Cart>()?, cart);
//!
//! // Optimistic concurrency: a write based on a stale version is refused.
//! store.save_if_version_from(&record.id, &cart, 1).await?;
//! let err = store.save_if_version_from(&record.id, &cart, 1).await.unwrap_err();
//! assert_eq!(err.code(), ErrorCode::VersionConflict);
//!
//! // Expiry reads the injected clock: no sleeping in tests.
//! clock.advance(60_000);
//! assert!(store.load(&record.id).await?.is_none());
//! # Ok::<(), StoreError>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod clock;
pub mod codec;
mod crypto;
mod engine;
mod error;
mod event;
mod id;
mod json;
mod record;
mod store;
mod sync;

pub mod backends;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod feed;
#[cfg(target_arch = "wasm32")]
mod web_store;

#[doc(hidden)]
pub mod __private;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

#[cfg(target_arch = "wasm32")]
pub use backends::indexeddb::{IndexedDbBackend, IndexedDbStore};
#[cfg(target_arch = "wasm32")]
pub use backends::leader::SharedStorageBackend;
pub use backends::memory::{MemoryBackend, MemoryStore};
#[cfg(target_arch = "wasm32")]
pub use backends::storage::{SingleTabStorageBackend, SingleTabStorageStore, StorageKind};
pub use backends::AnyBackend;
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(target_arch = "wasm32")]
pub use crypto::Encryption;
pub use engine::{
    sealed_state, sealed_text, Backend, Expiry, Replacement, Slot, Store, SyncWrite, Write,
};
pub use error::{BrowserException, ErrorCode, StoreError};
pub use event::{EventKind, Resolution, StoreEvent, Subscribers, Subscription};
#[cfg(target_arch = "wasm32")]
pub use feed::ChangeFeed;
pub use id::{SessionId, MAX_ID_LEN};
pub use record::{SaveEntry, SessionRecord, State, Ttl};
pub use store::{
    Migrate, SessionStore, StoreOptions, DEFAULT_SWEEP_INTERVAL_MS, DEFAULT_TTL_MS,
    MAX_SAFE_INTEGER, UPDATE_ATTEMPTS,
};
pub use sync::{
    Conflict, HeadersFn, ResolveFn, SyncError, SyncOptions, SyncReport, SyncStatus,
    DEFAULT_SYNC_INTERVAL_MS,
};
#[cfg(target_arch = "wasm32")]
pub use web_store::{BackendKind, WebStore};

/// What a Rust app uses, in one import: `use wasm_session_store::prelude::*;`.
///
/// The [`SessionStore`] trait (every operation, typed state through serde included), the
/// records, ids, options and errors, the memory store, and in the browser `WebStore` (the
/// browser runtime: fallback chain, sweeper, change feed, coordinated localStorage) with
/// `BackendKind`, and the IndexedDB and Web Storage stores.
pub mod prelude {
    #[cfg(target_arch = "wasm32")]
    pub use crate::{
        BackendKind, Encryption, IndexedDbStore, SingleTabStorageStore, StorageKind, WebStore,
    };
    pub use crate::{Conflict, Resolution, SyncError, SyncOptions, SyncReport, SyncStatus};
    pub use crate::{
        ErrorCode, EventKind, MemoryStore, SaveEntry, SessionId, SessionRecord, SessionStore,
        State, StoreError, StoreEvent, StoreOptions, Subscription, Ttl,
    };
}
