// The localStorage leader's list of the writes it applied for other tabs (see
// src/backends/leader/coordinator.rs): tokens "<tab>.<request id>", space-separated, oldest
// first, the newest 32 kept, at `<name>::applied`. In JS: the same string handling in Rust
// costs ~1 KB more gzipped wasm.

/**
 * `op` 0: whether the list holds `token`; 1: adds it; 2: takes it out. False, and nothing
 * written, for an empty token (the leader's own requests have none) and when localStorage
 * throws (a full quota). `seqKey` is the store's `<name>::seq`.
 */
export function applied_tokens(seqKey, token, op) {
  if (!token) return false;
  const key = seqKey.slice(0, -3) + "applied";
  try {
    const tokens = (localStorage.getItem(key) ?? "").split(" ");
    if (!op) return tokens.includes(token);
    const kept = op === 1 ? [...tokens, token].slice(-32) : tokens.filter((t) => t !== token);
    localStorage.setItem(key, kept.join(" ").trim());
  } catch {}
  return false;
}
