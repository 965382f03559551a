// wasm-session-store/react: React hooks over a store's change feed (README.md, "React").
// React >= 18 (an optional peer dependency of the package).
import type { SessionRecord, SessionState, SessionStore } from "../pkg/wasm_session_store.js";

/** Options of `useSession`. */
export interface UseSessionOptions {
    /**
     * The clock that decides when the record has expired, in ms since the Unix epoch. Default
     * `Date.now`. An app that opens its store with its own `now` passes the same function here.
     */
    now?: (() => number) | undefined;
}

/**
 * The session `id` of `store`, kept current: re-renders on every change to it from this or any
 * other tab or worker (the store's change feed), and turns to `null` when its `expiresAt`
 * passes, whether or not a sweeper removes it.
 *
 * @returns `undefined` while the first load is pending (and while `store` or `id` is null or
 * undefined, e.g. the store still opening), `null` when the session is missing or expired, else
 * the record. When a load rejects (CORRUPT, CLOSED, ...), throws its `StoreError` during render,
 * for an error boundary to catch.
 */
export function useSession<S extends SessionState = SessionState>(
    store: SessionStore | null | undefined,
    id: string | null | undefined,
    options?: UseSessionOptions,
): SessionRecord<S> | null | undefined;

/**
 * The ids of the live sessions of `store`, in no particular order, re-read on every change to
 * it from any tab or worker. `undefined` while the first read is pending (and while `store` is
 * null or undefined). A rejected read throws its `StoreError` during render.
 */
export function useSessionIds(store: SessionStore | null | undefined): string[] | undefined;

/**
 * What `store.syncStatus()` resolves to, for a store opened with the `sync` option (README.md,
 * "Sync"): where its sync to the server stands.
 */
export interface SyncStatus {
    /** Sessions with a change queued that the server has not taken yet. */
    pending: number;
    /** When the last sync pass that completed ended (the store's clock, ms since the Unix epoch); null before the first. */
    lastSyncAt: number | null;
    /** The last failure, of a pass or of one session's push, until a pass completes with none. */
    lastError: { code: string; message: string } | null;
}

/**
 * The sync status of `store` (opened with the `sync` option), kept current across tabs and
 * workers: `{ pending, lastSyncAt, lastError }` as `store.syncStatus()` gives it.
 *
 * A sync pass changes the status without an event when it pushes with no conflict or pulls
 * nothing (the queue empties, `lastSyncAt` moves, `lastError` clears), so the hook reads it
 * again on its own: 50 ms after the last event of the store from any tab (a write, a pulled
 * change, `conflict`, `syncError`; a burst of events is one read), then 0.1, 0.2, 0.4 ... s
 * after that, and every 3.2 s once nothing has happened for a while. A read that gives the
 * status already shown re-renders nothing.
 *
 * @returns `undefined` while the first read is pending (and while `store` is null or
 * undefined: pass null to show no status). A store opened without `sync` throws its
 * INVALID_INPUT during render, as `syncStatus()` rejects, for an error boundary; so does any
 * read that rejects (CLOSED once the store is closed under a mounted hook).
 */
export function useSyncStatus(store: SessionStore | null | undefined): SyncStatus | undefined;
