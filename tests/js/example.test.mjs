// The Rust example app (examples/cart) as its users get it, in each engine (WSS_ENGINE): built
// by scripts/build-example.sh into target/examples/cart/ (wasm-bindgen's module, and the app's
// page), served from a server of its own (an origin of its own: the mounts of `useBrowser`
// only count for the first file of tests/js/run-all.mjs, and this one needs none), in two
// windows of this run's browser. Two tabs share one cart: each adds an item with
// compare-and-swap, each hears the other's write through the store's change feed; a stale
// write is refused; the app's own allocator is the one in use; and the app's module exports
// the app only, nothing of the library's JS class. Then the app synced with a real wss-server
// (scripts/sync-server.mjs; built by scripts/build-server.sh), as two devices: two origins, so
// two IndexedDB databases, each page driven through its form and its sync line.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { useBrowser, ENGINE } from "./helpers.mjs";
import { serve } from "../../scripts/serve.mjs";
import { startSyncServer } from "../../scripts/sync-server.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
// WSS_EXAMPLE_DIR: another build of the example (e.g. one made before a change).
const dir = process.env.WSS_EXAMPLE_DIR ? resolve(process.env.WSS_EXAMPLE_DIR) : join(repo, "target/examples/cart");
const module = "wasm_session_store_example_cart";
const files = {
  glue: join(dir, `${module}.js`),
  dts: join(dir, `${module}.d.ts`),
  wasm: join(dir, `${module}_bg.wasm`),
  page: join(dir, "index.html"),
};

const missing = Object.values(files).filter((file) => !existsSync(file));
/** Fails, saying how to build it, when the example's build output is missing. */
function requireBuild() {
  if (missing.length) {
    throw new Error(`the example app is not built (no ${missing.join(", ")}): run bash scripts/build-example.sh`);
  }
}

/** A test that fails at once (and counts as failed) when the example is not built. */
const appTest = (title, fn) => test(title, async () => {
  requireBuild();
  await fn();
});

const it = useBrowser();

/** `page`, once the app's page has started (its status line says "ready"). */
async function started(page) {
  const status = await page.waitFor(() => {
    const text = document.getElementById("status")?.textContent;
    return text && text !== "loading" ? text : undefined;
  }, undefined, { timeout: 30_000 });
  assert.equal(status, "ready", `${ENGINE}: the app's page did not start`);
  return page;
}

