// The change feed and the background sweep across pages of one browser context (tabs of one
// origin): events reach other tabs with `local: false`, the sweeper runs in one tab at a time
// and hands over when that tab closes, and sliding expiry holds across tabs. Time is the
// injected clock of each page (`globalThis.now`); the only real waiting is the sweep timer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "../../scripts/browser.mjs";

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

/** A page with the store open as `store`, its events collected in `events`. */
async function openPage(options) {
  const page = await browser.page();
  await page.evaluate(async (options) => {
    const wss = await import("wasm-session-store");
    await wss.default();
    globalThis.now = 1_700_000_000_000;
    globalThis.store = await wss.SessionStore.open({ ...options, now: () => globalThis.now });
    globalThis.events = [];
    globalThis.off = store.subscribe((e) => events.push(e));
  }, options);
  return page;
}

const until = async (page, fn, arg, timeout = 10_000) =>
  page.waitForFunction(fn, arg, { timeout, polling: 20 });

for (const backend of ["indexeddb", "localstorage"]) {
  test(`${backend}: every kind of change in page A reaches page B's subscriber, local: false`, async () => {
    const options = { backend, name: `feed-${backend}`, sweepIntervalMs: null };
    const a = await openPage(options);
    const b = await openPage(options);
    await a.evaluate(async () => {
      await store.clear();
      const r = await store.create({ n: 1 }, { id: "feed-1" });
      await store.saveIfVersion(r.id, { n: 2 }, 1);
      await store.set(r.id, "k", true);
      await store.updateTtl(r.id, 5000);
      await store.changeId(r.id, "feed-2");
      await store.delete("feed-2");
      await store.clear();
    });
    const expected = [
      { type: "cleared" },
      { type: "created", id: "feed-1", version: 1 },
      { type: "saved", id: "feed-1", version: 2 },
      { type: "saved", id: "feed-1", version: 3 },
      { type: "ttlUpdated", id: "feed-1", version: 3 },
      { type: "idChanged", id: "feed-1", newId: "feed-2", version: 3 },
      { type: "deleted", id: "feed-2", version: 3 },
      { type: "cleared" },
    ];
    await until(b, (n) => events.length >= n, expected.length);
    const seenByA = await a.evaluate(() => events);
    const seenByB = await b.evaluate(() => events);
    assert.deepEqual(seenByA, expected.map((e) => ({ ...e, local: true })), "A hears its own changes as local");
    assert.deepEqual(seenByB, expected.map((e) => ({ ...e, local: false })), "B hears them as remote, in order");
    // And the other way round; A reads what the event announced.
    await b.evaluate(() => store.create({ from: "B" }, { id: "feed-3" }));
    await until(a, () => events.some((e) => e.id === "feed-3" && !e.local));
    assert.equal(await a.evaluate(async () => (await store.load("feed-3")).version), 1);
    await a.close();
    await b.close();
  });
}

test("subscribe: asynchronous, in order, unsubscribes, a throwing listener spoils nothing, CLOSED after close", async () => {
  const page = await openPage({ backend: "memory" });
  const out = await page.evaluate(async () => {
    const seen = [];
    const errors = [];
    self.addEventListener("error", (e) => { errors.push(e.error?.message); e.preventDefault(); });
    const offThrowing = store.subscribe(() => { throw new Error("listener bug"); });
    const off = store.subscribe((e) => seen.push(`${e.type}:${e.version}`));
    const pending = store.create({}, { id: "s-1" });
    const syncBeforeWrite = seen.length;
    await pending;
    await store.save("s-1", { a: 1 });
    await store.remove("s-1", "absent"); // changes nothing: no event
    await new Promise((r) => setTimeout(r, 0));
    off();
    off(); // idempotent
    offThrowing();
    await store.set("s-1", "k", 1);
    await new Promise((r) => setTimeout(r, 0));
    let notAFunction;
    try { store.subscribe("nope"); } catch (e) { notAFunction = e.code; }
    store.close();
    let closed;
    try { store.subscribe(() => {}); } catch (e) { closed = [e.name, e.code]; }
    return { seen, syncBeforeWrite, errors, notAFunction, closed };
  });
  assert.equal(out.syncBeforeWrite, 0, "nothing is delivered synchronously");
  assert.deepEqual(out.seen, ["created:1", "saved:2"]);
  assert.deepEqual(out.errors, ["listener bug", "listener bug"], "reported, not swallowed");
  assert.equal(out.notAFunction, "INVALID_INPUT");
  assert.deepEqual(out.closed, ["StoreError", "CLOSED"]);
  await page.close();
});

