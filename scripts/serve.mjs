// A small static server for the demo, the JS tests and the benchmarks: www/ at /, pkg/ at
// /pkg/, and any extra roots given, on 127.0.0.1 only. A mount may also be a request handler
// (the sync tests' fault-injecting proxy, scripts/fault-proxy.mjs), given at start or added
// later with `mount()`.
//   node scripts/serve.mjs [--port 8080]
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ts": "text/plain; charset=utf-8",
};

/**
 * Starts serving. `mounts` maps URL prefixes (ending in "/") to directories, or to handlers
 * `(req, res, rest)` that answer every request under the prefix themselves (`rest`: the URL
 * after the prefix, from its "/", query included).
 * Resolves to { url, close(), mount(prefix, dirOrHandler) -> unmount() }.
 */
export async function serve({ port = 0, mounts = {} } = {}) {
  const table = Object.entries({ "/pkg/": join(repo, "pkg"), "/": join(repo, "www"), ...mounts });
  const sort = () => table.sort((a, b) => b[0].length - a[0].length);
  sort();
  const server = createServer(async (req, res) => {
    const rawPath = new URL(req.url, "http://x").pathname;
    const handler = table.find(([p, target]) => typeof target === "function" && rawPath.startsWith(p));
    if (handler) return handler[1](req, res, req.url.slice(handler[0].length - 1));
    const path = decodeURIComponent(rawPath);
    const [prefix, dir] = table.find(([p, target]) => typeof target === "string" && path.startsWith(p)) ?? [];
    let file = dir && normalize(join(dir, path.slice(prefix.length)));
    try {
      if (!file || !file.startsWith(dir)) throw new Error("outside");
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
      });
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  await new Promise((ok, fail) => server.once("error", fail).listen(port, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${server.address().port}/`;
  // close() ends open connections too: a browser that stays up keeps idle (or preconnected)
  // sockets, which made server.close() wait ~100 s for them (measured in Chromium).
  const close = () => new Promise((ok) => {
    server.close(ok);
    server.closeAllConnections();
  });
  const mount = (prefix, target) => {
    if (!prefix.startsWith("/") || !prefix.endsWith("/")) throw new Error(`mount ${prefix}: a prefix starts and ends with "/"`);
    if (table.some(([p]) => p === prefix)) throw new Error(`mount ${prefix}: already mounted`);
    const entry = [prefix, target];
    table.push(entry);
    sort();
    return () => {
      const i = table.indexOf(entry);
      if (i >= 0) table.splice(i, 1);
    };
  };
  return { url, close, mount };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const port = Number(i > 0 ? process.argv[i + 1] : process.env.PORT ?? 8080);
  const { url } = await serve({ port });
  console.log(`demo: serving www/ and pkg/ at ${url}  (Ctrl-C to stop)`);
}
