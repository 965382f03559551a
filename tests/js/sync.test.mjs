// Client sync (DESIGN.md "Sync to a server", issue 29) against the real wss-server on memory and
// on Redis, through the project's fault proxy (tests/js/sync-helpers.mjs says how devices,
// proxies and servers are set up): the round trip between two devices, when pulls happen, the
// queue across a reload while offline, lost answers, 503 with Retry-After, 401 until a new
// token, answers that cannot be read, another 4xx, and retries that need no new write.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBrowser } from "./helpers.mjs";
import { STORAGES, attempts, failAttempts, forwarded, quiet, show, soft, token, until, sleep, withDevices } from "./sync-helpers.mjs";

const it = useBrowser();

const DOWN = () => true;
const html = (status, title) => ({
  status,
  headers: { "content-type": "text/html; charset=utf-8" },
  body: `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1><p>nginx</p></body></html>`,
});

for (const storage of STORAGES) {
  describe(`sync on ${storage}`, () => {
    test("round trip: a create and an edit on one device reach the server and the other device, pulled with remote: true", async () => {
      await withDevices(it, storage, "trip", [{ origin: 1 }, { origin: 2 }], async ({ name, devices: [A, B], server }) => {
        const c = soft();
        const a = await A.tab();
        const b = await B.tab();
        // Both pages play offline (navigator.onLine false): nothing starts by itself, so each
        // syncNow's counts are exactly what it did.
        await b.openStore({ backend: "memory", name, offline: true });
        await a.openStore({ backend: "indexeddb", name, offline: true });
        await a.evaluate(() => store.create({ n: 1, text: "héllo ✓" }, { id: "s1" }));
        const first = await a.syncNow();
        c.eq(first, { value: { pushed: 1, pulled: 0, conflicts: 0, pending: 0 } }, "A's first syncNow");
        const onServer = await server.get(name, "s1");
        assert.equal(onServer.status, 200, show(A.proxy.log));
        c.eq(onServer.json.state, { n: 1, text: "héllo ✓" }, "the state on the server");
        c.eq(onServer.json.version, 1, "the server version after one push");
        const puts = A.proxy.entries({ method: "PUT", id: "s1" });
        c.eq(puts.length, 1, "A's PUTs of s1");
        c.eq(puts[0]?.ifNoneMatch, "*", "a first push is a create: If-None-Match: *");
        c.ok(puts[0]?.idempotencyKey, "a push carries an Idempotency-Key");

        c.eq(await b.syncNow(), { value: { pushed: 0, pulled: 1, conflicts: 0, pending: 0 } }, "B's pull");
        const onB = await b.evaluate(() => store.load("s1"));
        assert.deepEqual(onB?.state, { n: 1, text: "héllo ✓" }, "B has s1");
        c.eq([onB.expiresAt, onB.ttlMs], [onServer.json.expiresAt, onServer.json.ttlMs], "B's expiresAt and ttlMs: the server's");
        // (local: false on the pulling tab is checked by the "pulls" test.)
        const bEvents = await b.events((e) => e.id === "s1");
        c.eq(bEvents.map((e) => [e.type, e.remote]), [["created", true]], "B's events for the pulled s1 ([type, remote])");

        await b.evaluate(() => store.set("s1", "n", 2));
        c.eq(await b.syncNow(), { value: { pushed: 1, pulled: 0, conflicts: 0, pending: 0 } }, "B's push of its edit");
        const bPut = B.proxy.entries({ method: "PUT", id: "s1" });
        c.eq(bPut.length, 1, "B's PUTs of s1");
        c.eq(bPut[0]?.ifMatch, onServer.etag, "B pushed over the ETag it pulled (If-Match)");
        const after = await server.get(name, "s1");
        c.eq([after.json?.state.n, after.json?.version], [2, 2], "server state.n and version after B's edit");

        // lastSyncAt is on the store's clock (an hour ahead of the wall clock here).
        await a.evaluate(() => { globalThis.skew = 3_600_000; });
        const before = Date.now();
        c.eq(await a.syncNow(), { value: { pushed: 0, pulled: 1, conflicts: 0, pending: 0 } }, "A's pull of B's edit");
        const lastSyncAt = (await a.status()).lastSyncAt;
        c.ok(lastSyncAt >= before + 3_600_000 && lastSyncAt <= Date.now() + 3_600_000, `lastSyncAt ${lastSyncAt} on the store's clock (wall clock ${before} + 1 h)`);
        const onA = await a.evaluate(() => store.load("s1"));
        c.eq(onA?.state.n, 2, "A has B's edit");
        c.eq(onA?.version, 2, "a pulled change is a local write: local version + 1");
        const aEvents = (await a.events((e) => e.id === "s1")).map((e) => [e.type, e.remote ?? null]);
        c.eq(aEvents, [["created", null], ["saved", true]], "A's events for s1 ([type, remote])");
        const status = await a.status();
        c.eq([status.pending, status.lastError], [0, null], "A's syncStatus pending and lastError");
        c.eq(typeof status.lastSyncAt, "number", "lastSyncAt after a completed pass");
        c.done();
      });
    });

    test("pulls: with intervalMs null nothing is pulled until syncNow; with intervalMs a change arrives on its own; remote events in every tab", async () => {
      await withDevices(it, storage, "pulls", [{ origin: 1 }, { origin: 2 }, { origin: 2 }], async ({ name, devices: [A, B, C], server }) => {
        const c = soft();
        const put = await server.put(name, "p1", { state: { from: "server" } });
        assert.equal(put.status, 201, put.text);
        const b = await B.tab();
        await b.openStore({ backend: "indexeddb", name, intervalMs: null });
        // A second tab of device B: pulled changes are events with remote: true there too.
        const b2 = await B.tab();
        await b2.openStore({ backend: "indexeddb", name, intervalMs: null });
        await sleep(1_500);
        c.eq(B.proxy.entries({ kind: "changes" }).length, 0, "GET /changes by a store with intervalMs null before any syncNow (none: it pulls only in syncNow)");
        c.eq(await b.evaluate(() => store.ids()), [], "B's sessions before its syncNow");
        c.eq(await b.syncNow(), { value: { pushed: 0, pulled: 1, conflicts: 0, pending: 0 } }, "B's syncNow");
        assert.deepEqual((await b.evaluate(() => store.load("p1")))?.state, { from: "server" });
        // A pulled change is an event with remote: true and local: false, in the tab that
        // pulled it and in the other (whose feed works: a local write of one tab is seen there).
        c.eq((await b.events((e) => e.id === "p1")).map((e) => [e.type, e.local, e.remote]), [["created", false, true]], "the pulled change's event in the tab that pulled ([type, local, remote])");
        const pulledSoFar = B.proxy.entries({ kind: "changes" }).length;
        await b.evaluate(() => store.create({ local: true }, { id: "p0" }));
        await until(() => b2.evaluate(() => events.some((e) => e.id === "p0")), { what: "B's local write as an event in its other tab" });
        // The pass that the write starts pushes and does not pull.
        await until(() => B.proxy.entries({ method: "PUT", id: "p0" }).some((e) => e.status === 201), { what: "p0 pushed by the pass its write started" });
        await quiet(B.proxy);
        c.eq(B.proxy.entries({ kind: "changes" }).length - pulledSoFar, 0, "GET /changes by the pass a write started (it only pushes)");
        const inOther = await b2.events((e) => e.id === "p1");
        c.eq(inOther.map((e) => [e.type, e.local, e.remote]), [["created", false, true]], "the pulled change's event in B's other tab ([type, local, remote])");

        // Device C pulls every 300 ms: a server change arrives without syncNow.
        const cTab = await C.tab();
        await cTab.openStore({ backend: "memory", name, intervalMs: 300 });
        await until(() => cTab.evaluate(() => store.load("p1")), { timeout: 10_000, what: "C's periodic pull of p1" });
        const upd = await server.put(name, "p1", { state: { from: "server", n: 2 } }, { "if-match": put.etag });
        assert.equal(upd.status, 200);
        await until(() => cTab.evaluate(() => store.load("p1").then((r) => r?.state.n === 2)), { timeout: 10_000, what: "C's periodic pull of p1's edit" });
        c.done();
      });
    });

    for (const backend of ["indexeddb", "localstorage"]) {
      test(`${backend}: offline edits, a reload, then back online: exactly one push per session, with the last state and the Idempotency-Key it had`, async () => {
        await withDevices(it, storage, "offline", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
          const c = soft();
          A.proxy.rule(DOWN, "down");
          const a = await A.tab();
          await a.openStore({ backend, name });
          await a.evaluate(async () => {
            for (const id of ["o1", "o2", "o3"]) await store.create({ n: 0, id }, { id });
            for (let n = 1; n <= 3; n++) for (const id of ["o1", "o2", "o3"]) await store.set(id, "n", n);
            await store.save("o2", { n: 30, replaced: true });
            await store.remove("o3", "id");
          });
          const lastWrite = Date.now();
          const expected = { o1: { n: 3, id: "o1" }, o2: { n: 30, replaced: true }, o3: { n: 3 } };
          // The client tries on its own while offline; wait for a try made after the last write.
          await until(() => ["o1", "o2", "o3"].every((id) => A.proxy.entries((e) => e.method === "PUT" && e.id === id && e.at > lastWrite + 200).length), { timeout: 10_000, what: "a push of each session tried after the last write (retried on its own)" });
          const triedKeys = Object.fromEntries(["o1", "o2", "o3"].map((id) => [id, A.proxy.entries((e) => e.method === "PUT" && e.id === id && e.at > lastWrite + 200).at(-1).idempotencyKey]));
          const before = await a.status();
          c.eq(before.pending, 3, "pending while offline");
          c.eq(before.lastError?.code, "UNAVAILABLE", "lastError while offline");

          const backendAfter = await a.reload();
          assert.equal(backendAfter, backend);
          const snap = await a.snapshot();
          assert.deepEqual(Object.fromEntries(Object.entries(snap).map(([id, r]) => [id, r.state])), expected, "the sessions after the reload");
          const reloaded = await a.status();
          c.eq(reloaded.pending, 3, "pending after the reload (the queue survived it)");
          c.eq(reloaded.lastError?.code, "UNAVAILABLE", "lastError after the reload (kept with the queue)");
          const reloadedAt = Date.now();

          A.proxy.clearRules();
          await a.evaluate(() => goOnline());
          const onServer = await until(async () => {
            const all = await server.all(name);
            return Object.keys(all).length === 3 && all;
          }, { timeout: 10_000, what: "the three sessions on the server after the online event" });
          await until(() => a.status().then((s) => s.pending === 0), { what: "pending 0" });
          await quiet(A.proxy);
          c.eq(Object.fromEntries(Object.entries(onServer).map(([id, r]) => [id, r.state])), expected, "the states on the server");
          c.eq(Object.values(onServer).map((r) => r.version), [1, 1, 1], "server versions (one push each)");
          for (const id of ["o1", "o2", "o3"]) {
            const pushes = forwarded(A.proxy.entries({ id }));
            c.eq(pushes.map((e) => `${e.method} ${e.upstream}`), ["PUT 201"], `requests about ${id} that reached the server`);
            c.eq(pushes[0]?.idempotencyKey, triedKeys[id], `${id}: the Idempotency-Key of the push is the one it was tried with before the reload`);
            const afterReload = A.proxy.entries((e) => e.id === id && e.at >= reloadedAt).map((e) => e.idempotencyKey);
            c.eq(new Set(afterReload).size, 1, `${id}: one Idempotency-Key on every try after the reload (${afterReload.length} tries)`);
          }
          const status = await a.status();
          c.eq(status.lastError, null, "lastError after the pass that completed");
          c.done();
        });
      });
    }

    test("the answer to a write is lost (create, update, move, delete): the retry keeps its Idempotency-Key and the server applies each once", async () => {
      await withDevices(it, storage, "lost", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
        const c = soft();
        const a = await A.tab();
        await a.openStore({ backend: "indexeddb", name, offline: true });
        // A create whose answer is cut half-way (the client gets an answer it cannot read).
        const cut = A.proxy.rule({ method: "PUT", id: "l1" }, "cut");
        await a.evaluate(() => store.create({ n: 1 }, { id: "l1" }));
        const r1 = await a.syncNow();
        c.eq(r1.error?.code, "UNAVAILABLE", "syncNow when the create's answer was lost");
        assert.equal((await server.get(name, "l1")).json?.version, 1, "the create reached the server");
        cut.remove();
        c.eq(await a.syncNow(), { value: { pushed: 1, pulled: 0, conflicts: 0, pending: 0 } }, "the retry of the create");
        // An update whose answer never comes (the connection closes with no byte back).
        const drop = A.proxy.rule({ method: "PUT", id: "l1" }, "drop");
        await a.evaluate(() => store.set("l1", "n", 2));
        const r2 = await a.syncNow();
        c.eq(r2.error?.code, "UNAVAILABLE", "syncNow when the update's answer was lost");
        c.eq((await server.get(name, "l1")).json?.version, 2, "the update reached the server");
        c.eq((await a.status()).pending, 1, "pending after a lost answer");
        drop.remove();
        c.eq(await a.syncNow(), { value: { pushed: 1, pulled: 0, conflicts: 0, pending: 0 } }, "the retry of the update");
        // A move and a delete whose answers are lost.
        await a.evaluate(() => store.create({ m: 1 }, { id: "l2" }));
        assert.equal((await a.syncNow()).value?.pending, 0);
        const dropMove = A.proxy.rule({ kind: "move" }, "drop");
        await a.evaluate(() => store.changeId("l2", "l3"));
        c.eq((await a.syncNow()).error?.code, "UNAVAILABLE", "syncNow when the move's answer was lost");
        dropMove.remove();
        c.eq((await a.syncNow()).value?.conflicts, 0, "the retry of the move: no conflict");
        const dropDelete = A.proxy.rule({ method: "DELETE" }, "drop");
        await a.evaluate(() => store.delete("l1"));
        c.eq((await a.syncNow()).error?.code, "UNAVAILABLE", "syncNow when the delete's answer was lost");
        dropDelete.remove();
        const last = await a.syncNow();
        c.eq(last, { value: { pushed: 1, pulled: 0, conflicts: 0, pending: 0 } }, "the retry of the delete");

        const final = await server.all(name);
        c.eq(Object.keys(final), ["l3"], "sessions on the server");
        c.eq([final.l3?.state, final.l3?.version], [{ m: 1 }, 1], "l3 on the server (moved once)");
        c.eq((await server.get(name, "l1")).status, 404, "l1 deleted on the server");
        c.eq(await a.snapshot().then((s) => Object.keys(s)), ["l3"], "A's sessions");
        c.eq(await a.events((e) => e.type === "conflict" || e.type === "syncError").then((l) => l.filter((e) => e.type === "conflict")), [], "conflict events (a replayed write is not a conflict)");
        // Every try of one change carried one Idempotency-Key, and the server never said 412.
        const writes = A.proxy.log.filter((e) => e.method !== "GET");
        const byChange = {};
        for (const e of writes) {
          const change = `${e.method} ${e.id} ${e.ifMatch ?? e.ifNoneMatch ?? ""} ${e.body}`;
          (byChange[change] ??= new Set()).add(e.idempotencyKey);
        }
        for (const [change, keys] of Object.entries(byChange)) c.eq(keys.size, 1, `Idempotency-Keys used for ${change}`);
        c.eq(forwarded(writes).filter((e) => e.upstream === 412).length, 0, "412s from the server");
        c.ok(forwarded(writes).length >= 8, `each lost write reached the server twice at least (${forwarded(writes).length} writes forwarded)`);
        c.done();
      });
    });

    test("503 with Retry-After, then success: syncNow rejects UNAVAILABLE while it runs and sends nothing; the retry waits for it and succeeds on its own", async () => {
      await withDevices(it, storage, "retry", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
        const c = soft();
        const a = await A.tab();
        await a.openStore({ backend: "indexeddb", name });
        const busy = A.proxy.rule({ method: "PUT" }, {
          status: 503,
          headers: { "retry-after": "3", "content-type": "application/json" },
          body: { code: "UNAVAILABLE", message: "the proxy is busy" },
        }, { times: 1 });
        await a.evaluate(() => store.create({ n: 1 }, { id: "r1" }));
        await until(() => busy.hits === 1, { what: "the 503" });
        // The client has the 503 once its pass recorded it (the proxy's log says when it was
        // asked, not when the client read the answer).
        await until(() => a.status().then((s) => s.lastError?.code === "UNAVAILABLE"), { what: "lastError UNAVAILABLE after the 503" });
        const refusedAt = A.proxy.log.find((e) => e.status === 503).doneAt;
        const sent = A.proxy.log.length;
        const during = await a.syncNow();
        c.eq(during.error?.code, "UNAVAILABLE", "syncNow while the Retry-After runs");
        c.ok(/retry|after|wait/i.test(during.error?.message ?? ""), `syncNow's message says when (${during.error?.message})`);
        c.eq(A.proxy.log.length, sent, "requests sent by syncNow while the Retry-After runs");
        await until(async () => (await server.get(name, "r1")).status === 200, { timeout: 12_000, what: "the push after the Retry-After" });
        const retry = A.proxy.entries((e) => e.method === "PUT" && e.forwarded)[0];
        c.ok(retry.at - refusedAt >= 2_900, `the retry came ${retry.at - refusedAt} ms after the 503 (Retry-After: 3 s)`);
        await until(() => a.status().then((s) => s.pending === 0), { what: "pending 0 after the retry" });
        c.eq((await a.status()).lastError, null, "lastError after the pass that completed");
        c.eq(A.proxy.entries({ method: "PUT" }).map((e) => e.idempotencyKey).filter((k, i, all) => k !== all[0]), [], "the retry kept the Idempotency-Key");
        c.done();
      });
    });

    test("a 401 until headers() gives a new token: UNAUTHORIZED, no automatic retry, nothing dropped; then one headers() call per pass, on every request", async () => {
      await withDevices(it, storage, "auth", [{ origin: 1, server: "jwt" }], async ({ name, devices: [A], server }) => {
        const c = soft();
        const a = await A.tab();
        const expired = token("alice", { exp: Math.floor(Date.now() / 1000) - 3600 });
        await a.openStore({ backend: "indexeddb", name, headers: "token", token: expired });
        await a.evaluate(async () => {
          for (const id of ["u1", "u2", "u3"]) await store.create({ id, n: 1 }, { id });
          await store.set("u2", "n", 2);
        });
        await until(() => A.proxy.log.some((e) => e.status === 401), { what: "a 401" });
        const r = await a.syncNow();
        c.eq(r.error?.code, "UNAUTHORIZED", "syncNow with an expired token");
        const status = await a.status();
        c.eq([status.pending, status.lastError?.code], [3, "UNAUTHORIZED"], "pending and lastError after the 401");
        const sent = A.proxy.log.length;
        await sleep(2_500);
        c.eq(A.proxy.log.length, sent, "requests sent in 2.5 s after a 401 with nothing new (no automatic retry)");
        const snap = await a.snapshot();
        assert.deepEqual(Object.fromEntries(Object.entries(snap).map(([id, s]) => [id, s.state.n])), { u1: 1, u2: 2, u3: 1 }, "local data after the 401s");

        const fresh = token("alice");
        await a.evaluate((t) => { globalThis.token = t; globalThis.headerCalls = 0; }, fresh);
        const from = A.proxy.log.length;
        c.eq(await a.syncNow(), { value: { pushed: 3, pulled: 0, conflicts: 0, pending: 0 } }, "syncNow with a new token");
        c.eq(await a.evaluate(() => headerCalls), 1, "headers() calls in one pass");
        const pass = A.proxy.log.slice(from);
        c.ok(pass.some((e) => e.kind === "changes"), "the pass pulled");
        c.eq(pass.filter((e) => e.authorization !== `Bearer ${fresh}`).map((e) => `${e.method} ${e.kind}`), [], "requests of the pass without the new token");
        const all = await server.all(name);
        c.eq(Object.fromEntries(Object.entries(all).map(([id, s]) => [id, s.state.n])), { u1: 1, u2: 2, u3: 1 }, "the sessions on the server (owner alice)");
        c.eq((await a.status()).lastError, null, "lastError after the pass that completed");
        c.done();
      });
    });

    test("headers() throwing or rejecting, a 403, and a proxy's 401 until a given token: UNAUTHORIZED, nothing sent or dropped", async () => {
      await withDevices(it, storage, "hdrs", [{ origin: 1 }, { origin: 1 }], async ({ name, devices: [A, P], server }) => {
        const c = soft();
        for (const mode of ["throw", "reject"]) {
          const tab = await A.tab();
          const n = `${name}-${mode}`;
          await tab.openStore({ backend: "memory", name: n, headers: mode });
          await tab.evaluate(() => store.create({ kept: true }, { id: "h1" }));
          const r = await tab.syncNow();
          c.eq(r.error?.code, "UNAUTHORIZED", `syncNow when headers() does "${mode}"`);
          c.eq(A.proxy.log.filter((e) => e.store === n).length, 0, `requests sent when headers() does "${mode}"`);
          c.eq((await tab.status()).pending, 1, `pending when headers() does "${mode}"`);
          c.eq((await tab.evaluate(() => store.load("h1")))?.state, { kept: true }, `local data when headers() does "${mode}"`);
          await tab.close();
        }
        // A 403 is UNAUTHORIZED too; the next pass sends again.
        const tab = await A.tab();
        await tab.openStore({ backend: "indexeddb", name });
        const forbid = A.proxy.rule({ store: name }, { status: 403, body: { code: "UNAUTHORIZED", message: "forbidden by the proxy" } });
        await tab.evaluate(() => store.create({ n: 1 }, { id: "f1" }));
        c.eq((await tab.syncNow()).error?.code, "UNAUTHORIZED", "syncNow on a 403");
        c.eq((await tab.status()).pending, 1, "pending after a 403");
        forbid.remove();
        c.eq((await tab.syncNow()).value?.pending, 0, "syncNow after the 403 ends");
        c.eq((await server.get(name, "f1")).json?.state, { n: 1 }, "f1 on the server");
        // The proxy says 401 until the token it waits for; headers() is async here.
        const pTab = await P.tab();
        const n2 = `${name}-p`;
        await pTab.openStore({ backend: "indexeddb", name: n2, headers: "async-token", token: "old" });
        P.proxy.rule({ store: n2 }, { auth: "Bearer fresh" });
        await pTab.evaluate(() => store.create({ n: 2 }, { id: "f2" }));
        c.eq((await pTab.syncNow()).error?.code, "UNAUTHORIZED", "syncNow while the proxy waits for another token");
        await pTab.evaluate(() => { globalThis.token = "fresh"; });
        c.eq((await pTab.syncNow()).value?.pending, 0, "syncNow with the token the proxy waits for");
        c.eq((await server.get(n2, "f2")).json?.state, { n: 2 }, "f2 on the server");
        c.done();
      });
    });

    test("garbage and HTML answers (to pushes, to the change list, to a pulled GET): UNAVAILABLE, the queue kept, local data intact; a write the server applied under garbage is not applied twice", async () => {
      await withDevices(it, storage, "junk", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
        const c = soft();
        const a = await A.tab();
        await a.openStore({ backend: "indexeddb", name, offline: true });
        const answers = {
          "an HTML 200": html(200, "Welcome to nginx!"),
          "an HTML 502": html(502, "502 Bad Gateway"),
          "truncated JSON": { status: 200, headers: { "content-type": "application/json" }, body: '{"id":"g1","state":{"n":' },
          "a JSON array": { status: 200, body: [] },
          "a record of the wrong shape": { status: 200, body: { id: "g1", state: "not an object", version: "two" } },
          "an HTML 404": html(404, "404 Not Found"),
          "an HTML 412": html(412, "412 Precondition Failed"),
          "binary garbage": { status: 200, headers: { "content-type": "application/octet-stream" }, body: "\u0000\u0001\u00ff garbage \ufffd" },
          // The server applies the write, and the client gets garbage back: the retry replays.
          "garbage for a write the server applied": { forward: true, status: 200, headers: { "content-type": "text/html" }, body: "<html>cached page</html>" },
        };
        let i = 0;
        for (const [what, answer] of Object.entries(answers)) {
          // Each case on two sessions of its own, pushed cleanly first, then edited with the
          // rule in place (so that the push the edits start gets the same answer).
          const ids = [`c${++i}a`, `c${i}b`];
          await a.evaluate(async (ids) => { for (const id of ids) await store.create({ id, n: 0 }, { id }); }, ids);
          const clean = await a.syncNow();
          assert.ok(clean.value, `the clean push before "${what}": ${JSON.stringify(clean)}`);
          const rule = A.proxy.rule({ method: "PUT", id: new RegExp(`^c${i}[ab]$`) }, answer);
          await a.evaluate(async (ids) => { for (const id of ids) await store.set(id, "n", 1); }, ids);
          await quiet(A.proxy, 200);
          const local = await a.snapshot(ids);
          const pending = (await a.status()).pending;
          const r = await a.syncNow();
          rule.remove();
          c.eq(r.error?.code, "UNAVAILABLE", `syncNow when pushes get ${what}`);
          c.eq((await a.status()).pending, pending, `pending after ${what} (${pending} before)`);
          c.eq(await a.snapshot(ids), local, `local data after ${what}`);
          await a.syncNow();
          const after = [(await server.get(name, ids[0])).json, (await server.get(name, ids[1])).json];
          c.eq(after.map((r) => [r?.state.n, r?.version]), [[1, 2], [1, 2]], `[state.n, version] of its sessions on the server after ${what} and the pass that follows (each edit applied once)`);
        }
        c.eq((await a.events((e) => e.type === "conflict")).length, 0, "conflict events");

        // Pulls (in a store of their own): the server changes g3 before each case; garbage on
        // the change list or on its GET.
        await a.evaluate(() => store.close());
        const pname = `${name}-p`;
        await a.openStore({ backend: "indexeddb", name: pname, offline: true });
        await a.evaluate(() => store.create({ id: "g3", n: 0 }, { id: "g3" }));
        assert.equal((await a.syncNow()).value?.pending, 0);
        const pullAnswers = {
          "an HTML change list": [{ kind: "changes" }, html(200, "Login")],
          "a change list of the wrong shape": [{ kind: "changes" }, { status: 200, body: { changes: "none", cursor: 5 } }],
          "truncated JSON for the change list": [{ kind: "changes" }, { status: 200, headers: { "content-type": "application/json" }, body: '{"changes":[{"id":"g3","et' }],
          "an HTML GET of the changed session": [{ method: "GET", id: "g3" }, html(200, "Welcome")],
          "an HTML 404 for the changed session": [{ method: "GET", id: "g3" }, html(404, "Not Found")],
          "a GET of the changed session with a record of the wrong shape": [{ method: "GET", id: "g3" }, { status: 200, body: { id: "g3", version: -1 } }],
        };
        let n = 0;
        for (const [what, [match, answer]] of Object.entries(pullAnswers)) {
          n++;
          const g3 = await server.get(pname, "g3");
          assert.equal((await server.put(pname, "g3", { state: { id: "g3", n } }, { "if-match": g3.etag })).status, 200);
          const synced = await a.snapshot();
          const rule = A.proxy.rule(match, answer);
          const r = await a.syncNow();
          rule.remove();
          c.eq(r.error?.code, "UNAVAILABLE", `syncNow when the pull gets ${what}`);
          c.eq(await a.snapshot(), synced, `local data after ${what}`);
          const next = await a.syncNow();
          c.eq(next.value?.pulled, 1, `sessions pulled by the pass that follows ${what}`);
          c.eq((await a.evaluate(() => store.load("g3")))?.state, { id: "g3", n }, `g3 after ${what} and the pass that follows`);
        }
        c.done();
      });
    });

    test("another 4xx (a state over the server's body limit: 413): a syncError for that session, its row kept, the others pushed; syncNow resolves", async () => {
      await withDevices(it, storage, "4xx", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
        const c = soft();
        const a = await A.tab();
        await a.openStore({ backend: "indexeddb", name, offline: true });
        await a.evaluate(async () => {
          await store.create({ big: "x".repeat(300_000) }, { id: "big" });
          await store.create({ n: 1 }, { id: "ok1" });
          await store.create({ n: 2 }, { id: "ok2" });
        });
        const r = await a.syncNow();
        c.eq(r, { value: { pushed: 2, pulled: 0, conflicts: 0, pending: 1 } }, `syncNow with one session refused (413)\n${show(A.proxy.log)}\n`);
        const errors = await a.events((e) => e.type === "syncError");
        c.ok(errors.some((e) => e.id === "big" && e.code === "INVALID_INPUT" && e.message), `a syncError for "big" with the server's code (syncError events: ${JSON.stringify(errors)}; all events: ${JSON.stringify(await a.events())})`);
        const status = await a.status();
        c.eq([status.pending, status.lastError?.code], [1, "INVALID_INPUT"], "pending and lastError after the refusal");
        c.eq((await server.get(name, "big")).status, 404, "big on the server");
        c.eq(Object.keys(await server.all(name)).sort(), ["ok1", "ok2"], "sessions on the server");
        c.ok((await a.evaluate(() => store.load("big")))?.state.big.length === 300_000, "big kept locally");
        await a.evaluate(() => store.save("big", { big: "small now" }));
        c.eq(await a.syncNow(), { value: { pushed: 1, pulled: 0, conflicts: 0, pending: 0 } }, "syncNow once big fits");
        c.eq((await a.status()).lastError, null, "lastError after the pass that completed");
        c.eq((await server.get(name, "big")).json?.state, { big: "small now" }, "big on the server at last");
        c.done();
      });
    });

    test("deadlines: updateTtl is pushed; a deadline moved by sliding is not pushed by itself and goes with the next push; pulled deadlines are the server's", async () => {
      await withDevices(it, storage, "ttl", [{ origin: 1 }, { origin: 2 }], async ({ name, devices: [A, B], server }) => {
        const c = soft();
        const a = await A.tab();
        await a.openStore({ backend: "indexeddb", name, offline: true, sliding: true });
        // A clock that stands still unless moved: a read slides to exactly now + ttl.
        await a.evaluate(() => { globalThis.frozen = Date.now(); });
        const created = await a.evaluate(() => store.create({ n: 1 }, { id: "d", ttlMs: 600_000 }));
        await a.syncNow();
        const bodyOf = (e) => JSON.parse(e.body);
        let put = A.proxy.entries({ method: "PUT", id: "d" }).at(-1);
        c.eq([bodyOf(put).expiresAt, bodyOf(put).ttlMs], [created.expiresAt, 600_000], "the create's expiresAt and ttlMs");
        await a.evaluate(() => store.updateTtl("d", 1_200_000));
        c.eq((await a.status()).pending, 1, "pending after updateTtl");
        await a.syncNow();
        let local = await a.evaluate(() => store.load("d"));
        put = A.proxy.entries({ method: "PUT", id: "d" }).at(-1);
        c.eq([bodyOf(put).ttlMs, (await server.get(name, "d")).json?.ttlMs], [1_200_000, 1_200_000], `ttlMs pushed by updateTtl, and on the server\n${show(A.proxy.log)}`);
        const puts = A.proxy.entries({ method: "PUT" }).length;
        // Sliding: a load a minute later moves the deadline, and nothing is pushed for it.
        await a.evaluate(() => { globalThis.frozen += 60_000; });
        const slid = await a.evaluate(() => store.load("d"));
        c.ok(slid.expiresAt > local.expiresAt, "the load slid the deadline");
        c.eq((await a.status()).pending, 0, "pending after a sliding load");
        await a.syncNow();
        c.eq(A.proxy.entries({ method: "PUT" }).length, puts, "PUTs after a sliding load and a syncNow");
        await a.evaluate(() => { globalThis.frozen += 60_000; });
        await a.evaluate(() => store.set("d", "n", 2));
        await a.syncNow();
        local = await a.evaluate(() => store.load("d"));
        put = A.proxy.entries({ method: "PUT", id: "d" }).at(-1);
        const onServer = (await server.get(name, "d")).json;
        c.eq(bodyOf(put).expiresAt, local.expiresAt, "the next push carries the moved deadline");
        c.eq(onServer?.expiresAt, bodyOf(put).expiresAt, "the server's expiresAt");
        const b = await B.tab();
        await b.openStore({ backend: "memory", name, offline: true });
        await b.syncNow();
        const onB = await b.evaluate(() => store.load("d"));
        c.eq([onB?.expiresAt, onB?.ttlMs, onB?.state], [onServer?.expiresAt, onServer?.ttlMs, { n: 2 }], "B's pulled expiresAt, ttlMs and state");
        c.done();
      });
    });

    // Client timing only (the server's storage plays no part): on the first storage alone.
    if (storage === STORAGES[0]) test("a failed push is retried with no new write and no syncNow (backoff); the online event starts a pass at once; a 429 is retried", async () => {
      await withDevices(it, storage, "backoff", [{ origin: 1 }], async ({ name, devices: [A], server }) => {
        const c = soft();
        const a = await A.tab();
        await a.openStore({ backend: "indexeddb", name });
        // The client's first two attempts get no answer (a browser's own immediate resend is
        // part of the attempt it resends).
        const b1 = { method: "PUT", id: "b1" };
        failAttempts(A.proxy, b1, 2);
        const wrote = Date.now();
        await a.evaluate(() => store.create({ n: 1 }, { id: "b1" }));
        await until(async () => (await server.get(name, "b1")).status === 200, { timeout: 15_000, what: "b1 pushed by the client's own retries" });
        const tries = attempts(A.proxy.entries(b1));
        c.ok(tries[0][0].at - wrote < 1_000, `the write's push started ${tries[0][0].at - wrote} ms after it (within a second)`);
        c.eq(tries.length, 3, `the client's attempts of b1 (${tries.map((t) => t.length).join(", ")} requests each)`);
        const gaps = tries.slice(1).map((t, i) => t[0].at - tries[i].at(-1).at);
        c.ok(gaps.every((g) => g >= 400) && gaps[1] >= gaps[0] * 0.5, `the retries waited (backoff): ${gaps.join(", ")} ms`);
        c.eq(new Set(A.proxy.entries(b1).map((e) => e.idempotencyKey)).size, 1, "Idempotency-Keys of b1's attempts");

        // Backoff grows (3 failures: the next retry >= 2 s away); the online event does not wait.
        const b2 = { method: "PUT", id: "b2" };
        const down = A.proxy.rule(b2, "down");
        await a.evaluate(() => store.create({ n: 2 }, { id: "b2" }));
        await until(() => attempts(A.proxy.entries(b2)).length >= 3, { timeout: 15_000, what: "three failed attempts of b2" });
        down.remove();
        const online = Date.now();
        await a.evaluate(() => goOnline());
        await until(async () => (await server.get(name, "b2")).status === 200, { timeout: 15_000, what: "b2 pushed after the online event" });
        const pushed = A.proxy.entries((e) => e.method === "PUT" && e.id === "b2" && e.forwarded)[0];
        c.ok(pushed.at - online < 1_000, `the push came ${pushed.at - online} ms after the online event (the backoff was >= 2 s)`);

        // A 429 without Retry-After is retried like a 5xx.
        const throttled = A.proxy.rule({ method: "PUT", id: "b3" }, { status: 429, body: { code: "UNAVAILABLE", message: "slow down" } }, { times: 1 });
        await a.evaluate(() => store.create({ n: 3 }, { id: "b3" }));
        await until(async () => (await server.get(name, "b3")).status === 200, { timeout: 15_000, what: "b3 pushed after a 429" });
        c.eq(throttled.hits, 1, "429s");
        c.eq(new Set(A.proxy.entries({ method: "PUT", id: "b3" }).map((e) => e.idempotencyKey)).size, 1, "Idempotency-Keys of b3's tries");
        c.done();
      });
    });
  });
}
