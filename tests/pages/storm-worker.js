// A dedicated module worker doing compare-and-swap increments on one IndexedDB session, as a
// page does in tests/js/faults.test.mjs: load, +1, saveIfVersion, retry on conflict.
import init, { SessionStore } from "/pkg/wasm_session_store.js";

self.onmessage = async ({ data: { name, id, rounds } }) => {
  await init();
  const store = await SessionStore.open({ backend: "indexeddb", name, sweepIntervalMs: null });
  let done = 0, conflicts = 0;
  while (done < rounds) {
    const r = await store.load(id);
    try {
      await store.saveIfVersion(id, { n: r.state.n + 1 }, r.version);
      done++;
    } catch (e) {
      if (e.code !== "VERSION_CONFLICT") throw e;
      conflicts++;
    }
  }
  store.close();
  self.postMessage({ done, conflicts });
};
