// Page side of tests/js/react.test.mjs, in react.html (whose import map gives React and the
// hooks): a probe component to mount, a store wrapper that counts subscriptions and reads, the
// hooks' pending timers, and what React wrote to the console.
import { Component, StrictMode, createElement as h } from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import init, { SessionStore } from "wasm-session-store";
import { useSession, useSessionIds } from "wasm-session-store/react";

export { SessionStore };
export const ready = init();

/** console.error and console.warn calls (React's warnings, e.g. "getSnapshot should be cached"). */
export const logged = [];
for (const level of ["error", "warn"]) {
  const original = console[level];
  console[level] = (...args) => {
    logged.push(`${level}: ${args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ")}`);
    original.apply(console, args);
  };
}

// The hooks' timers: those that react/index.js itself sets (its frame is the caller's on the
// stack), pending until they fire or are cleared. `delays` lists every delay it asked for.
export const hookTimers = { pending: new Set(), set: 0, delays: [] };
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const calledByHook = () =>
  new Error().stack.split("\n").filter((l) => /https?:/.test(l) && !l.includes("/t/react.js"))[0]?.includes("/react/index.js");
globalThis.setTimeout = function setTimeout(fn, ms, ...args) {
  if (!calledByHook()) return realSetTimeout(fn, ms, ...args);
  hookTimers.set++;
  hookTimers.delays.push(ms);
  const id = realSetTimeout(() => {
    hookTimers.pending.delete(id);
    fn(...args);
  }, ms);
  hookTimers.pending.add(id);
  return id;
};
globalThis.clearTimeout = function clearTimeout(id) {
  hookTimers.pending.delete(id);
  realClearTimeout(id);
};

/**
 * `store` as the hooks see it, counting: `active` subscriptions (unsubscribed once, however
 * often the function is called), `subscribed` in all, `loads` (by id) and `idsReads`.
 * `hold(n, id, promise)`, when set, may return another promise for the n-th load.
 */
export function watched(store) {
  const w = {
    active: 0,
    subscribed: 0,
    loads: [],
    idsReads: 0,
    hold: undefined,
    subscribe(listener) {
      const off = store.subscribe(listener);
      w.active++;
      w.subscribed++;
      let on = true;
      return () => {
        if (on) w.active--;
        on = false;
        off();
      };
    },
    load(id) {
      w.loads.push(id);
      const promise = store.load(id);
      return w.hold?.(w.loads.length, id, promise) ?? promise;
    },
    ids() {
      w.idsReads++;
      return store.ids();
    },
  };
  return w;
}

export const sleep = (ms) => new Promise((resolve) => realSetTimeout(resolve, ms));

class Boundary extends Component {
  constructor(props) {
    super(props);
    this.state = {};
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  componentDidCatch(error) {
    this.props.m.error = { name: error?.name, code: error?.code, message: error?.message };
  }
  render() {
    return this.state.error ? h("p", null, `error ${this.state.error.code}`) : this.props.children;
  }
}

// One hook per probe: `useSessionIds(store)` when `ids`, else `useSession(store, id)`, with
// `{ now }` (a new object each render, as apps write it) when `now` is given.
function Probe({ m, store, id, now, ids }) {
  const value = ids ? useSessionIds(store) : useSession(store, id, now && { now });
  // A render loop (a snapshot that is never the same twice) would hang the page: end it here.
  if (++m.renders > 500) throw new Error("render loop: 500 renders of one probe");
  m.values.push(value);
  return h("output", null, value === undefined ? "undefined" : JSON.stringify(value));
}

/**
 * Mounts a probe with `props` ({ store, id, now, ids }), in StrictMode when `strict`. The result
 * has `value` (the last render's), `values` (every render's), `renders`, `error` (what the
 * error boundary caught), `render(changes)` (renders again, synchronously) and `unmount()`.
 */
export function mount(props, { strict = false } = {}) {
  const el = document.body.appendChild(document.createElement("div"));
  const root = createRoot(el);
  const m = {
    renders: 0,
    values: [],
    error: undefined,
    get value() {
      return m.values.at(-1);
    },
    render(changes) {
      Object.assign(props, changes);
      const probe = h(Boundary, { m }, h(Probe, { ...props, m }));
      flushSync(() => root.render(strict ? h(StrictMode, null, probe) : probe));
    },
    unmount() {
      flushSync(() => root.unmount());
      el.remove();
    },
  };
  m.render({});
  return m;
}

/** Resolves once `fn()` is truthy (to its value); rejects after `ms`. */
export async function until(fn, ms = 10_000) {
  const started = Date.now();
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() - started > ms) throw new Error(`until: still false after ${ms} ms: ${fn}`);
    await sleep(10);
  }
}
