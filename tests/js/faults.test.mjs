// Faults that need more than one page, in each engine (WSS_ENGINE): a page closed in the middle
// of a burst of writes, compare-and-swap from pages and a worker at once, a state too big for
// some backends, and the same store in a service worker. (Web Storage quota, corrupt records,
// blocked upgrades and IndexedDB being unavailable are in api.test.mjs and backends.test.mjs;
// IndexedDB's quota, which only Chromium's DevTools protocol can set, in
// chromium/quota.test.mjs; RELIABILITY.md lists them all.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBrowser, ENGINE, checkStorm } from "./helpers.mjs";

const it = useBrowser();

const SESSIONS = 10;
const ROUNDS = 4;

for (const backend of ["indexeddb", "localstorage"]) {
  test(`${backend}: a page closed mid-burst leaves every record whole, and versions never go backwards`, async () => {
    const name = `burst-${backend}`;
    const acked = {}; // id -> the highest version a save resolved with
    const seen = {}; // id -> the version the last reopen read
    let acks = 0, checked = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const writer = await it.browser.page();
      await writer.evaluate(async ({ backend, name, sessions }) => {
        const { wss } = await import("/t/checks.js");
        const store = await (await wss()).SessionStore.open({ backend, name, ttlMs: null, sweepIntervalMs: null });
        // Every session written over and over, all at once; each state says which version it
        // is, three times over, so a torn or mixed record shows. Every acknowledged version,
        // and every error, is kept for the test to read.
        // (Each loop gives the event loop a turn per write: on localStorage a write completes
        // in microtasks alone, and ten loops that never yield would starve the page, so the
        // test could not read it, as a loop of setItem calls would.)
        globalThis.burst = { acked: {}, acks: 0, errors: [] };
        for (let i = 0; i < sessions; i++) {
          (async () => {
            for (;;) {
              await new Promise((r) => setTimeout(r, 0));
              const id = `s${i}`;
              const next = ((await store.load(id))?.version ?? 0) + 1;
              const version = await store.save(id, { n: next, copy: next, pad: `${"x".repeat(4000)}${next}` });
              burst.acked[id] = Math.max(burst.acked[id] ?? 0, version);
              burst.acks++;
            }
          })().catch((e) => burst.errors.push(`${e.code}: ${e.message}`));
        }
      }, { backend, name, sessions: SESSIONS });
      const target = 15 + 10 * round; // close at a different point each round
      await writer.waitFor((n) => burst.acks >= n, target, { timeout: 30_000 });
      // What was acknowledged until now (the writes after this read and before the close are
      // not checked against), and no write failed.
      const state = await writer.evaluate(() => burst);
      await writer.close();
      assert.deepEqual(state.errors, [], "a write of the burst failed");
      for (const [id, version] of Object.entries(state.acked)) acked[id] = Math.max(acked[id] ?? 0, version);
      acks += state.acks;

      const reader = await it.browser.page();
      const records = await reader.evaluate(async ({ backend, name, sessions }) => {
        const { wss } = await import("/t/checks.js");
        const store = await (await wss()).SessionStore.open({ backend, name, ttlMs: null, sweepIntervalMs: null });
        const ids = Array.from({ length: sessions }, (_, i) => `s${i}`);
        const out = await store.loadMany(ids);
        store.close();
        return out;
      }, { backend, name, sessions: SESSIONS });
      await reader.close();
      for (const [i, r] of records.entries()) {
        const id = `s${i}`;
        if (!r) {
          assert.equal(acked[id], undefined, `${id}: acknowledged v${acked[id]}, then gone`);
          continue;
        }
        const { n, copy, pad } = r.state;
        assert.ok(n === copy && pad === `${"x".repeat(4000)}${n}` && r.version === n, `${id}: torn: ${JSON.stringify({ version: r.version, n, copy, padEnd: pad?.slice(4000) })}`);
        assert.ok(r.version >= (acked[id] ?? 0), `${id}: v${r.version} after v${acked[id]} was acknowledged`);
        assert.ok(r.version >= (seen[id] ?? 0), `${id}: v${r.version} after v${seen[id]} was read`);
        seen[id] = r.version;
        checked++;
      }
    }
    assert.ok(checked >= ROUNDS, "records were read back");
    console.log(`# ${backend}: ${ROUNDS} pages closed mid-burst after ${acks} acknowledged saves; ${checked} records checked whole, none behind`);
  });
}

