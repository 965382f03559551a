// A smoke run of the benchmark harness (bench/run.mjs) with tiny counts, so it never rots: every
// workload runs for every contender, the results and BENCHMARKS.md can be built from them.
// Timings here mean nothing (a handful of operations on a shared machine) and are not checked.
// Chromium only: the harness times in Chromium, as BENCHMARKS.md does. The sync rows flush to a
// real wss-server (built by scripts/build-server.sh), and each flushed session must have taken
// exactly one request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { abRows, markdown, runBench, shuffled, SMOKE } from "../../../bench/run.mjs";

test("the benchmark harness runs every workload for every contender", async (t) => {
  const results = await runBench(SMOKE, { say: (line) => t.diagnostic(line) });
  // [contenders, workloads] of each family.
  const families = { indexeddb: [5, 9], storage: [4, 9], memory: [2, 2], sync: [2, 1] };
  for (const [family, [contenders, workloads]] of Object.entries(families)) {
    const rows = results.results.filter((r) => r.family === family);
    const rawOf = (row) => rows.find((r) => r.workload === row.workload && r.contender === "raw").medianMs;
    assert.equal(rows.length, workloads * contenders, `${family}: ${workloads} workloads × ${contenders} contenders`);
    for (const row of rows) {
      // A median of 0 (below the 0.1 ms timer resolution) gives no ratio, never NaN.
      const ratioOk = row.ratioVsRaw === null ? row.medianMs === 0 || rawOf(row) === 0 : Number.isFinite(row.ratioVsRaw) && row.ratioVsRaw > 0;
      assert.ok(row.medianMs >= 0 && row.ops > 0 && ratioOk, JSON.stringify(row));
    }
  }
  assert.equal(results.coldStart.wss.runsMs.length, SMOKE.cold);
  assert.ok(results.sizes["wasm-session-store"] > 10_000 && results.sizes["idb-keyval"] > 0 && results.sizes.localForage > 0);
  // Issue 16's targets: size, 5 single operations, 2 saveMany, loadMany, deleteExpired, the two
  // Web Storage backends, the memory backend's load and save, cold start; then issue 18's
  // encryption rows: load and save (goals), create, saveIfVersion, set, loadMany, saveMany and
  // localStorage's worst operation (informative: goal "-", met null); issue 29's flush against
  // raw fetch, and its requests per session.
  assert.equal(results.targets.length, 25);
  // One request per session flushed (a PUT with If-Match), every answer a 200.
  for (const contender of ["raw", "wss"]) {
    const flush = results.results.find((r) => r.family === "sync" && r.contender === contender);
    assert.deepEqual(flush.requests.perSession, [1], `${contender}: ${JSON.stringify(flush.requests)}`);
    assert.deepEqual(flush.requests.statuses, { 200: SMOKE.n }, `${contender}: ${JSON.stringify(flush.requests)}`);
  }
  for (const target of results.targets) {
    const informative = target.goal === "-" && target.met === null;
    assert.ok(informative || (typeof target.met === "boolean" && target.goal), JSON.stringify(target));
  }
  const md = markdown(results);
  assert.match(md, /^# Benchmarks/);
  assert.ok(md.includes(`| saveMany (${SMOKE.n}) | wss |`), md);
  assert.ok(md.includes(`| save (${SMOKE.n}) | wss-enc |`), md);
  assert.ok(md.includes(`| flush dirty sessions (${SMOKE.n}) | wss |`), md);
});

test("each round's order is shuffled, the same for the same round; the A/B ratio cancels which of the pair went first", () => {
  const all = ["raw", "wss", "wss-enc", "wss-session", "wss-base"];
  const orders = [1, 2, 3, 4, 5, 6, 7].map((round) => shuffled(all, round));
  for (const order of orders) assert.deepEqual([...order].sort(), [...all].sort(), "a permutation");
  assert.deepEqual(shuffled(all, 3), orders[2], "the same for the same round");
  assert.ok(new Set(orders.map((o) => o.join())).size >= 5, `orders differ between rounds: ${orders.map((o) => o.join(" ")).join(" | ")}`);
  assert.ok(orders.some((o) => o.indexOf("wss") !== o.indexOf("raw") + 1), "wss does not always follow raw");

  // wss went first in rounds 1, 3, 5, 7 (even indexes); whichever goes first is 25% slower.
  const row = (contender, runsMs) => ({ family: "storage", workload: "create", contender, runsMs, medianMs: runsMs[0] });
  const same = [row("wss", [50, 40, 50, 40, 50, 40, 50]), row("wss-base", [40, 50, 40, 50, 40, 50, 40])];
  assert.equal(abRows(same)[0].ratio, 1, "as fast, whatever went first");
  const slower = [row("wss", [55, 44, 55, 44, 55, 44, 55]), row("wss-base", [40, 50, 40, 50, 40, 50, 40])];
  assert.equal(abRows(slower)[0].ratio, 0.91, "10% slower");
});
