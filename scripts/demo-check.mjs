// Drives the demo (www/) in headless Chromium once, as a person would, and checks what it shows:
// install, create, edit and save, a second tab's change feed, a version conflict, change id,
// extend TTL, delete; then sync with a second device (another Chromium profile): it pulls the
// session, both edit it while the first is offline (the demo's switch), the conflict is merged
// and both end with the merge; then a reload with the network off served by the service worker.
//   node scripts/demo-check.mjs     (what `npm run demo -- --check` runs after building pkg/)
// The demo test (tests/js/demo.test.mjs) runs the same steps through `checkDemo`.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./browser.mjs";
import { demoSync } from "./demo-sync.mjs";

const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const SCREENSHOT = join(repo, "test-results", "demo.png");

/**
 * Runs every step against a `launch()`ed browser, reporting each through `say`. Throws (an
 * AssertionError naming the step) at the first thing the demo gets wrong.
 */
export async function checkDemo(browser, { say = console.log, screenshot = SCREENSHOT } = {}) {
  const a = await open(browser);
  say(`opened ${browser.url} in tab A: backend ${await text(a, "#backend")}`);
  assert.equal(await text(a, "#backend"), "indexeddb");
  assert.match(await text(a, "#backend-why"), /picked it/);

  await a.waitForSelector("body[data-sw=controlled]", { timeout: 15_000 });
  const cdp = await browser.context.newCDPSession(a);
  const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
  assert.deepEqual(installabilityErrors, [], "the manifest, icons and service worker make it installable");
  const { errors: manifestErrors } = await cdp.send("Page.getAppManifest");
  assert.deepEqual(manifestErrors, []);
  say("service worker controls the page; the PWA is installable (no installability or manifest errors)");
  await a.waitForFunction(() => !document.querySelector("#persisted").textContent.startsWith("…"));
  say(`storage: ${await text(a, "#usage")}; persistent: ${await text(a, "#persisted")}`);

  await a.click("#create");
  const id = await a.waitForFunction(() => document.querySelector("tbody tr.selected")?.dataset.id).then((h) => h.jsonValue());
  assert.equal(await cellOf(a, id, "version"), "1");
  assert.deepEqual(JSON.parse(await a.inputValue("#state")), { user: "ada", cart: ["apple"], visits: 1 });
  say(`created ${id} (version 1); it is listed and in the editor`);

  await edit(a, { user: "ada", cart: ["apple", "pear"], visits: 2 });
  await a.click("#save-if");
  await message(a, "ok", /now 2/);
  assert.equal(await cellOf(a, id, "version"), "2");
  say("edited the state and saved it if still at version 1: version 2");

  const b = await open(browser);
  await b.click(`tr[data-id="${id}"]`);
  await editing(b, 2);
  say("tab B lists the session and opens it at version 2");

  await edit(a, { user: "ada", cart: ["apple", "pear", "fig"], visits: 3 });
  await a.click("#save-if");
  await message(a, "ok", /now 3/);
  await b.waitForSelector('#log li[data-type=saved][data-local=false]', { timeout: 5_000 });
  assert.match(await text(b, "#log li[data-type=saved][data-local=false]"), new RegExp(`other tab.*saved ${id} v3`));
  await message(b, "info", /Another tab saved/);
  await b.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] .version`)?.textContent === "3", id);
  say("tab A saved version 3; tab B's change feed shows it as a save by another tab, and its table updated");

  await edit(b, { user: "bob" });
  await b.click("#save-if");
  await message(b, "conflict", /Version conflict: you edited version 2, but another tab saved version 3 first/);
  say(`tab B's "Save if version 2" was refused: "${await text(b, "#message")}"`);
  mkdirSync(dirname(screenshot), { recursive: true });
  await b.screenshot({ path: screenshot, fullPage: true });
  say(`screenshot of tab B: ${screenshot}`);
  await b.click("#reload-editor");
  await editing(b, 3);
  assert.deepEqual(JSON.parse(await b.inputValue("#state")).cart, ["apple", "pear", "fig"], "the refused save wrote nothing");
  say("tab B reloaded the editor: tab A's version 3 is intact");

  await a.fill("#ttl", "600");
  await a.click("#extend");
  await message(a, "ok", /expires in 600 s/);
  assert.match(await cellOf(a, id, "expires"), /^(9|10):\d\d$/);
  await a.click("#change-id");
  await message(a, "ok", /^Renamed/);
  const renamed = await a.evaluate(() => document.querySelector("tbody tr.selected").dataset.id);
  assert.notEqual(renamed, id);
  assert.equal(await cellOf(a, renamed, "version"), "3", "changeId keeps the version");
  await b.waitForSelector("#log li[data-type=idChanged][data-local=false]");
  say(`extended the TTL to 600 s, renamed ${id} to ${renamed}; tab B heard the rename`);

  await a.click("#create");
  await message(a, "ok", /^Created/);
  const spare = await a.evaluate(() => document.querySelector("tbody tr.selected").dataset.id);
  await a.click("#delete");
  await message(a, "ok", new RegExp(`Deleted ${spare}`));
  await a.click("#delete-expired");
  await message(a, "ok", /Removed 0 expired sessions/);
  await b.waitForSelector("#log li[data-type=deleted][data-local=false]");
  assert.equal(await a.locator("tbody tr").count(), 1);
  say("created and deleted a second session; delete expired found none; tab B heard the delete");

  const d = await syncDevices(browser, [a, b], renamed, { say, screenshot: screenshot.replace(/\.png$/, "-sync.png") });

  await browser.context.setOffline(true);
  try {
    await a.reload();
    await a.waitForSelector("body[data-ready]");
    assert.equal(await a.evaluate(() => document.body.dataset.ready), "true", await text(a, "#message"));
    // navigator.onLine can read true in a reloaded page under emulation; the network is the proof.
    const probe = await a.evaluate(() => fetch("/pkg/wasm_session_store.d.ts").then((r) => r.status, () => "failed"));
    assert.equal(probe, "failed", "the network is off: a file the service worker does not cache cannot load");
    assert.equal(await a.evaluate(() => document.body.dataset.sw), "controlled");
    assert.equal(await cellOf(a, renamed, "version"), String(d.version));
    await a.click(`tr[data-id="${renamed}"]`);
    await editing(a, d.version);
    assert.deepEqual(JSON.parse(await a.inputValue("#state")), d.merged);
    assert.equal(await text(a, "#sync-server"), browser.syncUrl, "the sync server's address came from the cache: the store syncs");
    say(`offline reload: served by the service worker, ${renamed} is there at version ${d.version} with the merged state, and the store still syncs to ${browser.syncUrl}`);
  } finally {
    await browser.context.setOffline(false);
  }
  const errors = [...a.errors, ...b.errors, ...d.errors];
  assert.deepEqual(errors, [], "no uncaught errors in either tab");
}

