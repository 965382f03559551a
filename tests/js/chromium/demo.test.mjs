// The demo PWA (www/), driven as a person would in two tabs, with a second device syncing through
// the sync server, then offline: the same steps as `npm run demo -- --check`. Leaves screenshots
// in test-results/demo.png and demo-sync.png.
// Chromium only: installability is checked through the DevTools protocol (the store itself runs
// in every engine's tests, in tests/js/).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { checkDemo, launchDemo, SCREENSHOT } from "../../../scripts/demo-check.mjs";

let browser;
before(async () => { browser = await launchDemo(); });
after(() => browser?.close());

test("the demo: create, edit, a second tab's feed, a conflict, two devices syncing through offline edits and a merged conflict, and an offline reload from the service worker", async (t) => {
  await checkDemo(browser, { say: (line) => t.diagnostic(line), screenshot: SCREENSHOT });
});

test("the demo opens each backend it offers and creates a session in it", async () => {
  for (const backend of ["localstorage", "sessionstorage", "memory"]) {
    const page = await browser.page(`?backend=${backend}`);
    await page.waitForSelector("body[data-ready]");
    assert.equal(await page.evaluate(() => document.body.dataset.ready), "true", backend);
    assert.equal(await page.textContent("#backend"), backend);
    assert.equal(await page.inputValue("#backend-pick"), backend);
    await page.click("#create");
    await page.waitForSelector("tbody tr.selected");
    assert.match(await page.textContent("#message"), /^Created .+, version 1\.$/);
    assert.deepEqual(page.errors, [], backend);
    await page.close();
  }
});
