// tests/e2e/observe.test.mjs — metrics (GET /metrics) and traces (OTLP/HTTP JSON) end to end.
//
// `keel serve --http` driven by the official MCP SDK client (2025-11-25 era):
//   - /metrics parsed by a strict Prometheus text-format (0.0.4) parser written here; tool
//     calls move the counters by exactly what was called; live leases and sessions show;
//   - with bearer tokens configured, /metrics needs one (401 without);
//   - an OTLP receiver (a node http server) gets spans named "tools/call lease_acquire"
//     with the OpenTelemetry MCP conventions' attributes and the trace id of the
//     traceparent sent in params._meta;
//   - a collector that hangs does not slow tool calls: spans are dropped and counted.
//
// Run: KEEL_BIN=build/keel node --test tests/e2e/observe.test.mjs   (Node 22)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

import { mkTmp, requireBinary, rmTmp, show, sleep, startHttpServer } from "./lib/keel.mjs";

const CALL_TIMEOUT = 15_000;

// ------------------------------------------------------- a strict exposition parser

// Parses the Prometheus text format 0.0.4 strictly: HELP/TYPE before a family's samples and
// once each, a family's samples contiguous, only the escapes \\ \" \n in label values,
// histograms with ascending le, cumulative buckets, +Inf == _count and a _sum. Throws on
// anything else. Returns {types, help, samples: [{name, labels, value}], value(name, labels)}.
function parseExposition(text) {
  const types = new Map();
  const help = new Map();
  const samples = [];
  const closed = new Set();
  let current = null;
  if (!text.endsWith("\n")) throw new Error("exposition: no final newline");
  const lines = text.slice(0, -1).split("\n");
  const nameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const labelRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
  const number = (s) => {
    if (s === "+Inf") return Infinity;
    if (s === "-Inf") return -Infinity;
    if (s === "NaN") return NaN;
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`exposition: bad number ${s}`);
    return Number(s);
  };
  const familyOf = (name) => {
    for (const sfx of ["_bucket", "_sum", "_count"]) {
      if (name.endsWith(sfx) && types.get(name.slice(0, -sfx.length)) === "histogram") return name.slice(0, -sfx.length);
    }
    return name;
  };
  const enter = (fam) => {
    if (fam === current) return;
    if (closed.has(fam)) throw new Error(`exposition: family ${fam} split`);
    if (current !== null) closed.add(current);
    current = fam;
  };
  lines.forEach((line, i) => {
    const fail = (why) => {
      throw new Error(`exposition line ${i + 1} (${JSON.stringify(line)}): ${why}`);
    };
    if (line === "") fail("empty line");
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) return; // a comment
      const [, kind, name, arg] = m;
      if (!nameRe.test(name)) fail("bad name");
      if (closed.has(name) || samples.some((s) => familyOf(s.name) === name)) fail("HELP/TYPE after samples");
      if (kind === "TYPE") {
        if (types.has(name)) fail("second TYPE");
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(arg)) fail("bad type");
        types.set(name, arg);
      } else {
        if (help.has(name)) fail("second HELP");
        if (/\\[^\\n]|\\$/.test(arg)) fail("bad escape in HELP");
        help.set(name, arg.replace(/\\(\\|n)/g, (_, c) => (c === "n" ? "\n" : "\\")));
      }
      enter(name);
      return;
    }
    const m = /^([^{ ]+)(\{(.*)\})? (\S+)( \S+)?$/.exec(line);
    if (!m) fail("not a sample");
    const [, name, , body, value] = m;
    if (!nameRe.test(name)) fail("bad sample name");
    const labels = {};
    if (body !== undefined) {
      let j = 0;
      while (j < body.length) {
        const eq = body.indexOf("=", j);
        if (eq < 0) fail("label without =");
        const lname = body.slice(j, eq);
        if (!labelRe.test(lname)) fail(`bad label name ${lname}`);
        if (body[eq + 1] !== '"') fail("unquoted label value");
        let k = eq + 2;
        let v = "";
        for (;;) {
          if (k >= body.length) fail("unterminated label value");
          const c = body[k++];
          if (c === '"') break;
          if (c === "\\") {
            const n = body[k++];
            if (n === "\\") v += "\\";
            else if (n === '"') v += '"';
            else if (n === "n") v += "\n";
            else fail(`bad escape \\${n}`);
          } else v += c;
        }
        if (lname in labels) fail("label twice");
        labels[lname] = v;
        if (k < body.length) {
          if (body[k] !== ",") fail("expected ,");
          k++;
        }
        j = k;
      }
    }
    const fam = familyOf(name);
    enter(fam);
    if (types.get(fam) === "histogram" && name === fam) fail("bare histogram sample");
    if (types.get(fam) !== "histogram" && "le" in labels) fail("le outside a histogram");
    samples.push({ name, labels, value: number(value) });
  });
  const key = (labels) => JSON.stringify(Object.entries(labels).sort());
  const value = (name, labels = {}, missing = 0) => {
    const s = samples.find((x) => x.name === name && key(x.labels) === key(labels));
    return s ? s.value : missing;
  };
  for (const [fam, type] of types) {
    if (type !== "histogram") continue;
    const groups = new Map();
    for (const s of samples.filter((x) => x.name === `${fam}_bucket`)) {
      if (!("le" in s.labels)) throw new Error(`${fam}: bucket without le`);
      const { le, ...rest } = s.labels;
      const k = key(rest);
      if (!groups.has(k)) groups.set(k, { rest, buckets: [] });
      groups.get(k).buckets.push([number(le), s.value]);
    }
    for (const { rest, buckets } of groups.values()) {
      for (let b = 1; b < buckets.length; b++) {
        if (!(buckets[b][0] > buckets[b - 1][0])) throw new Error(`${fam}: le not ascending`);
        if (buckets[b][1] < buckets[b - 1][1]) throw new Error(`${fam}: buckets not cumulative`);
      }
      const last = buckets.at(-1);
      if (last[0] !== Infinity) throw new Error(`${fam}: no +Inf bucket`);
      if (value(`${fam}_count`, rest, -1) !== last[1]) throw new Error(`${fam}: +Inf != _count`);
      if (Number.isNaN(value(`${fam}_sum`, rest, NaN))) throw new Error(`${fam}: no _sum`);
    }
  }
  return { types, help, samples, value };
}

