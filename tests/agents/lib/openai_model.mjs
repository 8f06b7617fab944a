// A scripted model server on 127.0.0.1 that speaks the OpenAI Responses API
// the way the Codex CLI uses it: POST /v1/responses answered with an SSE
// stream (response.created, response.output_item.added/done, response.completed
// with usage). Every request is recorded, so a test can assert which tools
// Codex offered and what came back from each function call.
//
// A test scripts the model as a list of turns, one per POST /v1/responses:
//   { text: "..." }                                  an assistant message, turn ends
//   { calls: [{ name, arguments, namespace? }] }     function calls (arguments: object or string)
//   { custom: [{ name, input }] }                    custom (freeform) tool calls, e.g. apply_patch
//   async (request) => turn                          computed when the request arrives; may wait
//                                                    (that holds Codex's model request open)
// When the script runs out, the model answers { text: "done" }.
//
// Only node built-ins.
import http from "node:http";
import zlib from "node:zlib";
import { EventEmitter } from "node:events";

let counter = 0;
const nextId = (prefix) => `${prefix}_${process.pid}_${++counter}`;

function decodeBody(buf, encoding) {
  switch ((encoding || "").toLowerCase()) {
    case "": case "identity": return buf;
    case "gzip": return zlib.gunzipSync(buf);
    case "deflate": return zlib.inflateSync(buf);
    case "br": return zlib.brotliDecompressSync(buf);
    case "zstd":
      if (typeof zlib.zstdDecompressSync !== "function") throw new Error("zstd body but this node has no zstd");
      return zlib.zstdDecompressSync(buf);
    default: throw new Error(`unknown content-encoding ${encoding}`);
  }
}

export class ModelServer extends EventEmitter {
  constructor({ name = "model", log = false } = {}) {
    super();
    this.name = name;
    this.log = log || !!process.env.KEEL_AGENTS_DEBUG;
    this.turns = [];
    this.requests = [];       // POST /v1/responses: { body, headers, at }
    this.other = [];          // every other request: { method, url, headers, body }
    this.errors = [];
    this.sockets = new Set();
    this.pending = new Set(); // responses still open
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.on("connection", (s) => { this.sockets.add(s); s.on("close", () => this.sockets.delete(s)); });
  }

  async start() {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    this.baseUrl = `http://127.0.0.1:${this.port}/v1`;
    return this;
  }

  // Appends turns to the script.
  script(...turns) { this.turns.push(...turns.flat()); return this; }

  async close() {
    for (const res of this.pending) { try { res.destroy(); } catch {} }
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }

  // Resolves with the n-th (1-based) /v1/responses request once it has arrived.
  waitForRequest(n, timeoutMs = 60_000) {
    return this.waitFor(() => this.requests.length >= n && this.requests[n - 1], timeoutMs,
                        `${this.name}: request #${n} (have ${this.requests.length})`);
  }

