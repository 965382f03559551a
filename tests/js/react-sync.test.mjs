// `useSyncStatus` of `wasm-session-store/react` in real React 19, in each engine (WSS_ENGINE),
// against the real sync server (target/server/wss-server: `bash scripts/build-server.sh`):
// what it renders, that it follows what a pass changes with no event (a push that empties the
// queue, a pull that moves lastSyncAt, a failure cleared), other tabs' writes, failures (the
// server unreachable, a session refused), bursts of events, unmounting and a store without sync.
//
// The page (tests/pages/react-sync.js) is bundled by `before` with esbuild: React's development
// builds (its warnings), the hooks' file as it ships, and /pkg/ left as served. The server allows
// the page's origin (CORS), reached straight or through `cut`, a proxy whose connections can be
// refused: the device's network going down and up. WSS_REACT_DIR, as in react.test.mjs, tests
// another react/ directory (e.g. a hook without its polling, to see these tests fail).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { ENGINE, useBrowser } from "./helpers.mjs";
import { serve } from "../../scripts/serve.mjs";
import { startSyncServer } from "../../scripts/sync-server.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const hooks = process.env.WSS_REACT_DIR ? resolve(process.env.WSS_REACT_DIR) : join(repo, "react");

const it = useBrowser();
let work, pages, sync, cut;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "wss-react-sync-"));
  await build({
    entryPoints: [join(repo, "tests/pages/react-sync.js")], outdir: work, bundle: true, format: "esm",
    nodePaths: [join(repo, "node_modules")], define: { "process.env.NODE_ENV": '"development"' }, logLevel: "error",
    plugins: [{
      name: "package",
      setup(b) {
        b.onResolve({ filter: /^wasm-session-store$/ }, () => ({ path: "/pkg/wasm_session_store.js", external: true }));
        b.onResolve({ filter: /^wasm-session-store\/react$/ }, () => ({ path: join(hooks, "index.js") }));
      },
    }],
  });
  const pkg = process.env.WSS_PKG_DIR ? { "/pkg/": resolve(process.env.WSS_PKG_DIR) } : {};
  pages = await serve({ mounts: { "/t/": join(repo, "tests", "pages"), "/rs/": work, ...pkg } });
  sync = await startSyncServer({ args: ["--insecure-dev", "--allow-origin", pages.url.replace(/\/$/, "")] });
  cut = await cuttable(sync.url);
  await it.ready();
});

