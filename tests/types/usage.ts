// Typed usage of the package as a TypeScript user writes it. `tsc --noEmit` checks it in
// `npm test`: the good calls must type-check, and each `@ts-expect-error` line must be an error
// (tsc fails if one is not), so the declarations are neither `any` nor too loose.
import init, {
  SessionStore,
  type JsonValue,
  type SaveManyResult,
  type SessionEvent,
  type SessionRecord,
  type SessionState,
  type SessionStoreOptions,
  type StoreError,
  type SyncReport,
  type SyncStatus,
  type StoreErrorCode,
} from "wasm-session-store";

interface Cart extends SessionState {
  items: string[];
  total: number;
}

export async function usage(): Promise<void> {
  await init();
  const options: SessionStoreOptions = {
    backend: "auto",
    name: "shop",
    ttlMs: 30 * 60_000,
    sliding: true,
    maxLifetimeMs: null,
    sweepIntervalMs: 60_000,
    now: () => Date.now(),
  };
  const store: SessionStore = await SessionStore.open(options);
  await SessionStore.open();
  const backend: "indexeddb" | "localstorage" | "sessionstorage" | "memory" = store.backend;
  const reason: string | null = store.fallbackReason;
  const name: string = store.name;

  const created: SessionRecord<Cart> = await store.create<Cart>({ items: ["apple"], total: 1 });
  await store.create();
  await store.create({}, { ttlMs: null, id: "fixed-id" });
  const id: string = created.id;
  const version: number = created.version;
  const expiresAt: number | null = created.expiresAt;

  const loaded = await store.load<Cart>(id);
  if (loaded !== null) {
    const items: string[] = loaded.state.items;
    void items;
  }
  const v2: number = await store.save(id, { items: [], total: 0, nested: { a: [1, null, true] } });
  const v3: number = await store.saveIfVersion(id, { items: [] }, v2);
  await store.updateTtl(id, 60_000);
  await store.updateTtl(id, null);
  const newId: string = await store.changeId(id);
  await store.changeId(newId, "another-id");
  const removed: number = await store.deleteExpired(100);
  await store.deleteExpired();
  const ids: string[] = await store.ids();
  const value: JsonValue | undefined = await store.get(newId, "total");
  const v4: number = await store.set(newId, "total", 2);
  const v5: number = await store.remove(newId, "total");
  const existed: boolean = await store.delete(newId);
  await store.clear();
  store.close();

  try {
    await store.load(id);
  } catch (e) {
    const err = e as StoreError;
    const code: StoreErrorCode = err.code;
    if (err.code === "VERSION_CONFLICT") {
      const expected: number | undefined = err.expected;
      const actual: number | undefined = err.actual;
      void expected, actual;
    }
    void code;
  }

  const describe = (ev: SessionEvent): string => {
    switch (ev.type) {
      case "cleared":
        return `cleared (local: ${ev.local})`;
      case "idChanged":
        return `${ev.id} -> ${ev.newId} v${ev.version}`;
      default:
        return `${ev.type} ${ev.id} v${ev.version}`;
    }
  };
  const off: () => void = store.subscribe((ev) => console.log(describe(ev)));
  off();
  void [backend, reason, name, version, expiresAt, v3, removed, ids, value, v4, v5, existed];

  // Batches: records or null in order; per-entry outcomes narrowed by `ok`.
  const many: (SessionRecord<Cart> | null)[] = await store.loadMany<Cart>([id, "other"]);
  const outcomes: SaveManyResult[] = await store.saveMany([{ id, state: { n: 1 } }, { id: "b", state: {}, expected: 0 }]);
  for (const outcome of outcomes) {
    if (outcome.ok) {
      const v: number = outcome.version;
      void v;
    } else {
      const code: StoreErrorCode = outcome.error.code;
      void code;
    }
  }
  void many;

  // What the types must refuse:
  // @ts-expect-error state must be an object
  await store.save(id, "not an object");
  // @ts-expect-error values must be JSON (no functions)
  await store.save(id, { f: () => 1 });
  // @ts-expect-error values must be JSON (no undefined)
  await store.set(id, "k", undefined);
  // @ts-expect-error unknown backend
  await SessionStore.open({ backend: "cookies" });
  // @ts-expect-error unknown option
  await SessionStore.open({ ttl: 5 });
  // @ts-expect-error expected is a number
  await store.saveIfVersion(id, {}, "1");
  // @ts-expect-error ids are strings
  await store.load(42);
  // @ts-expect-error the backend is read-only
  store.backend = "memory";
  // @ts-expect-error subscribe takes a function
  store.subscribe("not a function");
  // @ts-expect-error saveMany entries need a state
  await store.saveMany([{ id }]);
  // @ts-expect-error a failed entry has no version
  const noVersion = (r: Extract<SaveManyResult, { ok: false }>) => r.version;
  void noVersion;
  // @ts-expect-error a cleared event has no id
  const noId = (ev: Extract<SessionEvent, { type: "cleared" }>) => ev.id;
  void noId;

  // Sync: the option, the pass and the status, the events.
  const synced = await SessionStore.open({
    name: "synced",
    sync: {
      url: "https://api.example.com",
      headers: async () => ({ Authorization: "Bearer t" }),
      intervalMs: null,
      conflict: (local, remote) => (local && remote ? { ...remote.state, ...local.state } : null),
    },
  });
  const report: SyncReport = await synced.syncNow();
  const pushed: number = report.pushed + report.pulled + report.conflicts + report.pending;
  void pushed;
  const status: SyncStatus = await synced.syncStatus();
  const last: number | null = status.lastSyncAt;
  const why: string | undefined = status.lastError?.code;
  void last;
  void why;
  synced.subscribe((ev) => {
    if (ev.type === "conflict") {
      const r: "server" | "client" | "merged" = ev.resolution;
      void r;
    } else if (ev.type === "syncError") {
      const c: string = ev.code;
      void c;
    } else if (ev.type === "saved" && ev.remote) {
      const v: number = ev.version;
      void v;
    }
  });
  // @ts-expect-error the sync url is required
  await SessionStore.open({ sync: {} });
  // @ts-expect-error conflict is "server", "client" or a function
  await SessionStore.open({ sync: { url: "https://x", conflict: "merge" } });
}
