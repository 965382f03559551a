// The package as a user's app gets it: `npm pack`, installed from the tarball into a fresh
// node_modules next to Vite, then the app in tests/consumer/ built with `vite build` (plain
// defaults, no config file) and served, and run under the `vite` dev server with the one line
// of config the README gives. In each engine (WSS_ENGINE), each in a fresh browser: open,
// create, reload, load the same session, and a module worker of the app opening the same store.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { launch } from "../../scripts/engines.mjs";
import { serve } from "../../scripts/serve.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
/** The line README.md tells Vite users to add for the dev server. */
const DEV_CONFIG = 'export default { optimizeDeps: { exclude: ["wasm-session-store"] } };\n';

let work, app, packed;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "wss-consumer-"));
  const [info] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", work], {
    cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"],
  }));
  packed = info;
  app = join(work, "app");
  cpSync(join(repo, "tests/consumer"), app, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8"));
  manifest.dependencies["wasm-session-store"] = `file:${join(work, info.filename)}`;
  writeFileSync(join(app, "package.json"), JSON.stringify(manifest, null, 2));
  // Vite (pinned in tests/consumer/package.json) comes from the registry, or npm's cache.
  execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: app, stdio: ["ignore", "ignore", "inherit"],
  });
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("npm pack ships exactly the wasm, the JS, the .d.ts files, README and licenses", () => {
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, [
    "LICENSE-APACHE", "LICENSE-MIT", "README.md", "package.json",
    "pkg/wasm_session_store.d.ts", "pkg/wasm_session_store.js",
    "pkg/wasm_session_store_bg.wasm", "pkg/wasm_session_store_bg.wasm.d.ts", "react/index.d.ts", "react/index.js",
  ]);
  console.log(`${packed.filename}: ${packed.size} B packed, ${packed.unpackedSize} B unpacked`);
  for (const f of packed.files) console.log(`  ${f.path.padEnd(40)} ${String(f.size).padStart(8)} B`);
  const installed = JSON.parse(readFileSync(join(app, "node_modules/wasm-session-store/package.json"), "utf8"));
  assert.equal(installed.exports["."].types, "./pkg/wasm_session_store.d.ts");
  assert.equal(installed.sideEffects, false);
});

/** In a fresh browser (a profile of its own): create on `url`, reload, load it back, then from a worker. */
async function createReloadLoad(url) {
  const browser = await launch();
  try {
    const page = await browser.page(url);
    const ready = () => page.waitFor(() => document.getElementById("status")?.textContent === "ready", undefined, { timeout: 30_000 });
    await ready();
    const created = await page.evaluate(() => window.app.create({ user: "ada", cart: ["apple"] }));
    await page.reload();
    await ready();
    const loaded = await page.evaluate((id) => window.app.load(id), created.id);
    const fromWorker = await page.evaluate((id) => window.app.loadInWorker(id), created.id);
    await page.close();
    return { created, loaded, fromWorker };
  } finally {
    await browser.close();
  }
}

function assertRoundTrip({ created, loaded, fromWorker }) {
  assert.equal(created.version, 1);
  assert.equal(loaded.backend, "indexeddb");
  assert.deepEqual(loaded.record, created, "the reloaded page loads the same session");
  assert.deepEqual(fromWorker, { backend: "indexeddb", record: created }, "the module worker sees it too");
}

test("vite build with plain defaults (no config, no plugin): the built app works", async () => {
  const vite = await import(pathToFileURL(join(app, "node_modules/vite/dist/node/index.js")));
  await vite.build({ root: app, configFile: false, logLevel: "error" });
  const server = await serve({ mounts: { "/": join(app, "dist") } });
  try {
    assertRoundTrip(await createReloadLoad(server.url));
  } finally {
    await server.close();
  }
});

test("vite dev server with the README's one line of config: the app works", async () => {
  writeFileSync(join(app, "vite.config.js"), DEV_CONFIG);
  const vite = await import(pathToFileURL(join(app, "node_modules/vite/dist/node/index.js")));
  const server = await vite.createServer({
    root: app, logLevel: "error", server: { host: "127.0.0.1", port: 0, strictPort: false },
  });
  await server.listen();
  try {
    assertRoundTrip(await createReloadLoad(server.resolvedUrls.local[0]));
  } finally {
    await server.close();
  }
});

test("the README gives exactly that line", () => {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  assert.ok(readme.includes(DEV_CONFIG.trim()), "README.md shows the Vite dev config line");
});
