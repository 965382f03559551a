// One attempt at a Rust browser suite: runs COMMAND (a `cargo test` whose runner is
// wasm-bindgen-test-runner), passes its output through, frees the runner's page when it stalls
// loading its scripts, and ends the attempt if that does not help before any test started.
// scripts/test.sh (`rust_suite`) retries an attempt ended that way.
//   node scripts/wbg-attempt.mjs COMMAND ARGS...
// Exit status: COMMAND's, or 75 when the attempt was ended as a stall (no test had started).
//
// The stall (issue 27, item 18). wasm-bindgen-test-runner 0.2.130 serves the test page with
// rouille 3.6 on tiny_http 0.12. tiny_http gives each TCP connection a thread of its pool for the
// connection's whole keep-alive life (4 threads at the start). It queues a new connection instead
// of starting a thread when it counts an idle one, and that count still includes threads woken
// for earlier connections that have not run yet. The glue of the IndexedDB and encrypted suites
// imports 5 snippets at once: the browser reuses the page's connection for one and opens 4 new
// ones while 3 threads are idle. If the 4th is queued before the woken threads ran (likely on a
// loaded 2-core machine), no thread is left to take it until a browser connection closes, which
// the browser puts off for minutes. The page stays at "Loading scripts...": seen in Chromium,
// Firefox and WebKit, with the stranded request's bytes unread in the socket and 4 pool threads
// each waiting on an idle connection. Chromium gives up the page load at 300 s; the runner then
// waits WASM_BINDGEN_TEST_TIMEOUT more (609 s in all, measured) and fails.
//
// What this does, only until the first "running N tests" line:
// - a request unread on the runner's server for NUDGE_MS (a connection to its listening port
//   whose receive queue is not empty, /proc/net/tcp; a served request leaves it at once): one
//   connection is opened to the server and closed. tiny_http starts a thread for it (none is idle)
//   and that thread, its connection ended, takes the queued one: the page loads on;
// - the request still unread UNREAD_MS after it was first seen: the attempt ends (a stall);
// - no "running N tests" NO_START_MS after the runner printed "Running headless tests" (its
//   browser's start, the page's load, the .wasm's compile: 1-5 s measured under load): the attempt
//   ends (a stall of some other cause).
// This is watched again for each test binary of the attempt (each has its runner). Once a test
// of a binary has started nothing here ends it: WASM_BINDGEN_TEST_TIMEOUT bounds it, and its
// failure is the suite's. An attempt ended after any of its tests started is a failure (exit 1),
// never a stall.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import net from "node:net";
import os from "node:os";

const NUDGE_MS = 1000;
const UNREAD_MS = 5000;
const NO_START_MS = 60000;
const POLL_MS = 250;
const STALL_EXIT = 75;
// The harness prints "running 1 test" or "running 12 tests" before its first test. Not anchored:
// the runner streams the page's text as it polls it, and a line may carry what came before.
const STARTED = /running \d+ tests?\b/;
const PAGE = /Running headless tests in /;

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error("usage: node scripts/wbg-attempt.mjs COMMAND ARGS...");
  process.exit(2);
}
const note = (s) => console.log(`(wbg-attempt: ${s})`);

// Its own process group, so that a stalled attempt ends with cargo, the runner, the driver and
// the browser, and nothing else.
const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
// Per test binary (cargo runs one runner per binary): when its runner started the browser
// driver, and whether its first test started; and whether any test of the attempt started.
let pageAt = 0;
let started = false;
let anyStarted = false;
let runner = "";
let srv = null;
const unreadSince = new Map(); // peer -> when its request was first seen unread, and if nudged
function line(text, complete) {
  if (STARTED.test(text)) started = anyStarted = true;
  if (complete && PAGE.test(text)) {
    pageAt = Date.now();
    started = false;
    runner = "";
    srv = null;
    unreadSince.clear();
  }
}
for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
  let partial = "";
  from.setEncoding("utf8");
  from.on("data", (chunk) => {
    to.write(chunk);
    const lines = (partial + chunk).split("\n");
    partial = lines.pop();
    for (const l of lines) line(l, true);
    line(partial, false); // a test's start is taken as soon as it shows
  });
}
// The group is not in the terminal's foreground group: a Ctrl-C or a kill of this script is passed on.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    try { process.kill(-child.pid, sig); } catch {}
    process.exit(128 + os.constants.signals[sig]);
  });
}
const closed = Promise.all([child.stdout, child.stderr].map((s) => new Promise((r) => s.on("close", r))));
const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));

