// The page side of the engine-neutral test harness (scripts/engines.mjs drives it over W3C
// WebDriver in Chromium, Firefox and WebKit alike). A classic script that test.html loads
// before anything else, so that it sees every uncaught error of the page and can take APIs
// away before the package looks for them.
//
//   ?without=locks,BroadcastChannel,indexedDB,localStorage
//       plays an engine (or a policy) without those: older Safari has neither Web Locks nor
//       BroadcastChannel, private modes and policies block storage.
"use strict";
(() => {
  const without = new Set((new URLSearchParams(location.search).get("without") ?? "").split(",").filter(Boolean));
  const blocked = (what) => () => { throw new DOMException(`${what} is disabled by policy`, "SecurityError"); };
  for (const api of without) {
    if (api === "locks") delete Navigator.prototype.locks;
    else if (api === "BroadcastChannel") delete globalThis.BroadcastChannel;
    else if (api === "indexedDB" || api === "localStorage") {
      Object.defineProperty(globalThis, api, { get: blocked(api), configurable: true });
    } else throw new Error(`harness.js: unknown ?without=${api}`);
  }

  // Uncaught errors and unhandled rejections, kept as events: whether a test's own handler
  // took one (preventDefault) is only known once every handler has run.
  const uncaught = [];
  addEventListener("error", (e) => uncaught.push(e));
  addEventListener("unhandledrejection", (e) => uncaught.push(e));
  const describeError = (e) => {
    const error = e.type === "unhandledrejection" ? e.reason : e.error ?? e.message;
    // JavaScriptCore's and SpiderMonkey's `stack` has the frames only: the name and message first.
    const head = error instanceof Error ? `${error.name}: ${error.message}` : undefined;
    const stack = error?.stack;
    if (head && stack && !stack.startsWith(head)) return `${e.type}: ${head}\n${stack}`;
    return `${e.type}: ${stack ?? error?.message ?? String(error)}`;
  };

  // Values cross to node as JSON text with tags for what JSON cannot say, so that a test sees
  // exactly what the page had: undefined (also as a key's value), NaN, ±Infinity, -0, BigInt,
  // holes in arrays, errors with their fields, and objects that use "$" as a key.
  const encode = (value) => {
    const seen = new Set();
    const tag = (v) => {
      switch (typeof v) {
        case "undefined": return { $: "undefined" };
        case "number":
          if (Number.isNaN(v)) return { $: "NaN" };
          if (v === Infinity || v === -Infinity) return { $: String(v) };
          return Object.is(v, -0) ? { $: "-0" } : v;
        case "bigint": return { $: "bigint", v: String(v) };
        case "symbol": return { $: "symbol", v: String(v) };
        case "function": return { $: "function", v: v.name };
        case "object": break;
        default: return v;
      }
      if (v === null) return null;
      if (seen.has(v)) return { $: "cycle" };
      seen.add(v);
      try {
        if (v instanceof Error || (v instanceof Object && typeof v.code === "string" && "message" in v)) {
          const fields = {};
          for (const key of ["name", "message", "code", "expected", "actual", "stack"]) {
            if (v[key] !== undefined) fields[key] = tag(v[key]);
          }
          return { $: "error", v: fields, isError: v instanceof Error };
        }
        if (Array.isArray(v)) return Array.from({ length: v.length }, (_, i) => (i in v ? tag(v[i]) : { $: "hole" }));
        const entries = Object.entries(v).map(([k, x]) => [k, tag(x)]);
        const plain = Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null;
        if (!plain || Object.hasOwn(v, "$")) {
          return { $: "object", v: Object.fromEntries(entries), class: v.constructor?.name ?? null };
        }
        return Object.fromEntries(entries);
      } finally {
        seen.delete(v);
      }
    };
    return JSON.stringify(tag(value));
  };
  // The same tags, read back (what node passes in as an argument).
  const untag = (v) => {
    if (Array.isArray(v)) return v.map(untag);
    if (v === null || typeof v !== "object") return v;
    switch (v.$) {
      case undefined: return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, untag(x)]));
      case "undefined": return undefined;
      case "NaN": return NaN;
      case "Infinity": return Infinity;
      case "-Infinity": return -Infinity;
      case "-0": return -0;
      case "bigint": return BigInt(v.v);
      case "object": return untag(v.v);
      default: throw new Error(`harness.js: cannot pass a ${v.$} into the page`);
    }
  };

  const runs = new Map();
  let next = 0;
  globalThis.__harness = {
    /** Starts `source` (a function's text) on the argument; returns the run's token. */
    start(source, argument) {
      const token = ++next;
      const run = { result: undefined, waiter: undefined };
      runs.set(token, run);
      const settle = (result) => {
        run.result = result;
        run.waiter?.();
      };
      Promise.resolve()
        .then(() => (0, eval)(`(${source})`)(untag(JSON.parse(argument))))
        .then((value) => settle({ value: encode(value) }), (error) => settle({ thrown: encode(error) }));
      return token;
    },
    /** Calls `done(result)` once the run settles, or `done(null)` after `ms`. */
    wait(token, ms, done) {
      const run = runs.get(token);
      if (!run) return done({ thrown: encode(new Error(`harness.js: no run ${token} in this page (was it reloaded?)`)) });
      let timer;
      const finish = () => {
        clearTimeout(timer);
        runs.delete(token);
        done(run.result);
      };
      if (run.result) return finish();
      timer = setTimeout(() => { run.waiter = undefined; done(null); }, ms);
      run.waiter = finish;
    },
    /** The page's uncaught errors that no handler of the test took. */
    uncaught: () => uncaught.filter((e) => !e.defaultPrevented).map(describeError),
  };
})();
