// The benchmark's page side: every contender behind one small interface, and the workloads
// that drive them. bench/run.mjs calls `bench.run(...)` once per (workload, contender, round).
//
// Contenders on IndexedDB: "raw" (IndexedDB by hand, one transaction per operation, the same
// pattern as wasm-session-store: get + put in one readwrite transaction for every write; the
// practical limit), "wss" (this package), "wss-enc" (this package with `encryption: "device"`),
// "idb-keyval", "localForage". On Web Storage: "raw" (localStorage + JSON by hand), "wss" (the
// localstorage backend, with its leader tab), "wss-enc" (the same, encrypted) and "wss-session"
// (the sessionstorage backend, direct). "wss-base" (with `node bench/run.mjs --baseline COMMIT`):
// this package as another commit built it, loaded beside this one (`loadBaseline`), for a
// same-run comparison of two builds.
//
// Sync (a wss-server that bench/run.mjs starts, `setSync`): "wss" flushes dirty sessions of an
// IndexedDB store opened with `sync`; "raw" sends the same conditional PUTs with `fetch` by hand.
import init, { SessionStore } from "wasm-session-store";
import * as keyval from "idb-keyval";

const localforage = globalThis.localforage;
await init();

/** The injected clock every contender reads, so expiry needs no waiting. */
const clock = { t: 1_700_000_000_000 };
const TTL = 3_600_000;

/** A ~1 KB session state (its JSON is 1,0xx bytes). */
export function makeState(i) {
  return {
    user: `user-${i}`,
    email: `user-${i}@example.com`,
    roles: ["reader", "writer"],
    cart: Array.from({ length: 8 }, (_, k) => ({ sku: `SKU-${i}-${k}`, qty: k + 1, price: 9.99 + k })),
    prefs: { theme: "dark", lang: "en-GB", tz: "Europe/London", notifications: true },
    visits: 1,
    note: "x".repeat(420),
  };
}

const idbRequest = (req) => new Promise((ok, fail) => {
  req.onsuccess = () => ok(req.result);
  req.onerror = () => fail(req.error);
});
const idbDone = (tx) => new Promise((ok, fail) => {
  tx.oncomplete = () => ok();
  tx.onabort = tx.onerror = () => fail(tx.error);
});
const deleteDatabase = (name) => idbRequest(indexedDB.deleteDatabase(name)).catch(() => {});

