//! A shopping cart that every tab of the browser shares: a small web app written in Rust on
//! [`wasm_session_store`], compiled to WebAssembly with wasm-bindgen.
//!
//! The cart is one session of an IndexedDB store, with a fixed id so that each tab opening the
//! store finds the same cart. Its state is a typed `Cart` (serde). Every change is a
//! compare-and-swap on the session's version, so two tabs adding at the same time both land: the
//! one that loses the race reads again and retries. Each tab hears the others' writes through
//! `WebStore::subscribe`.
//!
//! Given a sync server's URL (a `wss-server`), the cart also syncs across devices
//! (`SyncOptions`): every change is queued with the write and pushed, other devices' changes
//! are pulled, and when two devices changed the cart since they last synced, the cart's own
//! merge settles it (`Conflict::Resolve` with `merge_carts`): every line of either side,
//! with the larger quantity where both have it.
//!
//! The app also brings its own `#[global_allocator]` (a counting wrapper around
//! `std::alloc::System`), which `allocations()` reports: the library leaves that choice to the app.
//!
//! From JS (`scripts/build-example.sh` builds the module; `www/index.html` is its page):
//!
//! ```js
//! import init, { openCart, allocations } from "./wasm_session_store_example_cart.js";
//! await init();
//! const cart = await openCart("shop");
//! await cart.addItem("apple", 2);      // the new version
//! await cart.items();                  // { version, items: [{ item: "apple", qty: 2 }] }
//! cart.events();                       // changes heard from other tabs
//! await cart.staleWrite();             // "VERSION_CONFLICT"
//! cart.close();
//!
//! // Synced with a wss-server (which must allow this page's origin: --allow-origin):
//! const synced = await openCart("shop", "http://127.0.0.1:8787");
//! await synced.syncNow();              // { pushed, pulled, conflicts, pending }
//! await synced.syncStatus();           // { pending, lastSyncAt, lastError }
//! synced.pulls();                      // changes to the cart pulled from the server
//! synced.conflicts();                  // conflicts settled by merging
//! ```
//!
//! Errors reject with an `Error` named `CartError` whose `code` is the store's error code
//! (`"VERSION_CONFLICT"`, `"UNAVAILABLE"`, ...).

// A browser app: nothing of it builds for other targets.
#![cfg(target_arch = "wasm32")]
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasm_bindgen::prelude::*;
use wasm_session_store::prelude::*;
use wasm_session_store::{Conflict, EventKind, SyncOptions};

/// The app's allocator: the standard library's [`System`] allocator, counting allocations.
///
/// The library installs no allocator of its own, so an app picks one (or keeps Rust's
/// default); this one shows that the app's choice is the one in use.
pub struct CountingAllocator;

/// How many allocations [`CountingAllocator`] has made.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` unchanged; counting neither allocates nor touches memory
// handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller checked `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// How many allocations the app's allocator has made since the module started.
#[wasm_bindgen]
pub fn allocations() -> f64 {
    ALLOCATIONS.load(Ordering::Relaxed) as f64
}

/// The cart as stored: the state of the cart's session, through serde.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Cart {
    /// One line per item, in the order the items were first added.
    pub items: Vec<Line>,
}

/// One line of a [`Cart`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Line {
    /// What is bought.
    pub item: String,
    /// How many of it.
    pub qty: u32,
}

impl Cart {
    /// Adds `qty` of `item`: to its line when the cart has one, else as a new line.
    pub fn add(&mut self, item: &str, qty: u32) {
        match self.items.iter_mut().find(|line| line.item == item) {
            Some(line) => line.qty = line.qty.saturating_add(qty),
            None => self.items.push(Line {
                item: item.to_owned(),
                qty,
            }),
        }
    }
}

/// Settles a conflict between this device's cart and the server's (`None`: deleted there, or
/// here): every line of either, with the larger quantity where both have one, in the server's
/// order then this device's new lines.
///
/// # Errors
/// INVALID_INPUT when either side is not a [`Cart`] (the session then stays queued, with a
/// `syncError`).
pub fn merge_carts(
    local: Option<&SessionRecord>,
    remote: Option<&SessionRecord>,
) -> Result<Option<State>, StoreError> {
    let mut merged = match remote {
        Some(record) => record.state_as::<Cart>()?,
        None => Cart::default(),
    };
    if let Some(record) = local {
        for line in record.state_as::<Cart>()?.items {
            match merged.items.iter_mut().find(|l| l.item == line.item) {
                Some(l) => l.qty = l.qty.max(line.qty),
                None => merged.items.push(line),
            }
        }
    }
    State::from_typed(&merged).map(Some)
}

/// The id of the cart's session: fixed, so that every tab opening the store shares one cart.
const CART_ID: &str = "cart";

/// How long an untouched cart lives: a week.
const CART_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// An open cart, shared with the other tabs that open the same store: what JS gets from
/// [`open_cart`].
#[wasm_bindgen]
pub struct CartApp {
    store: WebStore,
    id: SessionId,
    /// Changes to the cart heard from other tabs.
    remote_changes: Rc<Cell<u32>>,
    /// Changes to the cart pulled from the sync server, and conflicts about it settled.
    pulls: Rc<Cell<u32>>,
    conflicts: Rc<Cell<u32>>,
    /// Keeps the count above going until the app is freed (or the store closed).
    _changes: Subscription,
}

