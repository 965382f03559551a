// Encryption at rest (DESIGN.md, "Encryption at rest"), in each engine (WSS_ENGINE), through the
// built package: what the storage holds when read behind the store's back (no plaintext, `"v":3`
// records with `enc`), ciphertexts that were tampered with or moved to another id, version or
// store, the wrong key at open, options that are not a key, crypto-shredding by `clear()`,
// plaintext records from before encryption, compare-and-swap storms across pages, and workers.
// Page-side helpers: tests/pages/at-rest.js (raw storage, the device keys' database, keys from
// passphrases), tests/pages/checks.js.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { report, useBrowser, ENGINE, checkStorm } from "./helpers.mjs";

const PERSISTENT = ["indexeddb", "localstorage", "sessionstorage"];
const KINDS = ["device", "key"];
/** Put in states; must never show in what the storage holds. */
const MARKER = "MARKER-7f3a-5eb1-secret";

const it = useBrowser();
let page;
before(async () => {
  page = await (await it.ready()).page();
  await page.evaluate(setUpPage);
});

/** Loads the helpers into a page's globals: wss, outcome, call, same, checker, raw. */
async function setUpPage() {
  await (await import("/t/checks.js")).globals();
}

for (const backend of PERSISTENT) {
  for (const kind of KINDS) {
    test(`${backend}, ${kind === "device" ? '"device"' : "{ key }"}: the storage holds no plaintext, only "v":3 records with enc (fresh IV each), and every read gives the state back`, async () => {
      const checks = await page.evaluate(async ({ backend, kind, marker }) => {
        const { checks, check } = checker();
        const name = `enc-raw-${backend}-${kind}`;
        const encryption = await raw.encryptionOf(kind);
        const store = await wss.SessionStore.open({ backend, name, encryption, sweepIntervalMs: null });
        await store.clear();
        const events = [];
        store.subscribe((e) => events.push(e));

        // Every kind of write, each with the marker in values and keys.
        const a = await store.create({ note: marker, nested: { list: [marker, 1, true, null], [`k-${marker}`]: "v" }, emoji: "💡 ünïcödé" });
        await store.create({ other: marker }, { id: "fixed-b", ttlMs: null });
        await store.save("saved-c", { c: marker });
        await store.set(a.id, "added", `${marker} by set`);
        await store.saveIfVersion("fixed-b", { other: marker, more: 2 }, 1);
        const many = await store.saveMany([{ id: "many-d", state: { d: marker } }, { id: "saved-c", state: { c: marker, again: true }, expected: 1 }]);
        check("saveMany ok", many.every((r) => r.ok), many);
        await store.remove(a.id, "emoji");
        await store.changeId("saved-c", "renamed-c");
        await store.updateTtl("many-d", 3_600_000);
        const expected = {
          [a.id]: { note: marker, nested: { list: [marker, 1, true, null], [`k-${marker}`]: "v" }, added: `${marker} by set` },
          "fixed-b": { other: marker, more: 2 },
          "renamed-c": { c: marker, again: true },
          "many-d": { d: marker },
        };

        // The raw storage: every record is v3 with enc and no state, and the marker is nowhere.
        const all = await raw.dump(backend, name);
        check("the store's raw storage is not empty", all.length >= 4, all.length);
        check("the marker shows nowhere in the raw storage (records and metadata)", raw.leaks(JSON.stringify(all), marker).length === 0, raw.leaks(JSON.stringify(all), marker));
        const { records, check: keyCheck, values } = await raw.texts(backend, name);
        check("the raw records are the live sessions", same(Object.keys(records).sort(), Object.keys(expected).sort()), Object.keys(records));
        const ivs = [];
        for (const [id, text] of Object.entries(records)) {
          let parsed;
          try { parsed = JSON.parse(text); } catch { parsed = null; }
          check(`${id}: stored as JSON text`, parsed && typeof parsed === "object", text);
          if (!parsed) continue;
          check(`${id}: "v":3`, parsed.v === 3 && text.startsWith('{"v":3,'), text.slice(0, 40));
          check(`${id}: enc is base64 of IV + ciphertext + tag, no state`, typeof parsed.enc === "string" && /^[A-Za-z0-9+/]+={0,2}$/.test(parsed.enc) && atob(parsed.enc).length >= 12 + 2 + 16 && !("state" in parsed), text);
          check(`${id}: no plaintext in the record`, raw.leaks(text, marker).length === 0 && !text.includes("ünïcödé"), raw.leaks(text, marker));
          ivs.push(parsed.enc.slice(0, 16));
          const r = await store.load(id);
          check(`${id}: load gives the state back`, same(r?.state, expected[id]), r);
          check(`${id}: metadata in clear, as load gives it`, parsed.id === id && parsed.version === r.version && parsed.createdAt === r.createdAt
            && parsed.updatedAt === r.updatedAt && parsed.expiresAt === r.expiresAt && parsed.ttlMs === r.ttlMs, { parsed: { ...parsed, enc: undefined }, r });
          if (backend === "indexeddb") {
            const v = values[id];
            check(`${id}: IndexedDB value { exp?, rec }`, v.rec === text && (r.expiresAt === null ? v.exp === undefined || v.exp === null : v.exp === r.expiresAt), { ...v, rec: undefined });
          }
        }
        check("a fresh IV per record", new Set(ivs).size === ivs.length, ivs);
        // The same state written twice: two different ciphertexts.
        const e1 = JSON.parse(await raw.textOfId(backend, name, "fixed-b")).enc;
        await store.save("fixed-b", { other: marker, more: 2 });
        const e2 = JSON.parse(await raw.textOfId(backend, name, "fixed-b")).enc;
        check("the same state saved again: another IV and ciphertext", e1.slice(0, 16) !== e2.slice(0, 16) && e1 !== e2, [e1, e2]);

        // The key-check record: encrypted, never a session.
        let parsedCheck;
        try { parsedCheck = JSON.parse(keyCheck); } catch { parsedCheck = null; }
        check('a key-check record under ":key", v3 with enc and no state', parsedCheck?.v === 3 && typeof parsedCheck.enc === "string" && !("state" in parsedCheck), keyCheck);
        const ids = (await store.ids()).sort();
        check("ids: the sessions only (not :key)", same(ids, Object.keys(expected).sort()), ids);
        const loaded = await store.loadMany(Object.keys(expected));
        check("loadMany gives every state back", loaded.every((r, i) => same(r?.state, expected[Object.keys(expected)[i]])), loaded);
        check("get gives a value back", (await store.get(a.id, "added")) === `${marker} by set`);

        // Events carry no state.
        await new Promise((r) => setTimeout(r, 50));
        check("events came", events.length >= 8, events.length);
        check("events carry no state", events.every((e) => !("state" in e)) && raw.leaks(JSON.stringify(events), marker).length === 0, events);

        // Where the key is.
        const entries = await raw.keyEntriesOf(backend, name);
        if (kind === "device") {
          const want = backend === "sessionstorage" ? [`sessionstorage:${name}:`] : [`${backend}:${name}`];
          check("one device key entry, named <backend>:<name> (sessionStorage: :<tab id> after it)", entries.length === 1
            && (backend === "sessionstorage" ? entries[0].startsWith(want[0]) && entries[0].length > want[0].length : entries[0] === want[0]), entries);
          const key = entries[0] && await raw.keyEntry(entries[0]);
          check("the device key: a non-extractable AES-GCM 256 secret key for encrypt and decrypt", key?.isCryptoKey && key.type === "secret" && key.extractable === false
            && key.algorithm.name === "AES-GCM" && key.algorithm.length === 256 && same(key.usages, ["decrypt", "encrypt"]), key);
        } else {
          check("the app's key is kept nowhere", entries.length === 0, entries);
        }
        store.close();

        // Another instance with the same key reads it all.
        const again = await wss.SessionStore.open({ backend, name, encryption, sweepIntervalMs: null });
        const reread = await again.loadMany(Object.keys(expected));
        check("reopened with the same key: every state back", reread.every((r, i) => same(r?.state, expected[Object.keys(expected)[i]])), reread);
        await again.clear();
        again.close();
        return checks;
      }, { backend, kind, marker: MARKER });
      report(checks);
    });
  }
}

