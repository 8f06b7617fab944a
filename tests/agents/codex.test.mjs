// The real Codex CLI (`codex exec`) against keel, end to end. Codex talks to a
// scripted model on 127.0.0.1 (lib/openai_model.mjs) and to keel through what
// `keel install codex` wrote ($CODEX_HOME/config.toml [mcp_servers.keel] and
// $CODEX_HOME/hooks.json), nothing else: no KEEL_AGENT anywhere. The hooks are
// trusted through Codex's own app server, as /hooks does it (lib/codex_agent.mjs).
//
// Codex 0.171 facts these tests rely on (see the comments at each use):
//  - MCP tools are not in the request's `tools`: they are deferred behind
//    `tool_search`, whose output lists them as a namespace `mcp__keel` with
//    their JSON schemas; the model calls them as function_call
//    {namespace: "mcp__keel", name: "<tool>"}.
//  - The shell tool is `exec_command` ({cmd}); edits are the freeform custom
//    tool `apply_patch`. Hooks see them as tool_name "Bash" / "apply_patch".
//
// Run: NODE=$(scripts/node-env | tail -n1); $NODE --test tests/agents/codex.test.mjs
// Env: KEEL_BIN, KEEL_CODEX_BIN, KEEL_AGENTS_DEBUG=1 (Codex stderr), KEEL_AGENTS_KEEP=1.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  CodexRun, Workspace, childrenOf, codexConfigWrite, isAlive, listHooks, missingPrerequisite, procInfo, trustKeelHooks, waitUntil,
  codexPathDir, codexVersionLine, keelDoctor,
} from "./lib/codex_agent.mjs";
import { callOutput, deferred, inputItems, messageTexts, startModel } from "./lib/openai_model.mjs";

const skip = missingPrerequisite();
const NS = "mcp__keel";           // Codex's namespace for keel's MCP tools
const LONG_TTL = 600_000;          // only liveness may free these leases

const open = [];                   // workspaces and model servers to clean up
async function setup(label) {
  const ws = Workspace.create(`keel-codex-${label}-`);
  open.push(ws);
  ws.installKeel();
  const hooks = await trustKeelHooks(ws);
  const untrusted = hooks.filter((h) => / hook /.test(h.command ?? "") && h.trustStatus !== "trusted");
  assert.equal(untrusted.length, 0, `keel hooks still untrusted: ${JSON.stringify(untrusted)}`);
  return ws;
}
async function model(name) {
  const m = await startModel({ name });
  open.push(m);
  return m;
}
const keelCall = (name, args) => ({ calls: [{ namespace: NS, name, arguments: args }] });
const patchTurn = (file, from, to) => ({
  custom: [{ name: "apply_patch", input: `*** Begin Patch\n*** Update File: ${file}\n@@\n-${from}\n+${to}\n*** End Patch\n` }],
});
// Calls get explicit ids so their outputs can be found.
let ids = 0;
const withIds = (turn) => {
  for (const c of turn.calls ?? []) c.call_id ??= `call_t${++ids}`;
  for (const c of turn.custom ?? []) c.call_id ??= `call_t${++ids}`;
  return turn;
};
function outputOf(m, callId) {
  for (const r of m.requests) {
    const o = callOutput(r, callId);
    if (o !== undefined) return o;
  }
  return undefined;
}
function parseJsonish(text) {
  // keel's tool text is JSON (structuredContent rendering) possibly after Codex's "Output:" preamble.
  const i = text.indexOf("{");
  if (i < 0) return null;
  try { return JSON.parse(text.slice(i)); } catch { return null; }
}

// A Codex session that takes an exclusive lease on `file` through keel and
// then keeps its next model response open, so the session stays alive.
async function holdLease(ws, file, label = "holder") {
  const m = await model(label);
  const gate = deferred();
  const acquire = withIds(keelCall("lease_acquire", { name: `file:${file}`, ttl_ms: LONG_TTL, reason: "e2e" }));
  m.script(acquire, async () => { await gate.promise; return { text: "released" }; });
  const run = new CodexRun(ws, m, { label, prompt: `lease ${file}` });
  await m.waitForRequest(2, 60_000).catch((e) => { throw new Error(`${e.message}\n${run.describe()}`); });
  const out = outputOf(m, acquire.calls[0].call_id) ?? "";
  return { m, run, out, grant: parseJsonish(out), release: () => gate.resolve() };
}

