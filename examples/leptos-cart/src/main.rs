//! A shopping cart in Leptos (client-side rendering), kept in a wasm-session-store
//! [`WebStore`].
//!
//! - The store is opened once, on [`BackendKind::Auto`] (IndexedDB, else localStorage, else
//!   memory).
//! - The cart is one session with a fixed id ([`CART_ID`]) whose state is the typed [`Cart`]
//!   (serde in and out).
//! - Every change is a compare-and-swap ([`update_cart`]): read the cart and its version,
//!   change it, write it only if the version is still the same, and on a version conflict
//!   (another tab wrote in between) read again and retry.
//! - Other tabs' writes arrive through [`SessionStore::subscribe`]: an event about the cart
//!   bumps a signal, and the resource that reads the cart tracks that signal, so it reloads.
//! - With `?sync=<url>` (a `wss-server` that allows the page's origin), the store syncs there
//!   ([`SyncOptions`]): each change is queued with the write and pushed, other devices' changes
//!   are pulled (every 30 s, and on "Sync now"), and a conflict (two devices changed the cart
//!   since they last synced) is settled by [`merge_carts`]. The page shows whether the cart is
//!   pending or synced.
//!
//! Build and serve it with `scripts/leptos-example.sh` at the root of the repository; open the
//! page in two tabs and add items in either.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::JsValue;
// The library's prelude: the SessionStore trait, WebStore, ids, options, events and errors.
use wasm_session_store::prelude::*;
use wasm_session_store::{Conflict, SyncOptions};

/// The store's name: the IndexedDB database (or localStorage key prefix) the cart lives in.
const STORE_NAME: &str = "leptos-cart";

/// The id of the cart's session: a fixed one, so that every tab reads and writes the same cart.
const CART_ID: &str = "cart";

/// How long an untouched cart is kept: a week.
const CART_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// How many times [`update_cart`] reads and tries again after a version conflict.
const MAX_ATTEMPTS: u32 = 5;

/// The cart: the session's whole state. A struct rather than a bare `Vec<Line>`, because a
/// session's state is a JSON object (the store refuses a top-level array).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// The lines, in the order they were first added.
    pub lines: Vec<Line>,
}

/// One line of the cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// What was added (the line's key: adding the same name again raises its quantity).
    pub name: String,
    /// How many.
    pub qty: u32,
}

impl Cart {
    /// Adds one `name`: a new line, or one more on the line that has it.
    pub fn add(&mut self, name: &str) {
        match self.lines.iter_mut().find(|line| line.name == name) {
            Some(line) => line.qty = line.qty.saturating_add(1),
            None => self.lines.push(Line {
                name: name.to_owned(),
                qty: 1,
            }),
        }
    }

    /// Removes the line of `name`, if there is one.
    pub fn remove(&mut self, name: &str) {
        self.lines.retain(|line| line.name != name);
    }

    /// How many items, over all lines.
    #[must_use]
    pub fn count(&self) -> u32 {
        self.lines.iter().map(|line| line.qty).sum()
    }
}

/// The cart's session id.
fn cart_id() -> SessionId {
    SessionId::new(CART_ID).expect("CART_ID is a valid session id")
}

/// Settles a sync conflict: the cart of this device (`local`) against the server's (`remote`;
/// either `None` when deleted there). Keeps every line of either, with the larger quantity
/// where both have it: the server's lines first, then this device's new ones.
///
/// # Errors
/// When either side is not a [`Cart`]: the store reports a `syncError` and keeps the change
/// queued.
pub fn merge_carts(
    local: Option<&SessionRecord>,
    remote: Option<&SessionRecord>,
) -> Result<Option<State>, StoreError> {
    let mut merged = match remote {
        Some(record) => record.state_as::<Cart>()?,
        None => Cart::default(),
    };
    if let Some(record) = local {
        for line in record.state_as::<Cart>()?.lines {
            match merged.lines.iter_mut().find(|l| l.name == line.name) {
                Some(l) => l.qty = l.qty.max(line.qty),
                None => merged.lines.push(line),
            }
        }
    }
    State::from_typed(&merged).map(Some)
}

