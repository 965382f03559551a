//! Typed state through serde (`create_from`, `state_as`, `get_as`, `set_as`, `save_from`,
//! `save_if_version_from`, `update_as`), natively on `MemoryStore`: what a type that does not fit gives, and
//! that nothing is written then.
#![cfg(not(target_arch = "wasm32"))]

use pollster::block_on;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use wasm_session_store::prelude::*;

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Cart {
    items: Vec<Item>,
    coupon: Option<String>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Item {
    sku: String,
    qty: u32,
    price: f64,
}

/// A value whose serialization fails, as a custom `Serialize` can.
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused by design"))
    }
}

fn cart() -> Cart {
    Cart {
        items: vec![Item {
            sku: "SKU-1".into(),
            qty: 2,
            price: 9.99,
        }],
        coupon: None,
    }
}

fn store() -> MemoryStore {
    MemoryStore::open(StoreOptions::new()).expect("valid options")
}

fn invalid(err: StoreError, needles: &[&str]) {
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    let message = err.to_string();
    for needle in needles {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[test]
fn a_typed_state_round_trips_exactly() {
    block_on(async {
        let store = store();
        let rec = store.create_from(&cart(), Ttl::StoreDefault).await.unwrap();
        assert_eq!(rec.state_as::<Cart>().unwrap(), cart());
        let loaded = store.load(&rec.id).await.unwrap().unwrap();
        assert_eq!(loaded.state_as::<Cart>().unwrap(), cart());
        // Field order is the struct's; numbers are bit-exact.
        assert_eq!(
            loaded.state.as_json(),
            r#"{"items":[{"sku":"SKU-1","qty":2,"price":9.99}],"coupon":null}"#
        );

        let mut more = cart();
        more.items[0].qty = 3;
        assert_eq!(store.save_from(&rec.id, &more).await.unwrap(), 2);
        assert_eq!(
            store
                .save_if_version_from(&rec.id, &cart(), 2)
                .await
                .unwrap(),
            3
        );
        let id = SessionId::new("fixed".to_string()).unwrap();
        let fixed = store
            .create_with_id_from(&id, &cart(), Ttl::Never)
            .await
            .unwrap();
        assert_eq!((fixed.id, fixed.expires_at), (id, None));

        // A map with string keys is an object too.
        let mut map = BTreeMap::new();
        map.insert("a", 1);
        let rec = store.create_from(&map, Ttl::StoreDefault).await.unwrap();
        assert_eq!(rec.state.as_json(), r#"{"a":1}"#);
    });
}

#[test]
fn a_state_that_is_not_an_object_is_refused_and_nothing_is_written() {
    block_on(async {
        let store = store();
        invalid(
            store
                .create_from(&vec![1, 2], Ttl::StoreDefault)
                .await
                .unwrap_err(),
            &["JSON object", "alloc::vec::Vec<i32>", "an array"],
        );
        invalid(
            store
                .create_from("text", Ttl::StoreDefault)
                .await
                .unwrap_err(),
            &["str", "a string"],
        );
        invalid(
            store.create_from(&42, Ttl::StoreDefault).await.unwrap_err(),
            &["i32", "a number"],
        );
        invalid(
            store.create_from(&(), Ttl::StoreDefault).await.unwrap_err(),
            &["()", "null"],
        );
        // Keys JSON cannot hold: serde's own reason.
        let mut tuples = BTreeMap::new();
        tuples.insert((1, 2), "x");
        invalid(
            store
                .create_from(&tuples, Ttl::StoreDefault)
                .await
                .unwrap_err(),
            &["does not serialize", "key must be a string"],
        );
        invalid(
            store
                .create_from(&Unserializable, Ttl::StoreDefault)
                .await
                .unwrap_err(),
            &["Unserializable", "refused by design"],
        );
        // Deeper than 512 levels: the state's limit.
        let mut deep = serde_json::json!(1);
        for _ in 0..600 {
            deep = serde_json::json!({ "d": deep });
        }
        invalid(
            store
                .create_from(&deep, Ttl::StoreDefault)
                .await
                .unwrap_err(),
            &["512"],
        );
        assert!(store.ids().await.unwrap().is_empty());

        // A save of a non-object leaves the record as it was.
        let rec = store.create_from(&cart(), Ttl::StoreDefault).await.unwrap();
        invalid(
            store.save_from(&rec.id, &[1, 2, 3]).await.unwrap_err(),
            &["an array"],
        );
        invalid(
            store
                .save_if_version_from(&rec.id, &"x", 1)
                .await
                .unwrap_err(),
            &["a string"],
        );
        assert_eq!(store.load(&rec.id).await.unwrap(), Some(rec));
    });
}

#[test]
fn stored_data_of_another_shape_is_invalid_input_naming_the_type_and_key() {
    block_on(async {
        let store = store();
        let rec = store.create_from(&cart(), Ttl::StoreDefault).await.unwrap();

        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Profile {
            name: String,
        }
        invalid(
            rec.state_as::<Profile>().unwrap_err(),
            &[
                "the state does not deserialize into",
                "Profile",
                "missing field `name`",
            ],
        );

        store.set_as(&rec.id, "visits", &3).await.unwrap();
        assert_eq!(
            store.get_as::<u32>(&rec.id, "visits").await.unwrap(),
            Some(3)
        );
        invalid(
            store.get_as::<String>(&rec.id, "visits").await.unwrap_err(),
            &["key \"visits\"", "alloc::string::String", "invalid type"],
        );
        assert_eq!(store.get_as::<u32>(&rec.id, "absent").await.unwrap(), None);
        let missing = SessionId::new("missing".to_string()).unwrap();
        assert_eq!(
            store
                .get_as::<u32>(&missing, "visits")
                .await
                .unwrap_err()
                .code(),
            ErrorCode::NotFound
        );
    });
}

#[test]
fn a_value_that_does_not_serialize_is_refused_and_nothing_is_written() {
    block_on(async {
        let store = store();
        let rec = store.create_from(&cart(), Ttl::StoreDefault).await.unwrap();
        invalid(
            store
                .set_as(&rec.id, "bad", &Unserializable)
                .await
                .unwrap_err(),
            &["key \"bad\"", "Unserializable", "refused by design"],
        );
        assert_eq!(store.load(&rec.id).await.unwrap(), Some(rec.clone()));
        assert_eq!(
            store.set_as(&rec.id, "", &1).await.unwrap_err().code(),
            ErrorCode::InvalidInput
        );
        // Floats that are not finite are written as null, as serde_json writes them.
        store.set_as(&rec.id, "ratio", &f64::NAN).await.unwrap();
        assert_eq!(
            store.get_json(&rec.id, "ratio").await.unwrap().as_deref(),
            Some("null")
        );
    });
}

#[test]
fn update_as_changes_the_state_with_compare_and_swap() {
    block_on(async {
        let store = store();
        let rec = store.create_from(&cart(), Ttl::StoreDefault).await.unwrap();
        let (updated, version) = store
            .update_as(&rec.id, |cart: &mut Cart| {
                cart.coupon = Some("SPRING".into())
            })
            .await
            .unwrap();
        assert_eq!((updated.coupon.as_deref(), version), (Some("SPRING"), 2));
        let stored: Cart = store
            .load(&rec.id)
            .await
            .unwrap()
            .unwrap()
            .state_as()
            .unwrap();
        assert_eq!(stored, updated);

        // Missing (or expired): NOT_FOUND, and the change never runs.
        let ghost = SessionId::new("ghost").unwrap();
        let err = store
            .update_as(&ghost, |_: &mut Cart| panic!("no state to change"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);

        // Stored data that is not a Cart: INVALID_INPUT, nothing written.
        let other = store.create(State::new(), Ttl::StoreDefault).await.unwrap();
        let err = store
            .update_as(&other.id, |_: &mut Cart| panic!("not a cart"))
            .await
            .unwrap_err();
        invalid(err, &["Cart"]);
        assert_eq!(store.load(&other.id).await.unwrap(), Some(other));
    });
}

#[test]
fn update_as_reads_again_when_another_writer_got_in_between() {
    block_on(async {
        let store = store();
        let rec = store.create_from(&cart(), Ttl::StoreDefault).await.unwrap();
        let mut calls = 0;
        let (updated, version) = store
            .update_as(&rec.id, |cart: &mut Cart| {
                calls += 1;
                if calls == 1 {
                    // Another writer saves between this read and its write (the memory store
                    // completes at once, so it can be driven from inside the change).
                    block_on(store.set_as(&rec.id, "coupon", &"OTHER")).unwrap();
                }
                cart.items[0].qty += 1;
            })
            .await
            .unwrap();
        // The change ran again, on the state the other writer left: nothing was lost.
        assert_eq!(calls, 2);
        assert_eq!(version, 3);
        assert_eq!(updated.coupon.as_deref(), Some("OTHER"));
        assert_eq!(updated.items[0].qty, 3);
    });
}

#[test]
fn update_as_gives_up_with_version_conflict_after_its_attempts() {
    block_on(async {
        let store = store();
        let rec = store.create_from(&cart(), Ttl::StoreDefault).await.unwrap();
        let mut calls = 0;
        let err = store
            .update_as(&rec.id, |cart: &mut Cart| {
                calls += 1;
                // Someone else writes every time.
                block_on(store.set_as(&rec.id, "coupon", &calls.to_string())).unwrap();
                cart.items.clear();
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::VersionConflict);
        assert_eq!(calls, wasm_session_store::UPDATE_ATTEMPTS);
        // Only the other writer's writes landed.
        let stored = store.load(&rec.id).await.unwrap().unwrap();
        assert_eq!(
            stored.version,
            1 + u64::from(wasm_session_store::UPDATE_ATTEMPTS)
        );
        assert_eq!(stored.state_as::<Cart>().unwrap().items.len(), 1);
    });
}
