// `wasm-session-store/react` (react/index.js as it ships) in real React 19 and React 18 (the
// package says `react >= 18`), in each engine (WSS_ENGINE): what the hooks render, across tabs,
// at the deadline by an injected clock, with sliding stores, on unmount and in StrictMode, on id
// changes, with out-of-order and failing reads, and README.md's ```jsx example. Every test runs
// once per React version. React 19 is the root package.json's; React 18 is tests/react18/'s,
// installed on first use under target/react18/ (its react-dom's peer dependency on react 18
// cannot sit beside react 19 in one node_modules). React ships CommonJS only, so `before`
// bundles each version to ES modules with esbuild (development builds: StrictMode's double
// effects and React's warnings); tests/pages/react.html maps the bare imports. Each version's
// pages come from a server of its own (an origin of its own: the mounts of `useBrowser` only
// count for the first file of run-all.mjs). React's console errors and warnings fail a test, as
// uncaught errors do.
//
// WSS_REACT_DIR serves another react/ directory as /react/, e.g. a deliberately broken hook, to
// check that these tests catch it.
import { test as nodeTest, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, transform } from "esbuild";
import { useBrowser } from "./helpers.mjs";
import { serve } from "../../scripts/serve.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const hooks = process.env.WSS_REACT_DIR ? resolve(process.env.WSS_REACT_DIR) : join(repo, "react");
const readme = readFileSync(join(repo, "README.md"), "utf8");

// React's entry points the pages import, per version, each bundled from its development build
// with its named exports listed (esbuild cannot re-export a CommonJS module's names by
// `export *`): [specifier, the file that lists its names].
const VENDOR = {
  19: {
    react: ["react", "react/cjs/react.development.js"],
    "react-jsx-runtime": ["react/jsx-runtime", "react/cjs/react-jsx-runtime.development.js"],
    "react-dom": ["react-dom", "react-dom/cjs/react-dom.development.js"],
    "react-dom-client": ["react-dom/client", "react-dom/cjs/react-dom-client.development.js"],
  },
  18: {
    react: ["react", "react/cjs/react.development.js"],
    "react-jsx-runtime": ["react/jsx-runtime", "react/cjs/react-jsx-runtime.development.js"],
    "react-dom": ["react-dom", "react-dom/cjs/react-dom.development.js"],
    // React 18's client entry is a small wrapper around react-dom, with no build of its own.
    "react-dom-client": ["react-dom/client", "react-dom/client.js"],
  },
};

/**
 * React 18's node_modules: tests/react18/ (exact versions and lockfile) installed with `npm ci`
 * under target/react18/<hash of both files>, once; a killed install leaves a dot-directory.
 */
function react18Modules() {
  const manifest = join(repo, "tests/react18");
  const files = ["package.json", "package-lock.json"];
  const hash = createHash("sha256");
  for (const f of files) hash.update(readFileSync(join(manifest, f)));
  const cache = join(repo, "target/react18");
  const dir = join(cache, hash.digest("hex").slice(0, 16));
  if (!existsSync(join(dir, "node_modules/react-dom/package.json"))) {
    mkdirSync(cache, { recursive: true });
    const tmp = mkdtempSync(join(cache, ".install-"));
    for (const f of files) cpSync(join(manifest, f), join(tmp, f));
    const started = Date.now();
    execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: tmp, stdio: ["ignore", "ignore", "inherit"] });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    console.log(`# React 18: npm ci ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})`);
  }
  return join(dir, "node_modules");
}

const it = useBrowser();
let work;
/** Per React version: its server (/vendor/ holds that version's bundle). */
const servers = {};

