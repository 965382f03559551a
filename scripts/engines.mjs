// Chromium, Firefox and WebKit, headless, through W3C WebDriver (selenium-webdriver), for the
// engine-neutral JS tests: each test file is written once and `npm test` runs it in every engine
// (WSS_ENGINE=chromium|firefox|webkit). playwright-core cannot drive Debian's Firefox or
// WebKitGTK (it needs its own patched builds), so it stays for the Chromium-only tests that need
// the DevTools protocol (scripts/browser.mjs).
//
// A browser here is one WebDriver session: its pages are windows of one profile (one origin's
// storage, like tabs), each driven through the page side of the harness (tests/pages/harness.js).
// WebDriver runs one command at a time per session, so a long evaluate is a start and then short
// waits, and several pages run their code at the same time while node polls them in turn.
//
//   node scripts/engines.mjs --version ENGINE    prints the engine's browser name and version
import { Builder } from "selenium-webdriver";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "./serve.mjs";

const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));
const cargoBin = join(process.env.CARGO_HOME ?? join(homedir(), ".cargo"), "bin");
/** `name` on PATH, else in cargo's bin directory (where scripts/setup.sh installs it). */
const onPath = (name) =>
  (process.env.PATH ?? "").split(":").map((dir) => join(dir, name)).find((file) => existsSync(file)) ?? join(cargoBin, name);

/** The engines `npm test` runs, in order. */
export const ENGINES = ["chromium", "firefox", "webkit"];
/** The engine of this run (WSS_ENGINE, default chromium). */
export const ENGINE = process.env.WSS_ENGINE ?? "chromium";
if (!ENGINES.includes(ENGINE)) throw new Error(`WSS_ENGINE=${ENGINE}: expected one of ${ENGINES.join(", ")}`);

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** How each engine's driver starts, and the capabilities of a fresh, headless session. */
const SETUP = {
  chromium: (profile) => ({
    driver: [process.env.CHROMEDRIVER ?? "/usr/bin/chromedriver", (port) => [`--port=${port}`]],
    capabilities: {
      browserName: "chrome",
      "goog:chromeOptions": {
        binary: process.env.CHROMIUM ?? "/usr/bin/chromium",
        // --expose-gc: tests that a dropped handle does not stop a subscription call gc().
        args: [...CHROMIUM_ARGS, `--user-data-dir=${profile}`, "--js-flags=--expose-gc"],
      },
    },
  }),
  firefox: () => ({
    // --allow-system-access: the chrome context, where a test asks every content process to
    // collect garbage (Firefox has no gc() for pages).
    driver: [process.env.GECKODRIVER ?? onPath("geckodriver"), (port) => ["--port", String(port), "--allow-system-access"]],
    capabilities: {
      browserName: "firefox",
      "moz:firefoxOptions": {
        binary: process.env.FIREFOX ?? "/usr/bin/firefox-esr",
        // geckodriver makes a fresh profile per session.
        args: ["-headless"],
      },
    },
  }),
  webkit: () => ({
    driver: [process.env.WEBKITWEBDRIVER ?? "/usr/bin/WebKitWebDriver", (port) => [`--port=${port}`]],
    capabilities: {
      browserName: "MiniBrowser",
      "webkitgtk:browserOptions": {
        binary: process.env.MINIBROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
        // An automation session of MiniBrowser keeps its data in a fresh ephemeral store.
        args: ["--automation"],
      },
    },
  }),
};

async function freePort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/** Starts the engine's WebDriver server; resolves once it answers /status. */
async function startDriver(engine, [binary, args]) {
  if (!existsSync(binary)) throw new Error(`${engine}: no WebDriver at ${binary} (run scripts/setup.sh)`);
  const port = await freePort();
  const child = spawn(binary, args(port), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr = (stderr + d).slice(-4000); });
  const url = `http://127.0.0.1:${port}`;
  for (const started = Date.now(); Date.now() - started < 20_000;) {
    if (child.exitCode !== null) throw new Error(`${engine}: ${binary} exited (${child.exitCode}): ${stderr}`);
    try {
      if ((await fetch(`${url}/status`)).ok) return { url, stop: () => child.kill() };
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`${engine}: ${binary} did not start within 20 s: ${stderr}`);
}

