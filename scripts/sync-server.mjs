// Starts the sync server (`wss-server`, crates/server) for the demo, the JS tests and the
// benchmarks: the release binary at target/server/wss-server (`cargo build -p
// wasm-session-store-server --profile server`; scripts/build-server.sh), on 127.0.0.1 and a
// free port, with the flags given. Resolves once it prints `listening on http://HOST:PORT`.
//   const server = await startSyncServer({ args: ["--insecure-dev"] });
//   ... server.url ...
//   await server.stop();
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const SERVER_BIN = fileURLToPath(new URL("../target/server/wss-server", import.meta.url));

/**
 * Starts `wss-server` with `args` (default `--insecure-dev`: no auth, owner `dev`) on
 * 127.0.0.1:0. Resolves to `{ url, process, stop() }`; rejects with the server's own output
 * when it exits or does not start within `timeoutMs`.
 */
export function startSyncServer({ args = ["--insecure-dev"], timeoutMs = 20_000 } = {}) {
  if (!existsSync(SERVER_BIN)) {
    return Promise.reject(new Error(`${SERVER_BIN} is missing: run bash scripts/build-server.sh`));
  }
  const child = spawn(SERVER_BIN, ["--listen", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`wss-server did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const fail = (e) => {
      clearTimeout(timer);
      child.kill();
      reject(e);
    };
    child.on("exit", (code) => fail(new Error(`wss-server exited (${code}):\n${output}`)));
    child.stderr.on("data", (d) => (output += d));
    child.stdout.on("data", (d) => {
      output += d;
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      const stop = () =>
        new Promise((ok) => {
          if (child.exitCode !== null) return ok();
          child.once("exit", () => ok());
          child.kill();
        });
      resolve({ url: m[1], process: child, stop });
    });
  });
}
