// Integrity of encrypted stores (DESIGN.md, "Encryption at rest", "Integrity, not only
// secrecy"), in each engine (WSS_ENGINE), through the built package, with the storage written
// behind the store's back as an attacker who can write the profile would: each finding of
// issue 27 is a test here that fails on the release before it (run with WSS_PKG_DIR pointing at
// that release's pkg/ to see it) and passes now. Plus the upgrade: stores written by the
// previous release, byte for byte (plaintext format 1, sealed format 2 and its key check), open
// and read, and are resealed in format 3 in the step that writes the new key check.
// Page-side helpers: tests/pages/integrity.js, tests/pages/at-rest.js, tests/pages/checks.js.
import { test, before } from "node:test";
import { isDeepStrictEqual as same } from "node:util";
import { report, useBrowser } from "./helpers.mjs";

const PERSISTENT = ["indexeddb", "localstorage", "sessionstorage"];
const T0 = 1_700_000_000_000;

const it = useBrowser();
let page;
before(async () => {
  page = await (await it.ready()).page();
  await page.evaluate(setUpPage);
});

/** Loads the helpers into a page's globals: wss, outcome, call, same, checker, raw, forge. */
async function setUpPage() {
  await (await import("/t/checks.js")).globals();
  globalThis.forge = await import("/t/integrity.js");
}

/** A second page of the same origin, with the same helpers. */
async function secondPage() {
  const p = await it.browser.page();
  await p.evaluate(setUpPage);
  return p;
}

