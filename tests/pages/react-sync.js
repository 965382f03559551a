// Page side of tests/js/react-sync.test.mjs, which bundles it with esbuild (React's development
// builds, and react/index.js as it ships; the package stays /pkg/'s): a probe that renders
// `useSyncStatus`, and a store wrapper that counts its reads. The rest comes from react.js.
import { StrictMode, createElement as h } from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import { useSyncStatus } from "wasm-session-store/react";
import { until, watched } from "./react.js";

export { SessionStore, ready, logged, sleep, until } from "./react.js";

/**
 * `store` as the hook sees it: react.js's `watched` (subscriptions), plus `reads`, the times
 * each `syncStatus()` was called (ms since the page's start).
 */
export function counted(store) {
  const w = watched(store);
  w.reads = [];
  w.syncStatus = () => {
    w.reads.push(performance.now());
    return store.syncStatus();
  };
  return w;
}

function Probe({ m, store }) {
  try {
    m.values.push(useSyncStatus(store));
  } catch (e) {
    // What an error boundary would catch: the hook throws during render.
    m.error = { name: e?.name, code: e?.code, message: e?.message };
    m.values.push("thrown");
  }
  if (m.values.length > 500) throw new Error("render loop: 500 renders of one probe");
  return h("output", null, JSON.stringify(m.values.at(-1) ?? null));
}

/**
 * Mounts a probe of `useSyncStatus(store)`, in StrictMode when `strict`: `value` (the last
 * render's), `values` (every render's, "thrown" where the hook threw), `error` (the last thrown),
 * `render({ store })` and `unmount()`.
 */
export function mount(store, { strict = false } = {}) {
  const el = document.body.appendChild(document.createElement("div"));
  const root = createRoot(el);
  const m = {
    values: [],
    error: undefined,
    get value() {
      return m.values.at(-1);
    },
    render(props) {
      store = props.store;
      const probe = h(Probe, { m, store });
      flushSync(() => root.render(strict ? h(StrictMode, null, probe) : probe));
    },
    unmount() {
      flushSync(() => root.unmount());
      el.remove();
    },
  };
  m.render({ store });
  return m;
}

/** `mount(store)` once its first value has rendered. */
export async function mounted(store) {
  const m = mount(store);
  await until(() => m.value);
  return m;
}

/** Every event of `store` from now on, with when it came (ms since the page's start). */
export function events(store) {
  const seen = [];
  seen.off = store.subscribe((e) => seen.push({ ...e, at: performance.now() }));
  return seen;
}
