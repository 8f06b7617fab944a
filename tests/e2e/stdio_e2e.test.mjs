// tests/e2e/stdio_e2e.test.mjs — keel over stdio, end to end.
//
// Part 1 drives `keel serve --stdio` with the OFFICIAL MCP client
// (@modelcontextprotocol/sdk, Client + StdioClientTransport), two clients on
// one state dir. The SDK validates every structuredContent against the tool's
// outputSchema, so a schema violation by keel fails these tests.
// Part 2 speaks raw JSON-RPC lines to check framing and error codes that the
// SDK hides (parse errors, batches, the modern era, version refusal).
//
// Run: KEEL_BIN=build/keel node --test tests/e2e/stdio_e2e.test.mjs   (Node 22)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

import { McpError } from "@modelcontextprotocol/sdk/types.js";

import {
  KEEL_BIN,
  LEGACY,
  MODERN,
  findKeyed,
  mkTmp,
  modernMeta,
  requireBinary,
  rmTmp,
  show,
  sleep,
  toMs,
  withTimeout,
  KEEL_TOOLS,
} from "./lib/keel.mjs";
import { stdioStateFixture } from "./lib/fixture.mjs";
import { closeClients, connectStdioSdk } from "./lib/sdk.mjs";

const CALL_TIMEOUT = 15_000;

// Spawns `keel serve --stdio --agent AGENT --state STATE` under the SDK client.
async function connectSdk(agent, stateDir, cwd) {
  // The SDK hands the negotiated version to transports that want it (HTTP
  // does); giving the stdio transport the hook lets the test see it.
  let negotiated;
  const { client, transport, stderr } = await connectStdioSdk(agent, ["--state", stateDir], {
    cwd,
    clientName: "keel-e2e",
    timeout: CALL_TIMEOUT,
    connectTimeout: CALL_TIMEOUT + 5000,
    prepare: (_client, t) => {
      t.setProtocolVersion = (v) => {
        negotiated = v;
      };
    },
  });
  // The child process, to check its exit status after close() (private field;
  // used only when present).
  const proc = transport._process;
  const exited = proc
    ? new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) resolve({ code: proc.exitCode, signal: proc.signalCode });
        else proc.once("exit", (code, signal) => resolve({ code, signal }));
      })
    : null;
  return {
    agent,
    client,
    transport,
    exited,
    negotiated: () => negotiated,
    stderr,
    call: (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT }),
  };
}

// A tool call that must succeed: returns structuredContent.
async function ok(peer, name, args) {
  const r = await peer.call(name, args);
  assert.ok(!r.isError, `${peer.agent}: ${name} ${show(args)} returned isError: ${show(r)}`);
  assert.ok(
    r.structuredContent && typeof r.structuredContent === "object",
    `${peer.agent}: ${name} returned no structuredContent: ${show(r)}`,
  );
  assert.ok(Array.isArray(r.content), `${name}: content must be an array: ${show(r)}`);
  return r.structuredContent;
}

// A cross_run memory_put that expects `version - 1` and must yield `version`.
async function casPut(peer, args, version) {
  const r = await ok(peer, "memory_put", { tier: "cross_run", ...args, expected_version: version - 1 });
  assert.equal(r.version, version, show(r));
}

// A tool call that must fail as a tool error (isError, not a protocol error).
async function toolError(peer, name, args, code) {
  let r;
  try {
    r = await peer.call(name, args);
  } catch (e) {
    assert.fail(`${peer.agent}: ${name} ${show(args)} threw instead of returning isError:true: ${e?.code ?? ""} ${e?.message ?? e}`);
  }
  assert.equal(r.isError, true, `${peer.agent}: ${name} ${show(args)} should be isError:true, got ${show(r)}`);
  if (code) {
    assert.equal(r._meta?.["dev.keel/error"]?.code, code, `${name}: wrong error code in ${show(r)}`);
  }
  return r;
}

