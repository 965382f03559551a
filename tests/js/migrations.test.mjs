// State migrations (DESIGN.md, "State migrations"), in each engine (WSS_ENGINE), through the
// built package: `stateVersion` stored with every write, records of a lower one read through
// `migrate` (load, loadMany, get, and the read of set and remove) without being written, and
// stored migrated by the next write; a record of a higher one (a newer release in another tab)
// CORRUPT; a failing `migrate` INVALID_INPUT with nothing written; two tabs on different
// stateVersions writing one session; sliding reads, encrypted stores, the options, the change
// feed. What the storage holds is read behind the store's back with tests/pages/at-rest.js.
//
// The app's state in this file, by stateVersion (other keys are kept by every step):
//   0: { cart: "apple,pear" }   1: { items: ["apple", "pear"] }   2: { lines: [{ sku: "apple", qty: 1 }, ...] }
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { report, useBrowser } from "./helpers.mjs";

const BACKENDS = ["indexeddb", "localstorage", "sessionstorage", "memory"];
const PERSISTENT = ["indexeddb", "localstorage", "sessionstorage"];
/** Backends whose storage other tabs share. */
const SHARED = ["indexeddb", "localstorage"];
/** Put in encrypted states; must never show in what the storage holds. */
const MARKER = "MARKER-mig-4c1d-secret";

const it = useBrowser();
let page;
before(async () => {
  page = await (await it.ready()).page();
  await page.evaluate(setUpPage);
});

/**
 * Loads the helpers into a page's globals: wss, outcome, call, same, checker, raw (at-rest.js),
 * and this file's own: `upgrade` (the app's migrate, which logs its calls in `migrations`),
 * `openStore` / `openV1` / `openV2`, `rawRecord`, `snapshot`, `settle`, and the two writers of
 * the rolling-upgrade storms.
 */
async function setUpPage() {
  await (await import("/t/checks.js")).globals();

  /** Every call of `upgrade`: `{ from, state }` (a copy of the state it was given). */
  globalThis.migrations = [];
  /** The app's migrate: shape 0 -> 1 -> 2, keeping every other key. */
  globalThis.upgrade = (state, from) => {
    migrations.push({ from, state: structuredClone(state) });
    let s = state;
    if (from < 1) {
      const { cart, ...rest } = s;
      s = { ...rest, items: cart ? cart.split(",") : [] };
    }
    if (from < 2) {
      const { items, ...rest } = s;
      s = { ...rest, lines: items.map((sku) => ({ sku, qty: 1 })) };
    }
    return s;
  };
  globalThis.openStore = (backend, name, options) => wss.SessionStore.open({ backend, name, sweepIntervalMs: null, ...options });
  /** The app's release that writes shape 1 (and knows nothing of shape 2). */
  globalThis.openV1 = (backend, name, options) => openStore(backend, name, { stateVersion: 1, ...options });
  /** The app's next release: shape 2, migrating older records with `upgrade`. */
  globalThis.openV2 = (backend, name, options) => openStore(backend, name, { stateVersion: 2, migrate: upgrade, ...options });
  /** The stored record of `id` parsed, plus its `text` as stored; undefined when absent. */
  globalThis.rawRecord = async (backend, name, id) => {
    const text = await raw.textOfId(backend, name, id);
    return text === undefined ? undefined : { ...JSON.parse(text), text };
  };
  /**
   * The store's stored records, as one text (IndexedDB: the values, `exp` included). Not its
   * metadata: on localStorage a store that becomes the leader bumps `<name>::seq`.
   */
  globalThis.snapshot = async (backend, name) => JSON.stringify((await raw.texts(backend, name)).values);
  /**
   * A turn of the event loop, as an app gives between user actions: a localStorage leader
   * whose own writes all finish in microtasks never serves another tab's request meanwhile.
   */
  globalThis.nextTask = () => new Promise((r) => setTimeout(r, 0));
  /** Lets events and other tabs' messages arrive. */
  globalThis.settle = (ms = 100) => new Promise((r) => setTimeout(r, ms));
  /** Whether an outcome is CORRUPT for `id`, saying that a newer stateVersion wrote it. */
  globalThis.newerCorrupt = (out, id) => out.error?.name === "StoreError" && out.error.code === "CORRUPT"
    && out.error.message.includes(id) && out.error.message.includes("stateVersion");

  /**
   * The old tab's writer (stateVersion 1): `rounds` writes of its own counter `p1`. A record of
   * its own shape is compare-and-swapped (load, p1 + 1, saveIfVersion); one a newer release
   * wrote is CORRUPT to it, and it puts back its own shape with a plain save. With `lock`,
   * each round runs under that Web Lock, so the two tabs take turns.
   */
  globalThis.oldTabWrites = async (store, id, rounds, lock) => {
    const log = { versions: [], corrupt: 0, conflicts: 0, bad: [], mine: 0 };
    const round = async () => {
      const r = await outcome(store.load(id));
      let w;
      if (r.value) {
        const { state, version } = r.value;
        if (!Array.isArray(state.items) || "lines" in state) log.bad.push({ "shape 2 seen by the old tab": state });
        if (state.p1 !== log.mine) log.bad.push({ "p1 lost": state.p1, mine: log.mine });
        w = await outcome(store.saveIfVersion(id, { ...state, p1: log.mine + 1 }, version));
      } else if (newerCorrupt(r, id)) {
        log.corrupt++;
        w = await outcome(store.save(id, { items: [], p1: log.mine + 1 }));
      } else {
        log.bad.push({ load: r });
        return;
      }
      if (w.value !== undefined) {
        log.mine++;
        log.versions.push(w.value);
      } else if (w.error?.code === "VERSION_CONFLICT") log.conflicts++;
      else log.bad.push({ write: w });
    };
    while (log.versions.length < rounds && log.bad.length === 0) {
      if (lock) await navigator.locks.request(lock, round);
      else await round();
      await nextTask();
    }
    return log;
  };

  /**
   * The new tab's writer (stateVersion 2, migrate): `rounds` writes of its key `p2`, every
   * other one by set and the others by load + saveIfVersion (retried on a conflict); `p2` of
   * the log is the value of its last write. Every state it reads must be of shape 2.
   */
  globalThis.newTabWrites = async (store, id, rounds, lock) => {
    const log = { versions: [], conflicts: 0, bad: [], p2: undefined };
    let i = 0;
    const round = async () => {
      i++;
      let w;
      if (i % 2) w = await outcome(store.set(id, "p2", i));
      else {
        const r = await outcome(store.load(id));
        if (!r.value) {
          log.bad.push({ load: r });
          return;
        }
        const { state, version } = r.value;
        if (!Array.isArray(state.lines) || "items" in state || typeof state.p1 !== "number") log.bad.push({ "not shape 2": state });
        w = await outcome(store.saveIfVersion(id, { ...state, p2: i }, version));
      }
      if (w.value !== undefined) {
        log.versions.push(w.value);
        log.p2 = i;
      } else if (w.error?.code === "VERSION_CONFLICT") log.conflicts++;
      else log.bad.push({ write: w });
    };
    while (log.versions.length < rounds && log.bad.length === 0) {
      if (lock) await navigator.locks.request(lock, round);
      else await round();
      await nextTask();
    }
    return log;
  };
}

