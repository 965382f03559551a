// The demo's service worker: it caches the app shell and the package (pkg/) at install, so the
// demo loads with the network off.
//
// Strategy: network first, cache as the fallback. Online you always get the latest build (handy
// while developing: `npm run demo` after a rebuild needs no cache-busting); every good response
// refreshes the cache; offline, or when the network takes longer than NETWORK_TIMEOUT_MS
// (lie-fi), the cached copy answers. Only same-origin GETs of the files below are handled.
const CACHE = "wss-demo-v1";
const SHELL = [
  "./",
  "./index.html",
  "./app.js",
  "./app.css",
  "./manifest.webmanifest",
  "./icons/icon.svg",
  "./icons/icon-192.png",
  "./icons/icon-512.png",
  "/pkg/wasm_session_store.js",
  "/pkg/wasm-session-store/wasm_session_store_bg.wasm",
];
// Where the sync server is (`npm run demo` serves it): cached too, so that a reload offline still
// opens the store with sync and its queue; not part of the shell, which loads without it.
const OPTIONAL = ["./sync/config.json"];
const NETWORK_TIMEOUT_MS = 3000;
const shellUrls = new Set([...SHELL, ...OPTIONAL].map((path) => new URL(path, self.location).href));

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL).then(() => Promise.all(OPTIONAL.map((path) => cache.add(path).catch(() => {})))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  url.search = "";
  if (request.method !== "GET" || !shellUrls.has(url.href)) return;
  event.respondWith(networkFirst(request, url.href));
});

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch {
    const cached = await cache.match(key);
    if (cached) return cached;
    return new Response("offline, and not cached", { status: 503, headers: { "content-type": "text/plain" } });
  }
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("network timeout")), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