describe("the Rust example app (examples/cart)", () => {
  let server;
  const pages = [];
  // One store per run of this file (the profile is fresh per launch; this is for reruns by hand).
  const name = `cart-test-${Date.now()}`;

  /** A window on the app's page, once the page has loaded the module (`window.app`). */
  async function openApp() {
    const page = await it.browser.page(server.url);
    pages.push(page);
    return started(page);
  }

  /** The app's cart in `page`, opened as `cart` on the test's store. */
  const openCart = (page) => page.evaluate(async (name) => {
    globalThis.cart = await app.openCart(name);
    return cart.backend;
  }, name);

  let a, b;
  before(async () => {
    if (missing.length) return;
    server = await serve({ mounts: { "/": dir } });
    await it.ready();
    a = await openApp();
    b = await openApp();
  });

  after(async () => {
    const errors = [];
    for (const page of pages) {
      await page.evaluate(() => globalThis.cart?.close()).catch(() => {});
      await page.close().catch((e) => errors.push(e));
    }
    await server?.close();
    if (errors.length) throw errors[0];
  });

  appTest("two tabs share one cart: each adds with compare-and-swap and hears the other's write", async () => {
    assert.equal(await openCart(a), "indexeddb");
    // openCart creates the empty cart (version 1); the first addition is version 2.
    assert.equal(await a.evaluate(() => cart.addItem("apple", 2)), 2);
    assert.equal(await openCart(b), "indexeddb");
    assert.equal(await b.evaluate(() => cart.addItem("pear", 1)), 3);

    // Tab A hears B's write through subscribe (its own writes are not counted).
    const heard = await a.waitFor(() => cart.events(), undefined, { timeout: 10_000 });
    assert.equal(heard, 1);
    assert.deepEqual(await a.evaluate(() => cart.items()), {
      version: 3,
      items: [{ item: "apple", qty: 2 }, { item: "pear", qty: 1 }],
    });

    // And the other way: A adds to its line, B hears it and reads the merged cart.
    assert.equal(await b.evaluate(() => cart.events()), 0, "B opened after A's writes and made its own");
    assert.equal(await a.evaluate(() => cart.addItem("apple", 1)), 4);
    assert.equal(await b.waitFor(() => cart.events(), undefined, { timeout: 10_000 }), 1);
    assert.deepEqual(await b.evaluate(() => cart.items()), {
      version: 4,
      items: [{ item: "apple", qty: 3 }, { item: "pear", qty: 1 }],
    });
  });

  appTest("a write based on a stale version is refused: VERSION_CONFLICT", async () => {
    const out = await a.evaluate(async () => {
      const before = (await cart.items()).version;
      const code = await cart.staleWrite();
      return { before, code, after: (await cart.items()).version };
    });
    // The first write of the two is accepted (one version more), the second refused.
    assert.deepEqual(out, { before: out.before, code: "VERSION_CONFLICT", after: out.before + 1 });
    assert.ok(out.before >= 1);
  });

  appTest("errors reach JS as CartErrors with the store's code", async () => {
    const out = await b.evaluate(async (name) => {
      const caught = (p) => p.then(() => "resolved", (e) => ({ name: e.name, code: e.code, isError: e instanceof Error }));
      const badName = await caught(app.openCart("not a valid name!"));
      const badQty = await caught(cart.addItem("apple", 0));
      const other = await app.openCart(`${name}-closed`);
      other.close();
      const closed = await caught(other.addItem("apple", 1));
      return { badName, badQty, closed };
    }, name);
    assert.deepEqual(out, {
      badName: { name: "CartError", code: "INVALID_INPUT", isError: true },
      badQty: { name: "CartError", code: "INVALID_INPUT", isError: true },
      closed: { name: "CartError", code: "CLOSED", isError: true },
    });
  });

  appTest("the app's own #[global_allocator] is the one in use", async () => {
    const out = await a.evaluate(async () => {
      const before = app.allocations();
      await cart.addItem("plum", 1);
      return { before, after: app.allocations() };
    });
    assert.ok(out.before > 0, `allocations() = ${out.before}`);
    assert.ok(out.after > out.before, `an addItem allocates through the app's allocator: ${JSON.stringify(out)}`);
  });

  appTest("the app's module exports the app only: nothing of the library's SessionStore", async () => {
    // The JS glue's exports, the .d.ts's declarations and the wasm's exports.
    const glue = Object.keys(await import(pathToFileURL(files.glue).href)).sort();
    const dts = [...readFileSync(files.dts, "utf8").matchAll(
      /^export (?:declare )?(?:default )?(?:class|function|interface|type|const|enum) +([A-Za-z_$][\w$]*)/gm,
    )].map((m) => m[1]).sort();
    const wasm = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(files.wasm))).map((e) => e.name);

    const APP = ["CartApp", "allocations", "openCart"];
    const extra = (names, allowed) => names.filter((n) => !allowed.includes(n));
    const found = {
      glue: extra(glue, [...APP, "default", "initSync"]),
      dts: extra(dts, [...APP, "InitInput", "InitOutput", "SyncInitInput", "initSync", "__wbg_init"]),
      wasm: wasm.filter((n) => /sessionstore/i.test(n)),
    };
    assert.deepEqual(found, { glue: [], dts: [], wasm: [] },
      "the app's module has exports beyond the app's own (the library's #[wasm_bindgen] items leak into every app linking it)");
    for (const name of ["openCart", "allocations", "cartapp_addItem"]) assert.ok(wasm.includes(name), `wasm exports ${name}`);
  });
});