/** A new page (tab) with the helpers loaded. */
async function newPage() {
  const p = await it.browser.page();
  await p.evaluate(setUpPage);
  return p;
}

/**
 * The newer and the older tab of a test on `backend`: two pages where the storage is shared
 * across tabs; on sessionStorage (one tab's storage) two stores of the same page.
 */
async function tabsFor(backend) {
  const older = SHARED.includes(backend) ? await newPage() : page;
  return { newer: page, older, close: () => (older === page ? undefined : older.close()) };
}

/**
 * Two pages on store `name`: page 1 the old release (stateVersion 1, opened first, so it leads
 * on localStorage), page 2 the new one (stateVersion 2, migrate); a session created by page 1.
 */
async function rollingUpgrade(backend, name) {
  const pages = [await newPage(), await newPage()];
  const id = await pages[0].evaluate(async ({ backend, name }) => {
    globalThis.store = await openV1(backend, name);
    await store.clear();
    return (await store.create({ items: ["apple"], p1: 0 })).id;
  }, { backend, name });
  await pages[1].evaluate(async ({ backend, name }) => {
    globalThis.store = await openV2(backend, name);
  }, { backend, name });
  return { pages, id };
}

/** The writes of each tab in a rolling-upgrade storm. */
const ROUNDS = 40;

