// tests/e2e/console_api.test.mjs — the web console's API on a real `keel serve --http`.
//
// An agent (the official MCP TypeScript client, over HTTP with its bearer token)
// files an escalation: it reaches /console/events within a second; a human
// logged in to the console resolves it with MODIFY and a proposal, and the
// agent's escalation_status wait returns exactly that. A lease taken by another
// keel process (the CLI) shows up within a second. Requests without the CSRF
// token, from another Origin, or by a principal lacking the capability are
// refused and change nothing. `keel console` prints a URL serving the page, and
// the same URL again on a second call.
//
// Run: KEEL_BIN=build/keel node --test tests/e2e/console_api.test.mjs   (Node 22)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

import { mkTmp, readSse, requireBinary, rmTmp, runKeel, sleep, startHttpServer } from "./lib/keel.mjs";

const TOKENS = {
  alice: "alice-console-token-0123456789abcdef",
  bob: "bob-console-token-0123456789abcdef",
  worker: "worker-agent-token-0123456789abcdef",
  leaser: "leaser-agent-token-0123456789abcdef",
};
// "Within 1 s" of the issue, with room for a loaded machine.
const LIVE_MS = 1_500;

// A browser-like console session: the pre-login session, then the login.
async function login(base, token) {
  const pre = await fetch(`${base}/console/api/session`);
  assert.equal(pre.status, 200);
  const preBody = await pre.json();
  assert.equal(preBody.auth_required, true);
  assert.equal(preBody.authenticated, false);
  const preCookie = pre.headers.get("set-cookie").split(";")[0];
  // Cookie names carry the server's port: two consoles on one host keep theirs.
  const port = new URL(base).port;
  assert.match(preCookie, new RegExp(`^keel_console_pre_${port}=[0-9a-f]{64}$`));
  const res = await fetch(`${base}/console/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Origin: base, Cookie: preCookie, "X-Keel-CSRF": preBody.csrf },
    body: JSON.stringify({ token }),
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  const setCookie = res.headers.get("set-cookie");
  assert.match(setCookie, new RegExp(`keel_console_${port}=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=/`));
  const cookie = new RegExp(`keel_console_${port}=[0-9a-f]{64}`).exec(setCookie)[0];
  const post = (p, payload, { headers = {}, omit = [] } = {}) => {
    const h = { "Content-Type": "application/json", Origin: base, Cookie: cookie, "X-Keel-CSRF": body.csrf, ...headers };
    for (const k of omit) delete h[k];
    return fetch(`${base}${p}`, { method: "POST", headers: h, body: JSON.stringify(payload) });
  };
  const state = async () => {
    const r = await fetch(`${base}/console/api/state`, { headers: { Cookie: cookie } });
    assert.equal(r.status, 200);
    return r.json();
  };
  return { ...body, cookie, post, state };
}

// The console's event stream: keeps the newest snapshot; waitFor(pred) resolves
// with the first snapshot (already received or coming) for which pred holds.
function watchEvents(base, cookie) {
  const ctrl = new AbortController();
  const snapshots = [];
  const waiters = [];
  const done = (async () => {
    const res = await fetch(`${base}/console/events`, { headers: { Cookie: cookie }, signal: ctrl.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/event-stream/);
    await readSse(res, (ev) => {
      if (ev.event !== "state") return;
      const snap = JSON.parse(ev.data);
      snap.received_at = Date.now();
      snapshots.push(snap);
      for (const w of [...waiters]) {
        if (w.pred(snap)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(snap);
        }
      }
    });
  })().catch((e) => {
    if (e.name !== "AbortError") throw e;
  });
  const waitFor = (pred, ms, what) =>
    new Promise((resolve, reject) => {
      const last = snapshots.at(-1);
      if (last && pred(last)) return resolve(last);
      const t = setTimeout(() => reject(new Error(`no console event within ${ms} ms: ${what}`)), ms);
      waiters.push({ pred, resolve: (s) => (clearTimeout(t), resolve(s)) });
    });
  return { snapshots, waitFor, close: () => (ctrl.abort(), done) };
}

describe("console API", () => {
  let root;
  let args;
  let server;
  let base;

  before(async () => {
    requireBinary();
    root = mkTmp("keel-console-e2e-");
    const project = path.join(root, "project");
    fs.mkdirSync(project);
    const config = path.join(root, "keel.jsonc");
    const agentCaps = ["lease", "journal.read", "escalation.request", "memory.session"];
    fs.writeFileSync(
      config,
      JSON.stringify({
        http: {
          principals: {
            alice: {
              token: TOKENS.alice,
              agent: "alice",
              capabilities: [...agentCaps, "escalation.resolve", "lease.force", "agent.admin"],
            },
            bob: { token: TOKENS.bob, agent: "bob", capabilities: agentCaps },
            worker: { token: TOKENS.worker, agent: "worker", capabilities: agentCaps },
            leaser: { token: TOKENS.leaser, agent: "leaser", capabilities: ["lease"] },
          },
        },
      }),
    );
    args = ["--state", path.join(root, "state"), "--project", project, "--config", config];
    server = await startHttpServer({ stateDir: path.join(root, "state"), extraArgs: args.slice(2) });
    base = server.url.replace(/\/mcp$/, "");
  });
  after(async () => {
    await server?.stop();
    if (args) await runKeel(["console", "--stop", ...args]);
    rmTmp(root);
  });

  test("serve --http logs the console's URL; the page carries its security headers", async () => {
    // The console's line is logged just after the "listening" line the server
    // helper waits for (HttpServer's on_listening), so it may not be there yet.
    const consoleLine = new RegExp(`console: ${base.replace(/[.]/g, "\\.")}/`);
    for (let i = 0; i < 100 && !consoleLine.test(server.stderr()); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(server.stderr(), consoleLine);
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type"), /^text\/html/);
    assert.match(page.headers.get("content-security-policy"), /script-src 'self'/);
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    assert.match(await page.text(), /<html/i);
    assert.equal((await fetch(`${base}/console/app.js`)).status, 200);
    // Without a login the data stays closed.
    assert.equal((await fetch(`${base}/console/api/state`)).status, 401);
  });

  test("an escalation filed over MCP appears live; MODIFY reaches the agent's wait", async () => {
    const alice = await login(base, TOKENS.alice);
    assert.equal(alice.principal, "alice");
    assert.deepEqual(alice.capabilities, ["escalation.resolve", "lease.force", "agent.admin"]);
    const events = watchEvents(base, alice.cookie);
    const client = new Client({ name: "console-e2e-agent", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { Authorization: `Bearer ${TOKENS.worker}` } },
      }),
    );
    try {
      await events.waitFor(() => true, 5_000, "the first snapshot");
      const call = async (name, a) => {
        const r = await client.callTool({ name, arguments: a }, undefined, { timeout: 20_000 });
        assert.ok(!r.isError, `${name}: ${r.content?.[0]?.text}`);
        return r.structuredContent;
      };
      const filed = await call("escalation_request", {
        reason: "<script>alert(1)</script> drop the cache?",
        proposal: { command: "rm -rf .cache" },
        impact: "high",
      });
      const filedAt = Date.now();
      const seen = await events.waitFor(
        (s) => s.escalations.pending.some((e) => e.id === filed.id),
        LIVE_MS + 1_000,
        "the escalation",
      );
      assert.ok(seen.received_at - filedAt <= LIVE_MS, `escalation shown after ${seen.received_at - filedAt} ms`);
      const shown = seen.escalations.pending.find((e) => e.id === filed.id);
      assert.equal(shown.agent, "worker");
      assert.equal(shown.reason, "<script>alert(1)</script> drop the cache?");

      const waiting = call("escalation_status", { id: filed.id, wait_ms: 15_000 });
      await sleep(200);
      const proposal = { command: "rm -rf .cache/tmp", dry_run: true };
      const res = await alice.post(`/console/api/escalations/${filed.id}/resolve`, { decision: "MODIFY", proposal });
      assert.equal(res.status, 200, await res.clone().text());
      const status = await waiting;
      assert.equal(status.status, "resolved");
      assert.equal(status.decision, "MODIFY");
      assert.deepEqual(status.proposal, proposal);
      const after = await events.waitFor(
        (s) => s.escalations.resolved.some((e) => e.id === filed.id),
        LIVE_MS + 1_000,
        "the resolution",
      );
      assert.equal(after.escalations.resolved.find((e) => e.id === filed.id).resolved_by, "alice");
      // A second decision conflicts.
      assert.equal((await alice.post(`/console/api/escalations/${filed.id}/resolve`, { decision: "ABORT" })).status, 409);
    } finally {
      await client.close();
      await events.close();
    }
  });

  test("a lease taken by another keel process shows within a second; release removes it", async () => {
    const alice = await login(base, TOKENS.alice);
    const events = watchEvents(base, alice.cookie);
    try {
      await events.waitFor(() => true, 5_000, "the first snapshot");
      const r = await runKeel(["lease", "acquire", "shared-db", "--agent", "cli-agent", "--ttl-ms", "600000", ...args]);
      assert.equal(r.code, 0, r.stderr);
      const doneAt = Date.now();
      const seen = await events.waitFor(
        (s) => s.leases.some((l) => l.name === "shared-db"),
        LIVE_MS + 1_000,
        "the CLI's lease",
      );
      assert.ok(seen.received_at - doneAt <= LIVE_MS, `lease shown after ${seen.received_at - doneAt} ms`);
      assert.equal(seen.leases.find((l) => l.name === "shared-db").holder, "cli-agent");

      const rel = await alice.post("/console/api/leases/release", { name: "shared-db" });
      assert.equal(rel.status, 200, await rel.clone().text());
      await events.waitFor((s) => !s.leases.some((l) => l.name === "shared-db"), LIVE_MS + 1_000, "the release");
    } finally {
      await events.close();
    }
  });

  test("no CSRF token, another Origin, a missing capability: refused, nothing changed", async () => {
    const r = await runKeel(["lease", "acquire", "keep-lock", "--agent", "holder", "--ttl-ms", "600000", ...args]);
    assert.equal(r.code, 0, r.stderr);
    const alice = await login(base, TOKENS.alice);
    const bob = await login(base, TOKENS.bob);
    assert.deepEqual(bob.capabilities, []);
    const before = await alice.state();
    const release = { name: "keep-lock" };
    const refusals = [
      [await alice.post("/console/api/leases/release", release, { omit: ["X-Keel-CSRF"] }), 403, "bad CSRF token"],
      [await alice.post("/console/api/leases/release", release, { headers: { "X-Keel-CSRF": bob.csrf } }), 403, "bad CSRF token"],
      // (Refused before the console by the server's Origin check: a JSON-RPC error body.)
      [await alice.post("/console/api/leases/release", release, { headers: { Origin: "http://evil.example" } }), 403, null],
      [await alice.post("/console/api/leases/release", release, { omit: ["Origin"] }), 403, "cross-origin request"],
      [await alice.post("/console/api/leases/release", release, { omit: ["Cookie"] }), 401, "not logged in"],
      [await bob.post("/console/api/leases/release", release), 403, "missing capability lease.force"],
      [await bob.post("/console/api/agents/holder/suspend", {}), 403, "missing capability agent.admin"],
    ];
    for (const [res, status, error] of refusals) {
      assert.equal(res.status, status);
      const body = await res.json();
      if (error !== null) assert.equal(body.error, error);
    }
    const now = await alice.state();
    assert.ok(now.leases.some((l) => l.name === "keep-lock"));
    assert.equal(now.journal.head_seq, before.journal.head_seq);
  });

  test("reads need journal.read and an escalation capability; a huge before_seq answers at once", async () => {
    const leaser = await login(base, TOKENS.leaser);
    for (const p of ["/console/api/state", "/console/api/journal", "/console/events"]) {
      for (const headers of [{ Cookie: leaser.cookie }, { Authorization: `Bearer ${TOKENS.leaser}` }]) {
        const r = await fetch(`${base}${p}`, { headers });
        assert.equal(r.status, 403, p);
        assert.deepEqual(await r.json(), { error: "missing capability journal.read" });
      }
    }
    const alice = await login(base, TOKENS.alice);
    const r = await fetch(`${base}/console/api/journal?before_seq=999999999999999999&op=NOTHING`, {
      headers: { Cookie: alice.cookie },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(r.status, 200);
    assert.deepEqual((await r.json()).records, []);
  });

  test("a login after the pre-login session is gone: 403 login session expired, not a wrong token", async () => {
    const pre = await (await fetch(`${base}/console/api/session`)).json();
    const res = await fetch(`${base}/console/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: base, "X-Keel-CSRF": pre.csrf },
      body: JSON.stringify({ token: TOKENS.alice }),
    });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { error: "login session expired" });
  });

  test("keel console --stop with a stale record kills nothing", async () => {
    const stateDir = path.join(root, "state");
    fs.mkdirSync(stateDir, { recursive: true });
    // A live process that is not a console (this test's own), at a URL nobody serves.
    const record = path.join(stateDir, "console.json");
    fs.writeFileSync(record, JSON.stringify({ url: "http://127.0.0.1:9/", pid: process.pid }));
    const stop = await runKeel(["console", "--stop", ...args]);
    assert.equal(stop.code, 1);
    assert.match(stop.stderr, /no console running/);
    assert.equal(fs.existsSync(record), false);
  });

  test("keel console prints a URL serving the page, and the same URL again", async () => {
    const first = await runKeel(["console", ...args], { timeout: 30_000 });
    assert.equal(first.code, 0, first.stderr);
    const url = first.stdout.trim();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const second = await runKeel(["console", ...args], { timeout: 30_000 });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.trim(), url);
    const stop = await runKeel(["console", "--stop", ...args]);
    assert.equal(stop.code, 0, stop.stderr);
    await assert.rejects(fetch(url));
  });
});
