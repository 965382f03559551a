// The IndexedDB requests of the IndexedDB backend (src/backends/indexeddb.rs): each step of a
// transaction is one call returning one promise, where Rust made a closure per request and per
// transaction event (each a JS function, a table slot and a FinalizationRegistry entry) and
// read every result across the boundary. The build inlines this file into the package's glue.

const RECORDS = "records";

// Connections closed because another context wanted to upgrade the database.
const lost = new WeakSet();

/**
 * Opens database `name` of `factory` with the records store and its deadline index in place
 * (created in an upgrade; a database of that name without them gets them in one more). The
 * connection closes itself when another context wants to upgrade, so as not to block it
 * (`idb_lost` tells). Rejects with the browser's error, or with the string "blocked" when an
 * open stays blocked by other connections for `blockedMs` (one that completes later is closed).
 * @param {IDBFactory} factory
 * @param {string} name
 * @param {number} blockedMs
 * @returns {Promise<IDBDatabase>}
 */
function idb_open(factory, name, blockedMs) {
  const open = (version) =>
    new Promise((resolve, reject) => {
      const req = version ? factory.open(name, version) : factory.open(name);
      let timer;
      let late = false;
      req.onupgradeneeded = () => {
        // A failure here aborts the upgrade, which fails the open with the reason.
        const db = req.result;
        if (!db.objectStoreNames.contains(RECORDS)) {
          db.createObjectStore(RECORDS).createIndex("expiresAt", "exp", { unique: false });
        }
      };
      req.onblocked = () => {
        timer ??= setTimeout(() => {
          late = true;
          reject("blocked");
        }, blockedMs);
      };
      req.onsuccess = () => {
        clearTimeout(timer);
        const db = req.result;
        if (late) return db.close();
        if (!db.objectStoreNames.contains(RECORDS)) {
          // A database of that name exists without our store: add it in an upgrade.
          db.close();
          return open(db.version + 1).then(resolve, reject);
        }
        db.onversionchange = () => {
          db.close();
          lost.add(db);
        };
        resolve(db);
      };
      req.onerror = () => {
        clearTimeout(timer);
        reject(req.error);
      };
    });
  return open();
}

/**
 * A connection to database `name`: `{ f, n, b, db }`, opened now (rejecting as `idb_open`).
 * Every operation below starts its transaction on it, reopening the database first when the
 * connection was lost: closed for another context's upgrade, closed by `idb_close`, or by the
 * browser (`InvalidStateError` from `transaction()`, retried once). A failed reopen rejects
 * with `[error]` (an array: Rust tells open failures apart by it).
 */
export function idb_connect(factory, name, blockedMs) {
  const c = { f: factory, n: name, b: blockedMs, db: null };
  return idb_open(factory, name, blockedMs).then((db) => ((c.db = db), c));
}

/** Closes the connection; the next operation reopens it. */
export function idb_close(c) {
  c.db?.close();
  c.db = null;
}

// Runs `f` on a new transaction of `c` (`{ tx, store, done }`), reopening as described above.
// What `transaction()` throws rejects the result.
const on = (c, write, f) => {
  if (c.db && !lost.has(c.db)) {
    try {
      return f(begin(c.db, write));
    } catch (e) {
      if (e?.name != "InvalidStateError") return Promise.reject(e);
    }
  }
  return idb_open(c.f, c.n, c.b).then(
    (db) => f(begin((c.db = db), write)),
    (e) => {
      throw [e];
    },
  );
};

// A transaction on the records: `{ tx, store, done }`, `done` settling when it ends (rejected
// with its error when it aborts). Throws as `db.transaction` does.
const begin = (db, write) => {
  const tx = db.transaction(RECORDS, write ? "readwrite" : "readonly", { durability: "relaxed" });
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException("the transaction was aborted", "AbortError"));
  });
  done.catch(() => {});
  return { tx, store: tx.objectStore(RECORDS), done };
};

// Resolves to `reqs` once all of them succeeded (their results then set), or rejects with the
// error of the first that failed. Continuations run while the transaction is still active.
const all = (reqs) =>
  new Promise((resolve, reject) => {
    let left = reqs.length;
    if (!left) resolve(reqs);
    for (const req of reqs) {
      req.onsuccess = () => --left || resolve(reqs);
      req.onerror = () => reject(req.error);
    }
  });

// The record text of a stored value `{ exp?, rec }`: undefined for nothing, null for a value
// that is not a record.
const text = (value) => (value === undefined ? value : typeof value?.rec == "string" ? value.rec : null);

/**
 * In a new transaction (readwrite when `write`), the record texts stored under `keys`
 * (space-separated ids): `[t, ...texts]`, `t` the transaction, still active, to write in.
 * @returns {Promise<[object, ...(string | null | undefined)[]]>}
 */
export function idb_get(c, write, keys) {
  return on(c, write, (t) => all(keys.split(" ").map((key) => t.store.get(key))).then((reqs) => [t, ...reqs.map((req) => text(req.result))]));
}

/** Stores `{ exp, rec }` under `key` in `t` (`exp`, the deadline, left out when undefined). */
export function idb_put(t, key, rec, exp) {
  t.store.put(exp === undefined ? { rec } : { exp, rec }, key);
}

/** Removes what is stored under `key`, in `t`. */
export function idb_delete(t, key) {
  t.store.delete(key);
}

/**
 * Removes every session record, in a transaction of its own; resolves once it completes. The
 * engine's reserved ids (they start with ":", between the ids' "9" and "A") stay.
 */
export function idb_clear(c) {
  return on(c, true, (t) => (t.store.delete(IDBKeyRange.upperBound(":", true)), t.store.delete(IDBKeyRange.lowerBound(";")), idb_commit(t)));
}

/** The keys from `lower` (inclusive) to `upper` (exclusive), in a read-only transaction. */
export function idb_keys(c, lower, upper) {
  return on(c, false, (t) => all([t.store.getAllKeys(IDBKeyRange.bound(lower, upper, false, true))]).then(([r]) => r.result));
}

/** Commits what was issued; resolves once the transaction completes, rejects when it aborts. */
export function idb_commit(t) {
  try {
    t.tx.commit?.();
  } catch {}
  return t.done;
}

/** Aborts `t`: nothing it wrote is kept. (Later transactions on the records wait for its end.) */
export function idb_abort(t) {
  try {
    t.tx.abort();
  } catch {}
}

/**
 * Keys and record texts, `[t, keys, texts]`: every record (in a new read-only transaction), or
 * with `now` given the first `limit` (0: all) whose deadline is at most `now`, by the deadline
 * index, in `t` or, when it is undefined, a new readwrite transaction.
 */
export function idb_scan(c, t, now, limit) {
  const scan = (t) => {
    const source = now === undefined ? t.store : t.store.index("expiresAt");
    const range = now === undefined ? null : IDBKeyRange.upperBound(now);
    return all([source.getAllKeys(range, limit), source.getAll(range, limit)]).then(([keys, values]) => [t, keys.result, values.result.map(text)]);
  };
  return t ? scan(t) : on(c, now !== undefined, scan);
}
