// The built package in a browser (each engine: WSS_ENGINE), called as a user would: import,
// init, open, create, load.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { useBrowser } from "./helpers.mjs";

const it = useBrowser();
let page;
before(async () => { page = await (await it.ready()).page(); });

test("a memory store creates and loads a session, and expiry follows the injected clock", async () => {
  const out = await page.evaluate(async () => {
    const { default: init, SessionStore } = await import("wasm-session-store");
    await init();
    let t = 1_000;
    const store = await SessionStore.open({ backend: "memory", ttlMs: 500, now: () => t });
    const created = await store.create({ user: "ada", n: [1, 2.5, null] });
    const loaded = await store.load(created.id);
    t = 1_500;
    const expired = await store.load(created.id);
    return { created, loaded, expired, backend: store.backend };
  });
  assert.equal(out.backend, "memory");
  assert.match(out.created.id, /^[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(out.loaded, {
    id: out.created.id, state: { user: "ada", n: [1, 2.5, null] }, version: 1,
    createdAt: 1000, updatedAt: 1000, expiresAt: 1500, ttlMs: 500,
  });
  assert.equal(out.expired, null);
});

test("errors are StoreErrors with a code, and calls after close reject with CLOSED", async () => {
  const out = await page.evaluate(async () => {
    const { default: init, SessionStore } = await import("wasm-session-store");
    await init();
    const store = await SessionStore.open({ backend: "memory" });
    const catchIt = (p) => p.then(
      () => "resolved",
      (e) => ({ name: e.name, code: e.code, msg: e.message, isError: e instanceof Error }),
    );
    const r = await store.create({ n: 1 });
    await store.save(r.id, { n: 2 });
    const conflict = await store.saveIfVersion(r.id, { n: 3 }, 1)
      .catch((e) => ({ code: e.code, expected: e.expected, actual: e.actual }));
    const bad = await catchIt(store.load("not an id"));
    const badState = await catchIt(store.create({ f() {} }));
    const badOpt = await catchIt(SessionStore.open({ backend: "memory", colour: "red" }));
    const after = await store.load(r.id);
    store.close();
    store.close();
    const closed = await catchIt(store.load(r.id));
    const closedBadArg = await catchIt(store.load(42));
    return { conflict, bad, badState, badOpt, after, closed, closedBadArg };
  });
  assert.deepEqual(out.conflict, { code: "VERSION_CONFLICT", expected: 1, actual: 2 });
  assert.equal(out.bad.name, "StoreError");
  assert.equal(out.bad.code, "INVALID_INPUT");
  assert.ok(out.bad.isError);
  assert.equal(out.badState.code, "INVALID_INPUT");
  assert.match(out.badState.msg, /function/);
  assert.equal(out.badOpt.code, "INVALID_INPUT");
  assert.match(out.badOpt.msg, /colour/);
  assert.deepEqual([out.after.version, out.after.state], [2, { n: 2 }], "rejected calls wrote nothing");
  assert.equal(out.closed.code, "CLOSED");
  assert.equal(out.closedBadArg.code, "CLOSED");
});
