// Chromium only: IndexedDB's quota, which only the DevTools protocol can set
// (Storage.overrideQuotaForOrigin); Firefox and WebKit offer no way for a test to shrink an
// origin's quota. (localStorage and sessionStorage quota, which a page can fill itself, is tested
// in every engine in tests/js/api.test.mjs.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { launch } from "../../../scripts/browser.mjs";

test("indexeddb: QUOTA_EXCEEDED when the origin's quota (set through CDP) is used up; every record stays intact, and writes work again with room", async () => {
  // A browser of its own: Chromium applies Storage.overrideQuotaForOrigin reliably only when it
  // comes before the origin's first storage use (probed: set after data existed, it was not
  // enforced).
  const own = await launch();
  try {
    const page = await own.context.newPage();
    const cdp = await own.context.newCDPSession(page);
    const origin = new URL(own.url).origin;
    const quota = async (quotaSize) => {
      await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize });
      assert.equal((await cdp.send("Storage.getUsageAndQuota", { origin })).quota, quotaSize);
    };
    await quota(1024 * 1024);
    await page.goto(own.url + "t/test.html");
    const run = (step) => page.evaluate(async (step) => {
      const wss = await import("wasm-session-store");
      await wss.default();
      // Random hex does not compress, so it costs its size on disk (a repeated character
      // would be compressed away and never reach the quota). getRandomValues gives at most
      // 64 KiB a call.
      const noise = (kib) => Array.from({ length: kib / 32 }, () => Array.from(crypto.getRandomValues(new Uint8Array(16384)), (b) => b.toString(16).padStart(2, "0")).join("")).join("");
      const store = globalThis.quotaStore ??= await wss.SessionStore.open({ backend: "indexeddb", name: "quota", ttlMs: null, sweepIntervalMs: null });
      const { snapshot, recordEvents } = await import("/t/watch.js");
      const attempt = async (label, fn) => {
        try { await fn(); return `${label}: written`; } catch (e) { return `${label}: ${e.code}`; }
      };
      if (step === "fill") {
        // Sessions of 64 KiB until the quota refuses one; those written so far are the
        // records that must survive every refused write below.
        let written = 0, refused;
        while (!refused && written < 64) {
          try { await store.create({ i: written, blob: noise(64) }, { id: `s${written}` }); written++; } catch (e) { refused = e; }
        }
        const { same } = await import("/t/checks.js");
        const before = await snapshot(store);
        const recording = recordEvents(store);
        const outcomes = [
          `create: ${refused?.code}`,
          await attempt("save 512 KiB over s0", () => store.save("s0", { blob: noise(512) })),
          await attempt("saveIfVersion 512 KiB over s1", () => store.saveIfVersion("s1", { blob: noise(512) }, 1)),
          await attempt("set a 512 KiB key on s2", () => store.set("s2", "extra", noise(512))),
          await attempt("saveMany s3 small + s4 512 KiB", () => store.saveMany([{ id: "s3", state: { small: 1 } }, { id: "s4", state: { blob: noise(512) } }])),
          await attempt("save 10 MiB over s5", () => store.save("s5", { blob: noise(10 * 1024) })),
        ];
        const after = await snapshot(store);
        const events = await recording.settle(`s${written - 1}`);
        return { written, outcomes, intact: same(after, before), events };
      }
      // "room": the quota was raised; the same writes now go through.
      const v = await store.save("s0", { blob: noise(512) });
      const many = await store.saveMany([{ id: "s3", state: { small: 1 } }, { id: "s4", state: { blob: noise(512) } }]);
      return { v, many: many.map((r) => r.ok && r.version), s3: (await store.load("s3")).state };
    }, step);

    const full = await run("fill");
    assert.ok(full.written >= 4, `only ${full.written} sessions fit in 1 MiB`);
    assert.deepEqual(full.outcomes, [
      "create: QUOTA_EXCEEDED",
      "save 512 KiB over s0: QUOTA_EXCEEDED",
      "saveIfVersion 512 KiB over s1: QUOTA_EXCEEDED",
      "set a 512 KiB key on s2: QUOTA_EXCEEDED",
      "saveMany s3 small + s4 512 KiB: QUOTA_EXCEEDED",
      "save 10 MiB over s5: QUOTA_EXCEEDED",
    ]);
    assert.ok(full.intact, "a refused write changed a stored record");
    assert.deepEqual(full.events, [`deleted s${full.written - 1}`], "a refused write was announced");
    await quota(64 * 1024 * 1024);
    const room = await run("room");
    assert.deepEqual(room, { v: 2, many: [2, 2], s3: { small: 1 } });
    console.log(`# indexeddb quota 1 MiB: ${full.written} sessions of 64 KiB fitted; 6 refused writes (up to 10 MiB), QUOTA_EXCEEDED each, all ${full.written} records intact; with room the same writes succeed`);
  } finally {
    await own.close();
  }
});
