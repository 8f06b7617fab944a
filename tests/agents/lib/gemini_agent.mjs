// Runs the real Gemini CLI (npm @google/gemini-cli, bundle/gemini.js) against
// a scripted model server (gemini_model.mjs) in a throwaway git repository
// and a throwaway HOME, the way a user would after `keel install gemini`.
//
// What a run needs, found by reading and running Gemini CLI 0.61.0:
// - Model endpoint: GOOGLE_GEMINI_BASE_URL (the @google/genai base URL) with
//   GEMINI_API_KEY and the user setting security.auth.selectedType =
//   "gemini-api-key". GOOGLE_GEMINI_BASE_URL alone selects the "gateway" auth
//   type, which -p mode refuses ("Invalid auth method selected.", exit 41).
// - Workspace trust: headless mode (-p) exits with FatalUntrustedWorkspaceError
//   in a folder that is not trusted; project MCP servers and hooks run only in
//   a trusted folder. A user trusts a folder in the interactive "Do you trust
//   this folder?" dialog, which writes ~/.gemini/trustedFolders.json
//   ({"<realpath>": "TRUST_FOLDER"}; GEMINI_CLI_TRUSTED_FOLDERS_PATH moves the
//   file, GEMINI_CLI_HOME moves ~). trustFolder() writes exactly that.
// - Non-interactive approval: in -p mode the default approval mode leaves
//   every tool that needs a confirmation (MCP tools, write_file, replace,
//   run_shell_command) out of the function declarations; --yolo (or
//   `trust: true` on the MCP server, or --allowed-tools / allowed-mcp-server
//   names for MCP tools alone) puts them in. The tests use --yolo, so every
//   refusal the model sees comes from keel's hooks.
// - No network: telemetry, usage statistics (Clearcut), update checks and IDE
//   integration are turned off in the user settings; with them off the CLI
//   connects to nothing but the model server (checked with strace).
// - The CLI relaunches itself: `node gemini.js` (the launcher) spawns
//   `node --max-old-space-size=N gemini.js ...` with GEMINI_CLI_NO_RELAUNCH=true
//   (the agent). The agent spawns the MCP servers and the hooks (`bash -c
//   '<command>'`, which bash execs), so both have the agent as their parent.
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const AGENTS_DIR = new URL('../', import.meta.url).pathname;  // tests/agents/
const REPO_DIR = new URL('../../../', import.meta.url).pathname;
export const KEEL_BIN = path.resolve(process.env.KEEL_BIN || path.join(REPO_DIR, 'build/keel'));
export const GEMINI_JS = path.resolve(process.env.KEEL_GEMINI_JS ||
  path.join(AGENTS_DIR, 'node_modules/@google/gemini-cli/bundle/gemini.js'));

export function geminiVersion() {
  try {
    const pkg = path.join(path.dirname(GEMINI_JS), '..', 'package.json');
    return JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
  } catch {
    return null;
  }
}

// Why Gemini CLI cannot run here (the suite is skipped), or null.
export function missingPrerequisite() {
  if (!fs.existsSync(GEMINI_JS)) return `Gemini CLI bundle not found: ${GEMINI_JS} (set KEEL_GEMINI_JS)`;
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) return `Gemini CLI needs Node >= 20, this is ${process.version}`;
  return null;
}

export function keelMissing() {
  try {
    fs.accessSync(KEEL_BIN, fs.constants.X_OK);
    return null;
  } catch {
    return `keel binary not found: ${KEEL_BIN} (build it, or set KEEL_BIN)`;
  }
}

const live = new Set();     // every GeminiRun not yet reaped
const started = new Set();  // every GeminiRun ever started (their process groups)

// A scratch directory holding the repositories and homes of one test file.
export class Sandbox {
  constructor(prefix = 'keel-gemini-') {
    this.root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  }

