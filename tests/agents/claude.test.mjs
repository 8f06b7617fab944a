// keel under the real Claude Code binary.
//
// Each test makes a git repository, runs `keel install claude` in it (keel's
// only configuration, plus .keel/keel.jsonc for the oracle), and runs
// `claude -p` there against a scripted model server on 127.0.0.1 that speaks
// the Anthropic Messages API (lib/anthropic_model.mjs). The script says what
// the "model" answers at each step (text, or tool calls); the server records
// every request, so the tests read what Claude Code sent back: the tools it
// offered and the tool results. No KEEL_AGENT anywhere: keel has to recognise
// an agent session by itself.
//
//   KEEL_BIN=build/keel KEEL_CLAUDE_BIN=.../claude node --test tests/agents/claude.test.mjs
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AnthropicModel, lastMessageText, resultText } from "./lib/anthropic_model.mjs";
import {
  ClaudeRun, claudePathDir, claudeVersionLine, cleanup, journalTail, keelDoctor, makeWorkspace, missingPrerequisite,
} from "./lib/claude_agent.mjs";

const models = [];
const holds = []; // resolvers of responses held open, released in after()

before(() => {
  const missing = missingPrerequisite();
  if (missing) throw new Error(missing);
});

after(async () => {
  for (const release of holds) release();
  await cleanup();
  await Promise.all(models.map((m) => m.close()));
});

async function startModel(script, label) {
  const m = await new AnthropicModel(script, { label }).start();
  models.push(m);
  return m;
}

// A promise and its resolver; resolved at the latest in after().
function gate() {
  let release;
  const p = new Promise((resolve) => { release = resolve; });
  holds.push(release);
  return { wait: p, release };
}

// The tool_result block answering tool_use `id`, from any recorded request.
function resultFor(model, id) {
  for (const body of model.agentRequests) {
    for (const m of body.messages ?? []) {
      if (m.role !== "user" || !Array.isArray(m.content)) continue;
      for (const b of m.content) if (b.type === "tool_result" && b.tool_use_id === id) return b;
    }
  }
  return undefined;
}

function requireResult(model, id, run) {
  const r = resultFor(model, id);
  assert.ok(r, `no tool_result for ${id}\n${run?.describe() ?? ""}`);
  return { block: r, text: resultText(r), isError: r.is_error === true };
}