test("the parser itself refuses what Prometheus would refuse", () => {
  const good = '# HELP a_total x\n# TYPE a_total counter\na_total{k="q\\"\\\\\\n"} 2\n';
  assert.equal(parseExposition(good).value("a_total", { k: 'q"\\\n' }), 2);
  for (const bad of [
    "a 1", // no final newline
    '# TYPE a counter\na{k="\\t"} 1\n', // bad escape
    "# TYPE a counter\na 1\n# TYPE a counter\n", // TYPE twice / after samples
    "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na 2\n", // split family
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
  ]) {
    assert.throws(() => parseExposition(bad), undefined, bad);
  }
});

// ------------------------------------------------------------------ helpers

// An OTLP/HTTP receiver: "ok" answers 200 and keeps the spans, "hang" never answers.
function startCollector(mode = "ok") {
  const c = { mode, spans: [], requests: 0, hanging: [] };
  c.server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (d) => chunks.push(d));
    req.on("end", () => {
      c.requests++;
      if (c.mode === "hang") {
        c.hanging.push(res);
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      for (const rs of body.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) c.spans.push({ ...s, resource: rs.resource, contentType: req.headers["content-type"], path: req.url });
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  return new Promise((resolve) =>
    c.server.listen(0, "127.0.0.1", () => {
      c.port = c.server.address().port;
      resolve(c);
    }),
  );
}

function attr(span, key) {
  const a = (span.attributes ?? []).find((x) => x.key === key);
  if (!a) return undefined;
  const v = a.value;
  return v.stringValue ?? v.intValue ?? v.boolValue;
}

// Starts keel serve --http for a project whose config is `config`.
async function serve(root, config) {
  const project = path.join(root, "project");
  fs.mkdirSync(project, { recursive: true });
  const file = path.join(root, "keel.jsonc");
  fs.writeFileSync(file, JSON.stringify(config));
  const state = path.join(root, "state");
  const server = await startHttpServer({ stateDir: state, extraArgs: ["--project", project, "--config", file] });
  server.base = server.url.replace(/\/mcp$/, "");
  return server;
}

async function connect(server, name, headers = {}) {
  const client = new Client({ name, version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers } });
  await client.connect(transport);
  return { client, transport };
}

async function call(client, name, args, meta) {
  const params = { name, arguments: args };
  if (meta) params._meta = meta;
  return client.callTool(params, undefined, { timeout: CALL_TIMEOUT });
}

async function scrape(base, headers = {}) {
  const res = await fetch(`${base}/metrics`, { headers });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await res.text());
}

async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// ------------------------------------------------------------------ the tests

