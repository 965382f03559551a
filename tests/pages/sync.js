// Page side of the sync tests (tests/js/sync*.test.mjs): one synced store per page or worker,
// a "device" of the test, opened through the public API only, with what the tests look at:
// its events, how often `headers()` ran, the conflict function's calls, and a movable clock.
//
// Functions cannot cross from node, so `conflict` and `headers` are named here:
//   conflict: "server" | "client" | "merge" (remote's state, then local's over it, plus
//             `merged: true`) | "delete" (null) | "throw" | "number" (returns 42) | "promise"
//             (returns a promise of a state) | undefined (the default)
//   headers:  "token" (Authorization: Bearer <globalThis.token>, read at each call) |
//             "async-token" (the same from a promise) | "throw" | "reject" | undefined (none)
// The package by URL, not through the page's import map (workers have none), and statically
// (a service worker may not import()).
import init, { SessionStore } from "/pkg/wasm_session_store.js";

const scope = globalThis;

/** The conflict option a name stands for (the function ones log their calls in `conflictCalls`). */
function conflictOption(conflict) {
  const log = (local, remote) => scope.conflictCalls.push({ local, remote });
  switch (conflict) {
    case "merge":
      return (local, remote) => (log(local, remote), { ...(remote?.state ?? {}), ...(local?.state ?? {}), merged: true });
    case "delete":
      return (local, remote) => (log(local, remote), null);
    case "throw":
      return (local, remote) => { log(local, remote); throw new Error("the app's conflict function failed"); };
    case "number":
      return (local, remote) => (log(local, remote), 42);
    case "promise":
      return async (local, remote) => (log(local, remote), { from: "a promise" });
    default:
      return conflict;
  }
}

function headersOption(headers) {
  switch (headers) {
    case "token":
      return () => { scope.headerCalls++; return { Authorization: `Bearer ${scope.token}` }; };
    case "async-token":
      return async () => { scope.headerCalls++; await null; return { Authorization: `Bearer ${scope.token}` }; };
    case "throw":
      return () => { scope.headerCalls++; throw new Error("no token: the user is signed out"); };
    case "reject":
      return () => { scope.headerCalls++; return Promise.reject(new Error("the token refresh failed")); };
    default:
      return headers;
  }
}

/** An AES-GCM key from raw bytes (an array of 32 numbers). */
export const importKey = (raw) =>
  crypto.subtle.importKey("raw", new Uint8Array(raw), "AES-GCM", false, ["encrypt", "decrypt"]);

/**
 * Opens `store` (a global of the page) with sync: `{ backend, name, url, intervalMs, conflict,
 * headers, token, key, sweepIntervalMs, ttlMs, sliding, maxLifetimeMs, offline }` (offline:
 * `goOffline()` first). The clock is the global `frozen` if a test sets it, else
 * `Date.now() + skew` (the global `skew`, 0 unless a test moves it). Events go to the global `events` (emptied at each open).
 */
export async function open(o) {
  await init();
  scope.skew ??= 0;
  if (o.offline) goOffline();
  scope.headerCalls = 0;
  scope.conflictCalls = [];
  scope.events = [];
  if (o.token !== undefined) scope.token = o.token;
  const sync = { url: o.url, intervalMs: o.intervalMs === undefined ? null : o.intervalMs };
  if (o.conflict !== undefined) sync.conflict = conflictOption(o.conflict);
  if (o.headers !== undefined) sync.headers = headersOption(o.headers);
  const options = {
    backend: o.backend ?? "indexeddb",
    name: o.name,
    now: () => scope.frozen ?? Date.now() + scope.skew,
    sweepIntervalMs: o.sweepIntervalMs === undefined ? null : o.sweepIntervalMs,
    sync,
  };
  for (const k of ["ttlMs", "sliding", "maxLifetimeMs"]) if (o[k] !== undefined) options[k] = o[k];
  if (o.key) options.encryption = { key: await importKey(o.key) };
  scope.store = await SessionStore.open(options);
  scope.store.subscribe((e) => scope.events.push({ ...e, at: Date.now() }));
  return scope.store.backend;
}

/**
 * The events so far as JSON text: through the harness, an object with `code` and `message`
 * (a syncError event) would arrive as an error, with its other fields dropped.
 */
export const eventList = () => JSON.stringify(scope.events);

/** What a promise settled to: `{ value }` or `{ error: { code, message } }`. */
export const settle = (p) => p.then(
  (value) => ({ value }),
  (e) => ({ error: { name: e?.name, code: e?.code, message: e?.message } }),
);

/**
 * Every live session of the store (or those of `only`):
 * `{ [id]: { state, version, expiresAt, ttlMs } }`.
 */
export async function snapshot(only, store = scope.store) {
  const ids = (await store.ids()).filter((id) => !only || only.includes(id)).sort();
  const records = await store.loadMany(ids);
  const out = {};
  records.forEach((r, i) => { if (r) out[ids[i]] = { state: r.state, version: r.version, expiresAt: r.expiresAt, ttlMs: r.ttlMs }; });
  return out;
}

/**
 * Starts the module worker tests/pages/sync-worker.js as `globalThis.worker`; `toWorker(cmd,
 * arg)` then resolves with its answer (rejects with its error).
 */
export function startWorker() {
  const worker = new Worker("/t/sync-worker.js", { type: "module" });
  const waiting = new Map();
  let seq = 0;
  worker.onmessage = ({ data }) => {
    const [ok, fail] = waiting.get(data.seq);
    waiting.delete(data.seq);
    if ("error" in data) fail(new Error(data.error));
    else ok(data.value);
  };
  worker.onerror = (e) => {
    for (const [, fail] of waiting.values()) fail(new Error(`the worker failed: ${e.message}`));
    waiting.clear();
  };
  scope.worker = worker;
  scope.toWorker = (cmd, arg) => new Promise((ok, fail) => {
    waiting.set(++seq, [ok, fail]);
    worker.postMessage({ seq, cmd, arg });
  });
}

/**
 * Plays a context that believes it is offline: `navigator.onLine` false. Pushes start by
 * themselves only when online (DESIGN "Pushing"), so a test that counts what one `syncNow()`
 * did keeps its page "offline": nothing runs in the background, and syncNow runs its pass
 * anyway. (The network itself is the proxy's: its "down" rule.)
 */
export function goOffline() {
  Object.defineProperty(navigator, "onLine", { configurable: true, get: () => false });
}

/** Back online: `navigator.onLine` as the browser says, and the `online` event, as a browser does. */
export function goOnline() {
  delete navigator.onLine;
  dispatchEvent(new Event("online"));
}

/**
 * Registers the module service worker tests/pages/sync-sw.js (scope /t/sync-sw-scope/) and
 * resolves once it is active; `toServiceWorker(cmd, arg)` then resolves with its answer.
 */
export async function startServiceWorker() {
  const registration = await navigator.serviceWorker.register("/t/sync-sw.js", { type: "module", scope: "/t/sync-sw-scope/" });
  const worker = registration.installing ?? registration.waiting ?? registration.active;
  if (worker.state !== "activated") {
    await new Promise((resolve, reject) => worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve();
      if (worker.state === "redundant") reject(new Error("the service worker failed to install"));
    }));
  }
  scope.serviceWorkerRegistration = registration;
  scope.toServiceWorker = (cmd, arg) => new Promise((ok, fail) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = ({ data }) => ("error" in data ? fail(new Error(data.error)) : ok(data.value));
    worker.postMessage({ cmd, arg }, [channel.port2]);
  });
}