/** IndexedDB by hand: records as objects keyed by id, an index on expiresAt. */
class RawIdb {
  async open(name) {
    this.name = name;
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore("records", { keyPath: "id" });
      store.createIndex("expiresAt", "expiresAt");
    };
    this.db = await idbRequest(req);
  }
  tx(mode) {
    const tx = this.db.transaction("records", mode, { durability: "relaxed" });
    return [tx, tx.objectStore("records")];
  }
  record(id, state, version, createdAt = clock.t) {
    return { id, state, version, createdAt, updatedAt: clock.t, expiresAt: clock.t + TTL, ttlMs: TTL };
  }
  /** `r` with a new state: the next version, written now. */
  next(r, state) {
    return { ...r, state, version: r.version + 1, updatedAt: clock.t };
  }
  /** What an upsert of `state` writes over `r` (a live record, or none). */
  upsert(id, r, state) {
    return r ? this.next(r, state) : this.record(id, state, 1);
  }
  live(r) {
    return r && !(r.expiresAt !== null && clock.t >= r.expiresAt) ? r : undefined;
  }
  /** A read-check-write in one readwrite transaction, as every write of the store is. */
  async rmw(id, change) {
    const [tx, store] = this.tx("readwrite");
    const done = idbDone(tx);
    const current = this.live(await idbRequest(store.get(id)));
    const next = change(current);
    if (next instanceof Error) {
      tx.abort();
      await done.catch(() => {});
      throw next;
    }
    store.put(next);
    await done;
    return next;
  }
  create(id, state) {
    return this.rmw(id, (r) => (r ? new Error("exists") : this.record(id, state, 1)));
  }
  async load(id) {
    const [, store] = this.tx("readonly");
    return this.live(await idbRequest(store.get(id))) ?? null;
  }
  save(id, state) {
    return this.rmw(id, (r) => this.upsert(id, r, state));
  }
  saveIfVersion(id, state, expected) {
    return this.rmw(id, (r) => ((r?.version ?? 0) !== expected ? new Error("conflict") : this.upsert(id, r, state)));
  }
  set(id, key, value) {
    return this.rmw(id, (r) => (r ? this.next(r, { ...r.state, [key]: value }) : new Error("missing")));
  }
  /** The raw bulk put: one transaction, puts only. */
  async saveMany(entries) {
    const [tx, store] = this.tx("readwrite");
    const done = idbDone(tx);
    for (const { id, state } of entries) store.put(this.record(id, state, 1));
    await done;
  }
  async loadMany(ids) {
    const [, store] = this.tx("readonly");
    return Promise.all(ids.map((id) => idbRequest(store.get(id))));
  }
  /** Seeds records expiring at `expiresAt`. */
  async seed(ids, expiresAt) {
    const [tx, store] = this.tx("readwrite");
    const done = idbDone(tx);
    ids.forEach((id, i) => store.put({ ...this.record(id, makeState(i), 1), expiresAt }));
    await done;
  }
  /**
   * The raw index-range delete: the keys of expiresAt <= now in one `getAllKeys` on the index,
   * then a delete of each, in one transaction. (A key cursor, one round trip per step, took
   * twice as long here.)
   */
  async deleteExpired() {
    const [tx, store] = this.tx("readwrite");
    const done = idbDone(tx);
    const keys = await idbRequest(store.index("expiresAt").getAllKeys(IDBKeyRange.upperBound(clock.t)));
    for (const key of keys) store.delete(key);
    await done;
    return keys.length;
  }
  async destroy() {
    this.db.close();
    await deleteDatabase(this.name);
  }
}

/** This package, on any backend; `options` are added to every open (`{ encryption: "device" }`). */
class Wss {
  constructor(backend, options = {}, Store = SessionStore) {
    this.backend = backend;
    this.options = options;
    this.Store = Store;
  }
  async open(name) {
    this.name = name;
    this.store = await this.Store.open({ ...this.options, backend: this.backend, name, ttlMs: TTL, sweepIntervalMs: null, now: () => clock.t });
  }
  create(id, state) { return this.store.create(state, { id }); }
  load(id) { return this.store.load(id); }
  save(id, state) { return this.store.save(id, state); }
  saveIfVersion(id, state, expected) { return this.store.saveIfVersion(id, state, expected); }
  set(id, key, value) { return this.store.set(id, key, value); }
  async saveMany(entries) {
    const results = await this.store.saveMany(entries);
    if (!results.every((r) => r.ok)) throw new Error("saveMany: an entry failed");
  }
  loadMany(ids) { return this.store.loadMany(ids); }
  async seed(ids, expiresAt) {
    // A second instance with the TTL that makes the deadline (the clock is shared).
    // Encrypted, it finds the same device key (kept per backend and store name).
    const seeder = await this.Store.open({ ...this.options, backend: this.backend, name: this.name, ttlMs: expiresAt - clock.t, sweepIntervalMs: null, now: () => clock.t });
    for (let i = 0; i < ids.length; i += 1000) {
      await seeder.saveMany(ids.slice(i, i + 1000).map((id, k) => ({ id, state: makeState(i + k) })));
    }
    seeder.close();
  }
  deleteExpired() { return this.store.deleteExpired(); }
  async destroy() {
    // Encrypted, clear() also destroys the store's device key (in its keys database).
    await this.store.clear();
    this.store.close();
    if (this.backend === "indexeddb") await deleteDatabase(this.name);
  }
}

