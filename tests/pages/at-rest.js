// Page-side helpers of tests/js/encryption.test.mjs: raw access, behind the store's back, to
// where each backend keeps a store's records and to the device keys' database; keys derived
// from passphrases; and where a secret could show in stored text. Works in windows and
// workers (no DOM, no package import).

/** The database where "device" keys are kept, and its object store. */
export const KEYS_DB = "wasm-session-store-keys";
export const KEYS_STORE = "keys";

/**
 * Opens database `name` as it is, or resolves null when there is none: never creates one (an
 * empty database of that name could stop the store from making its own).
 */
function openExisting(name) {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(name);
    let fresh = false;
    req.onupgradeneeded = () => {
      fresh = true;
      req.transaction.abort(); // a new database: abort, so it is not created
    };
    req.onsuccess = () => ok(req.result);
    req.onerror = (e) => {
      e.preventDefault();
      if (fresh) ok(null);
      else fail(req.error);
    };
    req.onblocked = () => fail(new Error(`opening ${name} is blocked`));
  });
}

/**
 * Runs `fn(objectStore)` in a transaction on `storeName` of database `dbName`; `fn` returns a
 * function that gives the result once the transaction has completed. Undefined when the
 * database or the object store does not exist.
 */
async function inStore(dbName, storeName, mode, fn) {
  const db = await openExisting(dbName);
  if (!db) return undefined;
  try {
    if (!db.objectStoreNames.contains(storeName)) return undefined;
    return await new Promise((ok, fail) => {
      const tx = db.transaction(storeName, mode);
      const result = fn(tx.objectStore(storeName));
      tx.oncomplete = () => ok(result());
      tx.onabort = tx.onerror = () => fail(tx.error);
    });
  } finally {
    db.close();
  }
}

const webStorage = (backend) => (backend === "localstorage" ? localStorage : sessionStorage);

/**
 * Every raw entry of store `name` on `backend`, sorted by key: IndexedDB `[key, value]` of its
 * `records` object store (values as stored, `{ exp?, rec }`); Web Storage `[key, text]` of every
 * key under `<name>:` (records and the store's `<name>::` metadata).
 */