const harnessSource = readFileSync(join(repo, "tests/pages/harness.js"), "utf8");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Values come back from the page as tagged JSON (see harness.js): undefined, NaN, -0, BigInt,
// errors and holes arrive as they were.
function untag(v) {
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    v.forEach((x, i) => { if (!(x && x.$ === "hole")) out[i] = untag(x); });
    return out;
  }
  if (v === null || typeof v !== "object") return v;
  switch (v.$) {
    case undefined: return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, untag(x)]));
    case "undefined": return undefined;
    case "NaN": return NaN;
    case "Infinity": return Infinity;
    case "-Infinity": return -Infinity;
    case "-0": return -0;
    case "bigint": return BigInt(v.v);
    case "error": return { ...untag(v.v), isError: v.isError };
    case "object": return untag(v.v);
    default: return { $: v.$, v: v.v }; // symbols, functions, cycles: shown, not rebuilt
  }
}

// And arguments go in tagged the same way.
function tag(v) {
  if (v === undefined) return { $: "undefined" };
  if (typeof v === "number") {
    if (Number.isNaN(v)) return { $: "NaN" };
    if (v === Infinity || v === -Infinity) return { $: String(v) };
    return Object.is(v, -0) ? { $: "-0" } : v;
  }
  if (typeof v === "bigint") return { $: "bigint", v: String(v) };
  if (Array.isArray(v)) return v.map(tag);
  if (v && typeof v === "object") {
    const entries = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tag(x)]));
    return Object.hasOwn(v, "$") ? { $: "object", v: entries } : entries;
  }
  return v;
}

/** How long one WebDriver command may hold the session waiting for a page's result. */
const SLICE_MS = 200;

/** A window of the browser, with the harness loaded. */
export class Page {
  constructor(browser, handle) {
    this.browser = browser;
    this.handle = handle;
    this.closed = false;
  }

  /**
   * Runs `fn(arg)` in the page (fn is sent as source text, so it sees only the page's globals
   * and its argument) and resolves to its result, or rejects with what it threw. Fails after
   * `timeout` ms, and when the page has uncaught errors that no handler took.
   */
  async evaluate(fn, arg, { timeout = 60_000 } = {}) {
    const started = Date.now();
    let [token, result] = await this.#command((d) => d.executeAsyncScript(
      `const [source, argument, ms, harness, done] = arguments;
       if (!globalThis.__harness) {
         // A page that does not load harness.js itself: add it as a script of the page, so
         // that it runs in the page's realm (Firefox runs WebDriver scripts in a sandbox whose
         // objects are not the page's plain objects).
         const script = document.createElement("script");
         script.textContent = harness;
         document.head.append(script);
       }
       const token = __harness.start(source, argument);
       __harness.wait(token, ms, (result) => done([token, result, __harness.uncaught()]));`,
      fn.toString(), JSON.stringify(tag(arg)), SLICE_MS, harnessSource,
    ).then(([token, result, uncaught]) => (this.#uncaught(uncaught), [token, result])));
    while (result === null) {
      if (Date.now() - started > timeout) {
        throw new Error(`${this.browser.engine}: page evaluate timed out after ${timeout} ms: ${fn.toString().slice(0, 200)}`);
      }
      result = await this.#command((d) => d.executeAsyncScript(
        `const [token, ms, done] = arguments;
         if (!globalThis.__harness) return done([{ thrown: JSON.stringify({ $: "error", v: { message: "the page navigated away during evaluate" } }) }, []]);
         __harness.wait(token, ms, (result) => done([result, __harness.uncaught()]));`,
        token, SLICE_MS,
      ).then(([result, uncaught]) => (this.#uncaught(uncaught), result)));
    }
    if (result.thrown !== undefined) {
      const e = untag(JSON.parse(result.thrown));
      const error = new Error(`${this.browser.engine}: the page threw ${e?.name ?? ""}: ${e?.message ?? JSON.stringify(e)}\n${e?.stack ?? ""}`);
      error.page = e;
      throw error;
    }
    return untag(JSON.parse(result.value));
  }

  /**
   * Polls `fn(arg)` in the page (it may be async) until it returns a truthy value, which it
   * resolves to; fails after `timeout` ms.
   */
  async waitFor(fn, arg, { timeout = 15_000, interval = 20 } = {}) {
    const started = Date.now();
    for (;;) {
      const value = await this.evaluate(fn, arg, { timeout });
      if (value) return value;
      if (Date.now() - started > timeout) {
        throw new Error(`${this.browser.engine}: waited ${timeout} ms for ${fn.toString().slice(0, 200)}`);
      }
      await sleep(interval);
    }
  }

  /** Loads `path` (relative to the server's root, or a whole http URL) in this window. */
  async goto(path) {
    await this.#command((d) => d.get(/^https?:/.test(path) ? path : this.browser.url + path));
  }

  async reload() {
    await this.checkErrors();
    await this.#command((d) => d.navigate().refresh());
  }

  /** Fails if the page has uncaught errors that no handler took. */
  async checkErrors() {
    const uncaught = await this.#command((d) => d.executeScript("return globalThis.__harness?.uncaught() ?? []"));
    this.#uncaught(uncaught);
  }

  /** Closes the window, after checking that the page had no uncaught errors. */
  async close({ check = true } = {}) {
    if (this.closed) return;
    try {
      if (check) await this.checkErrors();
    } finally {
      this.closed = true;
      this.browser.pages.delete(this);
      await this.browser.command(this.handle, async (d) => {
        await d.close();
        this.browser.current = undefined; // WebDriver has no current window now
      });
    }
  }

  #uncaught(list) {
    if (list?.length) throw new Error(`${this.browser.engine}: uncaught in the page:\n${list.join("\n")}`);
  }

  #command(fn) {
    if (this.closed) return Promise.reject(new Error("the page is closed"));
    return this.browser.command(this.handle, fn);
  }
}

