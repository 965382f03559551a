// Typed usage of `wasm-session-store/react` (resolved through the package's `exports`, as an app
// gets it). Checked by `tsc --noEmit` with usage.ts: each `@ts-expect-error` line must be an error.
import type { SessionRecord, SessionState, SessionStore } from "wasm-session-store";
import { useSession, useSessionIds, useSyncStatus, type SyncStatus, type UseSessionOptions } from "wasm-session-store/react";

interface Cart extends SessionState {
  items: string[];
}

export function CartSummary(store: SessionStore | null, id: string | undefined, now: () => number): string {
  const cart = useSession<Cart>(store, id, { now });
  const pending: undefined extends typeof cart ? true : false = true;
  const missing: null extends typeof cart ? true : false = true;
  void pending;
  void missing;
  if (cart === undefined) return "loading";
  if (cart === null) return "expired";
  const record: SessionRecord<Cart> = cart;
  const items: string[] = record.state.items;
  const expiresAt: number | null = cart.expiresAt;
  void expiresAt;

  const untyped = useSession(store, "fixed-id");
  if (untyped) {
    const state: SessionState = untyped.state;
    void state;
  }
  const options: UseSessionOptions = { now: Date.now };
  useSession(store, id, options);
  useSession(undefined, null);

  const ids = useSessionIds(store);
  const count: number | undefined = ids?.length;
  const first: string | undefined = ids?.[0];
  void count;
  void first;

  const sync = useSyncStatus(store);
  const status: SyncStatus | undefined = sync;
  const pendingCount: number | undefined = sync?.pending;
  const lastSyncAt: number | null | undefined = sync?.lastSyncAt;
  const errorCode: string | undefined = sync?.lastError?.code;
  void status;
  void pendingCount;
  void lastSyncAt;
  void errorCode;
  useSyncStatus(null);

  // What the types must refuse:
  // @ts-expect-error the record may be null or undefined
  useSession(store, id).version;
  // @ts-expect-error ids are strings
  useSession(store, 42);
  // @ts-expect-error the clock returns a number
  useSession(store, id, { now: () => "soon" });
  // @ts-expect-error no such option
  useSession(store, id, { sliding: true });
  // @ts-expect-error a store, not its name
  useSessionIds("sessions");
  // @ts-expect-error ids is a list of strings, or undefined
  const wrong: number[] = useSessionIds(store) ?? [];
  void wrong;
  // @ts-expect-error the status is undefined until read
  useSyncStatus(store).pending;
  // @ts-expect-error lastSyncAt is null before the first pass
  const never: number | undefined = useSyncStatus(store)?.lastSyncAt;
  void never;
  return items.join(", ");
}
