// Node-side helpers of the engine-neutral JS tests: one browser of this run's engine per test
// file (WSS_ENGINE; see scripts/engines.mjs), and the report of page-side checks.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, ENGINE } from "../../scripts/engines.mjs";

export { ENGINE };

/**
 * This run's browser for the file: `await it.ready()` launches it once (before hooks of one
 * file may run side by side, so every user awaits the same launch); it is closed after the
 * file's tests, which fails the file if a page still open had uncaught errors. `it.browser` is
 * set once launched.
 */
export function useBrowser(options) {
  let launching;
  const it = {
    browser: undefined,
    ready() {
      launching ??= launch(options).then(async (browser) => {
        it.browser = browser;
        console.log(`# ${ENGINE}: ${await browser.version()}`);
        return browser;
      });
      return launching;
    },
  };
  before(() => it.ready());
  after(async () => { if (launching) await (await launching).close(); });
  return it;
}

/** Fails with every failed `[name, ok, detail]` check listed; there must be some checks. */
export function report(checks) {
  const failed = checks.filter(([, ok]) => !ok);
  assert.deepEqual(failed, [], `${ENGINE}: failed checks:\n${failed.map((c) => JSON.stringify(c)).join("\n")}`);
  assert.ok(checks.length > 0, "no checks ran");
  return checks.length;
}