describe("stdio with the official MCP SDK client", () => {
  const NAME = "file:/tmp/e2e/a.txt";
  let tmp, stateDir, a, b, leaseA;

  before(async () => {
    requireBinary();
    tmp = mkTmp("keel-e2e-");
    stateDir = path.join(tmp, "state");
    a = await connectSdk("e2e-a", stateDir, tmp);
    b = await connectSdk("e2e-b", stateDir, tmp);
  });

  after(async () => {
    await closeClients([a, b], 10_000);
    rmTmp(tmp);
  });

  test("initialize: serverInfo.name is keel and 2025-11-25 is negotiated", () => {
    assert.equal(a.client.getServerVersion()?.name, "keel", `serverInfo: ${show(a.client.getServerVersion())}`);
    assert.equal(a.negotiated(), LEGACY);
    assert.equal(b.negotiated(), LEGACY);
    assert.ok(a.client.getServerCapabilities()?.tools, `tools capability missing: ${show(a.client.getServerCapabilities())}`);
  });

  test("tools/list: exactly the 28 tools, each with object schemas and annotations", async () => {
    const { tools } = await a.client.listTools(undefined, { timeout: CALL_TIMEOUT });
    // b lists too, so that its SDK client validates b's results as well.
    await b.client.listTools(undefined, { timeout: CALL_TIMEOUT });
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, KEEL_TOOLS);
    for (const t of tools) {
      assert.equal(t.inputSchema?.type, "object", `${t.name}: inputSchema.type`);
      assert.equal(t.outputSchema?.type, "object", `${t.name}: outputSchema.type`);
      assert.ok(t.annotations && typeof t.annotations === "object", `${t.name}: annotations missing`);
      assert.equal(typeof t.description, "string", `${t.name}: description`);
    }
  });

  test("lease_acquire grants with an integer token and a lease_id", async () => {
    const sc = await ok(a, "lease_acquire", { name: NAME, ttl_ms: 5000 });
    assert.equal(sc.granted, true, show(sc));
    assert.ok(Number.isInteger(sc.token), `token: ${show(sc)}`);
    assert.equal(typeof sc.lease_id, "string", `lease_id: ${show(sc)}`);
    assert.ok(sc.lease_id.length > 0);
    assert.equal(sc.holder, "e2e-a", show(sc));
    toMs(sc.expires_at);
    leaseA = sc;
  });

  test("a second client is refused while the first holds the name", async () => {
    assert.ok(leaseA, "needs the grant of the previous test");
    const sc = await ok(b, "lease_acquire", { name: NAME, ttl_ms: 5000 });
    assert.equal(sc.granted, false, show(sc));
    assert.equal(sc.holder, "e2e-a", show(sc));
    assert.ok(sc.expires_at !== undefined, `refusal names the expiry: ${show(sc)}`);
  });

  test("lease_renew moves expires_at forward", async () => {
    assert.ok(leaseA, "needs the grant");
    await sleep(30);
    const sc = await ok(a, "lease_renew", { name: NAME, lease_id: leaseA.lease_id });
    assert.ok(toMs(sc.expires_at) >= toMs(leaseA.expires_at), `renew: old ${show(leaseA.expires_at)} new ${show(sc.expires_at)}`);
  });

  test("lease_release, then the other client acquires with a larger token", async () => {
    assert.ok(leaseA, "needs the grant");
    const rel = await ok(a, "lease_release", { name: NAME, lease_id: leaseA.lease_id });
    assert.equal(rel.released, true, show(rel));
    const sc = await ok(b, "lease_acquire", { name: NAME, ttl_ms: 5000 });
    assert.equal(sc.granted, true, show(sc));
    assert.equal(sc.holder, "e2e-b", show(sc));
    assert.ok(Number.isInteger(sc.token) && sc.token > leaseA.token, `token ${sc.token} should exceed ${leaseA.token}`);
    const rel2 = await ok(b, "lease_release", { name: NAME, lease_id: sc.lease_id });
    assert.equal(rel2.released, true, show(rel2));
  });

  test("memory: put/get round trip and compare-and-set", async () => {
    const value = { text: "hello world", n: 1 };
    const p1 = await ok(a, "memory_put", { tier: "cross_run", key: "notes/1", value });
    assert.equal(p1.version, 1, show(p1));

    const g1 = await ok(a, "memory_get", { tier: "cross_run", key: "notes/1" });
    assert.equal(g1.found, true, show(g1));
    assert.deepEqual(g1.value, value);
    assert.equal(g1.version, 1);

    await casPut(a, { key: "notes/1", value: { text: "hello world", n: 2 } }, 2);
  });

  test("memory: a stale expected_version is a tool error VERSION_MISMATCH and writes nothing", async () => {
    await toolError(
      a,
      "memory_put",
      { tier: "cross_run", key: "notes/1", value: { text: "lost update", n: 3 }, expected_version: 1 },
      "VERSION_MISMATCH",
    );
    const g2 = await ok(a, "memory_get", { tier: "cross_run", key: "notes/1" });
    assert.deepEqual(g2.value, { text: "hello world", n: 2 }, "a refused CAS must not write");
    assert.equal(g2.version, 2);
  });

  test("memory_search finds the key by a word of its value", async () => {
    const s = await ok(a, "memory_search", { query: "hello" });
    assert.ok(findKeyed(s, "notes/1").length >= 1, `search for "hello" should find notes/1: ${show(s)}`);
  });

  test("memory: own namespaces are private, shared is shared", async () => {
    const gb = await ok(b, "memory_get", { tier: "cross_run", key: "notes/1" });
    assert.equal(gb.found, false, `b must not see a's own key: ${show(gb)}`);

    const shared = { from: "e2e-a", list: [1, 2, 3], nested: { ok: true } };
    const p = await ok(a, "memory_put", { tier: "cross_run", namespace: "shared", key: "team/plan", value: shared });
    assert.equal(p.version, 1, show(p));
    const g = await ok(b, "memory_get", { tier: "cross_run", namespace: "shared", key: "team/plan" });
    assert.equal(g.found, true, show(g));
    assert.deepEqual(g.value, shared);
    assert.equal(g.version, 1);

    await casPut(b, { namespace: "shared", key: "team/plan", value: { from: "e2e-b" } }, 2);
    const g2 = await ok(a, "memory_get", { tier: "cross_run", namespace: "shared", key: "team/plan" });
    assert.deepEqual(g2.value, { from: "e2e-b" });
    assert.equal(g2.version, 2);
  });

  test("journal_verify and journal_replay", async () => {
    const v = await ok(a, "journal_verify", {});
    assert.equal(v.ok, true, show(v));
    assert.ok(Number.isInteger(v.records) && v.records > 0, show(v));
    const r = await ok(b, "journal_replay", {});
    assert.equal(r.equal, true, show(r));
  });

  test("an invalid argument is a tool error (isError), not a protocol error", async () => {
    const r = await toolError(a, "lease_acquire", { name: NAME, ttl_ms: "x" });
    const code = r._meta?.["dev.keel/error"]?.code;
    assert.equal(code, "INVALID_ARGUMENT", `structured error: ${show(r)}`);
  });

  test("an unknown tool is a protocol error -32602 thrown by the SDK", async () => {
    await assert.rejects(
      () => a.call("no_such_tool", {}),
      (e) => {
        assert.ok(e instanceof McpError, `expected McpError, got ${e}`);
        assert.equal(e.code, -32602, `code ${e.code}: ${e.message}`);
        return true;
      },
    );
  });

  test("clients close cleanly and the servers exit 0", async () => {
    for (const p of [a, b]) {
      await withTimeout(p.client.close(), 10_000, `close ${p.agent}`);
      if (p.exited) {
        const st = await withTimeout(p.exited, 10_000, `${p.agent} exit`);
        assert.deepEqual(st, { code: 0, signal: null }, `${p.agent} exit status; stderr:\n${p.stderr().slice(-2000)}`);
      }
    }
    a = b = null;
  });
});