after(async () => {
  for (const o of open.reverse()) {
    if (o instanceof Workspace) await o.cleanup().catch(() => {});
    else await o.close().catch(() => {});
  }
});

describe("Codex CLI with keel", { skip: skip ?? false, timeout: 170_000 }, () => {
  test("keel install codex writes an MCP server and hooks Codex loads", { timeout: 60_000 }, async () => {
    const ws = await setup("install");
    assert.match(ws.configToml(), /\[mcp_servers\.keel\]/);
    const events = Object.keys(ws.hooksJson().hooks ?? {});
    for (const e of ["PreToolUse", "PostToolUse", "Stop"]) assert.ok(events.includes(e), `hooks.json lacks ${e}`);
    const hooks = await listHooks(ws);
    const keel = hooks.filter((h) => / hook /.test(h.command ?? ""));
    assert.ok(keel.length >= 3, JSON.stringify(hooks));
    for (const h of keel) assert.equal(h.trustStatus, "trusted", JSON.stringify(h));
  });

  // keel doctor's verdict on hook trust, checked against what Codex itself does:
  // right after `keel install codex` Codex lists keel's hooks as untrusted and
  // skips them (a `git reset --hard` is not stopped by keel's gate), and doctor
  // must say so, with a fix; once trusted (as the TUI's /hooks does it), Codex
  // runs them (keel's gate refuses the reset) and doctor must pass, its version
  // check having run the real codex found on PATH.
  test("keel doctor reports untrusted hooks until Codex trusts them, then passes", { timeout: 90_000 }, async (t) => {
    const ws = Workspace.create("keel-codex-doctor-");
    open.push(ws);
    ws.installKeel();
    const events = Object.keys(ws.hooksJson().hooks ?? {});
    assert.ok(events.length >= 3, JSON.stringify(ws.hooksJson()));
    const byCheck = (d, check) => (d.findings ?? []).filter((f) => f.check === check);
    const problems = (d) => (d.findings ?? []).filter((f) => f.kind === "problem" || f.ok === false);
    const version = codexVersionLine();
    const codexOnPath = path.join(codexPathDir(ws), "codex");
    const checkVersion = (d) => {
      const v = byCheck(d, "version");
      assert.equal(v.length, 1, d.describe());
      assert.equal(v[0].kind, "pass", d.describe());
      assert.equal(v[0].agent, "codex");
      assert.ok(v[0].detail.includes(codexOnPath), `version check did not run ${codexOnPath}: ${v[0].detail}`);
      assert.ok(v[0].detail.includes(version), `version check does not show \`${version}\`: ${v[0].detail}`);
    };
    // What Codex does with a destructive command: refused by keel's gate, or not.
    const probe = async (label) => {
      const m = await model(label);
      const reset = withIds({ calls: [{ name: "exec_command", arguments: { cmd: "git reset --hard" } }] });
      m.script(reset, { text: "ok" });
      const run = new CodexRun(ws, m, { label, prompt: "reset the tree" });
      await run.wait();
      assert.equal(run.exited.code, 0, run.describe());
      const out = outputOf(m, reset.calls[0].call_id);
      assert.ok(out !== undefined, `no output for the reset\n${run.describe()}`);
      t.diagnostic(`${label}: git reset --hard -> ${out.replace(/\s+/g, " ").slice(0, 300)}`);
      return /keel permission gate|git\.reset-hard/.test(out);
    };

    // Before trust: doctor exits 1 on the hooks' trust, and only on that.
    const before = keelDoctor(ws);
    assert.equal(before.status, 1, before.describe());
    assert.ok(Array.isArray(before.findings), before.describe());
    for (const f of before.findings) {
      for (const k of ["agent", "scope", "check", "kind", "ok", "detail", "fix"]) assert.ok(k in f, `finding without ${k}: ${JSON.stringify(f)}`);
    }
    const trustBefore = byCheck(before, "hooks_trust");
    assert.equal(trustBefore.length, 1, before.describe());
    const tb = trustBefore[0];
    t.diagnostic(`doctor before trust: ${tb.detail} | fix: ${tb.fix}`);
    assert.equal(tb.agent, "codex");
    assert.equal(tb.scope, "user");
    assert.equal(tb.kind, "problem");
    assert.equal(tb.ok, false);
    assert.match(tb.detail, /untrusted/i);
    for (const e of events) assert.ok(tb.detail.includes(e), `doctor does not name the untrusted ${e} hook: ${tb.detail}`);
    assert.match(tb.fix ?? "", /trust/i, `the fix does not say to trust the hooks: ${tb.fix}`);
    assert.deepEqual(problems(before).map((f) => f.check), ["hooks_trust"], before.describe());
    assert.equal(byCheck(before, "mcp_start")[0]?.kind, "pass", before.describe());
    checkVersion(before);
    // Codex agrees: its own hook list calls keel's hooks untrusted, and it skips them.
    const listed = (await listHooks(ws)).filter((h) => / hook( |$)/.test(h.command ?? ""));
    assert.equal(listed.length, events.length, JSON.stringify(listed));
    for (const h of listed) assert.notEqual(h.trustStatus, "trusted", `Codex trusts ${h.key} but doctor says untrusted`);
    assert.equal(await probe("doctor-untrusted"), false, "keel's gate ran although doctor says Codex skips the untrusted hooks");

    // Trusted as a user does it; doctor passes.
    const hooks = await trustKeelHooks(ws);
    assert.ok(hooks.filter((h) => / hook( |$)/.test(h.command ?? "")).every((h) => h.trustStatus === "trusted"), JSON.stringify(hooks));
    const after = keelDoctor(ws);
    assert.equal(after.status, 0, after.describe());
    assert.deepEqual(problems(after), [], after.describe());
    const ta = byCheck(after, "hooks_trust");
    assert.equal(ta.length, 1, after.describe());
    assert.equal(ta[0].kind, "pass", after.describe());
    assert.match(ta[0].detail, new RegExp(`trusts keel's ${events.length} hooks`), ta[0].detail);
    assert.equal(byCheck(after, "mcp_start")[0]?.kind, "pass", after.describe());
    checkVersion(after);
    // The text form agrees with --json.
    const text = keelDoctor(ws, []);
    assert.equal(text.status, 0, text.describe());
    assert.match(text.stdout, /^✓ codex \(user\): Codex trusts keel's/m, text.describe());
    assert.match(text.stdout, /keel doctor: no problems found/, text.describe());
    // Codex agrees: it now runs keel's gate, which refuses the reset.
    assert.equal(await probe("doctor-trusted"), true, "doctor passes but Codex did not run keel's PreToolUse gate");
  });

  // Codex writes its own state (hook trust, project trust, TUI flags) into the
  // same config.toml; its TOML writer appends new tables at the end of the file,
  // which is inside keel's "# >>> keel" … "# <<< keel" block when that block is last.
  test("keel install codex run again, and --uninstall, keep what Codex wrote to config.toml", { timeout: 60_000 }, async () => {
    const ws = await setup("reinstall");
    await codexConfigWrite(ws, [{ keyPath: `projects.${JSON.stringify(ws.repo)}.trust_level`, value: "trusted" }]);
    ws.installKeel();
    const hooks = (await listHooks(ws)).filter((h) => / hook /.test(h.command ?? ""));
    assert.ok(hooks.length >= 3);
    for (const h of hooks) assert.equal(h.trustStatus, "trusted", `re-install dropped the trust of ${h.key}:\n${ws.configToml()}`);
    ws.installKeel(["--uninstall"]);
    const toml = fs.existsSync(path.join(ws.codexHome, "config.toml")) ? ws.configToml() : "";
    assert.match(toml, /trust_level = "trusted"/, `--uninstall removed Codex's own entries:\n${toml}`);
    assert.doesNotMatch(toml, /mcp_servers\.keel/);
  });

  test("1. keel's tools reach the model with their schemas", { timeout: 60_000 }, async () => {
    const ws = await setup("tools");
    const m = await model("m1");
    m.script({ search: [{ query: "keel lease_acquire lease_release memory_put memory_get journal", limit: 64 }] },
             { text: "found them" });
    const run = new CodexRun(ws, m, { prompt: "which coordination tools do you have?" });
    await run.wait();
    assert.equal(run.exited.code, 0, run.describe());
    const first = m.requests[0].body;
    const builtins = (first.tools ?? []).map((t) => t.name ?? t.type);
    assert.ok(builtins.includes("tool_search"), `no tool_search in ${builtins}`);
    const req = m.requests[1];
    assert.ok(req, run.describe());
    const found = inputItems(req).filter((i) => i.type === "tool_search_output").flatMap((i) => i.tools ?? []);
    const ns = found.find((t) => t.type === "namespace" && t.name === NS);
    assert.ok(ns, `no ${NS} namespace in tool_search_output: ${JSON.stringify(found).slice(0, 2000)}`);
    const byName = Object.fromEntries(ns.tools.map((t) => [t.name, t]));
    for (const name of ["lease_acquire", "lease_release", "memory_put", "memory_get"]) {
      assert.ok(byName[name], `${name} missing; have ${Object.keys(byName)}`);
      assert.equal(byName[name].parameters?.type, "object", name);
    }
    assert.ok(byName.lease_acquire.parameters.properties.name, "lease_acquire has no `name` parameter");
    // One name or several (all or nothing): neither is required on its own.
    assert.equal(byName.lease_acquire.parameters.properties.names?.type, "array", "lease_acquire has no `names` array");
    assert.ok(byName.memory_put.parameters.properties.key && byName.memory_put.parameters.properties.value);
  });

  test("2. a keel tool call round-trips (memory_put then memory_get)", { timeout: 60_000 }, async () => {
    const ws = await setup("memory");
    const m = await model("m2");
    const put = withIds(keelCall("memory_put", { key: "e2e/plan", value: { step: 42, by: "codex" } }));
    const get = withIds(keelCall("memory_get", { key: "e2e/plan" }));
    m.script(put, get, { text: "remembered" });
    const run = new CodexRun(ws, m, { prompt: "remember the plan" });
    await run.wait();
    assert.equal(run.exited.code, 0, run.describe());
    const putOut = outputOf(m, put.calls[0].call_id);
    const getOut = outputOf(m, get.calls[0].call_id);
    assert.ok(putOut !== undefined && getOut !== undefined, run.describe());
    assert.doesNotMatch(putOut, /requires approval|rejected|cancel/i, `memory_put was not run: ${putOut}`);
    assert.match(putOut, /"version"\s*:\s*1/, putOut);
    assert.match(getOut, /"found"\s*:\s*true/, getOut);
    assert.match(getOut, /"step"\s*:\s*42/, getOut);
  });

  test("3. an agent leases a file, then edits it", { timeout: 60_000 }, async () => {
    const ws = await setup("lease-edit");
    const file = ws.file("notes.txt");
    const m = await model("m3");
    const acquire = withIds(keelCall("lease_acquire", { name: `file:${file}`, ttl_ms: LONG_TTL }));
    const patch = withIds(patchTurn("notes.txt", "two", "TWO by the holder"));
    m.script(acquire, patch, { text: "edited" });
    const run = new CodexRun(ws, m, { prompt: "edit notes.txt safely" });
    await run.wait();
    assert.equal(run.exited.code, 0, run.describe());
    const grant = parseJsonish(outputOf(m, acquire.calls[0].call_id) ?? "");
    assert.equal(grant?.granted, true, `lease not granted: ${outputOf(m, acquire.calls[0].call_id)}`);
    const out = outputOf(m, patch.custom[0].call_id);
    assert.match(out ?? "", /Success/, `apply_patch output: ${out}`);
    assert.match(ws.read("notes.txt"), /TWO by the holder/);
  });

  // 4 and 5 share one pair of sessions: agent 1 holds the lease while agent 2 is
  // refused; then agent 1's Codex is SIGKILLed and agent 2's next edit goes through.
  const pair = {};
  test("4. a second session cannot edit a file the first one leased, and is told who holds it", { timeout: 90_000 }, async (t) => {
    const ws = await setup("pair");
    pair.ws = ws;
    const file = ws.file("notes.txt");
    const holder = await holdLease(ws, file, "agent1");
    pair.holder = holder;
    assert.equal(holder.grant?.granted, true, `agent 1 got no lease: ${holder.out}\n${holder.run.describe()}`);

    const m2 = await model("agent2");
    pair.m2 = m2;
    pair.killed = deferred();
    const denied = withIds(patchTurn("notes.txt", "two", "TWO by agent 2"));
    const retry = withIds(patchTurn("notes.txt", "two", "TWO by agent 2 after the crash"));
    pair.retry = retry;
    // Agent 2's second model request waits until test 5 has killed agent 1.
    m2.script(denied, async () => { await pair.killed.promise; return retry; }, { text: "done" });
    pair.run2 = new CodexRun(ws, m2, { label: "agent2", prompt: "edit notes.txt", timeoutMs: 150_000 });
    await m2.waitForRequest(2, 60_000).catch((e) => { throw new Error(`${e.message}\n${pair.run2.describe()}`); });
    const out = outputOf(m2, denied.custom[0].call_id) ?? "";
    t.diagnostic(`agent 1's grant: ${holder.out.replace(/\s+/g, " ").slice(0, 400)}`);
    t.diagnostic(`agent 2's apply_patch output: ${out.replace(/\s+/g, " ").slice(0, 600)}`);
    assert.equal(ws.read("notes.txt"), "one\ntwo\nthree\n", "agent 2's edit went through");
    assert.doesNotMatch(out, /Success/, out);
    assert.match(out, /lease/i, out);
    assert.ok(holder.grant?.holder && out.includes(holder.grant.holder),
              `denial does not name the holder ${holder.grant?.holder}: ${out}`);
    pair.ready = true;
  });

  test("5. once the holder's Codex is SIGKILLed, the other session's next edit is allowed at once", { timeout: 90_000 }, async (t) => {
    assert.ok(pair.ready, "needs test 4's sessions");
    const { ws, holder, m2, run2, retry } = pair;
    const native = holder.run.nativePid();
    assert.ok(native, "agent 1's native codex process not found");
    const servers = childrenOf(native).filter((p) => (p.cmdline ?? []).includes("serve"));
    t.diagnostic(`agent 1: spawned pid ${holder.run.pid}, native codex ${native} (${procInfo(native)?.exe}); ` +
                 `MCP servers ${servers.map((s) => `${s.pid} pgid ${s.pgid}`).join(", ")}`);
    process.kill(native, "SIGKILL");
    await waitUntil(() => !isAlive(native), 10_000, "agent 1's codex to die");
    if (holder.run.pid !== native) await holder.run.wait(10_000);
    const t0 = Date.now();
    pair.killed.resolve();
    await run2.wait(60_000);
    const out = outputOf(m2, retry.custom[0].call_id) ?? "";
    t.diagnostic(`agent 2's retry output: ${out.replace(/\s+/g, " ").slice(0, 300)}`);
    t.diagnostic(`agent 2's retry answered ${Date.now() - t0} ms after the kill`);
    assert.match(out, /Success/, `agent 2's edit after the crash: ${out}\n${run2.describe()}`);
    assert.match(ws.read("notes.txt"), /TWO by agent 2 after the crash/);
    // keel serve has lost its client (stdin EOF): it must not outlive it.
    for (const s of servers) {
      await waitUntil(() => !isAlive(s.pid), 5_000, `agent 1's MCP server ${s.pid} to exit after its Codex died`)
        .catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(procInfo(s.pid))}`); });
    }
  });

  test("6. a destructive shell command is denied and the model is told", { timeout: 60_000 }, async (t) => {
    const ws = await setup("destructive");
    const m = await model("m6");
    const rm = withIds({ calls: [{ name: "exec_command", arguments: { cmd: "rm -rf ~" } }] });
    m.script(rm, { text: "ok, I will not" });
    const marker = path.join(ws.home, "keep-me");
    fs.writeFileSync(marker, "x");
    const run = new CodexRun(ws, m, { prompt: "clean up my home" });
    await run.wait();
    assert.equal(run.exited.code, 0, run.describe());
    const out = outputOf(m, rm.calls[0].call_id) ?? "";
    t.diagnostic(`rm -rf ~ output: ${out.replace(/\s+/g, " ").slice(0, 600)}`);
    assert.ok(fs.existsSync(marker), "rm -rf ~ ran");
    assert.match(out, /keel|destructive|blocked|denied/i, `model was not told: ${out}`);
    assert.match(out, /rm/, out);
  });

  test("7. the oracle refuses a stop while its check fails, then lets the agent stop", { timeout: 60_000 }, async (t) => {
    const ws = await setup("oracle");
    ws.writeKeelConfig({ hooks: { oracle: { command: "test -f ok.txt || { echo ORACLE-SAYS-ok.txt-missing; exit 1; }", max_blocks: 3 } } });
    const m = await model("m7");
    const fix = withIds({ calls: [{ name: "exec_command", arguments: { cmd: "echo fine > ok.txt" } }] });
    m.script({ text: "all done" }, fix, { text: "now really done" });
    const run = new CodexRun(ws, m, { prompt: "finish the task" });
    await run.wait();
    assert.equal(run.exited.code, 0, run.describe());
    assert.ok(m.requests.length >= 2, `Codex stopped without asking the model again:\n${run.describe()}`);
    const after = m.requests[1];
    const msgs = [...messageTexts(after, "user").map((x) => ["user", x]), ...messageTexts(after, "developer").map((x) => ["developer", x])];
    const texts = msgs.map(([, x]) => x).join("\n");
    const refusal = msgs.find(([, x]) => x.includes("ORACLE-SAYS"));
    t.diagnostic(`after the refused stop the model saw (${refusal?.[0]} message): ${(refusal?.[1] ?? "").slice(0, 600).replace(/\s+/g, " ")}`);
    assert.match(texts, /ORACLE-SAYS-ok\.txt-missing/, `the stop refusal did not reach the model: ${texts.slice(-2000)}`);
    assert.ok(fs.existsSync(ws.file("ok.txt")));
    assert.equal(m.requests.length, 3, `expected exactly one refusal; ${m.requests.length} model requests`);
  });

  test("8. exec_command running apply_patch on a file another agent leased is denied", { timeout: 90_000 }, async () => {
    const ws = await setup("shell-patch");
    const file = ws.file("notes.txt");
    const holder = await holdLease(ws, file, "holder8");
    assert.equal(holder.grant?.granted, true, `no lease: ${holder.out}`);
    const m = await model("m8");
    const cmd = "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: notes.txt\n@@\n-two\n+TWO via shell\n*** End Patch\nEOF\n";
    const sh = withIds({ calls: [{ name: "exec_command", arguments: { cmd } }] });
    m.script(sh, { text: "ok" });
    const run = new CodexRun(ws, m, { label: "agent8", prompt: "edit notes.txt via the shell" });
    await run.wait();
    holder.release();
    await holder.run.wait(30_000);
    const out = outputOf(m, sh.calls[0].call_id) ?? "";
    assert.equal(ws.read("notes.txt"), "one\ntwo\nthree\n", `the shell apply_patch went through: ${out}`);
    assert.match(out, /lease/i, out);
    assert.ok(holder.grant?.holder && out.includes(holder.grant.holder), `holder not named: ${out}`);
  });
});