for (const backend of PERSISTENT) {
  test(`${backend}: a stateVersion 1 record read by a stateVersion 2 store: load, loadMany and get give it migrated at the same version and write nothing; the next set stores the migrated state with "stateVersion":2 as version + 1`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      const name = `mig-read-${backend}`;
      const a = await openV1(backend, name);
      await a.clear();
      const old = await a.create({ items: ["apple", "pear"], note: "kept" });
      a.close();
      const stored = await rawRecord(backend, name, old.id);
      check('the old release stored "stateVersion":1 with the record', stored?.stateVersion === 1 && stored.text.includes('"stateVersion":1')
        && stored.version === 1 && same(stored.state, old.state), stored);
      const before = await snapshot(backend, name);

      const b = await openV2(backend, name);
      migrations.length = 0;
      const migrated = { lines: [{ sku: "apple", qty: 1 }, { sku: "pear", qty: 1 }], note: "kept" };
      const loaded = await b.load(old.id);
      check("load: the migrated state; version, times and ttl as stored", same(loaded, { ...old, state: migrated }), { loaded, old });
      check("migrate was given the stored state and fromVersion 1", migrations.length >= 1
        && migrations.every((m) => m.from === 1 && same(m.state, old.state)), migrations);
      const [many, absent] = await b.loadMany([old.id, "absent"]);
      check("loadMany: migrated too", same(many, loaded) && absent === null, many);
      check("get: a key of the migrated state", same(await b.get(old.id, "lines"), migrated.lines));
      check("get: a key only the old shape has: undefined", (await b.get(old.id, "items")) === undefined);
      check("the reads wrote nothing: the storage is byte-identical", (await snapshot(backend, name)) === before, await snapshot(backend, name));

      const v = await b.set(old.id, "coupon", "SPRING");
      check("set: version + 1", v === 2, v);
      const written = await rawRecord(backend, name, old.id);
      check('set stored the migrated state with the change, "stateVersion":2, version 2', written.text.includes('"stateVersion":2')
        && written.stateVersion === 2 && written.version === 2 && same(written.state, { ...migrated, coupon: "SPRING" }), written);
      migrations.length = 0;
      const reread = await b.load(old.id);
      check("read back: the stored state as is, without migrate", same(reread?.state, { ...migrated, coupon: "SPRING" }) && reread.version === 2
        && migrations.length === 0, { reread, migrations });
      b.close();
      return checks;
    }, backend);
    report(checks);
  });

  test(`${backend}: a record from before stateVersion (no field stored: 0) is migrated from 0; without migrate, older records are returned as stored and their next write stores them with the store's stateVersion`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      const name = `mig-zero-${backend}`;
      const a0 = await openStore(backend, name);
      await a0.clear();
      const zero = await a0.create({ cart: "fig,kiwi" });
      const zeroToo = await a0.create({ cart: "plum" });
      a0.close();
      const stored = await rawRecord(backend, name, zero.id);
      check("a store without stateVersion stores no stateVersion field", !stored.text.includes("stateVersion"), stored.text);
      const a1 = await openV1(backend, name);
      const one = await a1.create({ items: ["lime"] });
      a1.close();

      // Without migrate: as stored, whatever their stateVersion.
      const plain = await openStore(backend, name, { stateVersion: 2 });
      const [r0, r1] = await plain.loadMany([zero.id, one.id]);
      check("without migrate: a stateVersion 0 record as stored", same(r0, zero), r0);
      check("without migrate: a stateVersion 1 record as stored", same(r1, one), r1);
      check("without migrate: get as stored", same(await plain.get(one.id, "items"), ["lime"]));
      check("without migrate: set", (await plain.set(one.id, "n", 1)) === 2);
      const written = await rawRecord(backend, name, one.id);
      check('without migrate: set stored the state as it was, with the change, "stateVersion":2', written.stateVersion === 2 && written.version === 2
        && same(written.state, { items: ["lime"], n: 1 }), written);
      plain.close();

      // With migrate: from 0.
      const b = await openV2(backend, name);
      migrations.length = 0;
      const migrated = await b.load(zero.id);
      check("migrate from 0: given the stored state and fromVersion 0", migrations.length >= 1
        && migrations.every((m) => m.from === 0 && same(m.state, { cart: "fig,kiwi" })), migrations);
      check("migrate from 0: the state of shape 2", same(migrated?.state, { lines: [{ sku: "fig", qty: 1 }, { sku: "kiwi", qty: 1 }] }) && migrated.version === 1, migrated);
      check("migrate from 0: the other record too", same(await b.get(zeroToo.id, "lines"), [{ sku: "plum", qty: 1 }]));
      migrations.length = 0;
      check("a record of the store's stateVersion is not migrated", same((await b.load(one.id))?.state, { items: ["lime"], n: 1 }) && migrations.length === 0, migrations);
      b.close();
      return checks;
    }, backend);
    report(checks);
  });
}

test("every backend: records of the store's own stateVersion never go through migrate, and round-trip", async () => {
  const checks = await page.evaluate(async (backends) => {
    const { checks, check } = checker();
    for (const backend of backends) {
      const calls = [];
      const store = await openStore(backend, `mig-current-${backend}`, { stateVersion: 3, migrate: (s, from) => (calls.push(from), s) });
      await store.clear();
      const r = await store.create({ a: 1 });
      check(`${backend}: load`, same((await store.load(r.id))?.state, { a: 1 }));
      check(`${backend}: set`, (await store.set(r.id, "b", [2])) === 2);
      check(`${backend}: get`, same(await store.get(r.id, "b"), [2]));
      check(`${backend}: remove`, (await store.remove(r.id, "a")) === 3);
      check(`${backend}: saveIfVersion`, (await store.saveIfVersion(r.id, { c: 3 }, 3)) === 4);
      check(`${backend}: save`, (await store.save("other", { d: 4 })) === 1);
      const many = await store.loadMany([r.id, "other"]);
      check(`${backend}: loadMany`, same(many.map((x) => x?.state), [{ c: 3 }, { d: 4 }]), many);
      check(`${backend}: migrate was never called`, calls.length === 0, calls);
      if (backend !== "memory") {
        const stored = await rawRecord(backend, `mig-current-${backend}`, r.id);
        check(`${backend}: stored with "stateVersion":3`, stored.stateVersion === 3 && stored.text.includes('"stateVersion":3'), stored.text);
      }
      await store.clear();
      store.close();
    }
    return checks;
  }, BACKENDS);
  report(checks);
});