test("memory: \"device\" and { key } round-trip states, and a memory store keeps no key in IndexedDB", async () => {
  const checks = await page.evaluate(async () => {
    const { checks, check } = checker();
    for (const kind of ["device", "key"]) {
      const name = `enc-memory-${kind}`;
      const store = await wss.SessionStore.open({ backend: "memory", name, encryption: await raw.encryptionOf(kind), sweepIntervalMs: null });
      const r = await store.create({ a: [1, "two", { three: 3 }] });
      await store.set(r.id, "b", true);
      check(`${kind}: load`, same((await store.load(r.id)).state, { a: [1, "two", { three: 3 }], b: true }));
      check(`${kind}: ids`, same(await store.ids(), [r.id]));
      await store.clear();
      const s = await store.create({ after: "clear" });
      check(`${kind}: works after clear`, same((await store.load(s.id)).state, { after: "clear" }));
      const entries = (await raw.keyEntries()).filter((e) => e.includes(name));
      check(`${kind}: nothing in the keys database`, entries.length === 0, entries);
      store.close();
    }
    return checks;
  });
  report(checks);
});

test("metadata stays in clear: expiry by the injected clock, deleteExpired, updateTtl and changeId work on encrypted records", async () => {
  const checks = await page.evaluate(async () => {
    const { checks, check } = checker();
    for (const backend of ["indexeddb", "localstorage", "sessionstorage", "memory"]) {
      for (const kind of ["device", "key"]) {
        let t = 1_000_000;
        const name = `enc-meta-${backend}-${kind}`;
        const store = await wss.SessionStore.open({ backend, name, encryption: await raw.encryptionOf(kind), ttlMs: 10_000, now: () => t, sweepIntervalMs: null });
        await store.clear();
        const a = await store.create({ a: 1 });
        const b = await store.create({ b: 2 }, { ttlMs: 100 });
        const c = await store.create({ c: 3 }, { ttlMs: null });
        if (backend !== "memory") {
          const text = await raw.textOfId(backend, name, a.id);
          const parsed = JSON.parse(text);
          check(`${backend}/${kind}: expiresAt and ttlMs in clear`, parsed.expiresAt === t + 10_000 && parsed.ttlMs === 10_000 && parsed.v === 3, text);
        }
        check(`${backend}/${kind}: updateTtl resolves`, (await store.updateTtl(a.id, 50_000)) === undefined);
        const moved = await store.load(a.id);
        check(`${backend}/${kind}: after updateTtl the state still decrypts, version kept`, same(moved?.state, { a: 1 }) && moved.version === 1 && moved.expiresAt === t + 50_000, moved);
        t += 100;
        check(`${backend}/${kind}: expired: load null`, (await store.load(b.id)) === null);
        check(`${backend}/${kind}: expired: not in ids`, same((await store.ids()).sort(), [a.id, c.id].sort()));
        const setExpired = await outcome(store.set(b.id, "k", 1));
        check(`${backend}/${kind}: expired: set NOT_FOUND`, setExpired.error?.code === "NOT_FOUND", setExpired);
        t += 60_000;
        check(`${backend}/${kind}: ids after a's deadline`, same(await store.ids(), [c.id]));
        const removed = await store.deleteExpired();
        check(`${backend}/${kind}: deleteExpired removes what expired`, removed >= 1 && removed <= 2, removed);
        if (backend !== "memory") {
          const { records } = await raw.texts(backend, name);
          check(`${backend}/${kind}: only the live record is left`, same(Object.keys(records), [c.id]), Object.keys(records));
        }
        const renamed = await store.changeId(c.id, "renamed");
        const r = await store.load("renamed");
        check(`${backend}/${kind}: changeId: the state decrypts under the new id, version kept`, renamed === "renamed" && same(r?.state, { c: 3 }) && r.version === 1, r);
        check(`${backend}/${kind}: changeId: the old id is gone`, (await store.load(c.id)) === null);
        check(`${backend}/${kind}: set after changeId`, (await store.set("renamed", "d", 4)) === 2 && same((await store.load("renamed")).state, { c: 3, d: 4 }));
        await store.clear();
        store.close();
      }
    }
    return checks;
  });
  report(checks);
});

