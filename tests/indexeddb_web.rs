//! IndexedDbStore in headless Chromium: the conformance suite, then what only a real database
//! shows: persistence, concurrent CAS between two connections, corrupt records, blocked
//! upgrades.
#![cfg(target_arch = "wasm32")]

mod common;

use futures::future::join;
use serde_json::json;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;
use wasm_session_store::{
    ErrorCode, IndexedDbBackend, IndexedDbStore, SessionId, SessionStore, State, StoreError, Ttl,
};
use wasm_session_store_testing::{options, state};

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

wasm_session_store_testing::conformance_tests!(wasm, |options| async move {
    IndexedDbStore::open(options)
        .await
        .expect("IndexedDB opens")
});

/// State migrations: two releases of an app (stateVersion 1 and 2) on one database.
mod migrations {
    wasm_session_store_testing::migration_tests!(wasm, |options| async move {
        wasm_session_store::IndexedDbStore::open(options)
            .await
            .expect("IndexedDB opens")
    });
}

#[wasm_bindgen_test]
async fn data_survives_closing_and_reopening() {
    let (opts, _clock) = options("idb_persist");
    let store = IndexedDbStore::open(opts.clone()).await.unwrap();
    let record = store
        .create(state(json!({"cart": ["apple"]})), Ttl::Never)
        .await
        .unwrap();
    store.set(&record.id, "n", json!(2)).await.unwrap();
    drop(store); // closes the connection
    let again = IndexedDbStore::open(opts).await.unwrap();
    let back = again.load(&record.id).await.unwrap().expect("still there");
    assert_eq!(back.version, 2);
    assert_eq!(back.state, state(json!({"cart": ["apple"], "n": 2})));
}

#[wasm_bindgen_test]
async fn two_connections_racing_one_version_have_exactly_one_winner() {
    let (opts, _clock) = options("idb_race");
    let a = IndexedDbStore::open(opts.clone()).await.unwrap();
    let b = IndexedDbStore::open(opts).await.unwrap();
    let record = a.create(state(json!({"n": 0})), Ttl::Never).await.unwrap();
    let (ra, rb) = join(
        a.save_if_version(&record.id, state(json!({"n": "a"})), 1),
        b.save_if_version(&record.id, state(json!({"n": "b"})), 1),
    )
    .await;
    let (wins, conflicts): (Vec<_>, Vec<_>) = [ra, rb].into_iter().partition(|r| r.is_ok());
    assert_eq!(wins.len(), 1, "exactly one CAS wins");
    match &conflicts[0] {
        Err(StoreError::VersionConflict {
            expected: 1,
            actual: 2,
            ..
        }) => {}
        other => panic!("the loser sees a conflict 1/2, got {other:?}"),
    }
    assert_eq!(a.load(&record.id).await.unwrap().unwrap().version, 2);
}

#[wasm_bindgen_test]
async fn concurrent_increments_from_two_connections_lose_nothing() {
    let (opts, _clock) = options("idb_increments");
    let a = IndexedDbStore::open(opts.clone()).await.unwrap();
    let b = IndexedDbStore::open(opts).await.unwrap();
    let id = SessionId::new("counter").unwrap();
    a.create_with_id(&id, state(json!({"n": 0})), Ttl::Never)
        .await
        .unwrap();
    join(
        common::increment(&a, &id, 25),
        common::increment(&b, &id, 25),
    )
    .await;
    let r = b.load(&id).await.unwrap().unwrap();
    assert_eq!(r.state.get("n").unwrap(), json!(50));
    assert_eq!(r.version, 51);
}

