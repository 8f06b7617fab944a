// tests/e2e/lib/keel.mjs — shared helpers for keel's Node test files.
//
// No dependencies beyond Node itself, so that tests/integration/ can import it
// without the SDK. Every wait here is bounded, every spawned child is tracked
// and killed when the test process exits, and every temp dir is removable.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export { onBody, onLines } from "./streams.mjs";

// The repository root, from this file (tests/e2e/lib/keel.mjs); KEEL_BIN made absolute, since
// servers are spawned with other working directories.
const REPO = path.resolve(new URL("../../../", import.meta.url).pathname);
export const KEEL_BIN = path.resolve(process.env.KEEL_BIN || path.join(REPO, "build/keel"));

// ------------------------------------------------------------ child tracking

const live = new Set();
function track(child) {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}
export function killAll(signal = "SIGKILL") {
  for (const c of live) {
    try {
      c.kill(signal);
    } catch {
      /* already gone */
    }
  }
}
// A test process that dies (assertion, timeout, signal) leaves no keel behind.
process.once("exit", () => killAll("SIGKILL"));
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    killAll("SIGKILL");
    process.exit(130);
  });
}
// Also for pids spawned by someone else (the SDK's StdioClientTransport).
const livePids = new Set();
export function trackPid(pid) {
  if (pid) livePids.add(pid);
}
process.once("exit", () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
});

// ------------------------------------------------------------------ temp dirs