/** idb-keyval: the record as the value; writes that need the old value use `update` (one transaction). */
class KeyVal extends RawIdb {
  async open(name) {
    this.name = name;
    this.kv = keyval.createStore(name, "kv");
    await keyval.get("warm-up", this.kv);
  }
  async create(id, state) {
    await keyval.update(id, (r) => (this.live(r) ? r : this.record(id, state, 1)), this.kv);
  }
  async load(id) { return this.live(await keyval.get(id, this.kv)) ?? null; }
  async save(id, state) {
    await keyval.update(id, (r) => this.upsert(id, this.live(r), state), this.kv);
  }
  async saveIfVersion(id, state, expected) {
    let conflict = false;
    await keyval.update(id, (r) => {
      if ((this.live(r)?.version ?? 0) !== expected) { conflict = true; return r; }
      return this.upsert(id, this.live(r), state);
    }, this.kv);
    if (conflict) throw new Error("conflict");
  }
  async set(id, key, value) {
    await keyval.update(id, (r) => this.next(r, { ...r.state, [key]: value }), this.kv);
  }
  saveMany(entries) { return keyval.setMany(entries.map(({ id, state }) => [id, this.record(id, state, 1)]), this.kv); }
  loadMany(ids) { return keyval.getMany(ids, this.kv); }
  seed(ids, expiresAt) {
    return keyval.setMany(ids.map((id, i) => [id, { ...this.record(id, makeState(i), 1), expiresAt }]), this.kv);
  }
  /** No index: read every entry, delete the expired ones. */
  async deleteExpired() {
    const expired = (await keyval.entries(this.kv)).filter(([, r]) => clock.t >= r.expiresAt).map(([k]) => k);
    await keyval.delMany(expired, this.kv);
    return expired.length;
  }
  /** idb-keyval keeps its connection open, which would block deleting the database: clear it. */
  destroy() { return keyval.clear(this.kv); }
}

/** localForage on its IndexedDB driver: getItem/setItem, one transaction each (its read-check-writes are not atomic). */
class LocalForage extends RawIdb {
  async open(name) {
    this.name = name;
    this.lf = localforage.createInstance({ name, storeName: "kv", driver: localforage.INDEXEDDB });
    await this.lf.ready();
  }
  async create(id, state) {
    if (this.live(await this.lf.getItem(id))) throw new Error("exists");
    await this.lf.setItem(id, this.record(id, state, 1));
  }
  async load(id) { return this.live(await this.lf.getItem(id)) ?? null; }
  async save(id, state) {
    const r = this.live(await this.lf.getItem(id));
    await this.lf.setItem(id, this.upsert(id, r, state));
  }
  async saveIfVersion(id, state, expected) {
    const r = this.live(await this.lf.getItem(id));
    if ((r?.version ?? 0) !== expected) throw new Error("conflict");
    await this.lf.setItem(id, this.upsert(id, r, state));
  }
  async set(id, key, value) {
    const r = await this.lf.getItem(id);
    await this.lf.setItem(id, this.next(r, { ...r.state, [key]: value }));
  }
  /** localForage has no batch write: a setItem loop. */
  async saveMany(entries) {
    for (const { id, state } of entries) await this.lf.setItem(id, this.record(id, state, 1));
  }
  loadMany(ids) { return Promise.all(ids.map((id) => this.lf.getItem(id))); }
  async seed(ids, expiresAt) {
    for (let i = 0; i < ids.length; i++) await this.lf.setItem(ids[i], { ...this.record(ids[i], makeState(i), 1), expiresAt });
  }
  async deleteExpired() {
    const expired = [];
    await this.lf.iterate((r, key) => { if (clock.t >= r.expiresAt) expired.push(key); });
    for (const key of expired) await this.lf.removeItem(key);
    return expired.length;
  }
  async destroy() { await this.lf.dropInstance(); }
}