  // A git repository with one committed file; returns {repo, file}.
  makeRepo(name = 'repo', {fileName = 'notes.txt', content = 'original\n'} = {}) {
    const repo = path.join(this.root, name);
    fs.mkdirSync(repo, {recursive: true});
    git(repo, 'init', '-q');
    fs.writeFileSync(path.join(repo, fileName), content);
    git(repo, 'add', '.');
    git(repo, '-c', 'user.email=test@keel.invalid', '-c', 'user.name=keel test', 'commit', '-qm', 'initial');
    return {repo, file: path.join(repo, fileName)};
  }

  // A HOME with the user settings a scripted run needs (see above).
  makeHome(name = 'home') {
    const home = path.join(this.root, name);
    fs.mkdirSync(path.join(home, '.gemini'), {recursive: true});
    fs.writeFileSync(path.join(home, '.gemini', 'settings.json'), JSON.stringify({
      security: {auth: {selectedType: 'gemini-api-key'}},
      privacy: {usageStatisticsEnabled: false},
      telemetry: {enabled: false},
      general: {enableAutoUpdate: false, enableAutoUpdateNotification: false},
      ide: {enabled: false},
    }, null, 2));
    return home;
  }

  cleanup() {
    fs.rmSync(this.root, {recursive: true, force: true});
  }
}

function git(cwd, ...args) {
  const r = spawnSync('git', args, {cwd, encoding: 'utf8'});
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// `keel install gemini` in the repository, as a user would run it there.
export function keelInstall(repo, home) {
  const r = spawnSync(KEEL_BIN, ['install', 'gemini'], {
    cwd: repo, encoding: 'utf8', timeout: 30000,
    env: {PATH: process.env.PATH, HOME: home},
  });
  const settingsPath = path.join(repo, '.gemini', 'settings.json');
  let settings = null;
  try { settings = JSON.parse(fs.readFileSync(settingsPath, 'utf8')); } catch {}
  return {status: r.status, stdout: r.stdout, stderr: r.stderr, settingsPath, settings};
}

// What Gemini CLI's trust dialog ("Trust folder") records.
export function trustFolder(home, folder) {
  const file = path.join(home, '.gemini', 'trustedFolders.json');
  let cur = {};
  try { cur = JSON.parse(fs.readFileSync(file, 'utf8')); } catch {}
  cur[fs.realpathSync(folder)] = 'TRUST_FOLDER';
  fs.mkdirSync(path.dirname(file), {recursive: true});
  fs.writeFileSync(file, JSON.stringify(cur, null, 2), {mode: 0o600});
  return file;
}

// ---- /proc helpers (Linux) ----

export function procInfo(pid) {
  const read = (f) => { try { return fs.readFileSync(`/proc/${pid}/${f}`, 'utf8'); } catch { return null; } };
  const status = read('status');
  if (status === null) return null;
  const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  let exe = null;
  try { exe = fs.readlinkSync(`/proc/${pid}/exe`); } catch {}
  const cmdline = (read('cmdline') ?? '').split('\0').filter(Boolean);
  const comm = (read('comm') ?? '').trim();
  const state = /^State:\s+(\S)/m.exec(status)?.[1];
  return {pid, ppid, comm, exe, cmdline, state};
}

export function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const info = procInfo(Number(d));
    if (info && info.ppid === pid) out.push(info);
  }
  return out;
}

// The process and all its descendants, depth first, with their depth.
export function processTree(pid, depth = 0, out = []) {
  const info = procInfo(pid);
  if (!info) return out;
  out.push({...info, depth});
  for (const c of childrenOf(pid)) processTree(c.pid, depth + 1, out);
  return out;
}

export function formatTree(tree) {
  return tree.map((p) => `${'  '.repeat(p.depth)}${p.pid} ${p.comm} [${p.exe}] ${p.cmdline.join(' ').slice(0, 160)}`).join('\n');
}

