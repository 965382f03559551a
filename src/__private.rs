//! What the npm package's JS class (`crates/js`, the `wasm-session-store-js` crate) reaches
//! into: the engine's one operation and the JS value conversions. Not API: hidden from the
//! docs, and free to change in any release. (The JS class lives in its own crate so that a
//! Rust app depending on this one gets no `#[wasm_bindgen]` exports and no allocator.)

#[cfg(target_arch = "wasm32")]
pub use crate::browser::exception_reason;
pub use crate::engine::{check_key, new_id_for, Op, Outcome};
pub use crate::error::push_u64;
#[cfg(target_arch = "wasm32")]
pub use crate::feed::event_object;
#[cfg(target_arch = "wasm32")]
pub use crate::json::js::{text_from_js, text_to_js};

use crate::record::State;
#[cfg(target_arch = "wasm32")]
pub use crate::sync::pass::js_headers;

/// A state from JSON text already checked to be an object within the state's limits.
pub fn state_from_checked(json: String) -> State {
    State::from_checked(json)
}

/// The engine behind `web`, or CLOSED.
#[cfg(target_arch = "wasm32")]
pub fn engine(
    web: &crate::WebStore,
) -> Result<&crate::Store<crate::AnyBackend>, crate::StoreError> {
    web.check_open()
}

/// A boxed future of the engine (see [`run`]).
#[cfg(target_arch = "wasm32")]
pub type Boxed<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, crate::StoreError>> + 'a>>;

/// `sync_now` (with `true`) or `sync_status` of `web`, their outcome as one type, as a boxed
/// future made here (see [`run`]: the JS crate would otherwise compile the pass again).
#[cfg(target_arch = "wasm32")]
pub fn sync(web: &crate::WebStore, now: bool) -> Boxed<'_, (crate::SyncReport, crate::SyncStatus)> {
    Box::pin(async move {
        Ok(if now {
            (web.sync_now().await?, crate::SyncStatus::default())
        } else {
            (crate::SyncReport::default(), web.sync_status().await?)
        })
    })
}

/// Runs `op` on `ids` in `store`: the engine's one async operation, as a boxed future made
/// here. Generic code is compiled again in each crate that uses it (release builds share no
/// generics across crates), so a future of `Store::run` awaited in the JS crate was a second
/// copy of the engine beside the sweeper's (+3 KB gzipped); behind `dyn`, its `poll` is this
/// crate's one copy.
#[cfg(target_arch = "wasm32")]
pub fn run<'a>(
    store: &'a crate::Store<crate::AnyBackend>,
    ids: &'a [&'a crate::SessionId],
    op: Op,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome, crate::StoreError>> + 'a>> {
    Box::pin(store.run(ids, op))
}
