// A user's app: imports the package by name, as installed from the packed tarball.
// The test drives it through window.app.
import init, { SessionStore } from "wasm-session-store";

const NAME = "consumer-app";

async function open() {
  await init();
  return SessionStore.open({ backend: "indexeddb", name: NAME });
}

window.app = {
  async create(state) {
    const store = await open();
    const record = await store.create(state);
    store.close();
    return record;
  },
  async load(id) {
    const store = await open();
    const record = await store.load(id);
    store.close();
    return { backend: store.backend, record };
  },
  /** The same store, opened in a module worker of this app. */
  loadInWorker(id) {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    return new Promise((resolve, reject) => {
      worker.onmessage = (e) => { worker.terminate(); resolve(e.data); };
      worker.onerror = (e) => { worker.terminate(); reject(new Error(e.message)); };
      worker.postMessage({ id });
    });
  },
};
document.getElementById("status").textContent = "ready";
