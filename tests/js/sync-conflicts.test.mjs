// Client sync between two devices (tests/js/sync-helpers.mjs: device A in origin 1 on
// IndexedDB, device B in origin 2), on memory and on Redis: each conflict policy with both
// devices editing one session offline (and with the session deleted on the server), a dirty
// session that a pull must not overwrite, a delete, a move and an expiry on one device seen by
// the other, and encryption with `{ key }`: ciphertext only on the wire and in Redis, read by
// the other device, tampered or replayed ciphertext refused.
//
// "Offline" here is what the client sees: the page's `navigator.onLine` is false
// (tests/pages/sync.js `goOffline`), so nothing is pushed until the test calls syncNow.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { useBrowser } from "./helpers.mjs";
import { Device, ServerView, STORAGES, concurrentPerSession, forwarded, show, soft, storeName, syncEnv, until, withDevices } from "./sync-helpers.mjs";

const it = useBrowser();
const RECORD_FIELDS = ["createdAt", "expiresAt", "id", "state", "ttlMs", "updatedAt", "version"];

for (const storage of STORAGES) {
  describe(`sync conflicts on ${storage}`, () => {
    // One page per device for every case; each case opens stores of a name of its own.
    let A;
    let B;
    let a;
    let b;
    let server;
    before(async () => {
      const env = await syncEnv(it);
      A = await Device.create(it, env, { origin: 1, storage });
      B = await Device.create(it, env, { origin: 2, storage });
      a = await A.tab();
      b = await B.tab();
      server = new ServerView(env, storage);
    });
    after(async () => {
      await A?.close();
      await B?.close();
    });

    /**
     * Both devices hold session "c" ({ base: 0 }), synced; then, offline, B edits it
     * (b: 2) and A edits it (a: 1) (or, with `remoteDelete`, B deletes it); B pushes first.
     * Resolves with A's syncNow outcome and what the case needs to check.
     */
    async function conflict(policy, { remoteDelete = false } = {}) {
      const name = storeName(`cf-${policy ?? "default"}`);
      await a.evaluate(() => globalThis.store?.close());
      await b.evaluate(() => globalThis.store?.close());
      await a.openStore({ backend: "indexeddb", name, conflict: policy, offline: true });
      await b.openStore({ backend: "memory", name, offline: true });
      await a.evaluate(() => store.create({ base: 0 }, { id: "c" }));
      assert.equal((await a.syncNow()).value?.pushed, 1);
      assert.equal((await b.syncNow()).value?.pulled, 1);
      const first = await server.get(name, "c");
      if (remoteDelete) await b.evaluate(() => store.delete("c"));
      else await b.evaluate(() => store.set("c", "b", 2));
      await a.evaluate(() => store.set("c", "a", 1));
      assert.equal((await b.syncNow()).value?.pushed, 1, "B pushes first");
      const theirs = await server.get(name, "c");
      const from = A.proxy.log.length;
      const outcome = await a.syncNow();
      const log = A.proxy.log.slice(from).filter((e) => e.store === name);
      const puts = forwarded(log).filter((e) => e.method === "PUT" && e.id === "c");
      return { name, outcome, log, puts, first, theirs, events: await a.events((e) => e.id === "c" && (e.type === "conflict" || e.type === "syncError")) };
    }

    const resolutions = (events) => events.map((e) => `${e.type}:${e.resolution ?? e.code}:${e.local}`);

    test('"server": the local session takes the server\'s record; nothing more is pushed', async () => {
      const c = soft();
      const r = await conflict("server");
      c.eq([r.outcome.value?.conflicts, r.outcome.value?.pending], [1, 0], `A's syncNow conflicts and pending (${JSON.stringify(r.outcome)})`);
      c.eq(resolutions(r.events), ["conflict:server:true"], "A's events");
      c.eq((await a.evaluate(() => store.load("c")))?.state, { base: 0, b: 2 }, "A's session");
      c.eq(r.puts.map((e) => e.upstream), [412], `A's PUTs of c (server statuses)\n${show(r.log)}`);
      const now = await server.get(r.name, "c");
      c.eq([now.json?.state, now.json?.version], [{ base: 0, b: 2 }, 2], "the server's session");
      c.eq((await a.status()).pending, 0, "A's pending");
      c.done();
    });

    test("the default policy is \"server\"", async () => {
      const c = soft();
      const r = await conflict(undefined);
      c.eq(resolutions(r.events), ["conflict:server:true"], "A's events");
      c.eq((await a.evaluate(() => store.load("c")))?.state, { base: 0, b: 2 }, "A's session");
      c.done();
    });

    test('"client": the local state is pushed again over the ETag of the 412, and the other device pulls it', async () => {
      const c = soft();
      const r = await conflict("client");
      c.eq([r.outcome.value?.conflicts, r.outcome.value?.pending], [1, 0], `A's syncNow conflicts and pending (${JSON.stringify(r.outcome)})`);
      c.eq(resolutions(r.events), ["conflict:client:true"], "A's events");
      c.eq(r.puts.map((e) => e.upstream), [412, 200], `A's PUTs of c (server statuses)\n${show(r.log)}`);
      c.eq(r.puts[1]?.ifMatch, r.theirs.etag, "the second PUT's If-Match: the ETag of the 412 (the server's current)");
      const now = await server.get(r.name, "c");
      c.eq([now.json?.state, now.json?.version], [{ base: 0, a: 1 }, 3], "the server's session");
      await b.syncNow();
      c.eq((await b.evaluate(() => store.load("c")))?.state, { base: 0, a: 1 }, "B's session after its pull");
      c.done();
    });

    test("a function: called with the local and the server's records, its state pushed (merged), and pulled by the other device", async () => {
      const c = soft();
      const r = await conflict("merge");
      c.eq([r.outcome.value?.conflicts, r.outcome.value?.pending], [1, 0], `A's syncNow conflicts and pending (${JSON.stringify(r.outcome)})`);
      c.eq(resolutions(r.events), ["conflict:merged:true"], "A's events");
      const calls = await a.evaluate(() => conflictCalls);
      c.eq(calls.length, 1, "calls of the conflict function");
      c.eq([calls[0]?.local?.id, calls[0]?.local?.state], ["c", { base: 0, a: 1 }], "its local record (id, state)");
      c.eq([calls[0]?.remote?.id, calls[0]?.remote?.state, calls[0]?.remote?.version], ["c", { base: 0, b: 2 }, 2], "its remote record (id, state, version)");
      c.eq(Object.keys(calls[0]?.local ?? {}).sort(), RECORD_FIELDS, "the local record's fields");
      c.eq(Object.keys(calls[0]?.remote ?? {}).sort(), RECORD_FIELDS, "the remote record's fields");
      const merged = { base: 0, b: 2, a: 1, merged: true };
      c.eq(r.puts.map((e) => e.upstream), [412, 200], `A's PUTs of c\n${show(r.log)}`);
      c.eq(r.puts[1]?.ifMatch, r.theirs.etag, "the merged state's If-Match: the 412's ETag");
      const now = await server.get(r.name, "c");
      c.eq([now.json?.state, now.json?.version], [merged, 3], "the server's session");
      c.eq((await a.evaluate(() => store.load("c")))?.state, merged, "A's session");
      await b.syncNow();
      c.eq((await b.evaluate(() => store.load("c")))?.state, merged, "B's session after its pull");
      c.done();
    });

    test("a function returning null: the session is deleted on the server, on the device and, pulled, on the other device", async () => {
      const c = soft();
      const r = await conflict("delete");
      c.eq([r.outcome.value?.conflicts, r.outcome.value?.pending], [1, 0], `A's syncNow conflicts and pending (${JSON.stringify(r.outcome)})`);
      c.eq(resolutions(r.events), ["conflict:merged:true"], "A's events");
      c.eq((await server.get(r.name, "c")).status, 404, `the server's session\n${show(r.log)}`);
      c.eq(await a.evaluate(() => store.load("c")), null, "A's session");
      const deletes = forwarded(r.log).filter((e) => e.method === "DELETE");
      c.eq(deletes.map((e) => [e.ifMatch, e.upstream]), [[r.theirs.etag, 204]], "A's DELETE over the 412's ETag");
      await b.syncNow();
      c.eq(await b.evaluate(() => store.load("c")), null, "B's session after its pull");
      const bDeleted = await b.events((e) => e.id === "c" && e.type === "deleted");
      c.eq(bDeleted.map((e) => e.remote), [true], "B's deleted event's remote");
      c.done();
    });

    for (const bad of ["throw", "number", "promise"]) {
      test(`a function that ${bad === "throw" ? "throws" : bad === "number" ? "returns a number" : "returns a promise"}: a syncError INVALID_INPUT, no conflict event, the row kept, nothing written`, async () => {
        const c = soft();
        const r = await conflict(bad);
        c.ok(r.outcome.value, `A's syncNow resolves (${JSON.stringify(r.outcome)})`);
        c.eq(r.outcome.value?.pending, 1, "A's syncNow pending");
        c.eq(r.events.map((e) => `${e.type}:${e.code}`), ["syncError:INVALID_INPUT"], "A's events for c");
        c.eq((await a.status()).pending, 1, "A's pending");
        c.eq((await a.evaluate(() => store.load("c")))?.state, { base: 0, a: 1 }, "A's session (unchanged)");
        const now = await server.get(r.name, "c");
        c.eq([now.json?.state, now.json?.version], [{ base: 0, b: 2 }, 2], "the server's session (unchanged)");
        c.eq(forwarded(r.log).filter((e) => e.method !== "GET" && e.upstream !== 412).length, 0, `writes accepted by the server\n${show(r.log)}`);
        c.done();
      });
    }

    test('the server\'s session deleted meanwhile (current null): "server" deletes the local one', async () => {
      const c = soft();
      const r = await conflict("server", { remoteDelete: true });
      c.eq(r.outcome.value?.conflicts, 1, `A's syncNow conflicts (${JSON.stringify(r.outcome)})`);
      c.eq(resolutions(r.events), ["conflict:server:true"], "A's events");
      c.eq(await a.evaluate(() => store.load("c")), null, "A's session");
      c.eq((await server.get(r.name, "c")).status, 404, "the server's session");
      c.done();
    });

    test('the server\'s session deleted meanwhile (current null): "client" creates it again', async () => {
      const c = soft();
      const r = await conflict("client", { remoteDelete: true });
      c.eq(r.outcome.value?.conflicts, 1, `A's syncNow conflicts (${JSON.stringify(r.outcome)})`);
      c.eq(resolutions(r.events), ["conflict:client:true"], "A's events");
      const now = await server.get(r.name, "c");
      c.eq([now.status, now.json?.state], [200, { base: 0, a: 1 }], `the server's session\n${show(r.log)}`);
      c.eq((await a.evaluate(() => store.load("c")))?.state, { base: 0, a: 1 }, "A's session");
      await b.syncNow();
      c.eq((await b.evaluate(() => store.load("c")))?.state, { base: 0, a: 1 }, "B's session after its pull");
      c.done();
    });

    test("the server's session deleted meanwhile (current null): a function is called with (local, null)", async () => {
      const c = soft();
      const r = await conflict("merge", { remoteDelete: true });
      c.eq(resolutions(r.events), ["conflict:merged:true"], "A's events");
      const calls = await a.evaluate(() => conflictCalls);
      c.eq(calls.map((x) => [x.local?.state, x.remote]), [[{ base: 0, a: 1 }, null]], "the function's arguments (local state, remote)");
      const now = await server.get(r.name, "c");
      c.eq([now.status, now.json?.state], [200, { base: 0, a: 1, merged: true }], `the server's session\n${show(r.log)}`);
      c.done();
    });

    test("a dirty session is never overwritten by a pull: its push (refused meanwhile) settles it", async () => {
      const c = soft();
      const name = storeName("dirty");
      await a.evaluate(() => globalThis.store?.close());
      await b.evaluate(() => globalThis.store?.close());
      await a.openStore({ backend: "indexeddb", name, conflict: "client", offline: true });
      await b.openStore({ backend: "memory", name, offline: true });
      await a.evaluate(() => store.create({ n: 0 }, { id: "d" }));
      assert.equal((await a.syncNow()).value?.pushed, 1);
      await b.syncNow();
      await a.evaluate(() => store.set("d", "mine", "A"));
      await b.evaluate(() => store.set("d", "mine", "B"));
      assert.equal((await b.syncNow()).value?.pushed, 1);
      // A's push is refused (another 4xx): the pass goes on and pulls, and d is in the changes.
      const refuse = A.proxy.rule({ method: "PUT", id: "d" }, { status: 400, body: { code: "INVALID_INPUT", message: "the proxy refuses this one" } });
      const r = await a.syncNow();
      const refused = A.proxy.log.find((e) => e.store === name && e.method === "PUT" && e.status === 400);
      c.ok(refused && A.proxy.log.some((e) => e.store === name && e.kind === "changes" && e.seq > refused.seq), "A's pass pulled after the refusal");
      c.eq(r.value?.pending, 1, `A's syncNow pending (${JSON.stringify(r)})`);
      c.eq((await a.evaluate(() => store.load("d")))?.state, { n: 0, mine: "A" }, "A's dirty session after a pull that listed it");
      refuse.remove();
      const settled = await a.syncNow();
      c.eq(settled.value?.conflicts, 1, "the push settles it as a conflict");
      c.eq((await server.get(name, "d")).json?.state, { n: 0, mine: "A" }, "the server's session (policy client)");
      c.done();
    });

    test("a 410 (cursor expired): the device lists again; synced sessions no longer listed are deleted, dirty and never-pushed ones kept and pushed", async () => {
      const c = soft();
      const name = storeName("gone");
      await a.evaluate(() => globalThis.store?.close());
      await b.evaluate(() => globalThis.store?.close());
      await a.openStore({ backend: "indexeddb", name, offline: true });
      await b.openStore({ backend: "indexeddb", name, offline: true });
      await a.evaluate(async () => { for (const id of ["s1", "s2", "s3", "s4"]) await store.create({ id }, { id }); });
      assert.equal((await a.syncNow()).value?.pushed, 4);
      assert.equal((await b.syncNow()).value?.pulled, 4);
      await a.evaluate(async () => {
        await store.delete("s1");
        await store.set("s2", "n", 2);
        await store.delete("s4");
      });
      assert.equal((await a.syncNow()).value?.pushed, 3);
      await b.evaluate(async () => {
        await store.set("s3", "mine", true); // dirty
        await store.set("s4", "mine", true); // dirty, and deleted on the server
        await store.create({ id: "n1" }, { id: "n1" }); // never pushed
      });
      // B's pushes are refused (another 4xx: rows kept, the pass goes on to pull), and its
      // cursor is too old for the server.
      const refuse = B.proxy.rule({ store: name, method: "PUT" }, { status: 400, body: { code: "INVALID_INPUT", message: "refused by the proxy" } });
      const expired = B.proxy.rule((e) => e.store === name && e.kind === "changes" && /[?&]since=[^&]/.test(e.path), { status: 410, body: { code: "CURSOR_EXPIRED", message: "the cursor is older than the changes kept" } }, { times: 1 });
      const from = B.proxy.log.length;
      const r = await b.syncNow();
      c.eq(expired.hits, 1, "B's pull used its cursor and got the 410");
      const relisted = B.proxy.log.slice(from).filter((e) => e.kind === "changes" && !/[?&]since=[^&]/.test(e.path));
      c.eq(relisted.length, 1, "B's lists without since after the 410");
      c.ok(r.value, `B's syncNow resolves (${JSON.stringify(r)})`);
      const snap = await b.snapshot();
      c.eq(Object.fromEntries(Object.entries(snap).map(([id, x]) => [id, x.state])), {
        s2: { id: "s2", n: 2 }, s3: { id: "s3", mine: true }, s4: { id: "s4", mine: true }, n1: { id: "n1" },
      }, "B's sessions after the 410 (s1 gone; s2 pulled; s3, s4 and n1 kept)");
      refuse.remove();
      const settled = await b.syncNow();
      c.eq(settled.value?.pending, 0, `B's next syncNow (${JSON.stringify(settled)})`);
      c.eq((await server.get(name, "s3")).json?.state, { id: "s3", mine: true }, "s3 pushed");
      c.eq((await server.get(name, "n1")).json?.state, { id: "n1" }, "n1 pushed");
      c.done();
    });
  });

  test(`${storage}: a delete, a move (with a save after it) and expiries on one device are seen by the other`, async () => {
    await withDevices(it, storage, "dme", [{ origin: 1 }, { origin: 2 }], async ({ name, devices: [A, B], server }) => {
      const c = soft();
      const a = await A.tab();
      const b = await B.tab();
      await a.openStore({ backend: "indexeddb", name, offline: true, sweepIntervalMs: 200 });
      await b.openStore({ backend: "indexeddb", name, offline: true });
      await a.evaluate(async () => {
        await store.create({ what: "deleted" }, { id: "d1" });
        await store.create({ what: "moved" }, { id: "m1" });
        await store.create({ what: "expires (sweeper)" }, { id: "x1", ttlMs: 60_000 });
        await store.create({ what: "expires (deleteExpired)" }, { id: "x2", ttlMs: 600_000 });
        await store.create({ what: "stays" }, { id: "k1" });
      });
      assert.equal((await a.syncNow()).value?.pushed, 5);
      assert.equal((await b.syncNow()).value?.pulled, 5);
      const etags = {};
      for (const id of ["d1", "m1", "x1", "x2"]) etags[id] = (await server.get(name, id)).etag;
      const from = A.proxy.log.length;
      await a.evaluate(async () => {
        await store.delete("d1");
        await store.changeId("m1", "m2");
        await store.set("m2", "after", true);
        globalThis.skew = 120_000; // x1 is past its deadline on A's clock (not on B's)
      });
      await until(() => a.events((e) => e.type === "expired" && e.id === "x1").then((l) => l.length), { timeout: 10_000, what: "A's sweeper removing x1" });
      await a.evaluate(async () => {
        globalThis.skew = 1_200_000; // and x2
        globalThis.removed = await store.deleteExpired();
      });
      c.eq(await a.evaluate(() => removed), 1, "deleteExpired removed x2");
      const pushed = await a.syncNow();
      c.eq([pushed.value?.pushed, pushed.value?.pending], [4, 0], `A's push of a delete, a move and two expiries (${JSON.stringify(pushed)})`);
      const log = A.proxy.log.slice(from).filter((e) => e.method !== "GET");
      const seen = log.map((e) => `${e.method} ${e.id}${e.kind === "move" ? "/move" : ""} ${e.ifMatch ? "if-match" : e.ifNoneMatch ? "if-none-match" : "-"} ${e.upstream ?? e.status}`);
      c.ok(seen.includes("DELETE d1 if-match 204"), `the delete is a DELETE with If-Match: ${JSON.stringify(seen)}`);
      c.ok(seen.includes("POST m1/move if-match 201"), `the move is a POST .../move with If-Match: ${JSON.stringify(seen)}`);
      const move = log.find((e) => e.kind === "move");
      c.eq([move?.ifMatch, move && JSON.parse(move.body)], [etags.m1, { to: "m2" }], "the move's If-Match and body");
      c.ok(seen.includes("DELETE x1 if-match 204"), `the expiry by the sweeper is pushed as a DELETE: ${JSON.stringify(seen)}`);
      c.ok(seen.includes("DELETE x2 if-match 204"), `the expiry by deleteExpired is pushed as a DELETE: ${JSON.stringify(seen)}`);
      c.eq(log.filter((e) => e.id === "m2" && e.ifNoneMatch === "*").length, 0, "creates of m2 (a move is not a create)");
      c.eq(concurrentPerSession(A.proxy.log), [], "writes of one session in flight at once");

      if (pushed.value?.pending) {
        // Say whether what the pass left is pushed by the next one.
        const next = await a.syncNow();
        c.eq(next.value?.pending, 0, `pending after a second syncNow (${JSON.stringify(next)})`);
      }
      c.eq((await server.get(name, "d1")).status, 404, "d1 on the server");
      const m1 = await server.get(name, "m1");
      c.eq([m1.status, m1.json?.movedTo], [404, "m2"], "m1 on the server: 404 with movedTo");
      const m2 = await server.get(name, "m2");
      c.eq(m2.json?.state, { what: "moved", after: true }, "m2 on the server, with the save made after the move (after the passes above)");
      c.eq([(await server.get(name, "x1")).status, (await server.get(name, "x2")).status], [404, 404], "x1 and x2 on the server");

      const pulled = await b.syncNow();
      c.ok(pulled.value, `B's pull (${JSON.stringify(pulled)})`);
      const snap = await b.snapshot();
      c.eq(Object.fromEntries(Object.entries(snap).map(([id, r]) => [id, r.state])), { k1: { what: "stays" }, m2: { what: "moved", after: true } }, "B's sessions after its pull");
      const bEvents = await b.events((e) => e.type !== "syncError");
      c.eq(bEvents.filter((e) => e.remote !== true).map((e) => `${e.type} ${e.id} remote=${e.remote}`), [], "B's events from the pull without remote: true");
      c.eq(bEvents.filter((e) => e.type === "expired").length, 0, "B's expired events (the sessions are not expired on B's clock: they were deleted)");
      c.done();
    });
  });

  test(`${storage}: encryption with { key }: only ciphertext on the wire and in the server's storage; the other device reads, edits and merges; tampered or replayed ciphertext is refused`, async () => {
    await withDevices(it, storage, "enc", [{ origin: 1 }, { origin: 2 }], async ({ name, devices: [A, B], server }) => {
      const c = soft();
      const key = [...randomBytes(32)];
      const marker = `PLAINTEXT-${randomBytes(6).toString("hex")}`;
      const markers = [marker, Buffer.from(marker).toString("base64"), Buffer.from(marker).toString("base64url")];
      const leaks = (text) => markers.filter((m) => String(text).includes(m));
      const a = await A.tab();
      const b = await B.tab();
      await a.openStore({ backend: "indexeddb", name, key, conflict: "merge", offline: true });
      await b.openStore({ backend: "indexeddb", name, key, offline: true });
      await a.evaluate(async (marker) => {
        await store.create({ secret: marker, list: [`${marker}-item`], "ключ": "значение ✓" }, { id: "e1" });
        await store.set("e1", "more", `${marker}-more`);
        await store.create({ secret: `${marker}-e2` }, { id: "e2" });
      }, marker);
      assert.equal((await a.syncNow()).value?.pending, 0);
      await a.evaluate(() => store.changeId("e2", "e3"));
      c.eq((await a.syncNow()).value?.pending, 0, "A's push of the move");
      const e1State = (await a.evaluate(() => store.load("e1"))).state;

      // The wire: bodies carry enc, never state, never the marker, either way.
      for (const e of A.proxy.log) {
        c.eq(leaks(e.body), [], `plaintext in A's request ${e.method} ${e.path}`);
        c.eq(leaks(e.answer ?? ""), [], `plaintext in the answer to ${e.method} ${e.path}`);
      }
      const putBodies = A.proxy.entries({ method: "PUT" }).map((e) => JSON.parse(e.body));
      c.ok(putBodies.length >= 2 && putBodies.every((x) => typeof x.enc === "string" && !("state" in x)), `every PUT has enc and no state: ${JSON.stringify(putBodies.map(Object.keys))}`);
      // The encrypted move: a create at the new id, then a delete of the old one.
      const moveLog = A.proxy.log.filter((e) => e.id === "e2" || e.id === "e3").filter((e) => e.method !== "GET");
      c.eq(moveLog.map((e) => `${e.method} ${e.id}${e.kind === "move" ? "/move" : ""} ${e.ifNoneMatch ? "if-none-match" : "if-match"}`).slice(1),
        ["PUT e3 if-none-match", "DELETE e2 if-match"], "the encrypted move's requests after e2's create");
      // The server: enc only, in its answers and in Redis.
      const onServer = await server.get(name, "e1");
      c.ok(typeof onServer.json?.enc === "string" && !("state" in onServer.json), `the server's e1 has enc and no state: ${onServer.text.slice(0, 200)}`);
      c.eq(leaks(onServer.text), [], "plaintext in the server's e1");
      if (server.redis) {
        // The check itself sees plaintext where there is some: a plain session in another store.
        const control = `${name}-plain`;
        assert.equal((await server.put(control, "p1", { state: { secret: marker } })).status, 201);
        const plain = await server.redisContents(control);
        assert.ok(Object.values(plain).some((v) => v.includes(marker)), `the Redis check finds a plaintext state: ${JSON.stringify(plain)}`);
        const contents = await server.redisContents(name);
        c.ok(Object.keys(contents).length >= 2, `Redis keys of the store: ${Object.keys(contents).join(", ")}`);
        for (const [k, v] of Object.entries(contents)) c.eq(leaks(k + v), [], `plaintext in Redis key ${k}`);
      }

      // The other device reads it.
      c.ok((await b.syncNow()).value, "B's pull");
      c.eq((await b.evaluate(() => store.load("e1")))?.state, e1State, "e1 on B");
      c.eq((await b.evaluate(() => store.load("e3")))?.state, { secret: `${marker}-e2` }, "e3 (moved) on B");
      c.eq(await b.evaluate(() => store.load("e2")), null, "e2 on B");
      // B edits: A reads it (sealed for the server version it will have, both ways).
      await b.evaluate(() => store.set("e1", "fromB", 1));
      c.eq((await b.syncNow()).value?.pushed, 1, "B's push");
      await a.syncNow();
      c.eq((await a.evaluate(() => store.load("e1")))?.state.fromB, 1, "B's edit on A");
      // Both edit offline: A's function gets B's state decrypted and its merge is read by B.
      await a.evaluate(() => store.set("e1", "a", 1));
      await b.evaluate(() => store.set("e1", "b", 2));
      await b.syncNow();
      const merged = await a.syncNow();
      c.eq(merged.value?.conflicts, 1, "the conflict on A");
      const calls = await a.evaluate(() => conflictCalls);
      c.eq(calls.map((x) => [x.local?.state?.a, x.remote?.state?.b, x.remote?.state?.secret]), [[1, 2, marker]], "the function's local.a, remote.b and remote.secret (decrypted)");
      await b.syncNow();
      const onB = (await b.evaluate(() => store.load("e1")))?.state;
      c.eq([onB?.a, onB?.b, onB?.merged, onB?.secret], [1, 2, true, marker], "the merge on B");

      // Devices without the key (another key; no encryption) never get a state out of it.
      for (const [what, otherKey] of [["another key", [...randomBytes(32)]], ["no encryption", undefined]]) {
        const C = await Device.create(it, await syncEnv(it), { origin: 1, storage });
        try {
          const other = await C.tab();
          await other.openStore({ backend: "memory", name, key: otherKey, offline: true });
          const r = await other.syncNow();
          const got = await other.evaluate(async () => {
            const read = (id) => store.load(id).then((x) => ({ state: x?.state ?? null }), (e) => ({ code: e.code }));
            return { e1: await read("e1"), e3: await read("e3"), ids: await store.ids() };
          });
          c.ok(got.e1.state === null && got.e3.state === null, `a device with ${what} reads no state (${JSON.stringify(got)}; its syncNow: ${JSON.stringify(r)})`);
          const errors = await other.events((e) => e.type === "syncError");
          c.ok(errors.some((e) => e.id === "e1"), `a device with ${what}: a syncError for e1 (${JSON.stringify(errors)})`);
        } finally {
          await C.close();
        }
      }

      // Tampered and replayed ciphertext from the server: refused, B's data intact, and the
      // change is pulled once the answers are honest again.
      const sealedBefore = JSON.parse(A.proxy.entries({ method: "PUT", id: "e1" })[0].body).enc;
      const cases = {
        "a flipped character": (enc) => enc.slice(0, enc.length >> 1) + (enc[enc.length >> 1] === "A" ? "B" : "A") + enc.slice((enc.length >> 1) + 1),
        "an older ciphertext of e1 (another version)": () => sealedBefore,
        "e3's ciphertext (another id)": () => JSON.parse(A.proxy.entries({ method: "PUT", id: "e3" })[0].body).enc,
      };
      let n = 0;
      for (const [what, forge] of Object.entries(cases)) {
        await a.evaluate((n) => store.set("e1", "round", n), ++n);
        await a.syncNow();
        const intact = await b.snapshot();
        const rule = B.proxy.rule({ method: "GET", id: "e1" }, {
          rewrite: (answer) => {
            const record = JSON.parse(answer.body);
            record.enc = forge(record.enc);
            return { ...answer, body: JSON.stringify(record) };
          },
        });
        const r = await b.syncNow();
        rule.remove();
        c.ok(rule.hits >= 1, `B's GET of e1 was forged (${what})`);
        c.eq(await b.snapshot(), intact, `B's data after ${what} (syncNow: ${JSON.stringify(r)})`);
        const honest = await b.syncNow();
        c.eq((await b.evaluate(() => store.load("e1")))?.state.round, n, `e1 pulled after ${what}, once the answer is honest (the forged pass: ${JSON.stringify(r)}; the honest one: ${JSON.stringify(honest)}; B's events: ${JSON.stringify(await b.events((e) => e.type === "syncError"))})`);
      }
      c.done();
    });
  });
}