// The JSON a keel tool answered (its text content is the structured result).
function keelJson(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

// Claude Code on `model` in `ws`, run to its end, which must be a clean exit.
async function runToEnd(ws, model, label) {
  const run = new ClaudeRun({ workspace: ws, model, label });
  const { code } = await run.wait();
  assert.equal(code, 0, run.describe());
  return run;
}

const ok = (r, run) => assert.equal(r.isError, false, `expected success, got: ${r.text}\n${run.describe()}`);

describe("Claude Code with keel installed", { timeout: 150_000 }, () => {
  test("keel's tools are offered with their schemas, and a memory_put / memory_get round-trips", { timeout: 60_000 }, async () => {
    const ws = makeWorkspace();
    const model = await startModel([
      { tools: [{ id: "toolu_put", name: "mcp__keel__memory_put", input: { key: "greeting", value: { text: "hello from claude" } } }] },
      { tools: [{ id: "toolu_get", name: "mcp__keel__memory_get", input: { key: "greeting" } }] },
      { text: "Stored and read back." },
    ], "memory");
    const run = await runToEnd(ws, model, "memory");

    // 1. The first request lists keel's tools, each with an input schema.
    const first = model.agentRequests[0];
    assert.ok(first, "Claude Code sent no request");
    const tools = new Map(first.tools.map((t) => [t.name, t]));
    for (const name of ["lease_acquire", "lease_release", "lease_list", "memory_put", "memory_get",
                        "journal_tail", "escalation_request", "fanout_run"]) {
      const t = tools.get(`mcp__keel__${name}`);
      assert.ok(t, `mcp__keel__${name} not offered; tools: ${[...tools.keys()].join(", ")}`);
      assert.equal(typeof t.input_schema, "object");
      assert.equal(t.input_schema.type, "object", `${name}: ${JSON.stringify(t.input_schema)}`);
    }
    assert.ok("name" in tools.get("mcp__keel__lease_acquire").input_schema.properties);
    assert.deepEqual(tools.get("mcp__keel__memory_put").input_schema.required?.slice().sort(), ["key", "value"]);

    // 2. The put succeeded and the get shows the value.
    const put = requireResult(model, "toolu_put", run);
    ok(put, run);
    assert.equal(keelJson(put.text)?.version, 1, put.text);
    const got = requireResult(model, "toolu_get", run);
    ok(got, run);
    const value = keelJson(got.text);
    assert.equal(value?.found, true, got.text);
    assert.deepEqual(value.value, { text: "hello from claude" });
  });

  // keel doctor on the setup every test here runs with (`keel install claude`,
  // the workspace trusted): no problem, keel's MCP server starts and lists its
  // tools, and the real Claude Code found on PATH is new enough for the
  // exec-form hooks written (>= 2.1.139). Then Claude Code agrees: it calls a
  // keel tool and keel's gate refuses a git reset --hard.
  test("keel doctor passes after keel install claude, and Claude Code runs keel's server and hooks", { timeout: 60_000 }, async (t) => {
    const ws = makeWorkspace({ files: { "notes.txt": "committed\n" } });
    const d = keelDoctor(ws);
    assert.equal(d.status, 0, d.describe());
    assert.ok(Array.isArray(d.findings), d.describe());
    const problems = d.findings.filter((f) => f.kind === "problem" || f.ok === false);
    assert.deepEqual(problems, [], d.describe());
    const one = (check) => {
      const hits = d.findings.filter((f) => f.agent === "claude" && f.check === check);
      assert.equal(hits.length, 1, `expected one ${check} finding:\n${d.describe()}`);
      return hits[0];
    };
    const mcpStart = one("mcp_start");
    assert.equal(mcpStart.kind, "pass", d.describe());
    assert.equal(mcpStart.scope, "project");
    assert.match(mcpStart.detail, /lease_acquire/, mcpStart.detail);
    const version = one("version");
    t.diagnostic(`doctor: ${version.detail}`);
    assert.equal(version.kind, "pass", d.describe());
    const line = claudeVersionLine(ws);
    assert.ok(version.detail.includes(path.join(claudePathDir(ws.root), "claude")), `version check did not run the claude on PATH: ${version.detail}`);
    assert.ok(version.detail.includes(line), `version check does not show \`${line}\`: ${version.detail}`);
    assert.match(version.detail, /runs exec-form hooks/, version.detail);
    const [maj, min, pat] = /(\d+)\.(\d+)\.(\d+)/.exec(line).slice(1).map(Number);
    assert.ok(maj > 2 || (maj === 2 && (min > 1 || (min === 1 && pat >= 139))), `claude ${line} is older than 2.1.139, yet doctor passed`);
    assert.equal(one("hook_binary").kind, "pass", d.describe());
    assert.equal(one("workspace_trust").kind, "pass", d.describe());
    const text = keelDoctor(ws, []);
    assert.equal(text.status, 0, text.describe());
    assert.match(text.stdout, /^✓ claude \(project\): MCP server starts and lists keel's tools/m, text.describe());
    assert.match(text.stdout, /^✓ claude: .* --version: .*\(runs exec-form hooks\)$/m, text.describe());
    assert.match(text.stdout, /^keel doctor: no problems found/m, text.describe());

    // Claude Code agrees: keel's server answers and keel's PreToolUse hook runs.
    const model = await startModel([
      { tools: [{ id: "toolu_dlist", name: "mcp__keel__lease_list", input: {} }] },
      { tools: [{ id: "toolu_dreset", name: "Bash", input: { command: "git reset --hard", description: "Reset" } }] },
      { text: "Done." },
    ], "doctor");
    const run = await runToEnd(ws, model, "doctor");
    ok(requireResult(model, "toolu_dlist", run), run);
    const reset = requireResult(model, "toolu_dreset", run);
    assert.equal(reset.isError, true, `doctor passed but keel's gate did not refuse git reset --hard: ${reset.text}`);
    assert.match(reset.text, /git\.reset-hard|git reset --hard discards/, reset.text);
  });

  test("an agent that leases a file may edit it", { timeout: 60_000 }, async () => {
    const ws = makeWorkspace({ files: { "src/app.txt": "version = 1\n" } });
    const file = ws.file("src/app.txt");
    const model = await startModel([
      { tools: [{ id: "toolu_lease", name: "mcp__keel__lease_acquire", input: { name: `file:${file}`, ttl_ms: 600_000 } }] },
      { tools: [{ id: "toolu_read", name: "Read", input: { file_path: file } }] },
      { tools: [{ id: "toolu_edit", name: "Edit", input: { file_path: file, old_string: "version = 1", new_string: "version = 2" } }] },
      { text: "Edited." },
    ], "lease-edit");
    const run = await runToEnd(ws, model, "lease-edit");

    const lease = requireResult(model, "toolu_lease", run);
    ok(lease, run);
    assert.equal(keelJson(lease.text)?.granted, true, lease.text);
    ok(requireResult(model, "toolu_read", run), run);
    const edit = requireResult(model, "toolu_edit", run);
    ok(edit, run);
    assert.equal(fs.readFileSync(file, "utf8"), "version = 2\n");
  });

  test("a second session is refused a leased file, and gets it as soon as the holder's process is killed", { timeout: 90_000 }, async () => {
    const ws = makeWorkspace({ files: { "src/shared.txt": "owner = nobody\n" } });
    const file = ws.file("src/shared.txt");

    // Agent 1 takes the lease (TTL 10 minutes: only its death can free it
    // within this test), then waits on a model response that never comes.
    const hold1 = gate();
    const model1 = await startModel([
      { tools: [{ id: "toolu_lease1", name: "mcp__keel__lease_acquire", input: { name: `file:${file}`, ttl_ms: 600_000 } }] },
      async () => { await hold1.wait; return { text: "never reached" }; },
    ], "agent1");
    const run1 = new ClaudeRun({ workspace: ws, model: model1, label: "agent1", timeoutMs: 80_000 });
    await model1.waitForAgentRequests(2, { timeoutMs: 30_000 });
    const lease = requireResult(model1, "toolu_lease1", run1);
    ok(lease, run1);
    const grant = keelJson(lease.text);
    assert.equal(grant?.granted, true, lease.text);
    assert.ok(grant.holder, lease.text);

    // Agent 2 reads and tries to edit the same file: refused, naming agent 1.
    const killed = gate();
    const model2 = await startModel([
      { tools: [{ id: "toolu_read2", name: "Read", input: { file_path: file } }] },
      { tools: [{ id: "toolu_edit2a", name: "Edit", input: { file_path: file, old_string: "nobody", new_string: "agent2" } }] },
      async () => {
        await killed.wait;
        return { tools: [{ id: "toolu_edit2b", name: "Edit", input: { file_path: file, old_string: "nobody", new_string: "agent2" } }] };
      },
      { text: "Edited." },
    ], "agent2");
    const run2 = new ClaudeRun({ workspace: ws, model: model2, label: "agent2" });
    await model2.waitForAgentRequests(3, { timeoutMs: 30_000 });
    ok(requireResult(model2, "toolu_read2", run2), run2);
    const denied = requireResult(model2, "toolu_edit2a", run2);
    if (!denied.isError) assert.fail(`agent 2's edit went through: ${denied.text}\nkeel journal:\n${journalTail(ws)}`);
    assert.ok(denied.text.includes(grant.holder), `the refusal does not name the holder ${grant.holder}: ${denied.text}`);
    assert.match(denied.text, /leased/);
    assert.equal(fs.readFileSync(file, "utf8"), "owner = nobody\n");
    assert.equal(run1.code, undefined, "agent 1 exited early:\n" + run1.describe());

    // Agent 1's claude process dies (SIGKILL: no hook, no cleanup of its own).
    const claudePid = run1.claudePid();
    assert.ok(claudePid, `agent 1's claude process (the parent of keel serve --stdio) not found\n${run1.describe()}`);
    process.kill(claudePid, "SIGKILL");
    await run1.wait(10_000);
    killed.release();

    const { code } = await run2.wait();
    assert.equal(code, 0, run2.describe());
    const allowed = requireResult(model2, "toolu_edit2b", run2);
    if (allowed.isError) {
      assert.fail(`agent 2's edit after agent 1 (pid ${claudePid}) died was refused: ${allowed.text}\n` +
                  `keel journal:\n${journalTail(ws)}`);
    }
    assert.equal(fs.readFileSync(file, "utf8"), "owner = agent2\n");
  });

  test("destructive shell commands are refused and the model is told why", { timeout: 60_000 }, async () => {
    const ws = makeWorkspace({ files: { "notes.txt": "committed\n" } });
    fs.writeFileSync(ws.file("notes.txt"), "uncommitted work\n");
    const model = await startModel([
      { tools: [{ id: "toolu_reset", name: "Bash", input: { command: "git reset --hard", description: "Discard changes" } }] },
      { tools: [{ id: "toolu_rmhome", name: "Bash", input: { command: "rm -rf ~", description: "Clean home" } }] },
      { text: "Understood." },
    ], "destructive");
    const run = await runToEnd(ws, model, "destructive");

    const reset = requireResult(model, "toolu_reset", run);
    assert.equal(reset.isError, true, reset.text);
    // keel's reason (its rule), not Claude Code's own "you haven't granted it".
    assert.match(reset.text, /git\.reset-hard|git reset --hard discards/, reset.text);
    const rm = requireResult(model, "toolu_rmhome", run);
    assert.equal(rm.isError, true, rm.text);
    assert.match(rm.text, /rm\.home|home directory/, rm.text);
    assert.equal(fs.readFileSync(ws.file("notes.txt"), "utf8"), "uncommitted work\n");
    assert.ok(fs.existsSync(ws.home), "HOME is gone");
  });

  test("the oracle refuses the stop while its check fails, and lets it through once it passes", { timeout: 60_000 }, async () => {
    const ws = makeWorkspace({
      keelConfig: { hooks: { oracle: {
        // Its output ("missing: done.txt") is not a substring of the command.
        command: "test -f done.txt || { printf 'missing: %s\\n' done.txt; exit 1; }",
        max_blocks: 3,
      } } },
    });
    const model = await startModel([
      { text: "All finished." },
      // The continuation Claude Code asks for after the blocked stop.
      { tools: [{ id: "toolu_write", name: "Write", input: { file_path: ws.file("done.txt"), content: "ok\n" } }] },
      { text: "Now it is really finished." },
    ], "oracle");
    const run = await runToEnd(ws, model, "oracle");

    assert.equal(model.agentRequests.length, 3, `expected 3 model requests, got ${model.agentRequests.length}\n${run.describe()}`);
    const continuation = lastMessageText(model.agentRequests[1]);
    // The blocked stop reached the model with the check's output.
    assert.match(continuation, /missing: done\.txt/, continuation);
    ok(requireResult(model, "toolu_write", run), run);
    assert.equal(fs.readFileSync(ws.file("done.txt"), "utf8"), "ok\n");
    assert.equal(run.result?.subtype, "success", run.describe());
  });
});
