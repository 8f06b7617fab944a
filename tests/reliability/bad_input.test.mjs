// tests/reliability/bad_input.test.mjs — the bad-input matrix.
//
// One table per surface; each row sends one malformed input class and checks
// the documented answer, then checks that the SAME server process still
// serves a valid request (stdio, HTTP). `keel hook` is one process per event,
// so its rows check the exit code and message, that stdout carries no
// half-answer, and that a valid event against the same store is then decided.
//   stdio — JSON-RPC error objects (-32700 parse, -32600 invalid request,
//           -32601 unknown method, -32602 bad params, -32022 unsupported
//           protocol version) with the request's id
//           (null when it cannot be known); tool argument errors are tool
//           results with isError and dev.keel/error INVALID_ARGUMENT.
//   HTTP  — statuses of README "Over HTTP" and the Streamable HTTP transport:
//           400/403/404/405/406/413/415, 401 with WWW-Authenticate.
//   hooks — exit 2 with "unreadable hook input" (or the usage error) on stderr.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";

import { stdioStateFixture } from "../e2e/lib/fixture.mjs";
import { KEEL_BIN, MODERN, RawServer, modernMeta, onBody, show } from "../e2e/lib/keel.mjs";

const fx = stdioStateFixture("keel-rel-bad-");

// ------------------------------------------------------------------- stdio

const MB = 1 << 20;
const meta = () => modernMeta(MODERN);
const stdioRows = [
  { what: "bad JSON", line: '{"jsonrpc":"2.0","id":1,"method":', code: -32700, id: null },
  { what: "invalid UTF-8", line: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString("latin1"), code: -32700, id: null },
  { what: "non-object (number)", line: "42", code: -32600, id: null },
  { what: "non-object (string)", line: '"hello"', code: -32600, id: null },
  { what: "null", line: "null", code: -32600, id: null },
  { what: "batch array", line: '[{"jsonrpc":"2.0","id":2,"method":"ping"}]', code: -32600, id: null },
  { what: "empty batch", line: "[]", code: -32600, id: null },
  { what: "wrong jsonrpc version", msg: { jsonrpc: "1.0", id: "v", method: "ping" }, code: -32600, id: "v" },
  { what: "id of wrong type", msg: { jsonrpc: "2.0", id: { a: 1 }, method: "ping" }, code: -32600, id: null },
  { what: "method not a string", msg: { jsonrpc: "2.0", id: "m", method: 7 }, code: -32600, id: "m" },
  { what: "params not an object", msg: { jsonrpc: "2.0", id: "p", method: "tools/call", params: 5 }, code: -32600, id: "p" },
  { what: "unknown method", msg: { jsonrpc: "2.0", id: "u", method: "no/such", params: { _meta: meta() } }, code: -32601, id: "u" },
  { what: "tools/call without name", msg: { jsonrpc: "2.0", id: "n", method: "tools/call", params: { _meta: meta() } }, code: -32602, id: "n" },
  { what: "unknown tool", msg: { jsonrpc: "2.0", id: "t", method: "tools/call", params: { name: "no_such_tool", arguments: {}, _meta: meta() } }, code: -32602, id: "t" },
  {
    what: "tool arguments of wrong type",
    msg: { jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "memory_put", arguments: { key: 5 }, _meta: meta() } },
    toolError: "INVALID_ARGUMENT",
    id: "a",
  },
  {
    what: "unsupported protocol version",
    msg: { jsonrpc: "2.0", id: "pv", method: "tools/call", params: { name: "lease_list", arguments: {}, _meta: modernMeta("1999-01-01") } },
    code: -32022,
    id: "pv",
  },
  { what: "oversize line (5 MiB)", line: `{"jsonrpc":"2.0","id":"big","method":"ping","params":{"x":"${"a".repeat(5 * MB)}"}}`, code: -32600, id: null },
  { what: "request before initialize (legacy)", msg: { jsonrpc: "2.0", id: "ni", method: "tools/list" }, code: -32600, id: "ni" },
];