for (const backend of PERSISTENT) {
  test(`${backend}: an older tab (stateVersion 1) meeting a record a stateVersion 2 tab wrote: CORRUPT saying so on every read; its saveIfVersion and save replace it with stateVersion 1, which the newer tab reads migrated again`, async () => {
    const name = `mig-newer-${backend}`;
    const { newer, older, close } = await tabsFor(backend);
    // The newer tab opens first: on localStorage it leads, so its localStorage is current.
    const id = await newer.evaluate(async ({ backend, name }) => {
      globalThis.newStore = await openV2(backend, name);
      await newStore.clear();
      return (await newStore.create({ lines: [{ sku: "fig", qty: 2 }] })).id;
    }, { backend, name });
    const checks = await older.evaluate(async ({ backend, name, id }) => {
      const { checks, check } = checker();
      globalThis.oldStore = await openV1(backend, name);
      for (const [m, fn] of [["load", () => oldStore.load(id)], ["loadMany", () => oldStore.loadMany([id])], ["get", () => oldStore.get(id, "lines")],
        ["set", () => oldStore.set(id, "k", 1)], ["remove", () => oldStore.remove(id, "lines")]]) {
        const out = await call(fn);
        check(`${m}: CORRUPT naming the id and saying a newer stateVersion wrote it`, newerCorrupt(out, id), out);
      }
      const conflict = await outcome(oldStore.saveIfVersion(id, { items: ["fig"] }, 7));
      check("saveIfVersion checks the version (1) even so", conflict.error?.code === "VERSION_CONFLICT" && conflict.error.actual === 1, conflict);
      check("saveIfVersion on the right version replaces it", (await oldStore.saveIfVersion(id, { items: ["fig", "fig"] }, 1)) === 2);
      const back = await oldStore.load(id);
      check("and the old tab reads its own write", same(back?.state, { items: ["fig", "fig"] }) && back.version === 2, back);
      return checks;
    }, { backend, name, id });

    checks.push(...await newer.evaluate(async ({ backend, name, id }) => {
      const { checks, check } = checker();
      const stored = await rawRecord(backend, name, id);
      check('stored by the old tab: "stateVersion":1, version 2', stored?.stateVersion === 1 && stored.version === 2 && same(stored.state, { items: ["fig", "fig"] }), stored);
      const r = await newStore.load(id);
      check("the newer tab reads it migrated", same(r?.state, { lines: [{ sku: "fig", qty: 1 }, { sku: "fig", qty: 1 }] }) && r.version === 2, r);
      check("and writes it back in shape 2", (await newStore.set(id, "more", true)) === 3 && (await rawRecord(backend, name, id)).stateVersion === 2);
      return checks;
    }, { backend, name, id }));

    checks.push(...await older.evaluate(async ({ id }) => {
      const { checks, check } = checker();
      check("the old tab: CORRUPT again", newerCorrupt(await outcome(oldStore.load(id)), id));
      check("its save replaces it", (await oldStore.save(id, { items: ["kiwi"] })) === 4);
      check("and reads it", same((await oldStore.load(id))?.state, { items: ["kiwi"] }));
      oldStore.close();
      return checks;
    }, { id }));

    checks.push(...await newer.evaluate(async ({ backend, name, id }) => {
      const { checks, check } = checker();
      const stored = await rawRecord(backend, name, id);
      check('stored by the save: "stateVersion":1, version 4', stored?.stateVersion === 1 && stored.version === 4, stored);
      const r = await newStore.load(id);
      check("the newer tab reads it migrated again", same(r?.state, { lines: [{ sku: "kiwi", qty: 1 }] }) && r.version === 4, r);
      await newStore.clear();
      newStore.close();
      return checks;
    }, { backend, name, id }));
    await close();
    report(checks);
  });

  test(`${backend}: a migrate that throws or returns a non-state (a promise, a number, a Date, undefined, null, an array, a function inside): INVALID_INPUT carrying its message on load, loadMany, get, set and remove, and the storage stays byte-identical`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      const name = `mig-fail-${backend}`;
      const a = await openV1(backend, name);
      await a.clear();
      const old = await a.create({ items: ["apple"], note: "as stored" });
      const other = await a.create({ items: ["pear"] });
      a.close();
      const before = await snapshot(backend, name);
      const failing = [
        ["throws an Error", () => { throw new Error("cannot read shape 1: boom-7e2"); }, "boom-7e2"],
        ["throws a TypeError", (s) => s.missing.field, "TypeError"],
        ["returns a promise (async function)", async (s) => ({ lines: s.items })],
        ["returns a resolved promise", (s) => Promise.resolve({ lines: s.items })],
        ["returns a number", () => 42],
        ["returns a Date", () => new Date(0)],
        ["returns undefined", () => undefined],
        ["returns null", () => null],
        ["returns an array", () => [{ sku: "apple" }]],
        ["returns a state with a function inside", (s) => ({ ...s, f() {} })],
      ];
      for (const [label, migrate, says] of failing) {
        const store = await openStore(backend, name, { stateVersion: 2, migrate });
        for (const [m, fn] of [["load", () => store.load(old.id)], ["loadMany", () => store.loadMany([other.id, old.id])], ["get", () => store.get(old.id, "note")],
          ["set", () => store.set(old.id, "k", 1)], ["remove", () => store.remove(old.id, "note")], ["remove of an absent key", () => store.remove(old.id, "absent")]]) {
          const out = await call(fn);
          check(`${label}: ${m}: INVALID_INPUT`, out.error?.name === "StoreError" && out.error.code === "INVALID_INPUT", out);
          check(`${label}: ${m}: the message says migrate failed${says ? ` and carries "${says}"` : ""}`, out.error?.message?.includes("migrate")
            && (!says || out.error.message.includes(says)), out.error?.message);
        }
        check(`${label}: nothing was written`, (await snapshot(backend, name)) === before, await snapshot(backend, name));
        store.close();
      }
      const a2 = await openV1(backend, name);
      check("the old release still reads the record as it was", same(await a2.load(old.id), old));
      await a2.clear();
      a2.close();
      return checks;
    }, backend);
    report(checks);
  });

  test(`${backend}: get, set and remove on an old record: get gives the migrated key's value; set and remove store the migrated state with the change as version + 1; a remove that changes nothing writes nothing; saveIfVersion checks the stored version`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      const name = `mig-rmw-${backend}`;
      const a = await openV1(backend, name);
      await a.clear();
      const old = { items: ["apple", "pear"], coupon: "SPRING" };
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await a.create(old)).id);
      a.close();
      const lines = [{ sku: "apple", qty: 1 }, { sku: "pear", qty: 1 }];
      const b = await openV2(backend, name);

      const before = await snapshot(backend, name);
      check("get: a key the migration made", same(await b.get(ids[0], "lines"), lines));
      check("get: a key the migration kept", (await b.get(ids[0], "coupon")) === "SPRING");
      check("get: a key only the old shape has", (await b.get(ids[0], "items")) === undefined);
      check("get wrote nothing", (await snapshot(backend, name)) === before);

      check("set: version + 1", (await b.set(ids[1], "coupon", "SUMMER")) === 2);
      const set = await rawRecord(backend, name, ids[1]);
      check("set: stored migrated with the change, stateVersion 2", set.stateVersion === 2 && set.version === 2
        && same(set.state, { lines, coupon: "SUMMER" }), set);

      check("remove: version + 1", (await b.remove(ids[2], "coupon")) === 2);
      const removed = await rawRecord(backend, name, ids[2]);
      check("remove: stored migrated without the key, stateVersion 2", removed.stateVersion === 2 && removed.version === 2
        && same(removed.state, { lines }), removed);

      const untouched = await snapshot(backend, name);
      check("remove of an absent key: the version as stored", (await b.remove(ids[3], "absent")) === 1);
      check("remove of a key only the old shape has (absent once migrated): the version as stored", (await b.remove(ids[3], "items")) === 1);
      check("a remove that changes nothing writes nothing", (await snapshot(backend, name)) === untouched);
      check("the record is still stored in shape 1", (await rawRecord(backend, name, ids[3])).stateVersion === 1);

      const conflict = await outcome(b.saveIfVersion(ids[4], { lines: [] }, 2));
      check("saveIfVersion: the check is on the stored version (migration does not change it)", conflict.error?.code === "VERSION_CONFLICT"
        && conflict.error.expected === 2 && conflict.error.actual === 1, conflict);
      check("saveIfVersion on the stored version", (await b.saveIfVersion(ids[4], { lines: [] }, 1)) === 2);
      const cas = await rawRecord(backend, name, ids[4]);
      check("saveIfVersion stored its state with stateVersion 2", cas.stateVersion === 2 && same(cas.state, { lines: [] }), cas);
      check("save over an old record: version + 1, stateVersion 2", (await b.save(ids[3], { lines: [] })) === 2
        && (await rawRecord(backend, name, ids[3])).stateVersion === 2);
      await b.clear();
      b.close();
      return checks;
    }, backend);
    report(checks);
  });

  test(`${backend}: a sliding load of an old record returns it migrated and moves expiresAt in storage, but stores the state and stateVersion as they were; a sliding read that fails writes nothing`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      const name = `mig-sliding-${backend}`;
      let t = 1_000_000;
      const clock = { ttlMs: 10_000, sliding: true, now: () => t };
      const a = await openV1(backend, name, clock);
      await a.clear();
      const old = await a.create({ items: ["apple"] });
      a.close();
      const before = await rawRecord(backend, name, old.id);

      t += 4_000;
      const b = await openV2(backend, name, clock);
      const loaded = await b.load(old.id);
      check("the sliding load: migrated, deadline moved, version kept", same(loaded?.state, { lines: [{ sku: "apple", qty: 1 }] })
        && loaded.expiresAt === t + 10_000 && loaded.version === 1, loaded);
      const after = await rawRecord(backend, name, old.id);
      check("stored: only expiresAt changed (state, stateVersion, version, updatedAt as they were)",
        after?.text === before.text.replace(`"expiresAt":${old.expiresAt},`, `"expiresAt":${t + 10_000},`) && after.stateVersion === 1, { before: before.text, after: after?.text });
      if (backend === "indexeddb") {
        const { values } = await raw.texts(backend, name);
        check("IndexedDB: the value's exp moved too", values[old.id]?.exp === t + 10_000, values[old.id]);
      }
      t += 8_000; // past the deadline it was created with, within the moved one
      check("live past its first deadline: the slide was stored", same((await b.load(old.id))?.state, { lines: [{ sku: "apple", qty: 1 }] }));

      const a2 = await openV1(backend, name, clock);
      check("the old release still reads its own shape: the stored state was never migrated", same((await a2.load(old.id))?.state, { items: ["apple"] }));

      const thrower = await openStore(backend, name, { ...clock, stateVersion: 2, migrate: () => { throw new Error("boom-sliding"); } });
      t += 1_000;
      const unchanged = await snapshot(backend, name);
      const failed = await outcome(thrower.load(old.id));
      check("a sliding load whose migrate throws: INVALID_INPUT with its message", failed.error?.code === "INVALID_INPUT" && failed.error.message.includes("boom-sliding"), failed);
      check("and writes nothing, not even the deadline", (await snapshot(backend, name)) === unchanged);
      thrower.close();

      check("the new release writes it in shape 2", (await b.set(old.id, "x", 1)) === 2);
      t += 1_000;
      const newer = await snapshot(backend, name);
      check("a sliding load by the old release of a newer record: CORRUPT", newerCorrupt(await outcome(a2.load(old.id)), old.id));
      check("and writes nothing, not even the deadline", (await snapshot(backend, name)) === newer);
      await b.clear();
      a2.close();
      b.close();
      return checks;
    }, backend);
    report(checks);
  });

  test(`${backend}, "device" encryption: an old record read by the new release is migrated and nothing is written; the next set stores a "v":3 record with enc and "stateVersion":2`, async () => {
    const checks = await page.evaluate(async ({ backend, marker }) => {
      const { checks, check } = checker();
      const name = `mig-enc-${backend}`;
      const a = await openV1(backend, name, { encryption: "device" });
      await a.clear();
      const old = await a.create({ items: ["apple"], secret: marker });
      a.close();
      const stored = await rawRecord(backend, name, old.id);
      check('stored encrypted: "v":3, enc, no state, "stateVersion":1 in clear, no plaintext', stored?.v === 3 && typeof stored.enc === "string"
        && !("state" in stored) && stored.stateVersion === 1 && raw.leaks(stored.text, marker).length === 0, stored);
      const before = await snapshot(backend, name);

      const b = await openV2(backend, name, { encryption: "device" });
      migrations.length = 0;
      const migrated = { lines: [{ sku: "apple", qty: 1 }], secret: marker };
      const loaded = await b.load(old.id);
      check("load: migrated, same version", same(loaded, { ...old, state: migrated }), loaded);
      check("migrate was given the decrypted state and fromVersion 1", migrations.length >= 1
        && migrations.every((m) => m.from === 1 && same(m.state, old.state)), migrations);
      check("loadMany: migrated", same((await b.loadMany([old.id]))[0], loaded));
      check("get: migrated", same(await b.get(old.id, "lines"), migrated.lines));
      check("the reads wrote nothing", (await snapshot(backend, name)) === before);

      check("set: version + 1", (await b.set(old.id, "coupon", "SPRING")) === 2);
      const written = await rawRecord(backend, name, old.id);
      check('set stored "v":3 with enc, no state, "stateVersion":2, version 2, no plaintext', written?.text.startsWith('{"v":3,') && typeof written.enc === "string"
        && written.enc !== stored.enc && !("state" in written) && written.text.includes('"stateVersion":2') && written.stateVersion === 2
        && written.version === 2 && raw.leaks(written.text, marker).length === 0, written);
      migrations.length = 0;
      const reread = await b.load(old.id);
      check("read back: the migrated state with the change, without migrate", same(reread?.state, { ...migrated, coupon: "SPRING" }) && reread.version === 2
        && migrations.length === 0, reread);
      const a2 = await openV1(backend, name, { encryption: "device" });
      check("the old release: CORRUPT saying a newer stateVersion wrote it", newerCorrupt(await outcome(a2.load(old.id)), old.id));
      check("its save replaces it", (await a2.save(old.id, { items: ["pear"] })) === 3);
      check("which the new release reads migrated", same((await b.load(old.id))?.state, { lines: [{ sku: "pear", qty: 1 }] }));
      await b.clear();
      a2.close();
      b.close();
      return checks;
    }, { backend, marker: MARKER });
    report(checks);
  });

  test(`${backend}, "device" encryption, sliding: a sliding load of an old encrypted record returns it migrated, and stores only the new deadline (still "stateVersion":1, the old shape inside)`, async () => {
    const checks = await page.evaluate(async ({ backend, marker }) => {
      const { checks, check } = checker();
      const name = `mig-enc-sliding-${backend}`;
      let t = 1_000_000;
      const options = { encryption: "device", ttlMs: 10_000, sliding: true, now: () => t };
      const a = await openV1(backend, name, options);
      await a.clear();
      const old = await a.create({ items: ["apple"], secret: marker });
      a.close();
      const before = await rawRecord(backend, name, old.id);

      t += 4_000;
      const b = await openV2(backend, name, options);
      const loaded = await b.load(old.id);
      check("the sliding load: migrated, deadline moved, version kept", same(loaded?.state, { lines: [{ sku: "apple", qty: 1 }], secret: marker })
        && loaded.expiresAt === t + 10_000 && loaded.version === 1, loaded);
      const after = await rawRecord(backend, name, old.id);
      check('stored: "v":3 with enc, "stateVersion":1, version 1, the new deadline, no plaintext', after?.v === 3 && typeof after.enc === "string"
        && !("state" in after) && after.stateVersion === 1 && after.version === 1 && after.updatedAt === before.updatedAt
        && after.expiresAt === t + 10_000 && raw.leaks(after.text, marker).length === 0, { before: before.text, after: after?.text });
      t += 8_000; // past the deadline it was created with
      const a2 = await openV1(backend, name, options);
      check("the old release still reads its own shape: the stored state was never migrated", same((await a2.load(old.id))?.state, old.state));
      await a2.clear();
      a2.close();
      b.close();
      return checks;
    }, { backend, marker: MARKER });
    report(checks);
  });

  test(`${backend}: the change feed: a migrated read emits nothing; the write that stores it emits "saved" with the new version`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      const name = `mig-events-${backend}`;
      let t = 1_000_000;
      const a = await openV1(backend, name, { now: () => t });
      await a.clear();
      const old = await a.create({ items: ["apple"] });
      a.close();
      const b = await openV2(backend, name, { now: () => t });
      const sliding = await openV2(backend, name, { now: () => t, sliding: true });
      const events = [];
      b.subscribe((e) => events.push(["b", e]));
      sliding.subscribe((e) => events.push(["sliding", e]));
      await settle();
      events.length = 0;
      t += 1_000;
      const reads = [(await b.load(old.id))?.state, (await b.loadMany([old.id]))[0]?.state, { lines: await b.get(old.id, "lines") }, (await sliding.load(old.id))?.state];
      check("the reads were migrated", reads.every((state) => same(state, { lines: [{ sku: "apple", qty: 1 }] })), reads);
      check("a remove that changes nothing: the version as stored", (await b.remove(old.id, "absent")) === 1);
      await settle();
      check("migrated reads (and a sliding one, and a remove that changes nothing): no event", events.length === 0, events);
      check("set", (await b.set(old.id, "coupon", "SPRING")) === 2);
      await settle();
      const saved = events.filter(([who]) => who === "b").map(([, e]) => e);
      check('the write: one "saved" event with version 2, local', saved.length === 1 && saved[0].type === "saved" && saved[0].id === old.id
        && saved[0].version === 2 && saved[0].local === true, saved);
      const other = events.filter(([who]) => who === "sliding").map(([, e]) => e);
      // (Two sessionStorage stores of one page do not hear each other: its feed is per instance.)
      if (backend !== "sessionstorage") {
        check("the other store of the page hears the same one, not local", other.length === 1 && other[0].type === "saved" && other[0].version === 2
          && other[0].local === false, other);
      }
      await b.clear();
      b.close();
      sliding.close();
      return checks;
    }, backend);
    report(checks);
  });
}