  // Resolves with pred()'s first truthy value, re-checked on every request.
  waitFor(pred, timeoutMs = 60_000, what = "condition") {
    const v = pred();
    if (v) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const onReq = () => { const r = pred(); if (r) { cleanup(); resolve(r); } };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${what}`)); }, timeoutMs);
      const cleanup = () => { clearTimeout(timer); this.off("request", onReq); };
      this.on("request", onReq);
    });
  }

  async #handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    let raw = Buffer.concat(chunks);
    let body = null;
    try {
      raw = decodeBody(raw, req.headers["content-encoding"]);
      body = raw.length ? JSON.parse(raw.toString("utf8")) : null;
    } catch (e) {
      this.errors.push(`${req.method} ${req.url}: ${e.message}`);
    }
    const url = new URL(req.url, "http://127.0.0.1");
    if (this.log) console.error(`[${this.name}] ${req.method} ${req.url} ${raw.length}B`);
    if (req.method === "POST" && url.pathname.endsWith("/responses")) {
      const record = { body, headers: req.headers, at: Date.now(), index: this.requests.length + 1 };
      this.requests.push(record);
      this.emit("request", record);
      return this.#respond(record, res);
    }
    this.other.push({ method: req.method, url: req.url, headers: req.headers, body });
    this.emit("other", req.url);
    if (url.pathname.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ object: "list", data: [], models: [] }));
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: `mock: no ${req.method} ${url.pathname}`, type: "not_found" } }));
  }

  async #respond(record, res) {
    this.pending.add(res);
    res.on("close", () => this.pending.delete(res));
    let turn = this.turns.shift() ?? { text: "done" };
    try {
      if (typeof turn === "function") turn = (await turn(record)) ?? { text: "done" };
    } catch (e) {
      this.errors.push(`turn ${record.index}: ${e.message}`);
      turn = { text: `mock error: ${e.message}` };
    }
    record.turn = turn;
    if (res.destroyed) return;
    if (turn.status) {
      res.writeHead(turn.status, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: { message: turn.text ?? "mock error", type: "server_error" } }));
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (ev) => res.write(`event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
    const respId = nextId("resp");
    send({ type: "response.created", response: { id: respId, status: "in_progress", output: [] } });
    const items = [];
    for (const c of turn.calls ?? []) {
      const item = {
        type: "function_call", id: nextId("fc"), call_id: c.call_id ?? nextId("call"), name: c.name,
        arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments ?? {}),
        status: "completed",
      };
      if (c.namespace) item.namespace = c.namespace;
      items.push(item);
    }
    for (const q of turn.search ?? []) {
      items.push({ type: "tool_search_call", id: nextId("ts"), call_id: q.call_id ?? nextId("call"),
                   execution: "client", status: "completed",
                   arguments: { query: q.query, ...(q.limit ? { limit: q.limit } : {}) } });
    }
    for (const c of turn.custom ?? []) {
      items.push({ type: "custom_tool_call", id: nextId("ctc"), call_id: c.call_id ?? nextId("call"),
                   name: c.name, input: c.input, status: "completed" });
    }
    if (turn.text !== undefined) {
      items.push({ type: "message", id: nextId("msg"), role: "assistant", status: "completed",
                   content: [{ type: "output_text", text: turn.text, annotations: [] }] });
    }
    items.forEach((item, i) => {
      send({ type: "response.output_item.added", output_index: i, item: { ...item, status: "in_progress" } });
      send({ type: "response.output_item.done", output_index: i, item });
    });
    send({
      type: "response.completed",
      response: {
        id: respId, status: "completed", output: items,
        usage: { input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 10,
                 output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 110 },
      },
    });
    res.end();
  }
}

export async function startModel(opts) { return new ModelServer(opts).start(); }

// ---- helpers over recorded requests ----------------------------------------

// Every tool Codex offered in a request, flattened: { name, namespace?, description, parameters, raw }.
// Namespaced tools ({type:"namespace", name, tools:[…]}) are listed with their namespace.
export function offeredTools(request) {
  const out = [];
  const visit = (t, ns) => {
    if (!t || typeof t !== "object") return;
    if (t.type === "namespace" && Array.isArray(t.tools)) {
      for (const inner of t.tools) visit(inner, t.name);
      return;
    }
    const name = t.name ?? t.function?.name ?? t.type;
    out.push({ name, namespace: ns, fullName: ns ? `${ns}${name}` : name, description: t.description,
               parameters: t.parameters ?? t.function?.parameters ?? t.input_schema, raw: t });
  };
  for (const t of request.body?.tools ?? []) visit(t, undefined);
  return out;
}

// The input items of a request.
export function inputItems(request) { return request.body?.input ?? []; }

// The output Codex returned for a call_id (string; content items joined), or undefined.
export function callOutput(request, callId) {
  for (const item of inputItems(request)) {
    if ((item.type === "function_call_output" || item.type === "custom_tool_call_output") && item.call_id === callId) {
      return outputText(item.output);
    }
  }
  return undefined;
}

// Every tool output in a request: [{ call_id, type, text }].
export function callOutputs(request) {
  return inputItems(request)
    .filter((i) => i.type === "function_call_output" || i.type === "custom_tool_call_output")
    .map((i) => ({ call_id: i.call_id, type: i.type, text: outputText(i.output) }));
}

export function outputText(output) {
  if (output == null) return "";
  if (typeof output === "string") return output;
  if (Array.isArray(output)) return output.map((c) => c.text ?? JSON.stringify(c)).join("\n");
  if (typeof output === "object") {
    if (typeof output.content === "string") return output.content;
    if (Array.isArray(output.content)) return outputText(output.content);
    return JSON.stringify(output);
  }
  return String(output);
}

// Text of every user / developer message in a request (to find e.g. a Stop hook's reason).
export function messageTexts(request, role) {
  const out = [];
  for (const item of inputItems(request)) {
    if (item.type !== "message" && item.role === undefined) continue;
    if (role && item.role !== role) continue;
    const c = item.content;
    if (typeof c === "string") out.push(c);
    else if (Array.isArray(c)) for (const p of c) if (typeof p.text === "string") out.push(p.text);
  }
  return out;
}

// A deferred value: `const d = deferred(); … d.resolve(x); await d.promise`.
export function deferred() {
  let resolve, reject;
  const promise = new Promise((a, b) => { resolve = a; reject = b; });
  return { promise, resolve, reject };
}