/** One WebDriver session of `engine` with a static server for www/, pkg/ and tests/pages/. */
export class Browser {
  /** Starts the engine and the server. `mounts` adds URL prefixes -> directories. */
  static async launch({ engine = ENGINE, mounts } = {}) {
    const profile = mkdtempSync(join(tmpdir(), `wss-${engine}-`));
    const { driver: driverSpec, capabilities } = SETUP[engine](profile);
    // WSS_PKG_DIR serves another build as /pkg/ (e.g. to check that a test fails on the
    // build before a fix).
    const pkg = process.env.WSS_PKG_DIR ? { "/pkg/": resolve(process.env.WSS_PKG_DIR) } : {};
    const server = await serve({ mounts: { "/t/": join(repo, "tests", "pages"), ...pkg, ...mounts } });
    let driverProcess;
    try {
      driverProcess = await startDriver(engine, driverSpec);
      const driver = await new Builder().usingServer(driverProcess.url).withCapabilities(capabilities).build();
      // A page that never yields to its event loop cannot answer: fail within 30 s, not hang.
      await driver.manage().setTimeouts({ script: 30_000, pageLoad: 30_000 });
      return new Browser({ engine, driver, driverProcess, server, profile });
    } catch (e) {
      driverProcess?.stop();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
      throw e;
    }
  }

  constructor({ engine, driver, driverProcess, server, profile }) {
    Object.assign(this, { engine, driver, driverProcess, server, profile });
    this.url = server.url;
    this.pages = new Set();
    this.queue = Promise.resolve();
    this.current = undefined;
    this.home = undefined;
  }