// The pids of the attempt's process group.
function group() {
  const pids = [];
  let names = [];
  try { names = readdirSync("/proc"); } catch {} // no /proc (not Linux): only NO_START_MS applies
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === child.pid) pids.push(name);
    } catch {} // gone meanwhile
  }
  return pids;
}
function runnerPid() {
  for (const pid of group()) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0].endsWith("wasm-bindgen-test-runner")) return pid;
    } catch {}
  }
  return "";
}
// IPv4 sockets (the runner listens on 127.0.0.1): local address, port, state, unread bytes, inode.
function tcpRows() {
  let lines;
  try { lines = readFileSync("/proc/net/tcp", "utf8").trim().split("\n").slice(1); } catch { return []; }
  return lines.map((line) => {
    const f = line.trim().split(/\s+/);
    const [addr, port] = f[1].split(":");
    return {
      host: addr.match(/../g).reverse().map((b) => parseInt(b, 16)).join("."), // little-endian hex
      port: parseInt(port, 16),
      peer: f[2],
      state: f[3], // 0A listening, 01 established
      unread: parseInt(f[4].split(":")[1], 16),
      inode: f[9],
    };
  });
}
// The runner's server: its one listening socket.
function server(pid) {
  const inodes = new Set();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {}
    }
  } catch { return null; }
  const row = tcpRows().find((r) => r.state === "0A" && inodes.has(r.inode));
  return row ? { listen: row.host, host: row.host === "0.0.0.0" ? "127.0.0.1" : row.host, port: row.port } : null;
}
function nudge({ host, port }) {
  const s = net.connect({ host, port }, () => s.destroy());
  s.on("error", () => {});
}

let stall = "";
let endedAt = 0;
const timer = setInterval(() => {
  const now = Date.now();
  if (stall) {
    // Ended: SIGTERM first, SIGKILL 10 s later (the driver and the browser may outlive cargo).
    if (!endedAt) endedAt = now;
    try { process.kill(-child.pid, now - endedAt < 10000 ? "SIGTERM" : "SIGKILL"); } catch {}
    return;
  }
  if (started) return;
  if (!runner) runner = runnerPid();
  if (runner && !srv) srv = server(runner);
  if (srv) {
    const unread = tcpRows().filter((r) => r.state === "01" && r.unread > 0 && r.port === srv.port &&
      (srv.listen === "0.0.0.0" || r.host === srv.listen));
    for (const peer of unreadSince.keys()) if (!unread.some((r) => r.peer === peer)) unreadSince.delete(peer);
    for (const { peer } of unread) {
      if (!unreadSince.has(peer)) unreadSince.set(peer, { at: now, nudged: false });
      const u = unreadSince.get(peer);
      if (!u.nudged && now - u.at >= NUDGE_MS) {
        u.nudged = true;
        note(`a request to the runner's server went unread for ${NUDGE_MS / 1000} s, before any test: one connection opened and closed to free it`);
        nudge(srv);
      }
      if (now - u.at >= UNREAD_MS) stall = `a request to the runner's server went unread for ${UNREAD_MS / 1000} s`;
    }
  }
  if (!stall && pageAt && now - pageAt >= NO_START_MS) {
    stall = `no test started ${NO_START_MS / 1000} s after the runner started its browser driver`;
  }
}, POLL_MS);

const { code, signal } = await exited;
// After a stall, until the whole group is gone (the timer above escalates to SIGKILL).
while (stall && group().length) await new Promise((r) => setTimeout(r, POLL_MS));
clearInterval(timer);
if (stall) { try { process.kill(-child.pid, "SIGKILL"); } catch {} } // where group() cannot see
// All of the output before the verdict: an attempt whose tests started is never a stall.
await closed;
if (stall && !anyStarted) {
  note(`the runner's page stalled before any test ran: ${stall}; attempt ended`);
  process.exit(STALL_EXIT);
}
if (stall) {
  note(`ended as a stall (${stall}) after some of its tests started: a failure, not retried`);
  process.exit(1);
}
process.exit(code ?? 128 + (os.constants.signals[signal] ?? 0));
