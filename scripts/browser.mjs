// Headless Debian Chromium through playwright-core, plus the static server: what the JS-level
// tests, the demo check and the benchmarks need to load the built package in a real browser.
// Pages: www/ (the demo) at /, pkg/ at /pkg/, tests/pages/ (blank test page, test worker) at /t/.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "./serve.mjs";

const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** Launches Chromium with a fresh profile and serves www/ + pkg/ (and `mounts`). */
export async function launch({ mounts } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "wss-chromium-"));
  const server = await serve({ mounts: { "/t/": join(repo, "tests", "pages"), ...mounts } });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    headless: true,
  });
  return {
    url: server.url,
    context,
    /** A new page on `path`, with uncaught page errors collected in page.errors. */
    async page(path = "t/test.html") {
      const page = await context.newPage();
      page.errors = [];
      page.on("pageerror", (e) => page.errors.push(e));
      await page.goto(server.url + path);
      return page;
    },
    async close() {
      await context.close();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
