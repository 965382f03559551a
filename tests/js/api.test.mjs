// The JS contract, method by method and error by error, through the built package, on every
// backend and in each engine (WSS_ENGINE): called exactly as a user would
// (`import init, { SessionStore }`). Each page-side check returns [name, ok, detail]; the node
// side reports every failed one. Page-side helpers: tests/pages/checks.js (`same` compares
// structurally), tests/pages/watch.js (the whole store and the events of a block of calls).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { report, useBrowser, ENGINE } from "./helpers.mjs";

const BACKENDS = ["indexeddb", "localstorage", "sessionstorage", "memory"];

const it = useBrowser();
let page;
before(async () => {
  page = await (await it.ready()).page();
  await page.evaluate(async () => (await import("/t/checks.js")).globals());
});

for (const backend of BACKENDS) {
  test(`${backend}: every method, on live, missing and expired sessions`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const checks = [];
      const check = (name, ok, detail) => checks.push([name, !!ok, detail]);
      let t = 1_000_000;
      const name = `api-${backend}`;
      const store = await wss.SessionStore.open({ backend, name, ttlMs: 10_000, now: () => t, sweepIntervalMs: null });
      await store.clear();
      check("backend", store.backend === backend, store.backend);
      check("fallbackReason", store.fallbackReason === null, store.fallbackReason);
      check("name", store.name === name, store.name);

      const a = await store.create({ user: "ada" });
      check("create: record shape", same(Object.keys(a).sort(), ["createdAt", "expiresAt", "id", "state", "ttlMs", "updatedAt", "version"]), a);
      check("create: fields", a.version === 1 && a.createdAt === t && a.updatedAt === t && a.expiresAt === t + 10_000 && a.ttlMs === 10_000, a);
      check("create: generated id", /^[A-Za-z0-9_-]{22}$/.test(a.id), a.id);
      const empty = await store.create();
      check("create(): empty state", same(empty.state, {}), empty);
      const fixed = await store.create({ n: 1 }, { id: "fixed_id-1", ttlMs: null });
      check("create with id and ttlMs null", fixed.id === "fixed_id-1" && fixed.expiresAt === null && fixed.ttlMs === null, fixed);
      const dup = await outcome(store.create({}, { id: "fixed_id-1" }));
      check("create on a live id: ALREADY_EXISTS", dup.error?.code === "ALREADY_EXISTS" && dup.error.message.includes("fixed_id-1"), dup);

      const loaded = await store.load(a.id);
      check("load", same(loaded, a), loaded);
      check("load: fresh objects", loaded !== (await store.load(a.id)));
      loaded.state.user = "mallory";
      check("mutating a returned record changes nothing", (await store.load(a.id)).state.user === "ada");
      check("load missing: null", (await store.load("missing")) === null);

      t += 1;
      const v2 = await store.save(a.id, { user: "ada", cart: [] });
      const afterSave = await store.load(a.id);
      check("save: new version, createdAt and expiresAt kept", v2 === 2 && afterSave.updatedAt === t && afterSave.createdAt === a.createdAt && afterSave.expiresAt === a.expiresAt, afterSave);
      const vNew = await store.save("saved-new", { x: 1 });
      check("save on a missing id creates it", vNew === 1 && (await store.load("saved-new")).version === 1);

      const v3 = await store.saveIfVersion(a.id, { user: "ada", cart: ["apple"] }, 2);
      check("saveIfVersion on the right version", v3 === 3);
      const conflict = await outcome(store.saveIfVersion(a.id, {}, 2));
      check("saveIfVersion stale: VERSION_CONFLICT with expected/actual", conflict.error?.code === "VERSION_CONFLICT" && conflict.error.expected === 2 && conflict.error.actual === 3 && conflict.error.message.includes(a.id), conflict);
      const v1 = await store.saveIfVersion("cas-new", { y: 1 }, 0);
      check("saveIfVersion 0 creates", v1 === 1);
      const exists = await outcome(store.saveIfVersion("cas-new", {}, 0));
      check("saveIfVersion 0 on a live id: VERSION_CONFLICT actual 1", exists.error?.code === "VERSION_CONFLICT" && exists.error.expected === 0 && exists.error.actual === 1, exists);
      const missingCas = await outcome(store.saveIfVersion("nobody", {}, 4));
      check("saveIfVersion on a missing id: actual 0", missingCas.error?.code === "VERSION_CONFLICT" && missingCas.error.actual === 0, missingCas);

      check("get", same(await store.get(a.id, "cart"), ["apple"]));
      check("get absent key: undefined", (await store.get(a.id, "nope")) === undefined);
      const v4 = await store.set(a.id, "n", 42);
      check("set", v4 === 4 && (await store.get(a.id, "n")) === 42);
      const v5 = await store.remove(a.id, "n");
      check("remove", v5 === 5 && (await store.get(a.id, "n")) === undefined);
      check("remove absent key: version unchanged", (await store.remove(a.id, "n")) === 5);
      for (const [label, p] of [
        ["get", store.get("nobody", "k")], ["set", store.set("nobody", "k", 1)], ["remove", store.remove("nobody", "k")],
        ["updateTtl", store.updateTtl("nobody", 5)], ["changeId", store.changeId("nobody")],
      ]) {
        const r = await outcome(p);
        check(`${label} on a missing id: NOT_FOUND naming it`, r.error?.code === "NOT_FOUND" && r.error.message.includes("nobody"), r);
      }

      t += 1;
      check("updateTtl resolves undefined", (await store.updateTtl(a.id, 5_000)) === undefined);
      const ttl = await store.load(a.id);
      check("updateTtl moves the deadline, keeps the version", ttl.expiresAt === t + 5_000 && ttl.ttlMs === 5_000 && ttl.version === 5, ttl);
      await store.updateTtl(a.id, null);
      check("updateTtl null: never expires", (await store.load(a.id)).expiresAt === null);

      const renamed = await store.changeId(a.id, "renamed");
      const moved = await store.load("renamed");
      check("changeId to a given id", renamed === "renamed" && moved.version === 5 && same(moved.state, { user: "ada", cart: ["apple"] }) && (await store.load(a.id)) === null, moved);
      const generated = await store.changeId("renamed");
      check("changeId generates an id", /^[A-Za-z0-9_-]{22}$/.test(generated) && (await store.load(generated)).version === 5);
      const sameId = await outcome(store.changeId(generated, generated));
      check("changeId onto itself: INVALID_INPUT", sameId.error?.code === "INVALID_INPUT", sameId);
      const taken = await outcome(store.changeId(generated, "saved-new"));
      check("changeId onto a live id: ALREADY_EXISTS", taken.error?.code === "ALREADY_EXISTS", taken);

      const ids = (await store.ids()).sort();
      check("ids", same(ids, [generated, "cas-new", "fixed_id-1", "saved-new", empty.id].sort()), ids);

      // Expiry by the injected clock.
      const short = await store.create({ s: 1 }, { ttlMs: 100 });
      t += 100;
      check("expired: load null", (await store.load(short.id)) === null);
      check("expired: not in ids", !(await store.ids()).includes(short.id));
      const expiredWrite = await outcome(store.set(short.id, "k", 1));
      check("expired: writes NOT_FOUND", expiredWrite.error?.code === "NOT_FOUND", expiredWrite);
      const again = await store.create({}, { id: short.id });
      check("expired: create with its id succeeds", again.version === 1);
      await store.delete(again.id);
      t += 20_000;
      const removed = await store.deleteExpired();
      check("deleteExpired counts what it removed", removed === 3, removed); // empty, saved-new, cas-new
      check("deleteExpired again: 0", (await store.deleteExpired(10)) === 0);
      check("survivors", same((await store.ids()).sort(), [generated, "fixed_id-1"].sort()));

      check("delete live: true", (await store.delete("fixed_id-1")) === true);
      check("delete missing: false", (await store.delete("fixed_id-1")) === false);
      check("clear resolves undefined", (await store.clear()) === undefined);
      check("clear empties", (await store.ids()).length === 0);
      store.close();
      return checks;
    }, backend);
    report(checks);
  });

  test(`${backend}: states round-trip exactly; what JSON cannot hold is refused and nothing changes`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const checks = [];
      const check = (name, ok, detail) => checks.push([name, !!ok, detail]);
      const store = await wss.SessionStore.open({ backend, name: `values-${backend}` });
      await store.clear();
      const nested = {
        emoji: "💡🇩🇪 ünïcödé ✓", "日本語": "値", "": "empty key", quotes: "\"\\\n\t\u0000\u2028",
        numbers: [0, -1, 0.1, -2.5e-300, 5e-324, 1.7976931348623157e308, 9007199254740991],
        deep: { a: { b: { c: [[[{ d: null }]]] } } }, yes: true, no: false, nil: null,
        ["__proto__"]: { polluted: true }, constructor: "plain data",
      };
      // A literal `__proto__:` would set the prototype; define it as an own key instead.
      Object.defineProperty(nested, "__proto__", { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
      const r = await store.create(nested);
      const back = (await store.load(r.id)).state;
      check("nested/unicode/floats round-trip", same(back, nested), back);
      check("floats bit-exact", back.numbers[4] === 5e-324 && back.numbers[2] === 0.1);
      check("__proto__ is an own key, prototypes untouched", Object.getPrototypeOf(back) === Object.prototype && Object.hasOwn(back, "__proto__") && back.__proto__.polluted === true && ({}).polluted === undefined);
      const big = { blob: "x".repeat(1 << 20), list: Array.from({ length: 10_000 }, (_, i) => i) };
      const v = await store.save(r.id, big);
      check("1 MiB state round-trips", v === 2 && same((await store.load(r.id)).state, big));
      await store.save(r.id, { keep: "me" });

      class Point { constructor() { this.x = 1; } }
      const cyclic = {}; cyclic.self = cyclic;
      const sparse = [1, , 3];
      const bad = {
        "function": { f() {} }, "symbol value": { s: Symbol("s") }, "symbol key": { [Symbol("k")]: 1 },
        BigInt: { n: 10n }, cycle: cyclic, "undefined value": { u: undefined }, "undefined in array": { a: [undefined] },
        NaN: { n: NaN }, Infinity: { n: -Infinity }, Date: { d: new Date() }, Map: { m: new Map() },
        "class instance": { p: new Point() }, "lone surrogate": { s: "\ud800" }, "lone surrogate key": { ["\udc00"]: 1 },
        "sparse array": { a: sparse },
      };
      for (const [label, state] of Object.entries(bad)) {
        for (const [op, p] of [["save", store.save(r.id, state)], ["create", store.create(state)], ["saveIfVersion", store.saveIfVersion(r.id, state, 3)]]) {
          const out = await outcome(p);
          check(`${op} ${label}: INVALID_INPUT`, out.error?.code === "INVALID_INPUT", out);
        }
        // set(id, key, value) with the offending value itself (the key cases are below).
        const inner = Object.values(state)[0];
        if (!label.includes("key")) {
          const out = await outcome(store.set(r.id, "k", inner));
          check(`set ${label}: INVALID_INPUT`, out.error?.code === "INVALID_INPUT", out);
        }
      }
      for (const [label, state] of [["null", null], ["array", []], ["string", "s"], ["number", 1], ["Date", new Date()]]) {
        const out = await outcome(store.save(r.id, state));
        check(`state ${label}: INVALID_INPUT`, out.error?.code === "INVALID_INPUT", out);
      }
      for (const [m, p] of [["get", store.get(r.id, "\ud800")], ["set", store.set(r.id, "\udc00", 1)], ["remove", store.remove(r.id, "a\ud800")]]) {
        const out = await outcome(p);
        check(`${m} with a lone-surrogate key: INVALID_INPUT`, out.error?.code === "INVALID_INPUT", out);
      }
      const createNull = await outcome(store.create(null));
      check("create(null): INVALID_INPUT", createNull.error?.code === "INVALID_INPUT");
      const stored = await store.load(r.id);
      check("nothing stored changed", stored.version === 3 && same(stored.state, { keep: "me" }) && (await store.ids()).length === 1, stored);
      check("error messages name the offending place", (await outcome(store.save(r.id, { a: { b: [0, () => 1] } }))).error.message.includes("state.a.b[1]"));
      store.close();
      return checks;
    }, backend);
    report(checks);
  });
}

