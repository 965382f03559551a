// Renames the wasm module's imports to short names, in the .wasm and in wasm-bindgen's JS glue
// alike: `"./wasm_session_store_bg.js"."__wbg_getAllKeys_f22cbedeec86b411"` becomes `"w"."a"`.
// The generated names carry a 64-bit hash each, which gzip cannot squeeze: ~4 KB gzipped of
// the package. (binaryen's --minify-imports only renames Emscripten's "env" imports.)
// Exports the glue reaches only as `wasm.<name>` (or, for closure shims, also by a local
// function of the same name) are shortened the same way (in the .wasm, the glue and the
// .wasm's own .d.ts).
//   node scripts/shorten-imports.mjs pkg/wasm_session_store_bg.wasm pkg/wasm_session_store.js \
//     pkg/wasm_session_store_bg.wasm.d.ts
// Fails, changing nothing, unless every import is found in the glue exactly once.
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, jsPath, dtsPath] = process.argv.slice(2);
const wasm = readFileSync(wasmPath);
let js = readFileSync(jsPath, "utf8");

const MODULE = "w";
const escape = (s) => s.replace(/[$]/g, "\\$");

/** Reads an unsigned LEB128 at `at`: [value, next offset]. */
function uleb(bytes, at) {
  let value = 0, shift = 0, byte;
  do {
    byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

function encodeUleb(value) {
  const out = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return Buffer.from(out);
}

/** Reads a name (length-prefixed UTF-8) at `at`: [text, next offset]. */
function readName(at) {
  const [length, from] = uleb(wasm, at);
  return [wasm.toString("utf8", from, from + length), from + length];
}

/** A section: its id, its byte length, its content. */
const section = (id, parts) => {
  const content = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([id]), encodeUleb(content.length), content]);
};

/** Every use of `name` as a whole identifier in JS source. */
const word = (name) => new RegExp(`(?<![\\w$])${escape(name)}(?![\\w$])`, "g");

const encodeName = (text) => {
  const bytes = Buffer.from(text, "utf8");
  return Buffer.concat([encodeUleb(bytes.length), bytes]);
};

/** Short identifiers: a..z, A..Z, then two characters, and so on. */
function shortName(n) {
  const first = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const rest = first + "0123456789_";
  let name = first[n % first.length];
  n = Math.floor(n / first.length);
  while (n > 0) {
    n -= 1;
    name += rest[n % rest.length];
    n = Math.floor(n / rest.length);
  }
  return name;
}