/// Opens the cart of the IndexedDB store `name`, creating the cart if no tab has yet.
///
/// With `sync_url` (a `wss-server`'s URL), the store syncs there: the cart is pulled first
/// (unless the server cannot be reached: the cart then works offline and syncs later), and
/// created only if no device has one. `backend` `"memory"` opens it on the memory backend
/// instead: another device in the same browser, as the tests use it.
///
/// # Errors
/// Rejects with a `CartError` of the store's code: `INVALID_INPUT` for a malformed name, sync
/// URL or backend, `UNAVAILABLE` when IndexedDB cannot be used here, `BLOCKED` when another tab
/// holds an older version of the database open.
#[wasm_bindgen(js_name = openCart)]
pub async fn open_cart(
    name: String,
    sync_url: Option<String>,
    backend: Option<String>,
) -> Result<CartApp, JsValue> {
    let mut options = StoreOptions::new().name(name).ttl_ms(Some(CART_TTL_MS));
    if let Some(url) = sync_url {
        // Pulls every 10 s (and in syncNow); conflicts merged by the cart's own rule.
        let sync = SyncOptions::new(url)
            .interval_ms(Some(10_000))
            .conflict(Conflict::Resolve(Rc::new(merge_carts)));
        options = options.sync(sync);
    }
    let kind = match backend.as_deref() {
        None | Some("indexeddb") => BackendKind::IndexedDb,
        Some("memory") => BackendKind::Memory,
        Some(_) => {
            return Err(js_error(
                ErrorCode::InvalidInput.as_str(),
                "openCart: the backend must be \"indexeddb\" or \"memory\"",
            ))
        }
    };
    let store = WebStore::open(options, kind).await.map_err(to_js)?;
    let id = SessionId::new(CART_ID).map_err(to_js)?;

    let remote_changes = Rc::new(Cell::new(0));
    let pulls = Rc::new(Cell::new(0));
    let conflicts = Rc::new(Cell::new(0));
    let (heard, pulled, settled) = (remote_changes.clone(), pulls.clone(), conflicts.clone());
    let cart_id = id.clone();
    let changes = store.subscribe(move |event: &StoreEvent| {
        // About the cart, a rename onto it, or a clear of the whole store.
        if !event.concerns(&cart_id) {
            return;
        }
        let count = |n: &Cell<u32>| n.set(n.get() + 1);
        if event.kind == EventKind::Conflict {
            count(&settled);
        } else if event.remote {
            count(&pulled);
        } else if !event.local {
            count(&heard);
        }
    });

    // A synced cart may be on the server already (another device's): pull it before creating.
    if store.options().get_sync().is_some() {
        let _ = store.sync_now().await;
    }
    // The first tab creates the cart; the others find it there (or lose the race to create it).
    match store
        .create_with_id_from(&id, &Cart::default(), Ttl::StoreDefault)
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == ErrorCode::AlreadyExists => {}
        Err(e) => {
            store.close();
            return Err(to_js(e));
        }
    }
    Ok(CartApp {
        store,
        id,
        remote_changes,
        pulls,
        conflicts,
        _changes: changes,
    })
}

#[wasm_bindgen]
impl CartApp {
    /// Adds `qty` of `item` to the cart and resolves to the cart's new version.
    ///
    /// [`update_as`](SessionStore::update_as) reads the cart and writes it back only if no
    /// other tab wrote in between (compare-and-swap on the version); if one did, it reads
    /// again and adds to that, so no tab's addition is lost.
    ///
    /// # Errors
    /// `INVALID_INPUT` for an empty item or a quantity of 0; `VERSION_CONFLICT` when other
    /// tabs won every attempt; `CLOSED` after [`close`](CartApp::close).
    #[wasm_bindgen(js_name = addItem)]
    pub async fn add_item(&self, item: String, qty: u32) -> Result<f64, JsValue> {
        if item.is_empty() || qty == 0 {
            return Err(js_error(
                ErrorCode::InvalidInput.as_str(),
                "addItem: the item must not be empty and the quantity must be at least 1",
            ));
        }
        let updated = self
            .store
            .update_as(&self.id, |cart: &mut Cart| cart.add(&item, qty))
            .await;
        match updated {
            Ok((_, version)) => Ok(version as f64),
            // The cart expired (a week untouched): a new one with this line. Expecting version
            // 0 creates it only if no other tab did first.
            Err(e) if e.code() == ErrorCode::NotFound => {
                let mut cart = Cart::default();
                cart.add(&item, qty);
                let version = self
                    .store
                    .save_if_version_from(&self.id, &cart, 0)
                    .await
                    .map_err(to_js)?;
                Ok(version as f64)
            }
            Err(e) => Err(to_js(e)),
        }
    }

