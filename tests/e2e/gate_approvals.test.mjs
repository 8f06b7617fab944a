// Remembered approvals end to end (issue 21), through the real `keel hook` (one process per
// event, Claude Code dialect): an ask the person approved — its PostToolUse arrives — is not
// asked again for the identical command in that session; a changed command is, and so is the
// same command in another session; `keel hook approvals` lists what was remembered.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { mkTmp, requireBinary, rmTmp, runKeel } from "./lib/keel.mjs";

let tmp;
let stateDir;

before(() => {
  requireBinary();
  tmp = fs.realpathSync(mkTmp("keel-approvals-"));
  stateDir = path.join(tmp, ".state");
});
after(() => rmTmp(tmp));

async function hook(kind, session, command, id) {
  const event = { session_id: session, transcript_path: path.join(tmp, `${session}.jsonl`), cwd: tmp,
                  hook_event_name: kind, tool_name: "Bash", tool_input: { command }, tool_use_id: id };
  if (kind === "PostToolUse") event.tool_response = { stdout: "", stderr: "", interrupted: false };
  const r = await runKeel(["hook", "--dialect", "claude", "--state", stateDir],
                          { input: JSON.stringify(event), cwd: tmp, env: { ...process.env, KEEL_AGENT: "" } });
  assert.equal(r.code, 0, `keel hook exited ${r.code}: ${r.stderr}`);
  const out = r.stdout.trim() ? JSON.parse(r.stdout) : {};
  return out.hookSpecificOutput ?? {};
}

test("an approved command is not asked again in its session; a changed one and another session are", async () => {
  const cmd = "rm -rf build-old/cache";
  fs.mkdirSync(path.join(tmp, "build-old", "cache"), { recursive: true });
  const first = await hook("PreToolUse", "sess-1", "git branch -D topic", "toolu_1");
  assert.equal(first.permissionDecision, "ask");
  await hook("PostToolUse", "sess-1", "git branch -D topic", "toolu_1");  // the person approved
  const second = await hook("PreToolUse", "sess-1", "git branch -D topic", "toolu_2");
  assert.equal(second.permissionDecision, "allow", JSON.stringify(second));
  assert.match(second.permissionDecisionReason, /approved earlier in this session/);
  assert.equal((await hook("PreToolUse", "sess-1", "git branch -D other", "toolu_3")).permissionDecision, "ask");
  assert.equal((await hook("PreToolUse", "sess-2", "git branch -D topic", "toolu_4")).permissionDecision, "ask");
  // A denied ask (no PostToolUse) stays an ask.
  assert.equal((await hook("PreToolUse", "sess-1", cmd, "toolu_5")).permissionDecision !== "allow", true);
  assert.notEqual((await hook("PreToolUse", "sess-1", cmd, "toolu_6")).permissionDecision, "allow");

  const list = await runKeel(["hook", "approvals", "--state", stateDir], { cwd: tmp });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /session sess-1/);
  assert.match(list.stdout, /git branch -D topic/);
  assert.doesNotMatch(list.stdout, /git branch -D other/);
});
