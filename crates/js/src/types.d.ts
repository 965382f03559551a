/** A value JSON can hold. Numbers are finite; no `undefined` anywhere. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A session's state: string keys to JSON values. */
export type SessionState = { [key: string]: JsonValue };

/** Where a store keeps its sessions. */
export type BackendName = "indexeddb" | "localstorage" | "sessionstorage" | "memory";

/** Options of `SessionStore.open`. Unknown keys and wrong types reject with INVALID_INPUT. */
export interface SessionStoreOptions {
  /** Default "auto": IndexedDB, else localStorage, else memory (see `fallbackReason`). */
  backend?: "auto" | BackendName;
  /** Database name / key prefix: 1 to 64 of `A-Z a-z 0-9 _ . -`. Default "sessions". */
  name?: string;
  /** TTL of new sessions in ms (a positive safe integer), or null for none. Default 86_400_000. */
  ttlMs?: number | null;
  /** Idle timeout: every successful load or write moves the deadline to now + TTL. Default false. */
  sliding?: boolean;
  /** Absolute cap from `createdAt` that no deadline passes, in ms, or null. Default null. */
  maxLifetimeMs?: number | null;
  /** Background sweep interval in ms, or null for none. Default 60_000. */
  sweepIntervalMs?: number | null;
  /** Clock override: ms since the Unix epoch. For tests: no sleeping for expiry. */
  now?: () => number;
  /**
   * Encrypts every stored state (AES-GCM 256, WebCrypto), and authenticates every field of a
   * record but `expiresAt` (which `maxLifetimeMs` caps). `"device"`: a non-extractable key made
   * by the first write and kept in IndexedDB (UNAVAILABLE where IndexedDB is not), destroyed by
   * `clear()`. `{ key }`: the app's own AES-GCM 256-bit key with the encrypt and decrypt usages
   * (else INVALID_INPUT); opening with a key other than the one the data was written with
   * rejects INVALID_INPUT, and so does opening an encrypted store without this option. Records
   * this key did not seal (plaintext ones included) are CORRUPT. Default: none. See the README,
   * "Encryption".
   */
  encryption?: "device" | { key: CryptoKey };
  /**
   * The shape version of the state this app writes now (an integer >= 0, default 0); every
   * write stores it with the record. Raise it when a release changes the shape of its state,
   * and give `migrate`. A record written with a higher one (by a newer release of the app, in
   * another tab) is CORRUPT to this store's reads. See the README, "State migrations".
   */
  stateVersion?: number;
  /**
   * Upgrades the state of a record written with a lower `stateVersion` to the current one. It
   * runs (synchronously) on every read of such a record (load, loadMany, get, and the read of
   * set and remove) before anything else sees it; what it returns is what the caller gets,
   * and is stored (version + 1) by the session's next write. Reads never write it. It must be
   * free of side effects (it may run more than once per read). Throwing, or returning
   * anything but a plain object of JSON values (a promise included): INVALID_INPUT with its
   * message, and nothing is written. Without it, older records are returned as stored.
   */
  migrate?: (state: SessionState, fromVersion: number) => SessionState;
  /**
   * Syncs the store with a `wss-server` (see the README, "Sync"): every local write is queued
   * in the same transaction and pushed with `If-Match` on the server's ETag it was based on;
   * the server's changes are pulled. Adds `syncNow()` and `syncStatus()`. Not with `"device"`
   * encryption (a device key never leaves its device), nor for a store named "." or "..".
   */
  sync?: SyncOptions;
}

/** The `sync` option. */
export interface SyncOptions {
  /** The server: an absolute http(s) URL; the store adds `/v1/stores/<name>/...`. */
  url: string;
  /**
   * Called once per pass, before its first request; its headers (e.g. `Authorization`) go on
   * every request of the pass. Throwing or rejecting fails the pass with UNAUTHORIZED.
   */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  /** How often to pull, in ms (a positive safe integer), or null: only in `syncNow()`. Default 30_000. */
  intervalMs?: number | null;
  /**
   * How a push refused with 412 (the server's session moved on) is settled: "server" (the
   * default: the local session takes the server's record, or is deleted when it is gone),
   * "client" (the local state is pushed again over the server's version), or a synchronous
   * function of both records (null: deleted) returning the state to keep and push, or null to
   * delete the session. A function that throws or returns something else is a `syncError`
   * INVALID_INPUT, and the session stays queued.
   */
  conflict?: "server" | "client" | ((local: SessionRecord | null, remote: SessionRecord | null) => SessionState | null);
}

/** What one `syncNow()` pass did: counts of sessions. */
export interface SyncReport {
  /** Changes the server took (conflicts settled included). */
  pushed: number;
  /** Sessions written here from the server's changes. */
  pulled: number;
  /** Conflicts settled. */
  conflicts: number;
  /** Sessions still queued after the pass. */
  pending: number;
}

