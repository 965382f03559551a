// The package as users get it, for tests/js/consumer.test.mjs and tests/js/node.test.mjs: the
// tarball of `npm pack`, installed from the registry's point of view into an app of
// tests/consumer/ next to one bundler (tests/consumer/<bundler>/package.json pins it exactly).
//
// `npm test` runs these files once per engine, so each install and each build is kept under
// target/consumer/ (git-ignored), keyed by what it depends on: the tarball's bytes (pkg/, the
// README, package.json), the bundler's manifest, the app's sources, and the platform (bundlers
// ship native binaries). The first engine pays for it; the others reuse it, and so does the next
// run until something in the key changes. An install goes into a fresh directory renamed into
// place when complete, so a killed run leaves nothing half-installed behind; a build writes a
// marker when it succeeds and is redone otherwise.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const repo = fileURLToPath(new URL("../..", import.meta.url));
const consumer = join(repo, "tests/consumer");
const cache = join(repo, "target/consumer");
/** The app every bundler builds: a page and its module worker (tests/consumer/). */
const APP_FILES = ["index.html", "main.js", "worker.js"];

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

let packing;
/** `npm pack` of the repo (once per process): npm's JSON about it, and the tarball's path. */
export function packed() {
  packing ??= (() => {
    mkdirSync(cache, { recursive: true });
    // What a killed run left half-made (dot-directories: tarballs, installs not yet in place).
    for (const f of readdirSync(cache)) {
      if (f.startsWith(".") && Date.now() - statSync(join(cache, f)).mtimeMs > 3600_000) rmSync(join(cache, f), { recursive: true, force: true });
    }
    const dir = mkdtempSync(join(cache, ".pack-"));
    const [info] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dir], {
      cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"],
    }));
    return { info, tarball: join(dir, info.filename), dir };
  })();
  return packing;
}

/** Removes the tarball's temporary directory (the installs keep their own copy). */
export function cleanUp() {
  if (packing) rmSync(packing.dir, { recursive: true, force: true });
  packing = undefined;
}

/**
 * The installed app of `bundler`: a directory holding the app's sources, the bundler's
 * package.json with this tarball added as a dependency, and node_modules. `files` are extra
 * files to write into it ({ name: text }: the configs README.md shows), part of the key.
 * Resolves to { dir, cached, seconds }.
 */
export function installed(bundler, files = {}) {
  const { info, tarball } = packed();
  const manifest = readFileSync(join(consumer, bundler, "package.json"), "utf8");
  const hash = createHash("sha256").update(info.integrity).update(manifest)
    .update(`${process.platform}-${process.arch}-${process.versions.node.split(".")[0]}`);
  for (const f of APP_FILES) hash.update(readFileSync(join(consumer, f)));
  for (const [name, text] of Object.entries(files).sort()) hash.update(name).update(text);
  const dir = join(cache, `${bundler}-${hash.digest("hex").slice(0, 16)}`);
  if (existsSync(join(dir, ".installed"))) return { dir, cached: true };

  const started = Date.now();
  const tmp = mkdtempSync(join(cache, `.${bundler}-`));
  try {
    for (const f of APP_FILES) cpSync(join(consumer, f), join(tmp, f));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(tmp, name), text);
    cpSync(tarball, join(tmp, info.filename));
    const pkg = JSON.parse(manifest);
    pkg.dependencies["wasm-session-store"] = `file:./${info.filename}`;
    writeFileSync(join(tmp, "package.json"), JSON.stringify(pkg, null, 2));
    // From the registry, or npm's cache when it has them (pinned versions, so either way the same).
    execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: tmp, stdio: ["ignore", "ignore", "pipe"],
    });
    writeFileSync(join(tmp, ".installed"), new Date().toISOString());
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another process installed the same app meanwhile: use its copy.
      if (!existsSync(join(dir, ".installed"))) throw e;
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`${bundler}: npm install failed: ${e.stderr?.toString().trim() || e.message}`);
  }
  // Older installs of this bundler's app are dead weight (a Parcel install is ~150 MB).
  for (const old of readdirSync(cache)) {
    if (old.startsWith(`${bundler}-`) && join(cache, old) !== dir) rmSync(join(cache, old), { recursive: true, force: true });
  }
  return { dir, cached: false, seconds: seconds(started) };
}

/**
 * Runs `build(dir)` in the installed app once (it must write `dir/dist`), and resolves to
 * { dist, cached, seconds }. A failed build is redone next time, so its error is seen again.
 */
export async function built(app, build) {
  const dist = join(app.dir, "dist");
  const marker = join(app.dir, ".built");
  if (existsSync(marker)) return { dist, cached: true };
  const started = Date.now();
  rmSync(dist, { recursive: true, force: true });
  await build(app.dir);
  writeFileSync(marker, new Date().toISOString());
  return { dist, cached: false, seconds: seconds(started) };
}

/** Runs `node args...` in the app's directory (a tool's script, as its bin would); its output on failure. */
export function run(dir, args) {
  try {
    return execFileSync(process.execPath, args, {
      cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" },
    });
  } catch (e) {
    throw new Error(`node ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
  }
}

/**
 * The body of README.md's code block fenced as ```js <name> (the exact config a bundler
 * needs, as users read it); fails if there is not exactly one.
 */
export function readmeFile(name) {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/^```js (\S+)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === name);
  if (blocks.length !== 1) throw new Error(`README.md has ${blocks.length} blocks fenced \`\`\`js ${name}, expected 1`);
  return blocks[0][2];
}