for (const backend of PERSISTENT) {
  test(`${backend}: a forged plaintext record in an encrypted store is CORRUPT for every read and write, never sealed ("laundered") into ciphertext`, async () => {
    const checks = await page.evaluate(async ({ backend, T0 }) => {
      const { checks, check } = checker();
      for (const kind of ["device", "key"]) {
        const name = `int-forged-${backend}-${kind}`;
        let t = T0;
        const open = async () => wss.SessionStore.open({ backend, name, encryption: await raw.encryptionOf(kind), sliding: true, now: () => t, sweepIntervalMs: null });
        const store = await open();
        await store.clear();
        const genuine = await store.create({ ok: true }, { id: "genuine" });
        const forged = forge.plainRecord({ id: "forged", state: { role: "admin" }, version: 1, createdAt: t, expiresAt: t + 60_000, ttlMs: 60_000 });
        await forge.putText(backend, name, "forged", forged, t + 60_000);
        for (const [label, op] of [
          ["load", () => store.load("forged")],
          ["loadMany", () => store.loadMany(["forged"])],
          ["get", () => store.get("forged", "role")],
          ["set", () => store.set("forged", "x", 1)],
          ["remove", () => store.remove("forged", "role")],
          ["updateTtl", () => store.updateTtl("forged", 5_000)],
          ["changeId", () => store.changeId("forged", "moved")],
        ]) {
          const out = await call(op);
          check(`${kind}: ${label} of the forged record: CORRUPT`, out.error?.code === "CORRUPT" && /plaintext/.test(out.error.message), out);
        }
        check(`${kind}: the forged record was never sealed: stored as written`, (await raw.textOfId(backend, name, "forged")) === forged);
        check(`${kind}: a sliding read of the genuine record works`, same((await store.load(genuine.id))?.state, { ok: true }));
        store.close();
        // Nor by a new instance's open (the store already has this release's key check).
        const again = await open();
        check(`${kind}: a new instance still refuses it`, (await call(() => again.load("forged"))).error?.code === "CORRUPT");
        check(`${kind}: and it is still stored as written`, (await raw.textOfId(backend, name, "forged")) === forged);
        check(`${kind}: delete removes it`, (await again.delete("forged")) === true);
        await again.clear();
        again.close();
      }
      return checks;
    }, { backend, T0 });
    report(checks);
  });

  test(`${backend}: a store opened without encryption over an encrypted one is refused, and one opened before encryption was turned on writes nothing beside the ciphertext`, async () => {
    const checks = await page.evaluate(async ({ backend }) => {
      const { checks, check } = checker();
      for (const kind of ["device", "key"]) {
        const name = `int-plain-tab-${backend}-${kind}`;
        const encryption = await raw.encryptionOf(kind);
        // An instance without encryption, opened while the store is not encrypted yet.
        const early = await wss.SessionStore.open({ backend, name, sweepIntervalMs: null });
        await early.clear();
        const before = await early.create({ was: "plaintext" }, { id: "before" });
        const enc = await wss.SessionStore.open({ backend, name, encryption, sweepIntervalMs: null });
        check(`${kind}: turning encryption on sealed the plaintext record`, JSON.parse(await raw.textOfId(backend, name, "before")).v === 3);
        check(`${kind}: and it reads back`, same((await enc.load("before"))?.state, { was: "plaintext" }));
        await enc.create({ secret: 1 }, { id: "sealed" });
        const snapshot = JSON.stringify(await raw.dump(backend, name));
        for (const [label, op] of [
          ["create", () => early.create({ x: 1 })],
          ["create with id", () => early.create({ x: 1 }, { id: "new-one" })],
          ["save (new)", () => early.save("new-two", { x: 1 })],
          ["save (over ciphertext)", () => early.save("sealed", { x: 1 })],
          ["saveIfVersion", () => early.saveIfVersion("new-three", { x: 1 }, 0)],
          ["saveMany", () => early.saveMany([{ id: "new-four", state: { x: 1 } }])],
          ["updateTtl", () => early.updateTtl("sealed", 1000)],
          ["changeId", () => early.changeId("sealed", "renamed")],
          ["clear", () => early.clear()],
        ]) {
          const out = await call(op);
          const refused = label === "saveMany"
            ? out.error?.code === "INVALID_INPUT" || (out.value?.[0]?.ok === false && out.value[0].error.code === "INVALID_INPUT")
            : out.error?.code === "INVALID_INPUT" && /encrypted/.test(out.error.message);
          check(`${kind}: the unencrypted instance's ${label}: INVALID_INPUT`, refused, out);
        }
        check(`${kind}: nothing was written or removed`, JSON.stringify(await raw.dump(backend, name)) === snapshot);
        check(`${kind}: the device key is still there (no clear without the key)`, kind !== "device" || (await raw.keyEntriesOf(backend, name)).length === 1);
        const late = await call(() => wss.SessionStore.open({ backend, name, sweepIntervalMs: null }));
        check(`${kind}: open without encryption: INVALID_INPUT, saying the store is encrypted`, late.error?.code === "INVALID_INPUT" && /encrypted/.test(late.error.message), late);
        check(`${kind}: its reads say CORRUPT (encrypted), not the state`, (await call(() => early.load("sealed"))).error?.code === "CORRUPT");
        check(`${kind}: delete needs no key`, (await early.delete("before")) === true);
        early.close();
        await enc.clear();
        const after = await wss.SessionStore.open({ backend, name, sweepIntervalMs: null });
        check(`${kind}: after clear() with the key, a store without encryption opens and writes`, (await after.create({ x: 1 })).version === 1);
        await after.clear();
        after.close();
        enc.close();
      }
      return checks;
    }, { backend });
    report(checks);
  });

  test(`${backend}: every field but expiresAt is bound to the ciphertext (createdAt, updatedAt, ttlMs, stateVersion, version), and expiresAt is capped at createdAt + maxLifetimeMs on every read`, async () => {
    const checks = await page.evaluate(async ({ backend, T0 }) => {
      const { checks, check } = checker();
      for (const kind of ["device", "key"]) {
        const name = `int-meta-${backend}-${kind}`;
        let t = T0;
        const store = await wss.SessionStore.open({ backend, name, encryption: await raw.encryptionOf(kind), ttlMs: 60_000, maxLifetimeMs: 600_000, stateVersion: 2, migrate: (s) => ({ ...s, migrated: true }), now: () => t, sweepIntervalMs: null });
        await store.clear();
        const r = await store.create({ a: 1 }, { id: "s" });
        t += 1_000;
        await store.set("s", "b", 2);
        const text = await raw.textOfId(backend, name, "s");
        const edits = [
          ["createdAt moved later (escaping the lifetime cap)", (o) => ({ ...o, createdAt: o.createdAt + 500_000 })],
          ["updatedAt changed", (o) => ({ ...o, updatedAt: o.updatedAt + 1 })],
          ["ttlMs changed", (o) => ({ ...o, ttlMs: null })],
          ["stateVersion lowered (re-running migrate)", (o) => ({ ...o, stateVersion: 1 })],
          ["stateVersion raised", (o) => ({ ...o, stateVersion: 3 })],
          ["version changed", (o) => ({ ...o, version: o.version + 1 })],
        ];
        for (const [label, edit] of edits) {
          await raw.setText(backend, name, "s", JSON.stringify(edit(JSON.parse(text))));
          const loaded = await call(() => store.load("s"));
          check(`${kind}: ${label}: load CORRUPT`, loaded.error?.code === "CORRUPT", loaded);
          const set = await call(() => store.set("s", "c", 3));
          check(`${kind}: ${label}: set CORRUPT, nothing sealed`, set.error?.code === "CORRUPT", set);
        }
        await raw.setText(backend, name, "s", text);
        check(`${kind}: the record as sealed reads back`, same((await store.load("s"))?.state, { a: 1, b: 2 }));
        // expiresAt is not bound (sliding moves it without a reseal): the cap bounds it.
        for (const [label, expiresAt] of [["expiresAt null", null], ["expiresAt far past the cap", r.createdAt + 10 * 600_000]]) {
          await raw.setText(backend, name, "s", JSON.stringify({ ...JSON.parse(text), expiresAt }));
          t = r.createdAt + 1_000;
          const live = await store.load("s");
          check(`${kind}: ${label}: the record shows the capped deadline`, live?.expiresAt === r.createdAt + 600_000, live);
          t = r.createdAt + 600_000;
          check(`${kind}: ${label}: at the cap, load gives null`, (await store.load("s")) === null);
          check(`${kind}: ${label}: at the cap, ids omits it`, !(await store.ids()).includes("s"));
          await raw.setText(backend, name, "s", JSON.stringify({ ...JSON.parse(text), expiresAt }));
          check(`${kind}: ${label}: at the cap, set NOT_FOUND`, (await call(() => store.set("s", "c", 3))).error?.code === "NOT_FOUND");
        }
        await store.clear();
        store.close();
      }
      return checks;
    }, { backend, T0 });
    report(checks);
  });

  test(`${backend}: with the key check gone, another app key cannot take the store over: it is refused while an encrypted record does not open with it, and the right key still opens`, async () => {
    const checks = await page.evaluate(async ({ backend }) => {
      const { checks, check } = checker();
      const name = `int-takeover-${backend}`;
      const right = { key: await raw.derive("right passphrase") };
      const wrong = { key: await raw.derive("wrong passphrase") };
      const store = await wss.SessionStore.open({ backend, name, encryption: right, sweepIntervalMs: null });
      await store.clear();
      await store.create({ secret: "mine" }, { id: "mine" });
      store.close();
      await forge.removeText(backend, name, ":key");
      const snapshot = JSON.stringify(await raw.dump(backend, name));
      const other = await call(() => wss.SessionStore.open({ backend, name, encryption: wrong, sweepIntervalMs: null }));
      check("the wrong key: open INVALID_INPUT", other.error?.code === "INVALID_INPUT", other);
      check("nothing written (no key check of the wrong key)", JSON.stringify(await raw.dump(backend, name)) === snapshot);
      const back = await wss.SessionStore.open({ backend, name, encryption: right, sweepIntervalMs: null });
      check("the right key opens and reads", same((await back.load("mine"))?.state, { secret: "mine" }));
      check("opening wrote nothing (nothing to seal)", JSON.stringify(await raw.dump(backend, name)) === snapshot);
      await back.set("mine", "more", 1);
      check("its first write wrote its key check again", JSON.parse((await raw.texts(backend, name)).check ?? "null")?.v === 3);
      const again = await call(() => wss.SessionStore.open({ backend, name, encryption: wrong, sweepIntervalMs: null }));
      check("the wrong key is refused after that too", again.error?.code === "INVALID_INPUT", again);
      await back.clear();
      back.close();
      return checks;
    }, { backend });
    report(checks);
  });

  test(`${backend}: an app key that is AES-GCM 128 is refused at open (INVALID_INPUT), nothing written`, async () => {
    const checks = await page.evaluate(async ({ backend }) => {
      const { checks, check } = checker();
      const name = `int-aes128-${backend}`;
      const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, ["encrypt", "decrypt"]);
      const out = await call(() => wss.SessionStore.open({ backend, name, encryption: { key }, sweepIntervalMs: null }));
      check("INVALID_INPUT naming 256", out.error?.code === "INVALID_INPUT" && /256/.test(out.error.message), out);
      check("nothing written", (await raw.dump(backend, name)).length === 0, await raw.dump(backend, name));
      return checks;
    }, { backend });
    report(checks);
  });
}

