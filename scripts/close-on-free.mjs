// Makes the glue's `free()` (and so `[Symbol.dispose]`, which `using` calls) close the store
// before releasing it: a store that was subscribed to keeps itself alive until close(), so
// freeing it without closing would leave its listeners and sweeper running with no way left to
// stop them. The garbage collector's finalizer frees without closing, which is what keeps such
// a store alive when the page drops it. Fails the build if wasm-bindgen's `free()` changed.
// Usage: node scripts/close-on-free.mjs pkg/wasm_session_store.js
import { readFileSync, writeFileSync } from "node:fs";

const path = process.argv[2];
const glue = readFileSync(path, "utf8");
const free = "    free() {\n        const ptr = this.__destroy_into_raw();";
if (glue.split(free).length !== 2) throw new Error(`${path}: wasm-bindgen's free() not found exactly once`);
writeFileSync(path, glue.replace(free, "    free() {\n        this.close();\n        const ptr = this.__destroy_into_raw();"));