after(async () => {
  await cut?.close();
  await sync?.stop();
  await pages?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * A proxy to `target` on a port of its own: `down = true` refuses every request (its connection
 * closed, as when the network is gone: a fetch fails), `down = false` forwards them again.
 */
async function cuttable(target) {
  const to = new URL(target);
  const proxy = { down: false };
  const server = createServer((req, res) => {
    if (proxy.down) return req.socket.destroy();
    const out = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  proxy.url = `http://127.0.0.1:${server.address().port}`;
  proxy.close = () => new Promise((ok) => {
    server.close(ok);
    server.closeAllConnections();
  });
  return proxy;
}

let stores = 0;
/** A store name that no other test of this file uses (on the server, all are owner "dev"'s). */
const fresh = (what) => `rs-${what}-${process.pid}-${++stores}`;

/** A window on the blank test page with the bundle loaded as `rs` and the package initialised. */
async function openPage() {
  const page = await it.browser.page(`${pages.url}t/test.html`);
  await page.evaluate(() => import("/rs/react-sync.js").then((m) => (globalThis.rs = m).ready));
  return page;
}

/** Closes `page` and its `store` if it has one, failing if React logged errors or warnings. */
async function closePage(page) {
  const logged = await page.evaluate(() => (globalThis.store?.close(), rs.logged));
  await page.close();
  assert.deepEqual(logged, [], "React logged nothing");
}

/**
 * A window (see openPage) with `globalThis.store` open: IndexedDB, `name`, syncing to `url`
 * (default the server) and pulling every `intervalMs` (null: only in syncNow), its clock `skewMs`
 * behind the page's. Without pulls of its own, it waits for the pass that opening starts: until
 * two reads of the status 300 ms apart agree.
 */
async function storePage({ url = sync.url, name, intervalMs = null, skewMs = 0 }) {
  const page = await openPage();
  await page.evaluate(async ({ url, name, intervalMs, skewMs }) => {
    const now = () => Date.now() - skewMs;
    globalThis.store = await rs.SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null, now, sync: { url, intervalMs } });
    await store.syncNow();
    for (let last; intervalMs === null; ) {
      const status = JSON.stringify(await store.syncStatus());
      if (status === last) break;
      last = status;
      await rs.sleep(300);
    }
  }, { url, name, intervalMs, skewMs });
  return page;
}

test("react/index.js exports useSyncStatus; its size (gzip -9, as react.test.mjs measures) stays within 1,000 B", () => {
  const source = readFileSync(join(hooks, "index.js"));
  const gzipped = gzipSync(source, { level: 9 }).length;
  console.log(`# react/index.js with useSyncStatus: ${source.length} B, ${gzipped} B gzipped`);
  assert.ok(gzipped <= 1000, `react/index.js is ${gzipped} B gzipped, over its budget of 1,000 B`);
  assert.match(source.toString(), /^export const useSyncStatus = /m);
  assert.match(readFileSync(join(hooks, "index.d.ts"), "utf8"), /^export function useSyncStatus\(store: SessionStore \| null \| undefined\): SyncStatus \| undefined;$/m);
});

test("undefined on the first render, then the status as syncStatus() gives it; no store: undefined, nothing read or subscribed; StrictMode: the same", async () => {
  const page = await storePage({ name: fresh("first") });
  const out = await page.evaluate(async () => {
    const result = {};
    for (const strict of [false, true]) {
      const w = rs.counted(store);
      const m = rs.mount(w, { strict });
      const first = m.values.slice();
      await rs.until(() => m.value);
      const idle = rs.counted(store);
      const none = [rs.mount(null), rs.mount(undefined)];
      // Nothing changes (no pulls, no writes): the reads that follow render nothing.
      await rs.sleep(100);
      const [renders, reads] = [m.values.length, w.reads.length];
      await rs.sleep(700);
      result[strict ? "strict" : "plain"] = {
        first, value: m.value, status: await store.syncStatus(), active: w.active,
        quiet: { reads: w.reads.length - reads, renders: m.values.length - renders },
        none: none.map((n) => n.values), idle: { reads: idle.reads.length, subscribed: idle.subscribed },
      };
      for (const probe of [m, ...none]) probe.unmount();
      result[strict ? "strict" : "plain"].after = w.active;
    }
    return result;
  });
  for (const mode of ["plain", "strict"]) {
    const o = out[mode];
    assert.deepEqual(o.first.slice(0, 1), [undefined], `${mode}: the first render is undefined`);
    assert.deepEqual(o.value, o.status, `${mode}: then syncStatus()'s value`);
    assert.ok(o.quiet.reads >= 2, `${mode}: read again meanwhile (${o.quiet.reads} times)`);
    assert.equal(o.quiet.renders, 0, `${mode}: reads of an unchanged status render nothing`);
    assert.equal(o.value.pending, 0);
    assert.equal(typeof o.value.lastSyncAt, "number", `${mode}: the pass of syncNow() completed`);
    assert.equal(o.value.lastError, null);
    assert.deepEqual(o.none, [[undefined], [undefined]], `${mode}: no store: undefined, and no render after`);
    assert.deepEqual(o.idle, { reads: 0, subscribed: 0 });
    assert.equal(o.active, 1, `${mode}: one subscription`);
    assert.equal(o.after, 0, `${mode}: none after unmount`);
  }
  await closePage(page);
});

test("a write shows pending 1, then the push that empties the queue (no event of its own) shows pending 0 and a later lastSyncAt", async () => {
  const page = await storePage({ name: fresh("push") });
  const out = await page.evaluate(async () => {
    const m = await rs.mounted(store);
    const seen = rs.events(store);
    const writes = [];
    let last = m.value.lastSyncAt;
    for (let i = 0; i < 5; i++) {
      const from = m.values.length;
      const started = performance.now();
      await store.save("s", { n: i });
      await rs.until(() => m.value.pending === 0 && m.value.lastSyncAt > last, 10_000);
      last = m.value.lastSyncAt;
      writes.push({ ms: Math.round(performance.now() - started), shown: m.values.slice(from).map((v) => v.pending) });
    }
    seen.off();
    m.unmount();
    return { writes, types: seen.map((e) => e.type), status: await store.syncStatus() };
  });
  console.log(`# ${ENGINE}: a write's push shown as pending 0 after ${out.writes.map((w) => w.ms).join(", ")} ms`);
  assert.deepEqual(out.types, ["created", "saved", "saved", "saved", "saved"], "the writes' events, and none for the pushes");
  for (const { shown } of out.writes) {
    assert.ok([[1, 0], [0]].some((s) => JSON.stringify(s) === JSON.stringify(shown)), `pending 1 (if read before the push), then 0, each once: ${shown}`);
  }
  assert.equal(out.status.pending, 0);
  await closePage(page);
});

test("the network down: writes show pending 2 and lastError UNAVAILABLE; back up, the pass that `online` starts empties the queue and clears lastError with no event, and the hook follows", async () => {
  const page = await storePage({ url: cut.url, name: fresh("offline") });
  cut.down = true;
  try {
    await page.evaluate(async () => {
      globalThis.m = await rs.mounted(store);
      await store.create({ a: 1 }, { id: "a" });
      await store.create({ b: 1 }, { id: "b" });
      await rs.until(() => m.value.pending === 2 && m.value.lastError?.code === "UNAVAILABLE", 10_000);
    });
  } finally {
    cut.down = false;
  }
  const out = await page.evaluate(async () => {
    const seen = rs.events(store);
    const from = m.values.length;
    const started = performance.now();
    dispatchEvent(new Event("online"));
    await rs.until(() => m.value.pending === 0 && m.value.lastError === null, 15_000);
    const ms = Math.round(performance.now() - started);
    seen.off();
    m.unmount();
    return { ms, shown: m.values.slice(from), types: seen.map((e) => e.type), status: await store.syncStatus() };
  });
  console.log(`# ${ENGINE}: back online, the emptied queue shown after ${out.ms} ms`);
  assert.deepEqual(out.types, [], "no event while the queue emptied");
  assert.deepEqual(out.shown.at(-1), out.status, "the hook shows what syncStatus() says");
  assert.ok(out.shown.at(-1).lastSyncAt > 0);
  assert.ok(out.ms < 5000, `shown within the hook's longest wait between reads, 3.2 s (and slack): ${out.ms} ms`);
  await closePage(page);
});

test("another tab's writes (the network down, then up in that tab): this tab's hook shows pending 1, the failure, then the queue emptied by the other tab's pass", async () => {
  const name = fresh("tabs");
  const a = await storePage({ url: cut.url, name });
  const b = await openPage();
  await b.evaluate(async ({ url, name }) => {
    globalThis.store = await rs.SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null, sync: { url, intervalMs: null } });
  }, { url: cut.url, name });
  await a.evaluate(async () => {
    globalThis.m = await rs.mounted(store);
    globalThis.seen = rs.events(store);
  });
  cut.down = true;
  try {
    await b.evaluate(() => store.create({ from: "b" }, { id: "x" }));
    await a.waitFor(() => m.value.pending === 1 && m.value.lastError?.code === "UNAVAILABLE", undefined, { timeout: 10_000 });
  } finally {
    cut.down = false;
  }
  await b.evaluate(() => dispatchEvent(new Event("online")));
  await a.waitFor(() => m.value.pending === 0 && m.value.lastError === null, undefined, { timeout: 10_000 });
  const out = await a.evaluate(() => {
    seen.off();
    m.unmount();
    return { events: seen.map((e) => [e.type, e.local]), shown: m.values.map((v) => v && [v.pending, v.lastError?.code ?? null]) };
  });
  assert.deepEqual(out.events.filter(([type]) => type === "created"), [["created", false]], "tab A heard tab B's write");
  // Consecutive renders differ; pending 1 may show with the failure already (B's pass failing
  // before A's read) or before it.
  const expected = [
    [undefined, [0, null], [1, null], [1, "UNAVAILABLE"], [0, null]],
    [undefined, [0, null], [1, "UNAVAILABLE"], [0, null]],
  ];
  assert.ok(expected.some((e) => JSON.stringify(e) === JSON.stringify(out.shown)), `shown: ${JSON.stringify(out.shown)}`);
  await closePage(a);
  await closePage(b);
});

