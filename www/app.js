// The demo app: one store, its live sessions, a state editor with optimistic versioning, the
// change feed of this and other tabs, the storage the browser gives the origin, and sync to the
// server that `npm run demo` starts (each browser profile is a device).
// It uses the package exactly as an app would: `import ... from "wasm-session-store"`.
import init, { SessionStore } from "wasm-session-store";

const $ = (id) => document.getElementById(id);
const BACKENDS = ["auto", "indexeddb", "localstorage", "sessionstorage", "memory"];
const STORE_OPTIONS = { name: "demo", ttlMs: 120_000, sweepIntervalMs: 5_000 };
const WHY = {
  indexeddb: "IndexedDB: every compare-and-swap runs in one readwrite transaction, so tabs and workers never lose an update.",
  localstorage: "localStorage: one tab, elected with a Web Lock, performs every write, so tabs never lose an update.",
  sessionstorage: "sessionStorage: this tab only; other tabs have their own, and it ends with the tab.",
  memory: "memory: this page only; a reload starts empty.",
};

/** How often the store pulls from the sync server. */
const PULL_MS = 3000;
/**
 * Conflict policies the demo offers. "merge" keeps both devices' edits: the union of arrays (the
 * cart), the larger of numbers (visits), this device's value of anything else; a session deleted
 * on one side and edited on the other is kept, with the edit.
 */
const CONFLICTS = {
  server: "server",
  client: "client",
  merge: (local, remote) => {
    if (!local || !remote) return (local ?? remote)?.state ?? null;
    const merged = { ...remote.state, ...local.state };
    for (const [key, theirs] of Object.entries(remote.state)) {
      const ours = local.state[key];
      if (Array.isArray(ours) && Array.isArray(theirs)) {
        merged[key] = [...theirs, ...ours.filter((v) => !theirs.some((t) => JSON.stringify(t) === JSON.stringify(v)))];
      } else if (typeof ours === "number" && typeof theirs === "number") merged[key] = Math.max(ours, theirs);
    }
    return merged;
  },
};
const WHAT_CONFLICT = {
  server: "the server's version wins: this device's edit is dropped",
  client: "this device's edit wins: it is pushed over the server's",
  merge: "both edits are kept: carts are joined, the larger count of visits kept",
};
/** This device's offline switch (every tab of the profile reads it), and its last sync view. */
const OFFLINE_KEY = "wss-demo:offline";
const SYNC_VIEW_KEY = "wss-demo:sync-view";

const params = new URLSearchParams(location.search);
const requested = BACKENDS.includes(params.get("backend")) ? params.get("backend") : "auto";
const conflict = params.get("conflict") in CONFLICTS ? params.get("conflict") : "merge";
/** @type {SessionStore} */
let store;
/** The session in the editor and the version the editor's text was loaded at. */
let selected = null;
/** Live records by id, as last read, for the table and its countdowns. */
let records = new Map();
/** The table refresh in flight, and whether another was asked for meanwhile. */
let refreshing = null;
let again = false;
/** persist() is asked once per page. */
let persistAsked = false;
/** The sync server's URL (from sync/config.json), or null: no sync. */
let syncUrl = null;
/** The last syncStatus(), a read of it in flight, and the read asked for meanwhile. */
let status = null;
let reading = null;
let readAgain = null;
/**
 * What this tab knows of each session's sync, by id: `dirtyAt` (when this device wrote it, until
 * a status with nothing pending is read after that), `syncedAt` (the last sync it was in),
 * `refused` (the code of the server's refusal of its push), `conflicts` (how many) and the last
 * conflict's `resolution` and `conflictAt`. The store says how many sessions are pending, not
 * which: each tab keeps this from the change feed (every tab hears every event), and saves it
 * in localStorage for the next page of the device to start from.
 */
let syncView = readSyncView();

offlineSwitch();
showNetwork();
registerServiceWorker();
showStorage();
try {
  await start();
  document.body.dataset.ready = "true";
} catch (e) {
  say("error", describe(e));
  document.body.dataset.ready = "error";
}

