// Node side of the client-sync tests (tests/js/sync*.test.mjs): the servers, the proxies and the
// "devices" they drive.
//
// - Servers: for each storage (memory, and a standalone Redis started by scripts/redis.sh),
//   wss-server with `--insecure-dev` ("dev") and with `--jwt-secret-file` ("jwt"), each allowing
//   both test origins (CORS), started once per process (scripts/sync-test-servers.mjs) and stopped by
//   PID after the tests. WSS_SYNC_STORAGES="memory" runs one storage only (while iterating).
// - Devices: two devices are two independent stores of the same name and server with separate
//   local storage. Device "A" runs in pages of the browser's own static server (origin 1),
//   device "B" in pages of a second static server on another port (origin 2): another origin,
//   so its own IndexedDB, localStorage, Web Locks and BroadcastChannel, as on another machine,
//   and both can use a persistent backend and reload. Tabs of one device are pages of one origin.
// - Proxies: every device page syncs through a fault-injecting proxy of its own
//   (scripts/fault-proxy.mjs) mounted on its origin's static server, so requests are
//   same-origin (no CORS) and the test programs faults per device and reads the device's log.
import { after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "../../scripts/serve.mjs";
import { faultProxy } from "../../scripts/fault-proxy.mjs";
import { startRedis, startServer, jwt } from "../../scripts/sync-test-servers.mjs";
import { ENGINE } from "./helpers.mjs";

export { ENGINE, jwt };

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const STORAGES = (process.env.WSS_SYNC_STORAGES ?? "memory redis").split(/[\s,]+/).filter(Boolean);
export const JWT_SECRET = "wss-sync-tests-secret";
/** A valid token of owner `sub`. */
export const token = (sub = "alice", claims = {}) => jwt(JWT_SECRET, { sub, exp: Math.floor(Date.now() / 1000) + 3600, ...claims });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` (async) until it returns a truthy value, which it resolves to; fails after `timeout`. */
export async function until(fn, { timeout = 15_000, interval = 50, what = fn.toString().slice(0, 160) } = {}) {
  const started = Date.now();
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() - started > timeout) throw new Error(`${ENGINE}: waited ${timeout} ms for ${what}`);
    await sleep(interval);
  }
}

let envPromise;
/**
 * The servers and the second origin, started once (after the browser: the servers allow its
 * origin): `{ origin1, origin2, redis, servers: { memory: { dev, jwt }, redis: { dev, jwt } } }`.
 */
export function syncEnv(it) {
  envPromise ??= (async () => {
    const browser = await it.ready();
    const pkg = process.env.WSS_PKG_DIR ? { "/pkg/": resolve(process.env.WSS_PKG_DIR) } : {};
    const second = await serve({ mounts: { "/t/": join(repo, "tests", "pages"), ...pkg } });
    const origin1 = browser.url.replace(/\/$/, "");
    const origin2 = second.url.replace(/\/$/, "");
    const env = { origin1, origin2, statics: { 1: browser.server, 2: second }, second, servers: {}, stops: [] };
    env.stops.push(() => second.close());
    try {
      if (STORAGES.includes("redis")) {
        env.redis = await startRedis();
        env.stops.push(() => env.redis.stop());
      }
      for (const storage of STORAGES) {
        const redis = storage === "redis" ? env.redis.url : undefined;
        const allowOrigins = [origin1, origin2];
        // --max-body 262144: a 300 KB state is a 413 (another 4xx, tests/js/sync.test.mjs).
        const args = ["--max-body", "262144"];
        const dev = await startServer({ redis, allowOrigins, args });
        env.stops.push(() => dev.stop());
        const auth = await startServer({ redis, allowOrigins, args, jwtSecret: JWT_SECRET });
        env.stops.push(() => auth.stop());
        env.servers[storage] = { dev, jwt: auth };
      }
    } catch (e) {
      for (const stop of env.stops.reverse()) await stop().catch(() => {});
      throw e;
    }
    return env;
  })();
  return envPromise;
}

after(async () => {
  if (!envPromise) return;
  const env = await envPromise.catch(() => undefined);
  if (!env) return;
  for (const stop of env.stops.reverse()) await stop().catch((e) => console.log(`# stopping: ${e.message}`));
});

let counter = 0;
/** A store name of its own for each test (1..=64 chars of [A-Za-z0-9_.-]). */
export function storeName(tag) {
  counter++;
  return `${tag}-${ENGINE.slice(0, 2)}-${counter}-${randomBytes(3).toString("hex")}`.slice(0, 64);
}

/** The server `which` ("dev" | "jwt") of `storage`, for reads that bypass the proxies. */
export class ServerView {
  constructor(env, storage, which = "dev", owner = "alice") {
    this.server = env.servers[storage][which];
    this.url = this.server.url;
    this.storage = storage;
    this.redis = storage === "redis" ? env.redis : undefined;
    this.auth = which === "jwt" ? { authorization: `Bearer ${token(owner)}` } : {};
  }