test("a session the server refuses (400: by its clock the deadline has passed): lastError INVALID_INPUT, pending 1; its push taken later clears both, with no event for the clearing", async () => {
  // This device's clock is an hour behind the server's: a 60 s TTL ends, for the server, in the past.
  const page = await storePage({ name: fresh("refused"), skewMs: 3_600_000 });
  const out = await page.evaluate(async () => {
    const m = await rs.mounted(store);
    await store.create({ n: 1 }, { id: "skewed", ttlMs: 60_000 });
    await rs.until(() => m.value.lastError, 10_000);
    const refused = { shown: m.value, status: await store.syncStatus() };
    const seen = rs.events(store);
    await store.updateTtl("skewed", null);
    await rs.until(() => m.value.lastError === null && m.value.pending === 0, 10_000);
    seen.off();
    m.unmount();
    return { refused, types: seen.map((e) => e.type), status: await store.syncStatus(), shown: m.value };
  });
  assert.equal(out.refused.shown.pending, 1);
  assert.equal(out.refused.shown.lastError.code, "INVALID_INPUT", out.refused.shown.lastError.message);
  assert.deepEqual(out.refused.shown, out.refused.status);
  assert.deepEqual(out.types, ["ttlUpdated"], "the TTL's event, and none for the push that cleared the error");
  assert.deepEqual(out.shown, out.status);
  await closePage(page);
});