/** localStorage + JSON by hand: one key per record, `<name>:<id>`. */
class RawStorage extends RawIdb {
  async open(name) { this.prefix = `${name}:`; }
  key(id) { return this.prefix + id; }
  read(id) { const text = localStorage.getItem(this.key(id)); return text === null ? undefined : this.live(JSON.parse(text)); }
  write(r) { localStorage.setItem(this.key(r.id), JSON.stringify(r)); return r; }
  async rmw(id, change) {
    const next = change(this.read(id));
    if (next instanceof Error) throw next;
    return this.write(next);
  }
  async load(id) { return this.read(id) ?? null; }
  async saveMany(entries) { for (const { id, state } of entries) this.write(this.record(id, state, 1)); }
  async loadMany(ids) { return ids.map((id) => this.read(id) ?? null); }
  async seed(ids, expiresAt) { ids.forEach((id, i) => this.write({ ...this.record(id, makeState(i), 1), expiresAt })); }
  async deleteExpired() {
    let removed = 0;
    for (const key of Object.keys(localStorage)) {
      if (!key.startsWith(this.prefix)) continue;
      const r = JSON.parse(localStorage.getItem(key));
      if (clock.t >= r.expiresAt) { localStorage.removeItem(key); removed++; }
    }
    return removed;
  }
  async destroy() {
    for (const key of Object.keys(localStorage)) if (key.startsWith(this.prefix)) localStorage.removeItem(key);
  }
}

/** A JS `Map` of JSON texts, one key per record: what the memory backend does, by hand. */
class RawMemory extends RawStorage {
  async open(name) { this.prefix = `${name}:`; this.map = new Map(); }
  read(id) { const text = this.map.get(this.key(id)); return text === undefined ? undefined : this.live(JSON.parse(text)); }
  write(r) { this.map.set(this.key(r.id), JSON.stringify(r)); return r; }
  async destroy() { this.map.clear(); }
}

/** The sync server's URL (bench/run.mjs starts one for this page's origin). */
let syncUrl;
export function setSync(url) {
  syncUrl = url;
}

/** Where a synced store's pushes fail at once, as with no network: port 9, which browsers refuse. */
const UNREACHABLE = "http://127.0.0.1:9";
/** A push's body, as the store sends it: the state, the deadline and the TTL. */
const pushBody = (state) => JSON.stringify({ state, expiresAt: Date.now() + TTL, ttlMs: TTL });
/** Runs `fn(i)` for i < n, `limit` at a time (the store's pass has 6 requests in flight). */
async function inFlight(n, fn, limit = 6) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** The flush by hand: the same conditional PUTs to the same server with `fetch`, 6 in flight. */
class RawSync {
  async open(name) {
    this.base = `${syncUrl}/v1/stores/${name}/sessions/`;
  }
  /** `n` sessions created on the server (their ETags kept). */
  async seedSynced(n) {
    this.etags = [];
    await inFlight(n, async (i) => {
      const r = await fetch(this.base + `s${i}`, {
        method: "PUT", headers: { "If-None-Match": "*", "Content-Type": "application/json" }, body: pushBody(makeState(i)),
      });
      if (r.status !== 201) throw new Error(`seed: ${r.status} ${await r.text()}`);
      this.etags[i] = r.headers.get("ETag");
      await r.arrayBuffer();
    });
  }
  /** Each session's new state, PUT with If-Match on its ETag and an Idempotency-Key. */
  async flush(n) {
    await inFlight(n, async (i) => {
      const r = await fetch(this.base + `s${i}`, {
        method: "PUT",
        headers: { "If-Match": this.etags[i], "Idempotency-Key": crypto.randomUUID(), "Content-Type": "application/json" },
        body: pushBody(makeState(i + 1)),
        cache: "no-store",
      });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`flush: ${r.status}`);
    });
  }
  async destroy() {}
}

/**
 * This package's flush: an IndexedDB store opened with `sync`, whose n sessions were synced and
 * then changed by another instance of the store (in this page, whose pushes fail: its URL cannot
 * be reached), so that they are queued; timed: one `syncNow()` of the first instance.
 */
