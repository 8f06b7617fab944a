// A release ask reaches the holder inside the real agents (issue 18 §5).
//
// The holder is Claude Code, Gemini CLI or Codex with keel installed (`keel install <agent>`,
// nothing else), driven by a scripted model server on 127.0.0.1 (lib/*_model.mjs). It takes a
// lease on a file through keel's MCP tool; a second principal then asks it to release the file
// with a reason (`keel lease ask --agent agent-b`, as another agent or a person at the terminal
// does); on the holder's next tool call keel's hook hands the ask to the agent as context, and
// the next request the agent sends the model carries it: "agent agent-b waits for
// file:<path>: <reason>". Shown once: the tool call after it does not repeat it, and
// `keel lease ls` shows the ask delivered while the lease is still held.
//   Claude Code, Codex: PreToolUse additionalContext.  Gemini CLI: AfterTool (it drops a
//   BeforeTool's context), appended to the tool's result.
//
//   tests/agents/run --test-name-pattern='release ask'
//   (or KEEL_BIN=build/keel KEEL_CLAUDE_BIN=... node --test tests/agents/release_ask.test.mjs)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AnthropicModel, resultText } from "./lib/anthropic_model.mjs";
import { ClaudeRun, KEEL_BIN, cleanup, journalTail, makeWorkspace, missingPrerequisite } from "./lib/claude_agent.mjs";
import { ScriptedGemini, functionResponses } from "./lib/gemini_model.mjs";
import {
  CodexRun, Workspace as CodexWorkspace, missingPrerequisite as codexMissing, trustKeelHooks,
} from "./lib/codex_agent.mjs";
import { callOutput, deferred, startModel as startOpenAiModel } from "./lib/openai_model.mjs";
import {
  GeminiRun, Sandbox, keelInstall, killAll, missingPrerequisite as geminiMissing, trustFolder,
} from "./lib/gemini_agent.mjs";

const models = [];
const holds = [];

before(() => {
  const missing = missingPrerequisite();
  if (missing) throw new Error(missing);
});

let sandbox;
const geminiModels = [];
const codexOpen = [];  // Codex workspaces and model servers

after(async () => {
  for (const release of holds) release();
  await cleanup();
  await Promise.all(models.map((m) => m.close()));
  await killAll();
  for (const m of geminiModels) await m.stop();
  sandbox?.cleanup();
  for (const o of codexOpen.reverse()) {
    if (o instanceof CodexWorkspace) await o.cleanup().catch(() => {});
    else await o.close().catch(() => {});
  }
});

function gate() {
  let release;
  const wait = new Promise((resolve) => { release = resolve; });
  holds.push(release);
  return { wait, release };
}

// `keel ARGS` in the workspace ({repo, home}), as its user runs it (their HOME; no KEEL_*).
function keel(ws, args) {
  return execFileSync(KEEL_BIN, args, {
    cwd: ws.repo, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: ws.home, LANG: process.env.LANG ?? "C.UTF-8",
           USER: process.env.USER ?? "root", TMPDIR: os.tmpdir() },
  });
}

// Every text a request body carries (messages and their blocks, tool results included).
function requestText(body) {
  const parts = [];
  const walk = (v) => {
    if (typeof v === "string") parts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") for (const k of Object.keys(v)) walk(v[k]);
  };
  walk(body?.messages ?? []);
  return parts.join("\n");
}

const count = (text, what) => text.split(what).length - 1;