#[wasm_bindgen_test]
async fn a_corrupt_record_is_corrupt_alone_and_can_be_deleted() {
    let (opts, clock) = options("idb_corrupt");
    let name = opts.get_name().to_owned();
    let store = IndexedDbStore::open(opts).await.unwrap();
    let good = store
        .create(state(json!({"ok": true})), Ttl::StoreDefault)
        .await
        .unwrap();
    // exp 1: in the expiry index range, so deleteExpired meets it.
    let garbage = common::idb_value("{not json", Some(1.0));
    common::idb_put_raw(&name, "bad", garbage).await;
    let newer = r#"{"v":4,"id":"newer","shape":"from the future"}"#;
    common::idb_put_raw(&name, "newer", common::idb_value(newer, None)).await;
    common::idb_put_raw(&name, "plain", JsValue::from_str("a string")).await;

    let bad = SessionId::new("bad").unwrap();
    for id in ["bad", "newer", "plain"] {
        let id = SessionId::new(id).unwrap();
        assert_eq!(
            store.load(&id).await.unwrap_err().code(),
            ErrorCode::Corrupt
        );
        assert_eq!(
            store.save(&id, state(json!({}))).await.unwrap_err().code(),
            ErrorCode::Corrupt
        );
        assert_eq!(
            store
                .create_with_id(&id, state(json!({})), Ttl::StoreDefault)
                .await
                .unwrap_err()
                .code(),
            ErrorCode::Corrupt
        );
    }
    common::assert_newer_format(&store, 4).await;
    assert_eq!(store.ids().await.unwrap(), vec![good.id.clone()]);
    clock.advance(1);
    assert_eq!(
        store.delete_expired(None).await.unwrap(),
        0,
        "corrupt records are skipped"
    );
    assert_eq!(
        store.load(&bad).await.unwrap_err().code(),
        ErrorCode::Corrupt
    );
    assert_eq!(store.load(&good.id).await.unwrap(), Some(good.clone()));
    assert!(
        store.delete(&bad).await.unwrap(),
        "delete removes a corrupt record"
    );
    assert_eq!(store.load(&bad).await.unwrap(), None);
    store.clear().await.unwrap();
    assert_eq!(
        store.load(&SessionId::new("newer").unwrap()).await.unwrap(),
        None
    );
}

/// A record stored under one id whose envelope names another (copied or moved behind the
/// store's back) is CORRUPT for that id alone. Entries under keys that are not ids at all
/// (written by something else into the database) are never taken for records: not listed,
/// not swept, but removed by `clear`.
#[wasm_bindgen_test]
async fn a_record_under_the_wrong_id_is_corrupt_alone_and_malformed_keys_are_ignored() {
    use wasm_session_store_testing::T0;
    let (opts, clock) = options("idb_wrong_id");
    let name = opts.get_name().to_owned();
    let store = IndexedDbStore::open(opts).await.unwrap();
    let good = store
        .create(state(json!({"ok": true})), Ttl::StoreDefault)
        .await
        .unwrap();
    let (wrong, other) = common::WRONG;
    let deadline = Some(T0 + 1);
    let exp = Some((T0 + 1) as f64); // in the deadline index: deleteExpired meets it
    let text = common::envelope(other, deadline);
    common::idb_put_raw(&name, wrong, common::idb_value(&text, exp)).await;
    let too_long = "x".repeat(wasm_session_store::MAX_ID_LEN + 1);
    for key in ["not an id", "colon:id", too_long.as_str()] {
        let value = common::idb_value(&common::envelope(key, deadline), exp);
        common::idb_put_raw(&name, key, value).await;
    }
    assert_eq!(common::idb_count_raw(&name).await, 5);
    common::assert_a_record_under_the_wrong_id_is_corrupt_alone(&store, &clock, &good).await;
    assert_eq!(
        common::idb_count_raw(&name).await,
        4,
        "the good record and the 3 foreign entries"
    );
    assert_eq!(store.delete_expired(None).await.unwrap(), 0);
    assert_eq!(store.ids().await.unwrap(), vec![good.id.clone()]);
    store.clear().await.unwrap();
    assert_eq!(common::idb_count_raw(&name).await, 0, "clear empties it");
}

