// The demo's sync server: `wss-server --insecure-dev` in memory (scripts/sync-server.mjs), allowing
// the demo's origin, its URL given to the page at /sync/config.json (the page syncs to it, and
// runs without sync where that file is missing). `npm run demo` runs this file; the demo check
// uses `demoSync()` with its own static server.
//   node scripts/demo-sync.mjs [--port 8080]     serves www/ and pkg/ and starts the sync server
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "./serve.mjs";
import { startSyncServer } from "./sync-server.mjs";

/**
 * `mounts`: what the static server must serve (/sync/), then `start(pageUrl)`: starts the sync
 * server for the page's origin (and its `localhost` twin), writes /sync/config.json, and
 * resolves to the server's URL; `stop()` stops it.
 */
export function demoSync() {
  const dir = mkdtempSync(join(tmpdir(), "wss-demo-sync-"));
  let server;
  return {
    mounts: { "/sync/": dir },
    async start(pageUrl) {
      const origin = new URL(pageUrl).origin;
      const origins = [origin, origin.replace("//127.0.0.1:", "//localhost:")];
      server = await startSyncServer({ args: ["--insecure-dev", ...origins.flatMap((o) => ["--allow-origin", o])] });
      writeFileSync(join(dir, "config.json"), `${JSON.stringify({ url: server.url })}\n`);
      return server.url;
    },
    async stop() {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const port = Number(i > 0 ? process.argv[i + 1] : process.env.PORT ?? 8080);
  const sync = demoSync();
  const { url } = await serve({ port, mounts: sync.mounts });
  const syncUrl = await sync.start(url);
  console.log(`demo: serving www/ and pkg/ at ${url}, syncing to wss-server --insecure-dev (memory) at ${syncUrl}  (Ctrl-C to stop)`);
  const stop = () => sync.stop().finally(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