test("every backend: stateVersion not an integer from 0 to 2^53-1, or migrate not a function: open rejects INVALID_INPUT naming the option", async () => {
  const checks = await page.evaluate(async (backends) => {
    const { checks, check } = checker();
    const bad = [
      ["stateVersion", -1], ["stateVersion", 1.5], ["stateVersion", "2"], ["stateVersion", NaN], ["stateVersion", 2 ** 53],
      ["stateVersion", Infinity], ["stateVersion", true], ["stateVersion", 2n],
      ["migrate", "x"], ["migrate", {}], ["migrate", null], ["migrate", 1], ["migrate", [() => ({})]],
    ];
    for (const backend of backends) {
      for (const [option, value] of bad) {
        const out = await call(() => openStore(backend, `mig-options-${backend}`, { [option]: value }));
        check(`${backend}: ${option} ${String(value)}: INVALID_INPUT naming ${option}`, out.error?.name === "StoreError" && out.error.code === "INVALID_INPUT"
          && out.error.message.includes(option), out);
      }
      for (const options of [{ stateVersion: 0 }, { stateVersion: 2 ** 53 - 1 }, { migrate: upgrade }, { stateVersion: 0, migrate: upgrade }, { stateVersion: 5, migrate: upgrade }]) {
        const out = await call(() => openStore(backend, `mig-options-${backend}`, options));
        check(`${backend}: ${JSON.stringify({ ...options, migrate: options.migrate && "fn" })}: opens`, out.value !== undefined, out);
        out.value?.close();
      }
    }
    return checks;
  }, BACKENDS);
  report(checks);
});

