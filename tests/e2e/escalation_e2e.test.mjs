// tests/e2e/escalation_e2e.test.mjs — escalations end to end.
//
// The OFFICIAL MCP client (@modelcontextprotocol/sdk) drives `keel serve
// --stdio` with the elicitation capability declared and answers keel's
// elicitation/create itself (accept/override, accept/modify, decline, cancel);
// the SDK validates every structuredContent against the tools' outputSchemas.
// Also: budget exhaustion, the CLI resolving while escalation_status waits,
// two humans resolving at once, a pending escalation surviving a restart, and
// the HTTP JSON endpoint of `keel serve --http`.
//
// Run: KEEL_BIN=build/keel node --test tests/e2e/escalation_e2e.test.mjs   (Node 22)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

import { KEEL_BIN, mkTmp, requireBinary, rmTmp, runKeel, startHttpServer } from "./lib/keel.mjs";
import { connectStdioSdk } from "./lib/sdk.mjs";

const CALL_TIMEOUT = 20_000;

// Spawns `keel serve --stdio` for AGENT under the SDK client. `answers`, when
// given, makes the client declare form elicitation and answer each
// elicitation/create with the next entry (recording the requests).
async function connect(agent, dirs, answers) {
  const capabilities = answers ? { elicitation: { form: {} } } : {};
  const asked = [];
  const { client, stderr } = await connectStdioSdk(agent, dirs.args, {
    clientName: "keel-e2e-escalation",
    capabilities,
    timeout: CALL_TIMEOUT,
    prepare: (c) => {
      if (!answers) return;
      c.setRequestHandler(ElicitRequestSchema, async (req) => {
        asked.push(req.params);
        const next = answers.shift();
        assert.ok(next, "keel asked more often than the test expected");
        return next;
      });
    },
  });
  const call = async (name, args) => {
    const r = await client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT });
    if (r.isError) throw new Error(`${name} failed: ${r.content?.[0]?.text}`);
    return r.structuredContent;
  };
  const callRaw = (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT });
  return { client, call, callRaw, asked, close: () => client.close(), stderr };
}

function ask(reason, extra = {}) {
  return {
    reason,
    context: { branch: "release" },
    proposal: { command: "git push --force origin release" },
    impact: "high",
    ...extra,
  };
}

function keel(dirs, args, opts) {
  return runKeel([...args, ...dirs.args], opts);
}