for (const backend of BACKENDS) {
  test(`${backend}: loadMany and saveMany, with per-entry outcomes`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const checks = [];
      const check = (name, ok, detail) => checks.push([name, !!ok, detail]);
      let t = 1_000_000;
      const store = await wss.SessionStore.open({ backend, name: `batch-${backend}`, ttlMs: 10_000, now: () => t, sweepIntervalMs: null });
      await store.clear();
      const events = [];
      store.subscribe((e) => events.push(`${e.type} ${e.id} v${e.version}`));
      const a = await store.create({ n: 1 }, { id: "a" });
      await store.create({ n: 2 }, { id: "short", ttlMs: 5 });
      check("loadMany([]) is []", same(await store.loadMany([]), []));
      const got = await store.loadMany(["a", "nope", "short"]);
      check("loadMany: records and null, in order", got.length === 3 && same(got[0], a) && got[1] === null && got[2]?.id === "short", got);
      t += 5;
      check("loadMany: expired is null", (await store.loadMany(["short", "a"]))[0] === null);

      await store.save("a", { n: 10 }); // a at version 2
      await new Promise((r) => setTimeout(r, 0)); // its event is in
      const heardBefore = events.length;
      const results = await store.saveMany([
        { id: "a", state: { n: 11 }, expected: 1 },  // stale
        { id: "b", state: { n: 20 }, expected: 0 },  // must not exist: created
        { id: "short", state: { n: 30 } },          // expired: starts over
        { id: "c", state: { n: 40 } },              // upsert
      ]);
      check("saveMany: one result per entry", results.length === 4, results);
      const [r0, r1, r2, r3] = results;
      check("saveMany: conflict reported for its entry", r0.ok === false && r0.id === "a" && r0.error instanceof Error &&
        r0.error.name === "StoreError" && r0.error.code === "VERSION_CONFLICT" && r0.error.expected === 1 && r0.error.actual === 2, r0);
      check("saveMany: the others are written", same([r1, r2, r3], [
        { ok: true, id: "b", version: 1 }, { ok: true, id: "short", version: 1 }, { ok: true, id: "c", version: 1 },
      ]), results);
      const after = await store.loadMany(["a", "b", "short", "c"]);
      check("saveMany: the conflicting entry was not written", after[0].state.n === 10 && after[0].version === 2, after[0]);
      check("saveMany: states stored", same(after.slice(1).map((r) => r.state.n), [20, 30, 40]), after);
      await new Promise((r) => setTimeout(r, 0));
      check("saveMany: events for the written entries, in entry order",
        events.slice(heardBefore).join() === "created b v1,expired short v1,created short v1,created c v1", events);

      const bad = {
        "not an array": () => store.saveMany({ id: "a", state: {} }),
        "an entry not an object": () => store.saveMany([1]),
        "an unknown key": () => store.saveMany([{ id: "a", state: {}, ttlMs: 5 }]),
        "a bad state": () => store.saveMany([{ id: "x1", state: {} }, { id: "x2", state: { f: () => 1 } }]),
        "an id twice": () => store.saveMany([{ id: "x1", state: {} }, { id: "x1", state: {} }]),
        "expected negative": () => store.saveMany([{ id: "x1", state: {}, expected: -1 }]),
        "loadMany not an array": () => store.loadMany("a"),
        "loadMany an id twice": () => store.loadMany(["a", "a"]),
      };
      for (const [what, fn] of Object.entries(bad)) {
        const out = await call(fn);
        check(`${what}: INVALID_INPUT`, out.error?.code === "INVALID_INPUT", out);
      }
      check("refused batches wrote nothing", same(await store.loadMany(["x1", "x2"]), [null, null]));
      store.close();
      return checks;
    }, backend);
    report(checks);
  });
}

