// README.md's JavaScript examples, run as written against the built package in each engine
// (WSS_ENGINE): every ```js block, each in a fresh page. A line `console.log(x); // expected`
// asserts that x equals the JSON after `//`, compared structurally (key order aside; undefined,
// NaN and -0 are not JSON and never equal it), and every such line must run. A block that names
// the sync server's default address (SYNC_URL: the "Sync" section) gets a real server instead:
// `wss-server --insecure-dev` (built by scripts/build-server.sh), started once for this file,
// allowing the page's origin, its URL put in place of that address.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { useBrowser } from "./helpers.mjs";
import { startSyncServer } from "../../scripts/sync-server.mjs";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const PRELUDE = 'import init, { SessionStore } from "wasm-session-store";\nawait init();\n';
const EXPECT = /^(\s*)console\.log\((.+)\);\s*\/\/\s*(.+)$/;
// What README.md writes for the sync server's URL.
const SYNC_URL = '"http://127.0.0.1:8787"';

/** The ```js blocks, with their first line number in README.md. */
function blocks() {
  const out = [];
  const lines = readme.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== "```js") continue;
    const start = i + 2;
    const body = [];
    while (lines[++i].trim() !== "```") body.push(lines[i]);
    out.push({ start, body });
  }
  return out;
}

/** The block as a module that records each expectation instead of logging. */
function instrument({ start, body }) {
  let expectations = 0;
  const code = body.map((line, i) => {
    const m = EXPECT.exec(line);
    if (!m) return line;
    expectations++;
    return `${m[1]}__expect(${m[2]}, ${JSON.stringify(m[3].trim())}, ${start + i});`;
  }).join("\n");
  const prelude = /from "wasm-session-store"/.test(code) ? "" : PRELUDE;
  return { code: prelude + code, expectations };
}

const it = useBrowser();

let syncServer;
/** The code with the sync server's URL in place of SYNC_URL (a server started on first use). */
async function withSyncServer(code) {
  if (!code.includes(SYNC_URL)) return code;
  syncServer ??= startSyncServer({ args: ["--insecure-dev", "--allow-origin", new URL(it.browser.url).origin] });
  const { url } = await syncServer;
  return code.replaceAll(SYNC_URL, JSON.stringify(url));
}
after(async () => (await syncServer?.catch(() => undefined))?.stop());

test("README.md has JavaScript examples with checked output", () => {
  const all = blocks().map(instrument);
  assert.ok(all.length >= 3, `${all.length} js blocks`);
  assert.ok(all.every((b) => b.expectations > 0), "every js block checks something");
});

for (const block of blocks()) {
  test(`README.md js example at line ${block.start}`, async () => {
    const { code: text, expectations } = instrument(block);
    const code = await withSyncServer(text);
    const page = await it.browser.page();
    const results = await page.evaluate(async (code) => {
      const { same } = await import("/t/checks.js");
      const results = [];
      globalThis.__expect = (actual, expected, line) => {
        let want, parsed = false;
        try { want = JSON.parse(expected); parsed = true; } catch { want = expected; }
        results.push({ line, ok: parsed ? same(actual, want) : actual === want, actual, expected });
      };
      const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
      await import(url);
      return results;
    }, code);
    await page.close();
    for (const r of results) assert.ok(r.ok, `README.md line ${r.line}: got ${JSON.stringify(r.actual)} (${typeof r.actual}), expected ${r.expected}`);
    assert.equal(results.length, expectations, "every console.log expectation ran");
  });
}