for (const backend of ["indexeddb", "localstorage"]) {
  test(`${backend}, "device": a tab that read the device key just before another tab's clear() destroyed it never writes with it: its write lands under the new key, readable everywhere`, async () => {
    const other = await secondPage();
    try {
      const name = `int-clear-race-${backend}`;
      const args = { backend, name };
      await other.evaluate(async ({ backend, name }) => {
        globalThis.store = await wss.SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
        await store.clear();
        await store.create({ from: "other" }, { id: "before" });
      }, args);
      await page.evaluate(async ({ backend, name }) => {
        globalThis.store = await wss.SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
      }, args);
      // With no key check, this tab's next write must read the device key first. (Removed in
      // both pages: a page's localStorage view of another page's removal can lag, and either may
      // be the leader that serves the write.)
      for (const p of [page, other]) await p.evaluate(({ backend, name }) => forge.removeText(backend, name, ":key"), args);
      await page.evaluate(async () => {
        globalThis.gate = forge.gateNextKeyRead();
        globalThis.writing = outcome(store.create({ from: "this tab" }, { id: "racer" }));
        const late = new Promise((_, fail) => setTimeout(() => fail(new Error("the write did not read the device key within 20 s")), 20_000));
        await Promise.race([gate.reached, late, writing.then((w) => { throw new Error(`the write settled without reading the device key: ${JSON.stringify(w)}`); })]);
      });
      // This tab has read the key; now the other tab clears (destroying it).
      await other.evaluate(() => store.clear());
      const checks = await page.evaluate(async ({ backend, name }) => {
        const { checks, check } = checker();
        gate.release();
        const wrote = await writing;
        check("the write resolves", wrote.value?.id === "racer", wrote);
        const entries = await raw.keyEntriesOf(backend, name);
        check("one device key entry", entries.length === 1, entries);
        const fresh = await wss.SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
        check("a new instance reads the write", same((await fresh.load("racer"))?.state, { from: "this tab" }));
        fresh.close();
        return checks;
      }, args);
      const there = await other.evaluate(async () => outcome(store.load("racer")));
      checks.push(["the other tab reads the write (not CORRUPT)", same(there.value?.state, { from: "this tab" }), there]);
      checks.push(["the other tab's clear() removed what was there before", (await other.evaluate(() => store.load("before"))) === null]);
      report(checks);
      await page.evaluate(async () => (await store.clear(), store.close()));
    } finally {
      await other.close();
    }
  });
}

