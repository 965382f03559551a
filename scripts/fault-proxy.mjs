// A fault-injecting HTTP proxy in front of wss-server, for the sync tests: mounted on the test
// pages' static server (scripts/serve.mjs `mount(prefix, proxy.handle)`), so that a page's
// sync URL `<origin>/<prefix>` is same-origin and needs no CORS. Requests under the prefix are
// forwarded to `target` unless a rule says otherwise, and every request is logged.
//
//   const proxy = faultProxy("http://127.0.0.1:PORT");
//   server.mount("/p/a/", proxy.handle);          // the client's sync.url: <origin>/p/a
//   proxy.rule({ method: "PUT" }, "drop", { times: 1 });
//   proxy.log                                     // what was asked and answered, in order
//
// Rules are tried in the order added; the first that matches (and has `times` left) acts.
// A match is a function of the log entry, or an object whose fields must all hold:
// `method`, `kind` ("session" | "move" | "changes" | "other"), `store`, `id` (strings, or
// RegExps), e.g. `{ method: "PUT", id: "s1" }`. Actions:
//   "pass"      forward (what happens without a rule)
//   "down"      no answer: the connection is closed without forwarding (a network error)
//   "drop"      forward, let the server answer, then close the connection without a byte back
//               (the answer is lost; the write happened). A browser may resend such a
//               request by itself on a new connection (it got nothing back): that is logged too
//   "cut"       forward, then send the server's status and headers and half its body, and close
//               (the browser gets an answer it cannot read in full)
//   { status, headers?, body? }            answer this, without forwarding (503 + Retry-After,
//                                          an HTML page, garbage); body: a string or a value
//                                          sent as JSON
//   { forward: true, status?, headers?, body? }   forward, then answer this instead (status
//                                          and headers default to the server's)
//   { rewrite(answer) }                    forward, then answer what `rewrite({ status,
//                                          headers, body })` returns (body: the text)
//   { auth: "Bearer X" }                   401 UNAUTHORIZED unless Authorization is exactly this
//   { delay: ms, then?: action }           wait, then act (default "pass")
//   { hold: promise, then?: action }       wait until the promise settles, then act
import { request } from "node:http";

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer", "content-length"]);

/** What a path under the mount names: `{ store, id, kind }`. */
function parse(rest) {
  const path = rest.split("?")[0];
  const m = /^\/v1\/stores\/([^/]+)(?:\/sessions\/([^/]+)(\/move)?|\/(changes))?\/?$/.exec(path);
  if (!m) return { store: undefined, id: undefined, kind: "other" };
  const dec = (s) => { try { return decodeURIComponent(s); } catch { return s; } };
  return {
    store: dec(m[1]),
    id: m[2] === undefined ? undefined : dec(m[2]),
    kind: m[4] ? "changes" : m[3] ? "move" : m[2] !== undefined ? "session" : "other",
  };
}