for (const backend of BACKENDS) {
  test(`${backend}: every method rejects (never throws) on bad arguments, with INVALID_INPUT, and nothing stored changes`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const checks = [];
      const check = (name, ok, detail) => checks.push([name, !!ok, detail]);
      const store = await wss.SessionStore.open({ backend, name: `bad-args-${backend}`, ttlMs: 60_000, sweepIntervalMs: null });
      await store.clear();
      const { id } = await store.create({ n: 1, nested: { keep: ["me"] } });
      await store.create({ other: true }, { id: "other", ttlMs: null });
      // The whole store, records in full, and the events: compared after all the bad calls.
      const { snapshot, recordEvents } = await import("/t/watch.js");
      const before = await snapshot(store);
      const recording = recordEvents(store);

      const weird = [undefined, null, 42, 1.5, "", "has space", "x".repeat(129), "ü", "日本", "tab\t", Symbol("s"), 10n, {}, [], () => {}];
      const label = (w) => typeof w === "symbol" ? "Symbol" : typeof w === "bigint" ? `${w}n` : typeof w === "function" ? "a function" : typeof w === "number" ? String(w) : JSON.stringify(w) ?? String(w);
      const methods = {
        load: (w) => store.load(w), save: (w) => store.save(w, {}), saveIfVersion: (w) => store.saveIfVersion(w, {}, 1),
        updateTtl: (w) => store.updateTtl(w, 5), delete: (w) => store.delete(w), changeId: (w) => store.changeId(w),
        "changeId new": (w) => store.changeId(id, w),
        get: (w) => store.get(w, "k"), set: (w) => store.set(w, "k", 1), remove: (w) => store.remove(w, "k"),
        loadMany: (w) => store.loadMany([id, w]), saveMany: (w) => store.saveMany([{ id, state: {} }, { id: w, state: {} }]),
        "create id": (w) => store.create({}, { id: w }),
      };
      // An absent new id (changeId) or id option (create) is valid: a generated id.
      const absentIsValid = new Set(["changeId new", "create id"]);
      for (const [m, fn] of Object.entries(methods)) {
        for (const w of weird) {
          if (w === undefined && absentIsValid.has(m)) continue;
          const out = await call(() => fn(w));
          check(`${m}(${label(w)})`, out.error?.code === "INVALID_INPUT", out);
        }
      }
      // TTLs, versions and batch sizes: negative, zero where it is not allowed, fractions,
      // NaN, Infinity, strings, past 2^53 - 1, BigInt, objects.
      for (const n of [-1, 0, 1.5, NaN, Infinity, -Infinity, "10", 2 ** 53, 10n, {}, true]) {
        const cases = {
          updateTtl: () => store.updateTtl(id, n), "create ttlMs": () => store.create({}, { ttlMs: n }),
          deleteExpired: () => store.deleteExpired(n),
        };
        // An expected version of 0 is valid ("must not exist").
        if (n !== 0) {
          cases["saveIfVersion expected"] = () => store.saveIfVersion(id, {}, n);
          cases["saveMany expected"] = () => store.saveMany([{ id, state: {}, expected: n }]);
        }
        for (const [m, fn] of Object.entries(cases)) {
          const out = await call(fn);
          check(`${m} ${label(n)}`, out.error?.code === "INVALID_INPUT", out);
        }
      }
      for (const key of [undefined, null, "", 1, Symbol("k"), {}]) {
        for (const [m, fn] of [["get", () => store.get(id, key)], ["set", () => store.set(id, key, 1)], ["remove", () => store.remove(id, key)]]) {
          const out = await call(fn);
          check(`${m} key ${label(key)}`, out.error?.code === "INVALID_INPUT", out);
        }
      }
      // Options and entries of the wrong shape: unknown keys, wrong types.
      for (const [name, fn, mentions] of [
        ["create: unknown option", () => store.create({}, { ttl: 5 }), "ttl"],
        ["create: options a string", () => store.create({}, "fast")],
        ["create: options an array", () => store.create({}, [])],
        ["create: id a number", () => store.create({}, { id: 5 })],
        ["updateTtl without ttlMs", () => store.updateTtl(id)],
        ["saveMany: not an array", () => store.saveMany({ id, state: {} })],
        ["saveMany: an entry with an unknown key", () => store.saveMany([{ id, state: {}, expect: 1 }]), "expect"],
        ["saveMany: an entry that is a string", () => store.saveMany([id])],
        ["saveMany: an entry without a state", () => store.saveMany([{ id }])],
        ["loadMany: not an array", () => store.loadMany(id)],
      ]) {
        const out = await call(fn);
        check(name, out.error?.code === "INVALID_INPUT" && (!mentions || out.error.message.includes(mentions)), out);
      }
      // subscribe is the one synchronous method: it throws, and subscribes nothing.
      for (const listener of ["listener", undefined, null, {}, 42]) {
        let thrown;
        try { store.subscribe(listener); } catch (e) { thrown = e; }
        check(`subscribe(${label(listener)}): throws INVALID_INPUT synchronously`,
          thrown instanceof Error && thrown.name === "StoreError" && thrown.code === "INVALID_INPUT" && thrown.message.includes("function"),
          String(thrown));
      }
      const after = await snapshot(store);
      check("nothing stored changed: every record equal in full", same(after, before), { before, after });
      const events = await recording.settle("other");
      check("no event was sent for a bad call", events.length === 1 && events[0] === "deleted other", events);
      // null means "no TTL" where a TTL is taken: valid, so it is checked apart from the rest.
      check("updateTtl(id, null) is valid", (await call(() => store.updateTtl(id, null))).value === undefined);
      check("create with ttlMs null is valid", !!(await call(() => store.create({}, { ttlMs: null }))).value);
      check("a 128-character id is valid", (await call(() => store.create({}, { id: "x".repeat(128) }))).value?.id === "x".repeat(128));
      await store.clear();
      store.close();
      return checks;
    }, backend);
    report(checks);
    console.log(`# ${backend}: ${checks.length} bad-argument checks`);
  });
}

