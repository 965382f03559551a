// Whether a store's change feed has anyone to tell, and its posts (src/feed.rs): an
// instance alone in its origin skips the BroadcastChannel post of each write, ~25-30 µs in Chromium
// (measured), as much as a whole raw localStorage write. The build inlines this file into
// the package's JS glue; in JS because it is callbacks and promises around Web Locks, which
// cost several times the bytes as Rust closures.
//
// Every open instance of a feed holds the shared Web Lock `<channel>:present`. One that finds
// no other holder also takes the exclusive `<channel>:alone`, and posts nothing while it holds
// it. A newcomer that finds `:alone` taken posts a hello on the channel and waits until it
// gets `:alone` itself: the lone instance lets it go when the hello arrives, after it has
// started posting again. So every write that completes after a newcomer's open resolved is
// posted. The wait is bounded (WAIT_MS): the lone instance may be a frozen tab, which writes
// nothing until it thaws, and then takes the hello first.

const HELLO = "wasm-session-store:hello";
const WAIT_MS = 1000;

// Each joined channel's presence: whether it is alone, the locks it holds, its hello listener.
const presences = new Map();

/**
 * Joins the feed of `channel` (named `name`). Resolves when every other instance posts its
 * writes; from then on `feed_publish` knows whether this instance is alone. Without Web Locks
 * (or when they throw) nobody is ever alone.
 * @param {BroadcastChannel} channel
 * @param {string} name
 */
export async function feed_join(channel, name) {
  const held = [];
  const presence = { alone: false, held, hello: null, left: false };
  presences.set(channel, presence);
  const locks = globalThis.navigator?.locks;
  if (typeof locks?.query !== "function") return;
  // Requests `lock`; resolves to the function that lets it go, or null when not granted (or
  // granted after the instance left: then it goes at once).
  const take = (lock, options) =>
    new Promise((resolve) => {
      locks
        .request(lock, options, (granted) => {
          if (!granted || presence.left) return resolve(null);
          return new Promise((release) => {
            held.push(release);
            resolve(release);
          });
        })
        .catch(() => resolve(null));
    });
  try {
    const present = name + ":present";
    const alone = name + ":alone";
    await take(present, { mode: "shared" });
    const release = await take(alone, { ifAvailable: true });
    if (release) {
      const others = (await locks.query()).held.filter((lock) => lock.name === present).length - 1;
      if (others > 0) {
        release();
        return;
      }
      presence.alone = true;
      presence.hello = (event) => {
        if (event.data !== HELLO) return;
        presence.alone = false;
        channel.removeEventListener("message", presence.hello);
        release();
      };
      channel.addEventListener("message", presence.hello);
      return;
    }
    channel.postMessage(HELLO);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), WAIT_MS);
    const turn = await take(alone, { signal: controller.signal });
    clearTimeout(timer);
    turn?.();
  } catch {} // not alone (it is only set alone after the last step that can throw)
}

// Events published in this turn, per channel: posted together on the next microtask.
const outboxes = new Map();

/**
 * Queues `event` for the channel's next post, unless the instance is alone (nobody to tell).
 * A batch of writes in one turn is one post: the event itself when alone in its batch, else
 * an array of the events in order.
 */
export function feed_publish(channel, event) {
  if (presences.get(channel)?.alone) return;
  let outbox = outboxes.get(channel);
  if (!outbox) {
    outboxes.set(channel, (outbox = []));
    queueMicrotask(() => feed_flush(channel));
  }
  outbox.push(event);
}

/** Posts what is queued for `channel` now (a closing store sends what it published). */
export function feed_flush(channel) {
  const outbox = outboxes.get(channel);
  if (!outbox) return;
  outboxes.delete(channel);
  try {
    channel.postMessage(outbox.length === 1 ? outbox[0] : outbox);
  } catch {} // closed already: its events were flushed when it closed
}

/** Leaves the feed: lets every lock go, also those granted later. */
export function feed_leave(channel) {
  const presence = presences.get(channel);
  if (!presence) return;
  presences.delete(channel);
  presence.left = true;
  if (presence.hello) channel.removeEventListener("message", presence.hello);
  for (const release of presence.held.splice(0)) release();
}