/**
 * `launch()` serving the demo with its sync server (scripts/demo-sync.mjs), as `npm run demo`
 * does; `close()` stops the sync server too.
 */
export async function launchDemo() {
  const sync = demoSync();
  const browser = await launch({ mounts: sync.mounts });
  const close = browser.close;
  browser.close = () => close().finally(() => sync.stop());
  try {
    browser.syncUrl = await sync.start(browser.url);
  } catch (e) {
    await browser.close();
    throw e;
  }
  return browser;
}

/**
 * Two devices: `browser` (its tabs `a`, with `id` at version 3, and `b`) and a second profile.
 * The second pulls the session; `a` goes offline (the demo's switch) and edits it while the second
 * edits it too; back online, `a`'s push meets the other's: a conflict, merged; the second pulls the
 * merge. Resolves to what `a` ends with (`merged`, `version`) and the second device's `errors`.
 */
async function syncDevices(browser, [a, b], id, { say, screenshot }) {
  await a.waitForFunction(() => document.querySelector("#pending").textContent.includes("all synced"));
  assert.equal(await cellOf(a, id, "sync"), "synced");
  assert.match(await cellOf(a, id, "synced-at"), /\d:\d\d:\d\d/);
  assert.equal(await text(a, "#sync-error"), "none");
  say(`sync: device 1 pushed everything to ${browser.syncUrl}: "${await text(a, "#pending")}", ${id} synced at ${await cellOf(a, id, "synced-at")}`);

  const device = await browser.device();
  const c = await open(device);
  await c.waitForSelector(`tr[data-id="${id}"]`, { timeout: 10_000 });
  assert.equal(await cellOf(c, id, "version"), "1", "local versions are the device's own");
  assert.equal(await cellOf(c, id, "sync"), "synced");
  await c.click(`tr[data-id="${id}"]`);
  await editing(c, 1);
  const shared = { user: "ada", cart: ["apple", "pear", "fig"], visits: 3 };
  assert.deepEqual(JSON.parse(await c.inputValue("#state")), shared);
  assert.equal(await c.locator('#log li[data-type=created][data-remote=true]').count(), 1, "its feed shows the pull");
  say(`device 2 (another browser profile) pulled ${id}: the same state, at its own version 1`);

  await a.check("#offline");
  await a.waitForSelector("body[data-sync=offline]");
  await a.click(`tr[data-id="${id}"]`);
  await editing(a, 3);
  await edit(a, { ...shared, cart: [...shared.cart, "kiwi"], visits: 4 });
  await a.click("#save-if");
  await message(a, "ok", /now 4/);
  await a.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] .sync`)?.textContent === "pending", id);
  await a.waitForFunction(() => document.querySelector("#pending").textContent === "1 session pending" &&
    document.querySelector("#sync-error").textContent.startsWith("UNAVAILABLE"), undefined, { timeout: 10_000 });
  say(`device 1 offline: saved version 4 (kiwi added); ${id} is pending, "${await text(a, "#pending")}", last error "${await text(a, "#sync-error")}"`);

  await edit(c, { ...shared, cart: [...shared.cart, "plum"], note: "from device 2" });
  await c.click("#save-if");
  await message(c, "ok", /now 2/);
  await c.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] .sync`)?.textContent === "synced" &&
    document.querySelector("#pending").textContent.includes("all synced"), id, { timeout: 10_000 });
  say("device 2 online: saved its own edit (plum added, a note) and pushed it");

  await a.uncheck("#offline");
  await a.waitForSelector("#log li[data-type=conflict]", { timeout: 10_000 });
  assert.match(await text(a, "#log li[data-type=conflict]"), new RegExp(`conflict ${id} → merged`));
  await a.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] .sync`)?.textContent === "synced" &&
    document.querySelector("#pending").textContent.includes("all synced") && document.querySelector("#sync-error").textContent === "none",
  id, { timeout: 10_000 });
  assert.match(await cellOf(a, id, "conflicts"), /^1 · merged \d/);
  assert.match(await text(a, "#editing"), /editing version 4 · the store has version 5$/, "the editor says it is behind");
  await b.waitForFunction((id) => /^1 · merged /.test(document.querySelector(`tr[data-id="${id}"] .conflicts`)?.textContent), id);
  mkdirSync(dirname(screenshot), { recursive: true });
  await a.screenshot({ path: screenshot, fullPage: true });
  await a.click("#reload-editor");
  const version = Number(await cellOf(a, id, "version"));
  await editing(a, version);
  const merged = { user: "ada", cart: ["apple", "pear", "fig", "plum", "kiwi"], visits: 4, note: "from device 2" };
  assert.deepEqual(JSON.parse(await a.inputValue("#state")), merged, "both edits kept");
  say(`device 1 back online: its push met device 2's, a conflict settled as "merged" (its other tab shows it too): ${JSON.stringify(merged)}, synced, no error`);
  say(`screenshot of device 1 before it reloaded its editor: ${screenshot}`);

  // Its pulls every 3 s may have brought it already; "Sync now" pulls at once.
  await c.click("#sync-now");
  await message(c, "ok", /^Synced: pushed 0, pulled [01], 0 conflicts settled, 0 pending\.$/);
  await c.waitForSelector("#log li[data-type=saved][data-remote=true]");
  await c.click("#reload-editor");
  await editing(c, 3);
  assert.deepEqual(JSON.parse(await c.inputValue("#state")), merged);
  assert.equal(await cellOf(c, id, "conflicts"), "", "the conflict was device 1's");
  say("device 2 pulled the merge: both devices hold the same state");
  return { merged, version, errors: c.errors };
}