test("open() refuses unknown keys, wrong types and out-of-range numbers", async () => {
  const checks = await page.evaluate(async () => {
    const checks = [];
    const check = (name, ok, detail) => checks.push([name, !!ok, detail]);
    const bad = [
      "memory", 42, [], { colour: "red" }, { backend: "cookies" }, { backend: 1 }, { name: "" },
      { name: "has:colon" }, { name: "x".repeat(65) }, { name: 5 }, { ttlMs: -1 }, { ttlMs: 0 },
      { ttlMs: 1.5 }, { ttlMs: NaN }, { ttlMs: Infinity }, { ttlMs: "10" }, { maxLifetimeMs: 0 },
      { sweepIntervalMs: -5 }, { sweepIntervalMs: "60000" }, { sliding: "yes" }, { sliding: 1 },
      { now: 5 }, { now: "Date.now" },
    ];
    for (const options of bad) {
      const plain = typeof options === "object" && !Array.isArray(options);
      const direct = await call(() => wss.SessionStore.open(plain ? { backend: "memory", ...options } : options));
      check(`open(${JSON.stringify(options, (k, v) => (Number.isNaN(v) || v === Infinity ? String(v) : v))})`, direct.error?.code === "INVALID_INPUT" && direct.error.name === "StoreError", direct);
    }
    // The same bad options against stores that hold data: nothing stored changes.
    for (const backend of ["indexeddb", "localstorage", "sessionstorage"]) {
      const name = `open-bad-${backend}`;
      const store = await wss.SessionStore.open({ backend, name, sweepIntervalMs: null });
      await store.clear();
      await store.create({ keep: "me" }, { id: "kept" });
      const before = await store.load("kept");
      let refused = 0;
      for (const options of bad.filter((o) => typeof o === "object" && !Array.isArray(o))) {
        const out = await call(() => wss.SessionStore.open({ backend, name, ...options }));
        if (out.error?.code === "INVALID_INPUT") refused++;
        else check(`${backend}: open(${JSON.stringify(options)}) over stored data`, false, out);
      }
      check(`${backend}: ${refused} refused opens changed nothing stored`, refused > 15 && same(await store.load("kept"), before) && (await store.ids()).length === 1);
      await store.clear();
      store.close();
    }
    const good = await call(() => wss.SessionStore.open({ backend: "memory", name: "a.b-c_d", ttlMs: null, sliding: true, maxLifetimeMs: 1000, sweepIntervalMs: null, now: () => 5 }));
    check("every option at once", !!good.value, good);
    good.value?.close();
    const throwingClock = await wss.SessionStore.open({ backend: "memory", now: () => { throw new Error("clock broke"); } });
    const tick = await call(() => throwingClock.create());
    check("a now() that throws: INVALID_INPUT saying so", tick.error?.code === "INVALID_INPUT" && tick.error.message.includes("clock broke"), tick);
    return checks;
  });
  report(checks);
});

