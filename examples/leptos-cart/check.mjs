// Drives the built Leptos cart once in headless Chromium, in two tabs, and checks what it
// shows: the store opens on IndexedDB, adding an item shows it (again: its quantity goes up),
// the other tab sees the change live, two tabs adding at once both win (compare-and-swap with
// retry), a removal reaches the other tab. Exits non-zero at the first thing that is wrong, or
// when a page logged an error or threw.
//   node examples/leptos-cart/check.mjs DIR     (what `scripts/leptos-example.sh --check` runs;
//                                                DIR is the build output, with index.html)
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { launch } from "../../scripts/browser.mjs";

const dir = resolve(process.argv[2] ?? "target/examples/leptos-cart");
const browser = await launch({ mounts: { "/cart/": dir } });
const say = (line) => console.log(`leptos-cart check: ${line}`);
const consoleErrors = [];

/** A new tab on the cart, once it has opened the store. */
async function tab() {
  const page = await browser.context.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  await page.goto(`${browser.url}cart/`);
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
  assert.deepEqual(consoleErrors, [], "no errors logged");
} finally {
  await browser.close(); // fails if a page threw
}
say("ok");