class WssSync {
  async open(name) {
    this.name = name;
  }
  options(url) {
    return { name: this.name, ttlMs: TTL, sweepIntervalMs: null, sync: { url, intervalMs: null } };
  }
  async seedSynced(n) {
    this.store = await SessionStore.open(this.options(syncUrl));
    await this.store.saveMany(entries(n));
    await this.store.syncNow();
    if ((await this.store.syncStatus()).pending !== 0) throw new Error("seed: not synced");
    // Another instance (its writes are queued in the same database, and heard here as another
    // instance's, which this one does not push by itself) changes every session.
    const away = await SessionStore.open(this.options(UNREACHABLE));
    await away.saveMany(ids(n).map((id, i) => ({ id, state: makeState(i + 1) })));
    // Its writes started a push (which fails): a pass that has started goes on after close(),
    // so let it end first (syncNow waits for the pass running, then fails at once).
    await away.syncNow().catch(() => {});
    away.close();
    const { pending } = await this.store.syncStatus();
    if (pending !== n) throw new Error(`seed: ${pending} sessions dirty, not ${n}`);
  }
  /** One pass: every queued session PUT with If-Match, then GET /changes. */
  async flush(n) {
    await this.store.syncNow();
    const { pending, lastError } = await this.store.syncStatus();
    if (pending !== 0 || lastError) throw new Error(`flush: ${pending} pending of ${n}, ${JSON.stringify(lastError)}`);
  }
  async destroy() {
    this.store?.close();
    await deleteDatabase(this.name);
  }
}

/** The other build (`--baseline`): its SessionStore, once loaded. */
let BaseStore;
export async function loadBaseline(url) {
  const base = await import(url);
  await base.default();
  BaseStore = base.SessionStore;
}

export const CONTENDERS = {
  indexeddb: {
    raw: () => new RawIdb(),
    wss: () => new Wss("indexeddb"),
    "wss-enc": () => new Wss("indexeddb", { encryption: "device" }),
    "idb-keyval": () => new KeyVal(),
    localForage: () => new LocalForage(),
    "wss-base": () => new Wss("indexeddb", {}, BaseStore),
  },
  storage: {
    raw: () => new RawStorage(),
    wss: () => new Wss("localstorage"),
    "wss-enc": () => new Wss("localstorage", { encryption: "device" }),
    "wss-session": () => new Wss("sessionstorage"),
    "wss-base": () => new Wss("localstorage", {}, BaseStore),
  },
  memory: { raw: () => new RawMemory(), wss: () => new Wss("memory"), "wss-base": () => new Wss("memory", {}, BaseStore) },
  sync: { raw: () => new RawSync(), wss: () => new WssSync() },
};

const ids = (n, prefix = "s") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
/** `n` sessions s0, s1, ... with their states, as saveMany entries. */
const entries = (n) => ids(n).map((id, i) => ({ id, state: makeState(i) }));

/**
 * Each workload: `setup` (untimed) then `timed`, both given the contender and the count.
 * `timed` returns how many operations it did.
 */
