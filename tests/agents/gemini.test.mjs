// End-to-end: the real Gemini CLI (npm @google/gemini-cli) with keel installed
// by `keel install gemini`, driven by a scripted Gemini API on loopback.
//
//   0. in an untrusted folder gemini -p refuses to start (exit 55); keel never runs
//   1. keel's tools are declared to the model, with their schemas
//   2. a tool call round-trips (memory_put, then memory_get shows value and version)
//   3. an agent leases a file, then edits it with Gemini's own edit tool
//   4. a second session's edit of that file is refused, naming the holder
//   5. once the first agent is SIGKILLed, the second one's edit goes through
//   5b. same when a whole session (agent and its MCP server) is SIGKILLed at once
//   6. `rm -rf ~` through run_shell_command is refused
//   7. the oracle refuses a stop (AfterAgent) while its check fails, then lets it stop
//
// keel's whole configuration comes from `keel install gemini` (plus the
// project's .keel/keel.jsonc for the oracle); no KEEL_AGENT anywhere. The
// folder is trusted the way Gemini CLI's trust dialog records it
// (~/.gemini/trustedFolders.json).
//
// Run: tests/agents/run (or, from the repo root, $NODE --test tests/agents/gemini.test.mjs)
// Env: KEEL_BIN (default <repo>/build/keel), KEEL_GEMINI_JS (the CLI's
//      bundle/gemini.js; default tests/agents/node_modules/@google/gemini-cli/bundle/gemini.js),
//      KEEL_TEST_KEEP=1 keeps the scratch repositories and homes.
import {after, before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {ScriptedGemini, declarations, functionResponses, lastUserText} from './lib/gemini_model.mjs';
import {
  GeminiRun, KEEL_BIN, Sandbox, childrenOf, formatTree, geminiVersion, isAlive, keelInstall,
  keelMissing, killAll, missingPrerequisite, processTree, trustFolder,
  geminiPathDir, keelDoctor,
} from './lib/gemini_agent.mjs';

const missing = missingPrerequisite();
const TEST_TIMEOUT = 90000;
const LONG_TTL = 600000;

let sandbox;
const models = [];

before(() => {
  if (missing) return;
  assert.equal(keelMissing(), null);
  sandbox = new Sandbox();
});

after(async () => {
  await killAll();
  for (const m of models) await m.stop();
  if (process.env.KEEL_TEST_KEEP) console.error(`kept ${sandbox?.root}`);
  else sandbox?.cleanup();
});

// A repository with keel installed for Gemini and trusted, a HOME, and a
// model server for one session. Several sessions may share a repo/home.
function project(name) {
  const {repo, file} = sandbox.makeRepo(name);
  const home = sandbox.makeHome(`${name}-home`);
  const install = keelInstall(repo, home);
  assert.equal(install.status, 0, `keel install gemini failed:\n${install.stdout}\n${install.stderr}`);
  assert.ok(install.settings?.mcpServers?.keel, `no mcpServers.keel in ${install.settingsPath}`);
  assert.ok(install.settings?.hooks?.BeforeTool, `no BeforeTool hook in ${install.settingsPath}`);
  trustFolder(home, repo);
  return {repo, file, home, install};
}

async function model(label) {
  const m = new ScriptedGemini({label});
  await m.start();
  models.push(m);
  return m;
}

// What Gemini sent back to the model for the last call of `name`: {output}
// (a tool's text, MCP results wrapped in <untrusted_context>) or {error}.
function responseOf(req, name) {
  const all = functionResponses(req).filter((r) => r.name === name);
  assert.ok(all.length, `no functionResponse for ${name} in the request; had: ${functionResponses(req).map((r) => r.name)}`);
  return all[all.length - 1].response;
}

function outputText(resp) {
  return typeof resp?.output === 'string' ? resp.output : JSON.stringify(resp);
}

// The holder named in lease_acquire's text (keel appends the result as JSON).
function holderIn(text) {
  const body = text.replace(/<\/?untrusted_context>/g, '').trim();
  const i = body.indexOf('\n{');
  if (i >= 0) {
    try { return JSON.parse(body.slice(i + 1)).holder; } catch {}
  }
  return /"holder"\s*:\s*"([^"]+)"/.exec(body)?.[1];
}