  async request(method, path, { headers = {}, body } = {}) {
    const h = { ...this.auth, ...headers };
    if (body !== undefined) h["content-type"] = "application/json";
    const res = await fetch(`${this.url}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, etag: res.headers.get("etag"), text, json };
  }

  /** GET of one session: `{ status, etag, json, text }`. */
  get(name, id) {
    return this.request("GET", `/v1/stores/${name}/sessions/${encodeURIComponent(id)}`);
  }

  /** Every live session of the store, from the server: `{ [id]: record }`. */
  async all(name) {
    const list = await this.request("GET", `/v1/stores/${name}/changes`);
    assert.equal(list.status, 200, list.text);
    const out = {};
    for (const { id, etag } of list.json.changes) {
      if (etag === null) continue;
      const got = await this.get(name, id);
      if (got.status === 200) out[id] = got.json;
    }
    return out;
  }

  /** A write straight to the server (as another device would), e.g. to make a conflict. */
  put(name, id, body, precondition = { "if-none-match": "*" }) {
    return this.request("PUT", `/v1/stores/${name}/sessions/${encodeURIComponent(id)}`, { headers: precondition, body });
  }

  /** Every Redis key of the store and what it holds (by type), as text: `{ [key]: text }`. */
  async redisContents(name) {
    assert.ok(this.redis, "only on Redis");
    const keys = (await this.redis.cli("--scan", "--pattern", `*:${name}:*`)).split("\n").filter(Boolean);
    const out = {};
    for (const key of keys) {
      const type = (await this.redis.cli("TYPE", key)).trim();
      const read = {
        string: ["GET", key],
        hash: ["HGETALL", key],
        list: ["LRANGE", key, "0", "-1"],
        set: ["SMEMBERS", key],
        zset: ["ZRANGE", key, "0", "-1", "WITHSCORES"],
        stream: ["XRANGE", key, "-", "+"],
      }[type];
      out[key] = read ? `${type}: ${await this.redis.cli(...read)}` : `${type}: (not read)`;
    }
    return out;
  }
}

/**
 * A device: an origin (1 or 2: its own local storage) syncing to the server `server` ("dev" or
 * "jwt") of `storage` through a fault proxy of its own, mounted on that origin's static server.
 * Its pages are its tabs (`await device.tab()`); `device.url` is the sync URL through the proxy,
 * `device.direct` the server's own URL (for the CORS test).
 */
export class Device {
  static async create(it, env, { origin = 1, storage, server = "dev" }) {
    const target = env.servers[storage][server];
    const proxy = faultProxy(target.url);
    const prefix = `/p/${++counter}/`;
    const unmount = env.statics[origin].mount(prefix, proxy.handle);
    const base = origin === 1 ? env.origin1 : env.origin2;
    return new Device({ it, origin, base, proxy, unmount, url: `${base}${prefix.slice(0, -1)}`, direct: target.url });
  }

  constructor(fields) {
    Object.assign(this, fields);
    this.tabs = [];
  }

  /** A new page of this device (`query`, e.g. "?without=locks", goes on the test page's URL). */
  async tab({ query = "" } = {}) {
    const page = await this.it.browser.page(`${this.base}/t/test.html${query}`);
    await page.evaluate(async () => { Object.assign(globalThis, await import("/t/sync.js")); });
    const tab = new Tab(page, this);
    this.tabs.push(tab);
    return tab;
  }

  /** Closes every tab still open (checking their uncaught errors) and unmounts the proxy. */
  async close() {
    try {
      for (const tab of this.tabs) await tab.close();
    } finally {
      this.unmount();
    }
  }
}

/** A page of a device. */
export class Tab {
  constructor(page, device) {
    this.page = page;
    this.device = device;
    this.proxy = device.proxy;
    /** The sync URL through this device's proxy. */
    this.url = device.url;
  }

  evaluate(fn, arg, opts) {
    return this.page.evaluate(fn, arg, opts);
  }

  /** Opens `store` in the page (tests/pages/sync.js `open`); `url` defaults to the proxy's. */
  async openStore(options) {
    this.options = { url: this.url, ...options };
    return this.page.evaluate((o) => open(o), this.options);
  }

  /** Reloads the page and opens the store again with the same options. */
  async reload() {
    await this.page.reload();
    await this.page.evaluate(async () => { Object.assign(globalThis, await import("/t/sync.js")); });
    return this.openStore(this.options);
  }

  syncNow(opts) {
    return this.page.evaluate(() => settle(store.syncNow()), undefined, opts);
  }

  status() {
    return this.page.evaluate(() => store.syncStatus());
  }

  /** The store's live sessions (those of `only`, if given): `{ [id]: { state, version, expiresAt, ttlMs } }`. */
  snapshot(only) {
    return this.page.evaluate((only) => snapshot(only), only);
  }

  /** The store's events so far (those `filter` keeps). */
  events(filter) {
    return this.page.evaluate(() => eventList()).then((text) => {
      const list = JSON.parse(text);
      return filter ? list.filter(filter) : list;
    });
  }

  close(opts) {
    return this.page.close(opts);
  }
}

/** The requests of `log` that reached the server and got an answer it gave. */
export const forwarded = (log) => log.filter((e) => e.forwarded);
/** How many entries of `log` match `match` (an object of fields, or a function). */
export function count(log, match) {
  return log.filter((e) => (typeof match === "function" ? match(e) : Object.entries(match).every(([k, v]) => e[k] === v))).length;
}
/** A short view of a log for failure messages. */
export const show = (log) => log.map((e) =>
  `${e.seq} ${e.method} ${e.kind}${e.id ? ` ${e.id}` : ""} ${e.ifMatch ? `if-match ${e.ifMatch} ` : ""}${e.ifNoneMatch ? `if-none-match ${e.ifNoneMatch} ` : ""}key=${e.idempotencyKey ?? "-"} -> ${e.status}${e.failed ? ` (${e.failed})` : ""}${e.forwarded ? ` [server ${e.upstream}]` : ""}${e.error ? ` PROXY ERROR ${e.error.split("\n")[0]}` : ""}`).join("\n");

/**
 * Checks that do not stop the test at the first failure, so that one run lists every way the
 * client was wrong: `c.eq(actual, expected, what)`, `c.ok(value, what)`, then `c.done()` fails
 * with all of them (a step that later steps need is asserted at once instead).
 */
export function soft() {
  const failures = [];
  return {
    failures,
    eq(actual, expected, what) {
      try { assert.deepEqual(actual, expected); } catch {
        failures.push(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
      }
    },
    ok(value, what) {
      if (!value) failures.push(`${what} (got ${JSON.stringify(value)})`);
    },
    done() {
      assert.deepEqual(failures, [], `${ENGINE}: ${failures.length} check(s) failed:\n${failures.join("\n")}`);
    },
  };
}

/**
 * Runs `body({ env, name, devices, server })`: `devices` made from `specs` (Device.create's
 * options, `storage` added), a store name of its own, and a view of the first device's server;
 * closes the devices after, however the body ends.
 */
export async function withDevices(it, storage, tag, specs, body) {
  const env = await syncEnv(it);
  const name = storeName(tag);
  const devices = [];
  try {
    for (const spec of specs) devices.push(await Device.create(it, env, { storage, ...spec }));
    await body({ env, name, devices, server: new ServerView(env, storage, specs[0]?.server ?? "dev") });
  } finally {
    for (const d of devices) await d.close();
  }
}

/** Resolves once `proxy` has no request open and none arrived for `ms`. */
export async function quiet(proxy, ms = 300, timeout = 20_000) {
  const started = Date.now();
  let seen = proxy.log.length;
  let since = Date.now();
  for (;;) {
    if (proxy.log.length !== seen || proxy.open > 0) { seen = proxy.log.length; since = Date.now(); }
    if (Date.now() - since >= ms) return;
    if (Date.now() - started > timeout) throw new Error(`${ENGINE}: the proxy did not go quiet within ${timeout} ms`);
    await sleep(25);
  }
}

/** The store's requests in `log` (a device's proxy may carry several stores' requests). */
export const of = (log, name) => log.filter((e) => e.store === name);

/**
 * The client's attempts among `entries` (requests of one change, in order): a request that
 * failed with no answer on a kept-alive connection is resent at once by the browser itself
 * (within a few ms, measured in all three engines), so requests closer than `gap` ms are one
 * attempt; the client's own retries come after its backoff (>= 500 ms).
 */
export function attempts(entries, gap = 150) {
  const out = [];
  for (const e of entries) {
    const last = out.at(-1);
    if (last && e.at - last.at(-1).at < gap) last.push(e);
    else out.push([e]);
  }
  return out;
}

/** A rule failing (`action`, default "down") the client's first `n` attempts of what `match` names. */
export function failAttempts(proxy, match, n, action = "down") {
  return proxy.rule((e) => proxy.entries(match).includes(e) && attempts(proxy.entries(match).filter((x) => x.seq <= e.seq)).length <= n, action);
}

/**
 * Sessions that had two requests in flight at once in `log` (a move counts for both ids):
 * `["id: seq and seq", ...]`.
 */
export function concurrentPerSession(log) {
  const byId = {};
  for (const e of log.filter((x) => x.id !== undefined)) {
    const ids = [e.id];
    if (e.kind === "move") { try { ids.push(JSON.parse(e.body).to); } catch { /* a bad body */ } }
    for (const id of ids) (byId[id] ??= []).push(e);
  }
  const out = [];
  for (const [id, list] of Object.entries(byId)) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [x, y] = [list[i], list[j]];
        if (x.method === "GET" || y.method === "GET") continue;
        if (y.at < (x.doneAt ?? Infinity) && x.at < (y.doneAt ?? Infinity)) out.push(`${id}: ${x.seq} and ${y.seq}`);
      }
    }
  }
  return out;
}
