// Faults that need more than one page: a page closed in the middle of a burst of writes, and
// compare-and-swap from pages and a worker at once. (Quota, corrupt records, blocked upgrades
// and IndexedDB being unavailable are in api.test.mjs and backends.test.mjs; RELIABILITY.md
// lists them all.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "../../scripts/browser.mjs";

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

const SESSIONS = 10;
const ROUNDS = 4;

for (const backend of ["indexeddb", "localstorage"]) {
  test(`${backend}: a page closed mid-burst leaves every record whole, and versions never go backwards`, async () => {
    const name = `burst-${backend}`;
    const acked = {}; // id -> the highest version a save resolved with
    const seen = {}; // id -> the version the last reopen read
    let acks = 0, checked = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const writer = await browser.page();
      let enough;
      const reached = new Promise((resolve) => { enough = resolve; });
      const target = acks + 15 + 10 * round; // close at a different point each round
      await writer.exposeFunction("acked", (id, version) => {
        acked[id] = Math.max(acked[id] ?? 0, version);
        if (++acks >= target) enough();
      });
      await writer.evaluate(async ({ backend, name, sessions }) => {
        const wss = await import("wasm-session-store");
        await wss.default();
        const store = await wss.SessionStore.open({ backend, name, ttlMs: null, sweepIntervalMs: null });
        // Every session written over and over, all at once; each state says which version it
        // is, three times over, so a torn or mixed record shows.
        for (let i = 0; i < sessions; i++) {
          (async () => {
            for (;;) {
              const id = `s${i}`;
              const next = ((await store.load(id))?.version ?? 0) + 1;
              const version = await store.save(id, { n: next, copy: next, pad: `${"x".repeat(4000)}${next}` });
              globalThis.acked(id, version);
            }
          })().catch(() => {}); // the page closing ends it
        }
      }, { backend, name, sessions: SESSIONS });
      await reached;
      await writer.close();

      const reader = await browser.page();
      const records = await reader.evaluate(async ({ backend, name, sessions }) => {
        const wss = await import("wasm-session-store");
        await wss.default();
        const store = await wss.SessionStore.open({ backend, name, ttlMs: null, sweepIntervalMs: null });
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
    console.log(`# ${backend}: ${ROUNDS} pages closed mid-burst after ${acks} acknowledged saves; ${checked} records checked whole, none behind`);
  });
}

test("indexeddb: 2 pages and a worker x 50 CAS increments end at exactly 150", async () => {
  const name = "storm-pages-worker";
  const pages = [await browser.page(), await browser.page()];
  const id = await pages[0].evaluate(async (name) => {
    const wss = await import("wasm-session-store");
    await wss.default();
    const store = await wss.SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
    const r = await store.create({ n: 0 });
    store.close();
    return r.id;
  }, name);
  const inPage = (page) => page.evaluate(async ({ name, id }) => {
    const wss = await import("wasm-session-store");
    await wss.default();
    const { increment } = await import("/t/increments.js");
    const store = await wss.SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
    const result = await increment(store, id, 50);
    store.close();
    return result;
  }, { name, id });
  const inWorker = pages[1].evaluate(({ name, id }) => new Promise((resolve, reject) => {
    const worker = new Worker("/t/storm-worker.js", { type: "module" });
    worker.onmessage = (e) => { worker.terminate(); resolve(e.data); };
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({ name, id, rounds: 50 });
  }), { name, id });
  const results = await Promise.all([inPage(pages[0]), inPage(pages[1]), inWorker]);
  const final = await pages[0].evaluate(async ({ name, id }) => {
    const wss = await import("wasm-session-store");
    const store = await wss.SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
    return store.load(id);
  }, { name, id });
  assert.equal(final.state.n, 150, JSON.stringify(results));
  assert.equal(final.version, 151);
  console.log(`# 150/150 from 2 pages and a worker, ${results.reduce((s, r) => s + r.conflicts, 0)} conflicts retried`);
  for (const p of pages) await p.close();
});

test("a 10 MiB state round-trips or is QUOTA_EXCEEDED with the old record intact, on every backend; __proto__ and constructor work as ids", async () => {
  const page = await browser.page();
  const out = await page.evaluate(async () => {
    const wss = await import("wasm-session-store");
    await wss.default();
    const rows = [];
    for (const backend of ["indexeddb", "localstorage", "sessionstorage", "memory"]) {
      const store = await wss.SessionStore.open({ backend, name: `big-${backend}`, sweepIntervalMs: null });
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
        outcome = v === 2 && back.version === 2 && back.state.blob.length === big.blob.length && back.state.blob === big.blob ? "round-trip" : "WRONG";
      } catch (e) {
        const back = await store.load(old.id);
        outcome = e.code === "QUOTA_EXCEEDED" && back.version === 1 && back.state.keep === "me" ? "QUOTA_EXCEEDED, old intact" : `WRONG: ${e.code} ${JSON.stringify(back).slice(0, 80)}`;
      }
      rows.push({ backend, outcome, ids });
      await store.clear();
      store.close();
    }
    return rows;
  });
  for (const { backend, outcome, ids } of out) {
    assert.ok(!outcome.startsWith("WRONG"), `${backend}: ${outcome}`);
    assert.deepEqual(ids, [true, true], `${backend}: __proto__ / constructor ids`);
    console.log(`# ${backend}: 10 MiB state: ${outcome}`);
  }
  await page.close();
});
