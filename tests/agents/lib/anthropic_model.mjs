// A scripted stand-in for the Anthropic Messages API on 127.0.0.1, for driving
// the real Claude Code binary in tests without a real model.
//
// The server answers POST /v1/messages (streaming SSE when the request asks
// for it, a plain JSON message otherwise), POST /v1/messages/count_tokens, and
// anything else with an empty JSON object. Every request is recorded.
//
// Requests are split in two:
//  - "agent" requests: the main agent loop, recognised by a non-empty `tools`
//    list. Each one takes the next turn of the script.
//  - "side" requests (no tools: title generation, quota probes, ...): answered
//    with a short canned text; they never consume a turn.
//
// A turn is one of
//   { text: "..." }                              ends the turn (stop_reason end_turn)
//   { tools: [{ name, input, id? }], text? }     tool_use blocks (stop_reason tool_use)
//   async (request, server) => turn               computed from the request (e.g. a
//                                                 tool_result seen in it); may wait
//                                                 (hold the response open) before
//                                                 returning.
// When the script runs out, the server answers { text: "done" }.
import http from "node:http";

let idCounter = 0;
const nextId = (prefix) => `${prefix}_${Date.now().toString(36)}${(++idCounter).toString(36).padStart(6, "0")}`;

export class AnthropicModel {
  constructor(script = [], { label = "model" } = {}) {
    this.script = [...script];
    this.label = label;
    this.requests = [];      // every request: { method, url, headers, body }
    this.agentRequests = []; // bodies of the agent requests, in order
    this.waiters = [];
    this.sockets = new Set();
    this.closed = false;
  }

  // Appends turns to the script.
  push(...turns) {
    this.script.push(...turns);
  }

  async start() {
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  async close() {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  // Resolves once `predicate(this)` holds, re-checked after every request.
  waitFor(predicate, { timeoutMs = 60_000, what = "condition" } = {}) {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { predicate, resolve };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}; ` +
                         `${this.agentRequests.length} agent requests so far`));
      }, timeoutMs);
      w.resolve = () => { clearTimeout(timer); resolve(); };
      this.waiters.push(w);
    });
  }

  waitForAgentRequests(n, opts = {}) {
    return this.waitFor((m) => m.agentRequests.length >= n, { what: `${n} agent requests`, ...opts });
  }

  #notify() {
    for (const w of [...this.waiters]) {
      if (w.predicate(this)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }

  async #handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString("utf8");
    let body = null;
    try { body = raw ? JSON.parse(raw) : null; } catch { body = raw; }
    const record = { method: req.method, url: req.url, headers: req.headers, body };
    this.requests.push(record);
    const pathname = new URL(req.url, "http://x").pathname;

    try {
      if (req.method === "POST" && pathname === "/v1/messages/count_tokens") {
        const n = Math.max(1, Math.ceil(raw.length / 4));
        return sendJson(res, 200, { input_tokens: n });
      }
      if (req.method === "POST" && pathname === "/v1/messages") {
        const isAgent = Array.isArray(body?.tools) && body.tools.length > 0;
        let turn;
        if (isAgent) {
          this.agentRequests.push(body);
          this.#notify();
          turn = this.script.length ? this.script.shift() : { text: "done" };
          if (typeof turn === "function") turn = await turn(body, this);
          turn ??= { text: "done" };
        } else {
          turn = { text: "ok" };
        }
        if (this.closed || res.destroyed) return;
        const message = buildMessage(body?.model ?? "claude-sonnet-4-5", turn);
        if (body?.stream) return sendStream(res, message);
        return sendJson(res, 200, message);
      }
      this.#notify();
      return sendJson(res, 200, {});
    } finally {
      this.#notify();
    }
  }
}

function sendJson(res, status, obj) {
  const data = JSON.stringify(obj);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data),
                          "request-id": nextId("req") });
  res.end(data);
}

function buildMessage(model, turn) {
  const content = [];
  if (turn.text !== undefined && turn.text !== "") content.push({ type: "text", text: turn.text });
  for (const t of turn.tools ?? []) {
    content.push({ type: "tool_use", id: t.id ?? nextId("toolu"), name: t.name, input: t.input ?? {} });
  }
  if (!content.length) content.push({ type: "text", text: "done" });
  const stop_reason = (turn.tools?.length ?? 0) > 0 ? "tool_use" : "end_turn";
  return {
    id: nextId("msg"), type: "message", role: "assistant", model, content, stop_reason,
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

function sendStream(res, message) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache",
                       connection: "keep-alive", "request-id": nextId("req") });
  const ev = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  ev("message_start", { message: { ...message, content: [], stop_reason: null,
                                   usage: { ...message.usage, output_tokens: 1 } } });
  message.content.forEach((block, index) => {
    if (block.type === "text") {
      ev("content_block_start", { index, content_block: { type: "text", text: "" } });
      ev("content_block_delta", { index, delta: { type: "text_delta", text: block.text } });
    } else {
      ev("content_block_start", { index, content_block: { type: "tool_use", id: block.id, name: block.name, input: {} } });
      ev("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) } });
    }
    ev("content_block_stop", { index });
  });
  ev("message_delta", { delta: { stop_reason: message.stop_reason, stop_sequence: null },
                        usage: { output_tokens: message.usage.output_tokens } });
  ev("message_stop", {});
  res.end();
}

// --- helpers for reading what Claude Code sent -------------------------------

// The tool_result blocks of the last user message of a request body.
export function toolResults(body) {
  const msgs = body?.messages ?? [];
  const out = [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (m.role !== "user") continue;
    if (Array.isArray(m.content)) {
      for (const b of m.content) if (b.type === "tool_result") out.push(b);
    }
    break;
  }
  return out;
}

// The text of a tool_result block (its content is a string or a list of blocks).
export function resultText(block) {
  if (!block) return "";
  if (typeof block.content === "string") return block.content;
  return (block.content ?? []).map((c) => (c.type === "text" ? c.text : JSON.stringify(c))).join("\n");
}

// All the text of the last message of a request body, whatever its role
// (Claude Code sends a Stop hook's blocking reason as a "system" message).
export function lastMessageText(body) {
  const msgs = body?.messages ?? [];
  const m = msgs[msgs.length - 1];
  if (!m) return "";
  if (typeof m.content === "string") return m.content;
  return m.content.map((b) => (b.type === "text" ? b.text : b.type === "tool_result" ? resultText(b) : "")).join("\n");
}
