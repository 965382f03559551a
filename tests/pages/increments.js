// Compare-and-swap increments of `state.n` on one session: load, +1, saveIfVersion, retry on
// conflict. Shared by the test pages and tests/pages/storm-worker.js. `progress` (optional) is
// kept up to date as it goes, for a test that acts in the middle of a storm; with `lock`, each
// increment runs under that test-side Web Lock, so the callers take strict turns (the pattern
// that loses updates with plain localStorage: the next tab reads right after another wrote).
// Resolves to `{ done, conflicts, versions }`: `versions` are those this caller's writes made,
// in order, so that a test can see how the callers' writes interleaved.
export async function increment(store, id, rounds, { progress = { done: 0, conflicts: 0 }, lock } = {}) {
  const versions = [];
  const once = async () => {
    const r = await store.load(id);
    try {
      versions.push(await store.saveIfVersion(id, { n: r.state.n + 1 }, r.version));
      progress.done++;
      return true;
    } catch (e) {
      if (e.code !== "VERSION_CONFLICT") throw e;
      progress.conflicts++;
      return false;
    }
  };
  const start = progress.done;
  while (progress.done - start < rounds) {
    if (lock) await navigator.locks.request(lock, once);
    else await once();
  }
  return { done: progress.done - start, conflicts: progress.conflicts, versions };
}

/** Resolves on the first message of BroadcastChannel `gate`: callers started on one "go". */
export function gate(name) {
  const channel = new BroadcastChannel(name);
  return new Promise((go) => { channel.onmessage = () => { channel.close(); go(); }; });
}

/** Sends "go" on BroadcastChannel `name` (to every other context listening with `gate`). */
export function go(name) {
  const channel = new BroadcastChannel(name);
  channel.postMessage("go");
  channel.close();
}

/**
 * Whether this page (or worker) holds the Web Lock `name`: the lock manager names each
 * holder's client, and a probe lock of our own tells which client we are.
 */
export async function holdsLock(name) {
  const probe = `probe-${crypto.randomUUID()}`;
  return navigator.locks.request(probe, async () => {
    const { held } = await navigator.locks.query();
    const me = held.find((l) => l.name === probe)?.clientId;
    if (!me) throw new Error("navigator.locks.query() names no clientId here");
    return held.some((l) => l.name === name && l.clientId === me);
  });
}
