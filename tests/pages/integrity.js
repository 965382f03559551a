// Page-side helpers of tests/js/integrity.test.mjs: storage written behind the store's back in
// the formats of earlier releases, byte for byte (plaintext format 1; the previous release's
// sealed format 2, whose additional data bound only `wss1:<name>:<id>:<version>`), device keys
// put where the store looks for them, and a gate that holds a page's next read of the device
// keys' database until the test lets it go.

const te = new TextEncoder();
const KEYS_DB = "wasm-session-store-keys";

const b64 = (u8) => {
  let s = "";
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
};

/** `plain` sealed as the previous release did: AES-GCM, a fresh IV, additional data `aad`. */
export async function seal(key, aad, plain) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: te.encode(aad) }, key, te.encode(plain)));
  const blob = new Uint8Array(12 + ct.length);
  blob.set(iv);
  blob.set(ct, 12);
  return b64(blob);
}

/** The metadata fields of a record's text, in the order every release writes them. */
const tail = ({ version, createdAt, updatedAt = createdAt, expiresAt = null, ttlMs = null, stateVersion = 0 }) =>
  `"version":${version},"createdAt":${createdAt},"updatedAt":${updatedAt},"expiresAt":${expiresAt},"ttlMs":${ttlMs}` +
  (stateVersion > 0 ? `,"stateVersion":${stateVersion}` : "") + "}";

/** A plaintext record (format 1), as every release writes it. */
export const plainRecord = (r) => `{"v":1,"id":${JSON.stringify(r.id)},"state":${JSON.stringify(r.state)},${tail(r)}`;

/** A record of the previous release's sealed format (2): `r.state` sealed with `key` for `name`. */
export async function legacyRecord(key, name, r) {
  const enc = await seal(key, `wss1:${name}:${r.id}:${r.version}`, JSON.stringify(r.state));
  return `{"v":2,"id":${JSON.stringify(r.id)},"enc":"${enc}",${tail(r)}`;
}

/** The previous release's key check (id ":key", `{}` sealed; version 1 by the app's key, 2 by a device key). */
export async function legacyCheck(key, name, version, at) {
  return legacyRecord(key, name, { id: ":key", state: {}, version, createdAt: at });
}

const webStorage = (backend) => (backend === "localstorage" ? localStorage : sessionStorage);

function idb(name, upgrade) {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(name);
    req.onupgradeneeded = () => upgrade?.(req.result);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

async function inTx(dbName, storeName, fn, upgrade) {
  const db = await idb(dbName, upgrade);
  try {
    return await new Promise((ok, fail) => {
      const tx = db.transaction(storeName, "readwrite");
      fn(tx.objectStore(storeName));
      tx.oncomplete = () => ok();
      tx.onabort = tx.onerror = () => fail(tx.error);
    });
  } finally {
    db.close();
  }
}

/**
 * Writes record text `text` under `id` of store `name`, as the backend stores it (IndexedDB:
 * `{ exp?, rec }` in the `records` object store, made as every release makes it when missing).
 */
export async function putText(backend, name, id, text, exp) {
  if (backend === "indexeddb") {
    const upgrade = (db) => db.createObjectStore("records").createIndex("expiresAt", "exp", { unique: false });
    await inTx(name, "records", (s) => s.put(exp == null ? { rec: text } : { exp, rec: text }, id), upgrade);
  } else {
    webStorage(backend).setItem(`${name}:${id}`, text);
  }
}

/** Removes what is stored under `id` of store `name`. */
export async function removeText(backend, name, id) {
  if (backend === "indexeddb") await inTx(name, "records", (s) => s.delete(id));
  else webStorage(backend).removeItem(`${name}:${id}`);
}

/**
 * A device key (AES-GCM 256, not extractable) put in the keys' database under `entry`, as the
 * previous release kept them (the bare CryptoKey); returned, to seal with.
 */
export async function putDeviceKey(entry) {
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  await inTx(KEYS_DB, "keys", (s) => s.put(key, entry), (db) => db.createObjectStore("keys"));
  return key;
}

/** The device key under `entry` of the keys' database, or undefined. */
export async function deviceKey(entry) {
  const db = await idb(KEYS_DB, (db) => db.createObjectStore("keys"));
  try {
    return await new Promise((ok, fail) => {
      const req = db.transaction("keys").objectStore("keys").get(entry);
      req.onsuccess = () => ok(req.result);
      req.onerror = () => fail(req.error);
    });
  } finally {
    db.close();
  }
}

/**
 * Holds the completion of this page's next transaction on the device keys' database (its
 * reads are done; what it read reaches the store only when `release()` is called): `reached`
 * resolves once it would have completed.
 */
export function gateNextKeyRead() {
  const desc = Object.getOwnPropertyDescriptor(IDBTransaction.prototype, "oncomplete");
  const original = IDBDatabase.prototype.transaction;
  let release;
  let reached;
  const gate = new Promise((r) => (release = r));
  const reachedP = new Promise((r) => (reached = r));
  IDBDatabase.prototype.transaction = function (...args) {
    const tx = original.apply(this, args);
    if (this.name === KEYS_DB) {
      IDBDatabase.prototype.transaction = original;
      Object.defineProperty(tx, "oncomplete", {
        configurable: true,
        get: () => desc.get.call(tx),
        set: (fn) => desc.set.call(tx, (e) => (reached(), gate.then(() => fn.call(tx, e)))),
      });
    }
    return tx;
  };
  return { reached: reachedP, release: () => release() };
}
