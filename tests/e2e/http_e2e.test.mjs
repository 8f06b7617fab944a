// tests/e2e/http_e2e.test.mjs — keel over Streamable HTTP, end to end.
//
// `keel serve --http 127.0.0.1:0` driven by the OFFICIAL TypeScript clients:
//   Part 1, the 2025-11-25 era: `@modelcontextprotocol/sdk` (v1) Client +
//     StreamableHTTPClientTransport, two clients = two sessions on one server:
//     keel's real tools, session isolation, a resumed SSE stream (once through
//     the SDK's own reconnection, once by raw GET + Last-Event-ID replaying
//     what the dropped stream missed), and a session DELETE.
//   Part 2, the 2026-07-28 era: `@modelcontextprotocol/client` (v2) with
//     version negotiation ('auto': server/discover, then stateless requests).
// Both SDKs validate every structuredContent against the tool's outputSchema,
// so a schema violation by keel fails these tests.
//
// Run: KEEL_BIN=build/keel node --test tests/e2e/http_e2e.test.mjs   (Node 22)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as HttpTransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as HttpTransportV2,
} from "@modelcontextprotocol/client";

import {
  LEGACY,
  MODERN,
  mkTmp,
  readSse,
  requireBinary,
  rmTmp,
  show,
  sleep,
  startHttpServer,
  toMs,
  withTimeout,
  KEEL_TOOLS,
} from "./lib/keel.mjs";
import { closeClients } from "./lib/sdk.mjs";

const CALL_TIMEOUT = 15_000;

// ------------------------------------------------------------------ helpers

