// The sweeper's interval timer (browser.rs `Interval`). It is for background work, so where
// the timer is an object with `unref` (Node's), it is unref'd: an open store never keeps a Node
// process alive (a script that forgets `close()` still exits). In browsers it is a number.
// In JS rather than through Reflect from Rust: fewer bytes of wasm, and the library declares
// no `#[wasm_bindgen]` items but its snippets' imports (scripts/crate-hygiene.sh).

/** setInterval(callback, ms), unref'd where that exists. */
export function interval_start(callback, ms) {
  const handle = setInterval(callback, ms);
  handle?.unref?.();
  return handle;
}

/** setTimeout(callback, ms), unref'd where that exists (cleared with `interval_stop`). */
export function timeout_start(callback, ms) {
  const handle = setTimeout(callback, ms);
  handle?.unref?.();
  return handle;
}

/** clearInterval(handle), which clears a timeout too. */
export function interval_stop(handle) {
  clearInterval(handle);
}