if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${wasmPath} is not a wasm module`);
const parts = [wasm.subarray(0, 8)];
const renamed = new Map();
/** The inlined snippets' functions the wasm imports (each under its snippet's module): short name -> function. */
const snippets = new Map();
const exported = new Map();
let at = 8;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, bodyAt] = uleb(wasm, at + 1);
  const end = bodyAt + size;
  if (id === 2) parts.push(importSection(bodyAt, end));
  else if (id === 7) parts.push(exportSection(bodyAt, end));
  else parts.push(wasm.subarray(at, end));
  at = end;
}

/** The import section, a vector of (module, field, description), with our imports shortened. */
function importSection(bodyAt, end) {
  const [count, first] = uleb(wasm, bodyAt);
  let p = first;
  const body = [encodeUleb(count)];
  for (let i = 0; i < count; i++) {
    const [module, afterModule] = readName(p);
    const [field, afterField] = readName(afterModule);
    // The description runs to the next entry; its length depends on its kind.
    const kind = wasm[afterField];
    let q = afterField + 1;
    if (kind === 0) [, q] = uleb(wasm, q); // function: type index
    else if (kind === 1) { q += 1; q = limits(q); } // table: reftype, limits
    else if (kind === 2) q = limits(q); // memory: limits
    else if (kind === 3) q += 2; // global: valtype, mutability
    else if (kind === 4) { q += 1; [, q] = uleb(wasm, q); } // tag: attribute, type index
    else throw new Error(`unknown import kind ${kind}`);
    let newModule = module, newField = field;
    if (module === "./wasm_session_store_bg.js") {
      newModule = MODULE;
      if (!renamed.has(field)) renamed.set(field, shortName(renamed.size + snippets.size));
      newField = renamed.get(field);
    } else if (module.startsWith("./snippets/")) {
      // A snippet's function, imported with no shim between (scripts/inline-snippets.mjs
      // inlined it as a top-level function of the glue): one more entry of the one imports
      // object, instead of a long module name per import in the wasm and an object per
      // import statement in the glue (~100 B gzipped).
      newModule = MODULE;
      newField = shortName(renamed.size + snippets.size);
      snippets.set(newField, field);
    }
    body.push(encodeName(newModule), encodeName(newField), wasm.subarray(afterField, q));
    p = q;
  }
  if (p !== end) throw new Error("import section parse ended off its boundary");
  return section(2, body);
}

/** The export section with every name the glue reaches as `wasm.<name>` shortened. */
function exportSection(bodyAt, end) {
  const [count, first] = uleb(wasm, bodyAt);
  let p = first;
  const body = [encodeUleb(count)];
  for (let i = 0; i < count; i++) {
    const [name, afterName] = readName(p);
    const [, next] = uleb(wasm, afterName + 1); // kind, then index
    const viaWasm = new RegExp(`(?<![\\w$.])wasm\\.${escape(name)}(?![\\w$])`, "g");
    const uses = js.match(viaWasm)?.length ?? 0;
    // wasm-bindgen's closure shims: the glue also names a module-local function after each
    // (`function <name>(...) { wasm.<name>(...) }`), which is not the export: their hashed
    // names were ~200 B of the gzipped package.
    const shim = /^wasm_bindgen__convert__closures_+invoke__/.test(name);
    let short = name;
    if (uses > 0 && (shim || uses === js.match(word(name)).length)) {
      short = `x${shortName(exported.size)}`;
      exported.set(name, short);
      js = js.replace(viaWasm, `wasm.${short}`);
    }
    body.push(encodeName(short), wasm.subarray(afterName, next));
    p = next;
  }
  if (p !== end) throw new Error("export section parse ended off its boundary");
  return section(7, body);
}

function limits(q) {
  const flags = wasm[q++];
  [, q] = uleb(wasm, q);
  if (flags & 1) [, q] = uleb(wasm, q);
  return q;
}

// The glue names each import once, as a key of the imports object.
for (const [field, short] of renamed) {
  const asKey = new RegExp(`(?<![\\w$])${escape(field)}(?=\\s*:)`);
  const hits = js.match(word(field))?.length ?? 0;
  if (hits !== 1 || !asKey.test(js)) {
    throw new Error(`import ${field} appears ${hits} times in ${jsPath}, expected once, as a key`);
  }
  js = js.replace(asKey, short);
}
// The snippets' functions join that object; their namespace objects (`const importN = { ... }`)
// and module keys go.
if (snippets.size) {
  const start = /(const import0 = \{\n\s*__proto__: null,\n)/;
  if (!start.test(js)) throw new Error(`the imports object of ${jsPath} was not found`);
  js = js.replace(start, (m) => m + [...snippets].map(([short, field]) => `        ${short}: ${field},\n`).join(""));
  js = js.replace(/^\s*"\.\/snippets\/[^"]+": import\d+,\n/gm, "");
  js = js.replace(/^const import\d+ = \{[^}]*\};\n/gm, "");
  if (/\bimport[1-9]\d*\b|\.\/snippets\//.test(js)) throw new Error(`${jsPath}: a snippet import is left`);
}
const moduleKey = /"\.\/wasm_session_store_bg\.js"(?=\s*:)/g;
if ((js.match(moduleKey)?.length ?? 0) !== 1) throw new Error(`the imports object of ${jsPath} was not found`);
js = js.replace(moduleKey, JSON.stringify(MODULE));

let dts = readFileSync(dtsPath, "utf8");
for (const [name, short] of exported) {
  dts = dts.replace(new RegExp(`(?<=export const )${escape(name)}(?=:)`), short);
}

writeFileSync(wasmPath, Buffer.concat(parts));
writeFileSync(jsPath, js);
writeFileSync(dtsPath, dts);
console.log(`shortened ${renamed.size} import and ${exported.size} export names; ${snippets.size} snippet imports joined them`);
