// Page-side helpers of the JS tests: structural equality, the outcome of a call, and named
// checks that node reports together (tests/js/helpers.mjs `report`).

/**
 * Structural equality: primitives by `Object.is` (NaN equals NaN, -0 is not 0), arrays by
 * length and element (a hole is not `undefined`), other objects by prototype and own
 * enumerable keys in any order, with `undefined` values kept apart from missing keys.
 */
export function same(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if ((i in a) !== (i in b) || !same(a[i], b[i])) return false;
    }
    return true;
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

/**
 * What a promise settled to: `{ value }` or `{ error: { name, code, message, ... } }`; `cause`
 * is the browser exception behind the error (`{ name, message, isDOMException }`), if any.
 */
export function outcome(promise) {
  if (!(promise instanceof Promise)) return Promise.resolve({ notAPromise: promise });
  return promise.then(
    (value) => ({ value }),
    (e) => ({
      error: {
        name: e?.name, code: e?.code, message: e?.message, isError: e instanceof Error,
        expected: e?.expected, actual: e?.actual,
        cause: e?.cause && {
          name: e.cause.name, message: e.cause.message, isDOMException: e.cause instanceof DOMException,
        },
      },
    }),
  );
}

/** `outcome(fn())`, or `{ threw }` when `fn` throws synchronously (no async method may). */
export function call(fn) {
  try {
    return outcome(fn());
  } catch (e) {
    return Promise.resolve({ threw: { name: e?.name, code: e?.code, message: e?.message } });
  }
}

/** A list of `[name, ok, detail]` checks and the function that adds one. */
export function checker() {
  const checks = [];
  return { checks, check: (name, ok, detail) => checks.push([name, !!ok, detail]) };
}

/**
 * The page globals the JS tests' page code uses: `wss` (the package, initialised), `outcome`,
 * `call`, `same`, `checker`, and `raw` (at-rest.js: raw reads and edits of stored records).
 */
export async function globals() {
  Object.assign(globalThis, { wss: await wss(), outcome, call, same, checker, raw: await import("/t/at-rest.js") });
}

/** The package, initialised once per page. */
export async function wss() {
  globalThis.__wss ??= import("wasm-session-store").then(async (m) => { await m.default(); return m; });
  return globalThis.__wss;
}