for (const backend of PERSISTENT) {
  test(`${backend}: one changed character of a stored ciphertext (IV, ciphertext or tag): CORRUPT for that id, every other id still works`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      for (const kind of ["device", "key"]) {
        const name = `enc-tamper-${backend}-${kind}`;
        const store = await wss.SessionStore.open({ backend, name, encryption: await raw.encryptionOf(kind), sweepIntervalMs: null });
        await store.clear();
        const good = await store.create({ fine: true, pad: "x".repeat(40) });
        const targets = { iv: 5, ciphertext: 20, tag: -6 };
        const bad = {};
        for (const [where, at] of Object.entries(targets)) {
          const r = await store.create({ doomed: where, pad: "y".repeat(40) });
          const before = await raw.textOfId(backend, name, r.id);
          const after = raw.flipEnc(before, at);
          check(`${kind}, ${where}: one character changed, still valid base64`, after !== before && after.length === before.length
            && /^[A-Za-z0-9+/]+={0,2}$/.test(JSON.parse(after).enc), after);
          await raw.setText(backend, name, r.id, after);
          bad[where] = r.id;
        }
        for (const [where, id] of Object.entries(bad)) {
          for (const [m, fn] of [["load", () => store.load(id)], ["get", () => store.get(id, "doomed")], ["set", () => store.set(id, "k", 1)],
            ["remove", () => store.remove(id, "doomed")], ["loadMany", () => store.loadMany([good.id, id])]]) {
            const out = await call(fn);
            check(`${kind}, ${where}: ${m}: CORRUPT naming the id`, out.error?.name === "StoreError" && out.error.code === "CORRUPT" && out.error.message.includes(id), out);
          }
        }
        check(`${kind}: the other record still loads`, same((await store.load(good.id))?.state, { fine: true, pad: "x".repeat(40) }));
        check(`${kind}: and takes writes`, (await store.set(good.id, "more", 1)) === 2);
        check(`${kind}: loadMany of the good one`, same((await store.loadMany([good.id]))[0]?.state, { fine: true, pad: "x".repeat(40), more: 1 }));
        check(`${kind}: a new record works`, same((await store.load((await store.create({ n: 1 })).id))?.state, { n: 1 }));
        check(`${kind}: delete removes a record that does not decrypt (true)`, (await store.delete(bad.tag)) === true && (await store.load(bad.tag)) === null);
        await store.clear();
        store.close();
      }
      return checks;
    }, backend);
    report(checks);
  });

  test(`${backend}: a ciphertext moved onto another id, an older version's ciphertext under newer metadata, another store's ciphertext: CORRUPT`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      for (const kind of ["device", "key"]) {
        const name = `enc-move-${backend}-${kind}`;
        const encryption = await raw.encryptionOf(kind);
        const store = await wss.SessionStore.open({ backend, name, encryption, sweepIntervalMs: null });
        await store.clear();
        // A onto B: both at version 1, so only the id differs.
        await store.create({ who: "A" }, { id: "rec-a" });
        await store.create({ who: "B" }, { id: "rec-b" });
        const textA = await raw.textOfId(backend, name, "rec-a");
        const textB = await raw.textOfId(backend, name, "rec-b");
        await raw.setText(backend, name, "rec-b", raw.withEnc(textB, JSON.parse(textA).enc));
        const movedOut = await call(() => store.load("rec-b"));
        check(`${kind}: A's enc under B: CORRUPT`, movedOut.error?.code === "CORRUPT" && movedOut.error.message.includes("rec-b"), movedOut);
        check(`${kind}: A's enc under B: get CORRUPT`, (await call(() => store.get("rec-b", "who"))).error?.code === "CORRUPT");
        check(`${kind}: A still loads`, same((await store.load("rec-a"))?.state, { who: "A" }));

        // An older version's enc in the record at a newer version.
        await store.create({ step: 1 }, { id: "rec-v" });
        const v1 = await raw.textOfId(backend, name, "rec-v");
        check(`${kind}: the save moves to version 2`, (await store.save("rec-v", { step: 2 })) === 2);
        const v2 = await raw.textOfId(backend, name, "rec-v");
        check(`${kind}: v2 metadata`, JSON.parse(v2).version === 2 && JSON.parse(v1).version === 1, [v1, v2]);
        await raw.setText(backend, name, "rec-v", raw.withEnc(v2, JSON.parse(v1).enc));
        const replayed = await call(() => store.load("rec-v"));
        check(`${kind}: version 1's enc with version 2's metadata: CORRUPT`, replayed.error?.code === "CORRUPT" && replayed.error.message.includes("rec-v"), replayed);
        // And the other way: version 2's enc with version 1's metadata.
        await raw.setText(backend, name, "rec-v", raw.withEnc(v1, JSON.parse(v2).enc));
        const back = await call(() => store.load("rec-v"));
        check(`${kind}: version 2's enc with version 1's metadata: CORRUPT`, back.error?.code === "CORRUPT", back);

        // The same id and version in another store (the same key for { key }): the name is bound.
        const otherName = `${name}-other`;
        const other = await wss.SessionStore.open({ backend, name: otherName, encryption, sweepIntervalMs: null });
        await other.clear();
        await other.create({ who: "other store" }, { id: "rec-a" });
        const otherText = await raw.textOfId(backend, otherName, "rec-a");
        await raw.setText(backend, otherName, "rec-a", raw.withEnc(otherText, JSON.parse(textA).enc));
        const crossed = await call(() => other.load("rec-a"));
        check(`${kind}: another store's enc (same id, same version): CORRUPT`, crossed.error?.code === "CORRUPT", crossed);
        await other.clear();
        other.close();
        check(`${kind}: A loads at the end`, same((await store.load("rec-a"))?.state, { who: "A" }));
        await store.clear();
        store.close();
      }
      return checks;
    }, backend);
    report(checks);
  });

  test(`${backend}: open with a key that is not the data's rejects INVALID_INPUT and writes nothing (raw storage and keys database byte-identical)`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      const key1 = await raw.derive("passphrase one");
      const key2 = await raw.derive("passphrase two");
      const snapshot = async (name) => JSON.stringify({ raw: await raw.dump(backend, name), keys: (await raw.keyEntries()).sort() });
      // [written with, opened with]
      for (const [label, writeWith, openWith] of [
        ["key1, then key2", { key: key1 }, { key: key2 }],
        ['key1, then "device"', { key: key1 }, "device"],
        ['"device", then key1', "device", { key: key1 }],
      ]) {
        const name = `enc-wrongkey-${backend}-${label.replace(/[^a-z0-9]+/gi, "-")}`;
        const writer = await wss.SessionStore.open({ backend, name, encryption: writeWith, sweepIntervalMs: null });
        await writer.clear();
        const a = await writer.create({ a: "one" });
        await writer.set(a.id, "b", 2);
        await writer.create({ c: 3 }, { id: "fixed", ttlMs: null });
        writer.close();
        const before = await snapshot(name);
        const out = await outcome(wss.SessionStore.open({ backend, name, encryption: openWith, sweepIntervalMs: null }));
        check(`${label}: open rejects INVALID_INPUT`, out.error?.name === "StoreError" && out.error.code === "INVALID_INPUT" && out.error.isError, out.error ?? "it opened");
        const after = await snapshot(name);
        check(`${label}: raw storage and keys database unchanged`, after === before, { before, after });
        if (out.value) {
          // It opened: nothing it does may spoil the data or lock the right key out.
          const read = await outcome(out.value.load(a.id));
          check(`${label}: (opened anyway) load does not give the state`, !read.value, read);
          const write = await outcome(out.value.create({ d: 4 }));
          check(`${label}: (opened anyway) a write does not succeed`, write.error, write);
          out.value.close();
        }
        const reader = await outcome(wss.SessionStore.open({ backend, name, encryption: writeWith, sweepIntervalMs: null }));
        check(`${label}: the right key still opens`, reader.value, reader.error);
        if (!reader.value) continue;
        check(`${label}: the right key still reads everything`, same((await reader.value.load(a.id))?.state, { a: "one", b: 2 }) && same((await reader.value.load("fixed"))?.state, { c: 3 }));
        await reader.value.clear();
        reader.value.close();
      }
      return checks;
    }, backend);
    report(checks);
  });
}

