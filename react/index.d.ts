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
