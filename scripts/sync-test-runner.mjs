// wasm-bindgen-test-runner with a sync server, for the Rust browser tests that sync
// (tests/sync_web.rs), as cargo's runner:
//   CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="node $PWD/scripts/sync-test-runner.mjs" \
//     cargo test -p wasm-session-store --target wasm32-unknown-unknown --test sync_web
// (scripts/test.sh does this, with each engine's driver). wss-server answers CORS only for the
// exact origins it is told, and the runner serves its page from a random port: so this picks a
// free port for the runner (WASM_BINDGEN_TEST_ADDRESS), starts `wss-server --insecure-dev
// --allow-origin http://127.0.0.1:<that port>` (scripts/sync-server.mjs; built by
// scripts/build-server.sh), and tells the tests its URL in a file that the runner's own server
// serves: besides its generated files it serves its working directory (the crate's), so the
// page reads it at /target/sync-test-runner/<its port>. Both are gone when the runner exits,
// with its exit code.
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { startSyncServer } from "./sync-server.mjs";

/** A port free on 127.0.0.1 now. */
const freePort = () =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

const port = await freePort();
const server = await startSyncServer({ args: ["--insecure-dev", "--allow-origin", `http://127.0.0.1:${port}`] });
const dir = join(process.cwd(), "target", "sync-test-runner");
const file = join(dir, String(port));
mkdirSync(dir, { recursive: true });
writeFileSync(file, server.url);

const runner = spawn("wasm-bindgen-test-runner", process.argv.slice(2), {
  stdio: "inherit",
  env: { ...process.env, WASM_BINDGEN_TEST_ADDRESS: `127.0.0.1:${port}` },
});
const stop = async () => {
  rmSync(file, { force: true });
  await server.stop();
};
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => runner.kill(signal));
runner.on("error", async (e) => {
  await stop();
  console.error(`sync-test-runner: wasm-bindgen-test-runner: ${e.message}`);
  process.exit(1);
});
runner.on("exit", async (code, signal) => {
  await stop();
  process.exit(code ?? (signal ? 1 : 0));
});
