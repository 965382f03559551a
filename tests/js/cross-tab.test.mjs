// Several pages of one browser (tabs of one origin) hammering one session with compare-and-swap
// increments, in each engine (WSS_ENGINE): no update may be lost, on IndexedDB or on
// localStorage (where a Web Lock alone ended at 233, 198 and 216 of 300: see README.md,
// "localStorage across tabs"), also when the localStorage leader page closes in the middle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBrowser, checkStorm } from "./helpers.mjs";

const it = useBrowser();

/**
 * `n` pages, each with the store open as `store` and `increment` / `holdsLock` loaded, and a
 * fresh counter session at `n: 0`: `{ pages, id }`.
 */
async function openPages(n, backend, name) {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await it.browser.page();
    await page.evaluate(async ({ backend, name }) => {
      const { wss } = await import("/t/checks.js");
      Object.assign(globalThis, await import("/t/increments.js"));
      globalThis.store = await (await wss()).SessionStore.open({ backend, name, sweepIntervalMs: null });
      globalThis.progress = { done: 0, conflicts: 0 };
    }, { backend, name });
    pages.push(page);
  }
  const id = await pages[n - 1].evaluate(async () => {
    await store.clear();
    return (await store.create({ n: 0 }, { id: "counter" })).id;
  });
  return { pages, id };
}

/**
 * Starts `rounds` increments in the page, or, with `gate`, arms them to start on that
 * BroadcastChannel's "go" (`go(name)` in a page); the result is awaited later with `stormResult`.
 */
const startStorm = (page, id, rounds, lock, gate) => page.evaluate(({ id, rounds, lock, gate: name }) => {
  globalThis.storm = (name ? gate(name) : Promise.resolve()).then(() => increment(store, id, rounds, { progress, lock }));
}, { id, rounds, lock, gate });
const stormResult = (page) => page.evaluate(() => storm, undefined, { timeout: 120_000 });
const progressOf = (page) => page.evaluate(() => ({ ...progress }));

for (const [backend, lock] of [["localstorage", undefined], ["localstorage", "test-turns"], ["indexeddb", undefined], ["indexeddb", "test-turns"]]) {
  test(`${backend}: 3 pages x 100 CAS increments end at exactly 300${lock ? ", taking turns under a Web Lock" : ""}`, async () => {
    const name = `storm-${backend}-${!!lock}`;
    const { pages, id } = await openPages(3, backend, name);
    // The three start on one "go", not one WebDriver round trip apart.
    for (const p of pages) await startStorm(p, id, 100, lock, `${name}-go`);
    await pages[0].evaluate((name) => go(name), `${name}-go`);
    const results = [];
    for (const p of pages) results.push(await stormResult(p));
    const final = await pages[2].evaluate((id) => store.load(id), id);
    assert.deepEqual(results.map((r) => r.done), [100, 100, 100]);
    assert.equal(final.state.n, 300, JSON.stringify(results));
    assert.equal(final.version, 301);
    const conflicts = checkStorm(results, { lock });
    console.log(`# ${backend}${lock ? " (Web Lock turns)" : ""}: 300/300 with ${conflicts} conflicts retried`);
    for (const p of pages) await p.close();
  });
}

test("localstorage: the leader page finishes its 100 and closes while the 2 others are mid-storm; 3 x 100 = exactly 300", async () => {
  const name = "storm-handover";
  const { pages, id } = await openPages(3, "localstorage", name);
  // The first page opened its store first: it holds the leader lock (asserted, not assumed).
  const leaderLock = `wasm-session-store:${name}:leader`;
  const leads = [];
  for (const p of pages) leads.push(await p.evaluate((lock) => holdsLock(lock), leaderLock));
  assert.deepEqual(leads, [true, false, false], "page 0 leads");
  const [leader, ...others] = pages;
  // The three take turns under a test-side Web Lock (granted in request order), and the others
  // start once the leader is halfway: so when the leader is done, each of the others is about
  // halfway through its own 100, with a request in flight. (Without turns the leader's own
  // increments were starved: a follower did 100 while the leader did 20.)
  const turns = "handover-turns";
  await startStorm(leader, id, 100, turns);
  await leader.waitFor(() => progress.done >= 50);
  for (const p of others) await startStorm(p, id, 100, turns);
  const led = await stormResult(leader);
  assert.equal(led.done, 100);
  await leader.close();
  const atClose = [];
  for (const p of others) atClose.push((await progressOf(p)).done);
  assert.ok(atClose.every((done) => done < 100), `the others were still storming after the leader closed: ${atClose}`);
  const rest = [];
  for (const p of others) rest.push(await stormResult(p));
  assert.deepEqual(rest.map((r) => r.done), [100, 100]);
  const newLeader = [];
  for (const p of others) newLeader.push(await p.evaluate((lock) => holdsLock(lock), leaderLock));
  assert.equal(newLeader.filter(Boolean).length, 1, `one of the others took over: ${newLeader}`);
  const final = await others[0].evaluate((id) => store.load(id), id);
  assert.equal(final.state.n, 300, JSON.stringify({ led, atClose, rest }));
  assert.equal(final.version, 301);
  console.log(`# leader closed after its 100 with the others at ${atClose.join(" and ")} of 100: 300/300`);
  for (const p of others) await p.close();
});

test("localstorage: under full contention (no turns) the leader closes after its 20 while another page is mid-storm: exactly 20 + 2 x 200", async () => {
  // The contention under which the handover once lost an answer (RELIABILITY.md, "Bugs found
  // and fixed"): every page sends as fast as it can, so requests are in flight at the close.
  const name = "storm-handover-contended";
  const { pages, id } = await openPages(3, "localstorage", name);
  const leaderLock = `wasm-session-store:${name}:leader`;
  assert.equal(await pages[0].evaluate((lock) => holdsLock(lock), leaderLock), true, "page 0 leads");
  const [leader, ...others] = pages;
  for (const p of others) await startStorm(p, id, 200);
  await startStorm(leader, id, 20);
  const led = await stormResult(leader);
  await leader.close();
  const atClose = [];
  for (const p of others) atClose.push((await progressOf(p)).done);
  // Under contention the pages do not get equal turns (one follower was seen doing its 200
  // while the other did 7): at least one is still storming.
  assert.ok(atClose.some((done) => done < 200), `another page was still storming after the leader closed: ${atClose}`);
  const rest = [];
  for (const p of others) rest.push(await stormResult(p));
  const final = await others[0].evaluate((id) => store.load(id), id);
  assert.equal(led.done, 20);
  assert.deepEqual(rest.map((r) => r.done), [200, 200]);
  assert.equal(final.state.n, 420, JSON.stringify({ led, atClose, rest }));
  assert.equal(final.version, 421);
  console.log(`# contended: leader closed after its 20 with the others at ${atClose.join(" and ")} of 200: 420/420`);
  for (const p of others) await p.close();
});