// The change feed tells every backend's tabs alike; on IndexedDB the old records written back are
// read by this tab itself (on localStorage the leader, another page, may read them late).
test(`indexeddb, "device": after another tab's clear(), this tab drops the device key it holds: ciphertext of the old key written back does not open here either`, async () => {
  const backend = "indexeddb";
  const other = await secondPage();
  try {
    const name = `int-forget-${backend}`;
    const args = { backend, name };
    const snapshot = await page.evaluate(async ({ backend, name }) => {
      globalThis.store = await wss.SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
      await store.clear();
      await store.create({ secret: "old" }, { id: "old" });
      if (!(await store.load("old"))) throw new Error("setup: the record does not load");
      globalThis.cleared = new Promise((resolve) => store.subscribe((e) => e.type === "cleared" && !e.local && resolve()));
      return raw.dump(backend, name);
    }, args);
    await other.evaluate(async ({ backend, name }) => {
      const s = await wss.SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
      await s.clear();
      s.close();
    }, args);
    const checks = await page.evaluate(async ({ backend, name, snapshot }) => {
      const { checks, check } = checker();
      await cleared;
      // Give the event's handling its turn, then put the old records and key check back.
      await new Promise((r) => setTimeout(r, 0));
      await raw.restore(backend, name, snapshot);
      const out = await call(() => store.load("old"));
      check("the old ciphertext written back: CORRUPT here too (the key is gone from this tab as well)", out.error?.code === "CORRUPT", out);
      await store.clear();
      store.close();
      return checks;
    }, { ...args, snapshot });
    report(checks);
  } finally {
    await other.close();
  }
});