// A fetch that records every request the SDK makes and lets the test break an
// SSE response mid-stream, as a dropped network connection would: drop()
// errors the body the SDK is reading and cancels the real one (which closes
// the TCP connection, so the server sees the peer go away).
function recordingFetch() {
  const log = [];
  const fetchFn = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    const rec = {
      method: init.method ?? "GET",
      sessionId: headers.get("mcp-session-id"),
      lastEventId: headers.get("last-event-id"),
      protocolVersion: headers.get("mcp-protocol-version"),
      body: typeof init.body === "string" ? safeJson(init.body) : undefined,
      status: undefined,
      contentType: undefined,
      text: "", // what the SDK was given of an SSE body
      ended: false,
      drop: undefined,
    };
    log.push(rec);
    const res = await fetch(url, init);
    rec.status = res.status;
    rec.contentType = res.headers.get("content-type") ?? "";
    if (!res.body || !rec.contentType.startsWith("text/event-stream")) return res;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let controller;
    let dropped = false;
    const body = new ReadableStream({
      start(c) {
        controller = c;
      },
      async pull(c) {
        try {
          const { value, done } = await reader.read();
          if (dropped) return;
          if (done) {
            rec.ended = true;
            c.close();
            return;
          }
          rec.text += decoder.decode(value, { stream: true });
          c.enqueue(value);
        } catch (e) {
          if (!dropped) c.error(e);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    rec.drop = () => {
      dropped = true;
      controller.error(new TypeError("terminated: connection dropped by the test"));
      reader.cancel().catch(() => {});
    };
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return { log, fetchFn };
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// Polls `pred` until it returns something truthy (bounded).
async function until(pred, { timeout = 10_000, what = "condition", every = 20 } = {}) {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > timeout) throw new Error(`timeout after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

// A legacy-era (2025-11-25) client: SDK v1 over HTTP.
async function connectV1(url, name) {
  const { log, fetchFn } = recordingFetch();
  const transport = new HttpTransportV1(new URL(url), {
    fetch: fetchFn,
    // Reconnect fast and a few times at most (keel's priming event says retry: 1000).
    reconnectionOptions: { initialReconnectionDelay: 200, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1.5, maxRetries: 3 },
  });
  const errors = [];
  const client = new ClientV1({ name, version: "1.0.0" }, { capabilities: {} });
  client.onerror = (e) => errors.push(e);
  await withTimeout(client.connect(transport, { timeout: CALL_TIMEOUT }), CALL_TIMEOUT + 5000, `connect ${name}`);
  // Every message the transport hands the client, to count deliveries.
  const delivered = [];
  const onmessage = transport.onmessage;
  transport.onmessage = (m, extra) => {
    delivered.push(m);
    onmessage?.(m, extra);
  };
  return {
    name,
    client,
    transport,
    log,
    errors,
    delivered,
    call: (tool, args, opts = {}) =>
      client.callTool({ name: tool, arguments: args }, undefined, { timeout: CALL_TIMEOUT, ...opts }),
  };
}

// A tool call that must succeed: returns structuredContent.
async function ok(peer, tool, args) {
  const r = await peer.call(tool, args);
  assert.ok(!r.isError, `${peer.name}: ${tool} ${show(args)} returned isError: ${show(r)}`);
  assert.ok(r.structuredContent && typeof r.structuredContent === "object", `${tool}: no structuredContent: ${show(r)}`);
  assert.ok(Array.isArray(r.content), `${tool}: content must be an array: ${show(r)}`);
  return r.structuredContent;
}

// Raw POST to the MCP endpoint in a legacy session.
function rawPost(url, sessionId, message, { signal, accept = "application/json, text/event-stream" } = {}) {
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept,
      "mcp-session-id": sessionId,
      "mcp-protocol-version": LEGACY,
    },
    body: JSON.stringify(message),
    signal,
  });
}

// ============================================================ legacy era

describe("HTTP, 2025-11-25 era, with @modelcontextprotocol/sdk (v1)", () => {
  let tmp;
  let server;
  let a;
  let b;
  const NAME = "file:/tmp/http-e2e/a.txt";

  before(async () => {
    requireBinary();
    tmp = mkTmp("keel-http-e2e-");
    server = await startHttpServer({ stateDir: path.join(tmp, "state"), cwd: tmp });
    a = await connectV1(server.url, "http-a");
    b = await connectV1(server.url, "http-b");
  });

  after(async () => {
    await closeClients([a, b], 5000); // the server is stopped below anyway
    if (server) await server.stop();
    rmTmp(tmp);
  });

  test("initialize: keel, 2025-11-25, one distinct session per client", () => {
    assert.equal(a.client.getServerVersion()?.name, "keel", show(a.client.getServerVersion()));
    assert.equal(a.transport.protocolVersion, LEGACY);
    assert.equal(b.transport.protocolVersion, LEGACY);
    assert.match(a.transport.sessionId ?? "", /^[\x21-\x7e]{32,}$/, "session id: visible ASCII, >= 128 bits");
    assert.ok(b.transport.sessionId && b.transport.sessionId !== a.transport.sessionId, "two sessions");
    // After initialize every request carried the session and the version.
    const later = a.log.filter((r) => r.method === "POST" && r.body?.method !== "initialize");
    assert.ok(later.length > 0);
    for (const r of later) {
      assert.equal(r.sessionId, a.transport.sessionId, show(r.body));
      assert.equal(r.protocolVersion, LEGACY, show(r.body));
    }
  });

  test("tools/list: every keel tool; each has an object inputSchema and outputSchema", async () => {
    const { tools } = await a.client.listTools(undefined, { timeout: CALL_TIMEOUT });
    await b.client.listTools(undefined, { timeout: CALL_TIMEOUT }); // b's SDK validates results too
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, KEEL_TOOLS, show(names));
    assert.equal(new Set(names).size, names.length, `duplicate tool names: ${show(names)}`);
    for (const t of tools) {
      assert.equal(t.inputSchema?.type, "object", `${t.name}: inputSchema`);
      assert.equal(t.outputSchema?.type, "object", `${t.name}: outputSchema`);
    }
  });

  test("leases: acquire, refusal to the other session, renew, release, re-acquire", async () => {
    const la = await ok(a, "lease_acquire", { name: NAME, ttl_ms: 10_000 });
    assert.equal(la.granted, true, show(la));
    assert.ok(Number.isInteger(la.token), show(la));
    assert.match(la.holder, /^http-a-/, `the agent is the client's name plus a suffix: ${show(la)}`);

    const lb = await ok(b, "lease_acquire", { name: NAME, ttl_ms: 10_000 });
    assert.equal(lb.granted, false, show(lb));
    assert.equal(lb.holder, la.holder, show(lb));

    await sleep(20);
    const rn = await ok(a, "lease_renew", { name: NAME, lease_id: la.lease_id });
    assert.ok(toMs(rn.expires_at) >= toMs(la.expires_at), `renew: ${show(rn)} vs ${show(la)}`);

    const rel = await ok(a, "lease_release", { name: NAME, lease_id: la.lease_id });
    assert.equal(rel.released, true, show(rel));
    const lb2 = await ok(b, "lease_acquire", { name: NAME, ttl_ms: 10_000 });
    assert.equal(lb2.granted, true, show(lb2));
    assert.ok(lb2.token > la.token, `fencing token must grow: ${lb2.token} > ${la.token}`);
    const rel2 = await ok(b, "lease_release", { name: NAME, lease_id: lb2.lease_id });
    assert.equal(rel2.released, true, show(rel2));
  });

  test("memory: put/get round trip; own namespace private to its session's agent", async () => {
    const value = { text: "over http", list: [1, 2, 3], nested: { ok: true } };
    const p = await ok(a, "memory_put", { key: "notes/http", value });
    assert.equal(p.version, 1, show(p));
    const g = await ok(a, "memory_get", { key: "notes/http" });
    assert.equal(g.found, true, show(g));
    assert.deepEqual(g.value, value);
    assert.equal(g.version, 1);
    const gb = await ok(b, "memory_get", { key: "notes/http" });
    assert.equal(gb.found, false, `b must not read a's own key: ${show(gb)}`);
  });

  test("memory: the session tier lives with its session; shared cross_run is seen by both", async () => {
    const s = await ok(a, "memory_put", { tier: "session", key: "scratch", value: { n: 1 } });
    assert.equal(s.version, 1, show(s));
    assert.equal((await ok(a, "memory_get", { tier: "session", key: "scratch" })).found, true);
    assert.equal((await ok(b, "memory_get", { tier: "session", key: "scratch" })).found, false);
    // A session-tier note in the shared namespace is readable by the other
    // session until the writer's session ends (checked after the DELETE below).
    await ok(a, "memory_put", { tier: "session", namespace: "shared", key: "a-session-note", value: "until a leaves" });
    const gs = await ok(b, "memory_get", { tier: "session", namespace: "shared", key: "a-session-note" });
    assert.equal(gs.found, true, show(gs));
    assert.equal(gs.value, "until a leaves");

    await ok(b, "memory_put", { namespace: "shared", key: "team/plan", value: { step: 1 } });
    const ga = await ok(a, "memory_get", { namespace: "shared", key: "team/plan" });
    assert.deepEqual(ga.value, { step: 1 }, show(ga));
  });

  test("journal_verify: the chain is intact", async () => {
    const v = await ok(b, "journal_verify", {});
    assert.equal(v.ok, true, show(v));
    assert.ok(Number.isInteger(v.records) && v.records > 0, show(v));
  });

  test("resumed SSE stream (SDK): a dropped lease wait resumes by Last-Event-ID and the grant arrives once", async () => {
    const LEASE = "file:/tmp/http-e2e/resume-sdk.txt";
    const held = await ok(a, "lease_acquire", { name: LEASE, ttl_ms: 30_000 });
    assert.equal(held.granted, true, show(held));

    const tokens = [];
    const progress = [];
    const logFrom = b.log.length;
    const deliveredFrom = b.delivered.length;
    // onprogress makes the SDK send a progressToken, so keel answers with an SSE stream.
    const pending = b.call(
      "lease_acquire",
      { name: LEASE, ttl_ms: 10_000, wait_ms: 20_000 },
      { timeout: 30_000, onprogress: (p) => progress.push(p), onresumptiontoken: (t) => tokens.push(t) },
    );
    pending.catch(() => {}); // (awaited below)

    const post = await until(
      () => b.log.slice(logFrom).find((r) => r.method === "POST" && r.body?.params?.name === "lease_acquire" && r.text.includes("id: ")),
      { what: "the SSE answer to b's lease_acquire and its priming event" },
    );
    assert.equal(post.status, 200);
    assert.match(post.contentType, /^text\/event-stream/);
    assert.match(post.text, /retry: \d+/, "the priming event tells the client when to reconnect");
    assert.ok(tokens.length >= 1, "the SDK reported the priming event's id as a resumption token");
    const requestId = post.body.id;
    const primingId = tokens[tokens.length - 1];

    post.drop(); // the network drops b's stream while keel is still waiting for the lease

    const resumed = await until(
      () => b.log.slice(logFrom).find((r) => r.method === "GET" && r.lastEventId !== null && r.status !== undefined),
      { what: "the SDK to reconnect with Last-Event-ID", timeout: 10_000 },
    );
    assert.equal(resumed.lastEventId, primingId, "it resumes after the last event it saw");
    assert.equal(resumed.status, 200, `resume GET answered ${resumed.status}`);
    assert.equal(resumed.sessionId, b.transport.sessionId);

    const rel = await ok(a, "lease_release", { name: LEASE, lease_id: held.lease_id });
    assert.equal(rel.released, true, show(rel));

    const r = await withTimeout(pending, 25_000, "b's lease_acquire after the resume");
    assert.ok(!r.isError, show(r));
    assert.equal(r.structuredContent.granted, true, show(r));
    assert.match(r.structuredContent.holder, /^http-b-/, show(r));

    await until(() => resumed.ended, { what: "keel to end the resumed stream after the answer" });
    const answers = b.delivered.slice(deliveredFrom).filter((m) => m.id === requestId && ("result" in m || "error" in m));
    assert.equal(answers.length, 1, `the answer must arrive exactly once: ${show(answers)}`);
    assert.equal(post.text.includes('"granted"'), false, "the dropped stream did not carry the answer");
    assert.equal(resumed.text.split('"granted":true').length - 1, 1, `the resumed stream carries it once:\n${resumed.text}`);
    assert.equal(b.errors.filter((e) => /unknown message ID/i.test(String(e?.message))).length, 0, show(b.errors.map(String)));

    await ok(b, "lease_release", { name: LEASE, lease_id: r.structuredContent.lease_id });
  });

  test("resumed SSE stream (raw): GET with Last-Event-ID replays the answer the dropped stream missed, once", async () => {
    const LEASE = "file:/tmp/http-e2e/resume-raw.txt";
    const held = await ok(a, "lease_acquire", { name: LEASE, ttl_ms: 30_000 });
    assert.equal(held.granted, true, show(held));

    const sid = b.transport.sessionId;
    const abort = new AbortController();
    const res = await rawPost(
      server.url,
      sid,
      {
        jsonrpc: "2.0",
        id: "raw-wait-1",
        method: "tools/call",
        params: { name: "lease_acquire", arguments: { name: LEASE, ttl_ms: 10_000, wait_ms: 20_000 }, _meta: { progressToken: "raw-p1" } },
      },
      { signal: abort.signal },
    );
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.equal(res.headers.get("mcp-session-id"), sid);
    let primingId;
    const firstEvents = [];
    const reading = readSse(res, (ev) => {
      firstEvents.push(ev);
      if (ev.id && primingId === undefined) primingId = ev.id;
    }).catch(() => {}); // aborted below
    await until(() => primingId, { what: "the priming event" });
    abort.abort(); // drop the stream while keel waits
    await reading;

    // The grant happens while nobody is connected.
    const rel = await ok(a, "lease_release", { name: LEASE, lease_id: held.lease_id });
    assert.equal(rel.released, true, show(rel));
    await until(
      async () => {
        const l = await ok(a, "lease_list", { prefix: LEASE });
        return l.leases.some((x) => x.name === LEASE && /^http-b-/.test(x.holder));
      },
      { what: "the waiting acquire to be granted" },
    );

    const resumed = await fetch(server.url, {
      method: "GET",
      headers: { accept: "text/event-stream", "mcp-session-id": sid, "mcp-protocol-version": LEGACY, "last-event-id": primingId },
    });
    assert.equal(resumed.status, 200);
    const events = [];
    await withTimeout(readSse(resumed, (ev) => events.push(ev)), 10_000, "the replayed stream to end");
    const messages = events.filter((e) => e.data !== "").map((e) => JSON.parse(e.data));
    const answers = messages.filter((m) => m.id === "raw-wait-1");
    assert.equal(answers.length, 1, `replayed exactly once: ${show(events)}`);
    const sc = answers[0].result?.structuredContent;
    assert.equal(sc?.granted, true, show(answers[0]));
    assert.match(sc.holder, /^http-b-/);
    for (const e of events) assert.ok(e.id && e.id !== primingId, `replayed events carry fresh ids: ${show(e)}`);
    assert.equal(firstEvents.some((e) => e.data.includes("raw-wait-1")), false, "the answer was not on the dropped stream");

    // Unknown event ids are refused.
    const bad = await fetch(server.url, {
      method: "GET",
      headers: { accept: "text/event-stream", "mcp-session-id": sid, "mcp-protocol-version": LEGACY, "last-event-id": "nosuch:3" },
    });
    assert.equal(bad.status, 404);
    await bad.body?.cancel();

    await ok(b, "lease_release", { name: LEASE, lease_id: sc.lease_id });
  });

  test("DELETE (terminateSession) ends a's session: its id gets 404, its session tier is dropped, b is unaffected", async () => {
    const sid = a.transport.sessionId;
    await withTimeout(a.transport.terminateSession(), 5000, "terminateSession");
    const del = a.log.find((r) => r.method === "DELETE");
    assert.ok(del, "the SDK sent a DELETE");
    assert.equal(del.sessionId, sid);
    assert.equal(del.status, 200);

    const res = await rawPost(server.url, sid, { jsonrpc: "2.0", id: 99, method: "tools/list" });
    assert.equal(res.status, 404, "a terminated session is unknown");
    const body = await res.json();
    assert.equal(body.id, 99, show(body));
    assert.ok(body.error, show(body));

    const gs = await ok(b, "memory_get", { tier: "session", namespace: "shared", key: "a-session-note" });
    assert.equal(gs.found, false, `a's session-tier note ends with a's session: ${show(gs)}`);
    const shared = await ok(b, "memory_get", { namespace: "shared", key: "team/plan" });
    assert.equal(shared.found, true, "cross_run memory outlives sessions");
    const j = await ok(b, "journal_tail", { op: "SESSION_END", limit: 10 });
    assert.ok(
      j.records.some((r) => JSON.stringify(r).includes(sid)),
      `the session end is journaled with its id: ${show(j)}`,
    );
  });

  test("the server stops on SIGTERM with exit code 0", async () => {
    await withTimeout(b.client.close(), 5000, "close b");
    await withTimeout(a.client.close(), 5000, "close a");
    a = b = null;
    const st = await server.stop();
    assert.deepEqual({ code: st.code, signal: st.signal }, { code: 0, signal: null }, `stderr:\n${server.stderr().slice(-2000)}`);
    server = null;
  });
});

// ============================================================ modern era

describe("HTTP, 2026-07-28 era, with @modelcontextprotocol/client (v2) and version negotiation", () => {
  let tmp;
  let server;
  let client;
  let transport;
  let log;
  const NAME = "file:/tmp/http-e2e/modern.txt";

  const call = (tool, args) => client.callTool({ name: tool, arguments: args }, { timeout: CALL_TIMEOUT });
  async function okV2(tool, args) {
    const r = await call(tool, args);
    assert.ok(!r.isError, `${tool} ${show(args)} returned isError: ${show(r)}`);
    assert.ok(r.structuredContent && typeof r.structuredContent === "object", `${tool}: ${show(r)}`);
    return r.structuredContent;
  }

  before(async () => {
    requireBinary();
    tmp = mkTmp("keel-http-e2e-modern-");
    server = await startHttpServer({ stateDir: path.join(tmp, "state"), cwd: tmp });
    const rec = recordingFetch();
    log = rec.log;
    transport = new HttpTransportV2(new URL(server.url), { fetch: rec.fetchFn });
    client = new ClientV2(
      { name: "http-modern", version: "1.0.0" },
      { capabilities: {}, versionNegotiation: { mode: "auto" } },
    );
    await withTimeout(client.connect(transport, { timeout: CALL_TIMEOUT }), CALL_TIMEOUT + 5000, "connect v2");
  });

  after(async () => {
    if (client) {
      try {
        await withTimeout(client.close(), 5000, "close v2");
      } catch {
        /* ignore */
      }
    }
    if (server) await server.stop();
    rmTmp(tmp);
  });

  test("negotiation: server/discover, then 2026-07-28 without initialize or session", () => {
    assert.equal(client.getProtocolEra(), "modern");
    assert.equal(client.getNegotiatedProtocolVersion(), MODERN);
    assert.equal(client.getServerVersion()?.name, "keel", show(client.getServerVersion()));
    const posts = log.filter((r) => r.method === "POST");
    assert.equal(posts[0]?.body?.method, "server/discover", `first request: ${show(posts[0]?.body)}`);
    assert.equal(posts.some((r) => r.body?.method === "initialize"), false, "no initialize in the modern era");
    const discovered = client.getDiscoverResult();
    assert.ok(discovered?.supportedVersions?.includes(MODERN), show(discovered));
  });

  test("tools/list: every keel tool; each has an outputSchema", async () => {
    const { tools } = await client.listTools(undefined, { timeout: CALL_TIMEOUT });
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, KEEL_TOOLS, show(names));
    for (const t of tools) assert.equal(t.outputSchema?.type, "object", `${t.name}: outputSchema`);
  });

  test("lease and memory tools; every request is stateless and names its version", async () => {
    const from = log.length;
    const l = await okV2("lease_acquire", { name: NAME, ttl_ms: 10_000 });
    assert.equal(l.granted, true, show(l));
    assert.equal(l.holder, "http-modern", `a stateless client is its bare name: ${show(l)}`);
    // Stateless requests of one client are one agent (its bare name): asking
    // again returns the lease it already holds.
    const again = await okV2("lease_acquire", { name: NAME, ttl_ms: 10_000 });
    assert.equal(again.granted, true, show(again));
    assert.equal(again.already_held, true, show(again));
    assert.equal(again.lease_id, l.lease_id, show(again));
    assert.equal(again.token, l.token, show(again));
    const rel = await okV2("lease_release", { name: NAME, lease_id: l.lease_id });
    assert.equal(rel.released, true, show(rel));

    const value = { era: "modern", n: [1, 2] };
    const p = await okV2("memory_put", { key: "modern/1", value, namespace: "shared" });
    assert.equal(p.version, 1, show(p));
    const g = await okV2("memory_get", { key: "modern/1", namespace: "shared" });
    assert.deepEqual(g.value, value, show(g));

    const posts = log.slice(from).filter((r) => r.method === "POST");
    assert.ok(posts.length >= 5, `posts: ${posts.length}`);
    for (const r of posts) {
      assert.equal(r.sessionId, null, "no Mcp-Session-Id in the modern era");
      assert.equal(r.protocolVersion, MODERN, show(r.body));
      assert.equal(r.body?.params?._meta?.["io.modelcontextprotocol/protocolVersion"], MODERN, show(r.body));
      assert.equal(r.status, 200, show(r.body));
    }
  });

  test("a bad argument (unknown tier) is a tool error INVALID_ARGUMENT, and the server keeps serving", async () => {
    const r = await call("memory_get", { key: "modern/1", tier: "no-such-tier" });
    assert.equal(r.isError, true, `expected isError: ${show(r)}`);
    assert.equal(r._meta?.["dev.keel/error"]?.code, "INVALID_ARGUMENT", show(r));
    assert.match(r.content?.[0]?.text ?? "", /^INVALID_ARGUMENT: .*tier/, show(r));
    const g = await okV2("memory_get", { key: "modern/1", namespace: "shared" });
    assert.equal(g.found, true, show(g));
  });

  test("an unknown tool is a protocol error -32602", async () => {
    await assert.rejects(
      () => call("no_such_tool", {}),
      (e) => {
        assert.equal(e.code, -32602, `code ${e.code}: ${e.message}`);
        return true;
      },
    );
  });
});
