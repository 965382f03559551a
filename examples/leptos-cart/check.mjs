// Drives the built Leptos cart once in headless Chromium, in two tabs, and checks what it
// shows: the store opens on IndexedDB, adding an item shows it (again: its quantity goes up),
// the other tab sees the change live, two tabs adding at once both win (compare-and-swap with
// retry), a removal reaches the other tab. Then sync, against a real wss-server
// (scripts/sync-server.mjs; built by scripts/build-server.sh): two devices (two more browsers,
// each with a profile and an origin of its own) open the page with ?sync=<server>; one's cart
// reaches the other; both go offline (Playwright's switch: navigator.onLine and the network)
// and change it; back online, the first pushes, the second's push conflicts and is merged, and
// the first's "Sync now" pulls the merge. Exits non-zero at the first thing that is wrong, or
// when a page logged an error or threw.
//   node examples/leptos-cart/check.mjs DIR     (what `scripts/leptos-example.sh --check` runs;
//                                                DIR is the build output, with index.html)
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { launch } from "../../scripts/browser.mjs";
import { startSyncServer } from "../../scripts/sync-server.mjs";

const dir = resolve(process.argv[2] ?? "target/examples/leptos-cart");
const browser = await launch({ mounts: { "/cart/": dir } });
const say = (line) => console.log(`leptos-cart check: ${line}`);
const consoleErrors = [];

/** A new tab on the cart (of `on`, with `query`), once it has opened the store. */
async function tab(on = browser, query = "") {
  const page = await on.context.newPage();
  // Chromium logs every 4xx answer as an error; a conflict's 412 is expected where it syncs.
  const expected = (text) => query && /status of 412 \(Precondition Failed\)/.test(text);
  page.on("console", (m) => m.type() === "error" && !expected(m.text()) && consoleErrors.push(m.text()));
  await page.goto(`${on.url}cart/${query}`);
  await page.waitForSelector("#backend", { timeout: 15_000 });
  return page;
}
/** Types `name` and submits the form. */
async function add(page, name) {
  await page.fill("#item", name);
  await page.click("#add button[type=submit]");
}
/** Waits until the cart shows exactly `lines` ({ name: qty }), in order. */
async function shows(page, lines) {
  const want = JSON.stringify(Object.entries(lines));
  await page
    .waitForFunction(
      (want) =>
        JSON.stringify(
          [...document.querySelectorAll("#lines li")].map((li) => [
            li.dataset.name,
            Number(li.querySelector(".qty").textContent),
          ]),
        ) === want,
      want,
      { timeout: 10_000 },
    )
    .catch(async () => {
      const got = await page.$$eval("#lines li", (lis) => lis.map((li) => li.textContent));
      assert.fail(`expected ${want}, the page shows ${JSON.stringify(got)} (${await text(page, "#error")})`);
    });
}
const text = (page, selector) => page.textContent(selector).then((t) => t.trim());

try {
  const a = await tab();
  assert.match(await text(a, "#backend"), /indexeddb/);
  await a.waitForSelector("#empty");
  say(`tab A opened the store (${await text(a, "#backend")}); the cart is empty`);

  await add(a, "apple");
  await shows(a, { apple: 1 });
  await add(a, "apple");
  await add(a, "pear");
  await shows(a, { apple: 2, pear: 1 });
  assert.equal(await text(a, "#summary"), "3 item(s), version 3");
  say(`tab A added apple, apple, pear: ${await text(a, "#summary")}`);

  const b = await tab();
  await shows(b, { apple: 2, pear: 1 });
  say("tab B opened and reads the same cart");

  await add(b, "fig");
  await shows(a, { apple: 2, pear: 1, fig: 1 });
  assert.equal(await text(a, "#remote"), "Updates from other tabs: 1");
  say("tab B added fig; tab A shows it live (one update from another tab)");

  // Both tabs write at once: one of the two compare-and-swaps may lose, read again and retry.
  await Promise.all([add(a, "kiwi"), add(b, "plum")]);
  for (const page of [a, b]) {
    await page.waitForFunction(() => document.querySelectorAll("#lines li").length === 5, null, {
      timeout: 10_000,
    });
  }
  const names = (page) => page.$$eval("#lines li", (lis) => lis.map((li) => li.dataset.name));
  assert.deepEqual((await names(a)).slice(0, 3), ["apple", "pear", "fig"]);
  assert.deepEqual((await names(a)).slice(3).sort(), ["kiwi", "plum"]);
  assert.deepEqual(await names(b), await names(a));
  assert.equal(await text(a, "#summary"), "6 item(s), version 6");
  assert.equal(await text(b, "#summary"), "6 item(s), version 6");
  say(`tabs A and B added kiwi and plum at once: both kept, both tabs at version 6`);

  await b.click('#lines li[data-name="pear"] button');
  await a.waitForFunction(() => !document.querySelector('#lines li[data-name="pear"]'), null, {
    timeout: 10_000,
  });
  say("tab B removed pear; tab A no longer shows it");
  await sync();
  assert.deepEqual(consoleErrors, [], "no errors logged");
} finally {
  await browser.close(); // fails if a page threw
}