test("an encryption option that is not \"device\" or { key: AES-GCM CryptoKey for encrypt and decrypt }: INVALID_INPUT, nothing written", async () => {
  const checks = await page.evaluate(async () => {
    const { checks, check } = checker();
    const s = crypto.subtle;
    const key = await raw.derive("a passphrase");
    const hmac = await s.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    const encryptOnly = await s.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]);
    const decryptOnly = await s.generateKey({ name: "AES-GCM", length: 256 }, false, ["decrypt"]);
    const cbc = await s.generateKey({ name: "AES-CBC", length: 256 }, false, ["encrypt", "decrypt"]);
    const kw = await s.generateKey({ name: "AES-KW", length: 256 }, false, ["wrapKey", "unwrapKey"]);
    const bad = {
      '"yes"': "yes", '"Device"': "Device", '""': "", true: true, 1: 1, null: null, '["device"]': ["device"],
      "{}": {}, "{ key: undefined }": { key: undefined }, '{ key: "nope" }': { key: "nope" }, "{ key: {} }": { key: {} },
      "{ key: HMAC key }": { key: hmac }, "{ key: AES-GCM, encrypt only }": { key: encryptOnly },
      "{ key: AES-GCM, decrypt only }": { key: decryptOnly }, "{ key: AES-CBC }": { key: cbc }, "{ key: AES-KW }": { key: kw },
      "{ key: a promise of a key }": { key: Promise.resolve(key) }, "{ key, extra: 1 }": { key, extra: 1 },
      '{ key: "device" }': { key: "device" },
    };
    for (const backend of ["indexeddb", "localstorage", "sessionstorage", "memory"]) {
      const name = `enc-badopt-${backend}`;
      const keysBefore = JSON.stringify((await raw.keyEntries()).sort());
      for (const [label, encryption] of Object.entries(bad)) {
        const out = await call(() => wss.SessionStore.open({ backend, name, encryption }));
        check(`${backend}: encryption ${label}: INVALID_INPUT`, out.error?.name === "StoreError" && out.error.code === "INVALID_INPUT" && out.error.message.length > 0, out.error ?? out);
        out.value?.close?.();
        if (backend !== "memory") {
          const dumped = await raw.dump(backend, name);
          check(`${backend}: encryption ${label}: nothing written to the store's storage`, dumped.length === 0, dumped);
          for (const [k] of dumped) if (backend !== "indexeddb") (backend === "localstorage" ? localStorage : sessionStorage).removeItem(k);
        }
      }
      check(`${backend}: nothing written to the keys database`, JSON.stringify((await raw.keyEntries()).sort()) === keysBefore);
      // What is allowed: undefined (no encryption), "device", { key }.
      for (const [label, encryption] of [["undefined", undefined], ['"device"', "device"], ["{ key }", { key }]]) {
        const out = await call(() => wss.SessionStore.open({ backend, name: `${name}-ok-${label.replace(/\W/g, "")}`, encryption }));
        check(`${backend}: encryption ${label} opens`, out.value && typeof out.value.load === "function", out.error);
        if (out.value) { await out.value.clear(); out.value.close(); }
      }
    }
    return checks;
  });
  report(checks);
});