/// The sync server's URL: the page's `?sync=` parameter, if it has one.
fn sync_url() -> Option<String> {
    let search = window().location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get("sync")
}

/// Opens the store (once, when the app starts); synced when the page names a server.
async fn open_store() -> Result<WebStore, StoreError> {
    let mut options = StoreOptions::new()
        .name(STORE_NAME)
        .ttl_ms(Some(CART_TTL_MS));
    if let Some(url) = sync_url() {
        let sync = SyncOptions::new(url).conflict(Conflict::Resolve(Rc::new(merge_carts)));
        options = options.sync(sync);
    }
    WebStore::open(options, BackendKind::Auto).await
}

/// A time of the store's clock (ms since the epoch) as the browser shows times of day.
fn time_of_day(ms: u64) -> String {
    let date = web_sys::js_sys::Date::new(&JsValue::from_f64(ms as f64));
    String::from(date.to_locale_time_string("en-GB"))
}

/// The cart and its version; an empty cart and version 0 when there is none yet (or it
/// expired), which is also what a compare-and-swap that creates it expects.
async fn load_cart(store: &WebStore, id: &SessionId) -> Result<(Cart, u64), StoreError> {
    match store.load(id).await? {
        Some(record) => Ok((record.state_as::<Cart>()?, record.version)),
        None => Ok((Cart::default(), 0)),
    }
}

