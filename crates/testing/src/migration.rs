//! State migrations (`StoreOptions::state_version` and `migrate`), generic over the store.
//!
//! Each case opens two stores on the same storage (the same name) the way two releases of an
//! app do in two tabs: an old one writing `stateVersion` 1 and a new one writing 2 with a
//! `migrate`. So the factory must open the same records for the same name, as every
//! persistent backend does (a memory store needs a backend shared by name; see
//! `tests/memory_native.rs`). Stamp the cases out with
//! [`migration_tests!`](crate::migration_tests).

use crate::{options, state, OpenStore, TTL};
use serde_json::{json, Value};
use wasm_session_store::{
    ErrorCode, ManualClock, SaveEntry, SessionRecord, SessionStore, State, StoreError,
    StoreOptions, Ttl,
};

/// Version 1 kept a cart as `{"items": [sku, ..]}`; version 2 as
/// `{"lines": [{"sku", "qty"}], "from": <the version it was migrated from>}`. A state with
/// `"poison": true` fails to migrate.
pub fn cart_migration(state: State, from: u64) -> Result<State, StoreError> {
    let value: Value = state.to_typed()?;
    if value["poison"] == json!(true) {
        return Err(StoreError::invalid("poisoned cart"));
    }
    let items = value["items"].as_array().cloned().unwrap_or_default();
    let lines: Vec<Value> = items
        .into_iter()
        .map(|sku| json!({"sku": sku, "qty": 1}))
        .collect();
    let mut next = value.as_object().cloned().unwrap_or_default();
    next.remove("items");
    next.insert("lines".into(), json!(lines));
    next.insert("from".into(), json!(from));
    Ok(State::from(next))
}

/// The old release's store and the new one's, on the same storage and clock.
pub struct Releases<S> {
    pub old: S,
    pub new: S,
    pub clock: ManualClock,
}

/// Opens both releases for `case` (`tune` applies to both).
pub async fn releases<O: OpenStore>(
    open: &O,
    case: &str,
    tune: impl Fn(StoreOptions) -> StoreOptions,
) -> Releases<O::Store> {
    let (base, clock) = options(case);
    let old = open.open(tune(base.clone().state_version(1))).await;
    let new = open
        .open(tune(base.state_version(2).migrate(cart_migration)))
        .await;
    Releases { old, new, clock }
}

fn migrated(items: &[&str], from: u64) -> State {
    let lines: Vec<Value> = items.iter().map(|s| json!({"sku": s, "qty": 1})).collect();
    state(json!({"lines": lines, "from": from}))
}

async fn load<S: SessionStore>(store: &S, rec: &SessionRecord) -> SessionRecord {
    store.load(&rec.id).await.unwrap().expect("live")
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, StoreError>, code: ErrorCode) -> StoreError {
    match result {
        Err(e) => {
            assert_eq!(e.code(), code, "{e}");
            e
        }
        Ok(v) => panic!("expected {code:?}, got Ok({v:?})"),
    }
}

pub async fn an_old_record_is_migrated_on_read_and_stored_by_the_next_write<O: OpenStore>(
    open: &O,
) {
    let r = releases(open, "mig_read_write", |o| o).await;
    let old = r
        .old
        .create(state(json!({"items": ["a", "b"]})), Ttl::StoreDefault)
        .await
        .unwrap();
    // Read: migrated, same version and times; nothing written.
    let read = load(&r.new, &old).await;
    assert_eq!(read.state, migrated(&["a", "b"], 1));
    assert_eq!((read.version, read.updated_at), (1, old.updated_at));
    let many = r
        .new
        .load_many(std::slice::from_ref(&old.id))
        .await
        .unwrap();
    assert_eq!(many[0].as_ref().unwrap().state, read.state);
    assert_eq!(load(&r.old, &old).await, old, "a read writes nothing");
    // The next write stores it: version + 1, of stateVersion 2 (the old store now meets a
    // newer record).
    r.clock.advance(5);
    let v = r.new.set(&old.id, "coupon", json!("SPRING")).await.unwrap();
    assert_eq!(v, 2);
    let mut want = migrated(&["a", "b"], 1);
    want.insert("coupon", &json!("SPRING")).unwrap();
    let now = load(&r.new, &old).await;
    assert_eq!((now.state, now.version), (want, 2));
    assert_eq!(now.updated_at, old.updated_at + 5);
    let e = assert_code(r.old.load(&old.id).await, ErrorCode::Corrupt);
    assert!(e.to_string().contains("stateVersion"), "{e}");
    // The data is fine, for the newer release: no advice to delete it.
    assert!(!e.to_string().contains("delete"), "{e}");
}