describe("metrics and traces of keel serve --http", () => {
  let root;
  let server;
  let collector;
  let peer;

  before(async () => {
    requireBinary();
    root = mkTmp("keel-observe-e2e-");
    collector = await startCollector("ok");
    server = await serve(root, {
      telemetry: {
        otlp_endpoint: `http://127.0.0.1:${collector.port}/v1/traces`,
        service_name: "keel-e2e",
        flush_ms: 100,
      },
    });
    peer = await connect(server, "observe-e2e");
  });
  after(async () => {
    await peer?.client.close().catch(() => {});
    await server?.stop();
    collector?.server.close();
    for (const res of collector?.hanging ?? []) res.destroy();
    rmTmp(root);
  });

  test("/metrics parses strictly and the counters move by the calls made", async () => {
    const m0 = await scrape(server.base);
    for (const name of [
      "keel_tool_calls_total",
      "keel_tool_call_duration_seconds",
      "keel_mcp_requests_total",
      "keel_leases_live",
      "keel_lease_waiters",
      "keel_escalations_pending",
      "keel_hook_decisions_total",
      "keel_notify_deliveries_total",
      "keel_store_commits_total",
      "keel_store_commit_jobs",
      "keel_store_commit_duration_seconds",
      "keel_http_sessions",
      "keel_trace_spans_dropped_total",
      "process_resident_memory_bytes",
    ]) {
      assert.ok(m0.types.has(name), `${name} is exposed`);
    }
    assert.ok(m0.value("keel_http_sessions") >= 1, "the SDK's session is open");
    const acquireOk = { tool: "lease_acquire", outcome: "ok" };
    const NAME = "file:/tmp/observe-e2e/a.txt";

    const a = await call(peer.client, "lease_acquire", { name: NAME, ttl_ms: 30_000 });
    assert.equal(a.isError, false, show(a));
    assert.equal(a.structuredContent.granted, true, show(a));
    const m1 = await scrape(server.base);
    assert.equal(m1.value("keel_leases_live"), m0.value("keel_leases_live") + 1);
    assert.equal(m1.value("keel_tool_calls_total", acquireOk) - m0.value("keel_tool_calls_total", acquireOk), 1);

    const rel = await call(peer.client, "lease_release", { name: NAME, lease_id: a.structuredContent.lease_id });
    assert.equal(rel.isError, false, show(rel));
    for (let i = 0; i < 3; i++) {
      const p = await call(peer.client, "memory_put", { key: `observe/${i}`, value: i });
      assert.equal(p.isError, false, show(p));
    }
    const bad = await call(peer.client, "memory_put", { value: 1 }); // no key: INVALID_ARGUMENT
    assert.equal(bad.isError, true, show(bad));

    const m2 = await scrape(server.base);
    const delta = (name, labels) => m2.value(name, labels) - m1.value(name, labels);
    assert.equal(m2.value("keel_leases_live"), m0.value("keel_leases_live"));
    assert.equal(delta("keel_tool_calls_total", acquireOk), 0);
    assert.equal(delta("keel_tool_calls_total", { tool: "lease_release", outcome: "ok" }), 1);
    assert.equal(delta("keel_tool_calls_total", { tool: "memory_put", outcome: "ok" }), 3);
    assert.equal(delta("keel_tool_calls_total", { tool: "memory_put", outcome: "tool_error" }), 1);
    assert.equal(delta("keel_mcp_requests_total", { method: "tools/call", outcome: "ok" }), 4);
    assert.equal(delta("keel_mcp_requests_total", { method: "tools/call", outcome: "tool_error" }), 1);
    assert.equal(delta("keel_tool_call_duration_seconds_count", { tool: "memory_put" }), 4);
    assert.ok(delta("keel_store_commits_total", { outcome: "ok" }) >= 1, "the writes committed");
    assert.ok(delta("keel_store_commit_jobs_count", {}) >= 1);
    assert.ok(m2.value("process_resident_memory_bytes") > 0);
  });

  test("OTLP: spans follow the MCP conventions and continue the trace of params._meta", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = "00f067aa0ba902b7";
    const NAME = "file:/tmp/observe-e2e/traced.txt";
    const a = await call(
      peer.client,
      "lease_acquire",
      { name: NAME, ttl_ms: 30_000 },
      { traceparent: `00-${traceId}-${parent}-01`, tracestate: "rojo=00f067aa0ba902b7" },
    );
    assert.equal(a.structuredContent.granted, true, show(a));
    await call(peer.client, "lease_release", { name: NAME, lease_id: a.structuredContent.lease_id }, {
      traceparent: "00-NOT-A-VALID-TRACEPARENT-01",
    });
    const span = await waitFor(
      () => collector.spans.find((s) => s.name === "tools/call lease_acquire" && s.traceId === traceId),
      10_000,
      `the lease_acquire span (got ${show(collector.spans.map((s) => [s.name, s.traceId, s.parentSpanId]))})`,
    );
    assert.equal(span.path, "/v1/traces");
    assert.match(span.contentType, /^application\/json/);
    assert.equal(span.parentSpanId, parent);
    assert.equal(span.traceState, "rojo=00f067aa0ba902b7");
    assert.match(span.spanId, /^[0-9a-f]{16}$/);
    assert.equal(span.kind, 2); // SERVER
    assert.match(span.startTimeUnixNano, /^\d+$/);
    assert.ok(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano));
    assert.equal(attr(span, "mcp.method.name"), "tools/call");
    assert.equal(attr(span, "gen_ai.tool.name"), "lease_acquire");
    assert.equal(attr(span, "gen_ai.operation.name"), "execute_tool");
    assert.equal(attr(span, "mcp.protocol.version"), "2025-11-25");
    assert.equal(attr(span, "network.transport"), "tcp");
    assert.match(attr(span, "mcp.session.id"), /^[0-9a-f]{32}$/);
    assert.ok(attr(span, "jsonrpc.request.id") !== undefined);
    assert.equal(attr(span, "error.type"), undefined);
    assert.deepEqual(span.resource.attributes.find((x) => x.key === "service.name").value, { stringValue: "keel-e2e" });

    // A bad traceparent starts a new trace.
    const release = await waitFor(
      () => collector.spans.find((s) => s.name === "tools/call lease_release" && s.traceId !== traceId && !s.parentSpanId),
      10_000,
      "the lease_release span in a new trace",
    );
    assert.match(release.traceId, /^[0-9a-f]{32}$/);
    // Other methods and the store's commits are traced too.
    await waitFor(() => collector.spans.find((s) => s.name === "initialize"), 10_000, "the initialize span");
    const commit = await waitFor(() => collector.spans.find((s) => s.name === "store.commit"), 10_000, "a store.commit span");
    assert.ok(Number(attr(commit, "keel.store.commit.jobs")) >= 1);
    // A tool error carries error.type and status ERROR.
    await call(peer.client, "memory_put", { value: 1 });
    const failed = await waitFor(
      () => collector.spans.find((s) => s.name === "tools/call memory_put" && attr(s, "error.type") === "INVALID_ARGUMENT"),
      10_000,
      "the failed memory_put span",
    );
    assert.equal(failed.status.code, 2);
  });
});

