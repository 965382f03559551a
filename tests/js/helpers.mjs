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

/**
 * Checks the results of a compare-and-swap storm (tests/pages/increments.js `increment`, one
 * result per caller), beyond its final count: every version from 2 on was written exactly once
 * (no write lost, none twice); without `lock`, some increments met a conflict (so the callers'
 * load-then-save did overlap); with a `lock` (strict turns), none did, and the callers' writes
 * interleaved: each pair of callers wrote versions between two of the other's, so none did all
 * its increments before another began. Returns the number of conflicts retried.
 */
export function checkStorm(results, { lock } = {}) {
  const versions = results.flatMap((r) => r.versions).sort((a, b) => a - b);
  assert.deepEqual(versions, Array.from({ length: versions.length }, (_, i) => i + 2), "each version written once, by one caller");
  const conflicts = results.reduce((s, r) => s + r.conflicts, 0);
  if (!lock) {
    assert.ok(conflicts > 0, "the callers' increments overlapped: some met a conflict");
    return conflicts;
  }
  assert.equal(conflicts, 0, "taking turns under a lock, no increment met a conflict");
  const ranges = results.map((r) => [Math.min(...r.versions), Math.max(...r.versions)]);
  const apart = ranges.flatMap(([lo, hi], i) => ranges.map(([lo2, hi2], j) => (i < j && !(lo < hi2 && lo2 < hi) ? `${i} and ${j}` : null))).filter(Boolean);
  assert.deepEqual(apart, [], `the callers' writes interleaved (versions of each: ${JSON.stringify(ranges)})`);
  return conflicts;
}