async function start() {
  $("backend-pick").value = requested;
  $("conflict-pick").value = conflict;
  await init();
  syncUrl = await fetch("sync/config.json").then((r) => (r.ok ? r.json() : {})).then((c) => c.url ?? null, () => null);
  const sync = syncUrl && { url: syncUrl, intervalMs: PULL_MS, conflict: CONFLICTS[conflict] };
  store = await SessionStore.open({ backend: requested, ...STORE_OPTIONS, ...(sync && { sync }) });
  $("backend").textContent = store.backend;
  $("backend-why").textContent = store.fallbackReason
    ? `"auto" fell back: ${store.fallbackReason}. ${WHY[store.backend]}`
    : `${requested === "auto" ? '"auto" picked it. ' : ""}${WHY[store.backend]}`;
  store.subscribe(onEvent);

  on("create", async () => {
    const record = await store.create({ user: "ada", cart: ["apple"], visits: 1 }, { ttlMs: ttlMs() });
    await refresh();
    await select(record.id);
    say("ok", `Created ${record.id}, version ${record.version}.`);
  });
  on("change-id", async () => {
    const old = selected.id;
    const id = await store.changeId(old);
    selected.id = id;
    await refresh();
    say("ok", `Renamed ${old} to ${id}: state, version and deadline kept (e.g. after a login, against session fixation).`);
  });
  on("extend", async () => {
    await store.updateTtl(selected.id, ttlMs());
    await refresh();
    say("ok", `${selected.id} now expires in ${ttlMs() / 1000} s.`);
  });
  on("delete", async () => {
    const id = selected.id;
    const removed = await store.delete(id);
    deselect();
    await refresh();
    say("ok", removed ? `Deleted ${id}.` : `${id} had already expired or gone.`);
  });
  on("delete-expired", async () => {
    const removed = await store.deleteExpired();
    await refresh();
    say("ok", `Removed ${removed} expired session${removed === 1 ? "" : "s"}.`);
  });
  on("save", async () => {
    const state = editedState();
    if (!state) return;
    selected.version = await store.save(selected.id, state);
    showEditing();
    say("ok", `Saved unconditionally: ${selected.id} is at version ${selected.version}.`);
  });
  on("save-if", async () => {
    const state = editedState();
    if (!state) return;
    try {
      selected.version = await store.saveIfVersion(selected.id, state, selected.version);
      showEditing();
      say("ok", `Saved: version ${selected.version - 1} was still current, now ${selected.version}.`);
    } catch (e) {
      if (e.code !== "VERSION_CONFLICT") throw e;
      say(
        "conflict",
        e.actual === 0
          ? `Version conflict: ${selected.id} no longer exists (expired or deleted elsewhere). Nothing was written.`
          : `Version conflict: you edited version ${e.expected}, but another tab saved version ${e.actual} first. ` +
            `Nothing was written. "Reload from store" shows their state; apply your change again and save.`,
      );
    }
  });
  on("reload-editor", async () => {
    await select(selected.id);
  });
  on("sync-now", syncNow);
  $("sessions").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) select(row.dataset.id).catch((e) => say("error", describe(e)));
  });

  showSync();
  await refresh();
  setInterval(tick, 250);
  // A pass that pushes without a conflict, or pulls nothing, changes the status with no event.
  if (syncUrl) setInterval(refreshSync, 1000);
}

/** Runs a button's action, showing any StoreError plainly. */
function on(id, action) {
  $(id).addEventListener("click", async () => {
    try {
      await action();
    } catch (e) {
      say("error", describe(e));
    }
  });
}

function onEvent(event) {
  log(event);
  trackSync(event);
  const who = event.remote ? "another device (through the sync server)" : "another tab";
  if (selected && event.id === selected.id) {
    if (event.type === "idChanged") selected.id = event.newId;
    else if (event.type === "deleted" || event.type === "expired") {
      say("info", `${event.id} was ${event.type === "expired" ? "removed as expired" : "deleted"}${event.local && !event.remote ? "" : ` by ${who}`}.`);
      deselect();
    } else if (event.type === "conflict") {
      say("conflict", `Sync conflict on ${event.id}: another device changed it on the server meanwhile. Settled: ${event.resolution} ` +
        `(${WHAT_CONFLICT[conflict]}). "Reload from store" shows the result.`);
    } else if (event.type === "saved" && event.version !== selected.version) {
      // Not this tab's save (its own version is the editor's by now): another's, or a conflict settled.
      const by = event.remote ? "Another device (through the sync server)" : event.local ? "Sync, settling a conflict," : "Another tab";
      selected.latest = event.version;
      say("info", `${by} saved ${event.id} (now version ${event.version}); your editor holds version ${selected.version}. ` +
        `"Save if version" will be refused; "Reload from store" shows theirs.`);
    }
    showEditing();
  }
  if (event.type === "cleared") deselect();
  refreshSoon();
}