for (const backend of PERSISTENT) {
  test(`${backend}: clear() with "device" destroys the key; old ciphertext written back is CORRUPT, never readable`, async () => {
    const checks = await page.evaluate(async (backend) => {
      const { checks, check } = checker();
      const name = `enc-shred-${backend}`;
      const open = () => wss.SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
      let store = await open();
      await store.clear();
      const a = await store.create({ secret: "old A" }, { id: "old-a" });
      await store.create({ secret: "old B" }, { id: "old-b" });
      const oldEntries = await raw.keyEntriesOf(backend, name);
      check("a device key entry after the first write", oldEntries.length === 1, oldEntries);
      const snapshot = await raw.dump(backend, name);
      // The session records only (not the key check or other metadata).
      const recordsOnly = snapshot.filter(([k]) => {
        const id = backend === "indexeddb" ? k : k.slice(name.length + 1);
        return !id.startsWith(":");
      });
      check("the snapshot holds both records", recordsOnly.length === 2, recordsOnly.map(([k]) => k));

      await store.clear();
      check("clear: the key entry is gone", (await raw.keyEntriesOf(backend, name)).length === 0 && (await raw.keyEntry(oldEntries[0])) === null,
        await raw.keyEntriesOf(backend, name));
      check("clear: no records left", Object.keys((await raw.texts(backend, name)).records).length === 0);

      // 1. The old records written back, no key at all yet: this instance, and a new one.
      await raw.restore(backend, name, recordsOnly);
      for (const [label, s] of [["the same instance", store], ["a new instance", await open()]]) {
        for (const id of ["old-a", "old-b"]) {
          const out = await call(() => s.load(id));
          check(`no key yet, ${label}: load ${id}: CORRUPT (not null, not the state)`, out.error?.code === "CORRUPT" && out.error.message.includes(id), out);
        }
        const many = await call(() => s.loadMany(["old-a"]));
        check(`no key yet, ${label}: loadMany: CORRUPT`, many.error?.code === "CORRUPT", many);
        if (s !== store) s.close();
      }
      check("no key yet: reading made no key", (await raw.keyEntriesOf(backend, name)).length === 0, await raw.keyEntriesOf(backend, name));
      await store.clear();

      // 2. A new write makes a new key; the old records written back again.
      const fresh = await store.create({ secret: "new" }, { id: "new-c" });
      const newEntries = await raw.keyEntriesOf(backend, name);
      check("a new key entry after the next write", newEntries.length === 1, newEntries);
      await raw.restore(backend, name, recordsOnly);
      store.close();
      store = await open();
      for (const id of ["old-a", "old-b"]) {
        const out = await call(() => store.load(id));
        check(`new key: load ${id}: CORRUPT (not null, not the state)`, out.error?.code === "CORRUPT" && out.error.message.includes(id), out);
        const got = await call(() => store.get(id, "secret"));
        check(`new key: get ${id}: CORRUPT`, got.error?.code === "CORRUPT", got);
      }
      check("new key: the new record loads", same((await store.load(fresh.id))?.state, { secret: "new" }));

      // 3. The whole snapshot back, the old key check included: the data stays unreadable.
      // With no device key left to try the old check with, open resolves (in every engine and
      // backend), and each old record is CORRUPT.
      await store.clear();
      store.close();
      await raw.restore(backend, name, snapshot);
      const whole = await call(open);
      check("whole snapshot back: open resolves (no device key left to try the old key check with)", whole.value !== undefined, whole);
      for (const id of ["old-a", "old-b"]) {
        const out = await call(() => whole.value?.load(id));
        check(`whole snapshot back: load ${id}: CORRUPT (not null, not the state)`, out.error?.code === "CORRUPT" && out.error.message.includes(id), out);
      }
      whole.value?.close();
      // Tidy up (clear removes everything of the name; a store without encryption is refused
      // while the restored key check is there).
      const refused = await call(() => wss.SessionStore.open({ backend, name, sweepIntervalMs: null }));
      check("a store without encryption is refused beside the restored key check", refused.error?.code === "INVALID_INPUT", refused);
      await raw.restore(backend, name, []);
      for (const [k] of snapshot) await (await import("/t/integrity.js")).removeText(backend, name, backend === "indexeddb" ? k : k.slice(name.length + 1));
      return checks;
    }, backend);
    report(checks);
  });

  test(`${backend}: plaintext records from before encryption are sealed when encryption is turned on (at open, in one step); a store without encryption is then refused, and one opened before gets CORRUPT saying "encrypted"`, async () => {
    const checks = await page.evaluate(async ({ backend, marker }) => {
      const { checks, check } = checker();
      for (const kind of ["device", "key"]) {
        const name = `enc-migrate-${backend}-${kind}`;
        const plain = await wss.SessionStore.open({ backend, name, sweepIntervalMs: null });
        await plain.clear();
        await plain.create({ secret: marker, n: 1 }, { id: "old-a" });
        await plain.create({ secret: marker, n: 2 }, { id: "old-b" });
        const v1 = await raw.textOfId(backend, name, "old-a");
        check(`${kind}: before: plaintext "v":1 with the state`, JSON.parse(v1).v === 1 && v1.includes(marker), v1);

        const encryption = await raw.encryptionOf(kind);
        const enc = await wss.SessionStore.open({ backend, name, encryption, sweepIntervalMs: null });
        for (const id of ["old-a", "old-b"]) {
          const text = await raw.textOfId(backend, name, id);
          const parsed = JSON.parse(text);
          check(`${kind}: ${id} after the open: "v":3 with enc, no plaintext`, parsed.v === 3 && typeof parsed.enc === "string" && !("state" in parsed) && raw.leaks(text, marker).length === 0, text);
          check(`${kind}: ${id}: version and times kept`, parsed.version === 1 && parsed.createdAt === JSON.parse(v1).createdAt || id !== "old-a", parsed);
        }
        check(`${kind}: the encrypted store loads them`, same((await enc.load("old-a"))?.state, { secret: marker, n: 1 }));
        check(`${kind}: and get`, (await enc.get("old-b", "n")) === 2);
        check(`${kind}: loadMany`, same((await enc.loadMany(["old-a", "old-b"])).map((r) => r?.state.n), [1, 2]));
        check(`${kind}: ids`, same((await enc.ids()).sort(), ["old-a", "old-b"]));
        check(`${kind}: set`, (await enc.set("old-a", "n", 10)) === 2);
        const after = await raw.textOfId(backend, name, "old-a");

        // The instance without encryption opened before: its reads are CORRUPT, its writes refused.
        for (const [m, fn] of [["load", () => plain.load("old-a")], ["get", () => plain.get("old-a", "n")], ["loadMany", () => plain.loadMany(["old-b", "old-a"])]]) {
          const out = await call(fn);
          check(`${kind}: no encryption: ${m} of an encrypted record: CORRUPT saying "encrypted"`, out.error?.code === "CORRUPT" && /encrypted/i.test(out.error.message), out);
        }
        const setOut = await call(() => plain.set("old-a", "n", 11));
        check(`${kind}: no encryption: set refused (INVALID_INPUT: the store is encrypted)`, setOut.error?.code === "INVALID_INPUT", setOut);
        check(`${kind}: the encrypted record is untouched`, (await raw.textOfId(backend, name, "old-a")) === after);
        plain.close();
        const late = await call(() => wss.SessionStore.open({ backend, name, sweepIntervalMs: null }));
        check(`${kind}: a store without encryption opened now: INVALID_INPUT`, late.error?.code === "INVALID_INPUT" && /encrypted/.test(late.error.message), late);
        enc.close();
        const enc2 = await wss.SessionStore.open({ backend, name, encryption, sweepIntervalMs: null });
        check(`${kind}: the key still reads it`, same((await enc2.load("old-a"))?.state, { secret: marker, n: 10 }));
        await enc2.clear();
        enc2.close();
      }
      return checks;
    }, { backend, marker: MARKER });
    report(checks);
  });
}