export const WORKLOADS = {
  create: {
    timed: async (c, n) => { for (const [i, id] of ids(n).entries()) await c.create(id, makeState(i)); return n; },
  },
  "load (hot)": {
    setup: async (c, n) => { await c.saveMany(entries(n)); await c.load("s0"); },
    timed: async (c, n) => {
      for (const id of ids(n)) if (!(await c.load(id))) throw new Error(`load ${id}: missing`);
      return n;
    },
  },
  save: {
    setup: (c, n) => c.saveMany(entries(n)),
    timed: async (c, n) => { for (const [i, id] of ids(n).entries()) await c.save(id, makeState(i + 1)); return n; },
  },
  saveIfVersion: {
    setup: (c, n) => c.saveMany(entries(n)),
    timed: async (c, n) => { for (const [i, id] of ids(n).entries()) await c.saveIfVersion(id, makeState(i + 1), 1); return n; },
  },
  "set one key": {
    setup: (c, n) => c.saveMany(entries(n)),
    timed: async (c, n) => { for (const [i, id] of ids(n).entries()) await c.set(id, "visits", i); return n; },
  },
  "mixed 80/20 load/save": {
    setup: (c) => c.saveMany(entries(100)),
    timed: async (c, n) => {
      for (let i = 0; i < n; i++) {
        const id = `s${i % 100}`;
        if (i % 5 === 4) await c.save(id, makeState(i));
        else await c.load(id);
      }
      return n;
    },
  },
  "saveMany": {
    timed: async (c, n) => { await c.saveMany(entries(n)); return n; },
  },
  "loadMany": {
    setup: (c, n) => c.saveMany(entries(n)),
    timed: async (c, n) => {
      const got = await c.loadMany(ids(n));
      if (got.length !== n || !got.every(Boolean)) throw new Error("loadMany: missing records");
      return n;
    },
  },
  /** Sync: `n` sessions changed since they were synced, pushed to the server. */
  "flush dirty sessions": {
    setup: (c, n) => c.seedSynced(n),
    timed: async (c, n) => { await c.flush(n); return n; },
  },
  deleteExpired: {
    /** `n` records, half expired once the clock moves. */
    setup: async (c, n) => {
      await c.seed(ids(n / 2, "old"), clock.t + 1_000);
      await c.seed(ids(n / 2, "new"), clock.t + TTL);
      clock.t += 2_000;
    },
    timed: async (c, n) => {
      const removed = await c.deleteExpired();
      if (removed !== n / 2) throw new Error(`deleteExpired removed ${removed}, not ${n / 2}`);
      return removed;
    },
  },
};

/**
 * Counts this page's `fetch` calls while `fn` runs: to a session (PUT, POST, DELETE or GET of
 * `/sessions/...`) and others (GET `/changes`), and the sessions' answers by status.
 */
async function countingFetches(fn) {
  const count = { session: 0, other: 0, statuses: {} };
  const fetch = globalThis.fetch;
  globalThis.fetch = (url, init) => {
    const session = String(url).includes("/sessions/");
    count[session ? "session" : "other"]++;
    return fetch(url, init).then((r) => {
      if (session) count.statuses[r.status] = (count.statuses[r.status] ?? 0) + 1;
      return r;
    });
  };
  try {
    await fn();
  } finally {
    globalThis.fetch = fetch;
  }
  return count;
}

let runs = 0;
/** One measured run on a fresh database: resolves to { ms, ops } (and the requests, for sync). */
export async function run(family, contender, workload, n) {
  const c = CONTENDERS[family][contender]();
  const w = WORKLOADS[workload];
  clock.t = 1_700_000_000_000;
  await c.open(`bench-${family}-${contender}-${runs++}`.replace(/[^A-Za-z0-9_.-]/g, "_"));
  try {
    await w.setup?.(c, n);
    if (family === "sync") {
      let ops;
      const start = performance.now();
      const requests = await countingFetches(async () => (ops = await w.timed(c, n)));
      return { ms: performance.now() - start, ops, requests };
    }
    const start = performance.now();
    const ops = await w.timed(c, n);
    return { ms: performance.now() - start, ops };
  } finally {
    await c.destroy();
  }
}

/** Seeds a store for a cold start in a fresh page (see cold.html). */
export async function seedCold(contender, name) {
  if (contender === "idb-keyval") {
    // idb-keyval's layout (object store "kv", out-of-line keys), written by hand so that no
    // connection stays open here to block deleting the database afterwards.
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore("kv");
    const db = await idbRequest(req);
    const tx = db.transaction("kv", "readwrite");
    tx.objectStore("kv").put(new RawIdb().record("s0", makeState(0), 1), "s0");
    await idbDone(tx);
    db.close();
    return;
  }
  const store = await SessionStore.open({ name, sweepIntervalMs: null });
  await store.create(makeState(0), { id: "s0" });
  store.close();
}

export async function dropCold(name) {
  await deleteDatabase(name);
}
