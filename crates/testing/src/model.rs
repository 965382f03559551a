//! Model-based testing: random sequences of every operation, run against a store and against
//! [`Model`], a plain in-memory rendering of the contract, with every result compared.
//!
//! The sequences come from proptest strategies ([`case`]). Natively they run through
//! `proptest!` (thousands of cases, shrinking to a minimal failing sequence); in the browser
//! [`replay`] generates the same kind of sequences from fixed seeds and runs them against the
//! real backends. The clock is a [`ManualClock`] that [`Op::Advance`] moves, so expiry,
//! sliding deadlines and lifetime caps are part of what is checked.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use wasm_session_store::{
    ErrorCode, ManualClock, SaveEntry, SessionId, SessionRecord, SessionStore, State, StoreError,
    StoreOptions, Ttl,
};

/// The ids sequences draw from: few, so operations collide; `__proto__` and `constructor`
/// must behave as any other id.
pub const IDS: [&str; 5] = ["a", "b", "__proto__", "constructor", "x-1"];
/// The state keys `get`/`set`/`remove` draw from.
pub const KEYS: [&str; 4] = ["k", "__proto__", "constructor", "toString"];

/// One operation of a sequence; ids and keys are indexes into [`IDS`] and [`KEYS`].
#[derive(Clone, Debug)]
pub enum Op {
    /// `create`, with the id given (`Some`) or generated (`None`).
    Create(Option<usize>, State, Ttl),
    Load(usize),
    LoadMany(Vec<usize>),
    Save(usize, State),
    SaveIfVersion(usize, State, u64),
    SaveMany(Vec<(usize, State, Option<u64>)>),
    UpdateTtl(usize, Option<u64>),
    Delete(usize),
    /// `change_id` to the id given, or to a generated one.
    ChangeId(usize, Option<usize>),
    Get(usize, usize),
    Set(usize, usize, Value),
    Remove(usize, usize),
    DeleteExpired(Option<NonZeroUsize>),
    Ids,
    Clear,
    /// Moves the clock forward this many ms.
    Advance(u64),
}

/// The store options of a case: TTL, sliding and lifetime cap vary between cases.
#[derive(Clone, Debug)]
pub struct Setup {
    pub ttl_ms: Option<u64>,
    pub sliding: bool,
    pub max_lifetime_ms: Option<u64>,
}

/// A generated case: store options and a sequence of operations.
#[derive(Clone, Debug)]
pub struct Case {
    pub setup: Setup,
    pub ops: Vec<Op>,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::from(n % 9_007_199_254_740_992)),
        // Not integral: in wasm an integral float reads back as an integer (equal in value,
        // not in serde_json's representation).
        (-1e6f64..1e6)
            .prop_filter("not integral", |x| x.fract() != 0.0)
            .prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::String),
        Just(Value::String("ü💡 \"\\\n".into())),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(&KEYS[..]), inner, 0..3).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

fn state() -> impl Strategy<Value = State> {
    prop::collection::btree_map(prop::sample::select(&KEYS[..]), json_value(), 0..3)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn ttl_ms() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1u64), 1u64..3_000]
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS.len();
    let key = 0..KEYS.len();
    let ttl = prop_oneof![
        Just(Ttl::StoreDefault),
        Just(Ttl::Never),
        ttl_ms().prop_map(Ttl::Millis)
    ];
    prop_oneof![
        (prop::option::weighted(0.9, id.clone()), state(), ttl)
            .prop_map(|(i, s, t)| Op::Create(i, s, t)),
        id.clone().prop_map(Op::Load),
        prop::collection::vec(id.clone(), 0..4).prop_map(Op::LoadMany),
        (id.clone(), state()).prop_map(|(i, s)| Op::Save(i, s)),
        (id.clone(), state(), 0u64..4).prop_map(|(i, s, v)| Op::SaveIfVersion(i, s, v)),
        prop::collection::vec((id.clone(), state(), prop::option::of(0u64..4)), 0..4)
            .prop_map(Op::SaveMany),
        (id.clone(), prop::option::of(ttl_ms())).prop_map(|(i, t)| Op::UpdateTtl(i, t)),
        id.clone().prop_map(Op::Delete),
        (id.clone(), prop::option::weighted(0.8, id.clone())).prop_map(|(a, b)| Op::ChangeId(a, b)),
        (id.clone(), key.clone()).prop_map(|(i, k)| Op::Get(i, k)),
        (id.clone(), key.clone(), json_value()).prop_map(|(i, k, v)| Op::Set(i, k, v)),
        (id, key).prop_map(|(i, k)| Op::Remove(i, k)),
        prop::option::of(1usize..3).prop_map(|b| Op::DeleteExpired(b.and_then(NonZeroUsize::new))),
        Just(Op::Ids),
        Just(Op::Clear),
        prop_oneof![Just(0u64), 1u64..800, 800u64..3_000].prop_map(Op::Advance),
    ]
}

