// wasm-session-store/react (README.md, "React"). Hand-written: it ships as is, no build step,
// in 1,000 B gzipped.
import { useMemo, useSyncExternalStore } from "react";

// A hook's view of a store: reads on subscribe and relevant events, the last started winning
// (a failure is thrown by the hook). `poll`: keeps equal values; see useSyncStatus, index.d.ts.
const source = (store, read, relevant, poll) => {
  let value, timer, started = 0, shown = 0;
  const it = {
    get: () => value,
    sub(notify) {
      let live = 1, off, wait, gap = poll;
      const put = (v) => {
        if (poll && JSON.stringify(v) == JSON.stringify(value)) return;
        const at = v?.expiresAt;
        const arm = () => {
          const ms = at - it.now();
          if (ms > 0) timer = setTimeout(arm, Math.min(ms + 5, 2147483647));
          else put(null);
        };
        clearTimeout(timer);
        value = v;
        if (at != null) arm();
        notify();
      };
      const load = (n = ++started) => {
        const done = (v) => live && n > shown && put(v, (shown = n));
        read().then(done, (e) => done(it, (it.error = e)));
      };
      const tick = (ms) => {
        clearTimeout(wait);
        ms || load();
        poll && (wait = setTimeout(tick, (gap = ms || Math.min(gap * 2, 64 * poll))));
      };
      try {
        off = store.subscribe((e) => relevant(e) && tick(poll));
        tick();
      } catch (e) {
        put(it, (it.error = e)); // CLOSED
      }
      return () => {
        live = 0;
        clearTimeout(timer);
        clearTimeout(wait);
        off?.();
      };
    },
  };
  return it;
};

const none = { get() {}, sub: () => () => {} };

const use = (store, key, read, relevant, options, poll) => {
  const it = useMemo(() => (store && key != null ? source(store, read, relevant, poll) : none), [store, key]);
  it.now = options?.now ?? Date.now;
  const value = useSyncExternalStore(it.sub, it.get, it.get);
  if (value === it) throw it.error;
  return value;
};

export const useSession = (store, id, options) =>
  use(store, id, () => store.load(id), (e) => !e.id || e.id === id || e.newId === id, options);

export const useSessionIds = (store) => use(store, "", () => store.ids(), () => 1);

export const useSyncStatus = (store) => use(store, "", () => store.syncStatus(), () => 1, 0, 50);