test("close(): idempotent, returns undefined, then every method rejects CLOSED first", async () => {
  const checks = await page.evaluate(async () => {
    const checks = [];
    const check = (name, ok, detail) => checks.push([name, !!ok, detail]);
    for (const backend of ["indexeddb", "localstorage", "sessionstorage", "memory"]) {
      const store = await wss.SessionStore.open({ backend, name: "closing" });
      const { id } = await store.create();
      check(`${backend}: close() returns undefined`, store.close() === undefined);
      check(`${backend}: close() twice is fine`, store.close() === undefined);
      const calls = {
        create: () => store.create(), load: () => store.load(id), save: () => store.save(id, {}),
        saveIfVersion: () => store.saveIfVersion(id, {}, 1), updateTtl: () => store.updateTtl(id, 5),
        delete: () => store.delete(id), changeId: () => store.changeId(id), deleteExpired: () => store.deleteExpired(),
        ids: () => store.ids(), get: () => store.get(id, "k"), set: () => store.set(id, "k", 1),
        remove: () => store.remove(id, "k"), clear: () => store.clear(), "load(bad id)": () => store.load(Symbol()),
        loadMany: () => store.loadMany([id]), saveMany: () => store.saveMany([{ id, state: {} }]),
      };
      for (const [m, fn] of Object.entries(calls)) {
        const out = await call(fn);
        check(`${backend}: ${m} after close`, out.error?.code === "CLOSED" && out.error.name === "StoreError", out);
      }
      const reopened = await wss.SessionStore.open({ backend, name: "closing" });
      check(`${backend}: data of a closed instance is still there for a new one`, backend === "memory" || (await reopened.load(id)) !== null);
      await reopened.clear();
      reopened.close();
    }
    return checks;
  });
  report(checks);
});

