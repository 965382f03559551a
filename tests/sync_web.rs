//! Sync from Rust (`StoreOptions::sync`, `WebStore::sync_now`, `sync_status`, the sync events),
//! in each engine, against a real `wss-server`: run through `scripts/sync-test-runner.mjs`,
//! which starts the server for the runner's origin and tells the page its URL
//! (`scripts/test.sh` does). The README's Rust sync example is `readme/sync.rs`, included here
//! and run as it is written.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::Cell;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;
use wasm_session_store::{ManualClock, SyncReport};

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

include!("readme/sync.rs");

/// The sync server's URL, as scripts/sync-test-runner.mjs serves it to this page.
async fn server_url() -> String {
    let body = r#"
        const r = await fetch(`/target/sync-test-runner/${location.port}`, { cache: "no-store" });
        if (!r.ok) throw new Error("no sync server for this page: run the suite through scripts/sync-test-runner.mjs (scripts/test.sh does)");
        return (await r.text()).trim();
    "#;
    let url = common::js("a, b", body, &JsValue::NULL, &JsValue::NULL)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    url.as_string().expect("a URL")
}

/// A store name of its own for each test (the server is shared by the whole run).
fn name(test: &str) -> String {
    let mut name = String::from(test);
    name.push('-');
    name.push_str(SessionId::generate().unwrap().as_str());
    name
}

#[wasm_bindgen_test]
fn the_readme_example_is_the_code_run_here() {
    let readme = include_str!("../README.md");
    let example = include_str!("readme/sync.rs");
    assert!(
        readme.contains(&format!("```rust,ignore\n{example}```\n")),
        "README.md's Rust sync example is not tests/readme/sync.rs: copy one onto the other"
    );
}

