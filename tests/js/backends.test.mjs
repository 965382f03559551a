// Every backend through the built package in Chromium: round trip, persistence across a
// reload, "auto" selection and fallback, and a dedicated worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "../../scripts/browser.mjs";

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

/** Runs `fn(arg)` in the page with the package initialised as `globalThis.wss`. */
async function run(page, fn, arg) {
  await page.evaluate(async () => {
    if (!globalThis.wss) {
      globalThis.wss = await import("wasm-session-store");
      await globalThis.wss.default();
    }
  });
  return page.evaluate(fn, arg);
}

for (const backend of ["indexeddb", "localstorage", "sessionstorage", "memory"]) {
  test(`${backend}: round trip, then ${backend === "memory" ? "gone" : "still there"} after a reload`, async () => {
    const page = await browser.page();
    const name = `reload-${backend}`;
    const first = await run(page, async ({ backend, name }) => {
      const store = await wss.SessionStore.open({ backend, name });
      const r = await store.create({ user: "ada", nested: { list: [1, "two", null, { "ü": true }] } });
      const v = await store.set(r.id, "cart", ["apple"]);
      const loaded = await store.load(r.id);
      store.close();
      return { backend: store.backend, reason: store.fallbackReason, id: r.id, v, loaded };
    }, { backend, name });
    assert.equal(first.backend, backend);
    assert.equal(first.reason, null);
    assert.equal(first.v, 2);
    assert.deepEqual(first.loaded.state, { user: "ada", nested: { list: [1, "two", null, { "ü": true }] }, cart: ["apple"] });

    await page.reload();
    const again = await run(page, async ({ backend, name, id }) => {
      const store = await wss.SessionStore.open({ backend, name });
      return store.load(id);
    }, { backend, name, id: first.id });
    if (backend === "memory") assert.equal(again, null);
    else assert.deepEqual(again, first.loaded);
    await page.close();
  });
}

test("auto picks IndexedDB in a window, with no fallback reason", async () => {
  const page = await browser.page();
  const out = await run(page, async () => {
    const store = await wss.SessionStore.open();
    return [store.backend, store.fallbackReason, store.name];
  });
  assert.deepEqual(out, ["indexeddb", null, "sessions"]);
  await page.close();
});

test("auto falls back to localStorage, then memory, and says why", async () => {
  const page = await browser.context.newPage();
  await page.addInitScript(() => {
    Object.defineProperty(globalThis, "indexedDB", {
      get() { throw new DOMException("IndexedDB is disabled by policy", "SecurityError"); },
    });
    if (location.search === "?nols") {
      Object.defineProperty(globalThis, "localStorage", {
        get() { throw new DOMException("storage is disabled", "SecurityError"); },
      });
    }
  });
  await page.goto(browser.url + "t/test.html");
  const ls = await run(page, async () => {
    const store = await wss.SessionStore.open({ name: "fallback" });
    const explicit = await wss.SessionStore.open({ backend: "indexeddb" }).catch((e) => e.code);
    return [store.backend, store.fallbackReason, explicit];
  });
  assert.equal(ls[0], "localstorage");
  assert.match(ls[1], /IndexedDB.*SecurityError.*disabled by policy/);
  assert.equal(ls[2], "UNAVAILABLE");

  await page.goto(browser.url + "t/test.html?nols");
  const mem = await run(page, async () => {
    const store = await wss.SessionStore.open({ name: "fallback" });
    const r = await store.create({ a: 1 });
    return [store.backend, store.fallbackReason, (await store.load(r.id)).state];
  });
  assert.equal(mem[0], "memory");
  assert.match(mem[1], /localStorage unavailable.*memory only/);
  assert.deepEqual(mem[2], { a: 1 });
  await page.close();
});

test("a dedicated worker uses IndexedDB; the Storage backends are UNAVAILABLE there", async () => {
  const page = await browser.page();
  const out = await page.evaluate(() => new Promise((resolve, reject) => {
    const worker = new Worker("/t/test-worker.js", { type: "module" });
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({ name: "in-worker" });
  }));
  assert.equal(out.autoBackend, "indexeddb");
  assert.equal(out.fallbackReason, null);
  assert.deepEqual(out.loaded.state, { from: "worker", n: 1 });
  assert.equal(out.local.code, "UNAVAILABLE");
  assert.match(out.local.message, /localStorage/);
  assert.equal(out.session.code, "UNAVAILABLE");
  assert.equal(out.memory, "memory");
  // The window sees what the worker wrote: same origin, same database.
  const seen = await run(page, async (id) => {
    const store = await wss.SessionStore.open({ name: "in-worker" });
    return store.load(id);
  }, out.loaded.id);
  assert.deepEqual(seen, out.loaded);
  await page.close();
});
