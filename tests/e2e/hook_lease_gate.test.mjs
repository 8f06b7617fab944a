// The lease gate end to end: agent A takes a lease on a file through the MCP
// server; agent B's PreToolUse edit of that file is denied by `keel hook`
// (Claude Code dialect) naming A, A's own edit is not, and after A releases the
// lease B's edit is no longer denied. Every decision lands in the journal.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { RawServer, mkTmp, parseJsonl, requireBinary, rmTmp, runKeel, show } from "./lib/keel.mjs";

let tmp;
let stateDir;
let server;

before(() => {
  requireBinary();
  tmp = fs.realpathSync(mkTmp("keel-hook-"));
  stateDir = path.join(tmp, ".state");
  fs.mkdirSync(path.join(tmp, "src"));
});
after(() => {
  server?.kill();
  rmTmp(tmp);
});

// Runs `keel hook --dialect claude` on one PreToolUse event of `session`.
async function preToolUse(session, toolName, toolInput) {
  const event = {
    session_id: session, transcript_path: path.join(tmp, `${session}.jsonl`), cwd: tmp,
    permission_mode: "default", hook_event_name: "PreToolUse", tool_name: toolName,
    tool_input: toolInput, tool_use_id: `toolu_${session}`,
  };
  const r = await runKeel(["hook", "--dialect", "claude", "--state", stateDir],
                          { input: JSON.stringify(event), cwd: tmp, env: { ...process.env, KEEL_AGENT: "" } });
  assert.equal(r.code, 0, `keel hook exited ${r.code}: ${r.stderr}`);
  const out = r.stdout.trim() ? JSON.parse(r.stdout) : {};
  return out.hookSpecificOutput ?? {};
}

test("a file leased by one agent cannot be edited by another until it is released", async () => {
  const file = path.join(tmp, "src", "auth.ts");
  server = new RawServer(["serve", "--stdio", "--agent", "sess-A", "--state", stateDir], { cwd: tmp, label: "A" });
  await server.initialize();
  const grant = (await server.tool("lease_acquire", { name: `file:${file}`, ttl_ms: 60_000 })).structuredContent;
  assert.equal(grant.granted, true, show(grant));

  const denied = await preToolUse("sess-B", "Edit", { file_path: file, old_string: "a", new_string: "b" });
  assert.equal(denied.permissionDecision, "deny", show(denied));
  assert.match(denied.permissionDecisionReason, /leased by sess-A/);
  assert.match(denied.permissionDecisionReason, new RegExp(`token ${grant.token}`));

  // A shell write to the same file is the same write.
  const shell = await preToolUse("sess-B", "Bash", { command: "echo x > src/auth.ts" });
  assert.equal(shell.permissionDecision, "deny", show(shell));
  // Reading it, or writing elsewhere, is fine.
  assert.notEqual((await preToolUse("sess-B", "Read", { file_path: file })).permissionDecision, "deny");
  assert.notEqual((await preToolUse("sess-B", "Write", { file_path: path.join(tmp, "src", "other.ts"), content: "" })).permissionDecision, "deny");
  // The holder itself may edit.
  assert.notEqual((await preToolUse("sess-A", "Edit", { file_path: file, old_string: "a", new_string: "b" })).permissionDecision, "deny");

  const released = (await server.tool("lease_release", { name: `file:${file}`, lease_id: grant.lease_id })).structuredContent;
  assert.equal(released.released, true, show(released));
  const allowed = await preToolUse("sess-B", "Edit", { file_path: file, old_string: "a", new_string: "b" });
  assert.notEqual(allowed.permissionDecision, "deny", show(allowed));

  await server.closeAndWait();
  server = undefined;
  const exported = await runKeel(["journal", "export", "--state", stateDir], { cwd: tmp });
  const hooks = parseJsonl(exported.stdout).filter((r) => r.op === "HOOK");
  const outcomes = hooks.map((r) => JSON.parse(r.payload).outcome);
  // The Read needed no store and said nothing: not journaled (hooks.journal_all would).
  // Every write the lease gate checked is, allowed or not.
  assert.deepEqual(outcomes, ["deny", "deny", "continue", "continue", "continue"], show(outcomes));
  const verify = await runKeel(["journal", "verify", "--state", stateDir], { cwd: tmp });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test("auto_lease: an agent's hooked edit takes the file, and another agent cannot take it", async () => {
  const dir = fs.realpathSync(mkTmp("keel-auto-lease-"));
  const state = path.join(dir, ".state");
  const config = path.join(dir, "keel.jsonc");
  fs.writeFileSync(config, JSON.stringify({ hooks: { lease_gate: { auto_lease: true, auto_lease_ttl_ms: 60_000 } } }));
  const file = path.join(dir, "main.go");
  const hook = async (agent, toolInput) => {
    const event = { session_id: `${agent}-session`, cwd: dir, hook_event_name: "PreToolUse", tool_name: "Edit",
                    tool_input: toolInput, tool_use_id: "toolu_1" };
    const r = await runKeel(["hook", "--dialect", "claude", "--state", state, "--config", config],
                            { input: JSON.stringify(event), cwd: dir, env: { ...process.env, KEEL_AGENT: agent } });
    assert.equal(r.code, 0, `keel hook exited ${r.code}: ${r.stderr}`);
    return (r.stdout.trim() ? JSON.parse(r.stdout) : {}).hookSpecificOutput ?? {};
  };
  let other;
  try {
    // agent-b's edit goes through, and keel now holds file:<main.go> for agent-b.
    const first = await hook("agent-b", { file_path: file, old_string: "a", new_string: "b" });
    assert.notEqual(first.permissionDecision, "deny", show(first));

    // agent-a, through its MCP server, cannot take the file meanwhile; its own edit is denied.
    other = new RawServer(["serve", "--stdio", "--agent", "agent-a", "--state", state, "--config", config],
                          { cwd: dir, label: "A" });
    await other.initialize();
    const refused = (await other.tool("lease_acquire", { name: `file:${file}`, ttl_ms: 10_000 })).structuredContent;
    assert.equal(refused.granted, false, show(refused));
    assert.equal(refused.holders[0].holder, "agent-b", show(refused));
    const denied = await hook("agent-a", { file_path: file, old_string: "b", new_string: "c" });
    assert.equal(denied.permissionDecision, "deny", show(denied));
    assert.match(denied.permissionDecisionReason, /leased by agent-b/);

    // Once agent-b's lease is released, agent-a's hooked edit takes it in turn.
    const held = (await other.tool("lease_list", { prefix: `file:${file}` })).structuredContent;
    assert.equal(held.leases.length, 1, show(held));
    const released = await runKeel(["lease", "release", `file:${file}`, "--state", state, "--config", config], { cwd: dir });
    assert.equal(released.code, 0, released.stdout + released.stderr);
    const second = await hook("agent-a", { file_path: file, old_string: "b", new_string: "c" });
    assert.notEqual(second.permissionDecision, "deny", show(second));
    const now = (await other.tool("lease_list", { prefix: `file:${file}` })).structuredContent;
    assert.equal(now.leases[0]?.holder, "agent-a", show(now));
  } finally {
    await other?.closeAndWait();
    rmTmp(dir);
  }
});
