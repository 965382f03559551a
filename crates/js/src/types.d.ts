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
  | "CLOSED";

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
  | "cleared";

/**
 * A change to a store. Carries no state: call `load` to read it. `local` is true only on the
 * store instance that made the change (false: another instance, tab or worker).
 */
export type SessionEvent =
  | {
      type: "created" | "saved" | "ttlUpdated" | "deleted" | "expired";
      id: string;
      version: number;
      local: boolean;
    }
  | { type: "idChanged"; id: string; newId: string; version: number; local: boolean }
  | { type: "cleared"; local: boolean };

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
