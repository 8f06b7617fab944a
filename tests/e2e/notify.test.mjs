// tests/e2e/notify.test.mjs — notifications (config notify.targets) end to end.
//
// `keel serve --stdio` under the official MCP SDK client files escalations; a local HTTP
// receiver in this process plays the webhook target (format json, signed). Covered:
// delivery with a valid signature and its NOTIFY record (and a slack target beside it); a
// denial by `keel hook` delivered by the serving process; a receiver failing (500) then
// recovering gets exactly the missed events, in order; a receiver that hangs does not slow
// the tool call; a keel killed while the receiver is down delivers after a restart (the
// journal is the outbox; its hold shortened by KEEL_NOTIFY_LEASE_TTL_MS); two keel processes
// at once deliver each event once (default 60 s hold, http.console.public_url as the link).
//
// Run: KEEL_BIN=build/keel node --test tests/e2e/notify.test.mjs   (Node 22)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

import { RawServer, mkTmp, parseJsonl, payloadOf, requireBinary, rmTmp, runKeel, sleep } from "./lib/keel.mjs";
import { connectStdioSdk } from "./lib/sdk.mjs";

const CALL_TIMEOUT = 20_000;
const SECRET = "a-test-secret-of-32-bytes-000000";

// The webhook receiver: mode "ok" answers 204, "fail" 500, "hang" never answers.
// `got` holds every request ({headers, body, answered}); `delivered` the bodies answered 2xx.
function startReceiver() {
  const r = { mode: "ok", got: [], delivered: [], hanging: [] };
  r.server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const entry = { headers: req.headers, raw, body: JSON.parse(raw), mode: r.mode, url: req.url };
      r.got.push(entry);
      if (r.mode === "hang") {
        r.hanging.push(res);
        return;
      }
      if (r.mode === "fail") {
        res.writeHead(500).end("down");
        return;
      }
      r.delivered.push(entry);
      res.writeHead(204).end();
    });
  });
  // Starts a scenario: the receiver in `mode`, nothing received yet.
  r.reset = (mode) => {
    r.mode = mode;
    r.got.length = 0;
    r.delivered.length = 0;
  };
  return new Promise((resolve) => {
    r.server.listen(0, "127.0.0.1", () => {
      r.port = r.server.address().port;
      resolve(r);
    });
  });
}

async function waitFor(what, pred, ms = 15_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// A project whose .keel/keel.jsonc sends escalation.filed to the receiver.
// With `slack`, also a target "chat" (format slack, unsigned) at /slack. `publicUrl` sets
// http.console.public_url (the link when notify.console_url is "").
function makeProject(root, name, port, {
  timeoutMs = 2000, retryForMs = 120_000, slack = false, events = ["escalation.filed"],
  consoleUrl = "http://127.0.0.1:1/console", publicUrl,
} = {}) {
  const project = path.join(root, name);
  fs.mkdirSync(path.join(project, ".keel"), { recursive: true });
  const config = {
    escalation: { capacity: 50 },
    notify: {
      retry_for_ms: retryForMs,
      timeout_ms: timeoutMs,
      console_url: consoleUrl,
      targets: {
        ops: {
          url: `http://127.0.0.1:${port}/hook`,
          events,
          format: "json",
          secret: SECRET,
        },
        ...(slack ? { chat: { url: `http://127.0.0.1:${port}/slack`, events: ["*"], format: "slack" } } : {}),
      },
    },
  };
  if (publicUrl) config.http = { console: { public_url: publicUrl } };
  fs.writeFileSync(path.join(project, ".keel", "keel.jsonc"), JSON.stringify(config));
  return { project, args: ["--project", project, "--state", path.join(project, ".keel", "state")] };
}

async function journal(dirs, op) {
  const r = await runKeel(["journal", "export", ...dirs.args]);
  assert.equal(r.code, 0, r.stderr);
  return parseJsonl(r.stdout).filter((rec) => !op || rec.op === op);
}

async function serve(agent, dirs) {
  const c = await connectStdioSdk(agent, dirs.args, { clientName: "keel-e2e-notify", timeout: CALL_TIMEOUT });
  const call = async (name, args) => {
    const r = await c.client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT });
    if (r.isError) throw new Error(`${name} failed: ${r.content?.[0]?.text}`);
    return r.structuredContent;
  };
  const escalate = (reason) =>
    call("escalation_request", { reason, context: { n: 1 }, proposal: { command: "deploy" }, impact: "low" });
  return { ...c, call, escalate, close: () => c.client.close(), kill: () => process.kill(c.transport.pid, "SIGKILL") };
}