#[wasm_bindgen_test]
async fn a_batched_delete_expired_looks_past_unreadable_records() {
    // Unreadable records first in the deadline index fill the first page of candidates;
    // the batch must still reach the expired sessions behind them, and leave them be.
    let (opts, clock) = options("idb_sweep_past_corrupt");
    let name = opts.get_name().to_owned();
    let store = IndexedDbStore::open(opts).await.unwrap();
    for key in ["bad0", "bad1", "bad2"] {
        common::idb_put_raw(&name, key, common::idb_value("{not json", Some(1.0))).await;
    }
    for _ in 0..3 {
        store.create(State::new(), Ttl::Millis(5)).await.unwrap();
    }
    clock.advance(5);
    let two = std::num::NonZeroUsize::new(2);
    assert_eq!(store.delete_expired(two).await.unwrap(), 2);
    assert_eq!(store.delete_expired(two).await.unwrap(), 1);
    assert_eq!(store.delete_expired(None).await.unwrap(), 0);
    let bad = SessionId::new("bad1").unwrap();
    assert_eq!(
        store.load(&bad).await.unwrap_err().code(),
        ErrorCode::Corrupt
    );
}

#[wasm_bindgen_test]
async fn an_upgrade_blocked_by_a_connection_that_ignores_versionchange_is_blocked() {
    let name = format!("idb-blocked-{}", SessionId::generate().unwrap());
    // A foreign connection to a database of that name, without our schema, that never closes.
    let hold = r#"
        const conn = await new Promise((ok, no) => { const r = indexedDB.open(a, 1); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
        globalThis.__held = conn;
    "#;
    common::js("a, b", hold, &JsValue::from_str(&name), &JsValue::UNDEFINED)
        .await
        .unwrap();
    let started = js_sys::Date::now();
    let err = IndexedDbBackend::open(&name, 200).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Blocked, "{err}");
    assert!(js_sys::Date::now() - started < 5_000.0, "it did not hang");
    // Once the other connection closes, opening works.
    common::js(
        "a, b",
        "globalThis.__held.close();",
        &JsValue::UNDEFINED,
        &JsValue::UNDEFINED,
    )
    .await
    .unwrap();
    let backend = IndexedDbBackend::open(&name, 2_000)
        .await
        .expect("opens after the blocker left");
    drop(backend);
}

#[wasm_bindgen_test]
async fn our_connection_steps_aside_for_another_tabs_upgrade_and_reopens() {
    let (opts, _clock) = options("idb_versionchange");
    let name = opts.get_name().to_owned();
    let store = IndexedDbStore::open(opts).await.unwrap();
    let r = store
        .create(state(json!({"a": 1})), Ttl::Never)
        .await
        .unwrap();
    // Another connection upgrades the database; ours must close rather than block it.
    let upgrade = r#"
        const v = await new Promise((ok) => { const r = indexedDB.open(a); r.onsuccess = () => { const v = r.result.version; r.result.close(); ok(v); }; });
        const conn = await new Promise((ok, no) => {
            const r = indexedDB.open(a, v + 1);
            r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
            r.onblocked = () => no(new Error("blocked by the store's connection"));
        });
        conn.close();
    "#;
    common::js(
        "a, b",
        upgrade,
        &JsValue::from_str(&name),
        &JsValue::UNDEFINED,
    )
    .await
    .expect("upgrade not blocked");
    assert_eq!(
        store.load(&r.id).await.unwrap().unwrap().state,
        r.state,
        "reopened after the upgrade"
    );
}

/// The model-based test's seeded sequences, replayed against IndexedDB.
#[wasm_bindgen_test]
async fn indexeddb_store_matches_the_model() {
    common::replay_model(
        |options| async move {
            IndexedDbStore::open(options)
                .await
                .expect("IndexedDB opens")
        },
        "indexeddb",
        400,
    )
    .await;
}

/// `WebStore`, the browser runtime the JS class wraps: the conformance suite through it, on
/// IndexedDB (what `Auto` gets here), and on localStorage through a follower while another
/// instance of the name leads (the leader protocol's request and answer).
mod web_store {
    use wasm_session_store::{BackendKind, StoreOptions, WebStore};

    mod indexeddb {
        use super::*;
        wasm_session_store_testing::conformance_tests!(wasm, |options: StoreOptions| async move {
            let store = WebStore::open(options, BackendKind::Auto)
                .await
                .expect("opens");
            assert_eq!(store.backend(), BackendKind::IndexedDb);
            assert_eq!(store.fallback_reason(), None);
            store
        });
    }

    /// The leader protocol: every operation of the suite goes through a follower instance
    /// while another instance of the name leads.
    mod localstorage {
        use super::*;
        wasm_session_store_testing::conformance_tests!(wasm, |options: StoreOptions| async move {
            let open = |options| async move {
                WebStore::open(options, BackendKind::LocalStorage)
                    .await
                    .expect("opens")
            };
            crate::common::ThroughFollower::open(open, options).await
        });

        /// Two releases on localStorage with its leader tab.
        mod migrations {
            use super::*;
            wasm_session_store_testing::migration_tests!(
                wasm,
                |options: StoreOptions| async move {
                    WebStore::open(options, BackendKind::LocalStorage)
                        .await
                        .expect("opens")
                }
            );
        }
    }
}

/// Two `WebStore`s of one name hear each other's writes through the change feed (`local:
/// false`), typed state goes through, and a closed store refuses everything with CLOSED.
#[wasm_bindgen_test]
async fn a_web_store_hears_another_instances_writes_and_closes() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_session_store::{BackendKind, StoreEvent, WebStore};

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Cart {
        items: Vec<String>,
    }

    let (opts, _clock) = options("web_store_feed");
    let a = WebStore::open(opts.clone(), BackendKind::IndexedDb)
        .await
        .unwrap();
    let b = WebStore::open(opts, BackendKind::IndexedDb).await.unwrap();
    let heard: Rc<RefCell<Vec<StoreEvent>>> = Rc::default();
    let sink = heard.clone();
    let _sub = b.subscribe(move |event| sink.borrow_mut().push(event.clone()));

    let cart = Cart {
        items: vec!["apple".into()],
    };
    let rec = a.create_from(&cart, Ttl::StoreDefault).await.unwrap();
    let loaded = b.load(&rec.id).await.unwrap().unwrap();
    assert_eq!(loaded.state_as::<Cart>().unwrap(), cart);
    let conflict = b.save_if_version_from(&rec.id, &cart, 0).await.unwrap_err();
    assert_eq!(conflict.code(), ErrorCode::VersionConflict);

    // The feed is asynchronous: wait (bounded) for a's event to arrive at b.
    for _ in 0..100 {
        if !heard.borrow().is_empty() {
            break;
        }
        common::sleep_ms(10).await;
    }
    let events = heard.borrow().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].id.as_ref(), Some(&rec.id));
    assert!(!events[0].local);

    a.close();
    a.close(); // idempotent
    assert!(a.is_closed());
    assert_eq!(a.load(&rec.id).await.unwrap_err().code(), ErrorCode::Closed);
    assert!(b.load(&rec.id).await.unwrap().is_some());
    b.clear().await.unwrap();
    b.close();
}