test(`sessionstorage, "device": a duplicated tab (a copy of its opener's sessionStorage) gets a key of its own: its clear() leaves the opener's key and records readable`, async () => {
  const other = await secondPage();
  try {
    const name = "int-dup-tab";
    const copied = await page.evaluate(async ({ name }) => {
      const s = await wss.SessionStore.open({ backend: "sessionstorage", name, encryption: "device", sweepIntervalMs: null });
      await s.clear();
      await s.create({ tab: "opener" }, { id: "opener" });
      s.close();
      return Object.fromEntries(Object.keys(sessionStorage).map((k) => [k, sessionStorage.getItem(k)]));
    }, { name });
    const checks = await other.evaluate(async ({ name, copied }) => {
      const { checks, check } = checker();
      // What duplicating the tab does: its sessionStorage starts as a copy of the opener's.
      for (const [k, v] of Object.entries(copied)) sessionStorage.setItem(k, v);
      const s = await wss.SessionStore.open({ backend: "sessionstorage", name, encryption: "device", sweepIntervalMs: null });
      check("the duplicate reads what it copied", same((await s.load("opener"))?.state, { tab: "opener" }));
      await s.clear();
      await s.create({ tab: "duplicate" }, { id: "dup" });
      check("the duplicate works after its clear", same((await s.load("dup"))?.state, { tab: "duplicate" }));
      s.close();
      return checks;
    }, { name, copied });
    const back = await page.evaluate(async ({ name }) => {
      const s = await wss.SessionStore.open({ backend: "sessionstorage", name, encryption: "device", sweepIntervalMs: null });
      const out = await outcome(s.load("opener"));
      await s.clear();
      s.close();
      return out;
    }, { name });
    checks.push(["the opener (a new instance, reading its key from the database) still reads its record", same(back.value?.state, { tab: "opener" }), back]);
    report(checks);
  } finally {
    await other.close();
  }
});

