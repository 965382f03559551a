// Client sync: who flushes, and how much. On memory and on Redis: two tabs and a worker of one
// device flushing at once (with Web Locks, and with none: the documented fallback) push no
// change twice; a tab closed mid-flush loses nothing and nothing applies twice; 1,000 dirty
// sessions are flushed with one request each and pulled by another device. Then once: the
// client cross-origin, straight to wss-server (CORS), and the sync option's validation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBrowser } from "./helpers.mjs";
import { Device, ENGINE, STORAGES, concurrentPerSession, forwarded, quiet, show, soft, storeName, syncEnv, token, until, withDevices } from "./sync-helpers.mjs";
import { startServer } from "../../scripts/sync-test-servers.mjs";

const it = useBrowser();
const DOWN = () => true;

/** `ids` -> the forwarded PUTs of each, for "pushed once" checks. */
function putsById(log, name) {
  const out = {};
  for (const e of forwarded(log).filter((e) => e.store === name && e.method === "PUT")) (out[e.id] ??= []).push(e);
  return out;
}

/** The most of `entries` open at one time (by their arrival and answer times). */
function overlap(entries) {
  const points = entries.flatMap((e) => [[e.at, 1], [e.doneAt ?? e.at, -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let most = 0;
  for (const [, d] of points) most = Math.max(most, (open += d));
  return most;
}

for (const storage of STORAGES) {
  // IndexedDB with a worker, with and without Web Locks; localStorage (its leader tab does the
  // writes; workers have no localStorage) with two tabs.
  for (const [backend, locks] of [["indexeddb", true], ["indexeddb", false], ["localstorage", true]]) {
    const worker = backend === "indexeddb";
    test(`${storage}: two tabs${worker ? " and a worker" : ""} flushing at once (${backend}${locks ? "" : ", without Web Locks"}): no change pushed twice`, async () => {
      await withDevices(it, storage, locks ? `flush-${backend.slice(0, 3)}` : "nolock", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
        const c = soft();
        const query = locks ? "" : "?without=locks";
        const t1 = await A.tab({ query });
        const t2 = await A.tab({ query });
        const down = A.proxy.rule(DOWN, "down");
        await t1.openStore({ backend, name });
        await t2.openStore({ backend, name });
        if (worker) await t1.evaluate((o) => { startWorker(); return toWorker("open", o); }, { ...t1.options, withoutLocks: !locks });
        const lockless = await t1.evaluate(() => !navigator.locks);
        assert.equal(lockless, !locks, "Web Locks as the case says");
        const ids = Array.from({ length: 24 }, (_, i) => `w${i}`);
        await t1.evaluate((ids) => store.saveMany(ids.map((id) => ({ id, state: { id, by: "tab 1" } }))), ids);
        await t2.evaluate((ids) => Promise.all(ids.slice(0, 8).map((id) => store.set(id, "by", "tab 2"))), ids);
        // The worker edits through its own store (the same IndexedDB); without one, tab 2.
        if (worker) await t1.evaluate((ids) => Promise.all(ids.slice(16).map((id) => toWorker("set", { id, key: "by", value: "worker" }))), ids);
        else await t2.evaluate((ids) => Promise.all(ids.slice(16).map((id) => store.set(id, "by", "worker"))), ids);
        await until(() => t2.status().then((s) => s.pending === 24), { what: "24 pending" });
        down.remove();
        A.proxy.rule({ method: "PUT" }, { delay: 60 });
        const from = A.proxy.log.length;
        await t1.evaluate((worker) => { globalThis.flushes = [settle(store.syncNow()), worker ? toWorker("syncNow") : settle(store.syncNow())]; }, worker);
        await t2.evaluate(() => { globalThis.flushes = [settle(store.syncNow())]; });
        const results = [...await t1.evaluate(() => Promise.all(flushes), undefined, { timeout: 120_000 }), ...await t2.evaluate(() => Promise.all(flushes), undefined, { timeout: 120_000 })];
        c.eq(results.filter((r) => !r.value).map((r) => JSON.stringify(r)), [], "syncNow calls that did not resolve (tab 1, worker, tab 2)");
        await until(() => t1.status().then((s) => s.pending === 0), { timeout: 30_000, what: "pending 0" });
        await quiet(A.proxy);
        const puts = putsById(A.proxy.log.slice(from), name);
        const twice = Object.entries(puts).filter(([, l]) => l.length > 1)
          .map(([id, l]) => `${id}: ${l.length} PUTs (${l.map((e) => e.upstream).join(", ")}; ${new Set(l.map((e) => e.idempotencyKey)).size} Idempotency-Key(s))`);
        c.eq(twice, [], "sessions pushed more than once");
        c.eq(concurrentPerSession(A.proxy.log), [], "writes of one session in flight at once");
        c.eq(Object.keys(puts).sort(), [...ids].sort(), "sessions pushed");
        c.eq(forwarded(A.proxy.log).filter((e) => e.upstream === 412).length, 0, "412s from the server");
        const all = await server.all(name);
        c.eq(Object.values(all).filter((r) => r.version !== 1).map((r) => `${r.id} v${r.version}`), [], "server versions other than 1");
        const by = (i) => (i < 8 ? "tab 2" : i >= 16 ? "worker" : "tab 1");
        c.eq(ids.filter((id, i) => all[id]?.state.by !== by(i)), [], "sessions whose last state is not on the server");
        const flushing = forwarded(A.proxy.log.slice(from)).filter((e) => e.method === "PUT");
        c.ok(overlap(flushing) <= 6, `PUTs in flight at once: ${overlap(flushing)} (at most 6)`);
        const pushed = results.reduce((n, r) => n + (r.value?.pushed ?? 0), 0);
        console.log(`# ${ENGINE} ${storage} ${backend}${locks ? "" : " without locks"}: tab 1, ${worker ? "the worker" : "tab 1 again"} and tab 2 pushed ${results.map((r) => r.value?.pushed).join(" + ")} = ${pushed} of 24`);
        if (worker) await t1.evaluate(() => toWorker("close"));
        c.done();
      });
    });
  }

  test(`${storage}: a service worker flushes what a page queued`, async () => {
    await withDevices(it, storage, "sw", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
      const c = soft();
      const t = await A.tab();
      await t.openStore({ backend: "indexeddb", name, offline: true });
      const ids = ["v1", "v2", "v3", "v4", "v5"];
      await t.evaluate((ids) => store.saveMany(ids.map((id) => ({ id, state: { id, from: "page" } }))), ids);
      await t.evaluate(() => startServiceWorker(), undefined, { timeout: 60_000 });
      try {
        await t.evaluate((o) => toServiceWorker("open", o), { ...t.options, offline: false });
        const r = await t.evaluate(() => toServiceWorker("syncNow"), undefined, { timeout: 60_000 });
        c.ok(r.value, `the service worker's syncNow (${JSON.stringify(r)})`);
        const all = await server.all(name);
        c.eq(Object.fromEntries(Object.entries(all).map(([id, x]) => [id, x.state.from])), Object.fromEntries(ids.map((id) => [id, "page"])), "sessions on the server");
        const puts = putsById(A.proxy.log, name);
        c.eq(Object.values(puts).filter((l) => l.length !== 1).length, 0, "sessions pushed more than once");
        c.eq((await t.status()).pending, 0, "the page's pending");
        await t.evaluate(() => toServiceWorker("close"));
      } finally {
        await t.evaluate(() => serviceWorkerRegistration.unregister());
      }
      c.done();
    });
  });

  test(`${storage}: a tab closed mid-flush: the other tab finishes; nothing lost, nothing applied twice`, async () => {
    await withDevices(it, storage, "closed", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
      const c = soft();
      const t1 = await A.tab();
      const t2 = await A.tab();
      const down = A.proxy.rule(DOWN, "down");
      await t1.openStore({ backend: "indexeddb", name });
      await t2.openStore({ backend: "indexeddb", name });
      const ids = Array.from({ length: 20 }, (_, i) => `t${i}`);
      await t1.evaluate((ids) => store.saveMany(ids.map((id) => ({ id, state: { id } }))), ids);
      await until(() => t2.status().then((s) => s.pending === 20), { what: "20 pending" });
      down.remove();
      A.proxy.rule({ method: "PUT" }, { delay: 400 });
      await t1.evaluate(() => { globalThis.flush = settle(store.syncNow()); });
      await until(() => A.proxy.entries({ method: "PUT" }).filter((e) => e.action === "delay").length >= 3, { what: "t1's PUTs in flight" });
      const inFlight = A.proxy.entries((e) => e.method === "PUT" && e.action === "delay" && e.doneAt === undefined).map((e) => e.id);
      await t1.close();
      console.log(`# ${ENGINE} ${storage}: tab 1 closed with ${inFlight.length} PUTs in flight (${inFlight.join(", ")})`);
      c.ok(inFlight.length > 0, "PUTs in flight when tab 1 closed");
      await until(async () => (await t2.syncNow()).value?.pending === 0, { timeout: 30_000, interval: 200, what: "t2's syncNow leaving nothing pending" });
      await quiet(A.proxy);
      const all = await server.all(name);
      c.eq(Object.keys(all).sort(), [...ids].sort(), `sessions on the server (in flight at the close: ${inFlight.join(", ")})`);
      c.eq(Object.values(all).filter((r) => r.version !== 1).map((r) => `${r.id} v${r.version}`), [], "server versions other than 1");
      const puts = putsById(A.proxy.log, name);
      c.eq(Object.entries(puts).filter(([, l]) => new Set(l.map((e) => e.idempotencyKey)).size > 1).map(([id]) => id), [], "sessions whose retries changed Idempotency-Key");
      c.eq(forwarded(A.proxy.log).filter((e) => e.upstream === 412).length, 0, `412s from the server\n${show(A.proxy.log.filter((e) => e.forwarded))}`);
      c.eq((await t2.events((e) => e.type === "conflict")).length, 0, "conflict events in the other tab");
      c.done();
    });
  });

  test(`${storage}: 1,000 dirty sessions flushed with one request each, and pulled by another device`, async () => {
    await withDevices(it, storage, "k", [{ origin: 1 }, { origin: 2 }], async ({ name, devices: [A, B], server }) => {
      const c = soft();
      const a = await A.tab();
      await a.openStore({ backend: "indexeddb", name, offline: true });
      await a.evaluate(() => store.saveMany(Array.from({ length: 1000 }, (_, i) => ({ id: `k${i}`, state: { i, pad: "p".repeat(100) } }))));
      assert.equal((await a.status()).pending, 1000);
      let started = Date.now();
      const r = await a.syncNow({ timeout: 240_000 });
      const pushMs = Date.now() - started;
      c.eq(r, { value: { pushed: 1000, pulled: 0, conflicts: 0, pending: 0 } }, "syncNow of 1,000 sessions");
      const puts = putsById(A.proxy.log, name);
      c.eq([Object.keys(puts).length, Object.values(puts).filter((l) => l.length !== 1).length], [1000, 0], "[sessions pushed, sessions pushed more than once]");
      const requests = A.proxy.log.length;
      c.ok(requests <= 1002, `requests for 1,000 sessions: ${requests} (1,000 PUTs and the pull)`);
      c.ok(A.proxy.maxInFlight <= 6, `requests in flight at once: ${A.proxy.maxInFlight} (at most 6)`);
      const list = await server.request("GET", `/v1/stores/${name}/changes`);
      c.eq(list.json?.changes.length, 1000, "sessions the server lists");

      const b = await B.tab();
      await b.openStore({ backend: "memory", name, offline: true });
      started = Date.now();
      const p = await b.syncNow({ timeout: 240_000 });
      const pullMs = Date.now() - started;
      c.eq(p, { value: { pushed: 0, pulled: 1000, conflicts: 0, pending: 0 } }, "B's pull of 1,000 sessions");
      c.eq(await b.evaluate(() => store.ids().then((ids) => ids.length)), 1000, "B's sessions");
      c.eq((await b.evaluate(() => store.load("k999")))?.state.i, 999, "k999 on B");
      const gets = B.proxy.entries({ method: "GET", kind: "session" }).length;
      c.ok(gets === 1000, `B's GETs of sessions: ${gets}`);
      console.log(`# ${ENGINE} ${storage}: 1,000 sessions pushed in ${pushMs} ms (${requests} requests, at most ${A.proxy.maxInFlight} at once); pulled in ${pullMs} ms (${B.proxy.log.length} requests)`);
      c.done();
    });
  });
}