/** Where sync stands, as kept with the queue (it survives reloads). */
export interface SyncStatus {
  /** Sessions with a change queued. */
  pending: number;
  /** When the last pass that completed ended, on the store's clock (ms since the epoch), or null. */
  lastSyncAt: number | null;
  /** The last failure (of a pass, or of a session's push), until a pass completes with none. */
  lastError: { code: string; message: string } | null;
}

/** Options of `create`. */
export interface CreateOptions {
  /** This session's TTL in ms, or null for none. Default: the store's `ttlMs`. */
  ttlMs?: number | null;
  /** Use this id (1 to 128 of `A-Z a-z 0-9 _ -`) instead of a generated one. */
  id?: string;
}

/** A session as stored. A fresh plain object: changing it changes nothing stored. */
export interface SessionRecord<S extends SessionState = SessionState> {
  id: string;
  state: S;
  /** 1 on create, +1 on every write to `state`. */
  version: number;
  /** ms since the Unix epoch. */
  createdAt: number;
  /** When `state` was last written, ms since the Unix epoch. */
  updatedAt: number;
  /** Deadline in ms since the Unix epoch, or null: never expires. */
  expiresAt: number | null;
  /** The session's own TTL (sliding uses it), or null. */
  ttlMs: number | null;
}

/** One write of `saveMany`: as `save` without `expected`, as `saveIfVersion` with it. */
export interface SaveManyEntry {
  id: string;
  state: SessionState;
  /** The version the live session must have (0: must not exist); absent for no check. */
  expected?: number;
}

/** The outcome of one `saveMany` entry. */
export type SaveManyResult =
  | { ok: true; id: string; version: number }
  /** Not written: VERSION_CONFLICT (with `expected` and `actual`), or CORRUPT. */
  | { ok: false; id: string; error: StoreError };

/** The `code` of a `StoreError`. */
export type StoreErrorCode =
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "VERSION_CONFLICT"
  | "INVALID_INPUT"
  | "QUOTA_EXCEEDED"
  | "CORRUPT"
  | "UNAVAILABLE"
  | "BLOCKED"
  | "CLOSED"
  /** Sync only: the server refused the credentials (401, 403), or `headers()` failed. */
  | "UNAUTHORIZED";

/**
 * What every promise of a `SessionStore` rejects with: an `Error` whose `name` is
 * "StoreError", with a `code` to branch on and a message that says what to do.
 */
export interface StoreError extends Error {
  name: "StoreError";
  code: StoreErrorCode;
  /** On VERSION_CONFLICT: the version the write expected. */
  expected?: number;
  /** On VERSION_CONFLICT: the live version (0 when missing or expired). */
  actual?: number;
  /**
   * On UNAVAILABLE and QUOTA_EXCEEDED, when a browser API threw: that exception, as a
   * `DOMException` with the browser's `name` (e.g. "QuotaExceededError", "SecurityError",
   * "InvalidStateError") and message.
   */
  cause?: DOMException;
}

/** The kinds of change a subscriber hears about. */
export type SessionEventType =
  | "created"
  | "saved"
  | "ttlUpdated"
  | "deleted"
  | "expired"
  | "idChanged"
  | "cleared"
  | "conflict"
  | "syncError";

/**
 * A change to a store. Carries no state: call `load` to read it. `local` is true only on the
 * store instance that made the change (false: another instance, tab or worker); `remote` is
 * true on a change a pull from the sync server made.
 */
export type SessionEvent =
  | {
      type: "created" | "saved" | "ttlUpdated" | "deleted" | "expired";
      id: string;
      version: number;
      local: boolean;
      remote?: true;
    }
  | { type: "idChanged"; id: string; newId: string; version: number; local: boolean; remote?: true }
  | { type: "cleared"; local: boolean }
  /**
   * A synced store settled a conflict: which way. (No `version`: declared absent so that code
   * written before these events, reading `version` of any event but "cleared", still compiles.)
   */
  | { type: "conflict"; id: string; resolution: "server" | "client" | "merged"; local: boolean; version?: undefined }
  /** A synced store's push of `id` was refused, or (no `id`) a pass failed. */
  | { type: "syncError"; id?: string; code: string; message: string; local: boolean; version?: undefined };

/**
 * A session store: TTL expiry and optimistic versioning over IndexedDB, localStorage,
 * sessionStorage or memory. Open one with `SessionStore.open(options)`.
 *
 * Every async method returns a promise that rejects with a `StoreError` (it never throws,
 * whatever the arguments), and behaves the same on every backend. `subscribe` is synchronous
 * and throws a `StoreError` (INVALID_INPUT, CLOSED). Expired sessions are invisible: `load` gives null and
 * writes reject NOT_FOUND.
 */
