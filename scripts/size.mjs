// Prints the gzipped (level 9) size of what users download from pkg/: the .wasm and the JS glue.
// With --budget N (bytes), exits non-zero when the total exceeds N.
// It counts exactly those two files, and fails when pkg/ holds any other .js or .wasm (a
// snippet file, a second module: bytes users download that the budget would not see) or
// lacks one of them.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";

const dir = new URL("../pkg/", import.meta.url);
// The .wasm is in a folder of its own (pkg/wasm-session-store/: scripts/locate-wasm.mjs).
const EXPECTED = ["wasm-session-store/wasm_session_store_bg.wasm", "wasm_session_store.js"];
const files = readdirSync(dir, { recursive: true }).filter((f) => f.endsWith(".wasm") || (f.endsWith(".js"))).sort();
if (files.join() !== EXPECTED.join()) {
  console.error(`size: pkg/ should hold exactly ${EXPECTED.join(" and ")} (.wasm and .js), found: ${files.join(", ") || "none"}`);
  process.exit(1);
}
let total = 0;
const rows = files.map((f) => {
  const raw = readFileSync(new URL(f, dir));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  return `  ${f.padEnd(46)} ${String(raw.length).padStart(8)} B raw ${String(gz).padStart(8)} B gzip`;
});
console.log(`pkg/ size:\n${rows.join("\n")}\n  ${"total".padEnd(46)} ${"".padStart(15)} ${String(total).padStart(8)} B gzip (${(total / 1024).toFixed(1)} KiB)`);
const i = process.argv.indexOf("--budget");
if (i > 0) {
  const budget = Number(process.argv[i + 1]);
  if (total > budget) {
    console.error(`size budget exceeded: ${total} B gzip > ${budget} B`);
    process.exit(1);
  }
  console.log(`size budget: ${total} B <= ${budget} B`);
}