export async function dump(backend, name) {
  if (backend === "indexeddb") {
    const entries = await inStore(name, "records", "readonly", (s) => {
      const keys = s.getAllKeys();
      const values = s.getAll();
      return () => keys.result.map((k, i) => [k, values.result[i]]);
    });
    return entries ?? [];
  }
  const storage = webStorage(backend);
  const out = [];
  for (let i = 0; i < storage.length; i++) {
    const k = storage.key(i);
    if (k.startsWith(`${name}:`)) out.push([k, storage.getItem(k)]);
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Writes raw entries of `dump` back (put / setItem); other entries stay. */
export async function restore(backend, name, entries) {
  if (backend === "indexeddb") {
    await inStore(name, "records", "readwrite", (s) => {
      for (const [k, v] of entries) s.put(v, k);
      return () => undefined;
    });
    return;
  }
  for (const [k, v] of entries) webStorage(backend).setItem(k, v);
}

/** The session id (or `:key`, `:device`, ...) of a raw entry's key. */
const idOf = (backend, name, key) => (backend === "indexeddb" ? key : key.slice(name.length + 1));
/** The record text of a raw entry's value. */
const textOf = (backend, value) => (backend === "indexeddb" ? value?.rec : value);

/**
 * The record texts of store `name`: `{ records: { id: text }, check: text of the key-check
 * record (id ":key") or undefined, values: { id: raw value } }`; other metadata is left out.
 */
export async function texts(backend, name) {
  const records = {};
  const values = {};
  let check;
  for (const [k, v] of await dump(backend, name)) {
    const id = idOf(backend, name, k);
    if (id === ":key") check = textOf(backend, v);
    else if (!id.startsWith(":")) {
      records[id] = textOf(backend, v);
      values[id] = v;
    }
  }
  return { records, check, values };
}

/** The stored text of record `id`, or undefined. */
export async function textOfId(backend, name, id) {
  return (await texts(backend, name)).records[id];
}

/** Replaces the stored text of record `id` (IndexedDB: keeps the value's `exp`). */
export async function setText(backend, name, id, text) {
  if (backend === "indexeddb") {
    await inStore(name, "records", "readwrite", (s) => {
      const get = s.get(id);
      get.onsuccess = () => s.put({ ...(get.result ?? {}), rec: text }, id);
      return () => undefined;
    });
    return;
  }
  webStorage(backend).setItem(`${name}:${id}`, text);
}

/** The keys of every entry of the device keys' database ([] when it does not exist). */
export async function keyEntries() {
  return (await inStore(KEYS_DB, KEYS_STORE, "readonly", (s) => {
    const r = s.getAllKeys();
    return () => r.result;
  })) ?? [];
}

/** The entries of store `name` on `backend` in the keys' database (sessionStorage: per tab). */
export async function keyEntriesOf(backend, name) {
  const all = await keyEntries();
  return all.filter((k) => k === `${backend}:${name}` || k.startsWith(`${backend}:${name}:`));
}

/** What entry `entry` of the keys' database holds: a description of the key, or null. */
export async function keyEntry(entry) {
  const key = await inStore(KEYS_DB, KEYS_STORE, "readonly", (s) => {
    const r = s.get(entry);
    return () => r.result;
  });
  if (key === undefined) return null;
  return {
    isCryptoKey: key instanceof CryptoKey,
    type: key.type,
    extractable: key.extractable,
    algorithm: { name: key.algorithm?.name, length: key.algorithm?.length },
    usages: [...(key.usages ?? [])].sort(),
  };
}

/** An AES-GCM 256 key (encrypt, decrypt; not extractable) from `passphrase` with PBKDF2-SHA-256. */
export async function derive(passphrase, { salt = "wss-test-salt", iterations = 1000 } = {}) {
  const te = new TextEncoder();
  const base = await crypto.subtle.importKey("raw", te.encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: te.encode(salt), iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** The `encryption` option of a kind: "device", or "key" (`{ key }` from `passphrase`). */
export async function encryptionOf(kind, passphrase = "correct horse battery staple") {
  if (kind === "device") return "device";
  if (kind === "key") return { key: await derive(passphrase) };
  throw new Error(`unknown key kind ${kind}`);
}

/**
 * The forms in which `secret` shows in `text`: as is, URI-encoded, and base64 (standard and
 * url-safe, at each of the 3 alignments: the characters that depend on the secret only).
 */
export function leaks(text, secret) {
  if (typeof text !== "string") text = JSON.stringify(text) ?? "";
  const found = [];
  if (text.includes(secret)) found.push("plain");
  if (text.includes(encodeURIComponent(secret)) && encodeURIComponent(secret) !== secret) found.push("uri");
  for (let pad = 0; pad < 3; pad++) {
    const b = btoa("\0".repeat(pad) + secret);
    const core = b.slice(pad ? 4 : 0, -4);
    if (core.length >= 8) {
      if (text.includes(core)) found.push(`base64@${pad}`);
      const url = core.replaceAll("+", "-").replaceAll("/", "_");
      if (url !== core && text.includes(url)) found.push(`base64url@${pad}`);
    }
  }
  return found;
}

/** The base64 alphabet, for changing one character of a ciphertext into another valid one. */
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** `text` (a sealed record) with one base64 character of its `enc` at `at` (negative: from the end) changed. */
export function flipEnc(text, at) {
  const { enc } = JSON.parse(text);
  const i = at < 0 ? enc.length + at : at;
  const c = enc[i];
  const changed = enc.slice(0, i) + B64[(B64.indexOf(c) + 1) % 64] + enc.slice(i + 1);
  if (!text.includes(`"enc":"${enc}"`)) throw new Error("flipEnc: enc not found as written");
  return text.replace(`"enc":"${enc}"`, `"enc":"${changed}"`);
}

/** `text` (a sealed record) with its `enc` replaced by `enc` and nothing else changed. */
export function withEnc(text, enc) {
  const { enc: old } = JSON.parse(text);
  if (!text.includes(`"enc":"${old}"`)) throw new Error("withEnc: enc not found as written");
  return text.replace(`"enc":"${old}"`, `"enc":"${enc}"`);
}

/** What a promise settled to: `{ value }` or `{ error: { name, code, message } }`. */
export const settle = (p) => p.then(
  (value) => ({ value }),
  (e) => ({ error: { name: e?.name, code: e?.code, message: e?.message } }),
);