export class SessionStore {
  private constructor();
  /** Opens a store. Rejects INVALID_INPUT for bad options, UNAVAILABLE when an explicit backend cannot be used, BLOCKED when another tab holds an old IndexedDB version open. */
  static open(options?: SessionStoreOptions): Promise<SessionStore>;
  /** The backend in use. */
  readonly backend: BackendName;
  /** null for an explicit backend, or when "auto" got IndexedDB; otherwise why it fell back. */
  readonly fallbackReason: string | null;
  /** The store name. */
  readonly name: string;
  /** Creates a session (state defaults to `{}`). With `id`: ALREADY_EXISTS if that session is live. */
  create<S extends SessionState = SessionState>(state?: S, options?: CreateOptions): Promise<SessionRecord<S>>;
  /** The live session, or null when missing or expired. With `sliding`, moves its deadline. */
  load<S extends SessionState = SessionState>(id: string): Promise<SessionRecord<S> | null>;
  /**
   * The live sessions of `ids`, in the same order (null where missing or expired), read in one
   * transaction. With `sliding`, moves each one's deadline. Rejects INVALID_INPUT when an id
   * appears twice, CORRUPT for the first unreadable record.
   */
  loadMany<S extends SessionState = SessionState>(ids: readonly string[]): Promise<(SessionRecord<S> | null)[]>;
  /**
   * Writes many sessions in one transaction; resolves to one result per entry, in order. Not
   * all-or-nothing: an entry that fails its version check gets `{ ok: false, error }` and is
   * not written, while the others are, all committed together. Bad input (including an id
   * twice) rejects INVALID_INPUT, and QUOTA_EXCEEDED rejects the call; then nothing is written.
   */
  saveMany(entries: readonly SaveManyEntry[]): Promise<SaveManyResult[]>;
  /** Writes the state unconditionally (creating the session if absent); resolves to the new version. */
  save(id: string, state: SessionState): Promise<number>;
  /** Writes the state if the live version is `expected` (0: must not exist); else VERSION_CONFLICT with `expected` and `actual`. Resolves to the new version. */
  saveIfVersion(id: string, state: SessionState, expected: number): Promise<number>;
  /** Sets the session's TTL (null: none) and its deadline to now + TTL. NOT_FOUND if missing or expired. */
  updateTtl(id: string, ttlMs: number | null): Promise<void>;
  /** Removes a session; resolves to whether a live one was removed. */
  delete(id: string): Promise<boolean>;
  /** Renames a session atomically, keeping everything else; resolves to the new id (generated when absent). */
  changeId(oldId: string, newId?: string): Promise<string>;
  /** Removes expired sessions (at most `batchSize`); resolves to how many. */
  deleteExpired(batchSize?: number): Promise<number>;
  /** The ids of live sessions, in no particular order. */
  ids(): Promise<string[]>;
  /** One value of a session's state, or undefined when the key is absent. NOT_FOUND if the session is missing or expired. */
  get(id: string, key: string): Promise<JsonValue | undefined>;
  /** Sets one key of a session's state; resolves to the new version. */
  set(id: string, key: string, value: JsonValue): Promise<number>;
  /** Removes one key of a session's state; resolves to the version (unchanged when the key was absent). */
  remove(id: string, key: string): Promise<number>;
  /** Removes every session of this store, and nothing else. */
  clear(): Promise<void>;
  /**
   * One sync pass at once: pushes every queued change (settling conflicts by the policy),
   * then pulls the server's changes. Ignores the backoff of a failed pass, not a Retry-After
   * still running (then rejects UNAVAILABLE at once, saying when). Rejects UNAVAILABLE when a
   * network error, a 5xx, a 429 or an unreadable answer stopped the pass, UNAUTHORIZED on 401
   * or 403 or when `headers()` failed, INVALID_INPUT for a store without `sync`. Nothing queued
   * is lost either way.
   */
  syncNow(): Promise<SyncReport>;
  /** Where sync stands. INVALID_INPUT for a store without `sync`. */
  syncStatus(): Promise<SyncStatus>;
  /**
   * Calls `listener` with every change to this store: from this instance (`local: true`) and
   * from other instances, tabs and workers of the origin (`local: false`). Events arrive
   * asynchronously, in write order, and carry no state (call `load`). Returns the function
   * that unsubscribes. Throws CLOSED after `close()`, INVALID_INPUT for a non-function.
   */
  subscribe(listener: (event: SessionEvent) => void): () => void;
  /** Closes the store: later calls reject with CLOSED; stops the sweeper and subscriptions. Idempotent. */
  close(): void;
  /** Closes the store and releases the wasm memory behind this object; it cannot be used afterwards (`using` calls it). */
  free(): void;
  [Symbol.dispose](): void;
}
