// Headless Debian Chromium through playwright-core, plus the static server: for what only
// Chromium's DevTools protocol can do (the IndexedDB quota override, the demo's installability
// check, the benchmarks' timings) and the tests built on it (tests/js/chromium/). The tests that
// run in every engine use scripts/engines.mjs (W3C WebDriver) instead.
// Pages: www/ (the demo) at /, pkg/ at /pkg/, tests/pages/ (blank test page, test worker) at /t/.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CHROMIUM_ARGS } from "./engines.mjs";
import { serve } from "./serve.mjs";

export { CHROMIUM_ARGS };

const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));

/**
 * Launches Chromium with a fresh profile and serves www/ + pkg/ (and `mounts`). Every page of
 * the context, however it was opened, collects its uncaught errors in `page.errors`, and
 * `close()` fails if any page had one (a test that expects one empties `page.errors`).
 * `device()` launches another Chromium with a profile of its own on the same server: another
 * device of the same user (its own storage, service worker and network), closed by `close()` too.
 */
export async function launch({ mounts } = {}) {
  const server = await serve({ mounts: { "/t/": join(repo, "tests", "pages"), ...mounts } });
  const pages = [];
  const profiles = [];
  const contexts = [];
  const open = async () => {
    const profile = mkdtempSync(join(tmpdir(), "wss-chromium-"));
    profiles.push(profile);
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: CHROMIUM_ARGS,
      headless: true,
    });
    contexts.push(context);
    const watch = (page) => {
      if (page.errors) return;
      page.errors = [];
      page.on("pageerror", (e) => page.errors.push(e));
      pages.push(page);
    };
    context.pages().forEach(watch);
    context.on("page", watch);
    return {
      url: server.url,
      context,
      /** A new page on `path`. */
      async page(path = "t/test.html") {
        const page = await context.newPage();
        watch(page);
        await page.goto(server.url + path);
        return page;
      },
    };
  };
  return {
    ...(await open()),
    device: open,
    async close() {
      for (const context of contexts) await context.close();
      await server.close();
      for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
      const errors = pages.flatMap((p) => p.errors.map((e) => `${p.url()}: ${e.stack ?? e}`));
      if (errors.length) throw new Error(`uncaught errors in pages:\n${errors.join("\n")}`);
    },
  };
}