describe("the Rust example app synced with a wss-server, on two devices (examples/cart)", () => {
  // Each device is an origin of its own (its own IndexedDB), with the app's page.
  let phone, laptop, sync;
  const pages = [];
  // Where the page syncs when it is "offline": a port browsers refuse to fetch from (9, discard),
  // so every push fails at once, as with no network.
  const OFFLINE = "http://127.0.0.1:9";

  before(async () => {
    if (missing.length) return;
    phone = await serve({ mounts: { "/": dir } });
    laptop = await serve({ mounts: { "/": dir } });
    await it.ready();
    const origins = [phone, laptop].flatMap((s) => ["--allow-origin", new URL(s.url).origin]);
    sync = await startSyncServer({ args: ["--insecure-dev", ...origins] });
  });

  after(async () => {
    const errors = [];
    for (const page of pages) await page.close().catch((e) => errors.push(e));
    await Promise.all([phone?.close(), laptop?.close(), sync?.stop()]);
    if (errors.length) throw errors[0];
  });

  /** The app's page of `device`, (re)loaded syncing with `url`, once it is ready. */
  async function load(device, url, page) {
    const address = `${device.url}?sync=${encodeURIComponent(url)}`;
    if (page) await page.goto(address);
    else pages.push((page = await it.browser.page(address)));
    return started(page);
  }
  /** Adds `qty` of `item` through the page's form. */
  const add = (page, item, qty) => page.evaluate(([item, qty]) => {
    const form = document.getElementById("add");
    form.querySelector("[name=item]").value = item;
    form.querySelector("[name=qty]").value = String(qty);
    form.querySelector("button").click();
  }, [item, qty]);
  /** Waits until the page's sync line matches `pattern` (a RegExp's source); resolves to it. */
  const syncLine = (page, pattern) => page.waitFor((pattern) => {
    const text = document.getElementById("sync-state").textContent;
    return new RegExp(pattern).test(text) && text;
  }, pattern.source, { timeout: 20_000 }).catch(async (e) => {
    const text = await page.evaluate(() => document.getElementById("sync-state").textContent);
    throw new Error(`${e.message}\nthe sync line: ${text}`);
  });
  /** Waits until the page lists exactly `lines` ("2 × apple", ...). */
  const shows = (page, lines) => page.waitFor((want) => {
    const got = [...document.querySelectorAll("#lines li")].map((li) => li.textContent);
    return JSON.stringify(got) === JSON.stringify(want);
  }, lines, { timeout: 20_000 }).catch(async (e) => {
    const got = await page.evaluate(() => [...document.querySelectorAll("#lines li")].map((li) => li.textContent));
    throw new Error(`${e.message}\nthe page lists ${JSON.stringify(got)}`);
  });

  appTest("offline edits stay pending across a reload, go out when the server answers, and the other device pulls them", async () => {
    const a = await load(phone, OFFLINE);
    assert.equal(await a.evaluate(() => document.getElementById("sync").hidden), false, "the sync line is shown");
    await add(a, "apple", 2);
    await shows(a, ["2 × apple"]);
    await syncLine(a, /^1 pending · last sync never · .*UNAVAILABLE/);

    // Back online (a reload with the server's URL): the queued cart is pushed.
    await load(phone, sync.url, a);
    await shows(a, ["2 × apple"]);
    const synced = await syncLine(a, /^synced · last sync \S/);
    assert.doesNotMatch(synced, /UNAVAILABLE/, "a pass that completes clears the last error");

    // The other device opens the app: it pulls the cart rather than creating its own.
    const b = await load(laptop, sync.url);
    await shows(b, ["2 × apple"]);
    await syncLine(b, /^synced · .* 1 pulled · 0 conflicts merged$/);
  });

  appTest("both devices change the cart offline: the second to push gets a conflict, merged, and the Sync button pulls it", async () => {
    const [a, b] = pages;
    // Offline on both (reloaded with a server that cannot be reached), a line each.
    await load(phone, OFFLINE, a);
    await add(a, "pear", 1);
    await syncLine(a, /^1 pending/);
    await load(laptop, OFFLINE, b);
    await add(b, "fig", 3);
    await syncLine(b, /^1 pending/);

    // The phone comes back first; then the laptop, whose push is refused and merged.
    await load(phone, sync.url, a);
    await syncLine(a, /^synced · .* 0 conflicts merged$/);
    await shows(a, ["2 × apple", "1 × pear"]);
    await load(laptop, sync.url, b);
    await syncLine(b, /^synced · .* 1 conflicts merged$/);
    await shows(b, ["2 × apple", "1 × pear", "3 × fig"]);

    // The phone's Sync button pulls the merge.
    await a.evaluate(() => document.getElementById("sync-now").click());
    await shows(a, ["2 × apple", "1 × pear", "3 × fig"]);
    await syncLine(a, /^synced · .* 1 pulled · 0 conflicts merged$/);
  });
});