async function open(browser) {
  const page = await browser.page("");
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.waitForSelector("body[data-ready]");
  assert.equal(await page.evaluate(() => document.body.dataset.ready), "true", await text(page, "#message"));
  return page;
}

const text = (page, selector) => page.locator(selector).first().textContent();
const cellOf = (page, id, column) => text(page, `tr[data-id="${id}"] .${column}`);

/** Waits for the editor to hold `version`. */
const editing = (page, version) =>
  page.waitForFunction((v) => document.querySelector("#editing").textContent.includes(`editing version ${v}`), version);

async function edit(page, state) {
  await page.fill("#state", JSON.stringify(state, null, 2));
}

/** Waits for the status line to be a `kind` message matching `pattern`. */
async function message(page, kind, pattern) {
  await page
    .waitForFunction(([kind, source]) => {
      const line = document.querySelector("#message");
      return line.className === kind && new RegExp(source).test(line.textContent);
    }, [kind, pattern.source], { timeout: 5_000 })
    .catch(async () => {
      const line = page.locator("#message");
      throw new Error(`expected a "${kind}" message matching ${pattern}, got ` +
        `"${await line.getAttribute("class")}": "${await line.textContent()}"`);
    });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const browser = await launchDemo();
  try {
    await checkDemo(browser, { say: (line) => console.log(`demo check: ✓ ${line}`) });
    console.log("demo check: passed");
  } catch (e) {
    console.error(`demo check: FAILED: ${e.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