test("pulls every 300 ms that find nothing move lastSyncAt with no event: the hook follows, reading 0.1, 0.2 ... 3.2 s apart, and renders only what changed", async () => {
  const page = await storePage({ name: fresh("pulls"), intervalMs: 300 });
  const out = await page.evaluate(async () => {
    const w = rs.counted(store);
    const m = await rs.mounted(w);
    const seen = rs.events(store);
    await rs.sleep(9000);
    seen.off();
    const result = { shown: m.values.map((v) => v?.lastSyncAt), reads: w.reads.map((t, i) => Math.round(t - (w.reads[i - 1] ?? t))), events: seen.length, status: await store.syncStatus() };
    m.unmount();
    return result;
  });
  console.log(`# ${ENGINE}: ms between reads: ${out.reads.slice(1).join(", ")}`);
  assert.equal(out.events, 0, "no event in 9 s");
  const changes = out.shown.slice(1);
  assert.ok(changes.length >= 4, `lastSyncAt shown moving at least 4 times: ${changes}`);
  assert.ok(changes.every((t, i) => i === 0 || t > changes[i - 1]), `every render shows a later lastSyncAt (none without a change): ${changes}`);
  assert.ok(out.status.lastSyncAt - out.shown.at(-1) < 4000, "the last shown is at most one read behind");
  const gaps = out.reads.slice(1);
  assert.ok(gaps.length >= 5 && gaps.length <= 10, `reads after the first in 9 s: ${gaps.length}`);
  assert.ok(Math.max(...gaps) < 4500, `at most 3.2 s (and slack) between reads: ${gaps}`);
  assert.ok(gaps.at(-1) >= 3000, `3.2 s apart once quiet: ${gaps}`);
  await closePage(page);
});

test("a burst of 200 writes is a few reads, not one per event; unmounted, nothing is read or subscribed any more", async () => {
  const page = await storePage({ name: fresh("burst") });
  const out = await page.evaluate(async () => {
    const w = rs.counted(store);
    const m = await rs.mounted(w);
    const seen = rs.events(store);
    const before = w.reads.length;
    await store.saveMany(Array.from({ length: 200 }, (_, i) => ({ id: `s${i}`, state: { i } })));
    await rs.until(() => m.values.some((v) => v?.pending === 200) && m.value.pending === 0, 20_000);
    const burst = { events: seen.length, reads: w.reads.length - before, shown: m.values.map((v) => v?.pending) };
    m.unmount();
    const unmounted = w.reads.length;
    await store.save("s0", { after: true });
    await rs.sleep(2000);
    seen.off();
    return { burst, active: w.active, readsAfter: w.reads.length - unmounted, status: await store.syncStatus() };
  });
  assert.ok(out.burst.events >= 200, `${out.burst.events} events`);
  assert.ok(out.burst.reads >= 2 && out.burst.reads <= 12, `${out.burst.reads} reads for ${out.burst.events} events`);
  assert.deepEqual(out.burst.shown, [undefined, 0, 200, 0], "pending 0, 200 after the burst, then 0 once pushed");
  assert.deepEqual({ active: out.active, readsAfter: out.readsAfter }, { active: 0, readsAfter: 0 });
  assert.equal(out.status.pending, 0, "the write after unmounting synced all the same");
  await closePage(page);
});

test("a store without sync throws its INVALID_INPUT from the hook, a closed one CLOSED, and one closed under a mounted hook CLOSED at its next read", async () => {
  const page = await openPage();
  const out = await page.evaluate(async (url) => {
    const plain = await rs.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
    const closed = await rs.SessionStore.open({ backend: "memory", sweepIntervalMs: null, sync: { url, intervalMs: null } });
    closed.close();
    const later = await rs.SessionStore.open({ backend: "memory", sweepIntervalMs: null, sync: { url, intervalMs: null } });
    const probes = [rs.mount(plain), rs.mount(closed), rs.mount(later)];
    await rs.until(() => probes[0].error && probes[1].error && probes[2].value);
    const shown = probes[2].value;
    later.close();
    await rs.until(() => probes[2].error, 10_000);
    for (const m of probes) m.unmount();
    plain.close();
    return { errors: probes.map((m) => m.error), shown };
  }, sync.url);
  assert.deepEqual(out.errors.map((e) => [e.name, e.code]), [["StoreError", "INVALID_INPUT"], ["StoreError", "CLOSED"], ["StoreError", "CLOSED"]]);
  assert.match(out.errors[0].message, /sync/);
  assert.equal(out.shown.pending, 0);
  await closePage(page);
});