/** Coalesces the table refreshes a burst of events asks for. */
function refreshSoon() {
  if (refreshing) again = true;
  else refreshing = refresh().catch((e) => say("error", describe(e))).finally(() => {
    refreshing = null;
    if (again) { again = false; refreshSoon(); }
  });
}

async function refresh() {
  const ids = await store.ids();
  const loaded = await Promise.all(ids.map((id) => store.load(id)));
  records = new Map(loaded.filter(Boolean).sort((a, b) => a.createdAt - b.createdAt).map((r) => [r.id, r]));
  const body = $("sessions");
  body.replaceChildren(...[...records.values()].map((r) => {
    const row = document.createElement("tr");
    row.dataset.id = r.id;
    row.classList.toggle("selected", r.id === selected?.id);
    row.append(
      cell(r.id, "id"), cell(String(r.version), "version"), cell(time(r.createdAt)), cell(time(r.updatedAt)),
      cell("", "expires"), cell("", "sync"), cell("", "synced-at"), cell("", "conflicts"),
    );
    return row;
  }));
  $("count").textContent = `${records.size} in "${STORE_OPTIONS.name}"`;
  $("empty").hidden = records.size > 0;
  tick();
  showStorage();
  await refreshSync();
}

// ---- Sync ----

/** The offline switch: while on, this device's requests to the sync server fail (all its tabs). */
function isOffline() {
  return localStorage.getItem(OFFLINE_KEY) === "on";
}

/**
 * A page cannot set navigator.onLine, and the store fetches with the page's `fetch`: the switch
 * stands between them, failing the sync server's requests as a lost network does (a TypeError),
 * so the store queues, retries with backoff and reports UNAVAILABLE exactly as when offline.
 */
function offlineSwitch() {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (syncUrl && isOffline() && url.startsWith(syncUrl)) {
      return Promise.reject(new TypeError("the network is off (the demo's offline switch)"));
    }
    return realFetch(input, init);
  };
  const box = $("offline");
  box.checked = isOffline();
  box.addEventListener("change", () => {
    if (box.checked) localStorage.setItem(OFFLINE_KEY, "on");
    else localStorage.removeItem(OFFLINE_KEY);
    showSync();
    if (!box.checked) syncNow().catch((e) => say("error", describe(e)));
  });
  addEventListener("storage", (event) => {
    if (event.key === OFFLINE_KEY) {
      box.checked = isOffline();
      showSync();
    }
  });
}

/** One pass now: push what is queued, settle conflicts, pull. */
async function syncNow() {
  if (!syncUrl) return;
  const r = await store.syncNow().catch((e) => {
    refreshSync();
    throw e;
  });
  await refreshSync();
  const settled = r.conflicts ? ` (${WHAT_CONFLICT[conflict]}; "Reload from store" shows the result)` : "";
  say("ok", `Synced: pushed ${r.pushed}, pulled ${r.pulled}, ${r.conflicts} conflict${r.conflicts === 1 ? "" : "s"} settled${settled}, ${r.pending} pending.`);
}

function readSyncView() {
  try {
    return JSON.parse(localStorage.getItem(SYNC_VIEW_KEY)) ?? {};
  } catch {
    return {};
  }
}

function saveSyncView() {
  localStorage.setItem(SYNC_VIEW_KEY, JSON.stringify(syncView));
}

/** The sync view's entry for `id`, made if missing. */
function viewOf(id) {
  return (syncView[id] ??= { dirtyAt: null, syncedAt: null, refused: null, conflicts: 0 });
}

