// Compare-and-swap increments of `state.n` on one session: load, +1, saveIfVersion, retry on
// conflict. Shared by the test pages and tests/pages/storm-worker.js.
export async function increment(store, id, rounds) {
  let done = 0, conflicts = 0;
  while (done < rounds) {
    const r = await store.load(id);
    try {
      await store.saveIfVersion(id, { n: r.state.n + 1 }, r.version);
      done++;
    } catch (e) {
      if (e.code !== "VERSION_CONFLICT") throw e;
      conflicts++;
    }
  }
  return { done, conflicts };
}