test("CORRUPT for records damaged behind the store's back (garbage, a newer format, another record's data under this id), on every persistent backend", async () => {
  const checks = await page.evaluate(async () => {
    const checks = [];
    const check = (name, ok, detail) => checks.push([name, !!ok, detail]);
    // Raw access to where each backend keeps a record, behind the store's back.
    const idb = (name, mode, fn) => new Promise((ok, fail) => {
      const open = indexedDB.open(name);
      open.onsuccess = () => {
        const tx = open.result.transaction("records", mode);
        const request = fn(tx.objectStore("records"));
        tx.oncomplete = () => { open.result.close(); ok(request.result); };
        tx.onerror = () => fail(tx.error);
      };
      open.onerror = () => fail(open.error);
    });
    const raw = {
      localstorage: {
        get: async (name, id) => localStorage.getItem(`${name}:${id}`),
        put: async (name, id, value) => localStorage.setItem(`${name}:${id}`, value),
        garbage: "{not json", newer: '{"v":99}',
      },
      sessionstorage: {
        get: async (name, id) => sessionStorage.getItem(`${name}:${id}`),
        put: async (name, id, value) => sessionStorage.setItem(`${name}:${id}`, value),
        garbage: "\u0000", newer: '{"v":99,"x":1}',
      },
      indexeddb: {
        get: (name, id) => idb(name, "readonly", (records) => records.get(id)),
        put: (name, id, value) => idb(name, "readwrite", (records) => records.put(value, id)),
        garbage: { exp: null, rec: "garbage" }, newer: { exp: null, rec: '{"v":99}' },
      },
    };
    for (const [backend, { get, put, garbage, newer }] of Object.entries(raw)) {
      const name = `corrupt-${backend}`;
      const store = await wss.SessionStore.open({ backend, name, sweepIntervalMs: null });
      await store.clear();
      const good = await store.create({ fine: true });
      const damaged = [];
      for (const [kind, value] of [["garbage", garbage], ["a newer format", newer], ["another record's data", await get(name, good.id)]]) {
        const bad = await store.create({ doomed: kind });
        await put(name, bad.id, value);
        damaged.push(bad.id);
        for (const [m, fn] of [["load", () => store.load(bad.id)], ["save", () => store.save(bad.id, {})], ["get", () => store.get(bad.id, "k")], ["saveIfVersion", () => store.saveIfVersion(bad.id, {}, 1)], ["loadMany", () => store.loadMany([good.id, bad.id])]]) {
          const out = await call(fn);
          check(`${backend}, ${kind}: ${m}: CORRUPT naming the id`, out.error?.code === "CORRUPT" && out.error.message.includes(bad.id), out);
        }
        if (kind === "a newer format") {
          const out = await call(() => store.load(bad.id));
          check(`${backend}: a newer format says so`, /newer format/.test(out.error?.message), out);
        }
      }
      check(`${backend}: the record whose data was copied is untouched`, (await store.load(good.id))?.state.fine === true);
      check(`${backend}: ids lists only readable records`, same(await store.ids(), [good.id]));
      check(`${backend}: deleteExpired skips them`, (await store.deleteExpired()) === 0);
      for (const id of damaged) {
        check(`${backend}: delete removes a damaged record (true)`, (await store.delete(id)) === true && (await store.load(id)) === null);
      }
      await store.clear();
      store.close();
    }
    return checks;
  });
  report(checks);
});

