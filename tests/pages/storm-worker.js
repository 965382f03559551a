// A dedicated module worker doing compare-and-swap increments on one IndexedDB session, as the
// pages of tests/js/faults.test.mjs do.
import init, { SessionStore } from "/pkg/wasm_session_store.js";
import { increment } from "./increments.js";

self.onmessage = async ({ data: { name, id, rounds } }) => {
  await init();
  const store = await SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
  const result = await increment(store, id, rounds);
  store.close();
  self.postMessage(result);
};