for (const backend of SHARED) {
  for (const lock of ["mig-turns", undefined]) {
    test(`${backend}: rolling upgrade: a stateVersion 1 tab and a stateVersion 2 tab each write one session ${ROUNDS} times${lock ? ", taking turns under a Web Lock" : ", at once"}: versions stay linear, each tab reads its own shape or CORRUPT, nothing is lost`, async () => {
      const name = `mig-rolling-${backend}-${!!lock}`;
      const { pages, id } = await rollingUpgrade(backend, name);
      const [oldTab, newTab] = pages;
      // Both start on a BroadcastChannel message, so that neither is done before the other begins.
      const start = (p, writer) => p.evaluate(({ id, rounds, lock, writer, gate }) => {
        migrations.length = 0;
        const channel = new BroadcastChannel(gate);
        globalThis.storm = new Promise((go) => { channel.onmessage = go; })
          .then(() => (channel.close(), globalThis[writer](store, id, rounds, lock)));
      }, { id, rounds: ROUNDS, lock, writer, gate: `${name}-go` });
      await start(oldTab, "oldTabWrites");
      await start(newTab, "newTabWrites");
      await oldTab.evaluate((gate) => { const c = new BroadcastChannel(gate); c.postMessage("go"); c.close(); }, `${name}-go`);
      const oldLog = await oldTab.evaluate(() => storm, undefined, { timeout: 120_000 });
      const newLog = await newTab.evaluate(() => storm, undefined, { timeout: 120_000 });
      const migrated = await newTab.evaluate(() => migrations.length);
      assert.deepEqual(oldLog.bad, [], "the old tab met nothing unexpected");
      assert.deepEqual(newLog.bad, [], "the new tab met nothing unexpected");
      assert.equal(oldLog.versions.length, ROUNDS);
      assert.equal(newLog.versions.length, ROUNDS);

      const final = await newTab.evaluate((id) => store.load(id), id);
      // Linear: every write got a version of its own, one after another, none lost.
      const versions = [...oldLog.versions, ...newLog.versions].sort((x, y) => x - y);
      assert.deepEqual(versions, Array.from({ length: 2 * ROUNDS }, (_, i) => i + 2), "each write's version, both tabs together");
      assert.equal(final.version, 2 * ROUNDS + 1);
      assert.ok(Array.isArray(final.state.lines) && !("items" in final.state), `the new tab reads shape 2: ${JSON.stringify(final.state)}`);
      assert.equal(final.state.p1, oldLog.mine, "the new tab's writes kept every one of the old tab's");
      const lastByOld = oldLog.versions.includes(final.version);
      const stored = await oldTab.evaluate(({ backend, name, id }) => rawRecord(backend, name, id), { backend, name, id });
      assert.equal(stored.version, final.version);
      assert.equal(stored.stateVersion, lastByOld ? 1 : 2, `stored with the stateVersion of the last writer (${lastByOld ? "old" : "new"} tab)`);
      if (!lastByOld) assert.equal(final.state.p2, newLog.p2, "the new tab's last write is the state read");
      if (lock) {
        assert.ok(oldLog.corrupt > 0, "taking turns, the old tab met the new tab's records");
        assert.ok(migrated > 0, "taking turns, the new tab migrated the old tab's records");
      }

      // The new tab has the last word; the old one cannot read it.
      const v = await newTab.evaluate((id) => store.set(id, "done", true), id);
      assert.equal(v, final.version + 1);
      const oldRead = await oldTab.evaluate((id) => outcome(store.load(id)).then((out) => [newerCorrupt(out, id), out]), id);
      assert.ok(oldRead[0], JSON.stringify(oldRead[1]));
      const last = await newTab.evaluate((id) => store.load(id), id);
      assert.equal(last.state.p1, oldLog.mine);
      assert.equal(last.state.done, true);
      console.log(`# ${backend}${lock ? " (turns)" : ""}: ${2 * ROUNDS} writes, linear; old tab: ${oldLog.corrupt} CORRUPT, ${oldLog.conflicts} conflicts; new tab: ${newLog.conflicts} conflicts, ${migrated} migrate calls`);
      await newTab.evaluate(() => store.close());
      await oldTab.evaluate(async () => { await store.clear(); store.close(); });
      for (const p of pages) await p.close();
    });
  }
}
