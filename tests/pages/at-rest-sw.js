// A module service worker for tests/js/encryption.test.mjs: an encrypted IndexedDB store
// shared with the page (tests/pages/at-rest-worker-side.js); answers each message on the port
// it brings.
import { workerSide } from "./at-rest-worker-side.js";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("message", (event) => {
  const [port] = event.ports;
  event.waitUntil((async () => {
    try {
      port.postMessage(await workerSide(event.data));
    } catch (e) {
      port.postMessage({ error: `${e?.name} ${e?.code ?? ""}: ${e?.message}\n${e?.stack ?? ""}` });
    }
  })());
});
