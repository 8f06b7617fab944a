// keel's agent registry under the real Claude Code binary: two concurrent
// `claude -p` sessions in one repository (configured only by `keel install
// claude`, no KEEL_AGENT) are two agents, claude-code:<12 hex>, each known by
// its process; the human lists them (`keel agents ls`), suspends one (its
// leases go, its tool calls and acquires are refused with the human's reason),
// resumes it, and sees it gone once its process is killed. The other session
// is never affected.
//
// Each session talks to its own scripted model server (lib/anthropic_model.mjs)
// whose every turn is handed over by the test (a Steer): between two steps the
// session is kept alive by a model response held open.
//
//   KEEL_BIN=build/keel KEEL_CLAUDE_BIN=.../claude node --test tests/agents/registry.test.mjs
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { AnthropicModel, resultText } from "./lib/anthropic_model.mjs";
import { ClaudeRun, KEEL_BIN, cleanup, journalTail, makeWorkspace, missingPrerequisite } from "./lib/claude_agent.mjs";

const models = [];
const steers = [];

before(() => {
  const missing = missingPrerequisite();
  if (missing) throw new Error(missing);
});

after(async () => {
  for (const s of steers) s.finish();
  await cleanup();
  await Promise.all(models.map((m) => m.close()));
});

// The model's turns, handed over one at a time by the test. A request that
// arrives before its turn is given is held open (the session waits on its
// model); finish() answers every held request with a final text.
class Steer {
  constructor() {
    this.turns = [];
    this.takers = [];
    this.done = false;
    steers.push(this);
  }
  give(turn) {
    const taker = this.takers.shift();
    if (taker) taker(turn); else this.turns.push(turn);
  }
  take() {
    if (this.turns.length) return Promise.resolve(this.turns.shift());
    if (this.done) return Promise.resolve({ text: "done" });
    return new Promise((resolve) => this.takers.push(resolve));
  }
  finish() {
    this.done = true;
    while (this.takers.length) this.takers.shift()({ text: "done" });
  }
}

// One Claude Code session driven step by step.
async function startSession(ws, label, firstTurn) {
  const steer = new Steer();
  steer.give(firstTurn);
  const model = await new AnthropicModel(Array.from({ length: 40 }, () => () => steer.take()), { label }).start();
  models.push(model);
  const run = new ClaudeRun({ workspace: ws, model, label, timeoutMs: 55_000 });
  return { label, steer, model, run };
}

// Gives the session's held request its answer `turn` (tool calls) and waits
// for the next request, which carries the tool results (and is held in turn).
async function step(s, turn) {
  const n = s.model.agentRequests.length;
  s.steer.give(turn);
  await s.model.waitForAgentRequests(n + 1, { timeoutMs: 20_000, what: `${s.label}'s request after ${JSON.stringify(turn).slice(0, 120)}` })
    .catch((e) => { throw new Error(`${e.message}\n${s.run.describe()}`); });
}

// The tool_result answering tool_use `id`, from any recorded request.
function result(s, id) {
  for (const body of s.model.agentRequests) {
    for (const m of body.messages ?? []) {
      if (m.role !== "user" || !Array.isArray(m.content)) continue;
      for (const b of m.content) {
        if (b.type === "tool_result" && b.tool_use_id === id) {
          const text = resultText(b);
          let json;
          try { json = JSON.parse(text); } catch {}
          return { text, json, isError: b.is_error === true };
        }
      }
    }
  }
  assert.fail(`${s.label}: no tool_result for ${id}\n${s.run.describe()}`);
}

const ok = (r, s, ws) => assert.equal(r.isError, false, `${s.label}: expected success, got: ${r.text}\nkeel journal:\n${journalTail(ws)}`);

// The human at the repository's shell: keel's CLI, with no KEEL_* from the
// test's own environment.
function keel(ws, ...args) {
  return execFileSync(KEEL_BIN, args, {
    cwd: ws.repo, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: process.env.LANG ?? "C.UTF-8", HOME: ws.home,
           USER: process.env.USER ?? "root", TMPDIR: os.tmpdir() },
  });
}
const agentsLs = (ws, ...flags) => JSON.parse(keel(ws, "agents", "ls", "--json", ...flags)).agents;
const leaseNames = (ws) => JSON.parse(keel(ws, "lease", "ls", "--json")).leases.map((l) => l.name);
const journal = (ws, ...flags) =>
  keel(ws, "journal", "tail", "--json", "--limit", "200", ...flags).split("\n").filter(Boolean).map((l) => JSON.parse(l));

