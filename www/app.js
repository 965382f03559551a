// The demo app: one store, its live sessions, a state editor with optimistic versioning, the
// change feed of this and other tabs, and the storage the browser gives the origin.
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

const params = new URLSearchParams(location.search);
const requested = BACKENDS.includes(params.get("backend")) ? params.get("backend") : "auto";
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
  await init();
  store = await SessionStore.open({ backend: requested, ...STORE_OPTIONS });
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
  $("sessions").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) select(row.dataset.id).catch((e) => say("error", describe(e)));
  });

  await refresh();
  setInterval(tick, 250);
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
  if (selected && event.id === selected.id) {
    if (event.type === "idChanged") selected.id = event.newId;
    else if (event.type === "deleted" || event.type === "expired") {
      say("info", `${event.id} was ${event.type === "expired" ? "removed as expired" : "deleted"}${event.local ? "" : " by another tab"}.`);
      deselect();
    } else if (!event.local && event.type === "saved" && event.version !== selected.version) {
      say("info", `Another tab saved ${event.id} (now version ${event.version}); your editor holds version ${selected.version}. ` +
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
      cell("", "expires"),
    );
    return row;
  }));
  $("count").textContent = `${records.size} in "${STORE_OPTIONS.name}"`;
  $("empty").hidden = records.size > 0;
  tick();
  showStorage();
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
  $("editing").textContent = on ? `${selected.id} · editing version ${selected.version}` : "select a session";
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
  badge.className = `badge ${event.local ? "local" : "remote"}`;
  badge.textContent = event.local ? "this tab" : "other tab";
  const what = [time(Date.now()), event.type, event.id, event.newId && `→ ${event.newId}`, event.version && `v${event.version}`];
  item.append(badge, what.filter(Boolean).join(" "));
  item.dataset.type = event.type;
  item.dataset.local = event.local;
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