pub async fn get_set_and_remove_see_the_migrated_state<O: OpenStore>(open: &O) {
    let r = releases(open, "mig_keys", |o| o).await;
    let a = r
        .old
        .create(state(json!({"items": ["x"], "note": 1})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(
        r.new.get(&a.id, "lines").await.unwrap(),
        Some(json!([{"sku": "x", "qty": 1}]))
    );
    assert_eq!(r.new.get(&a.id, "items").await.unwrap(), None);
    // Removing a key that only the old shape has writes nothing.
    assert_eq!(r.new.remove(&a.id, "items").await.unwrap(), 1);
    assert_eq!(load(&r.old, &a).await, a);
    // Removing a key of the migrated state stores the migrated state without it.
    assert_eq!(r.new.remove(&a.id, "note").await.unwrap(), 2);
    let after = load(&r.new, &a).await;
    assert_eq!(after.state, migrated(&["x"], 1));
    // Now stored at stateVersion 2: no further migration (`from` stays 1).
    r.new.set(&a.id, "n", json!(3)).await.unwrap();
    assert_eq!(load(&r.new, &a).await.state.get("from"), Some(json!(1)));
    // saveIfVersion checks the version, which migration does not change.
    let b = r
        .old
        .create(state(json!({"items": []})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(load(&r.new, &b).await.version, 1);
    let v = r
        .new
        .save_if_version(&b.id, migrated(&["y"], 1), 1)
        .await
        .unwrap();
    assert_eq!(v, 2);
}

pub async fn a_newer_record_is_corrupt_to_an_old_store_and_its_writes_replace_it<O: OpenStore>(
    open: &O,
) {
    let r = releases(open, "mig_newer", |o| o).await;
    let rec = r
        .new
        .create(migrated(&["a"], 2), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_code(r.old.load(&rec.id).await, ErrorCode::Corrupt);
    assert_code(
        r.old.load_many(std::slice::from_ref(&rec.id)).await,
        ErrorCode::Corrupt,
    );
    assert_code(r.old.get(&rec.id, "lines").await, ErrorCode::Corrupt);
    assert_code(r.old.set(&rec.id, "k", json!(1)).await, ErrorCode::Corrupt);
    assert_code(r.old.remove(&rec.id, "lines").await, ErrorCode::Corrupt);
    assert_eq!(load(&r.new, &rec).await, rec, "the refusals wrote nothing");
    // What needs no state still works: ids, TTL, delete.
    assert_eq!(r.old.ids().await.unwrap(), vec![rec.id.clone()]);
    r.old.update_ttl(&rec.id, Some(TTL * 2)).await.unwrap();
    assert_eq!(load(&r.new, &rec).await.version, 1);
    // A save replaces it with the old shape, which the new release migrates again.
    let v = r
        .old
        .save(&rec.id, state(json!({"items": ["b"]})))
        .await
        .unwrap();
    assert_eq!(v, 2);
    assert_eq!(
        load(&r.old, &rec).await.state,
        state(json!({"items": ["b"]}))
    );
    assert_eq!(load(&r.new, &rec).await.state, migrated(&["b"], 1));
}

pub async fn a_failing_migrate_is_invalid_input_and_writes_nothing<O: OpenStore>(open: &O) {
    let (base, clock) = options("mig_fails");
    let old = open.open(base.clone().state_version(1)).await;
    // Sliding: even its read would write (the deadline), were the migration to succeed.
    let new = open
        .open(base.state_version(2).migrate(cart_migration).sliding(true))
        .await;
    let rec = old
        .create(
            state(json!({"items": ["a"], "poison": true})),
            Ttl::StoreDefault,
        )
        .await
        .unwrap();
    clock.advance(10);
    let e = assert_code(new.load(&rec.id).await, ErrorCode::InvalidInput);
    assert!(e.to_string().contains("poisoned cart"), "{e}");
    assert_eq!(e.to_string().matches("invalid input").count(), 1, "{e}");
    assert!(e.to_string().contains(rec.id.as_str()), "{e}");
    assert_code(
        new.load_many(std::slice::from_ref(&rec.id)).await,
        ErrorCode::InvalidInput,
    );
    assert_code(new.get(&rec.id, "items").await, ErrorCode::InvalidInput);
    assert_code(
        new.set(&rec.id, "k", json!(1)).await,
        ErrorCode::InvalidInput,
    );
    assert_code(new.remove(&rec.id, "poison").await, ErrorCode::InvalidInput);
    assert_eq!(
        load(&old, &rec).await,
        rec,
        "nothing written, the deadline included"
    );
    // A whole-state write needs no migration, and replaces it.
    assert_eq!(
        new.save(&rec.id, migrated(&[], 2)).await.unwrap(),
        2,
        "save never reads the old state"
    );
    assert_eq!(load(&new, &rec).await.state, migrated(&[], 2));
}

pub async fn without_migrate_older_records_are_returned_as_stored<O: OpenStore>(open: &O) {
    let (base, _clock) = options("mig_none");
    let old = open.open(base.clone()).await;
    let new = open.open(base.state_version(3)).await;
    let rec = old
        .create(state(json!({"items": ["a"]})), Ttl::StoreDefault)
        .await
        .unwrap();
    assert_eq!(new.load(&rec.id).await.unwrap(), Some(rec.clone()));
    // The next write stores the current stateVersion, which the old store cannot read.
    assert_eq!(new.set(&rec.id, "k", json!(1)).await.unwrap(), 2);
    assert_code(old.load(&rec.id).await, ErrorCode::Corrupt);
}

pub async fn a_sliding_read_moves_the_deadline_but_stores_the_old_state<O: OpenStore>(open: &O) {
    let r = releases(open, "mig_sliding", |o| o.sliding(true)).await;
    let rec = r
        .old
        .create(state(json!({"items": ["a"]})), Ttl::StoreDefault)
        .await
        .unwrap();
    r.clock.advance(TTL / 2);
    let read = load(&r.new, &rec).await;
    assert_eq!(read.state, migrated(&["a"], 1));
    assert_eq!(read.expires_at, Some(rec.created_at + TTL / 2 + TTL));
    // Past the first deadline: alive only because the new store's read moved it; and still
    // the old shape, readable by the old store.
    r.clock.advance(TTL / 2 + 1);
    let stored = load(&r.old, &rec).await;
    assert_eq!((stored.state, stored.version), (rec.state.clone(), 1));
}

pub async fn two_releases_interleave_without_losing_an_update<O: OpenStore>(open: &O) {
    let r = releases(open, "mig_rolling", |o| o).await;
    let rec = r
        .old
        .create(state(json!({"items": []})), Ttl::StoreDefault)
        .await
        .unwrap();
    let mut version = 1;
    let mut skus: Vec<String> = Vec::new();
    for round in 0..6 {
        let sku = format!("s{round}");
        skus.push(sku.clone());
        let refs: Vec<&str> = skus.iter().map(String::as_str).collect();
        if round % 2 == 0 {
            // The new release reads (migrating when the old one wrote last) and writes v2.
            let cur = load(&r.new, &rec).await;
            assert_eq!(cur.version, version);
            let mut lines = cur.state.get("lines").unwrap();
            lines
                .as_array_mut()
                .unwrap()
                .push(json!({"sku": sku, "qty": 1}));
            let mut next = cur.state.clone();
            next.insert("lines", &lines).unwrap();
            version = r.new.save_if_version(&rec.id, next, version).await.unwrap();
            assert_code(r.old.load(&rec.id).await, ErrorCode::Corrupt);
        } else {
            // The old release cannot read it, but its compare-and-swap still works on the
            // version, and writes its own shape.
            let stale = r
                .old
                .save_if_version(&rec.id, state(json!({"items": refs})), version - 1)
                .await;
            assert_code(stale, ErrorCode::VersionConflict);
            version = r
                .old
                .save_if_version(&rec.id, state(json!({"items": refs})), version)
                .await
                .unwrap();
            assert_eq!(load(&r.new, &rec).await.state, migrated(&refs, 1));
        }
    }
    assert_eq!(version, 7);
    // A batch of both kinds: one CAS each, the versions linear.
    let results = r
        .new
        .save_many(vec![SaveEntry {
            id: rec.id.clone(),
            state: migrated(&["z"], 2),
            expected: Some(version),
        }])
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap(), &8);
}