/// `update_as` from two `WebStore`s of one name at once, on IndexedDB and on localStorage
/// (with its leader tab): their read-change-writes interleave, the losers of each race read
/// again, and no change is lost.
#[wasm_bindgen_test]
async fn update_as_from_two_web_stores_at_once_loses_nothing() {
    use wasm_session_store::{BackendKind, WebStore};

    #[derive(serde::Serialize, serde::Deserialize, Default)]
    struct Counter {
        n: u32,
        by: Vec<String>,
    }

    for kind in [BackendKind::IndexedDb, BackendKind::LocalStorage] {
        let (opts, _clock) = options(&format!("web_store_update_as_{}", kind.as_str()));
        let a = WebStore::open(opts.clone(), kind).await.unwrap();
        let b = WebStore::open(opts, kind).await.unwrap();
        let rec = a
            .create_from(&Counter::default(), Ttl::StoreDefault)
            .await
            .unwrap();
        let bump = |store: WebStore, who: &'static str| {
            let id = rec.id.clone();
            async move {
                for _ in 0..15 {
                    store
                        .update_as(&id, |c: &mut Counter| {
                            c.n += 1;
                            c.by.push(who.into());
                        })
                        .await
                        .unwrap();
                }
            }
        };
        join(bump(a.clone(), "a"), bump(b.clone(), "b")).await;
        let done: Counter = b.load(&rec.id).await.unwrap().unwrap().state_as().unwrap();
        assert_eq!(done.n, 30, "{kind:?}");
        assert_eq!(done.by.iter().filter(|w| *w == "a").count(), 15);
        b.clear().await.unwrap();
        a.close();
        b.close();
    }
}
