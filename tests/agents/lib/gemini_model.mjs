// A scripted stand-in for the Gemini API, on loopback, for driving the real
// Gemini CLI in tests. It speaks the REST surface the CLI's @google/genai
// client uses with an API key / gateway base URL:
//
//   POST /v1beta/models/<model>:streamGenerateContent?alt=sse   (SSE stream)
//   POST /v1beta/models/<model>:generateContent                 (one JSON)
//   POST /v1beta/models/<model>:countTokens
//   POST /v1beta/models/<model>:embedContent / :batchEmbedContents
//   GET  /v1beta/models[/<model>]
//
// Every request is recorded (`requests`). Requests that carry function
// declarations (`tools`) are the agent's own turns: each takes the next
// scripted turn from the queue. Anything else (side queries: routing,
// next-speaker checks, summaries, ...) gets `sideAnswer(req)`, by default a
// short text or `{}` when JSON was asked for.
//
// A scripted turn is one of:
//   {text: "..."}                              a model text answer, then STOP
//   {calls: [{name, args}, ...], text?}        functionCall parts
//   {hold: true}                               keep the response open until
//                                              release() (the session is then
//                                              mid-turn, waiting on the model)
//   (req) => turn                              computed from the request
// With the queue empty an agent turn is answered {text: "done"}.
import http from 'node:http';

function sseChunk(obj) {
  return `data: ${JSON.stringify(obj)}\r\n\r\n`;
}

// A value matching a (Gemini-style, upper-case types allowed) JSON schema:
// the side queries (model routing, next-speaker checks) ask for JSON.
function sampleFor(schema) {
  const type = String(schema?.type ?? 'object').toLowerCase();
  if (schema?.enum?.length) return schema.enum[0];
  switch (type) {
    case 'object': {
      const o = {};
      for (const [k, v] of Object.entries(schema?.properties ?? {})) o[k] = sampleFor(v);
      return o;
    }
    case 'array': return [];
    case 'integer': case 'number': return 10;
    case 'boolean': return false;
    default: return 'scripted';
  }
}

function usage() {
  return {promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15};
}

function responseFor(turn) {
  const parts = [];
  if (turn.text !== undefined) parts.push({text: String(turn.text)});
  for (const c of turn.calls ?? []) {
    parts.push({functionCall: {name: c.name, args: c.args ?? {}, ...(c.id ? {id: c.id} : {})}});
  }
  if (parts.length === 0) parts.push({text: ''});
  return {
    candidates: [{content: {role: 'model', parts}, finishReason: 'STOP', index: 0}],
    usageMetadata: usage(),
    modelVersion: 'scripted-1',
  };
}

// The contents of one recorded request's body, flattened for assertions.
export function functionResponses(req) {
  const out = [];
  for (const c of req.body?.contents ?? []) {
    for (const p of c.parts ?? []) if (p.functionResponse) out.push(p.functionResponse);
  }
  return out;
}

export function declarations(req) {
  const out = [];
  for (const t of req.body?.tools ?? []) for (const d of t.functionDeclarations ?? []) out.push(d);
  return out;
}

export function lastUserText(req) {
  const contents = req.body?.contents ?? [];
  for (let i = contents.length - 1; i >= 0; i--) {
    const c = contents[i];
    if (c.role !== 'user') continue;
    const texts = (c.parts ?? []).filter((p) => typeof p.text === 'string').map((p) => p.text);
    if (texts.length) return texts.join('\n');
  }
  return '';
}

export class ScriptedGemini {
  constructor({label = 'model'} = {}) {
    this.label = label;
    this.requests = [];     // every request: {method, path, model, kind, body, agentTurn}
    this.turns = [];        // scripted turns still to serve
    this.held = [];         // {res, req, resolveRelease}
    this.sockets = new Set();
    this.agentTurnWaiters = [];
    this.sideAnswer = (req) => {
      const cfg = req.body?.generationConfig ?? req.body?.config ?? {};
      const schema = cfg.responseJsonSchema ?? cfg.responseSchema;
      if (schema) return {text: JSON.stringify(sampleFor(schema))};
      if (cfg.responseMimeType === 'application/json') return {text: '{}'};
      return {text: 'ok'};
    };
  }

  script(...turns) {
    this.turns.push(...turns);
    return this;
  }

