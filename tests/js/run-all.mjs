// `npm test`'s entry for the engine-neutral JS tests: every tests/js/*.test.mjs in one process,
// so that they share one browser of the engine (helpers.mjs `useBrowser`), instead of a launch
// per file. Each file still runs alone too: `WSS_ENGINE=firefox node --test tests/js/api.test.mjs`.
import { readdirSync } from "node:fs";
import "./api.test.mjs";
import "./backends.test.mjs";
import "./consumer.test.mjs";
import "./cross-tab.test.mjs";
import "./encryption.test.mjs";
import "./events.test.mjs";
import "./example.test.mjs";
import "./faults.test.mjs";
import "./integrity.test.mjs";
import "./migrations.test.mjs";
import "./node.test.mjs";
import "./react.test.mjs";
import "./react-sync.test.mjs";
import "./readme.test.mjs";
import "./smoke.test.mjs";
import "./sync.test.mjs";
import "./sync-conflicts.test.mjs";
import "./sync-flush.test.mjs";

const IMPORTED = ["api", "backends", "consumer", "cross-tab", "encryption", "events", "example", "faults", "integrity", "migrations", "node", "react", "react-sync", "readme", "smoke", "sync", "sync-conflicts", "sync-flush"];
const files = readdirSync(new URL(".", import.meta.url)).filter((f) => f.endsWith(".test.mjs"));
const missing = files.filter((f) => !IMPORTED.includes(f.replace(/\.test\.mjs$/, "")));
if (missing.length) throw new Error(`tests/js/run-all.mjs does not import ${missing.join(", ")}: add them`);
