//! The HTTP API's cases, each run on memory (tests/http.rs) and on Redis and the cluster
//! (tests/redis.rs) by [`api_cases!`].

use super::*;
use serde_json::{json, Value};

const S: &str = "/v1/stores/app/sessions";

fn with_state(v: Value) -> String {
    json!({ "state": v }).to_string()
}

/// A unique store path for a case, so cases share a Redis without meeting.
fn store(case: &str) -> String {
    format!("/v1/stores/{case}-{}", system_ms() % 1_000_000_007)
}

fn create(c: &Client, path: &str, body: &str) -> Answer {
    let a = c.put(path, &[("If-None-Match", "*")], body);
    assert_eq!(a.status, 201, "{}", a.body);
    a
}

pub fn a_session_round_trips_with_its_etag(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let p = format!("{}/sessions/a", store("round"));
    let now = t.clock.now();
    let body = json!({"state": {"n": 1, "s": "ü💡"}, "expiresAt": now + 60_000, "ttlMs": 60_000});
    let a = create(&c, &p, &body.to_string());
    let e1 = a.etag();
    assert!(e1.starts_with('"') && e1.len() > 10, "{e1}");
    let r = a.json();
    assert_eq!(r["id"], "a");
    assert_eq!(r["state"], json!({"n": 1, "s": "ü💡"}));
    assert_eq!(
        (r["version"].as_u64(), r["createdAt"].as_u64()),
        (Some(1), Some(now))
    );
    assert_eq!(
        (r["expiresAt"].as_u64(), r["ttlMs"].as_u64()),
        (Some(now + 60_000), Some(60_000))
    );
    assert_eq!(r.as_object().unwrap().len(), 7);
    let g = c.get(&p);
    assert_eq!((g.status, g.etag()), (200, e1.clone()));
    assert_eq!(g.json(), r);
    let nm = c.send("GET", &p, &[("If-None-Match", &e1)], None);
    assert_eq!(
        (nm.status, nm.etag(), nm.body.as_str()),
        (304, e1.clone(), "")
    );
    t.clock.advance(5);
    let u = c.put(&p, &[("If-Match", &e1)], &with_state(json!({"n": 2})));
    assert_eq!(u.status, 200, "{}", u.body);
    let e2 = u.etag();
    assert_ne!(e1, e2);
    let r2 = u.json();
    assert_eq!(
        (r2["version"].as_u64(), r2["createdAt"].as_u64()),
        (Some(2), Some(now))
    );
    assert_eq!(r2["updatedAt"].as_u64(), Some(now + 5));
    // A PUT replaces the deadline and TTL (absent: null).
    assert_eq!(
        (r2["expiresAt"].clone(), r2["ttlMs"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        c.send("GET", &p, &[("If-None-Match", &e1)], None).status,
        200
    );
    let d = c.send("DELETE", &p, &[("If-Match", &e2)], None);
    assert_eq!((d.status, d.body.as_str()), (204, ""));
    let g = c.get(&p);
    assert_eq!((g.status, g.code()), (404, "NOT_FOUND".into()));
    assert!(g.json().get("movedTo").is_none());
}

pub fn a_one_mebibyte_state_syncs_under_the_default_limit(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let p = format!("{}/sessions/big", store("big"));
    let big = json!({"blob": "0123456789abcdeé".repeat(1 << 16), "list": (0..1000).collect::<Vec<u32>>()});
    let body = with_state(big.clone());
    assert!(body.len() > 1 << 20);
    let e = create(&c, &p, &body).etag();
    let g = c.get(&p);
    assert_eq!((g.etag(), g.json()["state"].clone()), (e, big));
}

pub fn preconditions_refuse_and_write_nothing(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let p = format!("{}/sessions/a", store("pre"));
    let a = c.put(&p, &[], &with_state(json!({})));
    assert_eq!((a.status, a.code()), (428, "PRECONDITION_REQUIRED".into()));
    assert_eq!(c.get(&p).status, 404);
    let stale = c.put(
        &p,
        &[("If-Match", "\"AAAAAAAAAAAAAAAAAAAAAA\"")],
        &with_state(json!({})),
    );
    assert_eq!(
        (stale.status, stale.code()),
        (412, "VERSION_CONFLICT".into())
    );
    assert_eq!(stale.json()["current"], Value::Null);
    assert!(stale.header("etag").is_none());
    let e1 = create(&c, &p, &with_state(json!({"n": 1}))).etag();
    let again = c.put(&p, &[("If-None-Match", "*")], &with_state(json!({"n": 9})));
    assert_eq!((again.status, again.code()), (412, "ALREADY_EXISTS".into()));
    assert_eq!(again.json()["current"]["state"], json!({"n": 1}));
    assert_eq!(again.etag(), e1);
    let e2 = c
        .put(&p, &[("If-Match", &e1)], &with_state(json!({"n": 2})))
        .etag();
    let lost = c.put(&p, &[("If-Match", &e1)], &with_state(json!({"n": 3})));
    assert_eq!((lost.status, lost.code()), (412, "VERSION_CONFLICT".into()));
    assert_eq!(lost.json()["current"]["state"], json!({"n": 2}));
    assert_eq!(lost.etag(), e2);
    for (method, headers) in [
        ("DELETE", vec![("If-Match", e1.as_str())]),
        ("DELETE", vec![]),
        ("DELETE", vec![("If-None-Match", "*")]),
    ] {
        let a = c.send(method, &p, &headers, None);
        assert!(
            [412, 428, 400].contains(&a.status),
            "{method} {headers:?}: {}",
            a.status
        );
    }
    assert_eq!(
        c.send("DELETE", &p, &[], None).code(),
        "PRECONDITION_REQUIRED"
    );
    let g = c.get(&p);
    assert_eq!((g.etag(), g.json()["state"].clone()), (e2, json!({"n": 2})));
}

pub fn a_recreated_session_gets_a_new_etag(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let p = format!("{}/sessions/a", store("recreate"));
    let body = with_state(json!({"same": true}));
    let e1 = create(&c, &p, &body).etag();
    assert_eq!(c.send("DELETE", &p, &[("If-Match", &e1)], None).status, 204);
    let e2 = create(&c, &p, &body).etag();
    assert_ne!(e1, e2);
    assert_eq!(c.put(&p, &[("If-Match", &e1)], &body).status, 412);
}

pub fn an_idempotency_key_replays_the_first_answer(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let base = store("idem");
    let p = format!("{base}/sessions/a");
    let e1 = create(&c, &p, &with_state(json!({"n": 1}))).etag();
    let body = with_state(json!({"n": 2}));
    let h = [("If-Match", e1.as_str()), ("Idempotency-Key", "k-1")];
    let first = c.put(&p, &h, &body);
    assert_eq!(first.status, 200);
    // The answer was lost; the retry gets it again, not 412, and nothing is applied twice.
    let retry = c.put(&p, &h, &body);
    assert_eq!((retry.status, retry.etag()), (200, first.etag()));
    assert_eq!(retry.json(), first.json());
    // Even after another write moved the session on.
    let e3 = c
        .put(
            &p,
            &[("If-Match", &first.etag())],
            &with_state(json!({"n": 3})),
        )
        .etag();
    let late = c.put(&p, &h, &body);
    assert_eq!((late.status, late.etag()), (200, first.etag()));
    assert_eq!(c.get(&p).json()["version"], 3);
    // The same key with another request is refused, writing nothing.
    let other = c.put(&p, &h, &with_state(json!({"n": 99})));
    assert_eq!((other.status, other.code()), (400, "INVALID_INPUT".into()));
    assert_eq!(c.get(&p).etag(), e3);
    // Keys belong to one session: the same key on another id is a write of its own.
    let q = format!("{base}/sessions/b");
    let b = c.put(
        &q,
        &[("If-None-Match", "*"), ("Idempotency-Key", "k-1")],
        &body,
    );
    assert_eq!(b.status, 201);
    // A delete and a move, replayed.
    let dh = [("If-Match", e3.as_str()), ("Idempotency-Key", "k-del")];
    assert_eq!(c.send("DELETE", &p, &dh, None).status, 204);
    assert_eq!(c.send("DELETE", &p, &dh, None).status, 204);
    let mh = [("If-Match", b.etag()), ("Idempotency-Key", "k-move".into())];
    let mh: Vec<(&str, &str)> = mh.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut mh = mh;
    mh.push(("Content-Type", "application/json"));
    let moved = c.send("POST", &format!("{q}/move"), &mh, Some(br#"{"to":"c"}"#));
    assert_eq!(moved.status, 201, "{}", moved.body);
    let again = c.send("POST", &format!("{q}/move"), &mh, Some(br#"{"to":"c"}"#));
    assert_eq!((again.status, again.etag()), (201, moved.etag()));
    assert_eq!(again.json(), moved.json());
    let bad_key = c.put(
        &q,
        &[
            ("If-None-Match", "*"),
            ("Idempotency-Key", &"k".repeat(256)),
        ],
        &body,
    );
    assert_eq!(bad_key.status, 400);
}

pub fn a_move_answers_the_record_and_leaves_where_it_went(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let base = store("move");
    let (a, b) = (format!("{base}/sessions/a"), format!("{base}/sessions/b"));
    let e = create(&c, &a, &with_state(json!({"n": 1}))).etag();
    let e = c
        .put(&a, &[("If-Match", &e)], &with_state(json!({"n": 2})))
        .etag();
    let post = |from: &str, headers: &[(&str, &str)], body: &str| {
        let mut h = headers.to_vec();
        h.push(("Content-Type", "application/json"));
        c.send("POST", &format!("{from}/move"), &h, Some(body.as_bytes()))
    };
    create(&c, &b, &with_state(json!({"other": true})));
    // The body first (400), then If-Match (412), then the target (409).
    for body in [r#"{"to":"a"}"#, r#"{"to":"../x"}"#, r#"{}"#, r#"not json"#] {
        assert_eq!(
            post(&a, &[("If-Match", "\"stale\"")], body).status,
            400,
            "{body}"
        );
    }
    assert_eq!(
        post(&a, &[("If-Match", "\"stale\"")], r#"{"to":"b"}"#).status,
        412
    );
    let taken = post(&a, &[("If-Match", &e)], r#"{"to":"b"}"#);
    assert_eq!((taken.status, taken.code()), (409, "ALREADY_EXISTS".into()));
    assert_eq!(post(&a, &[], r#"{"to":"c"}"#).status, 428);
    let moved = post(&a, &[("If-Match", &e)], r#"{"to":"c"}"#);
    assert_eq!(moved.status, 201, "{}", moved.body);
    let r = moved.json();
    assert_eq!(
        (r["id"].as_str(), r["version"].as_u64()),
        (Some("c"), Some(2))
    );
    assert_eq!(r["state"], json!({"n": 2}));
    let gone = c.get(&a);
    assert_eq!(
        (gone.status, gone.json()["movedTo"].as_str()),
        (404, Some("c"))
    );
    let at = c.get(&format!("{base}/sessions/c"));
    assert_eq!((at.status, at.etag()), (200, moved.etag()));
    // Remembered for a day.
    t.clock.advance(86_400_000 - 1);
    assert_eq!(c.get(&a).json()["movedTo"], "c");
    t.clock.advance(1);
    assert!(c.get(&a).json().get("movedTo").is_none());
}

pub fn deadlines_are_kept_as_pushed_and_capped(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let p = format!("{}/sessions/a", store("expiry"));
    let now = t.clock.now();
    for bad in [now, now - 1] {
        let a = c.put(
            &p,
            &[("If-None-Match", "*")],
            &json!({"state": {}, "expiresAt": bad}).to_string(),
        );
        assert_eq!((a.status, a.code()), (400, "INVALID_INPUT".into()));
    }
    create(
        &c,
        &p,
        &json!({"state": {}, "expiresAt": now + 1000, "ttlMs": 1000}).to_string(),
    );
    // Reads never slide it.
    t.clock.advance(999);
    assert_eq!(c.get(&p).json()["expiresAt"].as_u64(), Some(now + 1000));
    t.clock.advance(1);
    assert_eq!(c.get(&p).status, 404);
    // Expired: a create takes the id again.
    create(&c, &p, &with_state(json!({"again": 1})));
    let mut capped = config();
    capped.settings.max_ttl_ms = Some(5_000);
    let t = TestServer::start(kind, capped);
    let c = t.client();
    let now = t.clock.now();
    let q = format!("{}/sessions/a", store("capped"));
    let r = create(&c, &q, &json!({"state": {}, "ttlMs": 99_000}).to_string()).json();
    assert_eq!(
        (r["expiresAt"].as_u64(), r["ttlMs"].as_u64()),
        (Some(now + 5_000), Some(99_000))
    );
    let q2 = format!("{}/sessions/b", store("capped"));
    let r = create(
        &c,
        &q2,
        &json!({"state": {}, "expiresAt": now + 3_000}).to_string(),
    )
    .json();
    assert_eq!(r["expiresAt"].as_u64(), Some(now + 3_000));
}

pub fn enc_is_kept_opaque(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let p = format!("{}/sessions/a", store("enc"));
    let enc = "AAEC/+8=\"\\ü";
    let a = create(&c, &p, &json!({"enc": enc, "ttlMs": 5}).to_string());
    let r = a.json();
    assert_eq!(r["enc"], enc);
    assert!(r.get("state").is_none());
    assert_eq!(r.as_object().unwrap().len(), 7);
    assert_eq!(c.get(&p).json()["enc"], enc);
    let both = c.put(
        &p,
        &[("If-Match", &a.etag())],
        &json!({"enc": "x", "state": {}}).to_string(),
    );
    assert_eq!(both.status, 400);
    // A sealed session becomes plain, and back, by PUTs.
    let plain = c.put(&p, &[("If-Match", &a.etag())], &with_state(json!({"n": 1})));
    assert_eq!(
        (plain.status, plain.json()["version"].as_u64()),
        (200, Some(2))
    );
    assert!(plain.json().get("enc").is_none());
}

pub fn changes_list_each_session_once_from_a_cursor(kind: Kind) {
    let mut cfg = config();
    cfg.settings.keep_changes = 5;
    let t = TestServer::start(kind, cfg);
    let c = t.client();
    let base = store("changes");
    let ch = |q: &str| c.get(&format!("{base}/changes{q}"));
    let empty = ch("");
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["changes"], json!([]));
    let ea = create(&c, &format!("{base}/sessions/a"), &with_state(json!({}))).etag();
    let eb = create(&c, &format!("{base}/sessions/b"), &with_state(json!({}))).etag();
    let all = ch("?since=").json();
    let mut listed: Vec<(String, String)> = all["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["id"].as_str().unwrap().into(),
                x["etag"].as_str().unwrap().into(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(listed, [("a".into(), ea.clone()), ("b".into(), eb.clone())]);
    let cursor = all["cursor"].as_str().unwrap().to_owned();
    let none = ch(&format!("?since={cursor}")).json();
    assert_eq!(
        (none["changes"].clone(), none["cursor"].as_str()),
        (json!([]), Some(cursor.as_str()))
    );
    let ea2 = c
        .put(
            &format!("{base}/sessions/a"),
            &[("If-Match", &ea)],
            &with_state(json!({"n": 2})),
        )
        .etag();
    let ea3 = c
        .put(
            &format!("{base}/sessions/a"),
            &[("If-Match", &ea2)],
            &with_state(json!({"n": 3})),
        )
        .etag();
    assert_eq!(
        c.send(
            "DELETE",
            &format!("{base}/sessions/b"),
            &[("If-Match", &eb)],
            None
        )
        .status,
        204
    );
    let next = ch(&format!("?since={cursor}")).json();
    assert_eq!(
        next["changes"],
        json!([{"id": "a", "etag": ea3}, {"id": "b", "etag": null}])
    );
    let cursor2 = next["cursor"].as_str().unwrap().to_owned();
    assert_ne!(cursor, cursor2);
    // Cursors that are not this server's: 400; of another store: 410.
    for bad in ["nope", "x.1", "AAAAAAAAAAAAAAAAAAAAAA.x"] {
        assert_eq!(ch(&format!("?since={bad}")).status, 400, "{bad}");
    }
    let other = c.get(&format!(
        "{}/changes?since={cursor2}",
        store("changes-other")
    ));
    assert_eq!((other.status, other.code()), (410, "CURSOR_EXPIRED".into()));
    let (epoch, _) = cursor2.split_once('.').unwrap();
    assert_eq!(ch(&format!("?since={epoch}.999")).status, 410);
    // Past --keep-changes (5), an old cursor is 410: with 5 changes after it, it still reads.
    let write_a = |etag: &str, n: u32| {
        c.put(
            &format!("{base}/sessions/a"),
            &[("If-Match", etag)],
            &with_state(json!({"n": n})),
        )
        .etag()
    };
    let mut e = ea3;
    for n in 0..5 {
        e = write_a(&e, n);
    }
    assert_eq!(
        ch(&format!("?since={cursor2}")).json()["changes"],
        json!([{"id": "a", "etag": e}])
    );
    write_a(&e, 5);
    let old = ch(&format!("?since={cursor2}"));
    assert_eq!((old.status, old.code()), (410, "CURSOR_EXPIRED".into()));
    assert_eq!(ch("?wait=30001").status, 400);
}

pub fn a_long_poll_wakes_on_a_change(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let base = store("poll");
    let cursor = c.get(&format!("{base}/changes")).json()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let quiet = c.get(&format!("{base}/changes?since={cursor}&wait=300"));
    assert_eq!(quiet.json()["changes"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let poller = {
        let (c, base, cursor) = (c.clone(), base.clone(), cursor.clone());
        std::thread::spawn(move || c.get(&format!("{base}/changes?since={cursor}&wait=30000")))
    };
    std::thread::sleep(Duration::from_millis(100)); // let the poll start waiting
    let started = Instant::now();
    let e = create(&c, &format!("{base}/sessions/a"), &with_state(json!({}))).etag();
    let woke = poller.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(woke.json()["changes"], json!([{"id": "a", "etag": e}]));
}

pub fn owners_never_see_each_other(kind: Kind) {
    let secret = b"test secret";
    let mut cfg = config();
    cfg.auth = wasm_session_store_server::auth::Auth::jwt(secret).unwrap();
    let t = TestServer::start(kind, cfg);
    let alice = t.client().with(
        "Authorization",
        &format!("Bearer {}", token(secret, json!({"sub": "alice"}))),
    );
    let bob = t.client().with(
        "Authorization",
        &format!("Bearer {}", token(secret, json!({"sub": "bob"}))),
    );
    let base = store("owners");
    let p = format!("{base}/sessions/x");
    let cursor = bob.get(&format!("{base}/changes")).json()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let ea = create(&alice, &p, &with_state(json!({"secret": "alice's"}))).etag();
    let g = bob.get(&p);
    assert_eq!(g.status, 404);
    assert!(!g.body.contains("alice"));
    for (method, body) in [
        ("PUT", Some(with_state(json!({"bob": 1})))),
        ("DELETE", None),
    ] {
        let mut h = vec![("If-Match", ea.as_str())];
        if body.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        let a = bob.send(method, &p, &h, body.as_deref().map(str::as_bytes));
        assert_eq!(
            (a.status, a.json()["current"].clone()),
            (412, Value::Null),
            "{method}"
        );
        assert!(a.header("etag").is_none());
    }
    let mv = bob.send(
        "POST",
        &format!("{p}/move"),
        &[("If-Match", &ea), ("Content-Type", "application/json")],
        Some(br#"{"to":"y"}"#),
    );
    assert_eq!(mv.status, 412);
    let mine = bob.get(&format!("{base}/changes?since={cursor}"));
    assert_eq!(mine.json()["changes"], json!([]));
    // Another owner's cursor is of another feed.
    let alices = alice.get(&format!("{base}/changes")).json()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        bob.get(&format!("{base}/changes?since={alices}")).status,
        410
    );
    assert_eq!(
        bob.get(&format!("{base}/changes")).json()["changes"],
        json!([])
    );
    // Idempotency-Keys too: bob's key of the same name is bob's own write.
    let k = [("If-None-Match", "*"), ("Idempotency-Key", "shared")];
    let a1 = alice.put(
        &format!("{base}/sessions/z"),
        &k,
        &with_state(json!({"a": 1})),
    );
    let b1 = bob.put(
        &format!("{base}/sessions/z"),
        &k,
        &with_state(json!({"b": 1})),
    );
    assert_eq!((a1.status, b1.status), (201, 201));
    assert_ne!(a1.etag(), b1.etag());
    // The same id under bob is bob's session.
    create(&bob, &p, &with_state(json!({"bob": true})));
    assert_eq!(alice.get(&p).json()["state"], json!({"secret": "alice's"}));
    assert_eq!(alice.get(&p).etag(), ea);
}

pub fn bad_input_is_refused_with_a_code_and_writes_nothing(kind: Kind) {
    let mut cfg = config();
    cfg.max_body = 1000;
    let t = TestServer::start(kind, cfg);
    let c = t.client();
    let base = store("bad");
    let p = format!("{base}/sessions/a");
    let star = [("If-None-Match", "*")];
    let cases: Vec<(u16, Answer)> = vec![
        (400, c.put(&p, &star, "{")),
        (400, c.put(&p, &star, r#"{"state":[1]}"#)),
        (400, c.put(&p, &star, r#"{"state":"text"}"#)),
        (400, c.put(&p, &star, r#"{"state":{"x":1e999}}"#)),
        (400, c.put(&p, &star, r#"{"state":{"x":NaN}}"#)),
        (400, c.put(&p, &star, r#"{"state":{"x":"\ud800"}}"#)),
        (400, c.put(&p, &star, r#"{"state":{},"ttlMs":0}"#)),
        (400, c.put(&p, &star, r#"{"state":{},"ttlMs":9007199254740992}"#)),
        (400, c.put(&format!("{base}/sessions/{}", "i".repeat(129)), &star, "{\"state\":{}}")),
        (400, c.put(&format!("{base}/sessions/..%2Fetc"), &star, "{\"state\":{}}")),
        (400, c.put(&format!("{base}/sessions/a%20b"), &star, "{\"state\":{}}")),
        (400, c.put("/v1/stores/./sessions/a", &star, "{\"state\":{}}")),
        (400, c.put("/v1/stores/../sessions/a", &star, "{\"state\":{}}")),
        (400, c.put("/v1/stores/a:b/sessions/a", &star, "{\"state\":{}}")),
        (400, c.put(&format!("/v1/stores/{}/sessions/a", "n".repeat(65)), &star, "{\"state\":{}}")),
        (400, c.send("PUT", &p, &[("If-None-Match", "*"), ("Content-Type", "text/plain")], Some(b"{\"state\":{}}"))),
        (400, c.send("PUT", &p, &[("If-None-Match", "*")], Some(b"{\"state\":{}}"))),
        (400, c.send("PUT", &p, &[("If-None-Match", "*"), ("Content-Type", "application/json")], Some(b"{\"state\":{\"a\":\"\xff\"}}"))),
        (413, c.put(&p, &star, &json!({"state": {"big": "x".repeat(2000)}}).to_string())),
        (413, c.raw(format!(
            "PUT {p} HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            600, "{\"state\":{\"a\":\"".to_owned() + &"y".repeat(585), 600, "z".repeat(597) + "\"}}"
        ).as_bytes())),
        (400, c.send("PUT", &p, &[("If-None-Match", "*"), ("Content-Type", "application/json"), ("X-Big", &"h".repeat(40_000))], Some(b"{\"state\":{}}"))),
        (400, c.get(&format!("{base}/sessions/..%2F..%2Fx"))),
        (405, c.send("PATCH", &p, &[], None)),
        (404, c.get("/v1/other")),
    ];
    for (i, (status, a)) in cases.iter().enumerate() {
        assert_eq!(a.status, *status, "case {i}: {}", a.body);
        let code = a.code();
        assert!(
            ["INVALID_INPUT", "NOT_FOUND"].contains(&code.as_str()),
            "case {i}: {}",
            a.body
        );
        assert!(
            a.json()["message"].as_str().is_some_and(|m| !m.is_empty()),
            "case {i}"
        );
    }
    // Nothing was written.
    assert_eq!(c.get(&p).status, 404);
    assert_eq!(
        c.get(&format!("{base}/changes")).json()["changes"],
        json!([])
    );
    // A state at the body's limit is taken.
    let fits = json!({"state": {"s": "f".repeat(900)}}).to_string();
    assert!(fits.len() <= 1000);
    assert_eq!(c.put(&p, &star, &fits).status, 201);
}

pub fn tokens_other_than_valid_hs256_are_401(kind: Kind) {
    let secret = b"the secret";
    let mut cfg = config();
    // The file's bytes less one trailing newline are the secret.
    cfg.auth = wasm_session_store_server::auth::Auth::jwt(b"the secret\r\n").unwrap();
    let t = TestServer::start(kind, cfg);
    let p = format!("{}/sessions/a", store("auth"));
    let now = system_ms() / 1000;
    let ok = |tok: &str| {
        t.client()
            .with("Authorization", &format!("Bearer {tok}"))
            .get(&p)
            .status
    };
    assert_eq!(ok(&token(secret, json!({"sub": "ada"}))), 404);
    let lower = format!("bearer {}", token(secret, json!({"sub": "ada"})));
    assert_eq!(t.client().with("Authorization", &lower).get(&p).status, 404);
    assert_eq!(
        ok(&token(secret, json!({"sub": "ada", "exp": now - 10}))),
        404,
        "within leeway"
    );
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "ada"}).to_string());
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &json!({"sub": "ada"}),
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap();
    for bad in [
        format!("{none_header}.{claims}."),
        format!("{none_header}.{claims}"),
        hs384,
        token(b"another secret", json!({"sub": "ada"})),
        token(secret, json!({"sub": "ada", "exp": now - 120})),
        token(secret, json!({"sub": "ada", "nbf": now + 120})),
        token(secret, json!({"user": "ada"})),
        token(secret, json!({"sub": ""})),
        "garbage".into(),
    ] {
        assert_eq!(ok(&bad), 401, "{bad}");
    }
    let none = t.client().get(&p);
    assert_eq!((none.status, none.code()), (401, "UNAUTHORIZED".into()));
    let basic = t.client().with("Authorization", "Basic YTpi").get(&p);
    assert_eq!(basic.status, 401);
}

pub fn cors_answers_allowed_origins_only(kind: Kind) {
    let mut cfg = config();
    cfg.origins = vec!["https://app.example".into()];
    let t = TestServer::start(kind, cfg);
    let c = t.client();
    let p = format!("{}/sessions/a", store("cors"));
    let pre = c.send(
        "OPTIONS",
        &p,
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "if-match, content-type"),
        ],
        None,
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let methods = pre.header("access-control-allow-methods").unwrap();
    for m in ["GET", "PUT", "DELETE", "POST"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "if-match",
        "if-none-match",
        "idempotency-key",
        "authorization",
        "content-type",
    ] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let cc = c.with("Origin", "https://app.example");
    let created = cc.put(&p, &[("If-None-Match", "*")], &with_state(json!({})));
    for a in [
        &created,
        &cc.get(&p),
        &cc.get(&format!("{p}x")),
        &cc.put(&p, &[], "{"),
    ] {
        assert_eq!(
            a.header("access-control-allow-origin"),
            Some("https://app.example"),
            "{}",
            a.status
        );
        assert!(a
            .header("access-control-expose-headers")
            .unwrap()
            .contains("ETag"));
    }
    let other = c.with("Origin", "https://evil.example").get(&p);
    assert_eq!(other.status, 200);
    assert!(other.header("access-control-allow-origin").is_none());
}

pub fn a_hot_key_storm_loses_no_update(kind: Kind) {
    let t = TestServer::start(kind, config());
    let c = t.client();
    let base = store("storm");
    let ids = ["h0", "h1"];
    for id in ids {
        create(
            &c,
            &format!("{base}/sessions/{id}"),
            &with_state(json!({"n": 0})),
        );
    }
    let oks: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let (c, base) = (c.clone(), base.clone());
                s.spawn(move || {
                    let mut oks = 0;
                    for i in 0..15 {
                        let p = format!("{base}/sessions/{}", ids[(w + i) % 2]);
                        let cur = c.get(&p);
                        let n = cur.json()["state"]["n"].as_u64().unwrap();
                        let a = c.put(
                            &p,
                            &[("If-Match", &cur.etag())],
                            &with_state(json!({"n": n + 1})),
                        );
                        match a.status {
                            200 => oks += 1,
                            412 => {}
                            s => panic!("{s}: {}", a.body),
                        }
                    }
                    oks
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let total: u64 = ids
        .iter()
        .map(|id| {
            c.get(&format!("{base}/sessions/{id}")).json()["state"]["n"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(total as usize, oks);
    assert!(oks > 0);
}

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Stamps out every case above as a `#[test]` on storage `$kind`.
#[macro_export]
macro_rules! api_cases {
    ($kind:expr) => {
        $crate::api_cases!($kind;
            a_session_round_trips_with_its_etag, preconditions_refuse_and_write_nothing,
            a_one_mebibyte_state_syncs_under_the_default_limit,
            a_recreated_session_gets_a_new_etag, an_idempotency_key_replays_the_first_answer,
            a_move_answers_the_record_and_leaves_where_it_went,
            deadlines_are_kept_as_pushed_and_capped, enc_is_kept_opaque,
            changes_list_each_session_once_from_a_cursor, a_long_poll_wakes_on_a_change,
            owners_never_see_each_other, bad_input_is_refused_with_a_code_and_writes_nothing,
            tokens_other_than_valid_hs256_are_401, cors_answers_allowed_origins_only,
            a_hot_key_storm_loses_no_update
        );
    };
    ($kind:expr; $($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            $crate::common::api::$case($kind);
        }
    )*};
}
