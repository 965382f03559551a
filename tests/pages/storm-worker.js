// A dedicated module worker doing compare-and-swap increments on one IndexedDB session, as the
// pages of tests/js/faults.test.mjs do. With `gate`, it posts `{ ready: true }` once its store
// is open and starts on that BroadcastChannel's "go", with the pages.
import init, { SessionStore } from "/pkg/wasm_session_store.js";
import { increment, gate } from "./increments.js";

self.onmessage = async ({ data: { name, id, rounds, gate: gateName } }) => {
  const go = gateName && gate(gateName); // listening from here on
  await init();
  const store = await SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
  if (go) {
    self.postMessage({ ready: true });
    await go;
  }
  const result = await increment(store, id, rounds);
  store.close();
  self.postMessage(result);
};