describe("metrics need the bearer token when tokens are configured", () => {
  let root;
  let server;
  const TOKEN = "observe-e2e-token-0123456789abcdef";

  before(async () => {
    requireBinary();
    root = mkTmp("keel-observe-auth-");
    server = await serve(root, {
      http: { principals: { ops: { token: TOKEN, agent: "ops", capabilities: ["lease", "journal.read"] } } },
    });
  });
  after(async () => {
    await server?.stop();
    rmTmp(root);
  });

  test("/metrics without a token: 401; with it: 200", async () => {
    const none = await fetch(`${server.base}/metrics`);
    assert.equal(none.status, 401);
    const wrong = await fetch(`${server.base}/metrics`, { headers: { Authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    const m = await scrape(server.base, { Authorization: `Bearer ${TOKEN}` });
    assert.ok(m.types.has("keel_tool_calls_total"));
  });
});

describe("a collector that hangs", () => {
  let root;
  let server;
  let collector;

  before(async () => {
    requireBinary();
    root = mkTmp("keel-observe-hang-");
    collector = await startCollector("hang");
    server = await serve(root, {
      telemetry: {
        otlp_endpoint: `http://127.0.0.1:${collector.port}/v1/traces`,
        max_queue: 8,
        max_batch: 4,
        flush_ms: 20,
        timeout_ms: 1500,
      },
    });
  });
  after(async () => {
    await server?.stop();
    for (const res of collector?.hanging ?? []) res.destroy();
    collector?.server.close();
    rmTmp(root);
  });

  test("does not slow tool calls: spans are dropped and counted; stop stays bounded", async () => {
    const peer = await connect(server, "observe-hang");
    let slowest = 0;
    for (let i = 0; i < 40; i++) {
      const t0 = Date.now();
      const r = await call(peer.client, "memory_put", { key: `hang/${i}`, value: i });
      slowest = Math.max(slowest, Date.now() - t0);
      assert.equal(r.isError, false, show(r));
    }
    // Generous functional bound: a call that waited on the hung export would take 1.5 s.
    assert.ok(slowest < 1000, `slowest call ${slowest} ms`);
    await waitFor(() => collector.requests >= 1, 5_000, "the export to reach the hung collector");
    const m = await scrape(server.base);
    assert.ok(m.value("keel_trace_spans_dropped_total") > 0, "dropped spans are counted");
    await peer.client.close();
    const t0 = Date.now();
    const exit = await server.stop({ timeout: 15_000 });
    assert.equal(exit.timedOut, undefined, "stopped without SIGKILL");
    assert.equal(exit.code, 0, server.stderr());
    assert.ok(Date.now() - t0 < 10_000, `stop took ${Date.now() - t0} ms`);
    server = null;
  });
});
