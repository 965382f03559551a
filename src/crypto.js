// WebCrypto for encryption at rest (src/crypto.rs): AES-GCM 256, a fresh 96-bit IV per
// write, and the device keys kept in IndexedDB. In JS rather than through web-sys: the
// SubtleCrypto and IndexedDB bindings a Rust version needs cost ~1 KB gzipped more than this
// file, and each item's encryption would be a Rust closure and an await.
//
// Lists cross the boundary as one string, items joined by NUL: no checked state, base64 text
// or additional data holds one (raw control characters are not JSON), and one string each way
// is cheaper than an array of strings.

const AES = "AES-GCM";
const KEYS = "keys";
const te = new TextEncoder();
const td = new TextDecoder("utf-8", { fatal: true });

// Base64 of bytes, and back: the engines' own (Uint8Array.prototype.toBase64, 2025) where
// they have it, else btoa/atob over chunks (String.fromCharCode takes a bounded argument list).
const b64 = (u8) => {
  if (u8.toBase64) return u8.toBase64();
  let s = "";
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
};
const unb64 = (s) => {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(s);
  const bin = atob(s);
  const u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  return u8;
};

// The device keys' database: one object store, a key per store (by `<backend>:<name>`).
const keysDb = () =>
  new Promise((resolve, reject) => {
    const req = indexedDB.open("wasm-session-store-keys");
    req.onupgradeneeded = () => req.result.createObjectStore(KEYS);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

// Runs `f(store)` in a transaction on the keys; resolves with the value `f`'s last request
// gave once the transaction commits.
const onKeys = (write, f) =>
  keysDb().then(
    (db) =>
      new Promise((resolve, reject) => {
        const tx = db.transaction(KEYS, write ? "readwrite" : "readonly");
        let result;
        f(tx.objectStore(KEYS), (v) => (result = v));
        tx.oncomplete = () => (db.close(), resolve(result));
        // A failed request (the ConstraintError of a second `add`) reaches onerror before the
        // transaction aborts, while tx.error is still null: reject with the request's error.
        tx.onabort = tx.onerror = (e) => (db.close(), reject(e.target.error ?? tx.error));
      }),
  );

const generate = () => crypto.subtle.generateKey({ name: AES, length: 256 }, false, ["encrypt", "decrypt"]);

/**
 * A store's key holder, or why there is none: 1 without WebCrypto, 2 for a `key` that is not
 * an AES-GCM 256-bit CryptoKey able to encrypt and decrypt. `mode`: 0 the app's `key`; 1 a memory
 * store's device key (made in memory, kept with the holder); 2 a device key kept in the keys
 * database as `entry`, or for sessionStorage (`tab`: the sessionStorage key naming the tab,
 * written when the tab's first key is made) as `<entry>:<tab's name>`.
 */
export function crypto_new(key, mode, entry, tab) {
  if (!globalThis.crypto?.subtle) return 1;
  const ok = key instanceof CryptoKey && key.algorithm.name == AES && key.algorithm.length == 256 && ["encrypt", "decrypt"].every((u) => key.usages.includes(u));
  if (!mode && !ok) return 2;
  return { k: mode ? undefined : key, m: mode, e: entry, t: tab, g: 0 };
}

// Whether this page holds the tab name `tab` (a Web Lock, held for the page's lifetime), by
// tab name: a promise, so that two stores of one page asking at once agree.
const claims = new Map();
const claim = (tab) => {
  if (!claims.has(tab)) {
    claims.set(
      tab,
      new Promise((resolve) =>
        navigator.locks.request(`wasm-session-store:tab:${tab}`, { ifAvailable: true }, (lock) => {
          resolve(!!lock);
          if (lock) return new Promise(() => {});
        }),
      ),
    );
  }
  return claims.get(tab);
};

// The keys database entry of `h`'s device key (undefined for a tab that has none, unless
// `make`). A duplicated tab starts with a copy of its opener's sessionStorage, the tab's name
// included: the name is this tab's only while no other live page holds it (by Web Lock; where
// there are none, duplicates share a key), else this tab takes a name of its own with a copy
// of the key (its copied records were sealed with it), so that a `clear()` in one destroys
// that tab's key only.
const entryOf = async (h, make) => {
  if (!h.t) return h.e;
  let tab = sessionStorage.getItem(h.t);
  const locks = globalThis.navigator?.locks;
  if (tab && locks && !(await claim(tab))) {
    const key = await getKey(`${h.e}:${tab}`);
    while (!(await claim((tab = crypto.randomUUID()))));
    if (key) await onKeys(true, (s) => s.put(key, `${h.e}:${tab}`));
    sessionStorage.setItem(h.t, tab);
  }
  if (!tab && make) {
    // The keys database first: where it cannot open, the write fails naming nothing.
    await keysDb().then((db) => db.close());
    tab = crypto.randomUUID();
    if (locks) await claim(tab);
    sessionStorage.setItem(h.t, tab);
  }
  return tab && `${h.e}:${tab}`;
};

const getKey = (entry) => onKeys(false, (s, done) => (s.get(entry).onsuccess = (e) => done(e.target.result)));

// Reads `h`'s device key again (another context may have destroyed and remade it); with
// `make`, makes and stores one when there is none (two contexts making one at once agree on
// the first stored: `add` fails for the second). A memory store's is only ever made.
const load = async (h, make) => {
  if (h.m == 1) {
    if (make && !h.k) (h.k = await generate()), h.g++;
    return;
  }
  if (h.m != 2) return;
  const entry = await entryOf(h, make);
  const get = () => getKey(entry);
  let key = entry && (await get());
  if (!key && make) {
    key = await generate();
    try {
      await onKeys(true, (s) => s.add(key, entry));
    } catch (e) {
      if (e?.name != "ConstraintError") throw e;
      key = await get();
    }
  }
  h.k = key;
  h.g++;
};

/**
 * Everything an encrypted store asks of WebCrypto and its key, as one call: `op` 0 encrypts
 * each of `texts` (NUL-joined) with a fresh IV and its additional data (the same index of
 * `aads`), giving base64 of IV + ciphertext + tag; 1 decrypts each (such base64), giving the
 * plaintext or an empty string for one that does not decrypt (tampered, another key, another
 * id or version); 2 reads the device key again, 3 the same making one when there is none; 4
 * destroys the device key. Resolves to the key's generation (bumped whenever the key is read
 * or replaced) and the results, NUL-joined.
 */
export async function crypto_call(h, op, aads, texts) {
  let out = "";
  if (op == 4) {
    const entry = h.m == 2 && (await entryOf(h, false));
    if (entry) await onKeys(true, (s) => s.delete(entry));
    if (h.m) (h.k = undefined), h.g++;
  } else if (op > 1) {
    await load(h, op == 3);
  } else {
    if (!h.k) await load(h, !op);
    out = await run(h.k, op == 1, aads, texts);
  }
  return `${h.g}\0${out}`;
}

/**
 * Drops the device key `h` holds in memory (another context cleared the store and destroyed
 * it): the next use reads the keys database again.
 */
export function crypto_forget(h) {
  if (h.m == 2) (h.k = undefined), h.g++;
}

// Encrypts, or with `open` decrypts, each of `texts` (see `crypto_call`).
async function run(key, open, aads, texts) {
  const ad = aads.split("\0");
  const s = crypto.subtle;
  const out = await Promise.all(
    texts.split("\0").map(async (text, i) => {
      const alg = { name: AES, additionalData: te.encode(ad[i]) };
      if (open) {
        try {
          const u8 = unb64(text);
          alg.iv = u8.subarray(0, 12);
          return td.decode(await s.decrypt(alg, key, u8.subarray(12)));
        } catch {
          return "";
        }
      }
      alg.iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = new Uint8Array(await s.encrypt(alg, key, te.encode(text)));
      const blob = new Uint8Array(12 + ct.length);
      blob.set(alg.iv);
      blob.set(ct, 12);
      return b64(blob);
    }),
  );
  return out.join("\0");
}