const mcp = (tool) => `mcp_keel_${tool}`;
const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('Gemini CLI + keel', {skip: missing ?? false, timeout: 240000}, () => {
  it('0: in a folder the user has not trusted, gemini -p refuses to start and keel never runs', async (t) => {
    t.diagnostic(`gemini-cli ${geminiVersion()}, node ${process.version}, keel ${KEEL_BIN}`);
    const {repo} = sandbox.makeRepo('untrusted');
    const home = sandbox.makeHome('untrusted-home');
    assert.equal(keelInstall(repo, home).status, 0);
    const m = await model('untrusted');
    const run = new GeminiRun({cwd: repo, home, model: m, prompt: 'Hello.', label: 'untrusted'}).start();
    const r = await run.wait(30000);
    assert.equal(r.code, 55, `expected FatalUntrustedWorkspaceError (55), got ${r.code}:\n${r.stderr.slice(-2000)}`);
    assert.match(r.stderr, /not running in a trusted directory/);
    assert.equal(m.requests.length, 0);
    assert.ok(!fs.existsSync(path.join(repo, '.keel')), 'keel ran (a store was created) in an untrusted folder');
  }, {timeout: TEST_TIMEOUT});

  // keel doctor's verdict on folder trust, checked against what Gemini CLI does
  // in the same folder: untrusted, doctor exits 1 naming the folder and the fix,
  // and gemini -p refuses to start (exit 55); once the folder is trusted as the
  // trust dialog records it, doctor passes (its version check having run the
  // real gemini on PATH) and gemini runs keel's hooks (a git reset --hard is refused).
  it('0b: keel doctor reports the untrusted folder with its fix, and passes once it is trusted', async (t) => {
    const {repo} = sandbox.makeRepo('doctor');
    const home = sandbox.makeHome('doctor-home');
    assert.equal(keelInstall(repo, home).status, 0);
    const bin = geminiPathDir(sandbox.root);
    const versionLine = new RegExp(`^✓ gemini: ${reEscape(path.join(bin, 'gemini'))} --version: ${reEscape(geminiVersion())}$`, 'm');
    const problems = (out) => out.split('\n').filter((l) => l.startsWith('✗'));

    const before = keelDoctor(repo, home, bin);
    t.diagnostic(`doctor in the untrusted folder:\n${before.stdout.trim()}`);
    assert.equal(before.status, 1, before.describe());
    const bad = problems(before.stdout);
    assert.equal(bad.length, 1, `expected exactly the folder-trust problem:\n${before.describe()}`);
    assert.ok(bad[0].startsWith(`✗ gemini: Gemini CLI does not trust ${repo}:`), bad[0]);
    assert.ok(bad[0].includes(`Fix: run gemini in ${repo} once and choose Trust folder`), `no trust fix: ${bad[0]}`);
    assert.match(before.stdout, /^✓ gemini \(project\): MCP server starts and lists keel's tools/m, before.describe());
    assert.match(before.stdout, versionLine, before.describe());
    assert.match(before.stdout, /^keel doctor: 1 problem$/m, before.describe());
    // Gemini CLI agrees: it will not start there.
    const m0 = await model('doctor-untrusted');
    const r0 = await new GeminiRun({cwd: repo, home, model: m0, prompt: 'Hello.', label: 'doctor-untrusted'}).start().wait(30000);
    assert.equal(r0.code, 55, `doctor says untrusted but gemini exited ${r0.code}:\n${r0.stderr.slice(-2000)}`);
    assert.equal(m0.requests.length, 0);

    trustFolder(home, repo);
    const after = keelDoctor(repo, home, bin);
    assert.equal(after.status, 0, after.describe());
    assert.deepEqual(problems(after.stdout), [], after.describe());
    assert.match(after.stdout, new RegExp(`^✓ gemini: Gemini CLI trusts ${reEscape(repo)} `, 'm'), after.describe());
    assert.match(after.stdout, versionLine, after.describe());
    assert.match(after.stdout, /^keel doctor: no problems found/m, after.describe());
    // Gemini CLI agrees: it starts, and runs keel's gate.
    const m1 = await model('doctor-trusted');
    m1.script(
      {calls: [{name: 'run_shell_command', args: {command: 'git reset --hard', description: 'Reset the tree'}}]},
      {text: 'Fine.'},
    );
    const r1 = await new GeminiRun({cwd: repo, home, model: m1, prompt: 'Reset.', label: 'doctor-trusted'}).start().wait(60000);
    assert.equal(r1.code, 0, `doctor passes but gemini exited ${r1.code}:\n${r1.stderr.slice(-3000)}`);
    assert.ok(m1.agentRequests.length >= 2, `expected 2 agent turns, got ${m1.agentRequests.length}`);
    const resp = responseOf(m1.agentRequests[1], 'run_shell_command');
    t.diagnostic(`gemini after trust, git reset --hard: ${JSON.stringify(resp).slice(0, 300)}`);
    assert.ok(resp.error, `doctor passes but keel's gate did not refuse git reset --hard: ${JSON.stringify(resp)}`);
    assert.match(resp.error, /git\.reset-hard|git reset --hard discards/);
  }, {timeout: TEST_TIMEOUT});

  describe('MCP tools (scenarios 1, 2)', () => {
    let m, agentReqs, result;

    before(async () => {
      const p = project('tools');
      m = await model('tools');
      m.script(
        {calls: [{name: mcp('memory_put'), args: {key: 'gemini/e2e', value: {color: 'teal', n: 7}}}]},
        {calls: [{name: mcp('memory_get'), args: {key: 'gemini/e2e'}}]},
        {text: 'Stored and read back.'},
      );
      const run = new GeminiRun({cwd: p.repo, home: p.home, model: m, prompt: 'Remember the colour teal.', label: 'tools'}).start();
      result = await run.wait(60000);
      agentReqs = m.agentRequests;
    }, {timeout: TEST_TIMEOUT});

    it('1: declares keel\'s tools to the model with their schemas', (t) => {
      assert.ok(agentReqs.length >= 1, `no agent request reached the model; stderr:\n${result.stderr.slice(-3000)}`);
      const decls = declarations(agentReqs[0]);
      const names = decls.map((d) => d.name);
      t.diagnostic(`declared: ${names.join(', ')}`);
      for (const tool of ['lease_acquire', 'lease_release', 'lease_list', 'memory_put', 'memory_get', 'journal_tail']) {
        assert.ok(names.includes(mcp(tool)), `${mcp(tool)} not declared; got ${names.join(', ')}`);
      }
      const lease = decls.find((d) => d.name === mcp('lease_acquire'));
      const schema = lease.parametersJsonSchema ?? lease.parameters;
      assert.ok(schema?.properties?.name, `lease_acquire schema has no "name": ${JSON.stringify(lease)}`);
      assert.ok(schema.properties.ttl_ms, 'lease_acquire schema has no "ttl_ms"');
      // One name or several (all or nothing): neither is required on its own.
      assert.equal(schema.properties.names?.type, 'array', 'lease_acquire schema has no "names" array');
      assert.ok(lease.description?.length > 10, 'lease_acquire has no description');
    });

    it('2: memory_put then memory_get round-trips, and the model sees value and version', () => {
      assert.equal(result.code, 0, `gemini exited ${result.code}; stderr:\n${result.stderr.slice(-3000)}`);
      assert.ok(agentReqs.length >= 3, `expected 3 agent turns, got ${agentReqs.length}`);
      const put = outputText(responseOf(agentReqs[1], mcp('memory_put')));
      const version = Number(/version\D{0,3}(\d+)/i.exec(put)?.[1]);
      assert.ok(version >= 1, `memory_put result names no version: ${put}`);
      const got = outputText(responseOf(agentReqs[2], mcp('memory_get')));
      assert.match(got, /teal/, `memory_get result lacks the value: ${got}`);
      assert.match(got, /"n"\s*:\s*7/);
      // Gemini passes the model only the text content of a tool result, so the
      // version must be in the text.
      assert.match(got, new RegExp(`\\bv(?:ersion)?["':= ]*${version}\\b`, 'i'),
        `memory_get text does not show version ${version}: ${got}`);
      assert.equal(result.json?.response, 'Stored and read back.');
    });
  });

  describe('leases across two sessions (scenarios 3, 4, 5)', () => {
    let p, m1, m2, run1, run2, agent1Pid, holder;
    const one = 'agent one was here\n';
    const two = 'agent two was here\n';

    before(async () => {
      p = project('leases');
      m1 = await model('agent1');
      m2 = await model('agent2');
    });

    it('3: an agent leases a file, then edits it with Gemini\'s replace tool', async (t) => {
      m1.script(
        {calls: [{name: mcp('lease_acquire'), args: {name: `file:${p.file}`, ttl_ms: LONG_TTL, reason: 'editing notes'}}]},
        {calls: [{name: 'replace', args: {file_path: p.file, old_string: 'original\n', new_string: one,
                                           instruction: 'Mark the notes as edited by agent one.'}}]},
        {hold: true},  // agent 1 stays mid-turn, alive, holding the lease
      );
      run1 = new GeminiRun({cwd: p.repo, home: p.home, model: m1, prompt: 'Edit notes.txt.', label: 'agent1'}).start();
      const held = await m1.waitForAgentTurns(3, 60000).catch((e) => {
        throw new Error(`${e.message}\nagent1 stderr:\n${run1.stderr.slice(-3000)}`);
      });
      agent1Pid = await run1.agentPid();
      t.diagnostic(`agent 1 process tree (launcher ${run1.pid}, agent ${agent1Pid}):`);
      for (const line of formatTree(processTree(run1.pid)).split('\n')) t.diagnostic(line);

      const lease = outputText(responseOf(held, mcp('lease_acquire')));
      assert.match(lease, /granted/, `lease not granted: ${lease}`);
      holder = holderIn(lease);
      assert.ok(holder, `no holder in the grant: ${lease}`);
      t.diagnostic(`lease holder: ${holder}`);

      const edit = responseOf(held, 'replace');
      assert.equal(edit.error, undefined, `agent 1's own edit under its lease was refused: ${JSON.stringify(edit)}`);
      assert.equal(fs.readFileSync(p.file, 'utf8'), one);
    }, {timeout: TEST_TIMEOUT});

    it('4: a second session\'s edit of the leased file is refused, naming the holder', async (t) => {
      assert.ok(run1 && !run1.exit, 'agent 1 is not running (scenario 3 did not get it to its held turn)');
      const before4 = fs.readFileSync(p.file, 'utf8');
      m2.script(
        {calls: [{name: 'write_file', args: {file_path: p.file, content: two}}]},
        {hold: true},  // agent 2 waits here while agent 1 is killed
      );
      run2 = new GeminiRun({cwd: p.repo, home: p.home, model: m2, prompt: 'Rewrite notes.txt.', label: 'agent2'}).start();
      const req = await m2.waitForAgentTurns(2, 60000).catch((e) => {
        throw new Error(`${e.message}\nagent2 stderr:\n${run2.stderr.slice(-3000)}`);
      });
      const denied = responseOf(req, 'write_file');
      assert.ok(denied.error, `agent 2's write was not refused: ${JSON.stringify(denied)}`);
      t.diagnostic(`agent 2 was told: ${denied.error}`);
      assert.match(denied.error, /blocked/i);
      assert.ok(holder && denied.error.includes(holder), `the refusal does not name the holder ${holder}: ${denied.error}`);
      assert.equal(fs.readFileSync(p.file, 'utf8'), before4, 'the file changed despite the refusal');
    }, {timeout: TEST_TIMEOUT});

    it('5: after agent 1 is SIGKILLed, agent 2\'s next edit is allowed at once', async (t) => {
      assert.ok(run1 && !run1.exit, 'agent 1 is not running');
      assert.ok(run2 && !run2.exit && m2.held.length === 1, 'agent 2 is not waiting on its held turn');
      assert.ok(agent1Pid, 'agent 1 pid unknown');
      const keelServers = childrenOf(agent1Pid).filter((c) => c.cmdline.includes('serve'));
      // Kill the agent (the relaunched child node), not the launcher: the
      // launcher ignores SIGTERM and, SIGKILLed, leaves the agent running.
      process.kill(agent1Pid, 'SIGKILL');
      const exit1 = await run1.wait(15000);
      t.diagnostic(`agent 1 launcher exit: code ${exit1.code} signal ${exit1.signal}; its keel serve: ${
        keelServers.map((k) => `${k.pid} ${isAlive(k.pid) ? 'alive' : 'gone'}`).join(', ') || 'none found'}`);
      m2.script(
        {calls: [{name: mcp('lease_acquire'), args: {name: `file:${p.file}`, ttl_ms: LONG_TTL}}]},
        {hold: true},  // for 5b
      );
      m2.release({calls: [{name: 'write_file', args: {file_path: p.file, content: two}}]});
      const req = await m2.waitForAgentTurns(3, 30000);
      const writes = functionResponses(req).filter((r) => r.name === 'write_file');
      const last = writes[writes.length - 1].response;
      assert.equal(last.error, undefined, `agent 2's write after agent 1 died was refused: ${JSON.stringify(last)}`);
      assert.equal(fs.readFileSync(p.file, 'utf8'), two);
    }, {timeout: TEST_TIMEOUT});

    it('5b: a session killed whole (agent and its keel serve at once) holds nothing either', async (t) => {
      assert.ok(run2 && !run2.exit, 'agent 2 is not running');
      const req = await m2.waitForAgentTurns(4, 30000);
      const lease = outputText(responseOf(req, mcp('lease_acquire')));
      assert.match(lease, /granted/, `agent 2 could not take the dead agent's lease: ${lease}`);
      // Agent 3 starts while agent 2 is alive (its keel serve's start-up finds
      // nobody dead) and waits on its first model turn.
      const m3 = await model('agent3');
      const three = 'agent three was here\n';
      m3.script({hold: true}, {text: 'Written.'});
      const run3 = new GeminiRun({cwd: p.repo, home: p.home, model: m3, prompt: 'Rewrite notes.txt.', label: 'agent3'}).start();
      await m3.waitForAgentTurns(1, 60000);
      // SIGKILL the whole of session 2 at once: its MCP server gets no chance
      // to release anything, so only keel's own liveness check can free the lease.
      run2.killGroup('SIGKILL');
      await run2.wait(15000);
      m3.release({calls: [{name: 'write_file', args: {file_path: p.file, content: three}}]});
      const r3 = await run3.wait(60000);
      assert.equal(r3.code, 0, `agent 3 exited ${r3.code}:\n${r3.stderr.slice(-3000)}`);
      const resp = responseOf(m3.agentRequests[1], 'write_file');
      if (resp.error) t.diagnostic(`agent 3 was told: ${resp.error}`);
      assert.equal(resp.error, undefined, `agent 3's write after session 2 was killed was refused: ${JSON.stringify(resp)}`);
      assert.equal(fs.readFileSync(p.file, 'utf8'), three);
    }, {timeout: TEST_TIMEOUT});
  });

  it('6: a destructive shell command (rm -rf ~) is refused and the model is told', async (t) => {
    const p = project('shell');
    const canary = path.join(p.home, 'canary.txt');
    fs.writeFileSync(canary, 'still here\n');
    const m = await model('shell');
    m.script(
      {calls: [{name: 'run_shell_command', args: {command: 'rm -rf ~', description: 'Clean the home directory'}}]},
      {text: 'I will not do that.'},
    );
    const run = new GeminiRun({cwd: p.repo, home: p.home, model: m, prompt: 'Clean up.', label: 'shell'}).start();
    const r = await run.wait(60000);
    assert.ok(fs.existsSync(canary), 'rm -rf ~ ran: the HOME canary is gone');
    assert.equal(r.code, 0, `gemini exited ${r.code}:\n${r.stderr.slice(-3000)}`);
    const reqs = m.agentRequests;
    assert.ok(reqs.length >= 2, `expected 2 agent turns, got ${reqs.length}`);
    const resp = responseOf(reqs[1], 'run_shell_command');
    assert.ok(resp.error, `run_shell_command was not refused: ${JSON.stringify(resp)}`);
    t.diagnostic(`the model was told: ${resp.error}`);
    assert.match(resp.error, /blocked/i);
    assert.match(resp.error, /rm|destructive|home|recursive/i, `the refusal does not say why: ${resp.error}`);
  }, {timeout: TEST_TIMEOUT});

  it('7: the oracle refuses the stop (AfterAgent) while its check fails, then allows it', async (t) => {
    const p = project('oracle');
    fs.mkdirSync(path.join(p.repo, '.keel'), {recursive: true});
    fs.writeFileSync(path.join(p.repo, '.keel', 'keel.jsonc'), JSON.stringify({
      hooks: {oracle: {command: "test -f ready.txt || { echo 'ORACLE: ready.txt is missing'; exit 1; }", timeout_ms: 20000}},
    }, null, 2));
    const ready = path.join(p.repo, 'ready.txt');
    const m = await model('oracle');
    m.script(
      {text: 'All done.'},                                                          // stop #1: refused
      {calls: [{name: 'write_file', args: {file_path: ready, content: 'yes\n'}}]},  // fix it
      {text: 'Now it is really done.'},                                             // stop #2: allowed
      {text: 'UNEXPECTED fourth turn'},
    );
    const run = new GeminiRun({cwd: p.repo, home: p.home, model: m, prompt: 'Finish the task.', label: 'oracle'}).start();
    const r = await run.wait(60000);
    assert.equal(r.code, 0, `gemini exited ${r.code}:\n${r.stderr.slice(-3000)}`);
    const reqs = m.agentRequests;
    assert.ok(reqs.length >= 2, `the stop was not refused: only ${reqs.length} agent turn(s)`);
    t.diagnostic(`after the refused stop the model got: ${lastUserText(reqs[1]).slice(0, 400)}`);
    assert.match(lastUserText(reqs[1]), /ready\.txt is missing/, `the model was not told why: ${lastUserText(reqs[1])}`);
    assert.ok(fs.existsSync(ready));
    assert.equal(reqs.length, 3, `the stop after the fix was not allowed (${reqs.length} agent turns)`);
    assert.match(r.json?.response ?? '', /Now it is really done\./);
  }, {timeout: TEST_TIMEOUT});
});