    /// The cart as `{ version, items: [{ item, qty }] }` (version 0 and no items when it has
    /// expired).
    ///
    /// # Errors
    /// `CORRUPT` or `INVALID_INPUT` when the stored cart cannot be read as a [`Cart`];
    /// `CLOSED` after [`close`](CartApp::close).
    pub async fn items(&self) -> Result<JsValue, JsValue> {
        let (cart, version) = self.read().await.map_err(to_js)?;
        let lines = js_sys::Array::new();
        for line in &cart.items {
            lines.push(&object(&[
                ("item", JsValue::from_str(&line.item)),
                ("qty", JsValue::from(line.qty)),
            ]));
        }
        Ok(object(&[
            ("version", JsValue::from_f64(version as f64)),
            ("items", lines.into()),
        ]))
    }

    /// How many changes to the cart this tab has heard from other tabs (its own writes, and
    /// what it pulled from the sync server, are not counted).
    pub fn events(&self) -> u32 {
        self.remote_changes.get()
    }

    /// How many changes to the cart were pulled from the sync server (`remote` events).
    pub fn pulls(&self) -> u32 {
        self.pulls.get()
    }

    /// How many conflicts about the cart were settled (by [`merge_carts`]).
    pub fn conflicts(&self) -> u32 {
        self.conflicts.get()
    }

    /// Syncs now: pushes the queued changes (conflicts merged), then pulls. Resolves to
    /// `{ pushed, pulled, conflicts, pending }` (counts of sessions).
    ///
    /// # Errors
    /// `INVALID_INPUT` when the cart was opened without a sync URL; `UNAVAILABLE` when the
    /// server could not be reached or failed (the changes stay queued); `UNAUTHORIZED` when it
    /// refused this client.
    #[wasm_bindgen(js_name = syncNow)]
    pub async fn sync_now(&self) -> Result<JsValue, JsValue> {
        let report = self.store.sync_now().await.map_err(to_js)?;
        let count = |n: usize| JsValue::from(n as u32);
        Ok(object(&[
            ("pushed", count(report.pushed)),
            ("pulled", count(report.pulled)),
            ("conflicts", count(report.conflicts)),
            ("pending", count(report.pending)),
        ]))
    }

    /// Where sync stands: `{ pending, lastSyncAt, lastError }` (`lastSyncAt` in ms since the
    /// epoch or null; `lastError` `{ code, message }` or null).
    ///
    /// # Errors
    /// `INVALID_INPUT` when the cart was opened without a sync URL.
    #[wasm_bindgen(js_name = syncStatus)]
    pub async fn sync_status(&self) -> Result<JsValue, JsValue> {
        let status = self.store.sync_status().await.map_err(to_js)?;
        let last_error = match status.last_error {
            Some(e) => object(&[
                ("code", JsValue::from_str(&e.code)),
                ("message", JsValue::from_str(&e.message)),
            ]),
            None => JsValue::NULL,
        };
        Ok(object(&[
            ("pending", JsValue::from(status.pending as u32)),
            (
                "lastSyncAt",
                status
                    .last_sync_at
                    .map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64)),
            ),
            ("lastError", last_error),
        ]))
    }

    /// Shows what the version check prevents: reads the cart at version `v`, writes it back
    /// expecting `v` (accepted), then writes again expecting `v`, as a tab that missed the first
    /// write would. Resolves to the refused write's error code, `"VERSION_CONFLICT"`.
    ///
    /// # Errors
    /// `CartError` with code `STALE_WRITE_ACCEPTED` if the second write went through; the
    /// store's error if the first write failed.
    #[wasm_bindgen(js_name = staleWrite)]
    pub async fn stale_write(&self) -> Result<String, JsValue> {
        let (cart, version) = self.read().await.map_err(to_js)?;
        self.store
            .save_if_version_from(&self.id, &cart, version)
            .await
            .map_err(to_js)?;
        match self
            .store
            .save_if_version_from(&self.id, &cart, version)
            .await
        {
            Err(e) if e.code() == ErrorCode::VersionConflict => Ok(e.code().as_str().to_owned()),
            Err(e) => Err(to_js(e)),
            Ok(_) => Err(js_error(
                "STALE_WRITE_ACCEPTED",
                "a write based on a stale version was accepted",
            )),
        }
    }

    /// The backend the cart lives in: `"indexeddb"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.store.backend().as_str().to_owned()
    }

    /// Closes the cart's store in this tab: later calls reject with `CLOSED`, and no more
    /// events are counted. Idempotent.
    pub fn close(&self) {
        self.store.close();
    }
}

impl CartApp {
    /// The cart and its version; an empty cart at version 0 when it is missing or expired (a
    /// compare-and-swap expecting 0 creates it again).
    async fn read(&self) -> Result<(Cart, u64), StoreError> {
        Ok(match self.store.load(&self.id).await? {
            Some(record) => (record.state_as()?, record.version),
            None => (Cart::default(), 0),
        })
    }
}

/// A `CartError` for JS, carrying the store's code and message.
fn to_js(error: StoreError) -> JsValue {
    js_error(error.code().as_str(), &error.message())
}

/// An `Error` named `CartError` with `code`.
fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("CartError");
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(code));
    error.into()
}

/// A plain JS object with these fields.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in fields {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}
