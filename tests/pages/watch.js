// Page-side helpers for the tests that check a refused call changed nothing: the whole store
// as text, and the change events sent while a block of calls ran.

/** Every record of `store`, in id order (compare two with checks.js `same`). */
export async function snapshot(store) {
  return store.loadMany((await store.ids()).sort());
}

/**
 * Starts recording `store`'s events as "<type> <id>". `settle(markerId)` deletes `markerId`,
 * waits for that delete's event, stops recording and returns the events: they come in order,
 * so every event sent before the delete is in by then (no sleeping).
 */
export function recordEvents(store) {
  const events = [];
  let markerSeen;
  const unsubscribe = store.subscribe((e) => {
    events.push(`${e.type} ${e.id}`);
    if (e.type === "deleted") markerSeen?.();
  });
  return {
    async settle(markerId) {
      const seen = new Promise((resolve) => { markerSeen = resolve; });
      await store.delete(markerId);
      await seen;
      unsubscribe();
      return events;
    },
  };
}