/// Cases of up to `max_ops` operations.
pub fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    let setup = (
        prop::option::weighted(0.8, ttl_ms()),
        any::<bool>(),
        prop::option::weighted(0.3, 500u64..5_000),
    )
        .prop_map(|(ttl_ms, sliding, max_lifetime_ms)| Setup {
            ttl_ms,
            sliding,
            max_lifetime_ms,
        });
    (setup, prop::collection::vec(op(), 1..=max_ops)).prop_map(|(setup, ops)| Case { setup, ops })
}

/// `count` cases generated from `seed`: the same cases on every run and every target.
pub fn seeded_cases(seed: u64, count: usize, max_ops: usize) -> Vec<Case> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = case(max_ops);
    (0..count)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("the strategy generates")
                .current()
        })
        .collect()
}

/// The contract, as plainly as it can be written: records in a map, expiry by comparison.
pub struct Model {
    setup: Setup,
    now: u64,
    records: BTreeMap<String, SessionRecord>,
}

impl Model {
    fn new(setup: Setup, now: u64) -> Self {
        Model {
            setup,
            now,
            records: BTreeMap::new(),
        }
    }

    fn is_live(&self, id: &str) -> bool {
        self.records
            .get(id)
            .is_some_and(|r| !r.is_expired(self.now))
    }

    /// The deadline of a record created at `created_at` with TTL `ttl_ms`, set now.
    fn deadline(&self, created_at: u64, ttl_ms: Option<u64>) -> Option<u64> {
        let cap = self.setup.max_lifetime_ms.map(|m| created_at + m);
        match (ttl_ms.map(|t| self.now + t), cap) {
            (Some(d), Some(c)) => Some(d.min(c)),
            (d, c) => d.or(c),
        }
    }

    fn slide(&mut self, id: &str) {
        if self.setup.sliding {
            let r = &self.records[id];
            let at = self.deadline(r.created_at, r.ttl_ms);
            self.records.get_mut(id).unwrap().expires_at = at;
        }
    }

    fn new_record(&self, id: &str, state: State, ttl_ms: Option<u64>) -> SessionRecord {
        SessionRecord {
            id: SessionId::new(id).unwrap(),
            state,
            version: 1,
            created_at: self.now,
            updated_at: self.now,
            expires_at: self.deadline(self.now, ttl_ms),
            ttl_ms,
        }
    }

    fn live_version(&self, id: &str) -> u64 {
        if self.is_live(id) {
            self.records[id].version
        } else {
            0
        }
    }

    /// After a write to live record `id`'s state: the next version, written now, and (with
    /// sliding) a moved deadline. Returns the version.
    fn state_written(&mut self, id: &str) -> u64 {
        let now = self.now;
        let r = self.records.get_mut(id).unwrap();
        r.version += 1;
        r.updated_at = now;
        self.slide(id);
        self.records[id].version
    }

    /// A whole-state write (save, or a CAS that passed).
    fn put_state(&mut self, id: &str, state: State) -> u64 {
        if self.is_live(id) {
            self.records.get_mut(id).unwrap().state = state;
            self.state_written(id);
        } else {
            let r = self.new_record(id, state, self.setup.ttl_ms);
            self.records.insert(id.to_owned(), r);
        }
        self.records[id].version
    }

    fn load(&mut self, id: &str) -> Option<SessionRecord> {
        if !self.is_live(id) {
            return None;
        }
        self.slide(id);
        Some(self.records[id].clone())
    }

    /// The ids of the live records, sorted.
    fn live_ids(&self) -> Vec<String> {
        self.records
            .keys()
            .filter(|id| self.is_live(id))
            .cloned()
            .collect()
    }

    fn expired_count(&self) -> usize {
        self.records.keys().filter(|id| !self.is_live(id)).count()
    }
}

/// What one run checked; runs add up with `+=`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Operations run against both the store and the model.
    pub ops: usize,
    /// Records compared field by field (loads, and the final read-back of every id).
    pub records_checked: usize,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.ops += other.ops;
        self.records_checked += other.records_checked;
    }
}

