// A dedicated module worker with a synced store (tests/js/sync-flush.test.mjs): the page sends
// `{ seq, cmd, arg }` and gets `{ seq, value }` or `{ seq, error }` back. Commands: "open"
// (tests/pages/sync.js `open`; `arg.withoutLocks` first takes Web Locks away from this
// worker), "syncNow" (its outcome), "status", "set" ({ id, key, value }), "snapshot", "close".
import { open, settle, snapshot } from "./sync.js";

self.onmessage = async ({ data: { seq, cmd, arg } }) => {
  try {
    let value;
    if (cmd === "open") {
      if (arg.withoutLocks) delete Object.getPrototypeOf(navigator).locks;
      value = await open(arg);
    } else if (cmd === "syncNow") value = await settle(self.store.syncNow());
    else if (cmd === "status") value = await self.store.syncStatus();
    else if (cmd === "set") value = await self.store.set(arg.id, arg.key, arg.value);
    else if (cmd === "snapshot") value = await snapshot();
    else if (cmd === "close") value = self.store.close();
    else throw new Error(`sync-worker: unknown command ${cmd}`);
    self.postMessage({ seq, value });
  } catch (e) {
    self.postMessage({ seq, error: `${e?.name}: ${e?.code ?? ""} ${e?.message}` });
  }
};