export function mkTmp(prefix = "keel-test-") {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
export function rmTmp(dir) {
  if (dir && process.env.KEEL_KEEP_TMP !== "1") {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------- timing

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- CLI helper

// Runs `keel ARGS...`; resolves {code, signal, stdout, stderr}. Killed after
// `timeout` ms (then code is null and `timedOut` true).
export function runKeel(args, { timeout = 60_000, input, cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(KEEL_BIN, args, {
        stdio: ["pipe", "pipe", "pipe"],
        cwd,
        env: env ?? process.env,
      }),
    );
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeout);
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin.on("error", () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// Parses `keel journal export` output: one JSON record per line.
export function parseJsonl(text) {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch (e) {
        throw new Error(`line ${i + 1} of JSONL is not JSON: ${l.slice(0, 200)}`);
      }
    });
}

// A journal record's payload is JSON text; an already-parsed object is taken as is.
export function payloadOf(rec) {
  if (typeof rec.payload === "string") {
    try {
      return JSON.parse(rec.payload);
    } catch {
      return {};
    }
  }
  return rec.payload ?? {};
}

// ------------------------------------------------------- raw JSON-RPC client

// Every tool `keel serve` lists, sorted by name (the stdio and HTTP suites both check it).
export const KEEL_TOOLS = [
  "agent_heartbeat",
  "agent_list",
  "agent_resume",
  "agent_suspend",
  "escalation_list",
  "escalation_request",
  "escalation_resolve",
  "escalation_status",
  "fanout_cancel",
  "fanout_run",
  "fanout_status",
  "journal_replay",
  "journal_tail",
  "journal_verify",
  "lease_acquire",
  "lease_adopt",
  "lease_downgrade",
  "lease_list",
  "lease_release",
  "lease_renew",
  "lease_request_release",
  "memory_delete",
  "memory_get",
  "memory_list",
  "memory_put",
  "memory_search",
  "memory_take",
  "memory_txn",
];

export const MODERN = "2026-07-28";
export const LEGACY = "2025-11-25";
export function modernMeta(version = MODERN) {
  return {
    "io.modelcontextprotocol/protocolVersion": version,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": { name: "keel-raw-test", version: "1.0.0" },
  };
}

// Drives `keel serve --stdio` with newline-delimited JSON-RPC.
//   - every stdout line is kept in `lines` (raw) so tests can check framing;
//   - a line that is not a JSON object goes to `badLines`;
//   - responses resolve the pending request with the same id;
//   - responses whose id is null (or unknown) go to `orphans`, notifications
//     to `notifications`; waitFor() waits on either.
export class RawServer {
  constructor(args, { cwd, env, label = "keel" } = {}) {
    this.label = label;
    this.args = args;
    this.lines = [];
    this.badLines = [];
    this.orphans = [];
    this.notifications = [];
    this.pending = new Map();
    this.waiters = [];
    this.nextId = 1;
    this.stderrChunks = [];
    this.stderrBytes = 0;
    this.buf = "";
    this.exited = false;
    this.exitCode = undefined;
    this.exitSignal = undefined;
    this.child = track(
      spawn(KEEL_BIN, args, {
        stdio: ["pipe", "pipe", "pipe"],
        cwd,
        env: env ?? process.env,
      }),
    );
    this.spawnError = null;
    this.exitPromise = new Promise((resolve) => {
      this.child.once("error", (e) => {
        this.spawnError = e;
        this.exited = true;
        this._failAll(new Error(`${label}: spawn failed: ${e.message}`));
        resolve({ code: null, signal: null });
      });
      this.child.once("exit", (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        // Let stdout drain before failing what is still pending.
        setImmediate(() =>
          this._failAll(
            new Error(`${label}: exited (code ${code}, signal ${signal}) with request pending; stderr:\n${this.stderr()}`),
          ),
        );
        resolve({ code, signal });
      });
    });
    this.child.stdout.setEncoding("utf8");
    this.child.stdout.on("data", (d) => this._onData(d));
    this.child.stderr.on("data", (d) => {
      // Keep the last ~64 KiB for diagnostics.
      this.stderrChunks.push(d);
      this.stderrBytes += d.length;
      while (this.stderrBytes > 65536 && this.stderrChunks.length > 1) {
        this.stderrBytes -= this.stderrChunks.shift().length;
      }
    });
    this.child.stdin.on("error", () => {}); // EPIPE after a kill is expected
  }

  get pid() {
    return this.child.pid;
  }

  stderr() {
    return Buffer.concat(this.stderrChunks).toString("utf8");
  }

  _onData(d) {
    this.buf += d;
    let nl;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, "");
      this.buf = this.buf.slice(nl + 1);
      if (line === "") continue;
      this._onLine(line);
    }
  }

  _onLine(line) {
    this.lines.push(line);
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      this.badLines.push(line);
      return;
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg) || msg.jsonrpc !== "2.0") {
      this.badLines.push(line);
      if (Array.isArray(msg)) this.orphans.push(msg);
      this._wake();
      return;
    }
    if ("id" in msg && ("result" in msg || "error" in msg)) {
      const p = this.pending.get(msg.id);
      if (p) {
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        p.resolve(msg);
      } else {
        this.orphans.push(msg);
      }
    } else {
      this.notifications.push(msg);
    }
    this._wake();
  }

  _wake() {
    const still = [];
    for (const w of this.waiters) {
      const hit = w.pred();
      if (hit !== undefined) {
        clearTimeout(w.timer);
        w.resolve(hit);
      } else still.push(w);
    }
    this.waiters = still;
  }

  _failAll(err) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters = [];
  }

  // Writes one raw line (a newline is appended).
  sendLine(line) {
    if (this.exited) throw new Error(`${this.label}: cannot write, process exited`);
    this.child.stdin.write(line + "\n");
  }

  send(msg) {
    this.sendLine(JSON.stringify(msg));
  }

  // Sends a request; resolves with the whole response message {id, result|error}.
  request(method, params, { timeout = 30_000, id } = {}) {
    const rid = id ?? this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new Error(`${this.label}: process exited before ${method}`));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new Error(`${this.label}: timeout after ${timeout} ms waiting for ${method} (id ${JSON.stringify(rid)}); stderr:\n${this.stderr().slice(-2000)}`));
      }, timeout);
      this.pending.set(rid, { resolve, reject, timer, method });
      const msg = { jsonrpc: "2.0", id: rid, method };
      if (params !== undefined) msg.params = params;
      try {
        this.send(msg);
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(rid);
        reject(e);
      }
    });
  }

  notify(method, params) {
    const msg = { jsonrpc: "2.0", method };
    if (params !== undefined) msg.params = params;
    this.send(msg);
  }

  // Waits until pred() returns something other than undefined.
  waitFor(pred, { timeout = 10_000, what = "condition" } = {}) {
    const hit = pred();
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.label}: timeout after ${timeout} ms waiting for ${what}; last lines:\n${this.lines.slice(-5).join("\n")}`));
      }, timeout);
      this.waiters.push(w);
    });
  }

  // Waits for the next orphan (id-less or id:null response) past index `from`.
  nextOrphan(from, opts) {
    return this.waitFor(() => (this.orphans.length > from ? this.orphans[from] : undefined), {
      what: "a response without a pending id",
      ...opts,
    });
  }

  async initialize({ protocolVersion = LEGACY, clientName = "keel-raw-test", timeout = 15_000 } = {}) {
    const res = await this.request(
      "initialize",
      {
        protocolVersion,
        capabilities: {},
        clientInfo: { name: clientName, version: "1.0.0" },
      },
      { timeout },
    );
    if (res.error) throw new Error(`${this.label}: initialize failed: ${JSON.stringify(res.error)}`);
    this.notify("notifications/initialized");
    return res.result;
  }

  // tools/call in the legacy era (after initialize), or the modern era with `meta`.
  // Resolves with the whole response message.
  callTool(name, args, { timeout = 30_000, meta } = {}) {
    const params = { name, arguments: args };
    if (meta) params._meta = meta;
    return this.request("tools/call", params, { timeout });
  }

  // tools/call that must yield a result (not a JSON-RPC error): returns result.
  async tool(name, args, opts) {
    const res = await this.callTool(name, args, opts);
    if (res.error) {
      throw new Error(`${this.label}: ${name} ${JSON.stringify(args)} -> JSON-RPC error ${JSON.stringify(res.error)}`);
    }
    return res.result;
  }

  // Closes stdin and waits for the exit; SIGKILLs after `timeout`.
  async closeAndWait({ timeout = 10_000 } = {}) {
    try {
      this.child.stdin.end();
    } catch {
      /* ignore */
    }
    const t0 = Date.now();
    let timer;
    const res = await Promise.race([
      this.exitPromise,
      new Promise((r) => {
        timer = setTimeout(() => r(null), timeout);
      }),
    ]);
    clearTimeout(timer);
    if (res === null) {
      this.kill();
      await this.exitPromise;
      return { code: null, signal: "SIGKILL", timedOut: true, ms: Date.now() - t0 };
    }
    return { ...res, timedOut: false, ms: Date.now() - t0 };
  }

  kill(signal = "SIGKILL") {
    if (!this.exited) {
      try {
        this.child.kill(signal);
      } catch {
        /* gone */
      }
    }
  }
}

// Shows a tool result compactly in assertion messages.
export function show(x) {
  const s = JSON.stringify(x);
  return s && s.length > 1500 ? s.slice(0, 1500) + "…" : s;
}

// expires_at may be epoch milliseconds or an RFC 3339 string.
export function toMs(v) {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    if (/^\d+$/.test(v)) return Number(v);
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  throw new Error(`not a timestamp: ${JSON.stringify(v)}`);
}

// Finds, anywhere in a JSON value, objects carrying `key === wanted`.
export function findKeyed(value, wanted, field = "key") {
  const hits = [];
  const walk = (v) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      if (v[field] === wanted) hits.push(v);
      Object.values(v).forEach(walk);
    }
  };
  walk(value);
  return hits;
}

// Fails fast with a clear message when the binary is missing.
export function requireBinary() {
  try {
    fs.accessSync(KEEL_BIN, fs.constants.X_OK);
  } catch {
    throw new Error(`keel binary not found or not executable: ${KEEL_BIN} (set KEEL_BIN)`);
  }
}

// ---------------------------------------------------------------- HTTP server

// Starts `keel serve --http HOST:0 --state STATE [...extraArgs]` and resolves
// once it listens. Port 0 lets the OS choose a free port; keel logs the bound
// address ("mcp http: listening on http://127.0.0.1:PORT/mcp") on stderr,
// which is where the URL is read from. Resolves
//   {url, port, pid, stderr(), exited, stop()}
// where stop() sends SIGTERM (graceful: in-flight calls finish) and resolves
// the exit {code, signal}, SIGKILLing after `timeout` ms.
export function startHttpServer({ stateDir, host = "127.0.0.1", extraArgs = [], cwd, env, timeout = 15_000 } = {}) {
  if (!stateDir) throw new Error("startHttpServer: stateDir is required");
  const args = ["serve", "--http", `${host}:0`, "--state", stateDir, ...extraArgs];
  const child = track(spawn(KEEL_BIN, args, { stdio: ["ignore", "ignore", "pipe"], cwd, env: env ?? process.env }));
  const errChunks = [];
  let errBytes = 0;
  let errText = "";
  const stderr = () => Buffer.concat(errChunks).toString("utf8");
  const exited = new Promise((resolve) => {
    child.once("error", (e) => resolve({ code: null, signal: null, error: e }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        child.kill("SIGKILL");
        reject(err);
      } else resolve(value);
    };
    const timer = setTimeout(
      () => finish(new Error(`keel serve --http did not report its address within ${timeout} ms; stderr:\n${stderr()}`)),
      timeout,
    );
    child.stderr.on("data", (d) => {
      errChunks.push(d);
      errBytes += d.length;
      while (errBytes > 65536 && errChunks.length > 1) errBytes -= errChunks.shift().length;
      if (done) return;
      errText += d.toString("utf8");
      const m = /listening on (http:\/\/(\S+?):(\d+)(\/\S*))/.exec(errText);
      if (!m) return;
      const url = m[1];
      const port = Number(m[3]);
      const stop = async ({ timeout: stopTimeout = 10_000 } = {}) => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        let t;
        const res = await Promise.race([exited, new Promise((r) => (t = setTimeout(() => r(null), stopTimeout)))]);
        clearTimeout(t);
        if (res !== null) return res;
        child.kill("SIGKILL");
        return { ...(await exited), timedOut: true };
      };
      finish(null, { url, port, pid: child.pid, stderr, exited, stop });
    });
    exited.then((st) =>
      finish(new Error(`keel serve --http exited before listening (${JSON.stringify(st)}); stderr:\n${stderr()}`)),
    );
  });
}

// Reads a fetch Response body of Content-Type text/event-stream as SSE
// events {id, event, data, retry}, calling onEvent(ev) for each; resolves
// when the stream ends (or rejects when it breaks). An event with an empty
// `data` (a priming event) is passed on too.
export async function readSse(response, onEvent) {
  const decoder = new TextDecoder();
  let buf = "";
  let ev = {};
  const flush = () => {
    if (ev.id !== undefined || ev.data !== undefined || ev.event !== undefined || ev.retry !== undefined) {
      onEvent({ ...ev, data: ev.data ?? "" });
    }
    ev = {};
  };
  for await (const chunk of response.body) {
    buf += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
      if (buf[nl] === "\r" && nl === buf.length - 1) break; // a "\r\n" cut between chunks
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        flush();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") ev.data = ev.data === undefined ? value : `${ev.data}\n${value}`;
      else if (field === "id" || field === "event" || field === "retry") ev[field] = value;
    }
  }
  flush();
}