test("cross-origin, straight to wss-server (CORS): preflights, the ETag of a 200 and of a 412 read, Authorization allowed; an origin the server does not allow gets UNAVAILABLE and keeps its queue", async () => {
  const storage = STORAGES[0];
  await withDevices(it, storage, "cors", [{ origin: 1 }, { origin: 2 }, { origin: 1, server: "jwt" }], async ({ env, name, devices: [A, B, J], server }) => {
    const c = soft();
    const a = await A.tab();
    assert.notEqual(new URL(A.direct).origin, env.origin1, "the server is another origin");
    await a.openStore({ backend: "indexeddb", name, url: A.direct, conflict: "client", offline: true });
    await a.evaluate(() => store.create({ n: 1 }, { id: "x1" }));
    c.eq((await a.syncNow()).value?.pushed, 1, "the create, cross-origin");
    await a.evaluate(() => store.set("x1", "n", 2));
    c.eq((await a.syncNow()).value?.pushed, 1, "the update over the ETag it read (If-Match: a preflight)");
    const now = await server.get(name, "x1");
    c.eq([now.json?.state.n, now.json?.version], [2, 2], "x1 on the server");
    // Another device writes; A's next push gets a 412, whose ETag it needs for "client".
    assert.equal((await server.put(name, "x1", { state: { n: 20 } }, { "if-match": now.etag })).status, 200);
    await a.evaluate(() => store.set("x1", "n", 3));
    const r = await a.syncNow();
    c.eq([r.value?.conflicts, r.value?.pending], [1, 0], `the conflict, cross-origin (${JSON.stringify(r)})`);
    const after = await server.get(name, "x1");
    c.eq([after.json?.state.n, after.json?.version], [3, 4], "x1 on the server after \"client\" won");
    const b = await B.tab();
    await b.openStore({ backend: "memory", name, url: B.direct, offline: true });
    c.eq((await b.syncNow()).value?.pulled, 1, "B's pull, from another origin");
    c.eq((await b.evaluate(() => store.load("x1")))?.state.n, 3, "x1 on B");
    // With auth: Authorization through the preflight.
    const j = await J.tab();
    await j.openStore({ backend: "memory", name, url: J.direct, headers: "token", token: token("carol"), offline: true });
    await j.evaluate(() => store.create({ owner: "carol" }, { id: "j1" }));
    c.eq((await j.syncNow()).value?.pushed, 1, "a push with Authorization, cross-origin");
    // A server that does not allow this origin.
    const closed = await startServer({});
    try {
      const n2 = storeName("nocors");
      await a.evaluate(() => store.close());
      await a.openStore({ backend: "indexeddb", name: n2, url: closed.url, offline: true });
      await a.evaluate(() => store.create({ n: 1 }, { id: "y1" }));
      const refused = await a.syncNow();
      c.eq(refused.error?.code, "UNAVAILABLE", "syncNow to a server that does not allow the origin");
      c.eq((await a.status()).pending, 1, "pending after it");
      c.eq((await a.evaluate(() => store.load("y1")))?.state, { n: 1 }, "y1 kept");
    } finally {
      await closed.stop();
    }
    c.done();
  });
});

