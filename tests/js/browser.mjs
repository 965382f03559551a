// Headless Debian Chromium through playwright-core, plus the static server: what every JS-level
// test needs to load the built package in a real browser.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "../../scripts/serve.mjs";

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** Launches Chromium with a fresh profile and serves www/ + pkg/ (and `mounts`). */
export async function launch({ mounts } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "wss-chromium-"));
  const server = await serve({ mounts });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    headless: true,
  });
  return {
    url: server.url,
    context,
    /** A new page on `path`, with uncaught page errors collected in page.errors. */
    async page(path = "test.html") {
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