before(async () => {
  work = mkdtempSync(join(tmpdir(), "wss-react-"));
  const modules = { 19: join(repo, "node_modules"), 18: react18Modules() };
  for (const [version, vendor] of Object.entries(VENDOR)) {
    const require = createRequire(join(modules[version], "..", "package.json"));
    const src = join(work, `src${version}`);
    mkdirSync(src);
    const entryPoints = {};
    for (const [file, [specifier, development]] of Object.entries(vendor)) {
      const names = Object.keys(require(join(modules[version], development))).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
      writeFileSync(join(src, `${file}.js`), `import M from "${specifier}";\nexport default M;\nexport const { ${names.join(", ")} } = M;\n`);
      entryPoints[file] = join(src, `${file}.js`);
    }
    // One bundle with shared chunks: every entry point uses the same React.
    const outdir = join(work, `vendor${version}`);
    await build({
      entryPoints, outdir, bundle: true, splitting: true, format: "esm",
      nodePaths: [modules[version]], define: { "process.env.NODE_ENV": '"development"' },
      logLevel: "error",
    });
    const pkg = process.env.WSS_PKG_DIR ? { "/pkg/": resolve(process.env.WSS_PKG_DIR) } : {};
    servers[version] = await serve({
      mounts: { "/t/": join(repo, "tests", "pages"), "/react/": hooks, "/vendor/": outdir, ...pkg },
    });
  }
  await it.ready();
});