/**
 * `n` new pages, each with the encrypted store open as `store`, `increment` loaded, and a fresh
 * counter session at `n: 0`: `{ pages, id }`. As tests/js/cross-tab.test.mjs, with encryption.
 */
async function openPages(n, backend, name, encryption) {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const p = await it.browser.page();
    await p.evaluate(async ({ backend, name, encryption }) => {
      const { wss } = await import("/t/checks.js");
      Object.assign(globalThis, await import("/t/increments.js"));
      globalThis.raw = await import("/t/at-rest.js");
      globalThis.store = await (await wss()).SessionStore.open({ backend, name, encryption, sweepIntervalMs: null });
      globalThis.progress = { done: 0, conflicts: 0 };
    }, { backend, name, encryption });
    pages.push(p);
  }
  const id = await pages[n - 1].evaluate(async () => {
    await store.clear();
    return (await store.create({ n: 0 }, { id: "counter" })).id;
  });
  return { pages, id };
}

for (const backend of ["indexeddb", "localstorage"]) {
  test(`${backend}, "device": 3 pages x 100 CAS increments on an encrypted session end at exactly 300, stored encrypted`, async () => {
    const { pages, id } = await openPages(3, backend, `enc-storm-${backend}`, "device");
    // The three start on one BroadcastChannel "go", not one WebDriver round trip apart.
    const go = `enc-storm-${backend}-go`;
    for (const p of pages) {
      await p.evaluate(({ id, go }) => { globalThis.storm = gate(go).then(() => increment(store, id, 100, { progress })); }, { id, go });
    }
    await pages[0].evaluate((name) => go(name), go);
    const results = [];
    for (const p of pages) results.push(await p.evaluate(() => storm, undefined, { timeout: 120_000 }));
    const finals = [];
    for (const p of pages) finals.push(await p.evaluate((id) => store.load(id), id));
    const stored = await pages[0].evaluate(({ backend, id }) => raw.textOfId(backend, "enc-storm-" + backend, id), { backend, id });
    const entries = await pages[0].evaluate((backend) => raw.keyEntriesOf(backend, "enc-storm-" + backend), backend);
    assert.deepEqual(results.map((r) => r.done), [100, 100, 100]);
    for (const final of finals) {
      assert.equal(final.state.n, 300, JSON.stringify(results));
      assert.equal(final.version, 301);
    }
    const parsed = JSON.parse(stored);
    assert.equal(parsed.v, 3, stored);
    assert.equal(typeof parsed.enc, "string");
    assert.equal(parsed.version, 301);
    assert.equal(entries.length, 1, `one device key for every page: ${entries}`);
    const conflicts = checkStorm(results);
    console.log(`# ${backend} encrypted: 300/300 with ${conflicts} conflicts retried`);
    for (const p of pages) await p.close();
  });

  test(`${backend}, "device": 3 pages write at once into a store with no key yet, and a page's clear() while another page holds the old key: every page reads every write`, async () => {
    const name = `enc-keyrace-${backend}`;
    const pages = [];
    for (let i = 0; i < 3; i++) {
      const p = await it.browser.page();
      await p.evaluate(async ({ backend, name }) => {
        const { wss, same } = await import("/t/checks.js");
        globalThis.same = same;
        globalThis.raw = await import("/t/at-rest.js");
        globalThis.store = await (await wss()).SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
      }, { backend, name });
      pages.push(p);
    }
    await pages[0].evaluate(() => store.clear());
    // No key exists: the three first writes start on one BroadcastChannel message (not one
    // WebDriver round trip apart), and each page notes when its write started and ended.
    const gate = `${name}-go`;
    for (const [i, p] of pages.entries()) {
      await p.evaluate(({ i, gate }) => {
        const channel = new BroadcastChannel(gate);
        const clock = () => performance.timeOrigin + performance.now();
        globalThis.first = new Promise((go) => { channel.onmessage = go; }).then(async () => {
          channel.close();
          const started = clock();
          await store.create({ page: i }, { id: `page-${i}` });
          return { started, ended: clock() };
        });
      }, { i, gate });
    }
    await pages[0].evaluate((gate) => { const c = new BroadcastChannel(gate); c.postMessage("go"); c.close(); }, gate);
    const firsts = [];
    for (const p of pages) firsts.push(await p.evaluate(() => first));
    // At once: pages raced to make the key (two writes at least were under way together).
    const raced = firsts.filter((w, i) => firsts.some((v, j) => i !== j && w.started < v.ended && v.started < w.ended)).length;
    const spread = Math.max(...firsts.map((w) => w.started)) - Math.min(...firsts.map((w) => w.started));
    console.log(`# ${backend}: the 3 first writes started within ${spread.toFixed(1)} ms, each took ${firsts.map((w) => (w.ended - w.started).toFixed(1)).join(", ")} ms; ${raced} of them overlapped another`);
    assert.ok(raced >= 2, `the first writes overlapped: ${JSON.stringify(firsts)}`);
    const entries = await pages[0].evaluate(({ backend, name }) => raw.keyEntriesOf(backend, name), { backend, name });
    assert.equal(entries.length, 1, `one key: ${entries}`);
    for (const [i, p] of pages.entries()) {
      const states = await p.evaluate(async () => (await store.loadMany(["page-0", "page-1", "page-2"])).map((r) => r?.state), undefined);
      assert.deepEqual(states, [{ page: 0 }, { page: 1 }, { page: 2 }], `page ${i} reads every page's first write`);
    }
    // Page 0 clears (destroying the key) while pages 1 and 2 hold it; page 1 writes next, then 2, then 0.
    await pages[0].evaluate(() => store.clear());
    for (const [i, p] of [[1, pages[1]], [2, pages[2]], [0, pages[0]]]) {
      await p.evaluate((i) => store.save(`after-${i}`, { after: i }), i);
    }
    for (const [i, p] of pages.entries()) {
      const out = await p.evaluate(async () => {
        const settle = (await import("/t/at-rest.js")).settle;
        return Promise.all(["after-0", "after-1", "after-2"].map((id) => settle(store.load(id))));
      });
      assert.deepEqual(out, [{ value: out[0].value }, { value: out[1].value }, { value: out[2].value }], `page ${i}: ${JSON.stringify(out)}`);
      assert.deepEqual(out.map((o) => o.value?.state), [{ after: 0 }, { after: 1 }, { after: 2 }], `page ${i} reads every write after the clear`);
    }
    const fresh = await it.browser.page();
    const read = await fresh.evaluate(async ({ backend, name }) => {
      const { wss } = await import("/t/checks.js");
      const s = await (await wss()).SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
      const out = (await s.loadMany(["after-0", "after-1", "after-2"])).map((r) => r?.state);
      await s.clear();
      s.close();
      return out;
    }, { backend, name });
    assert.deepEqual(read, [{ after: 0 }, { after: 1 }, { after: 2 }], "a new page reads them all");
    for (const p of [...pages, fresh]) await p.close();
  });
}

