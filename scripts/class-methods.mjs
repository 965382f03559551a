// Gives the glue's `SessionStore` class its operations: one method each, calling the single
// wasm export `__call` with the operation's number (crates/js/src/lib.rs, `JsSessionStore::call`:
// the order of `Call` there is the order here). One export for fifteen methods keeps ~1.6 KB of
// export shims out of the wasm. Fails the build if the class or `__call` is not found.
// Usage: node scripts/class-methods.mjs pkg/wasm_session_store.js
import { readFileSync, writeFileSync } from "node:fs";

// [name, parameters]: the JS contract's methods (../shared/DESIGN.md), numbered from 0.
export const METHODS = [
  ["create", "state, options"],
  ["load", "id"],
  ["loadMany", "ids"],
  ["save", "id, state"],
  ["saveMany", "entries"],
  ["saveIfVersion", "id, state, expected"],
  ["updateTtl", "id, ttlMs"],
  ["delete", "id"],
  ["changeId", "oldId, newId"],
  ["deleteExpired", "batchSize"],
  ["ids", ""],
  ["get", "id, key"],
  ["set", "id, key, value"],
  ["remove", "id, key"],
  ["clear", ""],
  ["syncNow", ""],
  ["syncStatus", ""],
];

const path = process.argv[2];
const glue = readFileSync(path, "utf8");
const head = "export class SessionStore {\n";
if (glue.split(head).length !== 2) throw new Error(`${path}: the SessionStore class not found exactly once`);
if (!/\n    __call\(op, a, b, c\) \{/.test(glue)) throw new Error(`${path}: SessionStore.__call(op, a, b, c) not found`);
const methods = METHODS.map(
  ([name, params], op) => `    ${name}(${params}) {\n        return this.__call(${op}${params ? `, ${params}` : ""});\n    }\n`,
).join("");
writeFileSync(path, glue.replace(head, head + methods));