#[wasm_bindgen_test]
async fn the_readme_example_runs_two_devices_through_the_server() {
    two_devices(&server_url().await).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_store_without_sync_refuses_sync_now_and_sync_status() {
    let store = WebStore::open(StoreOptions::new().name("plain"), BackendKind::Memory)
        .await
        .unwrap();
    assert_eq!(
        store.sync_now().await.unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        store.sync_status().await.unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    store.close();
}

#[wasm_bindgen_test]
async fn headers_are_asked_once_per_pass_and_their_failure_is_unauthorized_with_nothing_lost() {
    let calls = Rc::new(Cell::new(0));
    let counted = calls.clone();
    let sync = SyncOptions::new(server_url().await)
        .interval_ms(None)
        .headers(move || {
            counted.set(counted.get() + 1);
            let n = counted.get();
            async move {
                match n {
                    1 => Err(StoreError::invalid("no token yet")),
                    _ => Ok(vec![("Authorization".into(), "Bearer t".into())]),
                }
            }
        });
    let options = StoreOptions::new().name(name("headers")).sync(sync);
    let store = WebStore::open(options, BackendKind::Memory).await.unwrap();
    // The pass the store starts by itself when it opens may come first: start from here.
    let before = calls.get();
    store.create(State::new(), Ttl::StoreDefault).await.unwrap();
    if before == 0 {
        let err = store.sync_now().await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unauthorized, "{err}");
        let status = store.sync_status().await.unwrap();
        assert_eq!(status.pending, 1);
        assert_eq!(
            status.last_error.map(|e| e.code),
            Some("UNAUTHORIZED".to_owned())
        );
    }
    let at = calls.get();
    let report = store.sync_now().await.unwrap();
    assert_eq!((report.pushed, report.pending), (1, 0));
    assert_eq!(calls.get(), at + 1, "one call for one pass");
    assert_eq!(store.sync_status().await.unwrap().last_error, None);
    store.close();
}

#[wasm_bindgen_test]
async fn the_queue_survives_close_and_reopen_on_indexeddb() {
    let url = server_url().await;
    let name = name("reopen");
    // First opened with a server that cannot be reached: the write stays queued.
    let away = StoreOptions::new()
        .name(name.clone())
        .sync(SyncOptions::new("http://127.0.0.1:9").interval_ms(None));
    let store = WebStore::open(away.clone(), BackendKind::IndexedDb)
        .await
        .unwrap();
    let id = SessionId::new("kept").unwrap();
    store
        .create_with_id_from(
            &id,
            &Cart {
                items: vec!["fig".into()],
            },
            Ttl::StoreDefault,
        )
        .await
        .unwrap();
    let err = store.sync_now().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    store.close();
    let store = WebStore::open(away, BackendKind::IndexedDb).await.unwrap();
    let status = store.sync_status().await.unwrap();
    assert_eq!(status.pending, 1, "the queue survived close()");
    assert_eq!(
        status.last_error.map(|e| e.code),
        Some("UNAVAILABLE".to_owned())
    );
    store.close();

    // Then with the server: pushed (by the pass opening starts, or by sync_now).
    let options = StoreOptions::new()
        .name(name.clone())
        .sync(SyncOptions::new(url.clone()).interval_ms(None));
    let store = WebStore::open(options.clone(), BackendKind::IndexedDb)
        .await
        .unwrap();
    assert_eq!(store.sync_now().await.unwrap().pending, 0);
    assert_eq!(store.sync_status().await.unwrap().pending, 0);
    store.close();

    // Another device gets it.
    let other = WebStore::open(options, BackendKind::Memory).await.unwrap();
    assert_eq!(other.sync_now().await.unwrap().pulled, 1);
    let cart: Cart = other.load(&id).await.unwrap().unwrap().state_as().unwrap();
    assert_eq!(cart.items, ["fig"]);
    other.close();
}

/// Two devices of one store `name`, with these conflict policies, and a session both changed
/// since they last synced (the first device's change pushed first): the second's pass report.
async fn conflict(
    name: &str,
    policy: Conflict,
) -> (
    WebStore,
    WebStore,
    SessionId,
    Result<SyncReport, StoreError>,
) {
    let url = server_url().await;
    let open = |conflict: Conflict| {
        let sync = SyncOptions::new(url.clone())
            .interval_ms(None)
            .conflict(conflict);
        WebStore::open(
            StoreOptions::new().name(name).sync(sync),
            BackendKind::Memory,
        )
    };
    let (first, second) = (
        open(Conflict::Server).await.unwrap(),
        open(policy).await.unwrap(),
    );
    let id = SessionId::new("shared").unwrap();
    let cart = |item: &str| Cart {
        items: vec![item.into()],
    };
    first
        .create_with_id_from(&id, &cart("base"), Ttl::StoreDefault)
        .await
        .unwrap();
    first.sync_now().await.unwrap();
    second.sync_now().await.unwrap();
    first.save_from(&id, &cart("first")).await.unwrap();
    first.sync_now().await.unwrap();
    second.save_from(&id, &cart("second")).await.unwrap();
    let report = second.sync_now().await;
    (first, second, id, report)
}

async fn items(store: &WebStore, id: &SessionId) -> Vec<String> {
    let record = store.load(id).await.unwrap().expect("the session");
    record.state_as::<Cart>().unwrap().items
}

/// "server": the second device takes the server's record (nothing pushed, nothing for the
/// first to pull). "client": its state is pushed again over the server's, and the first pulls it.
#[wasm_bindgen_test]
async fn conflict_server_and_client_settle_both_devices_on_one_record() {
    for (policy, pushed, winner) in [
        (Conflict::Server, 0, "first"),
        (Conflict::Client, 1, "second"),
    ] {
        let (first, second, id, report) = conflict(&name("policy"), policy).await;
        let report = report.unwrap();
        assert_eq!(
            (report.pushed, report.conflicts, report.pending),
            (pushed, 1, 0)
        );
        assert_eq!(items(&second, &id).await, [winner]);
        assert_eq!(first.sync_now().await.unwrap().pulled, pushed);
        assert_eq!(items(&first, &id).await, [winner]);
    }
}

#[wasm_bindgen_test]
async fn a_conflict_function_that_fails_is_a_sync_error_and_the_session_stays_queued() {
    let refuse = Conflict::Resolve(Rc::new(|_, _| Err(StoreError::invalid("cannot merge"))));
    let (first, second, id, report) = conflict(&name("refuse"), refuse).await;
    let report = report.unwrap();
    assert_eq!((report.conflicts, report.pending), (0, 1));
    let status = second.sync_status().await.unwrap();
    assert_eq!(status.pending, 1);
    assert_eq!(
        status.last_error.map(|e| e.code),
        Some("INVALID_INPUT".to_owned())
    );
    assert_eq!(
        items(&second, &id).await,
        ["second"],
        "the local change is kept"
    );
    assert_eq!(items(&first, &id).await, ["first"]);
}

#[wasm_bindgen_test]
async fn a_session_the_server_refuses_is_a_sync_error_with_its_id_and_the_others_go_on() {
    // The store's clock is far behind the server's, so this session's deadline is already past
    // there: 400 INVALID_INPUT for it alone.
    let sync = SyncOptions::new(server_url().await).interval_ms(None);
    let clock = ManualClock::new(1_000_000);
    let options = StoreOptions::new()
        .name(name("refused"))
        .clock(clock)
        .sync(sync);
    let store = WebStore::open(options, BackendKind::Memory).await.unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let log = errors.clone();
    let _sub = store.subscribe(move |e: &StoreEvent| {
        if e.kind == EventKind::SyncError {
            log.borrow_mut()
                .push((e.id.clone(), e.error.clone().map(|e| e.code)));
        }
    });
    let late = store
        .create(State::new(), Ttl::Millis(60_000))
        .await
        .unwrap();
    let fine = store.create(State::new(), Ttl::Never).await.unwrap();
    let report = store.sync_now().await.unwrap();
    assert_eq!((report.pushed, report.pending), (1, 1));
    assert!(
        errors
            .borrow()
            .contains(&(Some(late.id.clone()), Some("INVALID_INPUT".to_owned()))),
        "{:?}",
        errors.borrow()
    );
    assert!(!errors
        .borrow()
        .iter()
        .any(|(id, _)| id.as_ref() == Some(&fine.id)));
    store.close();
}