/** Keeps the sync view from the change feed (writes from this device, conflicts, refusals). */
function trackSync(event) {
  if (!syncUrl || !event.id) return;
  const v = viewOf(event.id);
  const at = Date.now();
  if (event.type === "idChanged") {
    syncView[event.newId] = { ...v, dirtyAt: at };
    delete syncView[event.id];
  } else if (["created", "saved", "ttlUpdated", "deleted", "expired"].includes(event.type) && !event.remote) {
    v.dirtyAt = at;
  } else if (event.type === "conflict") {
    Object.assign(v, { conflicts: v.conflicts + 1, resolution: event.resolution, conflictAt: at });
  } else if (event.type === "syncError") {
    v.refused = event.code;
  } else return;
  saveSyncView();
  showSync();
}

/** Reads the status (one read at a time) and what it tells of each session. */
function refreshSync() {
  if (!syncUrl) return null;
  if (reading) {
    return (readAgain ??= reading.then(() => {
      readAgain = null;
      return refreshSync();
    }));
  }
  const asked = Date.now();
  reading = store.syncStatus().then((s) => {
    status = s;
    // Nothing pending: every write made before this read was pushed (or settled).
    if (s.pending === 0) {
      for (const [id, v] of Object.entries(syncView)) {
        if (v.dirtyAt !== null && v.dirtyAt < asked) Object.assign(v, { dirtyAt: null, refused: null });
        if (!records.has(id) && !v.dirtyAt) delete syncView[id];
      }
    }
    for (const id of records.keys()) {
      const v = viewOf(id);
      if (!v.dirtyAt && s.lastSyncAt !== null) v.syncedAt = s.lastSyncAt;
    }
    saveSyncView();
    showSync();
  }, (e) => say("error", describe(e))).finally(() => {
    reading = null;
  });
  return reading;
}

/** The sync card, and each session's sync cells. */
function showSync() {
  const on = Boolean(syncUrl);
  const offline = on && isOffline();
  document.body.dataset.sync = on ? (offline ? "offline" : "online") : "off";
  $("sync-server").textContent = on ? syncUrl : "off: no sync server (npm run demo starts one)";
  $("offline").disabled = $("sync-now").disabled = !on;
  $("sync-chip").textContent = !on ? "sync: off" : offline ? "sync: offline" : "sync: on";
  $("sync-chip").classList.toggle("off", offline);
  $("conflict-what").textContent = WHAT_CONFLICT[conflict];
  if (!on || !status) return;
  $("pending").textContent = status.pending === 0 ? "nothing pending: all synced" : `${status.pending} session${status.pending === 1 ? "" : "s"} pending`;
  $("pending").className = status.pending ? "pending" : "synced";
  $("last-sync").textContent = status.lastSyncAt === null ? "never" : time(status.lastSyncAt);
  $("sync-error").textContent = status.lastError ? `${status.lastError.code}: ${status.lastError.message}` : "none";
  $("sync-error").className = status.lastError ? "bad" : "";
  for (const row of $("sessions").rows) {
    const v = syncView[row.dataset.id] ?? {};
    const state = row.querySelector(".sync");
    state.textContent = v.dirtyAt ? (v.refused ? `refused: ${v.refused}` : "pending") : "synced";
    state.className = `sync ${v.dirtyAt ? "pending" : "synced"}`;
    row.querySelector(".synced-at").textContent = v.syncedAt ? time(v.syncedAt) : "never";
    row.querySelector(".conflicts").textContent = v.conflicts ? `${v.conflicts} · ${v.resolution} ${time(v.conflictAt)}` : "";
  }
}

/** Updates the countdowns. */
function tick() {
  const now = Date.now();
  for (const row of $("sessions").rows) {
    const { expiresAt } = records.get(row.dataset.id) ?? {};
    const td = row.querySelector(".expires");
    const left = expiresAt == null ? Infinity : expiresAt - now;
    td.textContent = left === Infinity ? "never" : left <= 0 ? "expired" : duration(left);
    td.className = `expires${left <= 0 ? " gone" : left < 15_000 ? " soon" : ""}`;
  }
}

