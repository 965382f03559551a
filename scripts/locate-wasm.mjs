// Where `init()` with no argument finds the .wasm, and what it says when it cannot.
//
// 1. The .wasm moves into a folder named after the package, pkg/wasm-session-store/, and the
//    glue's `new URL("wasm_session_store_bg.wasm", import.meta.url)` becomes
//    `new URL("wasm-session-store/wasm_session_store_bg.wasm", import.meta.url)`: a string that
//    names the same file whether a tool reads it as a path relative to the glue (browsers,
//    webpack, Rollup's import-meta-assets, Parcel, `vite build`, Node) or as the package's
//    exported subpath "wasm-session-store/wasm_session_store_bg.wasm" (package.json `exports`).
//    The second reading is what the `vite` 7 dev server does once it has pre-bundled the glue
//    into node_modules/.vite/deps/, where no .wasm is: nothing relative is found there, so it
//    resolves the string as a package path, wherever the package is installed (npm, pnpm's
//    .pnpm/ store, a workspace root above the app: measured in all three). Without this, the
//    dev server answered its index.html for .vite/deps/wasm_session_store_bg.wasm and the app
//    died on "expected magic word 00 61 73 6d" unless vite.config.js excluded the package.
// 2. In Node (no fetch for file: URLs) the file is read with fs, reached through
//    `process.getBuiltinModule` (Node >= 20.16) rather than an import, so that no bundler sees
//    a `node:fs` to resolve or polyfill.
// 3. A .wasm that cannot be fetched or compiled fails init() with the URL it tried and what to
//    do, instead of a bare CompileError.
// Fails the build, changing nothing, if wasm-bindgen's glue no longer has the lines patched.
//   node scripts/locate-wasm.mjs pkg
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
const { name } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const gluePath = join(dir, "wasm_session_store.js");
const WASM = "wasm_session_store_bg.wasm";
let glue = readFileSync(gluePath, "utf8");

/** Replaces `from` (found exactly once) with `to`. */
function patch(from, to) {
  if (glue.split(from).length !== 2) throw new Error(`${gluePath}: not found exactly once:\n${from}`);
  glue = glue.replace(from, () => to);
}

patch(`new URL('${WASM}', import.meta.url)`, `new URL('${name}/${WASM}', import.meta.url)`);
patch(
  `    if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
        module_or_path = fetch(module_or_path);
    }

    const { instance, module } = await __wbg_load(await module_or_path, imports);
`,
  `    let url;
    if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
        url = module_or_path;
        const fs = /^file:/.test(url) && globalThis.process?.getBuiltinModule?.('fs');
        module_or_path = fs ? fs.promises.readFile(new URL(url)) : fetch(url);
    }

    const { instance, module } = await (async () => __wbg_load(await module_or_path, imports))().catch((e) => {
        throw url ? new Error(\`${name}: no wasm at \${url} (\${e.message}). With vite dev, add optimizeDeps: { exclude: ["${name}"] }; otherwise pass its URL or bytes to init({ module_or_path })\`, { cause: e }) : e;
    });
`,
);
mkdirSync(join(dir, name), { recursive: true });
for (const file of [WASM, `${WASM}.d.ts`]) renameSync(join(dir, file), join(dir, name, file));
writeFileSync(gluePath, glue);
console.log(`${gluePath}: the .wasm is ${name}/${WASM}; Node reads it with fs; load failures name the URL`);