// The notifier of a fresh target starts at the journal's head: wait for its "started" record.
async function notifierStarted(dirs) {
  await waitFor("the notifier's start", async () =>
    (await journal(dirs, "NOTIFY")).some((r) => payloadOf(r).outcome === "started"),
  );
}

function verify(entry) {
  const ts = entry.headers["x-keel-timestamp"];
  const want = "sha256=" + crypto.createHmac("sha256", SECRET).update(`${ts}.${entry.raw}`).digest("hex");
  const got = entry.headers["x-keel-signature"] ?? "";
  return got.length === want.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

describe("notifications", () => {
  let root;
  let rx;

  before(async () => {
    requireBinary();
    root = mkTmp("keel-notify-e2e-");
    rx = await startReceiver();
  });
  after(() => {
    for (const res of rx.hanging) res.destroy();
    rx.server.closeAllConnections?.();
    rx.server.close();
    rmTmp(root);
  });

  test("an escalation filed over MCP is delivered, signed, and journaled as NOTIFY", async () => {
    rx.reset("ok");
    const dirs = makeProject(root, "signed", rx.port, { slack: true });
    const a = await serve("agent-a", dirs);
    try {
      await waitFor("both targets' start", async () =>
        (await journal(dirs, "NOTIFY")).filter((r) => payloadOf(r).outcome === "started").length === 2,
      );
      const e = await a.escalate("deploy to <prod> & friends?");
      const entry = await waitFor("the delivery", () => rx.delivered.find((d) => d.url === "/hook"));
      assert.equal(entry.url, "/hook");
      assert.equal(entry.headers["content-type"], "application/json");
      assert.equal(entry.headers["x-keel-event"], "escalation.filed");
      assert.ok(verify(entry), "X-Keel-Signature verifies with the target's secret");
      const ts = Number(entry.headers["x-keel-timestamp"]);
      assert.ok(Math.abs(ts - Date.now() / 1000) < 60, "the timestamp is now");
      const body = entry.body;
      assert.equal(body.event, "escalation.filed");
      assert.equal(String(body.id), entry.headers["x-keel-delivery"]);
      assert.equal(body.agent, "agent-a");
      assert.equal(body.subject, `escalation:${e.id}`);
      assert.equal(body.payload.reason, "deploy to <prod> & friends?");
      assert.equal(body.console_url, "http://127.0.0.1:1/console");
      // A tampered body does not verify.
      assert.ok(!verify({ ...entry, raw: entry.raw.replace("agent-a", "agent-b") }));

      // The slack target: one escaped line linking to the console, no signature.
      const chat = await waitFor("the slack delivery", () => rx.delivered.find((d) => d.url === "/slack"));
      assert.equal(
        chat.body.text,
        `:rotating_light: escalation #${e.id} from agent-a: deploy to &lt;prod&gt; &amp; friends?` +
          " <http://127.0.0.1:1/console|open the console>",
      );
      assert.equal(chat.headers["x-keel-signature"], undefined);

      const notes = await waitFor("the NOTIFY records", async () => {
        const d = (await journal(dirs, "NOTIFY")).filter((r) => payloadOf(r).outcome === "delivered");
        return d.length === 2 && d;
      });
      assert.deepEqual(notes.map((r) => r.subject).sort(), ["notify:chat", "notify:ops"]);
      notes.splice(notes.findIndex((r) => r.subject === "notify:chat"), 1);
      const p = payloadOf(notes[0]);
      assert.equal(p.target, "ops");
      assert.equal(p.event, "escalation.filed");
      assert.equal(p.event_seq, body.id);
      assert.equal(p.attempts, 1);
      assert.equal(p.status, 204);
      assert.equal(notes[0].subject, "notify:ops");
      // The escalation record itself is the event.
      const esc = (await journal(dirs, "ESCALATE")).find((r) => r.seq === body.id);
      assert.ok(esc, "the event id is the ESCALATE record's seq");
    } finally {
      await a.close();
    }
  });

  test("a denial by `keel hook`, another process, reaches the target through the journal", async () => {
    rx.reset("ok");
    const dirs = makeProject(root, "hook", rx.port, { events: ["hook.denied"] });
    const a = await serve("agent-s", dirs);
    try {
      await notifierStarted(dirs);
      const event = {
        session_id: "s1", cwd: dirs.project, hook_event_name: "PreToolUse", tool_name: "Bash",
        tool_input: { command: "rm -rf ~" }, tool_use_id: "toolu_1",
      };
      const r = await runKeel(["hook", "--dialect", "claude", ...dirs.args], {
        input: JSON.stringify(event), cwd: dirs.project, env: { ...process.env, KEEL_AGENT: "" },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"deny"/);
      const entry = await waitFor("the hook.denied delivery", () => rx.delivered[0]);
      assert.equal(entry.body.event, "hook.denied");
      assert.equal(entry.body.payload.outcome, "deny");
      assert.equal(entry.body.payload.command, "rm -rf ~");
      assert.ok(verify(entry));
    } finally {
      await a.close();
    }
  });

  test("a receiver that fails then recovers gets exactly the missed events, in order", async () => {
    rx.reset("fail");
    const dirs = makeProject(root, "recover", rx.port);
    const a = await serve("agent-r", dirs);
    try {
      await notifierStarted(dirs);
      const ids = [];
      for (const reason of ["one", "two", "three"]) ids.push((await a.escalate(reason)).id);
      // Retried while down: the first event is attempted more than once, the others wait.
      await waitFor("retries", () => rx.got.filter((g) => g.mode === "fail").length >= 3);
      assert.ok(rx.got.every((g) => g.body.subject === `escalation:${ids[0]}`), "order: later events wait");
      rx.mode = "ok";
      await waitFor("three deliveries", () => rx.delivered.length >= 3, 40_000);
      await sleep(1000); // nothing more arrives
      assert.deepEqual(
        rx.delivered.map((d) => d.body.subject),
        ids.map((id) => `escalation:${id}`),
      );
      const seqs = rx.delivered.map((d) => d.body.id);
      assert.deepEqual([...seqs].sort((x, y) => x - y), seqs);
      const notes = (await journal(dirs, "NOTIFY")).filter((r) => payloadOf(r).outcome === "delivered");
      assert.deepEqual(notes.map((r) => payloadOf(r).event_seq), seqs);
      assert.ok(payloadOf(notes[0]).attempts >= 3);
    } finally {
      await a.close();
    }
  });

  test("a receiver that hangs does not slow the tool call", async () => {
    rx.reset("ok");
    const timeoutMs = 4000;
    const dirs = makeProject(root, "hang", rx.port, { timeoutMs });
    const a = await serve("agent-h", dirs);
    try {
      await notifierStarted(dirs);
      let t = Date.now();
      await a.escalate("baseline");
      const baseline = Date.now() - t;
      await waitFor("the baseline delivery", () => rx.delivered.length === 1);

      rx.mode = "hang";
      await a.escalate("hangs the receiver");
      await waitFor("the hanging request", () => rx.hanging.length === 1);
      // The notifier thread now waits on the receiver; calls do not.
      t = Date.now();
      await a.escalate("while it hangs");
      const during = Date.now() - t;
      assert.ok(during < timeoutMs / 2, `a call took ${during} ms while the receiver hung (baseline ${baseline} ms)`);
      rx.mode = "ok";
      for (const res of rx.hanging.splice(0)) res.destroy();
      await waitFor("the later deliveries", () => rx.delivered.length >= 3, 30_000);
      assert.deepEqual(
        rx.delivered.map((d) => d.body.payload.reason),
        ["baseline", "hangs the receiver", "while it hangs"],
      );
    } finally {
      await a.close();
    }
  });

  test("a keel killed while the receiver is down delivers the pending events after a restart", async () => {
    rx.reset("fail");
    const dirs = makeProject(root, "restart", rx.port);
    // The killed keel holds notify:ops for 6 s (KEEL_NOTIFY_LEASE_TTL_MS; 3 × timeout_ms
    // at least) instead of the default 60 s, to keep this test short.
    const a = new RawServer(["serve", "--stdio", "--agent", "agent-k", ...dirs.args], {
      env: { ...process.env, KEEL_NOTIFY_LEASE_TTL_MS: "6000" },
      label: "agent-k",
    });
    let b;
    try {
      await a.initialize();
      await notifierStarted(dirs);
      const ids = [];
      for (const reason of ["before-1", "before-2"]) {
        const filed = await a.tool("escalation_request", {
          reason, context: { n: 1 }, proposal: { command: "deploy" }, impact: "low",
        });
        ids.push(filed.structuredContent.id);
      }
      await waitFor("a failed attempt", () => rx.got.length >= 1);
      const lease = (await journal(dirs, "ACQUIRE")).find((r) => r.subject === "notify:ops");
      assert.equal(payloadOf(lease).ttl_ms, 6000, JSON.stringify(lease));
      process.kill(a.pid, "SIGKILL");
      rx.mode = "ok";
      b = await serve("agent-k2", dirs);
      // The killed process's hold on notify:ops runs out (its TTL), then b delivers.
      await waitFor("the pending deliveries", () => rx.delivered.length >= 2, 30_000);
      await sleep(1000);
      assert.deepEqual(
        rx.delivered.map((d) => d.body.subject),
        ids.map((id) => `escalation:${id}`),
      );
      for (const d of rx.delivered) assert.ok(verify(d));
    } finally {
      await a.closeAndWait().catch(() => {});
      await b?.close();
    }
  });

  test("two keel processes at once deliver each event once", async () => {
    rx.reset("ok");
    const publicUrl = "http://console.example:7777/";
    const dirs = makeProject(root, "two", rx.port, { consoleUrl: "", publicUrl });
    const a = await serve("agent-1", dirs);
    const b = await serve("agent-2", dirs);
    try {
      await notifierStarted(dirs);
      const ids = [];
      for (let i = 0; i < 4; i++) {
        ids.push((await a.escalate(`a${i}`)).id);
        ids.push((await b.escalate(`b${i}`)).id);
      }
      await waitFor("eight deliveries", () => rx.delivered.length >= 8);
      await sleep(1500);
      assert.equal(rx.got.length, 8, "no event is sent twice");
      // notify.console_url is "": the link is http.console.public_url.
      for (const d of rx.delivered) assert.equal(d.body.console_url, publicUrl);
      // The default hold: 60 s, renewed every 20 s.
      const lease = (await journal(dirs, "ACQUIRE")).find((r) => r.subject === "notify:ops");
      assert.equal(payloadOf(lease).ttl_ms, 60_000);
      assert.deepEqual(
        rx.delivered.map((d) => d.body.subject),
        ids.map((id) => `escalation:${id}`),
      );
      const notes = (await journal(dirs, "NOTIFY")).filter((r) => payloadOf(r).outcome === "delivered");
      assert.equal(notes.length, 8);
      assert.equal(new Set(notes.map((r) => r.principal)).size, 1, "one process delivered");
      assert.equal((await journal(dirs, "NOTIFY")).filter((r) => payloadOf(r).outcome === "started").length, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
