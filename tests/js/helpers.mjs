// Node-side helpers of the engine-neutral JS tests: the browser of this run's engine
// (WSS_ENGINE; see scripts/engines.mjs), and the report of page-side checks.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, ENGINE } from "../../scripts/engines.mjs";

export { ENGINE };

// One browser per process: a file run alone has its own, and `npm test` runs every file in one
// process (tests/js/all-engines.mjs) so that the files share one (each launch of Firefox costs
// ~4 s). Each test opens and closes its own pages and stores.
let launching;
let closing;

/**
 * This run's browser: `await it.ready()` launches it once (before hooks may run side by side,
 * so every user awaits the same launch); it is closed after the tests, which fails the run if
 * a page still open had uncaught errors. `it.browser` is set once launched. `options` (extra
 * server mounts) only count for the first caller.
 */
export function useBrowser(options) {
  const it = {
    browser: undefined,
    async ready() {
      launching ??= launch(options).then(async (browser) => {
        console.log(`# ${ENGINE}: ${await browser.version()}`);
        return browser;
      });
      it.browser = await launching;
      return it.browser;
    },
  };
  before(() => it.ready());
  after(async () => {
    if (launching) closing ??= (await launching).close();
    await closing;
  });
  return it;
}

/** Fails with every failed `[name, ok, detail]` check listed; there must be some checks. */
export function report(checks) {
  const failed = checks.filter(([, ok]) => !ok);
  assert.deepEqual(failed, [], `${ENGINE}: failed checks:\n${failed.map((c) => JSON.stringify(c)).join("\n")}`);
  assert.ok(checks.length > 0, "no checks ran");
  return checks.length;
}