test("localstorage: what crosses between pages (BroadcastChannel: the leader protocol and the change feed) carries no plaintext", async () => {
  const name = "enc-wire";
  const pages = [];
  for (let i = 0; i < 2; i++) {
    const p = await it.browser.page();
    await p.evaluate(async ({ name }) => {
      // Every message any BroadcastChannel of this page posts, as text (bytes as Latin-1).
      globalThis.posted = [];
      const text = (v) => JSON.stringify(v, (k, x) => {
        if (x instanceof ArrayBuffer) x = new Uint8Array(x);
        if (ArrayBuffer.isView(x)) return String.fromCharCode(...new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
        if (x instanceof Map || x instanceof Set) return [...x];
        return x;
      });
      const post = BroadcastChannel.prototype.postMessage;
      BroadcastChannel.prototype.postMessage = function (message) {
        posted.push(`${this.name}: ${text(message)}`);
        return post.call(this, message);
      };
      const { wss } = await import("/t/checks.js");
      globalThis.raw = await import("/t/at-rest.js");
      globalThis.events = [];
      globalThis.store = await (await wss()).SessionStore.open({ backend: "localstorage", name, encryption: "device", sweepIntervalMs: null });
      store.subscribe((e) => events.push(e));
    }, { name });
    pages.push(p);
  }
  const [leader, follower] = pages;
  await leader.evaluate(() => store.clear());
  // The follower's writes go through the leader.
  const id = await follower.evaluate(async (marker) => {
    const r = await store.create({ secret: marker });
    await store.set(r.id, "more", marker);
    await store.saveIfVersion(r.id, { secret: marker, v: 3 }, 2);
    await store.saveMany([{ id: "many", state: { secret: marker } }]);
    await store.changeId("many", "many-renamed");
    return r.id;
  }, MARKER);
  const seen = await leader.evaluate(async (id) => (await store.load(id))?.state, id);
  assert.deepEqual(seen, { secret: MARKER, v: 3 }, "the leader page reads the follower's write");
  await leader.evaluate((marker) => store.save("by-leader", { secret: marker }), MARKER);
  await follower.waitFor(() => events.some((e) => e.id === "by-leader"));
  await leader.waitFor((id) => events.some((e) => e.id === id), id);
  for (const [label, p] of [["leader", leader], ["follower", follower]]) {
    const out = await p.evaluate((marker) => ({
      posted, events,
      leaks: posted.flatMap((m) => raw.leaks(m, marker)),
      eventLeaks: raw.leaks(JSON.stringify(events), marker),
      storage: raw.leaks(JSON.stringify(Object.entries(localStorage)), marker),
    }), MARKER);
    assert.ok(out.posted.length > 0, `${label}: posted BroadcastChannel messages (else this checks nothing)`);
    assert.deepEqual(out.leaks, [], `${label}: a message carried the plaintext: ${out.posted.filter((m) => m.includes(MARKER)).slice(0, 3).join("\n")}`);
    assert.deepEqual(out.eventLeaks, [], `${label}: events carry no state`);
    assert.ok(out.events.every((e) => !("state" in e)), `${label}: no event has a state`);
    assert.deepEqual(out.storage, [], `${label}: localStorage holds no plaintext`);
  }
  await follower.evaluate(() => store.clear());
  for (const p of pages) await p.close();
});

test('workers: an encrypted ("device") IndexedDB store in a dedicated worker and in a service worker: each reads what the page wrote, and the page what it wrote', async () => {
  const p = await it.browser.page();
  await p.evaluate(setUpPage);
  const results = {};
  for (const where of ["dedicated worker", "service worker"]) {
    const name = `enc-${where.replace(" ", "-")}`;
    const out = await p.evaluate(async ({ where, name, marker }) => {
      const store = await wss.SessionStore.open({ backend: "indexeddb", name, encryption: "device", sweepIntervalMs: null });
      await store.clear();
      const pageRecord = await store.create({ from: "page", secret: marker });
      store.close();
      const message = { name, pageId: pageRecord.id, marker };
      let reply;
      if (where === "dedicated worker") {
        reply = await new Promise((resolve, reject) => {
          const worker = new Worker("/t/at-rest-worker.js", { type: "module" });
          worker.onmessage = (e) => { worker.terminate(); resolve(e.data); };
          worker.onerror = (e) => { e.preventDefault(); worker.terminate(); reject(new Error(`worker: ${e.message}`)); };
          worker.postMessage(message);
        });
      } else {
        const registration = await navigator.serviceWorker.register("/t/at-rest-sw.js", { type: "module", scope: "/t/at-rest-sw-scope/" });
        const worker = registration.installing ?? registration.waiting ?? registration.active;
        if (worker.state !== "activated") {
          await new Promise((resolve, reject) => worker.addEventListener("statechange", () => {
            if (worker.state === "activated") resolve();
            if (worker.state === "redundant") reject(new Error("the service worker failed to install"));
          }));
        }
        reply = await new Promise((resolve) => {
          const channel = new MessageChannel();
          channel.port1.onmessage = (e) => resolve(e.data);
          worker.postMessage(message, [channel.port2]);
        });
        await registration.unregister();
      }
      // The page, with a new instance, reads what the worker wrote.
      const again = await wss.SessionStore.open({ backend: "indexeddb", name, encryption: "device", sweepIntervalMs: null });
      const seen = {
        workers: await outcome(again.load("from-worker")),
        mine: await outcome(again.load(pageRecord.id)),
      };
      const texts = await raw.texts("indexeddb", name);
      const pageSide = {
        leaks: Object.values(texts.records).flatMap((t) => raw.leaks(t, marker)),
        formats: Object.values(texts.records).map((t) => JSON.parse(t).v),
        entries: await raw.keyEntriesOf("indexeddb", name),
      };
      await again.clear();
      again.close();
      return { reply, pageRecord, seen, pageSide };
    }, { where, name, marker: MARKER }, { timeout: 60_000 });
    results[where] = out;
    const { reply, pageRecord, seen, pageSide } = out;
    assert.equal(reply.error, undefined, `${where}: ${reply.error}`);
    assert.deepEqual(reply.read, pageRecord, `${where} reads what the page wrote`);
    assert.equal(reply.setVersion, 2, `${where}: set on the page's record`);
    assert.deepEqual(reply.loadedBack.state, { from: "worker", secret: MARKER }, `${where} reads its own write`);
    assert.deepEqual(reply.rawLeaks, [], `${where}: no plaintext in the records`);
    assert.deepEqual(reply.rawFormats, [3, 3], `${where}: both records encrypted`);
    assert.deepEqual(reply.keyEntries, [`indexeddb:${name}`], `${where}: one device key, the page's`);
    assert.deepEqual(seen.workers.value?.state, { from: "worker", secret: MARKER }, `the page reads what the ${where} wrote: ${JSON.stringify(seen.workers)}`);
    assert.deepEqual(seen.mine.value?.state, { from: "page", secret: MARKER, seenBy: `worker ${MARKER}` }, `the page reads the ${where}'s change of its record: ${JSON.stringify(seen.mine)}`);
    assert.deepEqual(pageSide.leaks, []);
    assert.deepEqual(pageSide.formats, [3, 3]);
    assert.deepEqual(pageSide.entries, [`indexeddb:${name}`]);
  }
  await p.close();
});

test("README-style: a key derived with PBKDF2 from a passphrase opens the store; the same passphrase reads it back, another one is refused", async () => {
  const p = await it.browser.page();
  const out = await p.evaluate(async () => {
    const { wss, outcome } = await import("/t/checks.js");
    const { SessionStore } = await wss();
    // What an app does: a random salt kept next to the data (not secret), the passphrase never stored.
    async function keyFrom(passphrase, salt) {
      const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "PBKDF2", hash: "SHA-256", salt, iterations: 600_000 },
        material,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    }
    const salt = crypto.getRandomValues(new Uint8Array(16));
    localStorage.setItem("enc-readme-salt", btoa(String.fromCharCode(...salt)));
    const started = performance.now();
    const key = await keyFrom("correct horse battery staple", salt);
    const ms = performance.now() - started;
    const store = await SessionStore.open({ name: "enc-readme", encryption: { key } });
    await store.clear();
    const session = await store.create({ user: "ada", cart: ["apple"] });
    await store.set(session.id, "coupon", "SPRING");
    const backend = store.backend;
    store.close();

    const savedSalt = Uint8Array.from(atob(localStorage.getItem("enc-readme-salt")), (c) => c.charCodeAt(0));
    const again = await SessionStore.open({ name: "enc-readme", encryption: { key: await keyFrom("correct horse battery staple", savedSalt) } });
    const back = await again.load(session.id);
    again.close();
    const wrong = await outcome(SessionStore.open({ name: "enc-readme", encryption: { key: await keyFrom("correct horse battery stable", savedSalt) } }));
    const cleanup = await SessionStore.open({ name: "enc-readme", encryption: { key } });
    await cleanup.clear();
    cleanup.close();
    return { backend, state: back?.state, version: back?.version, wrong: wrong.error ?? "opened", ms };
  }, undefined, { timeout: 120_000 });
  assert.equal(out.backend, "indexeddb");
  assert.deepEqual(out.state, { user: "ada", cart: ["apple"], coupon: "SPRING" });
  assert.equal(out.version, 2);
  assert.equal(out.wrong.code, "INVALID_INPUT", JSON.stringify(out.wrong));
  console.log(`# ${ENGINE}: PBKDF2-SHA-256 x 600000 took ${Math.round(out.ms)} ms`);
  await p.close();
});