fn code<T>(result: &Result<T, StoreError>) -> Option<ErrorCode> {
    result.as_ref().err().map(StoreError::code)
}

fn expect_code<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, StoreError>,
    expected: ErrorCode,
) -> Result<(), String> {
    match result {
        Err(e) if e.code() == expected => Ok(()),
        other => Err(format!("{what}: expected {expected:?}, got {other:?}")),
    }
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, store: T, model: T) -> Result<(), String> {
    if store == model {
        Ok(())
    } else {
        Err(format!("{what}: store gave {store:?}, the model {model:?}"))
    }
}

/// Runs `case` against a store opened by `open` (given the case's options with `clock`) and
/// against the model; the first difference is the error.
pub async fn run<S, F, Fut>(open: &F, name: &str, case: &Case) -> Result<Stats, String>
where
    S: SessionStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let clock = ManualClock::new(super::T0);
    let options = StoreOptions::new()
        .name(name)
        .ttl_ms(case.setup.ttl_ms)
        .sliding(case.setup.sliding)
        .max_lifetime_ms(case.setup.max_lifetime_ms)
        .sweep_interval_ms(None)
        .clock(clock.clone());
    let store = open(options).await;
    let mut model = Model::new(case.setup.clone(), super::T0);
    let mut stats = Stats::default();
    let id = |i: usize| SessionId::new(IDS[i]).unwrap();
    for (step, op) in case.ops.iter().enumerate() {
        stats.ops += 1;
        let at = |e: String| format!("step {step} ({op:?}): {e}");
        match op {
            Op::Create(i, state, ttl) => {
                let ttl_ms = match ttl {
                    Ttl::StoreDefault => model.setup.ttl_ms,
                    Ttl::Never => None,
                    Ttl::Millis(t) => Some(*t),
                };
                match i {
                    Some(i) => {
                        let result = store.create_with_id(&id(*i), state.clone(), *ttl).await;
                        if model.is_live(IDS[*i]) {
                            expect_code("create", result, ErrorCode::AlreadyExists).map_err(at)?;
                        } else {
                            let want = model.new_record(IDS[*i], state.clone(), ttl_ms);
                            model.records.insert(IDS[*i].to_owned(), want.clone());
                            same("create", result.map_err(|e| e.to_string()), Ok(want))
                                .map_err(at)?;
                        }
                    }
                    None => {
                        let got = store
                            .create(state.clone(), *ttl)
                            .await
                            .map_err(|e| at(e.to_string()))?;
                        if model.records.contains_key(got.id.as_str()) {
                            return Err(at(format!("generated id {} was taken", got.id)));
                        }
                        let want = model.new_record(got.id.as_str(), state.clone(), ttl_ms);
                        model
                            .records
                            .insert(got.id.as_str().to_owned(), want.clone());
                        same("create", got, want).map_err(at)?;
                    }
                }
            }
            Op::Load(i) => {
                let got = store.load(&id(*i)).await.map_err(|e| at(e.to_string()))?;
                stats.records_checked += usize::from(got.is_some());
                same("load", got, model.load(IDS[*i])).map_err(at)?;
            }
            Op::LoadMany(ids) => {
                let wanted: Vec<SessionId> = ids.iter().map(|&i| id(i)).collect();
                let result = store.load_many(&wanted).await;
                if ids.iter().collect::<BTreeSet<_>>().len() < ids.len() {
                    expect_code("loadMany", result, ErrorCode::InvalidInput).map_err(at)?;
                } else {
                    let got = result.map_err(|e| at(e.to_string()))?;
                    let want: Vec<_> = ids.iter().map(|&i| model.load(IDS[i])).collect();
                    stats.records_checked += got.iter().flatten().count();
                    same("loadMany", got, want).map_err(at)?;
                }
            }
            Op::Save(i, state) => {
                let got = store.save(&id(*i), state.clone()).await;
                let want = model.put_state(IDS[*i], state.clone());
                same("save", got.map_err(|e| e.to_string()), Ok(want)).map_err(at)?;
            }
            Op::SaveIfVersion(i, state, expected) => {
                let got = store
                    .save_if_version(&id(*i), state.clone(), *expected)
                    .await;
                let actual = model.live_version(IDS[*i]);
                if actual == *expected {
                    let want = model.put_state(IDS[*i], state.clone());
                    same("saveIfVersion", got.map_err(|e| e.to_string()), Ok(want)).map_err(at)?;
                } else {
                    match got {
                        Err(StoreError::VersionConflict {
                            expected: e,
                            actual: a,
                            ..
                        }) if e == *expected && a == actual => {}
                        other => {
                            return Err(at(format!(
                            "saveIfVersion: expected a conflict {expected}/{actual}, got {other:?}"
                        )))
                        }
                    }
                }
            }
            Op::SaveMany(entries) => {
                let batch = entries
                    .iter()
                    .map(|(i, state, expected)| SaveEntry {
                        id: id(*i),
                        state: state.clone(),
                        expected: *expected,
                    })
                    .collect();
                let result = store.save_many(batch).await;
                let distinct: BTreeSet<_> = entries.iter().map(|e| e.0).collect();
                if distinct.len() < entries.len() {
                    expect_code("saveMany", result, ErrorCode::InvalidInput).map_err(at)?;
                    continue;
                }
                let got = result.map_err(|e| at(e.to_string()))?;
                // Each entry's whole outcome: its version, or its conflict with the id, the
                // expected and the actual version, as saveIfVersion reports it.
                let want: Vec<Result<u64, StoreError>> = entries
                    .iter()
                    .map(|(i, state, expected)| {
                        let actual = model.live_version(IDS[*i]);
                        match expected {
                            Some(e) if *e != actual => Err(StoreError::VersionConflict {
                                id: IDS[*i].to_owned(),
                                expected: *e,
                                actual,
                            }),
                            _ => Ok(model.put_state(IDS[*i], state.clone())),
                        }
                    })
                    .collect();
                same("saveMany", got, want).map_err(at)?;
            }
            Op::UpdateTtl(i, ttl) => {
                let result = store.update_ttl(&id(*i), *ttl).await;
                if model.is_live(IDS[*i]) {
                    let created_at = model.records[IDS[*i]].created_at;
                    let at_ = model.deadline(created_at, *ttl);
                    let r = model.records.get_mut(IDS[*i]).unwrap();
                    r.ttl_ms = *ttl;
                    r.expires_at = at_;
                    same("updateTtl", code(&result), None).map_err(at)?;
                } else {
                    expect_code("updateTtl", result, ErrorCode::NotFound).map_err(at)?;
                }
            }
            Op::Delete(i) => {
                let got = store.delete(&id(*i)).await.map_err(|e| at(e.to_string()))?;
                let want = model.is_live(IDS[*i]);
                model.records.remove(IDS[*i]);
                same("delete", got, want).map_err(at)?;
            }
            Op::ChangeId(old, new) => {
                let new_id = new.map(id);
                let result = store.change_id(&id(*old), new_id.as_ref()).await;
                if *new == Some(*old) {
                    expect_code("changeId", result, ErrorCode::InvalidInput).map_err(at)?;
                } else if !model.is_live(IDS[*old]) {
                    expect_code("changeId", result, ErrorCode::NotFound).map_err(at)?;
                } else if new.is_some_and(|n| model.is_live(IDS[n])) {
                    expect_code("changeId", result, ErrorCode::AlreadyExists).map_err(at)?;
                } else {
                    let got = result.map_err(|e| at(e.to_string()))?;
                    if let Some(n) = new {
                        same("changeId", got.as_str(), IDS[*n]).map_err(at)?;
                    } else if model.records.contains_key(got.as_str()) {
                        return Err(at(format!("generated id {got} was taken")));
                    }
                    let mut record = model.records.remove(IDS[*old]).unwrap();
                    record.id = got.clone();
                    model.records.insert(got.as_str().to_owned(), record);
                }
            }
            Op::Get(i, k) => {
                let result = store.get(&id(*i), KEYS[*k]).await;
                if model.is_live(IDS[*i]) {
                    model.slide(IDS[*i]);
                    let want = model.records[IDS[*i]].state.get(KEYS[*k]);
                    same("get", result.map_err(|e| e.to_string()), Ok(want)).map_err(at)?;
                } else {
                    expect_code("get", result, ErrorCode::NotFound).map_err(at)?;
                }
            }
            Op::Set(i, k, value) => {
                let result = store.set(&id(*i), KEYS[*k], value.clone()).await;
                if model.is_live(IDS[*i]) {
                    let r = model.records.get_mut(IDS[*i]).unwrap();
                    r.state.insert(KEYS[*k], value).unwrap();
                    let want = model.state_written(IDS[*i]);
                    same("set", result.map_err(|e| e.to_string()), Ok(want)).map_err(at)?;
                } else {
                    expect_code("set", result, ErrorCode::NotFound).map_err(at)?;
                }
            }
            Op::Remove(i, k) => {
                let result = store.remove(&id(*i), KEYS[*k]).await;
                if model.is_live(IDS[*i]) {
                    let r = model.records.get_mut(IDS[*i]).unwrap();
                    if r.state.remove(KEYS[*k]) {
                        model.state_written(IDS[*i]);
                    }
                    let want = model.records[IDS[*i]].version;
                    same("remove", result.map_err(|e| e.to_string()), Ok(want)).map_err(at)?;
                } else {
                    expect_code("remove", result, ErrorCode::NotFound).map_err(at)?;
                }
            }
            Op::DeleteExpired(batch) => {
                let got = store
                    .delete_expired(*batch)
                    .await
                    .map_err(|e| at(e.to_string()))?;
                // Backends may remove expired records when reads meet them, so the model
                // knows only an upper bound of what is left to remove.
                let most = model
                    .expired_count()
                    .min(batch.map_or(usize::MAX, NonZeroUsize::get));
                if got > most {
                    return Err(at(format!("deleteExpired removed {got}, at most {most}")));
                }
                if batch.is_none() {
                    let now = model.now;
                    model.records.retain(|_, r| !r.is_expired(now));
                }
            }
            Op::Ids => {
                let mut got: Vec<String> = store
                    .ids()
                    .await
                    .map_err(|e| at(e.to_string()))?
                    .into_iter()
                    .map(String::from)
                    .collect();
                got.sort();
                same("ids", got, model.live_ids()).map_err(at)?;
            }
            Op::Clear => {
                store.clear().await.map_err(|e| at(e.to_string()))?;
                model.records.clear();
            }
            Op::Advance(ms) => {
                clock.advance(*ms);
                model.now += ms;
            }
        }
    }
    // Finally every live record, read back from both (both slide alike).
    for id in model.live_ids() {
        let sid = SessionId::new(id.as_str()).unwrap();
        let got = store.load(&sid).await.map_err(|e| e.to_string())?;
        same("final load", got, model.load(&id))?;
        stats.records_checked += 1;
    }
    let _ = store.clear().await;
    Ok(stats)
}