/** The sync part: two devices and a server. */
async function sync() {
  const devices = [await launch({ mounts: { "/cart/": dir } }), await launch({ mounts: { "/cart/": dir } })];
  const origins = devices.flatMap((d) => ["--allow-origin", new URL(d.url).origin]);
  const server = await startSyncServer({ args: ["--insecure-dev", ...origins] });
  /** Waits until the page's sync line matches `pattern`; resolves to the line. */
  const syncLine = (page, pattern) =>
    page
      .waitForFunction((p) => new RegExp(p).test(document.querySelector("#sync-state")?.textContent), pattern.source, {
        timeout: 15_000,
      })
      .then(() => text(page, "#sync-state"))
      .catch(async () => assert.fail(`expected the sync line to match ${pattern}, it is: ${await text(page, "#sync-state")}`));
  /** Waits until the server's cart has the lines named `names` (the server's own record). */
  const serverHas = async (names) => {
    const url = `${server.url}/v1/stores/leptos-cart/sessions/cart`;
    let got;
    for (const start = Date.now(); Date.now() - start < 15_000; await new Promise((r) => setTimeout(r, 100))) {
      const r = await fetch(url);
      got = r.ok ? (await r.json()).state.lines.map((l) => l.name) : r.status;
      if (JSON.stringify(got) === JSON.stringify(names)) return;
    }
    assert.fail(`the server's cart: expected ${JSON.stringify(names)}, it has ${JSON.stringify(got)}`);
  };
  try {
    const query = `?sync=${encodeURIComponent(server.url)}`;
    const [phone, laptop] = [await tab(devices[0], query), await tab(devices[1], query)];
    await add(phone, "apple");
    await shows(phone, { apple: 1 });
    await serverHas(["apple"]);
    say(`synced device 1 added apple, which the server has: ${await syncLine(phone, /^synced · last sync \d/)}`);
    await laptop.click("#sync-now");
    await shows(laptop, { apple: 1 });
    say(`device 2 pulled it ("Sync now"): ${await syncLine(laptop, /^synced · .* 1 pulled · 0 conflicts merged$/)}`);

    for (const d of devices) await d.context.setOffline(true);
    await add(phone, "pear");
    await add(laptop, "fig");
    await shows(phone, { apple: 1, pear: 1 });
    await shows(laptop, { apple: 1, fig: 1 });
    await syncLine(phone, /^1 pending/);
    say(`both offline, each added a line: ${await syncLine(laptop, /^1 pending/)}`);

    // Back online (the `online` event starts a push): the phone first, then the laptop, whose
    // push is refused (412) and merged.
    await devices[0].context.setOffline(false);
    await syncLine(phone, /^synced · .* 0 conflicts merged$/);
    await devices[1].context.setOffline(false);
    await shows(laptop, { apple: 1, pear: 1, fig: 1 });
    say(`back online, device 2's change conflicted and was merged: ${await syncLine(laptop, /^synced · .* 1 conflicts merged$/)}`);
    await serverHas(["apple", "pear", "fig"]);
    await phone.click("#sync-now");
    await shows(phone, { apple: 1, pear: 1, fig: 1 });
    say(`device 1 pulled the merge ("Sync now"): ${await syncLine(phone, /^synced · .* 1 pulled · 0 conflicts merged$/)}`);
  } finally {
    await server.stop();
    for (const d of devices) await d.close();
  }
}
say("ok");