describe("stdio raw JSON-RPC framing and errors", () => {
  const fx = stdioStateFixture("keel-raw-");
  const start = (agent) => fx.serve(agent);

  function assertOnlyJsonRpc(s) {
    assert.ok(s.lines.length > 0, "server wrote nothing");
    for (const line of s.lines) {
      let m;
      assert.doesNotThrow(() => {
        m = JSON.parse(line);
      }, `stdout line is not JSON: ${line.slice(0, 300)}`);
      assert.ok(m && typeof m === "object" && !Array.isArray(m), `stdout line is not a JSON object: ${line.slice(0, 300)}`);
      assert.equal(m.jsonrpc, "2.0", `stdout line without jsonrpc "2.0": ${line.slice(0, 300)}`);
    }
    assert.deepEqual(s.badLines, []);
  }

  test("legacy era: parse error, batch, unknown method; clean exit on EOF", async () => {
    const s = start("raw-legacy");
    const init = await s.initialize();
    assert.equal(init.protocolVersion, LEGACY, show(init));
    assert.equal(init.serverInfo?.name, "keel", show(init));

    let k = s.orphans.length;
    s.sendLine('{"jsonrpc":"2.0","id":7,"method":"tools/list"'); // cut short
    let r = await s.nextOrphan(k, { timeout: 5000 });
    assert.equal(r?.error?.code, -32700, `malformed JSON: ${show(r)}`);
    assert.equal(r.id, null, `parse error id must be null: ${show(r)}`);

    k = s.orphans.length;
    s.sendLine("[]");
    r = await s.nextOrphan(k, { timeout: 5000 });
    assert.ok(!Array.isArray(r), `empty batch answered with an array: ${show(r)}`);
    assert.equal(r?.error?.code, -32600, `[]: ${show(r)}`);

    k = s.orphans.length;
    s.sendLine('[{"jsonrpc":"2.0","id":901,"method":"ping"},{"jsonrpc":"2.0","id":902,"method":"ping"}]');
    r = await s.nextOrphan(k, { timeout: 5000 });
    assert.ok(!Array.isArray(r), `batch answered with an array (batches were removed in 2025-06-18): ${show(r)}`);
    assert.equal(r?.error?.code, -32600, `batch: ${show(r)}`);

    const u = await s.request("no/such/method", {}, { timeout: 5000 });
    assert.equal(u.error?.code, -32601, `unknown method: ${show(u)}`);

    const p = await s.request("ping", undefined, { timeout: 5000 });
    assert.deepEqual(p.result, {}, `ping: ${show(p)}`);

    // The server is still healthy after the bad input.
    const t = await s.request("tools/list", {}, { timeout: 5000 });
    assert.ok(Array.isArray(t.result?.tools), `tools/list after errors: ${show(t)}`);

    await sleep(100); // anything stray would arrive now
    const exit = await s.closeAndWait({ timeout: 5000 });
    assert.equal(exit.timedOut, false, "server did not exit within 5 s of stdin EOF");
    assert.equal(exit.code, 0, `exit status ${show(exit)}; stderr:\n${s.stderr().slice(-2000)}`);
    assertOnlyJsonRpc(s);
  });

  test("modern era: server/discover, stateless tools/call, unsupported version", async () => {
    const s = start("raw-modern");

    const d = await s.request("server/discover", { _meta: modernMeta() }, { timeout: 5000 });
    assert.ok(d.result, `server/discover: ${show(d)}`);
    assert.equal(d.result.resultType, "complete", show(d));
    assert.ok(Array.isArray(d.result.supportedVersions), show(d));
    assert.ok(d.result.supportedVersions.includes(MODERN), show(d));
    assert.ok(d.result.supportedVersions.includes(LEGACY), show(d));

    // No initialize: the modern era is per request.
    const put = await s.callTool(
      "memory_put",
      { tier: "cross_run", key: "modern/1", value: { era: "modern" } },
      { meta: modernMeta(), timeout: 10_000 },
    );
    assert.ok(put.result, `modern tools/call: ${show(put)}`);
    assert.equal(put.result.resultType, "complete", show(put));
    assert.notEqual(put.result.isError, true, show(put));
    assert.equal(put.result.structuredContent?.version, 1, show(put));

    const get = await s.callTool("memory_get", { tier: "cross_run", key: "modern/1" }, { meta: modernMeta(), timeout: 10_000 });
    assert.equal(get.result?.resultType, "complete", show(get));
    assert.equal(get.result?.structuredContent?.found, true, show(get));
    assert.deepEqual(get.result?.structuredContent?.value, { era: "modern" });

    const bad = await s.request("server/discover", { _meta: modernMeta("1900-01-01") }, { timeout: 5000 });
    assert.equal(bad.error?.code, -32022, `unsupported version: ${show(bad)}`);
    assert.ok(Array.isArray(bad.error?.data?.supported), `data.supported: ${show(bad)}`);
    assert.ok(bad.error.data.supported.includes(MODERN) && bad.error.data.supported.includes(LEGACY), show(bad));

    await sleep(100);
    const exit = await s.closeAndWait({ timeout: 5000 });
    assert.equal(exit.timedOut, false, "server did not exit within 5 s of stdin EOF");
    assert.equal(exit.code, 0, `exit status ${show(exit)}; stderr:\n${s.stderr().slice(-2000)}`);
    assertOnlyJsonRpc(s);
  });
});