/// A compact rendering of a failing case for a report.
pub fn describe(case: &Case) -> String {
    let mut out = format!("{:?}\n", case.setup);
    for (i, op) in case.ops.iter().enumerate() {
        out.push_str(&format!("  {i}: {op:?}\n"));
    }
    out
}

/// Runs `cases` (from [`seeded_cases`]) against stores opened by `open`, one fresh store name
/// per case; panics on the first difference with the seed, the case and the step.
pub async fn replay<S, F, Fut>(open: F, label: &str, seed: u64, cases: &[Case]) -> Stats
where
    S: SessionStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let mut total = Stats::default();
    for (n, case) in cases.iter().enumerate() {
        let name = format!("{label}-{seed}-{n}-{}", SessionId::generate().unwrap());
        match run(&open, &name, case).await {
            Ok(stats) => total += stats,
            Err(e) => panic!(
                "{label}: case {n} of seed {seed} differs from the model: {e}\n{}",
                describe(case)
            ),
        }
    }
    total
}

/// How many cases a test runs: `default` when environment variable `name` is unset (`value`
/// is `None`), else the number it holds (read at run time natively, at build time in wasm),
/// so `npm run soak` can ask for more.
///
/// # Panics
/// When `value` is not a number (empty, signed, fractional, with spaces...), naming the
/// variable and the value: a typo must not quietly run the default.
pub fn case_count(name: &str, value: Option<&str>, default: usize) -> usize {
    match value {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            panic!("{name}={v:?} is not a number of cases (a whole number >= 0); unset it for the default, {default}")
        }),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::case_count;

    #[test]
    fn case_count_is_the_default_when_unset_and_the_number_when_set() {
        assert_eq!(case_count("WSS_X", None, 400), 400);
        assert_eq!(case_count("WSS_X", Some("0"), 400), 0);
        assert_eq!(case_count("WSS_X", Some("20000"), 400), 20_000);
    }

    #[test]
    fn a_malformed_case_count_fails_loudly_naming_the_variable_and_the_value() {
        for bad in ["", "ten", "-1", "1.5", " 3", "3 ", "1e3", "0x10"] {
            let panic =
                std::panic::catch_unwind(|| case_count("WSS_X", Some(bad), 400)).expect_err(bad);
            let message = panic.downcast_ref::<String>().expect("a formatted message");
            assert!(
                message.contains(&format!("WSS_X={bad:?}")),
                "{bad:?}: {message}"
            );
        }
    }
}
