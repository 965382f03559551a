// Inlines wasm-bindgen's JS snippets (the files of `#[wasm_bindgen(module = "/...")]`) into the
// JS glue and deletes pkg/snippets/, so the package stays one JS file and one wasm file.
// A snippet may only `export [async] function name(...)`, with no imports of its own; anything else
// fails the build rather than shipping a glue that cannot load.
// Usage: node scripts/inline-snippets.mjs pkg/wasm_session_store.js
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";

const gluePath = process.argv[2];
const dir = dirname(gluePath);
let glue = readFileSync(gluePath, "utf8");
const imports = [...glue.matchAll(/^import \{ ([\w, ]+) \} from '(\.\/snippets\/[^']+)';\n/gm)];
const inlined = [];
for (const [line, names, path] of imports) {
  const source = readFileSync(join(dir, path), "utf8");
  if (/^\s*import\b/m.test(source)) throw new Error(`${path}: a snippet must not import`);
  const exported = [...source.matchAll(/^export (?:async )?function (\w+)/gm)].map((m) => m[1]);
  for (const name of names.split(", ")) {
    if (!exported.includes(name)) throw new Error(`${path}: no \`export function ${name}\``);
  }
  glue = glue.replace(line, "");
  inlined.push(source.replace(/^export (async )?function /gm, "$1function "));
}
// Functions the wasm imports directly (no JS shim between) come as a namespace import, and
// stay reachable by that name: an object of the inlined functions of that file.
glue = glue.replace(/^import \* as (\w+) from "(\.\/snippets\/[^"]+)"\n/gm, (line, local, path) => {
  const source = readFileSync(join(dir, path), "utf8");
  if (!imports.some((i) => i[2] === path)) {
    if (/^\s*import\b/m.test(source)) throw new Error(`${path}: a snippet must not import`);
    inlined.push(source.replace(/^export (async )?function /gm, "$1function "));
  }
  const names = [...source.matchAll(/^export (?:async )?function (\w+)/gm)].map((m) => m[1]);
  return `const ${local} = { ${names.join(", ")} };\n`;
});
if (/\.\/snippets\//.test(glue.replace(/^\s*"\.\/snippets\/[^"]+": import\d+,$/gm, ""))) {
  throw new Error("a snippet import was left in the glue");
}
writeFileSync(gluePath, inlined.join("\n") + glue);
rmSync(join(dir, "snippets"), { recursive: true, force: true });
console.log(`inlined ${imports.length} snippet file(s) into ${gluePath}`);