export function isAlive(pid) {
  const info = procInfo(pid);
  return !!info && info.state !== 'Z';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One `gemini -p` session.
export class GeminiRun {
  constructor({cwd, home, model, prompt, label = 'gemini', args = ['--yolo'], env = {}}) {
    Object.assign(this, {cwd, home, model, prompt, label, args, env});
    this.stdout = '';
    this.stderr = '';
  }

  start() {
    const env = {
      PATH: process.env.PATH,
      HOME: this.home,
      USER: process.env.USER ?? 'root',
      LANG: 'C.UTF-8',
      TERM: 'dumb',
      NO_COLOR: '1',
      GEMINI_API_KEY: 'scripted-test-key',
      GOOGLE_GEMINI_BASE_URL: this.model.url,
      ...this.env,
    };
    const argv = [GEMINI_JS, '-p', this.prompt, '--output-format', 'json', ...this.args];
    // Its own process group: after() kills the whole session (launcher,
    // agent, MCP servers, hooks) with one signal.
    this.proc = spawn(process.execPath, argv, {cwd: this.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true});
    this.pid = this.proc.pid;
    live.add(this);
    started.add(this);
    this.proc.stdout.on('data', (d) => { this.stdout += d; });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = {code, signal};
        resolve(this.exit);
      });
    });
    this.closed = new Promise((resolve) => this.proc.on('close', () => resolve()));
    return this;
  }

  // The process that is the agent: the relaunched child node of the launcher
  // (or the launcher itself when it did not relaunch).
  async agentPid(timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const kids = childrenOf(this.pid).filter((p) => p.cmdline.some((a) => a.endsWith('gemini.js')));
      if (kids.length) return kids[0].pid;
      if (this.exit) return null;
      await sleep(50);
    }
    return this.pid;
  }

  // Resolves with {code, signal, stdout, stderr, json} once the process is
  // gone; kills the session when it outlives timeoutMs.
  async wait(timeoutMs = 60000) {
    let timer;
    const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.killGroup();
      await this.exited;
      throw new Error(`${this.label}: gemini did not finish within ${timeoutMs} ms\nstderr:\n${this.stderr.slice(-4000)}`);
    }
    await Promise.race([this.closed, sleep(2000)]);
    live.delete(this);
    let json = null;
    try { json = JSON.parse(this.stdout); } catch {}
    return {...this.exit, stdout: this.stdout, stderr: this.stderr, json};
  }

  killGroup(signal = 'SIGKILL') {
    try { process.kill(-this.pid, signal); } catch {}
  }
}

// Kills every session still running (for after()).
// Also sweeps the process groups of finished sessions: an MCP server
// orphaned by a killed agent stays in its session's group.
export async function killAll() {
  const runs = [...live];
  for (const r of started) r.killGroup('SIGKILL');
  started.clear();
  await Promise.all(runs.map((r) => Promise.race([r.exited, sleep(3000)])));
  live.clear();
}

// ---- keel doctor ----

// A directory holding the Gemini CLI as `gemini`, for PATH: npm's bin link
// (node_modules/.bin) when it is GEMINI_JS, else a symlink made under `root`.
export function geminiPathDir(root) {
  const npmBin = path.join(AGENTS_DIR, 'node_modules', '.bin');
  try {
    if (fs.realpathSync(path.join(npmBin, 'gemini')) === fs.realpathSync(GEMINI_JS)) return npmBin;
  } catch {}
  const dir = path.join(root, 'bin');
  fs.mkdirSync(dir, {recursive: true});
  if (!fs.existsSync(path.join(dir, 'gemini'))) fs.symlinkSync(GEMINI_JS, path.join(dir, 'gemini'));
  return dir;
}

// `keel doctor --agent gemini [args]` in the repository, as a user would run
// it there: their HOME, and the real Gemini CLI on PATH (`pathDir`), so that
// doctor's version check runs it.
export function keelDoctor(repo, home, pathDir, args = []) {
  const r = spawnSync(KEEL_BIN, ['doctor', '--agent', 'gemini', ...args], {
    cwd: repo, encoding: 'utf8', timeout: 60000,
    env: {PATH: `${pathDir}:${process.env.PATH}`, HOME: home, USER: process.env.USER ?? 'root', LANG: 'C.UTF-8'},
  });
  return {
    status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr,
    describe: () => `keel doctor exit ${r.status}${r.signal ? ` (${r.signal})` : ''}${r.error ? ` (${r.error.message})` : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`,
  };
}
