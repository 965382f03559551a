// What a worker does in tests/js/encryption.test.mjs ("workers"): with an encrypted ("device")
// IndexedDB store of the page's name, it reads what the page wrote, changes it, and writes a
// record of its own; it answers with what it saw. Shared by tests/pages/at-rest-worker.js (a
// dedicated worker) and tests/pages/at-rest-sw.js (a service worker).
import init, { SessionStore } from "/pkg/wasm_session_store.js";
import { keyEntriesOf, texts, leaks } from "./at-rest.js";

export async function workerSide({ name, pageId, marker }) {
  await init();
  const store = await SessionStore.open({ backend: "indexeddb", name, encryption: "device", sweepIntervalMs: null });
  try {
    const read = await store.load(pageId);
    const setVersion = await store.set(pageId, "seenBy", `worker ${marker}`);
    const created = await store.create({ from: "worker", secret: marker }, { id: "from-worker" });
    const raw = await texts("indexeddb", name);
    return {
      read,
      setVersion,
      created,
      loadedBack: await store.load("from-worker"),
      rawLeaks: Object.values(raw.records).flatMap((t) => leaks(t, marker)),
      rawFormats: Object.values(raw.records).map((t) => JSON.parse(t).v),
      keyEntries: await keyEntriesOf("indexeddb", name),
    };
  } finally {
    store.close();
  }
}
