// Prints the gzipped (level 9) size of what users download from pkg/: the .wasm and the JS glue.
// With --budget N (bytes), exits non-zero when the total exceeds N.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";

const dir = new URL("../pkg/", import.meta.url);
// The .wasm is in a folder of its own (pkg/wasm-session-store/: scripts/locate-wasm.mjs).
const files = readdirSync(dir, { recursive: true }).filter((f) => f.endsWith(".wasm") || (f.endsWith(".js"))).sort();
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