describe("Claude Code with keel installed: release asks", { timeout: 120_000 }, () => {
  test("a release ask reaches the holder's model on its next tool call, once", { timeout: 100_000 }, async () => {
    const ws = makeWorkspace({ files: { "src/api.h": "int parse(const char*);\n", "README.md": "# demo\n" } });
    const file = ws.file("src/api.h");
    const reason = "I change parse()'s signature for the new tokenizer (ticket 4711)";

    const asked = gate();
    const looked = gate();
    const model = await new AnthropicModel([
      { tools: [{ id: "toolu_lease", name: "mcp__keel__lease_acquire", input: { name: `file:${file}`, ttl_ms: 600_000 } }] },
      // Held until the other principal has asked.
      async () => {
        await asked.wait;
        return { tools: [{ id: "toolu_read1", name: "Read", input: { file_path: ws.file("README.md") } }] };
      },
      { tools: [{ id: "toolu_read2", name: "Read", input: { file_path: file } }] },
      // Held until the test has looked at the lease board: A must still be alive then (a
      // holder whose process is gone loses its holds).
      async () => { await looked.wait; return { text: "Done." }; },
    ], { label: "holder" }).start();
    models.push(model);
    const run = new ClaudeRun({ workspace: ws, model, label: "holder", timeoutMs: 90_000 });

    // A holds the file.
    await model.waitForAgentRequests(2, { timeoutMs: 45_000 });
    const leaseResult = model.agentRequests[1].messages.flatMap((m) => (Array.isArray(m.content) ? m.content : []))
      .find((b) => b.type === "tool_result" && b.tool_use_id === "toolu_lease");
    assert.ok(leaseResult, `no tool_result for the lease\n${run.describe()}`);
    const grant = JSON.parse(resultText(leaseResult));
    assert.equal(grant.granted, true, resultText(leaseResult));
    assert.match(grant.holder, /^claude-code:/, resultText(leaseResult));

    // Before anyone asks, nothing about it in what the model sees.
    assert.equal(count(requestText(model.agentRequests[1]), "waits for"), 0);

    // Another principal asks A to release it.
    keel(ws, ["lease", "ask", `file:${file}`, "--reason", reason, "--agent", "agent-b"]);
    const board = JSON.parse(keel(ws, ["lease", "ls", "--json"]));
    assert.equal(board.asks?.length, 1, JSON.stringify(board));
    assert.equal(board.asks[0].holder, grant.holder, JSON.stringify(board));
    assert.equal(board.asks[0].delivered, false, JSON.stringify(board));
    asked.release();

    await model.waitForAgentRequests(4, { timeoutMs: 45_000 });

    // The request after A's next tool call (the README read) carries the ask...
    const expected = `agent agent-b waits for file:${file}: ${reason}`;
    const third = requestText(model.agentRequests[2]);
    if (!third.includes(expected)) {
      assert.fail(`the model request after the holder's next tool call lacks the ask "${expected}"\n` +
                  `request text (tail): ${third.slice(-3000)}\nkeel journal:\n${journalTail(ws)}`);
    }
    assert.match(third, /lease_release/);
    // ... once: the later tool call (on the file itself) does not repeat it.
    const fourth = requestText(model.agentRequests[3]);
    assert.equal(count(fourth, expected), 1, fourth.slice(-3000));

    // keel counts it as shown, and A still holds the file (an ask takes nothing away).
    const now = JSON.parse(keel(ws, ["lease", "ls", "--json"]));
    assert.equal(now.asks?.length, 1, JSON.stringify(now));
    assert.equal(now.asks[0].delivered, true, JSON.stringify(now));
    assert.ok(now.leases.some((l) => l.name === `file:${file}` && l.holder === grant.holder), JSON.stringify(now));

    looked.release();
    const { code } = await run.wait(60_000);
    assert.equal(code, 0, run.describe());
    assert.equal(model.agentRequests.length, 4, `expected 4 model requests\n${run.describe()}`);
  });
});

// Gemini CLI drops a BeforeTool hook's context, so keel hands the ask over on the AfterTool of
// the holder's next tool call; Gemini appends it to that tool's result.
const gemini = geminiMissing();
describe("Gemini CLI with keel installed: release asks", { skip: gemini ?? false, timeout: 120_000 }, () => {
  test("a release ask reaches the holder's model with the result of its next tool call, once", { timeout: 100_000 }, async () => {
    sandbox ??= new Sandbox("keel-gemini-ask-");
    const { repo, file } = sandbox.makeRepo("repo", { fileName: "api.h", content: "int parse(const char*);\n" });
    fs.writeFileSync(path.join(repo, "notes.txt"), "notes\n");
    const home = sandbox.makeHome("home");
    const install = keelInstall(repo, home);
    assert.equal(install.status, 0, `keel install gemini failed:\n${install.stdout}\n${install.stderr}`);
    trustFolder(home, repo);
    const ws = { repo, home };
    const reason = "I change parse()'s signature for the new tokenizer (ticket 4711)";

    const m = new ScriptedGemini({ label: "gemini-holder" });
    await m.start();
    geminiModels.push(m);
    m.script(
      { calls: [{ name: "mcp_keel_lease_acquire", args: { name: `file:${file}`, ttl_ms: 600_000 } }] },
      { hold: true },  // until the other principal has asked
      { calls: [{ name: "read_file", args: { file_path: file } }] },
      { hold: true },  // until the test has looked at the lease board
    );
    const run = new GeminiRun({ cwd: repo, home, model: m, prompt: "Work on api.h.", label: "gemini-holder" }).start();

    const second = await m.waitForAgentTurns(2, 60_000);
    const leaseText = JSON.stringify(functionResponses(second).find((r) => r.name === "mcp_keel_lease_acquire") ?? {});
    const holder = /\\?"holder\\?"\s*:\s*\\?"(gemini:[^"\\]+)/.exec(leaseText)?.[1];
    assert.ok(holder, `no gemini holder in the lease result: ${leaseText.slice(0, 1000)}`);

    keel(ws, ["lease", "ask", `file:${file}`, "--reason", reason, "--agent", "agent-b"]);
    const board = JSON.parse(keel(ws, ["lease", "ls", "--json"]));
    assert.equal(board.asks?.[0]?.holder, holder, JSON.stringify(board));
    m.release({ calls: [{ name: "read_file", args: { file_path: path.join(repo, "notes.txt") } }] });

    const fourth = await m.waitForAgentTurns(4, 60_000);
    const third = m.agentRequests[2];
    const expected = `agent agent-b waits for file:${file}: ${reason}`;
    const thirdText = JSON.stringify(third.body?.contents ?? []);
    assert.ok(thirdText.includes(expected.replace(/"/g, '\\"')),
              `the request after the holder's next tool call lacks "${expected}": ${thirdText.slice(-3000)}`);
    const fourthText = JSON.stringify(fourth.body?.contents ?? []);
    assert.equal(count(fourthText, "agent agent-b waits for"), 1, fourthText.slice(-3000));
    const now = JSON.parse(keel(ws, ["lease", "ls", "--json"]));
    assert.equal(now.asks?.[0]?.delivered, true, JSON.stringify(now));

    m.release({ text: "Done." });
    const r = await run.wait(60_000);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
  });
});

