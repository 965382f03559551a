// A module service worker with a synced store (tests/js/sync-flush.test.mjs): a message
// `{ cmd, arg }` with a port gets `{ value }` or `{ error }` on that port. Commands: "open"
// (tests/pages/sync.js `open`), "syncNow" (its outcome), "status", "close".
import { open, settle } from "./sync.js";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("message", (event) => {
  const [port] = event.ports;
  const { cmd, arg } = event.data;
  event.waitUntil((async () => {
    try {
      let value;
      if (cmd === "open") value = await open(arg);
      else if (cmd === "syncNow") value = await settle(self.store.syncNow());
      else if (cmd === "status") value = await self.store.syncStatus();
      else if (cmd === "close") value = self.store.close();
      else throw new Error(`sync-sw: unknown command ${cmd}`);
      port.postMessage({ value });
    } catch (e) {
      port.postMessage({ error: `${e?.name}: ${e?.code ?? ""} ${e?.message}` });
    }
  })());
});
