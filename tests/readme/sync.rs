use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_session_store::prelude::*;
use wasm_session_store::{Conflict, Resolution, SyncOptions};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Cart {
    items: Vec<String>,
}

/// A conflict settled by keeping the items of both sides, each once (`None`: that side deleted).
fn merge(
    local: Option<&SessionRecord>,
    remote: Option<&SessionRecord>,
) -> Result<Option<State>, StoreError> {
    let mut items = Vec::new();
    for record in [local, remote].into_iter().flatten() {
        items.extend(record.state_as::<Cart>()?.items);
    }
    items.sort();
    items.dedup();
    State::from_typed(&Cart { items }).map(Some)
}

/// Two devices of one user keep a cart in sync through the `wss-server` at `url`.
async fn two_devices(url: &str) -> Result<(), StoreError> {
    let options = || {
        StoreOptions::new().name("shop").sync(
            SyncOptions::new(url)
                // Called once per pass: its headers go on every request of the pass.
                .headers(|| async { Ok(vec![("Authorization".into(), "Bearer <token>".into())]) })
                .interval_ms(None) // pull in sync_now only (default: every 30 s too)
                .conflict(Conflict::Resolve(Rc::new(merge))), // default: Conflict::Server
        )
    };
    // Two devices in one page: two memory stores. On a device, BackendKind::Auto (IndexedDB).
    let phone = WebStore::open(options(), BackendKind::Memory).await?;
    let laptop = WebStore::open(options(), BackendKind::Memory).await?;
    let heard = Rc::new(RefCell::new(Vec::new()));
    let log = heard.clone();
    let _sub = laptop
        .subscribe(move |e: &StoreEvent| log.borrow_mut().push((e.kind, e.remote, e.resolution)));

    let id = SessionId::new("cart-1")?;
    let cart = Cart {
        items: vec!["apple".into()],
    };
    phone
        .create_with_id_from(&id, &cart, Ttl::StoreDefault)
        .await?;
    assert_eq!(phone.sync_status().await?.pending, 1);
    let report = phone.sync_now().await?; // push, then pull
    assert_eq!((report.pushed, report.pulled, report.pending), (1, 0, 0));
    assert_eq!(laptop.sync_now().await?.pulled, 1);
    assert_eq!(
        laptop
            .load(&id)
            .await?
            .map(|r| r.state_as::<Cart>())
            .transpose()?,
        Some(cart)
    );

    // Both change the cart they have; the phone pushes first, so the laptop's push is refused
    // (412) and its policy merges the two, then pushes the merge.
    phone
        .update_as(&id, |c: &mut Cart| c.items.push("pear".into()))
        .await?;
    phone.sync_now().await?;
    laptop
        .update_as(&id, |c: &mut Cart| c.items.push("plum".into()))
        .await?;
    let report = laptop.sync_now().await?;
    assert_eq!((report.pushed, report.conflicts, report.pending), (1, 1, 0));
    assert_eq!(phone.sync_now().await?.pulled, 1);
    let cart: Cart = phone.load(&id).await?.expect("pulled").state_as()?;
    assert_eq!(cart.items, ["apple", "pear", "plum"]);
    assert!(heard.borrow().contains(&(EventKind::Created, true, None)));
    assert!(heard
        .borrow()
        .contains(&(EventKind::Conflict, false, Some(Resolution::Merged))));
    assert_eq!(laptop.sync_status().await?.last_error, None);

    phone.close();
    laptop.close();
    Ok(())
}