// Codex shows a PreToolUse hook's additionalContext to the model (its hook output schema has
// it), so the ask comes with the holder's next shell call.
const codex = codexMissing();
describe("Codex CLI with keel installed: release asks", { skip: codex ?? false, timeout: 150_000 }, () => {
  test("a release ask reaches the holder's model on its next tool call, once", { timeout: 130_000 }, async () => {
    const ws = CodexWorkspace.create("keel-codex-ask-");
    codexOpen.push(ws);
    ws.installKeel();
    await trustKeelHooks(ws);
    const file = ws.file("notes.txt");
    const reason = "I change parse()'s signature for the new tokenizer (ticket 4711)";

    const m = await startOpenAiModel({ name: "codex-holder" });
    codexOpen.push(m);
    const asked = deferred();
    const looked = deferred();
    const shell = (id) => ({ calls: [{ name: "exec_command", arguments: { cmd: "cat notes.txt" }, call_id: id }] });
    m.script(
      { calls: [{ namespace: "mcp__keel", name: "lease_acquire", arguments: { name: `file:${file}`, ttl_ms: 600_000 },
                  call_id: "call_lease" }] },
      async () => { await asked.promise; return shell("call_cat1"); },
      shell("call_cat2"),
      async () => { await looked.promise; return { text: "Done." }; },
    );
    const run = new CodexRun(ws, m, { label: "codex-holder", prompt: "work on notes.txt", timeoutMs: 120_000 });
    await m.waitForRequest(2, 60_000).catch((e) => { throw new Error(`${e.message}\n${run.describe()}`); });
    const leaseOut = callOutput(m.requests[1], "call_lease") ?? "";
    const holder = /"holder"\s*:\s*"(codex:[^"]+)"/.exec(leaseOut)?.[1];
    assert.ok(holder, `no codex holder in the lease result: ${leaseOut.slice(0, 1000)}\n${run.describe()}`);

    keel(ws, ["lease", "ask", `file:${file}`, "--reason", reason, "--agent", "agent-b"]);
    const board = JSON.parse(keel(ws, ["lease", "ls", "--json"]));
    assert.equal(board.asks?.[0]?.holder, holder, JSON.stringify(board));
    asked.resolve();

    await m.waitForRequest(4, 60_000).catch((e) => { throw new Error(`${e.message}\n${run.describe()}`); });
    const expected = `agent agent-b waits for file:${file}: ${reason}`;
    const third = JSON.stringify(m.requests[2].body?.input ?? []);
    assert.ok(third.includes(expected), `the request after the holder's next tool call lacks "${expected}": ${third.slice(-3000)}`);
    const fourth = JSON.stringify(m.requests[3].body?.input ?? []);
    assert.equal(count(fourth, "agent agent-b waits for"), 1, fourth.slice(-3000));
    const now = JSON.parse(keel(ws, ["lease", "ls", "--json"]));
    assert.equal(now.asks?.[0]?.delivered, true, JSON.stringify(now));

    looked.resolve();
    await run.wait(60_000);
    assert.equal(run.exited?.code, 0, run.describe());
  });
});