async function select(id) {
  const record = await store.load(id);
  if (!record) {
    deselect();
    say("info", `${id} has expired or was deleted.`);
    return refresh();
  }
  selected = { id, version: record.version };
  $("state").value = JSON.stringify(record.state, null, 2);
  showEditing();
  say("", "");
}

function deselect() {
  selected = null;
  $("state").value = "";
  showEditing();
}

function showEditing() {
  const on = selected !== null;
  const behind = on && selected.latest > selected.version ? ` · the store has version ${selected.latest}` : "";
  $("editing").textContent = on ? `${selected.id} · editing version ${selected.version}${behind}` : "select a session";
  for (const id of ["state", "save", "save-if", "reload-editor", "change-id", "extend", "delete"]) $(id).disabled = !on;
  $("save-if").textContent = on ? `Save if version ${selected.version}` : "Save if version";
  for (const row of $("sessions").rows) row.classList.toggle("selected", row.dataset.id === selected?.id);
}

/** The editor's JSON, or null (with a message) when it is not a JSON object. */
function editedState() {
  try {
    const state = JSON.parse($("state").value);
    if (state && typeof state === "object" && !Array.isArray(state)) return state;
    say("error", "The state must be a JSON object, e.g. {\"user\": \"ada\"}.");
  } catch (e) {
    say("error", `Not valid JSON: ${e.message}`);
  }
  return null;
}

function ttlMs() {
  const seconds = Number($("ttl").value);
  return Number.isInteger(seconds) && seconds > 0 ? seconds * 1000 : 120_000;
}

function log(event) {
  const item = document.createElement("li");
  const badge = document.createElement("span");
  badge.className = `badge ${event.remote ? "server" : event.local ? "local" : "remote"}`;
  badge.textContent = event.remote ? "server" : event.local ? "this tab" : "other tab";
  const what = [
    time(Date.now()), event.type, event.id, event.newId && `→ ${event.newId}`, event.version && `v${event.version}`,
    event.resolution && `→ ${event.resolution}`, event.code && `${event.code}: ${event.message}`,
  ];
  item.append(badge, what.filter(Boolean).join(" "));
  item.dataset.type = event.type;
  item.dataset.local = event.local;
  item.dataset.remote = Boolean(event.remote);
  const list = $("log");
  list.prepend(item);
  while (list.children.length > 200) list.lastChild.remove();
}

function say(kind, text) {
  $("message").className = kind;
  $("message").textContent = text;
}

function describe(e) {
  return e?.name === "StoreError" ? `${e.code}: ${e.message}` : String(e?.message ?? e);
}

function showNetwork() {
  const show = () => {
    $("network").textContent = navigator.onLine ? "online" : "offline";
    $("network").classList.toggle("off", !navigator.onLine);
  };
  addEventListener("online", show);
  addEventListener("offline", show);
  show();
}

async function registerServiceWorker() {
  const chip = $("sw");
  if (!("serviceWorker" in navigator)) {
    chip.textContent = "no service worker (needs https or localhost)";
    return;
  }
  const show = () => {
    const controlled = Boolean(navigator.serviceWorker.controller);
    chip.textContent = controlled ? "service worker: works offline" : "service worker: installing";
    document.body.dataset.sw = controlled ? "controlled" : "installing";
  };
  navigator.serviceWorker.addEventListener("controllerchange", show);
  show();
  try {
    await navigator.serviceWorker.register("sw.js");
  } catch (e) {
    chip.textContent = `service worker failed: ${e.message}`;
  }
}

async function showStorage() {
  if (!navigator.storage?.estimate) {
    $("usage").textContent = $("persisted").textContent = "not available here";
    return;
  }
  const { usage, quota } = await navigator.storage.estimate();
  $("usage").textContent = `${bytes(usage)} of ${bytes(quota)} (${((100 * usage) / quota).toFixed(3)} %)`;
  if (persistAsked) return;
  persistAsked = true;
  const granted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
  $("persisted").textContent = granted
    ? "yes: the browser will not evict this origin's data under storage pressure"
    : "no (persist() → false): the browser may evict this data under storage pressure; it grants persistence to installed or much-used sites";
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function time(ms) {
  return new Date(ms).toLocaleTimeString();
}

function duration(ms) {
  const s = Math.ceil(ms / 1000);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}
