// The sync server and Redis for the JS client-sync tests (tests/js/sync*.test.mjs), started and
// stopped by PID from Node:
//   startServer(options)  wss-server through scripts/sync-server.mjs (port 0, its listening
//                         line), on memory or a Redis, with `--insecure-dev` or an HS256 secret
//                         file of its own
//   startRedis()          a standalone redis-server on a free port, through scripts/redis.sh
//                         (the same start and stop as scripts/test-server.sh), or the one named
//                         by WSS_TEST_REDIS (redis://127.0.0.1:PORT), which is then left running
//   jwt(secret, claims)   an HS256 token for `--jwt-secret-file`
// The server binary is built by scripts/build-server.sh (scripts/test.sh runs it before the JS
// tests).
import { spawn, execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startSyncServer } from "./sync-server.mjs";

const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));
const run = promisify(execFile);

/** Waits for `child` to exit (at most `ms`, then SIGKILL). */
function exited(child, ms = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.once("exit", () => { clearTimeout(timer); ok(); });
  });
}

/**
 * Starts wss-server: on memory, or on `redis` (a redis:// URL); with `jwtSecret` (a string,
 * written to a file of its own for `--jwt-secret-file`), else `--insecure-dev`; `allowOrigins`
 * each as `--allow-origin`; `args` appended as they are. Resolves to `{ url, pid, args, stop() }`.
 */
export async function startServer({ redis, jwtSecret, allowOrigins = [], args = [] } = {}) {
  let secretDir;
  const argv = [];
  if (redis) argv.push("--redis", redis);
  if (jwtSecret !== undefined) {
    secretDir = mkdtempSync(join(tmpdir(), "wss-jwt-"));
    writeFileSync(join(secretDir, "secret"), `${jwtSecret}\n`);
    argv.push("--jwt-secret-file", join(secretDir, "secret"));
  } else argv.push("--insecure-dev");
  for (const origin of allowOrigins) argv.push("--allow-origin", origin);
  argv.push(...args);
  const cleanup = () => secretDir && rmSync(secretDir, { recursive: true, force: true });
  let server;
  try {
    server = await startSyncServer({ args: argv });
  } catch (e) {
    cleanup();
    throw e;
  }
  return {
    url: server.url.replace(/\/$/, ""),
    pid: server.process.pid,
    args: argv,
    async stop() {
      await server.stop();
      cleanup();
    },
  };
}

/**
 * A standalone Redis: WSS_TEST_REDIS if set, else one started by scripts/redis.sh in a bash
 * that stops it (by PID, redis.sh's exit trap) when told to or when this process goes away
 * (its stdin closes). Resolves to `{ url, port, cli(...args), stop() }`; `cli` runs redis-cli
 * against it (`--raw`) and resolves to its output.
 */
export async function startRedis() {
  const named = process.env.WSS_TEST_REDIS;
  if (named) return redisHandle(named, async () => {});
  const script = `
    set -euo pipefail
    source scripts/redis.sh
    redis_begin
    start_standalone
    echo "redis at $REDIS_URL"
    trap 'exit 0' TERM INT
    read -r _ || true
    exit 0`;
  const child = spawn("bash", ["-c", script], { cwd: repo, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`redis.sh did not start Redis within 20 s:\n${out}`)), 20_000);
    child.stdout.on("data", () => {
      const m = /redis at (redis:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.once("exit", (code) => { clearTimeout(timer); fail(new Error(`redis.sh exited (${code}):\n${out}`)); });
  });
  return redisHandle(url, async () => {
    child.kill("SIGTERM");
    await exited(child, 10_000);
  });
}

function redisHandle(url, stop) {
  const port = Number(new URL(url).port);
  return {
    url,
    port,
    stop,
    async cli(...args) {
      const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "--raw", ...args], { maxBuffer: 64 << 20 });
      return stdout;
    },
  };
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** An HS256 JWT of `claims` (e.g. `{ sub: "alice", exp }`) signed with `secret`. */
export function jwt(secret, claims) {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}
