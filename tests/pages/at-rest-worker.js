// A dedicated module worker for tests/js/encryption.test.mjs: an encrypted IndexedDB store
// shared with the page (tests/pages/at-rest-worker-side.js).
import { workerSide } from "./at-rest-worker-side.js";

self.onmessage = async ({ data }) => {
  try {
    self.postMessage(await workerSide(data));
  } catch (e) {
    self.postMessage({ error: `${e?.name} ${e?.code ?? ""}: ${e?.message}\n${e?.stack ?? ""}` });
  }
};