describe("bad input over stdio", () => {
  let s;
  let valid = 0;
  before(async () => {
    s = fx.serve("bad-stdio");
  });
  for (const row of stdioRows) {
    test(row.what, async () => {
      const pid = s.pid;
      const from = s.orphans.length;
      let res;
      if (row.id === null) {
        s.sendLine(row.line ?? JSON.stringify(row.msg));
        res = await s.nextOrphan(from, { timeout: 20_000 });
      } else {
        res = await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer to ${row.what}`)), 20_000);
          s.pending.set(row.id, { resolve, reject, timer, method: row.what });
          s.sendLine(row.line ?? JSON.stringify(row.msg));
        });
      }
      assert.equal(res.jsonrpc, "2.0", show(res));
      assert.deepEqual(res.id, row.id, `id: ${show(res)}`);
      if (row.toolError) {
        assert.equal(res.result?.isError, true, show(res));
        assert.equal(res.result._meta?.["dev.keel/error"]?.code, row.toolError, show(res));
      } else {
        assert.ok(res.error, `expected a JSON-RPC error: ${show(res)}`);
        assert.equal(res.error.code, row.code, show(res));
        assert.equal(typeof res.error.message, "string");
      }
      // The same process still serves, in both eras.
      const ok = await s.request("tools/call", { name: "lease_list", arguments: {}, _meta: meta() });
      assert.ok(ok.result && !ok.result.isError, `valid call after ${row.what}: ${show(ok)}`);
      assert.equal(s.pid, pid);
      assert.equal(s.exited, false, `server exited after ${row.what}`);
      valid++;
    });
  }
  test("stdout carried only JSON-RPC messages; a legacy session still starts", async () => {
    await s.initialize();
    const ok = await s.tool("memory_put", { key: "after-bad-input", value: valid });
    assert.equal(ok.isError, false, show(ok));
    assert.equal(s.badLines.filter((l) => !l.startsWith("[")).length, 0, `non-JSON-RPC stdout: ${show(s.badLines.slice(0, 3))}`);
    const exit = await s.closeAndWait();
    assert.equal(exit.code, 0, show(exit));
  });
});

// -------------------------------------------------------------------- HTTP

async function startHttp(label, extraArgs = []) {
  const srv = new RawServer(["serve", "--http", "127.0.0.1:0", "--agent", label, "--state", fx.stateDir, ...extraArgs], { cwd: fx.tmp, label });
  fx.cleanups.push(async () => {
    srv.kill("SIGTERM");
    await srv.exitPromise;
  });
  const t0 = Date.now();
  let port;
  while (!port) {
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(srv.stderr());
    if (m) port = Number(m[1]);
    else if (srv.exited || Date.now() - t0 > 20_000) throw new Error(`${label} did not start: ${srv.stderr()}`);
    else await new Promise((r) => setTimeout(r, 50));
  }
  return { srv, port };
}

// One HTTP exchange with node:http (which lets us send any Host/Origin).
function exchange(port, { method = "POST", path: p = "/mcp", headers = {}, body, setHost = true } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: p, headers, setHost, agent: false }, (res) =>
      onBody(res, (text, json) => resolve({ status: res.statusCode, headers: res.headers, text, json })),
    );
    req.setTimeout(20_000, () => req.destroy(new Error("HTTP timeout")));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const POST_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
function modernCall(name, args, extra = {}) {
  return {
    headers: { ...POST_HEADERS, "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": name, ...extra },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args, _meta: meta() } }),
  };
}

async function stillServes(port, headers = {}) {
  const c = modernCall("lease_list", {}, headers);
  const r = await exchange(port, c);
  assert.equal(r.status, 200, `valid request afterwards: ${r.status} ${r.text.slice(0, 300)}`);
  assert.ok(r.json?.result && !r.json.result.isError, r.text.slice(0, 300));
}

describe("bad input over HTTP", () => {
  let port;
  let srv;
  let session;
  before(async () => {
    ({ srv, port } = await startHttp("bad-http"));
    const init = await exchange(port, {
      headers: POST_HEADERS,
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "bad-http", version: "1" } },
      }),
    });
    assert.equal(init.status, 200, init.text);
    session = init.headers["mcp-session-id"];
    assert.ok(session, "initialize returns an Mcp-Session-Id");
  });

  const legacyPing = (extra = {}) => ({
    headers: { ...POST_HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25", ...extra },
    body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping" }),
  });
  const rows = [
    { what: "malformed JSON", req: () => ({ headers: POST_HEADERS, body: '{"jsonrpc":' }), status: 400, code: -32700 },
    { what: "non-object body", req: () => ({ headers: POST_HEADERS, body: "42" }), status: 400, code: -32600 },
    { what: "batch", req: () => ({ headers: POST_HEADERS, body: '[{"jsonrpc":"2.0","id":1,"method":"ping"}]' }), status: 400, code: -32600 },
    { what: "wrong content type", req: () => ({ ...modernCall("lease_list", {}), headers: { ...modernCall("lease_list", {}).headers, "content-type": "text/plain" } }), status: 415 },
    { what: "missing Accept", req: () => { const c = modernCall("lease_list", {}); delete c.headers.accept; return c; }, status: 406 },
    { what: "oversize body (5 MiB)", req: () => ({ headers: POST_HEADERS, body: `{"x":"${"a".repeat(5 * MB)}"}` }), status: 413, maybeReset: true },
    { what: "bad Origin", req: () => modernCall("lease_list", {}, { origin: "http://evil.example" }), status: 403 },
    { what: "bad Host", req: () => modernCall("lease_list", {}, { host: "evil.example" }), status: 403 },
    { what: "missing Host", req: () => ({ ...modernCall("lease_list", {}), setHost: false }), status: 400 },
    { what: "unknown path", req: () => ({ ...modernCall("lease_list", {}), path: "/nope" }), status: 404 },
    { what: "unsupported method PUT", req: () => ({ ...modernCall("lease_list", {}), method: "PUT" }), status: 405 },
    { what: "unknown session", req: () => legacyPing({ "mcp-session-id": "no-such-session" }), status: 404 },
    { what: "no session, no modern _meta", req: () => { const c = legacyPing(); delete c.headers["mcp-session-id"]; return c; }, status: 400 },
    { what: "unsupported protocol version header", req: () => legacyPing({ "mcp-protocol-version": "1999-01-01" }), status: 400 },
    { what: "modern header mismatch (Mcp-Name)", req: () => modernCall("lease_list", {}, { "mcp-name": "memory_get" }), status: 400, code: -32020 },
    { what: "GET stream without Accept text/event-stream", req: () => ({ method: "GET", headers: { "mcp-session-id": session, accept: "application/json" } }), status: 406 },
    { what: "unknown tool", req: () => modernCall("no_such_tool", {}), status: 200, code: -32602 },
  ];
  for (const row of rows) {
    test(row.what, async () => {
      let r;
      try {
        r = await exchange(port, row.req());
      } catch (e) {
        // A body past the limit may be cut off before the client finished
        // sending it; the documented 413 is then lost with the connection.
        if (!row.maybeReset || !/ECONNRESET|EPIPE|socket hang up/.test(e.message)) throw e;
        r = { status: row.status, reset: true };
      }
      assert.equal(r.status, row.status, `${row.what}: status ${r.status} ${r.text?.slice(0, 300)}`);
      if (row.code !== undefined && !r.reset) assert.equal(r.json?.error?.code, row.code, `${row.what}: ${r.text?.slice(0, 300)}`);
      await stillServes(port);
      assert.equal(srv.exited, false, `server exited after ${row.what}`);
    });
  }
  test("a request cut off mid-body and raw garbage do not stop the server", async () => {
    for (const raw of ["GARBAGE\r\n\r\n", "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"a\":", "\x00\x01\x02\r\n\r\n"]) {
      await new Promise((resolve) => {
        const sock = net.connect(port, "127.0.0.1", () => sock.end(raw));
        sock.on("error", resolve);
        sock.on("close", resolve);
        sock.resume();
      });
    }
    await stillServes(port);
  });

  // HTTP hooks (POST /hooks/<dialect>, hooks/http_hooks.h): an unreadable
  // event is blocked with 200 and block JSON (the gate fails closed, and Claude
  // Code treats any 4xx as "proceed"), 404 unknown dialect, 405 not POST, 413
  // past the body limit, 403 bad Origin; then a valid event is decided and /mcp
  // still serves.
  const hookPost = (body, extra = {}) => ({ path: "/hooks/claude", headers: { "content-type": "application/json", ...extra }, body });
  const hookRowsHttp = [
    { what: "garbage", req: () => hookPost("garbage{"), status: 200, block: /unreadable hook input/ },
    { what: "empty body", req: () => hookPost(""), status: 200, block: /unreadable hook input/ },
    { what: "JSON array", req: () => hookPost("[1,2]"), status: 200, block: /unreadable hook input/ },
    { what: "missing fields", req: () => hookPost("{}"), status: 200, block: /hook_event_name/ },
    { what: "Bash without a command", req: () => hookPost('{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{}}'), status: 200, block: /tool_input\.command/ },
    { what: "unknown dialect", req: () => ({ ...hookPost(CLAUDE_OK), path: "/hooks/nosuch" }), status: 404, err: /unknown hook dialect/ },
    { what: "GET", req: () => ({ path: "/hooks/claude", method: "GET", headers: {} }), status: 405 },
    { what: "huge body (5 MiB)", req: () => hookPost(`{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"${"a".repeat(5 * MB)}"}}`), status: 413, maybeReset: true },
    { what: "bad Origin", req: () => hookPost(CLAUDE_OK, { origin: "http://evil.example" }), status: 403 },
  ];
  for (const row of hookRowsHttp) {
    test(`HTTP hook: ${row.what}`, async (t) => {
      const probe = await exchange(port, hookPost(CLAUDE_OK));
      if (probe.status === 404 && /MCP endpoint/.test(probe.text)) {
        t.skip("this keel binary does not serve POST /hooks/<dialect>");
        return;
      }
      assert.equal(probe.status, 200, `a valid hook event: ${probe.status} ${probe.text.slice(0, 300)}`);
      let r;
      try {
        r = await exchange(port, row.req());
      } catch (e) {
        if (!row.maybeReset || !/ECONNRESET|EPIPE|socket hang up/.test(e.message)) throw e;
        r = { status: row.status, reset: true, text: "" };
      }
      assert.equal(r.status, row.status, `${row.what}: ${r.status} ${r.text.slice(0, 300)}`);
      if (row.err) assert.match(r.json?.error ?? "", row.err, r.text.slice(0, 300));
      if (row.block) {
        assert.equal(r.json?.decision, "block", r.text.slice(0, 300));
        assert.match(r.json?.reason ?? "", row.block, r.text.slice(0, 300));
      }
      const again = await exchange(port, hookPost(CLAUDE_OK));
      assert.equal(again.status, 200, `valid hook event after ${row.what}: ${again.status} ${again.text.slice(0, 300)}`);
      await stillServes(port);
    });
  }

  test("bearer token: missing and wrong tokens get 401, the right one is served", async () => {
    const cfg = path.join(fx.tmp, "keel-token.jsonc");
    fs.writeFileSync(cfg, JSON.stringify({ http: { principals: { "ci-bot": { token: "s3cret-token-for-tests", agent: "ci-bot" } } } }));
    const { srv: s2, port: p2 } = await startHttp("bad-http-token", ["--config", cfg]);
    const none = await exchange(p2, modernCall("lease_list", {}));
    assert.equal(none.status, 401, none.text);
    assert.match(String(none.headers["www-authenticate"]), /Bearer/);
    const wrong = await exchange(p2, modernCall("lease_list", {}, { authorization: "Bearer not-the-token" }));
    assert.equal(wrong.status, 401, wrong.text);
    assert.match(String(wrong.headers["www-authenticate"]), /invalid_token/);
    await stillServes(p2, { authorization: "Bearer s3cret-token-for-tests" });
    assert.equal(s2.exited, false);
  });
});

// ------------------------------------------------------------------- hooks

const CLAUDE_OK = JSON.stringify({
  hook_event_name: "PreToolUse",
  tool_name: "Bash",
  tool_input: { command: "ls -la" },
  session_id: "bad-input-hook",
  cwd: "/tmp",
});
const hookRows = [
  { what: "garbage stdin", args: ["--dialect", "claude"], input: "garbage{", exit: 2, err: /unreadable hook input.*not valid JSON/ },
  { what: "empty stdin", args: ["--dialect", "claude"], input: "", exit: 2, err: /unreadable hook input/ },
  { what: "JSON array", args: ["--dialect", "claude"], input: "[1,2]", exit: 2, err: /must be a JSON object/ },
  { what: "missing event name", args: ["--dialect", "claude"], input: "{}", exit: 2, err: /hook_event_name/ },
  { what: "missing tool name", args: ["--dialect", "claude"], input: '{"hook_event_name":"PreToolUse"}', exit: 2, err: /tool_name/ },
  { what: "Bash without a command", args: ["--dialect", "claude"], input: '{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{}}', exit: 2, err: /tool_input\.command/ },
  { what: "unknown dialect", args: ["--dialect", "nosuch"], input: CLAUDE_OK, exit: 2, err: /unknown dialect 'nosuch'/ },
  { what: "huge input (9 MiB)", args: ["--dialect", "claude"], input: `{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"${"a".repeat(9 * MB)}"}}`, exit: 2, err: /exceeds 8 MiB/ },
  { what: "invalid UTF-8", args: ["--dialect", "claude"], input: Buffer.from([0x7b, 0xff, 0x22, 0x7d]), exit: 2, err: /unreadable hook input/ },
  { what: "garbage with --fail-open", args: ["--dialect", "claude", "--fail-open"], input: "garbage{", exit: 0, err: /unreadable hook input/ },
];
for (const d of ["codex", "gemini", "cursor", "copilot", "windsurf", "cline"]) {
  hookRows.push({ what: `garbage stdin (${d})`, args: ["--dialect", d], input: "}{", exit: 2, err: /unreadable hook input/ });
  hookRows.push({ what: `missing fields (${d})`, args: ["--dialect", d], input: "{}", exit: 2, err: /unreadable hook input/ });
}

describe("bad input to keel hook", () => {
  for (const row of hookRows) {
    test(row.what, async () => {
      const r = await fx.keel(["hook", ...row.args], { input: row.input, timeout: 30_000 });
      assert.equal(r.signal, null, `killed by ${r.signal}`);
      assert.equal(r.code, row.exit, `${row.what}: exit ${r.code}; stderr ${r.stderr.slice(0, 300)}`);
      assert.match(r.stderr, row.err);
      // Copilot acts only on a JSON deny, so its fail-closed answer carries one; the others
      // block by exit 2 alone and print nothing on stdout.
      if (row.exit !== 0 && row.args[1] === "copilot") {
        assert.equal(JSON.parse(r.stdout).permissionDecision, "deny", r.stdout);
      } else if (row.exit !== 0) {
        assert.equal(r.stdout, "", "no half-answer on stdout");
      }
      // The store is intact: a valid event is decided (ls is allowed: exit 0).
      const ok = await fx.keel(["hook", "--dialect", "claude"], { input: CLAUDE_OK, timeout: 30_000 });
      assert.equal(ok.code, 0, `valid event after ${row.what}: exit ${ok.code} ${ok.stderr.slice(0, 300)}`);
    });
  }
});

// ------------------------------------------- lease arguments (issue 18, h4)
//
// The arguments leases as a team added (names, units, capacity, priority,
// lease_ids, group_id, lease_request_release's reason, lease_downgrade):
// each malformed class is an isError tool result with INVALID_ARGUMENT,
// never a crash or a hang, and the same server then grants a valid acquire.
// `raw` rows are sent as written (integers JavaScript cannot spell).

const LONG = "r".repeat(1025);
const manyNames = Array.from({ length: 65 }, (_, i) => `slot:n${i}`);
const leaseRows = [
  { what: "names not an array", tool: "lease_acquire", args: { names: "slot:a" } },
  { what: "names empty", tool: "lease_acquire", args: { names: [] } },
  { what: "names too many (65)", tool: "lease_acquire", args: { names: manyNames } },
  { what: "names with a non-string", tool: "lease_acquire", args: { names: ["slot:a", 7] } },
  { what: "names with an empty name", tool: "lease_acquire", args: { names: ["slot:a", ""] } },
  { what: "names with a relative file name", tool: "lease_acquire", args: { names: ["slot:a", "file:rel/x"] } },
  { what: "name and names both", tool: "lease_acquire", args: { name: "slot:a", names: ["slot:b"] } },
  { what: "neither name nor names", tool: "lease_acquire", args: { ttl_ms: 1000 } },
  { what: "units 0", tool: "lease_acquire", args: { name: "slot:a", units: 0 } },
  { what: "units negative", tool: "lease_acquire", args: { name: "slot:a", units: -1 } },
  { what: "units not an integer", tool: "lease_acquire", args: { name: "slot:a", units: 1.5 } },
  { what: "units huge (1e30)", tool: "lease_acquire", args: { name: "slot:a", units: 1e30 } },
  { what: "units past int64 (raw)", tool: "lease_acquire", raw: '{"name":"slot:a","units":18446744073709551615}' },
  { what: "units on a name that is not counted", tool: "lease_acquire", args: { name: "slot:a", units: 2 } },
  { what: "units beyond the capacity declared", tool: "lease_acquire", args: { name: "slot:bad-cap", capacity: 2, units: 3 } },
  { what: "capacity 0", tool: "lease_acquire", args: { name: "slot:a", capacity: 0 } },
  { what: "capacity on a file: name", tool: "lease_acquire", args: { name: "file:/tmp/bad-input-x", capacity: 2 } },
  { what: "capacity on a dir: name", tool: "lease_acquire", args: { name: "dir:/tmp/", capacity: 2 } },
  { what: "capacity with several names", tool: "lease_acquire", args: { names: ["slot:a", "slot:b"], capacity: 2 } },
  { what: "capacity not an integer", tool: "lease_acquire", args: { name: "slot:a", capacity: "4" } },
  { what: "priority above range", tool: "lease_acquire", args: { name: "slot:a", priority: 11 } },
  { what: "priority below range", tool: "lease_acquire", args: { name: "slot:a", priority: -11 } },
  { what: "priority past int64 (raw)", tool: "lease_acquire", raw: '{"name":"slot:a","priority":18446744073709551615}' },
  { what: "priority a string", tool: "lease_acquire", args: { name: "slot:a", priority: "high" } },
  { what: "lease_ids a string", tool: "lease_release", args: { lease_ids: "lease_1" } },
  { what: "lease_ids empty", tool: "lease_release", args: { lease_ids: [] } },
  { what: "lease_ids of numbers", tool: "lease_release", args: { lease_ids: [1, 2] } },
  { what: "lease_ids with an empty id", tool: "lease_release", args: { lease_ids: [""] } },
  { what: "lease_ids and lease_id both", tool: "lease_release", args: { lease_ids: ["l1"], lease_id: "l2" } },
  { what: "group_id empty", tool: "lease_release", args: { group_id: "" } },
  { what: "group_id and name both", tool: "lease_release", args: { group_id: "g_1", name: "slot:a" } },
  { what: "release without name, lease_ids or group_id", tool: "lease_release", args: {} },
  { what: "ask: reason too long (1025 bytes)", tool: "lease_request_release", args: { name: "slot:a", reason: LONG } },
  { what: "ask: reason empty", tool: "lease_request_release", args: { name: "slot:a", reason: "" } },
  { what: "ask: reason missing", tool: "lease_request_release", args: { name: "slot:a" } },
  { what: "ask: name not a string", tool: "lease_request_release", args: { name: ["slot:a"], reason: "x" } },
  { what: "downgrade: no lease_id", tool: "lease_downgrade", args: { name: "slot:a" } },
  { what: "downgrade: bad name", tool: "lease_downgrade", args: { name: "file:rel", lease_id: "l1" } },
];

describe("bad lease arguments over stdio (issue 18)", () => {
  let s;
  let nextRaw = 1;
  before(async () => {
    s = fx.serve("bad-lease");
    await s.initialize();
  });
  // A tools/call whose arguments are the JSON text `argsText`, as written.
  function rawCall(tool, argsText) {
    const id = `raw-lease-${nextRaw++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${tool} ${argsText}`)), 20_000);
      s.pending.set(id, { resolve, reject, timer, method: tool });
      s.sendLine(`{"jsonrpc":"2.0","id":"${id}","method":"tools/call","params":{"name":"${tool}","arguments":${argsText}}}`);
    });
  }
  for (const row of leaseRows) {
    test(row.what, async () => {
      const pid = s.pid;
      const res = row.raw ? await rawCall(row.tool, row.raw) : await s.callTool(row.tool, row.args, { timeout: 20_000 });
      assert.equal(res.error, undefined, `a tool error, not a JSON-RPC error: ${show(res)}`);
      assert.equal(res.result?.isError, true, show(res));
      assert.equal(res.result._meta?.["dev.keel/error"]?.code, "INVALID_ARGUMENT", show(res));
      const ok = await s.tool("lease_acquire", { name: "slot:after-bad-lease-input", ttl_ms: 1000 });
      assert.ok(!ok.isError && ok.structuredContent.granted !== undefined, `valid acquire after ${row.what}: ${show(ok)}`);
      assert.equal(s.pid, pid);
      assert.equal(s.exited, false, `server exited after ${row.what}`);
    });
  }
  test("no lease was granted by a bad row", async () => {
    const board = (await s.tool("lease_list", { prefix: "slot:" })).structuredContent;
    const names = board.leases.map((l) => l.name).filter((n) => n !== "slot:after-bad-lease-input");
    assert.deepEqual(names, [], show(board.leases));
    assert.deepEqual(board.capacities, [], `no capacity was declared: ${show(board.capacities)}`);
  });
});

void KEEL_BIN;