test("QUOTA_EXCEEDED when storage is full, with the previous record intact", async () => {
  const { checks, quota } = await page.evaluate(async () => {
    const checks = [];
    const check = (name, ok, detail) => checks.push([name, !!ok, detail]);
    const quota = {};
    for (const [backend, storage] of [["localstorage", localStorage], ["sessionstorage", sessionStorage]]) {
      const store = await wss.SessionStore.open({ backend, name: `quota-${backend}` });
      await store.clear();
      const r = await store.create({ keep: "me" });
      // Fill what is left, in shrinking chunks, with keys outside the store.
      const filler = [];
      for (let size = 1 << 20; size >= 16; size = size >> 1) {
        for (;;) {
          try { storage.setItem(`filler-${filler.length}`, "x".repeat(size)); filler.push(filler.length); } catch { break; }
        }
      }
      // What the full storage holds, keys and values, in characters (the README's Engines table).
      let used = 0;
      for (let i = 0; i < storage.length; i++) used += storage.key(i).length + storage.getItem(storage.key(i)).length;
      quota[backend] = used;
      const out = await call(() => store.save(r.id, { big: "y".repeat(100_000) }));
      const created = await call(() => store.create({ big: "z".repeat(100_000) }));
      for (const i of filler) storage.removeItem(`filler-${i}`);
      check(`${backend}: save: QUOTA_EXCEEDED`, out.error?.code === "QUOTA_EXCEEDED", out);
      check(`${backend}: create: QUOTA_EXCEEDED`, created.error?.code === "QUOTA_EXCEEDED", created);
      // The browser's exception travels as the error's cause: a DOMException with its name.
      for (const [what, o] of [["save", out], ["create", created]]) {
        check(`${backend}: ${what}: cause is the browser's QuotaExceededError`,
          o.error?.cause?.isDOMException && o.error.cause.name === "QuotaExceededError", o.error?.cause);
      }
      const kept = await store.load(r.id);
      check(`${backend}: previous record intact`, kept.version === 1 && kept.state.keep === "me", kept);
      const other = await call(() => store.load("bad id!"));
      check(`${backend}: other errors have no cause`, other.error?.code === "INVALID_INPUT" && other.error.cause === undefined, other);
      check(`${backend}: writes work again once there is room`, (await store.save(r.id, { big: "y".repeat(100_000) })) === 2);
      await store.clear();
      store.close();
    }
    return { checks, quota };
  });
  report(checks);
  console.log(`# ${ENGINE}: a full storage held ${quota.localstorage} (localStorage) and ${quota.sessionstorage} (sessionStorage) characters of keys and values`);
  // The README's Engines table: 5 Mi characters in every engine, keys and values counted. The
  // fill stops with less than its last chunk (16 characters and a key) left.
  for (const [backend, used] of Object.entries(quota)) {
    assert.ok(used <= 5 * 2 ** 20 && used > 5 * 2 ** 20 - 64, `${backend}: full at ${used} characters, not 5 Mi (${5 * 2 ** 20})`);
  }
});

