// The demo page (www/index.html) loads the built package, opens a store and shows a session.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

test("the demo opens an IndexedDB store and shows a created session; it persists a reload", async () => {
  const page = await browser.page("");
  await page.waitForSelector("body[data-ready]");
  assert.equal(await page.evaluate(() => document.body.dataset.ready), "true", await page.textContent("#status"));
  assert.equal(await page.textContent("#backend"), "indexeddb");
  const record = JSON.parse(await page.textContent("#record"));
  assert.equal(record.version, 1);
  assert.deepEqual(record.state, { user: "ada", cart: ["apple", "pear"], visits: 1 });
  assert.match(await page.textContent("#status"), /^1 live session/);
  await page.reload();
  await page.waitForSelector("body[data-ready]");
  assert.match(await page.textContent("#status"), /^2 live session/, "the first one survived the reload");
  assert.deepEqual(page.errors, []);
});