function matches(match, entry) {
  if (typeof match === "function") return match(entry);
  return Object.entries(match ?? {}).every(([k, want]) =>
    want instanceof RegExp ? want.test(String(entry[k] ?? "")) : entry[k] === want);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Creates a proxy to `target` (an http://HOST:PORT origin, no path). */
export function faultProxy(target) {
  const upstream = new URL(target);
  let seq = 0;
  let inFlight = 0;
  const proxy = {
    target,
    /** Every request, in arrival order (see `entry` below). */
    log: [],
    rules: [],
    /** The most requests this proxy had open at once, and how many are open now. */
    maxInFlight: 0,
    get open() { return inFlight; },
    /** Adds a rule; returns it (`rule.hits` counts its uses, `rule.remove()` ends it). */
    rule(match, action, { times = Infinity } = {}) {
      const rule = { match, action, times, hits: 0, remove: () => { rule.times = 0; } };
      proxy.rules.push(rule);
      return rule;
    },
    /** Drops every rule (the proxy passes everything again). */
    clearRules() {
      proxy.rules.length = 0;
    },
    /** Log entries matching `match` (same form as a rule's). */
    entries(match) {
      return proxy.log.filter((e) => matches(match, e));
    },
    handle: (req, res, rest) => {
      handle(req, res, rest).catch((e) => {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`fault proxy: ${e?.message ?? e}`);
      });
    },
  };

  const readBody = (stream) => new Promise((ok, fail) => {
    const chunks = [];
    stream.on("data", (c) => chunks.push(c));
    stream.on("end", () => ok(Buffer.concat(chunks)));
    stream.on("error", fail);
  });

  function forward(req, rest, body) {
    const headers = { ...req.headers, host: upstream.host };
    delete headers.connection;
    delete headers["keep-alive"];
    delete headers["proxy-connection"];
    delete headers["transfer-encoding"];
    headers["content-length"] = String(body.length);
    return new Promise((ok, fail) => {
      // A connection per request (agent: false): a kept-alive one that the server closed after
      // refusing a body unread (a 413) would fail the next request, the proxy's fault.
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: rest, headers, agent: false }, async (answer) => {
        try {
          const text = (await readBody(answer)).toString("utf8");
          const out = {};
          for (const [k, v] of Object.entries(answer.headers)) if (!HOP.has(k)) out[k] = v;
          ok({ status: answer.statusCode, headers: out, body: text });
        } catch (e) { fail(e); }
      });
      up.on("error", fail);
      up.end(body);
    });
  }

  function send(res, entry, { status, headers = {}, body = "" }) {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const h = { ...headers };
    if (typeof body !== "string" && !Object.keys(h).some((k) => k.toLowerCase() === "content-type")) h["content-type"] = "application/json";
    h["content-length"] = String(Buffer.byteLength(text));
    entry.status = status;
    entry.answer = text;
    entry.etag = h.etag ?? h.ETag;
    res.writeHead(status, h);
    res.end(text);
  }

  function kill(res, entry, what) {
    entry.status = 0;
    entry.failed = what;
    res.socket?.destroy();
  }

  async function handle(req, res, rest) {
    const body = await readBody(req);
    const where = parse(rest);
    /**
     * A log entry: `seq`, `at` (ms since the epoch), `method`, `path` (under the mount),
     * `store`, `id`, `kind`, `ifMatch`, `ifNoneMatch`, `idempotencyKey`, `authorization`,
     * `body` (the request's text); then `action` (the rule's, or "pass"), `forwarded`,
     * `upstream` (the server's status), `status` (what the client got; 0: no answer), `answer`
     * (the body it got), `etag`, `failed` ("down", "drop", "cut"), `doneAt`, `inFlight` (open
     * requests when this one arrived, itself included).
     */
    const entry = {
      seq: ++seq,
      at: Date.now(),
      method: req.method,
      path: rest,
      ...where,
      ifMatch: req.headers["if-match"],
      ifNoneMatch: req.headers["if-none-match"],
      idempotencyKey: req.headers["idempotency-key"],
      authorization: req.headers.authorization,
      body: body.toString("utf8"),
      action: "pass",
      forwarded: false,
    };
    proxy.log.push(entry);
    inFlight++;
    entry.inFlight = inFlight;
    proxy.maxInFlight = Math.max(proxy.maxInFlight, inFlight);
    try {
      const rule = proxy.rules.find((r) => r.hits < r.times && matches(r.match, entry));
      let action = rule ? (rule.hits++, rule.action) : "pass";
      entry.action = typeof action === "string" ? action : Object.keys(action).join("+");
      for (;;) {
        if (action && typeof action === "object" && "delay" in action) {
          await sleep(action.delay);
          action = action.then ?? "pass";
        } else if (action && typeof action === "object" && "hold" in action) {
          await Promise.resolve(action.hold).catch(() => {});
          action = action.then ?? "pass";
        } else break;
      }
      if (action === "down") return kill(res, entry, "down");
      if (action && typeof action === "object" && "auth" in action) {
        if (req.headers.authorization !== action.auth) {
          return send(res, entry, { status: 401, body: { code: "UNAUTHORIZED", message: "fault proxy: not the token it waits for" } });
        }
        action = "pass";
      }
      if (action && typeof action === "object" && "status" in action && !action.forward) return send(res, entry, action);
      entry.forwarded = true;
      const answer = await forward(req, rest, body);
      entry.upstream = answer.status;
      entry.upstreamAnswer = answer.body;
      if (action === "drop") return kill(res, entry, "drop");
      if (action === "cut") {
        const bytes = Buffer.from(answer.body);
        res.writeHead(answer.status, { ...answer.headers, "content-length": String(Math.max(bytes.length, 2)) });
        entry.status = answer.status;
        entry.failed = "cut";
        res.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
        await sleep(20);
        res.socket?.destroy();
        return;
      }
      if (action && typeof action === "object" && "rewrite" in action) return send(res, entry, action.rewrite(answer));
      if (action && typeof action === "object" && action.forward) {
        return send(res, entry, { status: action.status ?? answer.status, headers: action.headers ?? answer.headers, body: action.body ?? "" });
      }
      return send(res, entry, answer);
    } catch (e) {
      // The proxy's own failure (the server unreachable): a 502, said so in the log.
      entry.error = String(e?.stack ?? e);
      if (!res.headersSent) send(res, entry, { status: 502, headers: { "content-type": "text/plain" }, body: `fault proxy: ${e?.message ?? e}` });
      else res.socket?.destroy();
    } finally {
      inFlight--;
      entry.doneAt = Date.now();
    }
  }

  return proxy;
}