for (const backend of ["indexeddb", "localstorage"]) {
  test(`${backend}, "device": a save of a record another instance wrote (its version unknown to the saver; one by one and in a saveMany) succeeds once, at the next version`, async () => {
    const log = await page.evaluate(async (backend) => {
      const name = `enc-unseen-${backend}-${Math.random().toString(36).slice(2, 8)}`;
      const open = () => wss.SessionStore.open({ backend, name, encryption: "device", sweepIntervalMs: null });
      const [a, b] = [await open(), await open()];
      const out = [];
      const r = await a.create({ n: 0 });
      await a.set(r.id, "n", 1);
      out.push(await b.save(r.id, { n: 2 })); // b guesses version 1; the store holds 2
      const ids = [];
      for (let i = 0; i < 70; i++) ids.push((await a.create({ i })).id);
      for (const id of ids) await a.set(id, "seen", true);
      out.push(await a.save(ids[0], { i: "again" })); // a saw it: its guess is right
      const many = await b.saveMany(ids.slice(0, 5).map((id) => ({ id, state: { many: true } })));
      out.push(many.map((m) => m.ok && m.version));
      const back = await a.load(r.id);
      out.push([back.version, back.state]);
      await a.clear();
      a.close();
      b.close();
      return out;
    }, backend);
    assert.deepEqual(log, [3, 3, [4, 3, 3, 3, 3], [3, { n: 2 }]]);
  });
}