describe("escalation", () => {
  let root;
  let dirs;

  before(() => {
    requireBinary();
    root = mkTmp("keel-esc-e2e-");
    const project = path.join(root, "project");
    fs.mkdirSync(project);
    const config = path.join(root, "keel.jsonc");
    // Room for the elicitation tests; one agent with a tiny budget.
    fs.writeFileSync(
      config,
      `{"escalation": {"capacity": 20, "agents": {"tight": {"capacity": 2, "refill_ms": 3600000}}}}`,
    );
    dirs = { args: ["--state", path.join(root, "state"), "--project", project, "--config", config] };
  });
  after(() => rmTmp(root));

  test("the TypeScript client answers keel's elicitation: override, modify, decline, cancel", async () => {
    const answers = [
      { action: "accept", content: { decision: "override" } },
      { action: "accept", content: { decision: "modify", proposal: '{"command": "git push origin release"}' } },
      { action: "decline" },
      { action: "cancel" },
    ];
    const c = await connect("asker", dirs, answers);
    try {
      const o = await c.call("escalation_request", ask("force-push release?"));
      assert.equal(o.outcome, "GRANTED");
      assert.equal(o.status, "resolved");
      assert.equal(o.decision, "OVERRIDE");
      assert.deepEqual(o.proposal, { command: "git push --force origin release" });
      assert.equal(o.escalation.resolved_via, "elicitation");
      assert.equal(o.escalation.resolver, "human@asker");

      // What the human saw: a form with the reason and a decision enum.
      const first = c.asked[0];
      assert.equal(first.mode ?? "form", "form");
      assert.match(first.message, /force-push release\?/);
      assert.deepEqual(first.requestedSchema.properties.decision.enum, ["override", "modify", "abort"]);
      assert.deepEqual(first.requestedSchema.required, ["decision"]);

      const m = await c.call("escalation_request", ask("force-push again?"));
      assert.equal(m.decision, "MODIFY");
      assert.deepEqual(m.proposal, { command: "git push origin release" });

      const d = await c.call("escalation_request", ask("and again?"));
      assert.equal(d.decision, "ABORT");
      assert.equal(d.proposal, null);

      const p = await c.call("escalation_request", ask("one more?"));
      assert.equal(p.status, "pending");
      assert.equal(p.decision, undefined);
      assert.equal(c.asked.length, 4);

      // The cancelled one waits for a human on the CLI while the agent polls.
      const waiting = c.call("escalation_status", { id: p.id, wait_ms: 15_000 });
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      const res = await keel(dirs, ["escalation", "resolve", String(p.id), "--decision", "abort"]);
      assert.equal(res.code, 0, res.stderr);
      const st = await waiting;
      assert.equal(st.status, "resolved");
      assert.equal(st.decision, "ABORT");
      assert.equal(st.escalation.resolved_via, "cli");
      assert.ok(Date.now() - t0 < 3000, `the wait took ${Date.now() - t0} ms after the CLI resolved`);

      // Every step is in the journal.
      const j = await keel(dirs, ["journal", "export"]);
      assert.equal(j.code, 0, j.stderr);
      const ops = j.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l).op);
      assert.equal(ops.filter((o) => o === "ESCALATE").length, 4);
      assert.equal(ops.filter((o) => o === "RESOLVE").length, 4);
    } finally {
      await c.close();
    }
  });

  test("budget exhaustion: BUDGET_EXHAUSTED with retry_after_ms, journaled", async () => {
    const c = await connect("tight", dirs);
    try {
      const a = await c.call("escalation_request", ask("first"));
      assert.equal(a.outcome, "GRANTED");
      assert.equal(a.status, "pending"); // no elicitation declared: stays pending
      assert.equal(a.tokens_left, 1);
      const again = await c.call("escalation_request", ask("first", { request_id: "r-1" }));
      const replay = await c.call("escalation_request", ask("first", { request_id: "r-1" }));
      assert.equal(replay.id, again.id);
      assert.equal(replay.replayed, true);
      const refused = await c.call("escalation_request", ask("third"));
      assert.equal(refused.outcome, "BUDGET_EXHAUSTED");
      assert.equal(refused.id, undefined);
      // capacity 2 per hour: one token back in 30 minutes.
      assert.ok(refused.retry_after_ms > 1_700_000 && refused.retry_after_ms <= 1_800_000, String(refused.retry_after_ms));
    } finally {
      await c.close();
    }
    const q = await keel(dirs, ["journal", "query", "--op", "ESCALATE_REFUSED", "--json"]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /BUDGET_EXHAUSTED/);
  });

  test("a pending escalation survives a restart; two humans resolve at once, one wins", async () => {
    let id;
    {
      const c = await connect("restarter", dirs);
      try {
        id = (await c.call("escalation_request", ask("survive a restart?"))).id;
      } finally {
        await c.close();
      }
    }
    const c = await connect("restarter", dirs);
    try {
      const st = await c.call("escalation_status", { id });
      assert.equal(st.status, "pending");
      assert.equal(st.escalation.reason, "survive a restart?");
      const pending = await c.call("escalation_list", { status: "pending" });
      assert.ok(pending.escalations.some((e) => e.id === id));
      const denied = await c.callRaw("escalation_resolve", { id, decision: "override" });
      assert.equal(denied.isError, true);
      assert.match(denied.content[0].text, /PERMISSION_DENIED/);
    } finally {
      await c.close();
    }

    const [r1, r2] = await Promise.all([
      keel(dirs, ["escalation", "resolve", String(id), "--decision", "override"]),
      keel(dirs, ["escalation", "resolve", String(id), "--decision", "modify", "--proposal", '{"command":"no"}']),
    ]);
    assert.deepEqual([r1.code, r2.code].sort(), [0, 1], `${r1.stderr}\n${r2.stderr}`);
    const loser = r1.code === 1 ? r1 : r2;
    assert.match(loser.stderr, /CONFLICT: escalation \d+ was already resolved/);
  });

  test("HTTP JSON endpoint: list, show, resolve, conflict", async () => {
    const c = await connect("webby", dirs);
    let id;
    try {
      id = (await c.call("escalation_request", ask("over http?"))).id;
    } finally {
      await c.close();
    }
    const server = await startHttpServer({ stateDir: path.join(root, "state"), extraArgs: dirs.args.slice(2) });
    try {
      const base = server.url.replace(/\/mcp$/, "");
      const list = await fetch(`${base}/escalations?status=pending`);
      assert.equal(list.status, 200);
      const body = await list.json();
      assert.ok(body.escalations.some((e) => e.id === id && e.reason === "over http?"));

      const one = await fetch(`${base}/escalations/${id}`);
      assert.equal(one.status, 200);
      assert.equal((await one.json()).status, "pending");
      assert.equal((await fetch(`${base}/escalations/999999`)).status, 404);

      const post = (decision, proposal) =>
        fetch(`${base}/escalations/${id}/resolve`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(proposal === undefined ? { decision } : { decision, proposal }),
        });
      assert.equal((await post("maybe")).status, 400);
      assert.equal((await post("modify")).status, 400); // MODIFY needs a proposal
      const ok = await post("modify", { command: "git push origin release" });
      assert.equal(ok.status, 200);
      const resolved = await ok.json();
      assert.equal(resolved.decision, "MODIFY");
      assert.equal(resolved.resolved_via, "http");
      const conflict = await post("abort");
      assert.equal(conflict.status, 409);
      const cb = await conflict.json();
      assert.equal(cb.error.code, "CONFLICT");
      assert.equal(cb.escalation.decision, "MODIFY");
    } finally {
      await server.stop();
    }
  });
});