for (const backend of PERSISTENT) {
  test(`${backend}: stores of the previous release open and read (plaintext format 1; sealed format 2 with its key check, app key and device key), resealed in format 3 in one step, after which format 1 and 2 records are CORRUPT`, async () => {
    const checks = await page.evaluate(async ({ backend, T0 }) => {
      const { checks, check } = checker();
      const states = { a: { user: "ada", n: 1 }, b: { cart: ["apple", "pear"], "ü💡": null } };
      for (const kind of ["plain", "key", "device"]) {
        const name = `int-upgrade-${backend}-${kind}`;
        // A store of this name as the previous release left it (made empty first).
        const wipe = await wss.SessionStore.open({ backend, name, sweepIntervalMs: null });
        await wipe.clear();
        wipe.close();
        let key;
        let encryption;
        if (kind === "key") {
          encryption = { key: await raw.derive("upgrade passphrase") };
          key = encryption.key;
        } else if (kind === "device") {
          encryption = "device";
          // sessionStorage keys are per tab: the previous release named the tab in `<name>::device`.
          const entry = backend === "sessionstorage" ? `sessionstorage:${name}:tab-1` : `${backend}:${name}`;
          if (backend === "sessionstorage") sessionStorage.setItem(`${name}::device`, "tab-1");
          key = await forge.putDeviceKey(entry);
        }
        const old = {
          a: { id: "old-a", state: states.a, version: 3, createdAt: T0, updatedAt: T0 + 10, expiresAt: null, ttlMs: null },
          b: { id: "old-b", state: states.b, version: 1, createdAt: T0 + 5, expiresAt: 4_000_000_000_000, ttlMs: 2_000_000_000_000, stateVersion: 2 },
        };
        // Record a stays plaintext in every kind (written before encryption was turned on).
        await forge.putText(backend, name, "old-a", forge.plainRecord(old.a), null);
        if (kind === "plain") {
          await forge.putText(backend, name, "old-b", forge.plainRecord(old.b), old.b.expiresAt);
        } else {
          await forge.putText(backend, name, "old-b", await forge.legacyRecord(key, name, old.b), old.b.expiresAt);
          await forge.putText(backend, name, ":key", await forge.legacyCheck(key, name, kind === "key" ? 1 : 2, T0), null);
        }
        const before = await raw.texts(backend, name);
        check(`${kind}: the old store as the previous release wrote it`, JSON.parse(before.records["old-a"]).v === 1
          && JSON.parse(before.records["old-b"]).v === (kind === "plain" ? 1 : 2), before);

        const enc = encryption ?? { key: await raw.derive("turned on later") };
        const store = await wss.SessionStore.open({ backend, name, encryption: enc, stateVersion: 2, sweepIntervalMs: null });
        const after = await raw.texts(backend, name);
        for (const id of ["old-a", "old-b"]) {
          const parsed = JSON.parse(after.records[id]);
          check(`${kind}: ${id} resealed at open: format 3 with enc, no state`, parsed.v === 3 && typeof parsed.enc === "string" && !("state" in parsed), after.records[id]);
          const was = id === "old-a" ? old.a : old.b;
          check(`${kind}: ${id} keeps its metadata`, parsed.version === was.version && parsed.createdAt === was.createdAt
            && parsed.updatedAt === (was.updatedAt ?? was.createdAt) && parsed.expiresAt === was.expiresAt && parsed.ttlMs === was.ttlMs
            && (parsed.stateVersion ?? 0) === (was.stateVersion ?? 0), parsed);
        }
        check(`${kind}: the key check is of format 3`, JSON.parse(after.check).v === 3, after.check);
        const loaded = await store.loadMany(["old-a", "old-b"]);
        check(`${kind}: both read back, versions kept`, same(loaded.map((r) => r?.state), [states.a, states.b]) && loaded[0].version === 3 && loaded[1].version === 1, loaded);
        check(`${kind}: ids lists both`, same((await store.ids()).sort(), ["old-a", "old-b"]));
        check(`${kind}: writes go on`, (await store.set("old-a", "more", true)) === 4);
        // From now on, the old formats are not trusted.
        await forge.putText(backend, name, "late-plain", forge.plainRecord({ id: "late-plain", state: { x: 1 }, version: 1, createdAt: T0 }), null);
        check(`${kind}: a format-1 record written after the upgrade: CORRUPT`, (await call(() => store.load("late-plain"))).error?.code === "CORRUPT");
        const oldKey = key ?? enc.key;
        await forge.putText(backend, name, "late-v2", await forge.legacyRecord(oldKey, name, { id: "late-v2", state: { x: 1 }, version: 1, createdAt: T0 }), null);
        const v2 = await call(() => store.load("late-v2"));
        check(`${kind}: a format-2 record written after the upgrade (by an older tab): CORRUPT, saying why`, v2.error?.code === "CORRUPT" && /release/.test(v2.error.message), v2);
        store.close();
        const reopened = await wss.SessionStore.open({ backend, name, encryption: enc, stateVersion: 2, sweepIntervalMs: null });
        check(`${kind}: reopened: still CORRUPT (not resealed by a later open)`, (await call(() => reopened.load("late-plain"))).error?.code === "CORRUPT"
          && (await call(() => reopened.load("late-v2"))).error?.code === "CORRUPT");
        check(`${kind}: reopened: the upgraded records read`, same((await reopened.load("old-b"))?.state, states.b));
        await reopened.clear();
        reopened.close();
      }
      return checks;
    }, { backend, T0 });
    report(checks);
  });

  test(`${backend}: a store of the previous release opened without encryption still reads its plaintext records as before`, async () => {
    const checks = await page.evaluate(async ({ backend, T0 }) => {
      const { checks, check } = checker();
      const name = `int-plain-stays-${backend}`;
      const wipe = await wss.SessionStore.open({ backend, name, sweepIntervalMs: null });
      await wipe.clear();
      wipe.close();
      const text = forge.plainRecord({ id: "p", state: { a: [1, { b: "c" }] }, version: 7, createdAt: T0, expiresAt: null, ttlMs: null });
      await forge.putText(backend, name, "p", text, null);
      const store = await wss.SessionStore.open({ backend, name, sweepIntervalMs: null });
      const r = await store.load("p");
      check("read as before", same(r?.state, { a: [1, { b: "c" }] }) && r.version === 7, r);
      check("bytes untouched by the read", (await raw.textOfId(backend, name, "p")) === text);
      check("written as format 1", (await store.set("p", "d", 1)) === 8 && JSON.parse(await raw.textOfId(backend, name, "p")).v === 1);
      await store.clear();
      store.close();
      return checks;
    }, { backend, T0 });
    report(checks);
  });
}
