// The package in Node (server-side rendering, scripts, tests of an app), from the packed tarball
// as installed for tests/js/consumer.test.mjs (tests/js/packed.mjs): importing it does not throw
// and does nothing else; `init()` with no argument reads the .wasm from disk; `open()` with the
// default backend falls back to memory and says why; an open store never keeps the process from
// exiting, and `close()` stops its timer. Each case is a script of its own in a fresh `node`.
// No browser: it runs once per `npm test`, in the Chromium run.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { ENGINE } from "../../scripts/engines.mjs";
import { cleanUp, installed } from "./packed.mjs";

after(() => cleanUp());

const skip = ENGINE !== "chromium" && "Node does not depend on the engine: it runs in the Chromium run only";

/**
 * Runs `source` as an ES module in the installed app's directory (so that "wasm-session-store"
 * resolves to the tarball's install), in a fresh node; resolves to its exit code, what it
 * printed (the last line parsed as JSON) and how long it took to exit. Killed after 20 s.
 */
function node(source) {
  const { dir } = installed("vite");
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ["--input-type=module", "--eval", source], { cwd: dir, timeout: 20_000 }, (error, stdout, stderr) => {
      const lines = stdout.trim().split("\n");
      let result;
      try { result = JSON.parse(lines.at(-1)); } catch { result = undefined; }
      resolve({ code: error?.code ?? 0, killed: error?.killed ?? false, result, stdout, stderr, ms: Date.now() - started });
    });
  });
}

test("Node: importing the package does not throw, and leaves nothing running", { skip }, async () => {
  const run = await node(`
    import init, { SessionStore, initSync } from "wasm-session-store";
    const timers = process.getActiveResourcesInfo().filter((r) => r === "Timeout" || r === "Immediate");
    console.log(JSON.stringify({ init: typeof init, initSync: typeof initSync, open: typeof SessionStore.open, timers }));
  `);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.result, { init: "function", initSync: "function", open: "function", timers: [] });
});

test("Node: init() with no argument reads the .wasm from disk (no fetch: Node's fetch has no file: URLs)", { skip }, async () => {
  const run = await node(`
    globalThis.fetch = () => { throw new Error("init() fetched"); };
    const { default: init, SessionStore } = await import("wasm-session-store");
    await init();
    await init(); // a second call does nothing
    console.log(JSON.stringify({ ok: typeof SessionStore.open }));
  `);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.result, { ok: "function" });
});

test("Node: init() with the .wasm's bytes, found as the README says (Node before 20.16 has no process.getBuiltinModule)", { skip }, async () => {
  const run = await node(`
    import { readFileSync } from "node:fs";
    import init, { SessionStore } from "wasm-session-store";
    delete process.getBuiltinModule;
    const failed = await init().then(() => "loaded", (e) => e.message);
    await init({ module_or_path: readFileSync(new URL(import.meta.resolve("wasm-session-store/wasm_session_store_bg.wasm"))) });
    const store = await SessionStore.open({ backend: "memory" });
    console.log(JSON.stringify({ failed, version: (await store.create()).version }));
  `);
  assert.equal(run.code, 0, run.stderr);
  // Without it, init() fetches the file: URL, which Node's fetch refuses; a second init() retries.
  assert.match(run.result.failed, /^wasm-session-store: no wasm at file:\/\/\/.*\/node_modules\/wasm-session-store\/pkg\/wasm-session-store\/wasm_session_store_bg\.wasm \(fetch failed\)/);
  assert.equal(run.result.version, 1);
});

test("Node: init() of a missing .wasm names the URL and what to do", { skip }, async () => {
  const run = await node(`
    import init from "wasm-session-store";
    const e = await init({ module_or_path: new URL("file:///nonexistent/wasm_session_store_bg.wasm") }).then(() => null, (e) => e);
    console.log(JSON.stringify({ message: e?.message, cause: e?.cause?.code }));
  `);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.result.cause, "ENOENT");
  assert.match(run.result.message, /^wasm-session-store: no wasm at file:\/\/\/nonexistent\/wasm_session_store_bg\.wasm \(ENOENT: .*\)\. With vite dev, .*; otherwise pass its URL or bytes to init\(\{ module_or_path \}\)$/);
});

test("Node: open() falls back to memory with a fallbackReason saying why, and the store works", { skip }, async () => {
  const run = await node(`
    import init, { SessionStore } from "wasm-session-store";
    await init();
    const store = await SessionStore.open({ name: "ssr" });
    const { id } = await store.create({ user: "ada" });
    const loaded = await store.load(id);
    store.close();
    console.log(JSON.stringify({ backend: store.backend, reason: store.fallbackReason, state: loaded.state }));
  `);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.result.backend, "memory");
  assert.deepEqual(run.result.state, { user: "ada" });
  assert.match(run.result.reason, /^IndexedDB unavailable \(.*IndexedDB is not available in this context\); localStorage unavailable \(.*localStorage does not exist in this context.*\): data lives in memory only/);
  console.log(`# fallbackReason: ${run.result.reason}`);
});

test("Node: a script that opens a store and never closes it still exits; the sweeper's timer is unref'd, and close() clears it", { skip }, async () => {
  // setInterval / clearInterval watched, to see the sweeper's timer (60 s by default).
  const run = await node(`
    const timers = [];
    const { setInterval: set, clearInterval: clear } = globalThis;
    globalThis.setInterval = (f, ms) => { const t = set(f, ms); timers.push({ t, ms, cleared: false }); return t; };
    globalThis.clearInterval = (t) => { for (const x of timers) if (x.t === t) x.cleared = true; return clear(t); };
    const { default: init, SessionStore } = await import("wasm-session-store");
    await init();
    const closed = await SessionStore.open({ name: "closed" });
    closed.close();
    const noSweep = await SessionStore.open({ name: "no-sweep", sweepIntervalMs: null });
    globalThis.kept = await SessionStore.open({ name: "kept" }); // reachable, never closed
    await kept.create({ n: 1 });
    console.log(JSON.stringify(timers.map(({ t, ms, cleared }) => ({ ms, cleared, ref: t.hasRef() }))));
  `);
  assert.equal(run.killed, false, `the script did not exit within 20 s: ${run.stderr}`);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.result, [
    { ms: 60_000, cleared: true, ref: false }, // the closed store's
    { ms: 60_000, cleared: false, ref: false }, // the kept store's: no timer for sweepIntervalMs: null
  ]);
  assert.ok(run.ms < 5_000, `exited after ${run.ms} ms`);
  console.log(`# a script holding an open store exited after ${run.ms} ms`);
});