  /** Runs `fn(driver)` with window `handle` current; commands never interleave. */
  command(handle, fn) {
    const run = this.queue.then(async () => {
      if (handle !== undefined && this.current !== handle) {
        await this.driver.switchTo().window(handle);
        this.current = handle;
      }
      return fn(this.driver);
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** "Firefox 153.7.0", from the session's capabilities. */
  async version() {
    const caps = await this.driver.getCapabilities();
    const names = { chrome: "Chromium", firefox: "Firefox", MiniBrowser: "WebKitGTK" };
    return `${names[caps.getBrowserName()] ?? caps.getBrowserName()} ${caps.getBrowserVersion()}`;
  }

  /** A new window on `path` (default the blank test page; or a whole http URL). */
  async page(path = "t/test.html") {
    const handle = await this.command(undefined, async (d) => {
      // The session's first window stays empty: closing the last window would end the session.
      this.home ??= await d.getWindowHandle();
      if (this.current === undefined) await d.switchTo().window(this.home);
      await d.switchTo().newWindow("window");
      this.current = await d.getWindowHandle();
      return this.current;
    });
    const page = new Page(this, handle);
    this.pages.add(page);
    await page.goto(path);
    return page;
  }

  /**
   * Lets `page` watch objects for garbage collection: page code then calls
   * `__gcWatch(object, label)` on each object it is about to drop, and `collectGarbage` collects
   * until each of them was finalized (a FinalizationRegistry). Watching the very objects a test
   * drops, not a canary of its own: a canary can die in a minor collection while the object
   * the test is about, older, lives on (seen in WebKit).
   */
  async watchGarbage(page) {
    await page.evaluate(() => {
      const alive = new Set();
      const registry = new FinalizationRegistry((label) => alive.delete(label));
      globalThis.__gc = { alive, registry, watched: 0 };
      globalThis.__gcWatch = (object, label) => {
        if (alive.has(label)) throw new Error(`__gcWatch: ${label} is watched already`);
        alive.add(label);
        __gc.watched++;
        registry.register(object, label);
      };
    });
  }

  /**
   * Collects garbage in `page` until every object it watches (`watchGarbage`) was finalized;
   * resolves to the labels of those still alive at the timeout (`[]`: all were collected).
   * Chromium: `gc()` (started with --expose-gc). Firefox: the chrome context asks every content
   * process to collect (pages have no gc()). WebKitGTK's MiniBrowser offers neither (JSC's $vm
   * is a restricted option in release builds), so there the page allocates garbage until the
   * collector runs on its own: pressure, not a forced collection, which is why the result is
   * checked rather than assumed.
   */
  async collectGarbage(page, { timeout = 20_000 } = {}) {
    const started = Date.now();
    for (;;) {
      if (this.engine === "firefox") {
        await this.command(page.handle, async (d) => {
          await d.setContext("chrome");
          try {
            await d.executeScript(`
              Services.obs.notifyObservers(null, "child-gc-request");
              Services.obs.notifyObservers(null, "child-cc-request");
              Services.obs.notifyObservers(null, "child-gc-request");`);
          } finally {
            await d.setContext("content");
          }
        });
      }
      // A round in the page: ~500 ms of collections (or of garbage), until nothing watched is left.
      const alive = await page.evaluate(async ({ force }) => {
        if (!globalThis.__gc) throw new Error("collectGarbage: call watchGarbage(page) first");
        if (__gc.watched === 0) throw new Error("collectGarbage: the page watches nothing");
        const started = Date.now();
        while (__gc.alive.size && Date.now() - started < 500) {
          if (force) gc();
          else if (typeof gc !== "function") {
            let junk = [];
            for (let i = 0; i < 200_000; i++) junk.push({ i, text: `garbage ${i}` });
            junk = null;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        return [...__gc.alive];
      }, { force: this.engine === "chromium" });
      if (!alive.length || Date.now() - started > timeout) return alive;
    }
  }

  /** Closes every page (checking each for uncaught errors), the session and the server. */
  async close() {
    const errors = [];
    for (const page of [...this.pages]) await page.close().catch((e) => errors.push(e));
    await this.driver.quit().catch(() => {});
    this.driverProcess.stop();
    await this.server.close();
    rmSync(this.profile, { recursive: true, force: true });
    if (errors.length) throw errors[0];
  }
}

/** `Browser.launch`: the engine of this run. */
export const launch = (options) => Browser.launch(options);

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--version") {
  const browser = await Browser.launch({ engine: process.argv[3] ?? ENGINE });
  try {
    console.log(await browser.version());
  } finally {
    await browser.close();
  }
}