after(async () => {
  for (const server of Object.values(servers)) await server.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * A window on react.html with React `version`, tests/pages/react.js loaded as `r` and the
 * package initialised.
 */
async function openPageOn(version) {
  const page = await it.browser.page(`${servers[version].url}t/react.html`);
  await page.evaluate(async (expected) => {
    globalThis.r = await import("/t/react.js");
    await r.ready;
    const version = (await import("react")).version;
    if (!version.startsWith(`${expected}.`)) throw new Error(`the page runs React ${version}, not ${expected}`);
  }, version);
  return page;
}

/**
 * Closes `page`, failing if React logged errors or warnings, but for `caught` reports of errors
 * that an error boundary took from the probe (React logs those on the console).
 */
async function closePage(page, caught = 0) {
  const logged = await page.evaluate(() => r.logged);
  await page.close();
  const isCaught = (l) => l.startsWith("error: ") && l.includes("The above error occurred in the <Probe> component");
  assert.deepEqual(logged.filter((l) => !isCaught(l)), [], "React logged nothing else");
  assert.equal(logged.filter(isCaught).length, caught, "errors caught by the boundary");
}

nodeTest("react/index.js: plain ES module importing only react, within 1,000 B gzipped", () => {
  const source = readFileSync(join(repo, "react/index.js"));
  const gzipped = gzipSync(source, { level: 9 }).length;
  console.log(`# react/index.js: ${source.length} B, ${gzipped} B gzipped`);
  assert.ok(gzipped <= 1000, `react/index.js is ${gzipped} B gzipped, over its budget of 1,000 B`);
  const imports = [...source.toString().matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
  assert.deepEqual(imports, ["react"]);
  const manifest = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
  assert.deepEqual(manifest.exports["./react"], { types: "./react/index.d.ts", default: "./react/index.js" });
  assert.deepEqual(manifest.peerDependencies, { react: ">=18" });
  assert.deepEqual(manifest.peerDependenciesMeta, { react: { optional: true } });
});

// Every test below, once per React version, named "React <version>: ...".
for (const version of Object.keys(VENDOR).sort().reverse()) {
  const test = (name, ...rest) => nodeTest(`React ${version}: ${name}`, ...rest);
  const openPage = () => openPageOn(version);

  test("useSession: undefined while the first load is pending, then the record; null for a missing id; useSessionIds: the ids; no store or id: undefined, nothing subscribed or read", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      const store = await r.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
      await store.create({ user: "ada" }, { id: "s-1" });
      await store.create({}, { id: "s-2" });
      const w = r.watched(store);
      const one = r.mount({ store: w, id: "s-1" });
      const missing = r.mount({ store: w, id: "nope" });
      const ids = r.mount({ store: w, ids: true });
      const first = [one.values.slice(), missing.values.slice(), ids.values.slice()];
      await r.until(() => one.value && missing.value === null && ids.value);
      const idle = r.watched(store);
      const none = [
        r.mount({ store: null, id: "s-1" }), r.mount({ store: undefined, id: "s-1" }),
        r.mount({ store: idle, id: null }), r.mount({ store: idle, id: undefined }),
        r.mount({ store: null, ids: true }), r.mount({ store: undefined, ids: true }),
      ];
      await r.sleep(300);
      const result = {
        first, record: one.value, loaded: await store.load("s-1"), missing: missing.value, ids: [...ids.value].sort(),
        none: none.map((m) => m.values), idle: { subscribed: idle.subscribed, loads: idle.loads.length, idsReads: idle.idsReads },
      };
      for (const m of [one, missing, ids, ...none]) m.unmount();
      return result;
    });
    assert.deepEqual(out.first, [[undefined], [undefined], [undefined]], "the first render of each: undefined");
    assert.deepEqual(out.record, out.loaded, "then the record, as load gives it");
    assert.equal(out.record.state.user, "ada");
    assert.equal(out.missing, null);
    assert.deepEqual(out.ids, ["s-1", "s-2"]);
    assert.deepEqual(out.none, Array(6).fill([undefined]), "no store or no id: undefined, and no render after");
    assert.deepEqual(out.idle, { subscribed: 0, loads: 0, idsReads: 0 });
    await closePage(page);
  });

  for (const backend of ["indexeddb", "localstorage"]) {
    test(`${backend}: both hooks re-render on writes made in another tab (save, set, create, changeId away and back, delete, clear)`, async () => {
      const options = { backend, name: `react-tabs-${backend}`, sweepIntervalMs: null };
      const a = await openPage();
      const b = await openPage();
      const open = (options) => (async () => {
        globalThis.store = await r.SessionStore.open(options);
      })();
      await a.evaluate(open, options);
      await b.evaluate(open, options);
      await a.evaluate(async () => {
        await store.clear();
        await store.create({ n: 1 }, { id: "x" });
        globalThis.session = r.mount({ store, id: "x" });
        globalThis.list = r.mount({ store, ids: true });
        await r.until(() => session.value && list.value?.length === 1);
      });
      const seen = (check) => a.waitFor(check);
      await b.evaluate(() => store.save("x", { n: 2 }));
      await seen(() => session.value?.version === 2 && session.value.state.n === 2);
      await b.evaluate(() => store.set("x", "k", "v"));
      await seen(() => session.value?.version === 3 && session.value.state.k === "v");
      await b.evaluate(() => store.create({ from: "b" }, { id: "y" }));
      await seen(() => list.value.length === 2 && list.value.includes("y"));
      await b.evaluate(() => store.changeId("x", "z"));
      await seen(() => session.value === null && [...list.value].sort().join() === "y,z");
      await b.evaluate(() => store.delete("z"));
      await seen(() => list.value.join() === "y");
      await b.evaluate(() => store.changeId("y", "x"));
      await seen(() => session.value?.state.from === "b" && list.value.join() === "x");
      await b.evaluate(() => store.clear());
      await seen(() => session.value === null && list.value.length === 0);
      const shown = await a.evaluate(() => {
        const out = { session: session.values.map((v) => v && `${v.id} ${v.version}`), list: list.values.map((v) => v && [...v].sort().join()) };
        session.unmount();
        list.unmount();
        store.close();
        return out;
      });
      // Each change shows once it is read; no render shows anything but these, in this order.
      const dedupe = (values) => values.filter((v, i) => i === 0 || v !== values[i - 1]);
      assert.deepEqual(dedupe(shown.session), [undefined, "x 1", "x 2", "x 3", null, "x 1", null]);
      assert.deepEqual(dedupe(shown.list), [undefined, "x", "x,y", "y,z", "y", "x", ""]);
      await b.evaluate(() => store.close());
      await closePage(a);
      await closePage(b);
    });
  }

  test("useSession turns to null at expiresAt by the injected clock, sweeper off: not before, however much real time passes, and without a read", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      globalThis.now = 1_700_000_000_000;
      const store = await r.SessionStore.open({ backend: "indexeddb", name: "react-expiry", ttlMs: 300, sweepIntervalMs: null, now: () => globalThis.now });
      await store.clear();
      const created = await store.create({ n: 1 }, { id: "e" });
      const w = r.watched(store);
      const m = r.mount({ store: w, id: "e", now: () => globalThis.now });
      await r.until(() => m.value);
      // Three times the TTL of real time: the timer fired and re-armed, the clock did not move.
      await r.sleep(900);
      for (let i = 0; i < 3; i++) m.render({}); // a new { now } each render: no new subscription
      const before = { value: m.value, armed: r.hookTimers.set, pending: r.hookTimers.pending.size, subscribed: w.subscribed };
      // 1 ms before the deadline: the pending timer fires (by the clock, 300 ms were left when
      // it was armed), and then re-arms, or turns the session null. Wait for that, not a time.
      const armed = r.hookTimers.set;
      globalThis.now = created.expiresAt - 1;
      await r.until(() => r.hookTimers.set > armed || m.value === null);
      const oneMsBefore = m.value;
      globalThis.now = created.expiresAt;
      const started = Date.now();
      await r.until(() => m.value === null, 5000);
      const after = { waited: Date.now() - started, loads: w.loads.length, stored: await store.load("e"), pending: r.hookTimers.pending.size };
      m.unmount();
      store.close();
      return { created, before, oneMsBefore, after };
    });
    assert.deepEqual(out.before.value, out.created, "still the record after 900 ms of real time");
    assert.ok(out.before.armed >= 2, `the timer fired and was armed again (${out.before.armed} times)`);
    assert.equal(out.before.pending, 1, "one timer pending");
    assert.equal(out.before.subscribed, 1, "one subscription across renders");
    assert.deepEqual(out.oneMsBefore, out.created, "1 ms before the deadline: still the record");
    assert.equal(out.after.stored, null, "the store agrees: expired");
    assert.equal(out.after.loads, 1, "null came from the deadline, not from a read");
    assert.equal(out.after.pending, 0, "no timer once null");
    assert.ok(out.after.waited < 1500, `null within ${out.after.waited} ms of the clock passing the deadline`);
    await closePage(page);
  });

  test("a deadline beyond setTimeout's range (30 days) is waited for in steps of at most 2^31-1 ms, not in a busy loop", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      const store = await r.SessionStore.open({ backend: "memory", ttlMs: 30 * 86_400_000, sweepIntervalMs: null });
      await store.create({}, { id: "long" });
      const m = r.mount({ store, id: "long" });
      await r.until(() => m.value);
      await r.sleep(300);
      const out = { value: m.value?.id, set: r.hookTimers.set, delays: r.hookTimers.delays };
      m.unmount();
      return out;
    });
    assert.deepEqual(out, { value: "long", set: 1, delays: [2 ** 31 - 1] });
    await closePage(page);
  });

  test("sliding: true: a load moves expiresAt without an event, so no read loop and no render loop", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      globalThis.now = 1_700_000_000_000;
      const store = await r.SessionStore.open({ backend: "indexeddb", name: "react-sliding", sliding: true, ttlMs: 60_000, sweepIntervalMs: null, now: () => globalThis.now });
      await store.clear();
      await store.create({ n: 1 }, { id: "s" });
      const w = r.watched(store);
      const session = r.mount({ store: w, id: "s", now: () => globalThis.now });
      const list = r.mount({ store: w, ids: true });
      await r.until(() => session.value && list.value);
      globalThis.now += 1000;
      await r.sleep(1000);
      const settled = { renders: [session.renders, list.renders], loads: w.loads.length, idsReads: w.idsReads, expiresAt: session.value.expiresAt };
      globalThis.now += 1000;
      await store.save("s", { n: 2 });
      await r.until(() => session.value.version === 2);
      await r.sleep(1000);
      const afterSave = { renders: [session.renders, list.renders], loads: w.loads.length, idsReads: w.idsReads, expiresAt: session.value.expiresAt };
      session.unmount();
      list.unmount();
      store.close();
      return { settled, afterSave };
    });
    assert.deepEqual(out.settled, { renders: [2, 2], loads: 1, idsReads: 1, expiresAt: 1_700_000_060_000 }, "one read each, two renders each");
    assert.deepEqual(out.afterSave, { renders: [3, 3], loads: 2, idsReads: 2, expiresAt: 1_700_000_062_000 }, "the save: one read and one render each");
    await closePage(page);
  });

  test("unmount: every subscription ended and every timer cleared; nothing read afterwards", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      const store = await r.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
      await store.create({}, { id: "u" });
      const w = r.watched(store);
      const probes = [r.mount({ store: w, id: "u" }), r.mount({ store: w, id: "u" }), r.mount({ store: w, ids: true })];
      await r.until(() => probes.every((m) => m.value));
      const mounted = { active: w.active, timers: r.hookTimers.pending.size };
      for (const m of probes) m.unmount();
      const unmounted = { active: w.active, timers: r.hookTimers.pending.size };
      const reads = w.loads.length + w.idsReads;
      await store.save("u", { n: 2 });
      await store.create({}, { id: "v" });
      await r.sleep(200);
      return { mounted, unmounted, readsAfter: w.loads.length + w.idsReads - reads };
    });
    assert.deepEqual(out, { mounted: { active: 3, timers: 2 }, unmounted: { active: 0, timers: 0 }, readsAfter: 0 });
    await closePage(page);
  });

  test("StrictMode: mounted twice over, the same subscriptions as without it, none after unmount", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      const store = await r.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
      const result = {};
      for (const strict of [false, true]) {
        await store.clear();
        await store.create({ n: 1 }, { id: "st" });
        const w = r.watched(store);
        const probes = [r.mount({ store: w, id: "st" }, { strict }), r.mount({ store: w, ids: true }, { strict })];
        await r.until(() => probes[0].value && probes[1].value);
        const mounted = { active: w.active, timers: r.hookTimers.pending.size, shown: [probes[0].value.id, probes[1].value.join()] };
        await store.save("st", { n: 2 });
        await r.until(() => probes[0].value.version === 2);
        mounted.version = probes[0].value.version;
        for (const m of probes) m.unmount();
        result[strict ? "strict" : "plain"] = { mounted, unmounted: { active: w.active, timers: r.hookTimers.pending.size }, subscribed: w.subscribed };
      }
      return result;
    });
    console.log(`# subscribe calls: ${out.plain.subscribed} without StrictMode, ${out.strict.subscribed} with it`);
    const expected = { mounted: { active: 2, timers: 1, shown: ["st", "st"], version: 2 }, unmounted: { active: 0, timers: 0 } };
    assert.deepEqual({ mounted: out.plain.mounted, unmounted: out.plain.unmounted }, expected);
    assert.deepEqual({ mounted: out.strict.mounted, unmounted: out.strict.unmounted }, expected);
    await closePage(page);
  });

  test("changing id or store resubscribes: the new id never shows the old id's record, and the old id's changes are not read", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      const store = await r.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
      await store.create({ who: "a" }, { id: "a" });
      await store.create({ who: "b" }, { id: "b" });
      const w = r.watched(store);
      // b's first load takes 300 ms: long enough to see what shows meanwhile.
      w.hold = (n, id, promise) => (id === "b" ? promise.then((v) => r.sleep(300).then(() => v)) : undefined);
      const m = r.mount({ store: w, id: "a" });
      await r.until(() => m.value);
      const from = m.values.length;
      m.render({ id: "b" });
      const right = m.value;
      await r.until(() => m.value);
      w.hold = undefined;
      const loadsBefore = w.loads.length;
      await store.save("a", { who: "a", n: 2 });
      await store.save("b", { who: "b", n: 2 });
      await r.until(() => m.value.version === 2);
      await r.sleep(100);
      const idChange = { right, shown: m.values.slice(from).map((v) => v && v.state.who), active: w.active, subscribed: w.subscribed, loadsAfter: w.loads.slice(loadsBefore) };
      // Another store with its own "b".
      const other = await r.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
      await other.create({ who: "other b" }, { id: "b" });
      const w2 = r.watched(other);
      m.render({ store: w2 });
      const storeRight = m.value;
      await r.until(() => m.value);
      const storeChange = { right: storeRight, shown: m.value.state.who, active: [w.active, w2.active] };
      m.unmount();
      return { idChange, storeChange };
    });
    assert.equal(out.idChange.right, undefined, "right after the change: undefined, not a's record");
    assert.deepEqual(out.idChange.shown.filter((v, i, all) => i === 0 || v !== all[i - 1]), [undefined, "b"], "nothing of a's after the change");
    assert.deepEqual([out.idChange.active, out.idChange.subscribed], [1, 2], "a's subscription ended, b's began");
    assert.deepEqual(out.idChange.loadsAfter, ["b"], "a's save is not read; b's is");
    assert.deepEqual(out.storeChange, { right: undefined, shown: "other b", active: [0, 1] });
    await closePage(page);
  });

  test("a slower, earlier load that resolves last does not overwrite a newer one", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      const store = await r.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
      await store.create({ n: 1 }, { id: "o" });
      const w = r.watched(store);
      // The first load (on subscribe) reads version 1 and resolves 400 ms later.
      w.hold = (n, id, promise) => (n === 1 ? promise.then((v) => r.sleep(400).then(() => v)) : undefined);
      const m = r.mount({ store: w, id: "o" });
      await r.until(() => w.active === 1);
      await store.save("o", { n: 2 });
      await r.until(() => m.value);
      await r.sleep(600);
      const out = { loads: w.loads.length, shown: m.values.map((v) => v && v.version) };
      m.unmount();
      return out;
    });
    assert.equal(out.loads, 2);
    assert.deepEqual(out.shown, [undefined, 2], "version 1, read first and resolved last, never shown");
    await closePage(page);
  });

  test("a read that rejects throws from the hook during render, for an error boundary: CORRUPT, CLOSED; closing a store under a mounted hook breaks nothing", async () => {
    const page = await openPage();
    const out = await page.evaluate(async () => {
      // React 18, in development, also dispatches each error a boundary caught as an uncaught
      // error event of the window (its invokeGuardedCallback replay); React 19 does not. The
      // StoreErrors among them are taken here and listed; any other uncaught error still fails.
      const replayed = [];
      addEventListener("error", (e) => {
        if (e.error?.name !== "StoreError") return;
        e.preventDefault();
        replayed.push(e.error.message);
      });
      const store = await r.SessionStore.open({ backend: "sessionstorage", name: "react-errors", sweepIntervalMs: null });
      await store.clear();
      sessionStorage.setItem("react-errors:bad", "garbage");
      const w = r.watched(store);
      const corrupt = r.mount({ store: w, id: "bad" });
      await r.until(() => corrupt.error);
      const closed = await r.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
      closed.close();
      const closedSession = r.mount({ store: closed, id: "x" });
      const closedIds = r.mount({ store: closed, ids: true });
      await r.until(() => closedSession.error && closedIds.error);
      // Closed under a mounted hook: it keeps what it showed; unmounting is fine.
      const later = await r.SessionStore.open({ backend: "memory", sweepIntervalMs: null });
      await later.create({}, { id: "c" });
      const kept = r.mount({ store: later, id: "c" });
      await r.until(() => kept.value);
      later.close();
      await r.sleep(100);
      const keptValue = kept.value?.id;
      for (const m of [corrupt, closedSession, closedIds, kept]) m.unmount();
      return {
        corrupt: corrupt.error, active: w.active, closed: [closedSession.error.code, closedIds.error.code],
        keptValue, keptError: kept.error, text: document.body.textContent,
        caught: [corrupt.error.message, closedSession.error.message, closedIds.error.message], replayed,
      };
    });
    const unique = (list) => [...new Set(list)].sort();
    if (version === "18") {
      assert.deepEqual(unique(out.replayed), unique(out.caught), "React 18 replays each caught error as an uncaught one");
    } else {
      assert.deepEqual(out.replayed, [], "React 19 reports no caught error as uncaught");
    }
    assert.equal(out.corrupt.name, "StoreError");
    assert.equal(out.corrupt.code, "CORRUPT");
    assert.match(out.corrupt.message, /bad/);
    assert.equal(out.active, 0, "the boundary unmounted the probe: unsubscribed");
    assert.deepEqual(out.closed, ["CLOSED", "CLOSED"]);
    assert.equal(out.keptValue, "c");
    assert.equal(out.keptError, undefined);
    // React 19 reports the errors its boundaries caught on the console; nothing else may be
    // there. React 18 logs none of them when the window's error event was taken (preventDefault).
    await closePage(page, version === "18" ? 0 : 3);
  });

  test("README.md's ```jsx example renders as it says, in this engine", async () => {
    const blocks = [...readme.matchAll(/^```jsx\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    assert.equal(blocks.length, 1, "one jsx block in README.md");
    const { code } = await transform(blocks[0], { loader: "jsx", jsx: "automatic", format: "esm" });
    const page = await openPage();
    await page.evaluate(async (code) => {
      const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
      await import(url);
    }, code);
    // The two components update on their own reads: "version 2" may show while the count is
    // still "…". Wait for the whole text, and on a timeout show what was there.
    const expected = "apple, pear (version 2)1 open session(s)";
    const shown = () => page.evaluate(() => document.getElementById("root").textContent);
    await page.waitFor((expected) => document.getElementById("root").textContent === expected, expected)
      .catch(async (e) => assert.fail(`${e.message}\nshown: ${JSON.stringify(await shown())}`));
    assert.equal(await shown(), expected);
    await closePage(page);
  });
}
