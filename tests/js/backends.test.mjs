// Every backend through the built package: round trip, persistence across a reload, "auto"
// selection and fallback, and a dedicated worker. In each engine (WSS_ENGINE).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect } from "node:net";
import { networkInterfaces } from "node:os";
import { useBrowser, ENGINE } from "./helpers.mjs";

const it = useBrowser();

for (const backend of ["indexeddb", "localstorage", "sessionstorage", "memory"]) {
  test(`${backend}: round trip, then ${backend === "memory" ? "gone" : "still there"} after a reload`, async () => {
    const page = await it.browser.page();
    const name = `reload-${backend}`;
    const first = await page.evaluate(async ({ backend, name }) => {
      const { wss } = await import("/t/checks.js");
      const { SessionStore } = await wss();
      const store = await SessionStore.open({ backend, name });
      await store.clear();
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
    const again = await page.evaluate(async ({ backend, name, id }) => {
      const { wss } = await import("/t/checks.js");
      const store = await (await wss()).SessionStore.open({ backend, name });
      const record = await store.load(id);
      store.close();
      return record;
    }, { backend, name, id: first.id });
    if (backend === "memory") assert.equal(again, null);
    else assert.deepEqual(again, first.loaded);
    await page.close();
  });
}

test("auto picks IndexedDB in a window, with no fallback reason", async () => {
  const page = await it.browser.page();
  const out = await page.evaluate(async () => {
    const { wss } = await import("/t/checks.js");
    const store = await (await wss()).SessionStore.open();
    store.close();
    return [store.backend, store.fallbackReason, store.name];
  });
  assert.deepEqual(out, ["indexeddb", null, "sessions"]);
  await page.close();
});

test("auto falls back to localStorage, then memory, and says why", async () => {
  // The page's harness makes `indexedDB` (then `localStorage` too) throw SecurityError, as a
  // policy or a private mode does.
  const page = await it.browser.page("t/test.html?without=indexedDB");
  const ls = await page.evaluate(async () => {
    const { wss } = await import("/t/checks.js");
    const { SessionStore } = await wss();
    const store = await SessionStore.open({ name: "fallback" });
    const explicit = await SessionStore.open({ backend: "indexeddb" }).catch((e) => e);
    store.close();
    const cause = explicit.cause;
    return [store.backend, store.fallbackReason, explicit.code,
      { isDOMException: cause instanceof DOMException, name: cause?.name, message: cause?.message }];
  });
  assert.equal(ls[0], "localstorage");
  assert.match(ls[1], /IndexedDB.*SecurityError.*disabled by policy/);
  assert.equal(ls[2], "UNAVAILABLE");
  // The exception the browser threw is the error's cause (a DOMException, name and message kept).
  assert.deepEqual(ls[3], { isDOMException: true, name: "SecurityError", message: ls[3].message });
  assert.match(ls[3].message, /disabled by policy/);

  await page.goto("t/test.html?without=indexedDB,localStorage");
  const mem = await page.evaluate(async () => {
    const { wss } = await import("/t/checks.js");
    const { SessionStore } = await wss();
    const store = await SessionStore.open({ name: "fallback" });
    const r = await store.create({ a: 1 });
    return [store.backend, store.fallbackReason, (await store.load(r.id)).state];
  });
  assert.equal(mem[0], "memory");
  assert.match(mem[1], /localStorage unavailable.*memory only/);
  assert.deepEqual(mem[2], { a: 1 });
  await page.close();
});

test("a dedicated worker uses IndexedDB; the Storage backends are UNAVAILABLE there", async () => {
  const page = await it.browser.page();
  const out = await page.evaluate(() => new Promise((resolve, reject) => {
    const worker = new Worker("/t/test-worker.js", { type: "module" });
    worker.onmessage = (e) => { worker.terminate(); resolve(e.data); };
    worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
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
  const seen = await page.evaluate(async (id) => {
    const { wss } = await import("/t/checks.js");
    const store = await (await wss()).SessionStore.open({ name: "in-worker" });
    const record = await store.load(id);
    store.close();
    return record;
  }, out.loaded.id);
  assert.deepEqual(seen, out.loaded);
  await page.close();
});

// The README (Encryption): `"device"` keeps its key in IndexedDB for every backend, so where
// IndexedDB is not available the first write rejects UNAVAILABLE and writes nothing (the open
// makes no key: it resolves); a memory store keeps its key in memory. On sessionStorage the
// first write opens the keys database before it names the tab's key in sessionStorage.
const deviceWithoutIndexedDb = (backends) => async () => {
  const page = await it.browser.page("t/test.html?without=indexedDB");
  const out = await page.evaluate(async (backends) => {
    const { wss } = await import("/t/checks.js");
    const { SessionStore } = await wss();
    const out = {};
    for (const backend of backends) {
      const storage = { localstorage: localStorage, sessionstorage: sessionStorage }[backend];
      const before = storage && JSON.stringify(Object.entries(storage).sort());
      out[backend] = await SessionStore.open({ backend, name: "device-no-idb", encryption: "device" }).then(
        async (store) => {
          try {
            const r = await store.create({ n: 1 });
            return `opened, read ${(await store.load(r.id)).state.n}`;
          } catch (e) {
            return `opened, then ${e.code}: ${e.message}`;
          } finally {
            store.close();
          }
        },
        (e) => `${e.code}: ${e.message}`,
      );
      if (storage) out[backend] += JSON.stringify(Object.entries(storage).sort()) === before ? "; storage unchanged" : "; storage changed";
    }
    return out;
  }, backends);
  await page.close();
  for (const backend of backends) {
    if (backend === "memory") assert.equal(out.memory, "opened, read 1");
    else assert.match(out[backend], /^opened, then UNAVAILABLE: .*IndexedDB.*; storage unchanged$/, backend);
  }
};
test('encryption: "device" without IndexedDB: on localStorage the first write rejects UNAVAILABLE, nothing written; memory works', deviceWithoutIndexedDb(["localstorage", "memory"]));
test('encryption: "device" without IndexedDB: on sessionStorage the first write rejects UNAVAILABLE, nothing written', deviceWithoutIndexedDb(["sessionstorage"]));

// The README (Encryption): WebCrypto exists only in secure contexts (https, or http on
// localhost); elsewhere `open` with encryption rejects UNAVAILABLE. The test server is on
// 127.0.0.1 (a secure context); this page reaches it through this machine's own non-loopback
// address, over plain http: an insecure context.
test("encryption in an insecure context (http, not localhost): UNAVAILABLE; without encryption the store works", async (t) => {
  const address = Object.values(networkInterfaces()).flat().find((i) => i.family === "IPv4" && !i.internal)?.address;
  if (!address) return t.skip("this machine has no non-loopback IPv4 address to make an insecure context with");
  const sockets = new Set();
  const upstream = new URL(it.browser.url);
  const proxy = createServer((client) => {
    const server = connect(Number(upstream.port), upstream.hostname);
    for (const s of [client, server]) { sockets.add(s); s.on("error", () => { client.destroy(); server.destroy(); }); }
    client.pipe(server).pipe(client);
  });
  await new Promise((ok) => proxy.listen(0, address, ok));
  try {
    const page = await it.browser.page(`http://${address}:${proxy.address().port}/t/test.html`);
    const out = await page.evaluate(async () => {
      const { wss } = await import("/t/checks.js");
      const { SessionStore } = await wss();
      const out = { isSecureContext, subtle: typeof crypto.subtle };
      for (const backend of ["indexeddb", "localstorage", "memory"]) {
        out[backend] = await SessionStore.open({ backend, name: "insecure", encryption: "device" }).then(
          (store) => (store.close(), "opened"), (e) => `${e.code}: ${e.message}`);
      }
      const plain = await SessionStore.open({ backend: "indexeddb", name: "insecure" });
      const r = await plain.create({ n: 1 });
      out.plain = (await plain.load(r.id)).state.n;
      await plain.clear();
      plain.close();
      return out;
    });
    assert.equal(out.isSecureContext, false, `http://${address} is not a secure context`);
    assert.equal(out.subtle, "undefined", "no WebCrypto there");
    for (const backend of ["indexeddb", "localstorage", "memory"]) {
      assert.match(out[backend], /^UNAVAILABLE: /, backend);
    }
    assert.equal(out.plain, 1);
    await page.close();
  } finally {
    proxy.close();
    for (const s of sockets) s.destroy();
  }
});

test("navigator.storage.persist(), as the README's Engines table says: Chromium answers at once (and persisted() then agrees), Firefox waits for the user, WebKitGTK has no navigator.storage (the store never calls it)", async () => {
  const page = await it.browser.page();
  const out = await page.evaluate(async () => {
    if (!navigator.storage) return "no navigator.storage";
    // Firefox asks the user, and the promise waits for an answer nobody gives here.
    const pending = new Promise((resolve) => setTimeout(() => resolve("pending: asks the user"), 2000));
    const persisted = await navigator.storage.persisted();
    const answer = await Promise.race([navigator.storage.persist(), pending]);
    return `persisted ${persisted}, persist() ${answer}, then persisted ${await navigator.storage.persisted()}`;
  });
  // Chromium decides at once by its own heuristics (site engagement, installation), so which
  // answer depends on the profile's history (false in a fresh one was seen, true after use):
  // pinned is that it answers without asking, never takes back a persisted origin, and that
  // persisted() then says what persist() answered.
  const expected = {
    chromium: /^persisted (?:false, persist\(\) (true|false)|true, persist\(\) (true)), then persisted \1\2$/,
    firefox: /^persisted false, persist\(\) pending: asks the user, then persisted false$/,
    webkit: /^no navigator\.storage$/,
  };
  console.log(`# ${ENGINE}: ${out}`);
  assert.match(out, expected[ENGINE]);
  await page.close();
});