test("IndexedDB: BLOCKED, not a hang, when another connection holds an old version open", async () => {
  const out = await page.evaluate(async () => {
    const name = "blocked-api";
    // A foreign database of our name without our object store, held open by a connection
    // that ignores versionchange: our open must upgrade it and cannot.
    await new Promise((ok) => { const d = indexedDB.deleteDatabase(name); d.onsuccess = d.onerror = d.onblocked = ok; });
    const holder = await new Promise((ok, fail) => {
      const open = indexedDB.open(name, 1);
      open.onsuccess = () => ok(open.result);
      open.onerror = () => fail(open.error);
    });
    const started = performance.now();
    const result = await wss.SessionStore.open({ backend: "indexeddb", name })
      .then(() => ({ opened: true }), (e) => ({ name: e.name, code: e.code, message: e.message }));
    const ms = performance.now() - started;
    holder.close();
    const later = await wss.SessionStore.open({ backend: "indexeddb", name });
    const ok = (await later.create()).version === 1;
    later.close();
    return { result, ms, ok };
  });
  assert.equal(out.result.code, "BLOCKED", JSON.stringify(out.result));
  assert.equal(out.result.name, "StoreError");
  assert.match(out.result.message, /another tab|close/i);
  // The README (Backends): BLOCKED after 3 s. The timer starts once the open is blocked, so
  // never sooner; an open itself takes milliseconds, so not much later.
  console.log(`# ${ENGINE}: BLOCKED after ${Math.round(out.ms)} ms`);
  assert.ok(out.ms >= 3000 && out.ms < 3750, `rejected after ${out.ms} ms, not 3 s`);
  assert.ok(out.ok, "opens once the other connection is gone");
});