  get agentRequests() {
    return this.requests.filter((r) => r.agentTurn);
  }

  // Resolves once `n` agent turns have been requested (counting all so far).
  waitForAgentTurns(n, timeoutMs = 60000) {
    if (this.agentRequests.length >= n) return Promise.resolve(this.agentRequests[n - 1]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.label}: timed out waiting for agent turn #${n} (have ${this.agentRequests.length})`));
      }, timeoutMs);
      this.agentTurnWaiters.push({n, resolve: (r) => { clearTimeout(timer); resolve(r); }});
    });
  }

  // Answers every held response with `turn` (default: a text).
  release(turn = {text: 'released'}) {
    const held = this.held.splice(0);
    for (const h of held) this.#answer(h.req, h.res, turn);
    return held.length;
  }

  async start() {
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const {port} = this.server.address();
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async stop() {
    for (const h of this.held.splice(0)) h.res.destroy();
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise((resolve) => this.server.close(() => resolve()));
  }

  #handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = null;
      const raw = Buffer.concat(chunks).toString('utf8');
      try { body = raw ? JSON.parse(raw) : null; } catch { body = {raw}; }
      const url = new URL(req.url, 'http://x');
      const m = url.pathname.match(/\/models\/([^/:]+)(?::(\w+))?$/);
      const model = m?.[1] ?? null;
      const kind = m?.[2] ?? (req.method === 'GET' ? 'get' : 'unknown');
      const agentTurn = (kind === 'streamGenerateContent' || kind === 'generateContent') &&
                        Array.isArray(body?.tools) && body.tools.some((t) => t.functionDeclarations?.length);
      const rec = {method: req.method, path: url.pathname + url.search, model, kind, body, agentTurn,
                   at: Date.now()};
      this.requests.push(rec);
      try {
        this.#route(rec, res);
      } catch (e) {
        res.writeHead(500, {'content-type': 'application/json'});
        res.end(JSON.stringify({error: {code: 500, message: String(e?.stack ?? e), status: 'INTERNAL'}}));
      }
      if (agentTurn) {
        const n = this.agentRequests.length;
        this.agentTurnWaiters = this.agentTurnWaiters.filter((w) => {
          if (w.n <= n) { w.resolve(this.agentRequests[w.n - 1]); return false; }
          return true;
        });
      }
    });
  }

  #route(rec, res) {
    const json = (code, obj) => {
      res.writeHead(code, {'content-type': 'application/json'});
      res.end(JSON.stringify(obj));
    };
    switch (rec.kind) {
      case 'streamGenerateContent':
      case 'generateContent': {
        let turn;
        if (rec.agentTurn) {
          turn = this.turns.length ? this.turns.shift() : {text: 'done'};
        } else {
          turn = this.sideAnswer(rec);
        }
        if (typeof turn === 'function') turn = turn(rec) ?? {text: 'done'};
        if (turn.hold) {
          if (rec.kind === 'streamGenerateContent') {
            res.writeHead(200, {'content-type': 'text/event-stream'});
            res.flushHeaders();
          }
          this.held.push({req: rec, res});
          return;
        }
        this.#answer(rec, res, turn);
        return;
      }
      case 'countTokens':
        return json(200, {totalTokens: 10});
      case 'embedContent':
        return json(200, {embedding: {values: [0, 0, 0]}});
      case 'batchEmbedContents':
        return json(200, {embeddings: (rec.body?.requests ?? []).map(() => ({values: [0, 0, 0]}))});
      case 'get':
        if (rec.model) return json(200, {name: `models/${rec.model}`, inputTokenLimit: 1048576, outputTokenLimit: 65536});
        return json(200, {models: []});
      default:
        return json(404, {error: {code: 404, message: `scripted model: no route for ${rec.method} ${rec.path}`, status: 'NOT_FOUND'}});
    }
  }

  #answer(rec, res, turn) {
    const body = responseFor(turn);
    if (rec.kind === 'streamGenerateContent') {
      if (!res.headersSent) res.writeHead(200, {'content-type': 'text/event-stream'});
      res.end(sseChunk(body));
    } else {
      res.writeHead(200, {'content-type': 'application/json'});
      res.end(JSON.stringify(body));
    }
  }
}