for (const backend of ["indexeddb", "localstorage"]) {
  test(`${backend}: with the sweeper on in 3 pages, one sweeps, each expiry is reported once, and closing it hands over`, async () => {
    const options = { backend, name: `sweep-${backend}`, ttlMs: 1000, sweepIntervalMs: 50 };
    const pages = [];
    for (let i = 0; i < 3; i++) pages.push(await openPage(options));
    const [first] = pages;
    await first.evaluate(() => store.clear());
    await until(pages[2], () => events.some((e) => e.type === "cleared"));
    for (const p of pages) await p.evaluate(() => { events.length = 0; });

    /** Creates `n` sessions, moves every page's clock past their deadline, waits until they are gone. */
    const round = async (creator, tag, n, alive) => {
      const ids = await creator.evaluate(async ({ tag, n }) => {
        const ids = [];
        for (let i = 0; i < n; i++) ids.push((await store.create({ i }, { id: `${tag}-${i}` })).id);
        return ids;
      }, { tag, n });
      for (const p of alive) await p.evaluate(() => { globalThis.now += 2000; });
      await until(creator, async () => (await store.ids()).length === 0);
      for (const p of alive) await until(p, (n) => events.filter((e) => e.type === "expired").length >= n, n);
      // A few more sweep periods: nothing more may be reported.
      await new Promise((r) => setTimeout(r, 300));
      const seen = [];
      for (const p of alive) {
        seen.push(await p.evaluate(() => {
          const expired = events.filter((e) => e.type === "expired");
          events.length = 0;
          return expired;
        }));
      }
      return { ids, seen };
    };

    const check = ({ ids, seen }) => {
      let sweeper = -1;
      seen.forEach((expired, i) => {
        assert.deepEqual(expired.map((e) => e.id).sort(), [...ids].sort(), `page ${i} hears each expiry once`);
        assert.ok(expired.every((e) => e.version === 1));
        const local = expired.filter((e) => e.local).length;
        assert.ok(local === 0 || local === ids.length, `page ${i}: all or none of the sweeping`);
        if (local) {
          assert.equal(sweeper, -1, "only one page sweeps");
          sweeper = i;
        }
      });
      assert.notEqual(sweeper, -1, "some page swept");
      return sweeper;
    };

    const sweeper = check(await round(first, "r1", 20, pages));
    await pages[sweeper].close();
    const alive = pages.filter((_, i) => i !== sweeper);
    const next = check(await round(alive[0], "r2", 20, alive));
    assert.ok(next >= 0, "another page took over the sweep");
    for (const p of alive) await p.close();
  });
}

test("sliding expiry holds across tabs: a touch in one tab extends the session for all", async () => {
  const options = { backend: "indexeddb", name: "sliding-tabs", ttlMs: 1000, sliding: true, sweepIntervalMs: null };
  const a = await openPage(options);
  const b = await openPage(options);
  const id = await a.evaluate(async () => { await store.clear(); return (await store.create({}, { id: "slide" })).id; });
  // 900 ms later (by both clocks), A touches the session.
  for (const p of [a, b]) await p.evaluate(() => { globalThis.now += 900; });
  const touched = await a.evaluate(async (id) => (await store.load(id)).expiresAt, id);
  // Past the original deadline, B still sees it, with A's deadline.
  for (const p of [a, b]) await p.evaluate(() => { globalThis.now += 500; });
  const inB = await b.evaluate(async (id) => store.load(id), id);
  assert.equal(touched, 1_700_000_000_000 + 900 + 1000);
  assert.ok(inB, "still alive in B");
  assert.equal(inB.expiresAt, 1_700_000_000_000 + 1400 + 1000, "B's own touch slid it again from there");
  await a.close();
  await b.close();
});

test("only shared data has a feed: memory stores of one name in two tabs, or IndexedDB and localStorage stores of one name, hear nothing of each other", async () => {
  const memoryA = await openPage({ backend: "memory", name: "unshared", sweepIntervalMs: null });
  const memoryB = await openPage({ backend: "memory", name: "unshared", sweepIntervalMs: null });
  const idb = await openPage({ backend: "indexeddb", name: "unshared", sweepIntervalMs: null });
  const ls = await openPage({ backend: "localstorage", name: "unshared", sweepIntervalMs: null });
  await memoryA.evaluate(() => store.create({}, { id: "mem" }));
  await idb.evaluate(async () => { await store.clear(); await store.create({}, { id: "idb" }); });
  // A marker that must arrive: a second localStorage page hears the localStorage page.
  const ls2 = await openPage({ backend: "localstorage", name: "unshared", sweepIntervalMs: null });
  await ls.evaluate(async () => { await store.clear(); await store.create({}, { id: "ls" }); });
  await until(ls2, () => events.some((e) => e.id === "ls" && !e.local));
  await until(idb, () => events.some((e) => e.id === "idb"));
  const heard = async (p) => p.evaluate(() => events.map((e) => `${e.type}:${e.id ?? ""}:${e.local}`));
  assert.deepEqual(await heard(memoryB), [], "memory B hears nothing of memory A");
  assert.deepEqual(await heard(idb), ["cleared::true", "created:idb:true"], "IndexedDB hears nothing of localStorage");
  assert.ok((await heard(ls)).every((e) => e.endsWith(":true")), "localStorage hears nothing of IndexedDB");
  for (const p of [memoryA, memoryB, idb, ls, ls2]) await p.close();
});
