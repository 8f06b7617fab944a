// The stateful hook policies end to end, through the real binary: every event is a separate
// `keel hook --dialect claude` process, so the per-session state they share must live in the
// store. Oracle and self-check with a check command that fails, then passes once the test
// creates the file it looks for; the guardrail's repeated-failure deny; the HTTP hooks of
// `keel serve --http` (POST /hooks/claude); unreadable input and the permission gate's fail mode.
//
// Run: KEEL_BIN=build/keel node --test tests/e2e/hook_policies.test.mjs   (Node 22)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { mkTmp, parseJsonl, requireBinary, rmTmp, runKeel, show, startHttpServer } from "./lib/keel.mjs";

let tmp;

before(() => {
  requireBinary();
  tmp = fs.realpathSync(mkTmp("keel-hookpol-"));
});
after(() => rmTmp(tmp));

// A project directory with its own keel.jsonc `hooks` section and state dir.
function project(name, hooks) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const config = path.join(dir, "keel.jsonc");
  fs.writeFileSync(config, JSON.stringify({ hooks }));
  return { dir, config, state: path.join(dir, ".state") };
}

// One Claude Code hook event through one `keel hook` process.
async function hook(p, event, session = "sess-1") {
  const input = JSON.stringify({
    session_id: session, transcript_path: path.join(p.dir, `${session}.jsonl`), cwd: p.dir,
    permission_mode: "default", ...event,
  });
  const r = await runKeel(["hook", "--dialect", "claude", "--state", p.state, "--config", p.config],
                          { input, cwd: p.dir, env: { ...process.env, KEEL_AGENT: "" } });
  assert.equal(r.code, 0, `keel hook exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : {};
}

const stop = (active) => ({ hook_event_name: "Stop", stop_hook_active: active, last_assistant_message: "done" });
const prompt = (text) => ({ hook_event_name: "UserPromptSubmit", prompt: text });
const bash = (event, command, extra = {}) => ({ hook_event_name: event, tool_name: "Bash", tool_input: { command }, ...extra });

async function hookRules(p) {
  const exported = await runKeel(["journal", "export", "--state", p.state, "--config", p.config], { cwd: p.dir });
  assert.equal(exported.code, 0, exported.stderr);
  return parseJsonl(exported.stdout).filter((r) => r.op === "HOOK").map((r) => JSON.parse(r.payload));
}

test("oracle and self-check: a failing, then passing check command across hook processes", async () => {
  const p = project("oracle", {
    oracle: { command: "test -f done.txt || { echo 'FAIL: done.txt is missing'; exit 1; }", max_blocks: 3 },
    self_check: { enabled: true, checklist: "Run the tests and re-read the diff." },
  });
  assert.deepEqual(await hook(p, prompt("fix the bug")), {});

  let out = await hook(p, stop(false));
  assert.equal(out.decision, "block", show(out));
  assert.match(out.reason, /keel oracle: the check .* failed with exit code 1/);
  assert.match(out.reason, /FAIL: done\.txt is missing/);
  out = await hook(p, stop(true));
  assert.equal(out.decision, "block", show(out));
  assert.match(out.reason, /attempt 2 of 3/);

  // The agent "fixes" it: the check passes, and the self-check asks for its verification round.
  fs.writeFileSync(path.join(p.dir, "done.txt"), "ok");
  out = await hook(p, stop(true));
  assert.equal(out.decision, "block", show(out));
  assert.match(out.reason, /keel self-check: Run the tests and re-read the diff\./);
  // Claiming done again without running anything is refused...
  out = await hook(p, stop(true));
  assert.equal(out.decision, "block", show(out));
  assert.match(out.reason, /not run any tool/);
  // ... running a tool, then stopping, is accepted.
  const pre = await hook(p, bash("PreToolUse", "make test", { tool_use_id: "toolu_1" }));
  assert.notEqual(pre.hookSpecificOutput?.permissionDecision, "deny", show(pre));
  assert.deepEqual(await hook(p, stop(true)), {});

  // A new turn: the self-check asks once more; the oracle still passes.
  await hook(p, prompt("now the docs"));
  out = await hook(p, stop(false));
  assert.equal(out.decision, "block", show(out));
  assert.match(out.reason, /keel self-check/);

  // SessionEnd drops the session's state: the next session starts clean, and a failing check
  // blocks again.
  await hook(p, { hook_event_name: "SessionEnd", reason: "exit" });
  fs.rmSync(path.join(p.dir, "done.txt"));
  out = await hook(p, stop(false), "sess-2");
  assert.match(out.reason ?? "", /keel oracle/, show(out));

  const rules = (await hookRules(p)).filter((r) => r.event === "Stop").map((r) => r.rule ?? "");
  assert.deepEqual(rules, ["oracle:failed", "oracle:failed", "self_check:checklist", "self_check:no-tool-run",
                           "", "self_check:checklist", "oracle:failed"], show(rules));
});

test("oracle: lets the agent stop after max_blocks consecutive blocks", async () => {
  const p = project("cap", { oracle: { command: "echo still red; exit 1", max_blocks: 2 } });
  assert.equal((await hook(p, stop(false))).decision, "block");
  assert.equal((await hook(p, stop(true))).decision, "block");
  const out = await hook(p, stop(true));
  assert.equal(out.decision, undefined, show(out));
  assert.match(out.systemMessage, /still fails after 2 attempts/);
});

test("oracle: a check that outlives its timeout is killed and blocks with its output", async () => {
  const p = project("timeout", { oracle: { command: "echo compiling; sleep 30", timeout_ms: 500 } });
  const t0 = Date.now();
  const out = await hook(p, stop(false));
  assert.ok(Date.now() - t0 < 10_000, "the hook waited for the whole check");
  assert.equal(out.decision, "block", show(out));
  assert.match(out.reason, /did not finish within 500 ms[\s\S]*compiling/);
});

test("guardrail: the same failing call is denied on its next attempt, across processes", async () => {
  const p = project("guard", { guardrail: { max_failures: 2 } });
  for (let i = 0; i < 2; i++) {
    const pre = await hook(p, bash("PreToolUse", "npm test", { tool_use_id: `t${i}` }));
    assert.notEqual(pre.hookSpecificOutput?.permissionDecision, "deny", show(pre));
    await hook(p, bash("PostToolUseFailure", "npm test", { tool_use_id: `t${i}`, error: "Exit code 1\nFAIL", is_interrupt: false }));
  }
  const denied = await hook(p, bash("PreToolUse", "npm test", { tool_use_id: "t3" }));
  assert.equal(denied.hookSpecificOutput?.permissionDecision, "deny", show(denied));
  assert.match(denied.hookSpecificOutput.permissionDecisionReason, /already failed 2 times/);
  // Another session is not affected.
  const other = await hook(p, bash("PreToolUse", "npm test", { tool_use_id: "t4" }), "sess-other");
  assert.notEqual(other.hookSpecificOutput?.permissionDecision, "deny", show(other));
});

test("unreadable input: blocks (exit 2) while the permission gate fails closed, else passes", async () => {
  const closed = project("closed", {});
  let r = await runKeel(["hook", "--dialect", "claude", "--state", closed.state, "--config", closed.config],
                        { input: "{not json", cwd: closed.dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unreadable hook input/);
  assert.equal(r.stdout, "");
  r = await runKeel(["hook", "--dialect", "claude", "--state", closed.state, "--config", closed.config],
                    { input: JSON.stringify({ hook_event_name: "PreToolUse", session_id: "s" }), cwd: closed.dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /tool_name/);
  const open = project("open", { permission_gate: { fail_closed: false } });
  r = await runKeel(["hook", "--dialect", "claude", "--state", open.state, "--config", open.config],
                    { input: "{not json", cwd: open.dir });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /unreadable hook input.*fail-open/);
});

test("HTTP hooks: POST /hooks/claude answers with the same engine", async () => {
  const p = project("http", { oracle: { command: "echo red; exit 1" } });
  const server = await startHttpServer({ stateDir: p.state, extraArgs: ["--config", p.config], cwd: p.dir });
  try {
    const base = server.url.replace(/\/mcp$/, "");
    const post = (dialect, body) => fetch(`${base}/hooks/${dialect}`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const event = { session_id: "h1", cwd: p.dir, hook_event_name: "PreToolUse", tool_name: "Bash",
                    tool_input: { command: "rm -rf ~" }, tool_use_id: "toolu_h" };
    let res = await post("claude", event);
    assert.equal(res.status, 200);
    const denied = await res.json();
    assert.equal(denied.hookSpecificOutput.permissionDecision, "deny", show(denied));
    assert.match(denied.hookSpecificOutput.permissionDecisionReason, /rm\.home/);

    res = await post("claude", { ...event, tool_input: { command: "git status" } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "");

    res = await post("claude", { session_id: "h1", cwd: p.dir, hook_event_name: "Stop", stop_hook_active: false });
    assert.equal(res.status, 200);
    const blocked = await res.json();
    assert.equal(blocked.decision, "block", show(blocked));
    assert.match(blocked.reason, /red/);

    assert.equal((await post("nope", event)).status, 404);
    // Unreadable input is blocked, not rejected: Claude Code would take a 4xx as "proceed".
    res = await post("claude", "{broken");
    assert.equal(res.status, 200);
    const broken = await res.json();
    assert.equal(broken.decision, "block", show(broken));
    assert.match(broken.reason, /unreadable hook input/);
  } finally {
    await server.stop();
  }
  const rules = (await hookRules(p)).map((r) => `${r.event}:${r.outcome}`);
  // The `git status` allow needed no state and said nothing: not journaled.
  assert.deepEqual(rules, ["PreToolUse:deny", "Stop:block-stop"], show(rules));
});