// Polls `probe` (which returns a truthy value when the condition holds) until
// it holds or `timeoutMs` passes.
async function until(probe, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const REASON = "stop: runaway loop";

describe("keel's agent registry with two Claude Code sessions", { timeout: 100_000 }, () => {
  test("both sessions are listed by their process; a suspended one is stopped, resumed, and gone once killed", { timeout: 58_000 }, async (t) => {
    const ws = makeWorkspace({ files: { "src/a.txt": "a = 1\n", "src/b.txt": "b = 1\n" } });
    const fileA = ws.file("src/a.txt");
    const fileB = ws.file("src/b.txt");
    const leaseA = `file:${fileA}`;
    const leaseB = `file:${fileB}`;

    // 1. Two sessions at once: A leases a.txt, B writes a memory; both then
    //    wait on their model.
    const [A, B] = await Promise.all([
      startSession(ws, "A", { tools: [{ id: "toolu_a_lease", name: "mcp__keel__lease_acquire", input: { name: leaseA, ttl_ms: 600_000 } }] }),
      startSession(ws, "B", { tools: [{ id: "toolu_b_put", name: "mcp__keel__memory_put", input: { key: "progress", value: { step: 1 } } }] }),
    ]);
    await Promise.all([A, B].map((s) => s.model.waitForAgentRequests(2, { timeoutMs: 30_000, what: `${s.label}'s first tool result` })
      .catch((e) => { throw new Error(`${e.message}\n${s.run.describe()}`); })));
    const grantA = result(A, "toolu_a_lease");
    ok(grantA, A, ws);
    assert.equal(grantA.json?.granted, true, grantA.text);
    ok(result(B, "toolu_b_put"), B, ws);

    const pidA = A.run.claudePid();
    const pidB = B.run.claudePid();
    assert.ok(pidA && pidB, `claude pids not found: A ${pidA}, B ${pidB}\n${A.run.describe()}\n${B.run.describe()}`);
    assert.notEqual(pidA, pidB);

    // The human's list: exactly these two agents (the MCP server and the hooks
    // of one session are one agent), active, each with its claude process.
    const listed = agentsLs(ws);
    assert.equal(listed.length, 2, `keel agents ls --json: ${JSON.stringify(listed)}`);
    const agentA = listed.find((a) => a.pid === pidA);
    const agentB = listed.find((a) => a.pid === pidB);
    assert.ok(agentA && agentB, `pids ${pidA} (A) and ${pidB} (B) not both listed: ${JSON.stringify(listed)}`);
    const nameA = agentA.name;
    const nameB = agentB.name;
    for (const a of [agentA, agentB]) {
      assert.match(a.name, /^claude-code:[0-9a-f]{12}$/, JSON.stringify(a));
      assert.equal(a.product, "claude-code", JSON.stringify(a));
      assert.equal(a.status, "active", JSON.stringify(a));
      assert.equal(a.host, os.hostname(), JSON.stringify(a));
    }
    assert.notEqual(nameA, nameB);
    assert.equal(grantA.json.holder, nameA, `the lease was granted to ${grantA.json.holder}, listed agent is ${nameA}`);
    assert.deepEqual(agentA.leases, [leaseA]);
    assert.deepEqual(agentB.leases, []);
    // Each has a session bound. (Which one: the hook's SessionStart binds
    // Claude Code's session id, then the MCP server's first call rebinds its
    // own transport session, s-<hex>; "the last session id bound".)
    assert.ok(agentA.session_id && agentB.session_id && agentA.session_id !== agentB.session_id,
              JSON.stringify([agentA, agentB]));

    // B asks keel itself (agent_list): the same two agents.
    await step(B, { tools: [{ id: "toolu_b_list1", name: "mcp__keel__agent_list", input: {} }] });
    const list1 = result(B, "toolu_b_list1");
    ok(list1, B, ws);
    const seen1 = new Map((list1.json?.agents ?? []).map((a) => [a.name, a]));
    assert.equal(seen1.size, 2, list1.text);
    assert.equal(seen1.get(nameA)?.status, "active", list1.text);
    assert.equal(seen1.get(nameA)?.pid, pidA, list1.text);
    assert.deepEqual(seen1.get(nameA)?.leases, [leaseA], list1.text);
    assert.equal(seen1.get(nameB)?.status, "active", list1.text);
    assert.equal(seen1.get(nameB)?.pid, pidB, list1.text);
    assert.equal(seen1.get(nameB)?.product, "claude-code", list1.text);

    // 2. The human suspends A: its lease is released at once (journal SUSPEND).
    const out = keel(ws, "agents", "suspend", nameA, "--reason", REASON);
    assert.match(out, new RegExp(`suspended ${nameA}`), out);
    assert.ok(!leaseNames(ws).includes(leaseA), `A's lease survived the suspension: ${keel(ws, "lease", "ls", "--json")}`);
    const suspendedA = agentsLs(ws).find((a) => a.name === nameA);
    assert.equal(suspendedA?.status, "suspended", JSON.stringify(suspendedA));
    assert.equal(suspendedA.reason, REASON);
    assert.deepEqual(suspendedA.leases, []);
    const suspendRec = journal(ws, "--op", "SUSPEND").find((r) => JSON.stringify(r).includes(nameA));
    assert.ok(suspendRec, `no SUSPEND record naming ${nameA}:\n${journalTail(ws)}`);

    // A's next tool call (an edit) is denied with the human's reason ...
    await step(A, { tools: [{ id: "toolu_a_edit1", name: "Edit", input: { file_path: fileA, old_string: "a = 1", new_string: "a = 2" } }] });
    const denied = result(A, "toolu_a_edit1");
    assert.equal(denied.isError, true, `A's edit went through while suspended: ${denied.text}\n${journalTail(ws)}`);
    assert.ok(denied.text.includes(REASON), `the denial does not carry the reason: ${denied.text}`);
    assert.ok(denied.text.includes(`agent ${nameA} is suspended`), denied.text);
    assert.equal(fs.readFileSync(fileA, "utf8"), "a = 1\n");
    // ... and so is its lease_acquire.
    await step(A, { tools: [{ id: "toolu_a_lease2", name: "mcp__keel__lease_acquire", input: { name: leaseA, ttl_ms: 600_000 } }] });
    const refused = result(A, "toolu_a_lease2");
    assert.equal(refused.isError, true, `A's acquire while suspended: ${refused.text}\n${journalTail(ws)}`);
    assert.match(refused.text, /suspended/, refused.text);
    assert.ok(refused.text.includes(nameA) && refused.text.includes(REASON), refused.text);
    assert.ok(!leaseNames(ws).includes(leaseA), "A got its lease back while suspended");

    // B carries on: leases and edits its own file, and sees A suspended.
    await step(B, { tools: [{ id: "toolu_b_lease", name: "mcp__keel__lease_acquire", input: { name: leaseB, ttl_ms: 600_000 } }] });
    const grantB = result(B, "toolu_b_lease");
    ok(grantB, B, ws);
    assert.equal(grantB.json?.granted, true, grantB.text);
    assert.equal(grantB.json?.holder, nameB, grantB.text);
    await step(B, { tools: [{ id: "toolu_b_edit", name: "Edit", input: { file_path: fileB, old_string: "b = 1", new_string: "b = 2" } }] });
    ok(result(B, "toolu_b_edit"), B, ws);
    assert.equal(fs.readFileSync(fileB, "utf8"), "b = 2\n");
    await step(B, { tools: [{ id: "toolu_b_list2", name: "mcp__keel__agent_list", input: {} }] });
    const list2 = result(B, "toolu_b_list2");
    ok(list2, B, ws);
    const seen2 = new Map((list2.json?.agents ?? []).map((a) => [a.name, a]));
    assert.equal(seen2.get(nameA)?.status, "suspended", list2.text);
    assert.equal(seen2.get(nameA)?.reason, REASON, list2.text);
    assert.equal(seen2.get(nameB)?.status, "active", list2.text);
    assert.deepEqual(seen2.get(nameB)?.leases, [leaseB], list2.text);

    // The human resumes A: its next tool calls go through.
    const resumed = keel(ws, "agents", "resume", nameA);
    assert.match(resumed, new RegExp(`resumed ${nameA}`), resumed);
    assert.equal(agentsLs(ws).find((a) => a.name === nameA)?.status, "active");
    await step(A, { tools: [{ id: "toolu_a_lease3", name: "mcp__keel__lease_acquire", input: { name: leaseA, ttl_ms: 600_000 } }] });
    const regrant = result(A, "toolu_a_lease3");
    ok(regrant, A, ws);
    assert.equal(regrant.json?.granted, true, regrant.text);
    await step(A, { tools: [{ id: "toolu_a_edit2", name: "Edit", input: { file_path: fileA, old_string: "a = 1", new_string: "a = 2" } }] });
    ok(result(A, "toolu_a_edit2"), A, ws);
    assert.equal(fs.readFileSync(fileA, "utf8"), "a = 2\n");
    assert.deepEqual(agentsLs(ws).find((a) => a.name === nameA)?.leases, [leaseA]);

    // 3. A's claude process is killed (no hook, no goodbye) while it holds
    //    a.txt: keel lists it as no longer active at once, its lease is freed
    //    (SCAVENGE), and `--all` shows it gone. B keeps its lease.
    process.kill(pidA, "SIGKILL");
    await A.run.wait(10_000);
    const afterKill = agentsLs(ws).find((a) => a.name === nameA);
    assert.notEqual(afterKill?.status, "active", `A listed as active after its process was killed: ${JSON.stringify(afterKill)}`);
    await until(() => !leaseNames(ws).includes(leaseA), "A's lease to be freed after its process was killed");
    const scavenge = journal(ws, "--op", "SCAVENGE").find((r) => JSON.stringify(r).includes(nameA));
    assert.ok(scavenge, `no SCAVENGE record naming ${nameA}:\n${journalTail(ws)}`);
    assert.equal(agentsLs(ws).find((a) => a.name === nameA), undefined, "A, gone and holding nothing, is still listed without --all");
    assert.equal(agentsLs(ws, "--all").find((a) => a.name === nameA)?.status, "gone");
    const bNow = agentsLs(ws).find((a) => a.name === nameB);
    assert.equal(bNow?.status, "active", JSON.stringify(bNow));
    assert.deepEqual(bNow.leases, [leaseB]);
    await step(B, { tools: [{ id: "toolu_b_list3", name: "mcp__keel__agent_list", input: { include_gone: true } }] });
    const list3 = result(B, "toolu_b_list3");
    ok(list3, B, ws);
    const seen3 = new Map((list3.json?.agents ?? []).map((a) => [a.name, a]));
    assert.equal(seen3.get(nameA)?.status, "gone", list3.text);
    assert.equal(seen3.get(nameB)?.status, "active", list3.text);

    // B ends its turn and exits: neither is active any more, `--all` shows
    // both gone. (Whether B's lease is freed by its exit is the next test.)
    B.steer.finish();
    const { code } = await B.run.wait(20_000);
    assert.equal(code, 0, B.run.describe());
    const live = agentsLs(ws);
    assert.ok(live.every((a) => a.status === "gone"), `agents still active after both exited: ${JSON.stringify(live)}`);
    const all = agentsLs(ws, "--all");
    assert.deepEqual(all.map((a) => [a.name, a.status]).sort(), [[nameA, "gone"], [nameB, "gone"]].sort(), JSON.stringify(all));
    t.diagnostic(`A's denied edit: ${denied.text}`);
    t.diagnostic(`A's refused acquire: ${refused.text}`);
  });

  // Claude Code ends its MCP servers with SIGINT when it exits: keel serve
  // --stdio takes it as the end of its input, drops the session (SESSION_END)
  // and frees its agent's leases once the agent's process is gone.
  test("a session that ends normally frees its leases", { timeout: 30_000 }, async () => {
    const ws = makeWorkspace({ files: { "src/c.txt": "c = 1\n" } });
    const leaseC = `file:${ws.file("src/c.txt")}`;
    const s = await startSession(ws, "C", { tools: [{ id: "toolu_c_lease", name: "mcp__keel__lease_acquire", input: { name: leaseC, ttl_ms: 600_000 } }] });
    await s.model.waitForAgentRequests(2, { timeoutMs: 30_000, what: "C's lease result" });
    ok(result(s, "toolu_c_lease"), s, ws);
    assert.deepEqual(leaseNames(ws), [leaseC]);
    s.steer.finish();
    const { code } = await s.run.wait(20_000);
    assert.equal(code, 0, s.run.describe());
    // The server's own clean-up ran (it did not die of the signal).
    await until(() => keel(ws, "journal", "tail", "--op", "SESSION_END", "--json").trim() !== "",
                `C's keel serve to drop its session at exit\nkeel journal:\n${journalTail(ws)}`, 3_000);
    await until(() => leaseNames(ws).length === 0,
                `C's lease to be freed after it exited\nkeel lease ls: ${keel(ws, "lease", "ls")}\nkeel journal:\n${journalTail(ws)}`, 3_000);
    assert.deepEqual(agentsLs(ws), []);
  });
});
