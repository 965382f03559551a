// A dedicated module worker for the tests: opens stores as a worker-side app would and reports.
import init, { SessionStore } from "/pkg/wasm_session_store.js";

const outcome = (p) => p.then((v) => ({ ok: v }), (e) => ({ name: e.name, code: e.code, message: e.message }));

self.onmessage = async ({ data: { name } }) => {
  await init();
  const auto = await SessionStore.open({ name });
  const created = await auto.create({ from: "worker" });
  await auto.set(created.id, "n", 1);
  const loaded = await auto.load(created.id);
  auto.close();
  self.postMessage({
    autoBackend: auto.backend,
    fallbackReason: auto.fallbackReason,
    loaded,
    local: await outcome(SessionStore.open({ backend: "localstorage", name })),
    session: await outcome(SessionStore.open({ backend: "sessionstorage", name })),
    memory: (await SessionStore.open({ backend: "memory", name })).backend,
  });
};
