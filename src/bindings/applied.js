// The localStorage leader's list of the writes it applied for other tabs (see
// src/backends/shared.rs): tokens "<tab>.<request id>", space-separated, oldest first, the
// newest 32 kept, at `<name>::applied`. In JS: the same string handling in Rust costs ~1 KB
// more gzipped wasm.

/**
 * `op` 0: whether the list holds `request`'s token; 1: adds it; 2: takes it out. False, and
 * nothing written, for a request of the leader's own (it has no `from`) and when
 * localStorage throws (a full quota). `seqKey` is the store's `<name>::seq`.
 */
export function applied_tokens(seqKey, request, op) {
  const key = seqKey.slice(0, -3) + "applied";
  const token = `${request.from}.${request.id}`;
  try {
    const tokens = (localStorage.getItem(key) ?? "").split(" ");
    if (!op || !request.from) return tokens.includes(token); // never for "undefined.<id>"
    const kept = op === 1 ? [...tokens, token].slice(-32) : tokens.filter((t) => t !== token);
    localStorage.setItem(key, kept.join(" ").trim());
  } catch {}
  return false;
}
