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
const subtle = () => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new DOMException("WebCrypto (crypto.subtle) needs a secure context: https or localhost", "NotSupportedError");
  return s;
};

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

/** Whether `key` is an AES-GCM CryptoKey that can encrypt and decrypt. */
export function crypto_key_ok(key) {
  return (
    typeof CryptoKey != "undefined" &&
    key instanceof CryptoKey &&
    key.algorithm?.name == AES &&
    key.usages.includes("encrypt") &&
    key.usages.includes("decrypt")
  );
}

// The device keys' database: one object store, a key per store (by `<backend>:<name>`).
const keysDb = () =>
  new Promise((resolve, reject) => {
    const req = indexedDB.open("wasm-session-store-keys");
    req.onupgradeneeded = () => req.result.createObjectStore(KEYS);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new DOMException("the keys database is blocked by another tab", "AbortError"));
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
        tx.onabort = tx.onerror = () => (db.close(), reject(tx.error));
      }),
  );

const generate = () => subtle().generateKey({ name: AES, length: 256 }, false, ["encrypt", "decrypt"]);

/**
 * The device key stored as `entry` (undefined when there is none); with `make`, one is made
 * and stored first when there is none. `entry` empty: a new key kept nowhere (a memory store's).
 * Two contexts making one at once agree on the first stored (`add` fails for the second).
 */
export async function crypto_device_key(entry, make) {
  if (!entry) return generate();
  const get = () => onKeys(false, (s, done) => (s.get(entry).onsuccess = (e) => done(e.target.result)));
  const found = await get();
  if (found || !make) return found;
  const key = await generate();
  try {
    await onKeys(true, (s) => s.add(key, entry));
    return key;
  } catch (e) {
    if (e?.name == "ConstraintError") return get();
    throw e;
  }
}

/** Destroys the device key stored as `entry`. */
export function crypto_device_drop(entry) {
  return entry ? onKeys(true, (s) => s.delete(entry)) : Promise.resolve();
}

/**
 * Encrypts each of `texts` (NUL-joined) with `key`, a fresh IV and its additional data (the
 * same index of `aads`): base64 of IV + ciphertext + tag. With `open`, decrypts each of
 * `texts` (such base64) instead: the plaintext, or an empty string for one that does not
 * decrypt (tampered, another key, another id or version, not base64). NUL-joined, in order.
 */
export async function crypto_run(key, open, aads, texts) {
  const ad = aads.split("\0");
  const s = subtle();
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
