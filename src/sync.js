// HTTP and browser plumbing of sync (src/sync/pass.rs): fetch with a pool of requests in
// flight, the pass's Web Lock, the `online` event. In JS, like idb.js, rather than through
// web-sys `Request`/`Response`/`Headers`: one call per batch of requests, with the requests and
// answers as one string each way (fields joined by \x01, items by \x00; no JSON text, header
// value or id holds a raw control character), where each Rust binding and each request's
// future would cost wasm.

const SEP = "\x01";

/**
 * The headers of a pass: `fn()` (sync or async) as a plain object of strings. Rejects with a
 * reason when it throws, rejects or gives something else (the pass is then UNAUTHORIZED).
 */
export function sync_headers(fn) {
  return Promise.resolve()
    .then(() => fn?.() ?? {})
    .then((h) => {
      if (h === null || typeof h != "object" || Array.isArray(h) || Object.values(h).some((v) => typeof v != "string")) {
        throw new Error("headers() must give an object of string values");
      }
      return h;
    });
}

// The answers that stop a pass: no answer, unauthorized, throttled, a server error, an answer
// that cannot be read.
const fatal = (s) => s < 2 || s == 401 || s == 403 || s == 429 || s >= 500;

/** Retry-After as ms from now ("" when absent or unreadable). */
const retryAfter = (v) => {
  if (!v) return "";
  const s = Number(v);
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(v) - Date.now();
  return Number.isFinite(ms) ? String(Math.max(0, Math.round(ms))) : "";
};

/**
 * Sends `reqs` (each `method, path, If-Match, If-None-Match, Idempotency-Key, body`, empty
 * fields absent) to `base` + path with `headers`, at most `limit` in flight, and resolves with
 * each answer (`status, ETag, Retry-After ms, body`) in order. The body is JSON text written
 * again (none for 204 and 304); an answer whose body should be JSON and is not has status 1,
 * no answer status 0 (the body says why). After a fatal answer no further request is sent:
 * those not sent have status -1.
 */
export function sync_fetch(base, headers, reqs, limit) {
  const list = reqs ? reqs.split("\0") : [];
  const out = new Array(list.length).fill(`-1${SEP}${SEP}${SEP}`);
  let next = 0;
  let stop = false;
  const one = async (i) => {
    const [method, path, ifMatch, ifNoneMatch, key, body] = list[i].split(SEP);
    const h = { ...headers };
    if (ifMatch) h["If-Match"] = ifMatch;
    if (ifNoneMatch) h["If-None-Match"] = ifNoneMatch;
    if (key) h["Idempotency-Key"] = key;
    if (body) h["Content-Type"] = "application/json";
    let status;
    let text = "";
    let etag = "";
    let after = "";
    try {
      const r = await fetch(base + path, { method, headers: h, body: body || undefined, cache: "no-store" });
      status = r.status;
      etag = r.headers.get("ETag") ?? "";
      after = retryAfter(r.headers.get("Retry-After"));
      const raw = await r.text();
      if (status != 204 && status != 304) {
        try {
          text = JSON.stringify(JSON.parse(raw));
        } catch {
          // Not JSON: a proxy's HTML page, garbage. Unreadable unless the status says enough.
          if (status < 400 || status == 404 || status == 412) status = 1;
          text = "";
        }
      }
    } catch (e) {
      status = 0;
      text = String(e?.message ?? e).replace(/[\0\x01]/g, " ");
    }
    if (fatal(status)) stop = true;
    out[i] = [status, etag, after, text].join(SEP);
  };
  const worker = async () => {
    while (!stop && next < list.length) await one(next++);
  };
  return Promise.all(Array.from({ length: Math.min(limit, list.length) }, worker)).then(() => out.join("\0"));
}

/**
 * Holds the Web Lock `name` for a pass: resolves with the function that releases it, or with
 * null when another context holds it and `wait` is false. Without Web Locks, resolves with
 * undefined (the caller uses its fallback).
 */
export function sync_lock(name, wait) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return Promise.resolve(undefined);
  return new Promise((ok, fail) => {
    locks.request(name, wait ? {} : { ifAvailable: true }, (lock) => (lock ? new Promise((release) => ok(release)) : ok(null))).catch(fail);
  });
}

/** Calls `f` on each `online` event of this context; returns the function that stops it. */
export function sync_online(f) {
  const g = globalThis;
  if (!g.addEventListener) return () => {};
  const on = () => f();
  g.addEventListener("online", on);
  return () => g.removeEventListener("online", on);
}

/** Whether this context believes it is online (`navigator.onLine`, true where unknown). */
export function sync_is_online() {
  return globalThis.navigator?.onLine !== false;
}