test("the sync option is checked like every option (INVALID_INPUT, nothing opened); syncNow and syncStatus need it", async () => {
  const env = await syncEnv(it);
  const page = await it.browser.page(`${env.origin1}/t/test.html`);
  try {
    const checks = await page.evaluate(async () => {
      const { globals, checker } = await import("/t/checks.js");
      await globals();
      const { goOffline } = await import("/t/sync.js");
      goOffline(); // no pass may start by itself from a store that these checks open
      const { checks, check } = checker();
      const { SessionStore } = wss;
      const url = "http://127.0.0.1:9";
      const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
      const refused = {
        "sync: 1": { sync: 1 },
        "sync: a string": { sync: url },
        "sync: null": { sync: null },
        "sync: an array": { sync: [url] },
        "sync: a function": { sync: () => ({ url }) },
        "no url": { sync: {} },
        "url: a number": { sync: { url: 8787 } },
        "url: relative": { sync: { url: "/api" } },
        "url: no scheme": { sync: { url: "api.example.com" } },
        "url: ftp": { sync: { url: "ftp://example.com" } },
        "url: ws": { sync: { url: "ws://127.0.0.1:8787" } },
        "url: not a URL": { sync: { url: "http://" } },
        "url: empty": { sync: { url: "" } },
        "an unknown key": { sync: { url, retries: 3 } },
        "intervalMs: 0": { sync: { url, intervalMs: 0 } },
        "intervalMs: -1": { sync: { url, intervalMs: -1 } },
        "intervalMs: 1.5": { sync: { url, intervalMs: 1.5 } },
        'intervalMs: "10"': { sync: { url, intervalMs: "10" } },
        "intervalMs: NaN": { sync: { url, intervalMs: NaN } },
        "intervalMs: Infinity": { sync: { url, intervalMs: Infinity } },
        "intervalMs: 2^53": { sync: { url, intervalMs: 2 ** 53 } },
        'conflict: "merge"': { sync: { url, conflict: "merge" } },
        "conflict: 1": { sync: { url, conflict: 1 } },
        "conflict: null": { sync: { url, conflict: null } },
        "conflict: an object": { sync: { url, conflict: { policy: "server" } } },
        "headers: an object": { sync: { url, headers: { Authorization: "Bearer x" } } },
        "headers: a string": { sync: { url, headers: "Bearer x" } },
        'encryption: "device" with sync': { encryption: "device", sync: { url } },
        'name "." with sync': { name: ".", sync: { url } },
        'name ".." with sync': { name: "..", sync: { url } },
      };
      for (const [what, options] of Object.entries(refused)) {
        for (const backend of ["memory", "indexeddb"]) {
          const out = await call(() => SessionStore.open({ backend, name: "sync-options", ...options }));
          if (out.value) out.value.close();
          check(`${backend}, ${what}: INVALID_INPUT`, out.error?.code === "INVALID_INPUT" && out.error.name === "StoreError" && out.error.isError, JSON.stringify(out.error ?? out.threw ?? "opened"));
        }
      }
      const accepted = {
        "a URL": { sync: { url } },
        "an https URL with a path": { sync: { url: "https://api.example.com/base" } },
        "every option": { sync: { url, headers: () => ({}), intervalMs: 1, conflict: "client" } },
        "intervalMs: null": { sync: { url, intervalMs: null } },
        "intervalMs: undefined": { sync: { url, intervalMs: undefined } },
        "a conflict function": { sync: { url, conflict: (local, remote) => remote?.state ?? local.state } },
        'conflict: "server"': { sync: { url, conflict: "server" } },
        "an async headers()": { sync: { url, headers: async () => ({ Authorization: "Bearer x" }) } },
        "{ key } with sync": { encryption: { key }, sync: { url } },
        'name "." without sync': { name: "." },
      };
      for (const [what, options] of Object.entries(accepted)) {
        const out = await call(() => SessionStore.open({ backend: "memory", name: "sync-ok", ...options }));
        check(`${what}: opens`, out.value, JSON.stringify(out.error ?? out.threw));
        out.value?.close();
      }
      // A synced store's status before anything happened.
      const synced = await SessionStore.open({ backend: "memory", name: "sync-status", sync: { url, intervalMs: null } });
      const status = await outcome(synced.syncStatus());
      check("syncStatus of a new synced store", same(status.value, { pending: 0, lastSyncAt: null, lastError: null }), JSON.stringify(status));
      await synced.create({ n: 1 });
      check("syncStatus pending after a write", (await synced.syncStatus()).pending === 1, "");
      synced.close();
      for (const m of ["syncNow", "syncStatus"]) {
        const closed = await call(() => synced[m]());
        check(`${m} after close: CLOSED`, closed.error?.code === "CLOSED", JSON.stringify(closed));
      }
      // Without sync.
      for (const backend of ["memory", "indexeddb", "localstorage", "sessionstorage"]) {
        const plain = await SessionStore.open({ backend, name: "sync-none" });
        for (const m of ["syncNow", "syncStatus"]) {
          const out = await call(() => plain[m]());
          check(`${backend} without sync: ${m} INVALID_INPUT`, out.error?.code === "INVALID_INPUT" && out.error.name === "StoreError", JSON.stringify(out));
        }
        plain.close();
        for (const m of ["syncNow", "syncStatus"]) {
          const out = await call(() => plain[m]());
          check(`${backend} without sync, closed: ${m} CLOSED`, out.error?.code === "CLOSED", JSON.stringify(out));
        }
      }
      return checks;
    });
    const failed = checks.filter(([, ok]) => !ok);
    assert.deepEqual(failed, [], `${ENGINE}: failed checks:\n${failed.map((x) => JSON.stringify(x)).join("\n")}`);
    assert.ok(checks.length > 60);
  } finally {
    await page.close();
  }
});
