// wasm-session-store/react (README.md, "React"). Hand-written: it ships as is, no build step,
// in 1,000 B gzipped.
import { useMemo, useSyncExternalStore } from "react";

// One hook's view of a store: `get` gives the same value until a read or the deadline changes
// it. Reads start on subscribe and relevant events only; a later one wins over an earlier one
// that resolves after it. A failed read shows as the source itself: the hook throws its error.
const source = (store, read, relevant) => {
  let value, timer, started = 0, shown = 0;
  const it = {
    get: () => value,
    sub(notify) {
      let live = 1, off;
      const put = (v) => {
        const at = v?.expiresAt;
        // Null at the deadline by the hook's clock, checked again when the timer fires.
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
      try {
        off = store.subscribe((e) => relevant(e) && load());
        load();
      } catch (e) {
        put(it, (it.error = e)); // CLOSED
      }
      return () => {
        live = 0;
        clearTimeout(timer);
        off?.();
      };
    },
  };
  return it;
};

const none = { get() {}, sub: () => () => {} };

const use = (store, key, read, relevant, options) => {
  const it = useMemo(() => (store && key != null ? source(store, read, relevant) : none), [store, key]);
  it.now = options?.now ?? Date.now;
  const value = useSyncExternalStore(it.sub, it.get, it.get);
  if (value === it) throw it.error;
  return value;
};

export const useSession = (store, id, options) =>
  use(store, id, () => store.load(id), (e) => !e.id || e.id === id || e.newId === id, options);

export const useSessionIds = (store) => use(store, "", () => store.ids(), () => 1);
