// A module worker of the app: opens the same IndexedDB store and answers with what it loads.
import init, { SessionStore } from "wasm-session-store";

self.onmessage = async ({ data }) => {
  try {
    await init();
    const store = await SessionStore.open({ backend: "indexeddb", name: "consumer-app" });
    const record = await store.load(data.id);
    store.close();
    self.postMessage({ backend: store.backend, record });
  } catch (e) {
    self.postMessage({ error: `${e.name} ${e.code ?? ""}: ${e.message}` });
  }
};