test("indexeddb: 2 pages and a worker x 50 CAS increments end at exactly 150", async () => {
  const name = "storm-pages-worker";
  const pages = [await it.browser.page(), await it.browser.page()];
  const id = await pages[0].evaluate(async (name) => {
    const { wss } = await import("/t/checks.js");
    const store = await (await wss()).SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
    await store.clear();
    const r = await store.create({ n: 0 });
    store.close();
    return r.id;
  }, name);
  // Each page opens its store, and page 1 starts a worker too; all three start their part on
  // one BroadcastChannel "go", once each is ready.
  const gate = `${name}-go`;
  for (const page of pages) {
    await page.evaluate(async ({ name, id, gate }) => {
      const { wss } = await import("/t/checks.js");
      const increments = await import("/t/increments.js");
      const go = increments.gate(gate);
      const store = await (await wss()).SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
      globalThis.part = go.then(async () => {
        const result = await increments.increment(store, id, 50);
        store.close();
        return result;
      });
    }, { name, id, gate });
  }
  await pages[1].evaluate(({ name, id, gate }) => new Promise((ready, reject) => {
    globalThis.workerPart = new Promise((resolve, fail) => {
      const worker = new Worker("/t/storm-worker.js", { type: "module" });
      worker.onmessage = (e) => {
        if (e.data.ready) return ready();
        worker.terminate();
        resolve(e.data);
      };
      worker.onerror = (e) => { const error = new Error(`worker: ${e.message}`); fail(error); reject(error); };
      worker.postMessage({ name, id, rounds: 50, gate });
    });
  }), { name, id, gate });
  await pages[0].evaluate(async (gate) => (await import("/t/increments.js")).go(gate), gate);
  const results = [
    await pages[0].evaluate(() => part, undefined, { timeout: 120_000 }),
    await pages[1].evaluate(() => part, undefined, { timeout: 120_000 }),
    await pages[1].evaluate(() => workerPart, undefined, { timeout: 120_000 }),
  ];
  const final = await pages[0].evaluate(async ({ name, id }) => {
    const { wss } = await import("/t/checks.js");
    const store = await (await wss()).SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
    const record = await store.load(id);
    store.close();
    return record;
  }, { name, id });
  assert.deepEqual(results.map((r) => r.done), [50, 50, 50]);
  assert.equal(final.state.n, 150, JSON.stringify(results));
  assert.equal(final.version, 151);
  const conflicts = checkStorm(results);
  console.log(`# 150/150 from 2 pages and a worker, ${conflicts} conflicts retried`);
  for (const p of pages) await p.close();
});

test("a 10 MiB state: round-trips on IndexedDB and memory, QUOTA_EXCEEDED with the old record intact on localStorage and sessionStorage (5 MiB or less in every engine); __proto__ and constructor work as ids", async () => {
  const page = await it.browser.page();
  const rows = await page.evaluate(async () => {
    const { wss } = await import("/t/checks.js");
    const { SessionStore } = await wss();
    const rows = {};
    for (const backend of ["indexeddb", "localstorage", "sessionstorage", "memory"]) {
      const store = await SessionStore.open({ backend, name: `big-${backend}`, sweepIntervalMs: null });
      await store.clear();
      const ids = [];
      for (const id of ["__proto__", "constructor"]) {
        const r = await store.create({ id }, { id });
        ids.push(r.id === id && (await store.load(id)).state.id === id && Object.getPrototypeOf({}) === Object.prototype && ({}).id === undefined);
      }
      const old = await store.create({ keep: "me" });
      const big = { blob: "y".repeat(10 * 1024 * 1024) };
      let outcome;
      try {
        const v = await store.save(old.id, big);
        const back = await store.load(old.id);
        outcome = v === 2 && back.version === 2 && back.state.blob === big.blob ? "round-trip" : "WRONG: the record read back differs";
      } catch (e) {
        const back = await store.load(old.id);
        outcome = back.version === 1 && back.state.keep === "me" ? `${e.code}, old intact` : `WRONG: ${e.code}, and the old record is ${JSON.stringify(back).slice(0, 80)}`;
      }
      rows[backend] = { outcome, ids };
      await store.clear();
      store.close();
    }
    return rows;
  }, undefined, { timeout: 120_000 });
  assert.deepEqual(rows, {
    indexeddb: { outcome: "round-trip", ids: [true, true] },
    localstorage: { outcome: "QUOTA_EXCEEDED, old intact", ids: [true, true] },
    sessionstorage: { outcome: "QUOTA_EXCEEDED, old intact", ids: [true, true] },
    memory: { outcome: "round-trip", ids: [true, true] },
  });
  await page.close();
});

test("a service worker: IndexedDB (auto) and memory work there, and what it writes a page reads", async () => {
  const page = await it.browser.page();
  const out = await page.evaluate(async () => {
    // A module service worker (tests/pages/sw-test.js) imports the package like any module
    // and answers one message with what it did.
    const registration = await navigator.serviceWorker.register("/t/sw-test.js", { type: "module", scope: "/t/sw-scope/" });
    const worker = registration.installing ?? registration.waiting ?? registration.active;
    if (worker.state !== "activated") {
      await new Promise((resolve, reject) => worker.addEventListener("statechange", () => {
        if (worker.state === "activated") resolve();
        if (worker.state === "redundant") reject(new Error("the service worker failed to install"));
      }));
    }
    const reply = await new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (e) => resolve(e.data);
      worker.postMessage({ name: "in-service-worker" }, [channel.port2]);
    });
    await registration.unregister();
    const { wss } = await import("/t/checks.js");
    const store = await (await wss()).SessionStore.open({ name: "in-service-worker" });
    const seen = reply.loaded ? await store.load(reply.loaded.id) : null;
    store.close();
    return { reply, seen };
  }, undefined, { timeout: 60_000 });
  assert.equal(out.reply.error, undefined, out.reply.error);
  assert.equal(out.reply.autoBackend, "indexeddb", `${ENGINE}: auto in a service worker`);
  assert.equal(out.reply.fallbackReason, null);
  assert.deepEqual(out.reply.loaded.state, { from: "service worker", n: 1 });
  assert.equal(out.reply.local.code, "UNAVAILABLE");
  assert.equal(out.reply.memory, "memory");
  assert.deepEqual(out.seen, out.reply.loaded, "the page reads what the service worker wrote");
  await page.close();
});
