// HTTP and browser plumbing of sync (src/sync/pass.rs): the requests of a pass, sent with at
// most `limit` in flight, their answers read, the pass's Web Lock, the `online` event. In JS,
// like idb.js, rather than through web-sys `Request`/`Response`/`Headers` and a JSON reader in
// Rust: one call per batch, the work items and answers one string each way (fields joined by
// \x01, items by \x00: no JSON text, ETag, id or base64 holds a raw control character), where
// each Rust binding, request future and parser would cost wasm.

const F = "\x01";
// How long a request may go unanswered (ms).
const TIMEOUT_MS = 30000;
const clean = (s) => String(s ?? "").replace(/[\0\x01]/g, " ");

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

// Answers that stop a pass: none, unreadable, unauthorized, throttled, a server failure.
const fatal = (s) => s < 2 || s == 401 || s == 403 || s == 429 || s >= 500;

/** Retry-After (seconds or an HTTP date) as ms from now; "" when absent or unreadable. */
const retryAfter = (v) => {
  if (!v) return "";
  const s = Number(v);
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(v) - Date.now();
  return Number.isFinite(ms) ? String(Math.max(0, Math.round(ms))) : "";
};

// A record of the server as fields: "R", id, version, createdAt, expiresAt, ttlMs, enc ("1"
// or ""), the state's JSON or the enc; null as "N"; anything else throws.
const record = (r) => {
  if (r === null) return ["N"];
  const n = (v) => (v === null ? "" : Number.isSafeInteger(v) && v >= 0 ? v : bad());
  const enc = typeof r.enc == "string";
  if (typeof r.id != "string" || (!enc && (typeof r.state != "object" || !r.state || Array.isArray(r.state)))) bad();
  return ["R", r.id, n(r.version), n(r.createdAt), n(r.expiresAt), n(r.ttlMs), enc ? "1" : "", enc ? r.enc : JSON.stringify(r.state)];
};
const bad = () => {
  throw new Error("unreadable");
};

/**
 * Sends the work `items` of a pass to `base` (`<url>/v1/stores/<name>`) with `headers`, at
 * most `limit` in flight, and resolves with each answer in order: `status, ETag, Retry-After
 * ms`, then what it says. Items (`kind, id, etag, key, body or target`):
 * - "P" PUT the body (If-Match the ETag, or If-None-Match * without one); "M" POST a move to
 *   the target; "D" DELETE: the answer's record (or for a 412 the `current` one) as `record`
 *   gives it, or for other failures `code, message`.
 * - "G" GET (If-None-Match the ETag): the record; for a 404, `movedTo` (or "").
 * - "C" GET the changes since the cursor in `id` (none when empty): `cursor`, then an id and
 *   an ETag ("" for null) for each change.
 * Status 0: no answer (its reason follows); 1: an answer that cannot be read; -1: not sent,
 * because an answer before it stopped the pass.
 */
export function sync_batch(base, headers, items, limit) {
  const list = items ? items.split("\0") : [];
  const out = new Array(list.length).fill(`-1${F}${F}`);
  let next = 0;
  let stop = false;
  const one = async (i) => {
    const [kind, id, etag, key, body] = list[i].split(F);
    const h = { ...headers };
    let method = "GET";
    let path = `/sessions/${id}`;
    let data;
    if (kind == "C") path = `/changes${id ? `?since=${encodeURIComponent(id)}` : ""}`;
    else if (kind == "G") etag && (h["If-None-Match"] = etag);
    else {
      method = kind == "P" ? "PUT" : kind == "M" ? "POST" : "DELETE";
      if (kind == "M") (path += "/move"), (data = JSON.stringify({ to: body }));
      else if (kind == "P") data = body;
      if (etag) h["If-Match"] = etag;
      else h["If-None-Match"] = "*";
      key && (h["Idempotency-Key"] = key);
      data && (h["Content-Type"] = "application/json");
    }
    let fields;
    let status;
    let timer;
    try {
      // A server that never answers must not hold the pass (and every tab's Web Lock): each
      // request gives up after TIMEOUT_MS, as without a network (its retry is idempotent).
      const abort = new AbortController();
      timer = setTimeout(() => abort.abort(new Error(`no answer in ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
      const r = await fetch(base + path, { method, headers: h, body: data, cache: "no-store", signal: abort.signal });
      status = r.status;
      const head = [status, r.headers.get("ETag") ?? "", retryAfter(r.headers.get("Retry-After"))];
      const raw = await r.text();
      let b;
      try {
        b = status == 204 || status == 304 ? {} : JSON.parse(raw);
        if (b === null || typeof b != "object") bad();
      } catch {
        // Not JSON (a proxy's HTML page, garbage): unreadable where it must be read.
        if (status < 400 || status == 404 || status == 412) return (stop = true), (out[i] = `1${F}${F}`);
        b = {};
      }
      try {
        if (status == 204 || status == 304) fields = [];
        else if (kind == "C" && status == 200) {
          if (typeof b.cursor != "string" || !Array.isArray(b.changes)) bad();
          fields = [b.cursor, ...b.changes.flatMap((c) => [String(c?.id), c?.etag ?? ""])];
        } else if (status < 300) fields = record(b);
        else if (status == 412) fields = record(b.current ?? null);
        else if (status == 404 && kind == "G") fields = [b.movedTo ?? ""];
        else fields = [b.code ?? "", b.message ?? ""];
      } catch {
        return (stop = true), (out[i] = `1${F}${F}`);
      }
      if (fatal(status)) stop = true;
      out[i] = [...head, ...fields.map(clean)].join(F);
    } catch (e) {
      stop = true;
      out[i] = ["0", "", "", clean(e?.message ?? e)].join(F);
    } finally {
      clearTimeout(timer);
    }
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

/** Whether this context believes it is online (`navigator.onLine`; true where unknown). */
export function sync_is_online() {
  return globalThis.navigator?.onLine !== false;
}