/// Applies `change` to the stored cart with compare-and-swap, and returns the new version.
///
/// Reads the cart, changes the copy, and writes it only if the stored version is still the one
/// read ([`SessionStore::save_if_version_from`]; version 0 creates the session). When another
/// tab wrote in between, the write is refused with a version conflict and nothing is written:
/// read the newer cart and apply `change` to it instead, up to [`MAX_ATTEMPTS`] times.
///
/// # Errors
/// The store's: a version conflict when every attempt lost the race, or whatever the backend
/// reports (quota, closed store, a stored cart of another shape).
pub async fn update_cart(
    store: &WebStore,
    id: &SessionId,
    change: impl Fn(&mut Cart),
) -> Result<u64, StoreError> {
    let mut attempt = 1;
    loop {
        let (mut cart, version) = load_cart(store, id).await?;
        change(&mut cart);
        match store.save_if_version_from(id, &cart, version).await {
            Err(e) if e.code() == ErrorCode::VersionConflict && attempt < MAX_ATTEMPTS => {
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// The page: opens the store, then shows the cart.
#[component]
pub fn App() -> impl IntoView {
    let opened = LocalResource::new(open_store);
    view! {
        <main>
            <h1>"Cart"</h1>
            {move || match opened.get() {
                None => view! { <p>"Opening the store…"</p> }.into_any(),
                Some(Ok(store)) => view! { <CartView store /> }.into_any(),
                Some(Err(error)) => {
                    view! { <p class="error">"Could not open the store: " {error.to_string()}</p> }
                        .into_any()
                }
            }}
        </main>
    }
}

/// The cart of an open store: its lines, a form that adds an item, and live updates from the
/// other tabs.
#[component]
pub fn CartView(
    /// The open store.
    store: WebStore,
) -> impl IntoView {
    let backend = store.backend().as_str();
    let fallback = store.fallback_reason().map(str::to_owned);
    let synced = store.options().get_sync().is_some();
    // Bumped by every event about the cart (this tab's writes, other tabs', the sync server's);
    // the cart resource below tracks it, so each event reloads the cart.
    let changes = RwSignal::new(0u32);
    // Of those, the ones other tabs made, the ones pulled from the sync server, and the
    // conflicts settled.
    let from_others = RwSignal::new(0u32);
    let pulled = RwSignal::new(0u32);
    let merged = RwSignal::new(0u32);
    let id = cart_id();
    let subscription = store.subscribe(move |event| {
        if event.concerns(&id) {
            changes.try_update(|n| *n += 1);
            let count = if event.kind == EventKind::Conflict {
                merged
            } else if event.remote {
                pulled
            } else if !event.local {
                from_others
            } else {
                return;
            };
            count.try_update(|n| *n += 1);
        }
    });
    // Owned by this component: dropped (which unsubscribes) when it is.
    StoredValue::new_local(subscription);
    let store = StoredValue::new_local(store);

    let cart = LocalResource::new(move || {
        changes.track();
        let store = store.get_value();
        async move { load_cart(&store, &cart_id()).await }
    });

    // Where sync stands, read again on every change and every second (pushes and pulls also
    // happen on their own), and after "Sync now".
    let tick = RwSignal::new(0u32);
    if synced {
        set_interval(move || tick.update(|n| *n += 1), Duration::from_secs(1));
    }
    let status = LocalResource::new(move || {
        changes.track();
        tick.track();
        let store = store.get_value();
        async move {
            if synced {
                Some(store.sync_status().await)
            } else {
                None
            }
        }
    });
    let sync_now = move |_| {
        let store = store.get_value();
        spawn_local(async move {
            // A failure shows as the status's last error.
            let _ = store.sync_now().await;
            tick.update(|n| *n += 1);
        });
    };
    let sync_line = move || {
        status.get().flatten().map(|status| match status {
            Ok(status) => {
                let mut line = match status.pending {
                    0 => "synced".to_owned(),
                    n => format!("{n} pending"),
                };
                let at = status.last_sync_at.map_or("never".to_owned(), time_of_day);
                line.push_str(&format!(
                    " · last sync {at} · {} pulled · {} conflicts merged",
                    pulled.get(),
                    merged.get()
                ));
                if let Some(error) = status.last_error {
                    line.push_str(&format!(" · {}: {}", error.code, error.message));
                }
                line
            }
            Err(e) => e.to_string(),
        })
    };

    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    // Runs one compare-and-swap change; the cart reloads through the change feed.
    let apply = move |change: Box<dyn Fn(&mut Cart)>| {
        let store = store.get_value();
        spawn_local(async move {
            let result = update_cart(&store, &cart_id(), change).await;
            error.set(result.err().map(|e| e.to_string()));
        });
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let item = name.get_untracked().trim().to_owned();
        if !item.is_empty() {
            name.set(String::new());
            apply(Box::new(move |cart| cart.add(&item)));
        }
    };

    let lines = move || {
        cart.get().map(|loaded| match loaded {
            Ok((cart, _)) if cart.lines.is_empty() => {
                view! { <p id="empty">"The cart is empty."</p> }.into_any()
            }
            Ok((cart, _)) => view! {
                <ul id="lines">
                    {cart
                        .lines
                        .into_iter()
                        .map(|Line { name, qty }| {
                            let data_name = name.clone();
                            let to_remove = name.clone();
                            let remove = move |_| {
                                let name = to_remove.clone();
                                apply(Box::new(move |cart| cart.remove(&name)));
                            };
                            view! {
                                <li data-name=data_name>
                                    <span class="name">{name}</span>
                                    " × "
                                    <span class="qty">{qty}</span>
                                    " "
                                    <button on:click=remove>"Remove"</button>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            }
            .into_any(),
            Err(e) => view! { <p class="error">"Could not read the cart: " {e.to_string()}</p> }
                .into_any(),
        })
    };
    let summary = move || {
        cart.get()
            .and_then(Result::ok)
            .map(|(cart, version)| format!("{} item(s), version {version}", cart.count()))
    };

    view! {
        <p id="backend">
            "Backend: " {backend} {fallback.map(|why| format!(" ({why})"))}
        </p>
        <form id="add" on:submit=add>
            <input id="item" placeholder="Item" autocomplete="off" bind:value=name />
            <button type="submit">"Add"</button>
        </form>
        {lines}
        <p id="summary">{summary}</p>
        <p id="remote">"Updates from other tabs: " {move || from_others.get()}</p>
        {synced.then(|| view! {
            <p id="sync">
                <span id="sync-state">{sync_line}</span>
                " "
                <button id="sync-now" on:click=sync_now>"Sync now"</button>
            </p>
        })}
        <p id="error" class="error">{move || error.get()}</p>
    }
}

/// Mounts [`App`] on `<body>`: the wasm module's `main`, which wasm-bindgen's `init()` runs.
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
