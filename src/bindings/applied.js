// The localStorage leader's list of the requests from other tabs it applied (see
// src/backends/shared.rs): tokens "<tab>.<request id>", space-separated, oldest first, the
// newest 32 kept, at `<name>::applied`. In JS: the same string handling in Rust costs ~1 KB
// more gzipped wasm.

/**
 * With `add`, adds `request`'s token to the list; without, whether the list holds it. False,
 * and nothing written, for a request of the leader's own (it has no `from`) and when
 * localStorage throws (a full quota). `seqKey` is the store's `<name>::seq`.
 */
export function applied_tokens(seqKey, request, add) {
  try {
    const key = seqKey.slice(0, -3) + "applied";
    const token = request.from && `${request.from}.${request.id}`;
    const tokens = (localStorage.getItem(key) ?? "").split(" ");
    if (!add) return tokens.includes(token);
    if (token) localStorage.setItem(key, tokens.concat(token).slice(-32).join(" ").trim());
  } catch {}
  return false;
}
