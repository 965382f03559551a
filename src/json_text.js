// A JS value as JSON text, checked strictly: nothing JSON cannot hold gets through and nothing
// is silently converted (JSON.stringify drops undefined and functions, turns NaN into null,
// calls toJSON and unwraps Dates; this refuses all of those).
//
// It runs in JS because it reads every property of the value: from wasm each read is a call
// across the boundary, which made converting a state most of the cost of a save. The build
// (scripts/inline-snippets.mjs) inlines this file into the package's JS glue.

const NOTE = " (state holds only JSON: null, booleans, finite numbers, strings, arrays, plain objects)";
const LONE_SURROGATE = /\p{Cs}/u;
const MAX_DEPTH = 512;

/**
 * `value` as JSON text, or a thrown string `<what><path>: <problem> (...)` naming the first
 * part that is not JSON, e.g. `state.cart[2]: undefined (...)`.
 * @param {unknown} value
 * @param {string} what
 * @returns {string}
 */
export function json_text(value, what) {
  const ancestors = [];
  const fail = (at, problem) => {
    throw at + ": " + problem + NOTE;
  };
  const string = (s, at) => (LONE_SURROGATE.test(s) ? fail(at, "string with a lone surrogate") : JSON.stringify(s));
  const walk = (v, at) => {
    switch (typeof v) {
      case "string":
        return string(v, at);
      case "number":
        // String(x) is JSON's number text: the shortest that reads back to the same bits.
        return Number.isFinite(v) ? String(v) : fail(at, "NaN or Infinity");
      case "boolean":
        return String(v);
      case "object":
        if (v === null) return "null";
        break;
      default:
        // undefined, function, symbol, bigint
        return fail(at, v === undefined ? "undefined" : "a " + typeof v);
    }
    if (ancestors.includes(v)) fail(at, "a cycle (the value contains itself)");
    if (ancestors.length >= MAX_DEPTH) fail(at, "nested more than 512 levels deep");
    ancestors.push(v);
    const parts = [];
    let text;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const here = at + "[" + i + "]";
        parts.push(i in v ? walk(v[i], here) : fail(here, "a hole in a sparse array"));
      }
      text = "[" + parts.join(",") + "]";
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== null && proto !== Object.prototype) {
        fail(at, "an object that is not a plain object (Date, Map, Promise, class instance, ...)");
      }
      if (Object.getOwnPropertySymbols(v).length > 0) fail(at, "an object with symbol keys");
      for (const key of Object.keys(v)) {
        const name = string(key, at);
        const here = at + "." + key;
        let item;
        try {
          item = v[key];
        } catch (e) {
          fail(here, String(e)); // "TypeError: ..." for an Error
        }
        parts.push(name + ":" + walk(item, here));
      }
      text = "{" + parts.join(",") + "}";
    }
    ancestors.pop();
    return text;
  };
  return walk(value, what);
}
