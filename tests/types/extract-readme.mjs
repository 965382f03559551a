// Writes each ```ts block of README.md to tests/types/readme-N.ts (git-ignored), so that
// `tsc -p tests/types` checks the README's TypeScript example with the typed usage file.
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";

const here = new URL("./", import.meta.url);
for (const f of readdirSync(here)) if (/^readme-\d+\.ts$/.test(f)) rmSync(new URL(f, here));
const lines = readFileSync(new URL("../../README.md", import.meta.url), "utf8").split("\n");
let n = 0;
for (let i = 0; i < lines.length; i++) {
  if (lines[i].trim() !== "```ts") continue;
  const body = [];
  while (lines[++i].trim() !== "```") body.push(lines[i]);
  writeFileSync(new URL(`readme-${++n}.ts`, here), `// From README.md (generated; do not edit).\n${body.join("\n")}\n`);
}
if (n === 0) throw new Error("README.md has no ```ts block");
console.log(`README.md: ${n} TypeScript block(s) extracted for tsc`);
