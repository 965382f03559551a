// A module service worker for tests/js/faults.test.mjs: opens stores as a service worker of an
// app would, and answers a message (on the port it brings) with what it did.
import init, { SessionStore } from "/pkg/wasm_session_store.js";

const outcome = (p) => p.then((v) => ({ ok: v }), (e) => ({ name: e.name, code: e.code, message: e.message }));

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("message", (event) => {
  const [port] = event.ports;
  event.waitUntil((async () => {
    try {
      await init();
      const { name } = event.data;
      const auto = await SessionStore.open({ name, sweepIntervalMs: null });
      await auto.clear();
      const created = await auto.create({ from: "service worker" });
      await auto.set(created.id, "n", 1);
      const loaded = await auto.load(created.id);
      auto.close();
      const memory = await SessionStore.open({ backend: "memory", name });
      const inMemory = (await memory.load((await memory.create({ m: 1 })).id)).state.m;
      memory.close();
      port.postMessage({
        autoBackend: auto.backend,
        fallbackReason: auto.fallbackReason,
        loaded,
        local: await outcome(SessionStore.open({ backend: "localstorage", name })),
        memory: inMemory === 1 ? "memory" : "memory failed",
      });
    } catch (e) {
      port.postMessage({ error: `${e.name}: ${e.message}\n${e.stack}` });
    }
  })());
});
