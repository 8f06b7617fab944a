// The stale-read guard end to end (issue 21; opt-in hooks.lease_gate.stale_read), through the
// real `keel hook` as two agents: B reads a file, A reads it, edits it and the edit lands; B's
// edit from its old read is denied naming A and the time; once B reads it again, its edit is
// allowed. A's own further edits are never held against it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { mkTmp, requireBinary, rmTmp, runKeel } from "./lib/keel.mjs";

let tmp;
let stateDir;
let config;

before(() => {
  requireBinary();
  tmp = fs.realpathSync(mkTmp("keel-stale-"));
  stateDir = path.join(tmp, ".state");
  config = path.join(tmp, "keel.jsonc");
  fs.writeFileSync(config, JSON.stringify({ hooks: { lease_gate: { stale_read: true } } }));
});
after(() => rmTmp(tmp));

async function hook(agent, kind, toolName, toolInput) {
  const event = { session_id: `sess-${agent}`, transcript_path: path.join(tmp, `${agent}.jsonl`), cwd: tmp,
                  hook_event_name: kind, tool_name: toolName, tool_input: toolInput, tool_use_id: `toolu_${Date.now()}` };
  if (kind === "PostToolUse") event.tool_response = { filePath: toolInput.file_path, success: true };
  const r = await runKeel(["hook", "--dialect", "claude", "--agent", agent, "--state", stateDir, "--config", config],
                          { input: JSON.stringify(event), cwd: tmp, env: { ...process.env, KEEL_AGENT: "" } });
  assert.equal(r.code, 0, `keel hook exited ${r.code}: ${r.stderr}`);
  const out = r.stdout.trim() ? JSON.parse(r.stdout) : {};
  return out.hookSpecificOutput ?? {};
}

test("an edit from a read another agent's write made stale is denied until the file is read again", async () => {
  const file = path.join(tmp, "notes.md");
  fs.writeFileSync(file, "v1\n");
  const edit = { file_path: file, old_string: "v", new_string: "w" };
  await hook("agent-B", "PostToolUse", "Read", { file_path: file });
  await hook("agent-A", "PostToolUse", "Read", { file_path: file });
  assert.notEqual((await hook("agent-A", "PreToolUse", "Edit", edit)).permissionDecision, "deny");
  fs.writeFileSync(file, "v2 by A\n");  // A's edit lands
  await hook("agent-A", "PostToolUse", "Edit", edit);

  const stale = await hook("agent-B", "PreToolUse", "Edit", edit);
  assert.equal(stale.permissionDecision, "deny", JSON.stringify(stale));
  assert.match(stale.permissionDecisionReason, /changed by agent-A at \d{4}-\d\d-\d\dT/);
  assert.match(stale.permissionDecisionReason, /Read it again/);
  // A's own next edit is not stale: it wrote what is there.
  assert.notEqual((await hook("agent-A", "PreToolUse", "Edit", edit)).permissionDecision, "deny");
  // B re-reads: its edit goes through.
  await hook("agent-B", "PostToolUse", "Read", { file_path: file });
  assert.notEqual((await hook("agent-B", "PreToolUse", "Edit", edit)).permissionDecision, "deny");
});
