// Helpers to run the real Claude Code binary against keel in a throwaway git
// repository, talking to a scripted model server (anthropic_model.mjs) on
// 127.0.0.1.
//
// keel's configuration comes only from `keel install claude` (run in the
// repository), plus whatever a test writes into .keel/keel.jsonc. Nothing sets
// KEEL_AGENT: Claude Code's environment is built from scratch here.
//
// KEEL_BIN    the keel binary        (default <repo>/build/keel)
// KEEL_CLAUDE_BIN  Claude Code's `claude` (default tests/agents/node_modules/.bin/claude)
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

const AGENTS_DIR = new URL("../", import.meta.url).pathname;  // tests/agents/
const REPO_DIR = new URL("../../../", import.meta.url).pathname;
export const KEEL_BIN = path.resolve(process.env.KEEL_BIN || path.join(REPO_DIR, "build/keel"));
export const CLAUDE_BIN = path.resolve(process.env.KEEL_CLAUDE_BIN || path.join(AGENTS_DIR, "node_modules/.bin/claude"));

// What is missing to run these tests, or "" when nothing is.
export function missingPrerequisite() {
  for (const [what, p] of [["keel (KEEL_BIN)", KEEL_BIN], ["claude (KEEL_CLAUDE_BIN)", CLAUDE_BIN]]) {
    try { fs.accessSync(p, fs.constants.X_OK); } catch { return `${what} not found at ${p}`; }
  }
  return "";
}

const tmpRoots = [];
const runs = new Set();

export function mkTmp(prefix) {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  tmpRoots.push(dir);
  return dir;
}

function git(cwd, ...args) {
  return execFileSync("git", ["-c", "user.name=keel-test", "-c", "user.email=keel-test@example.invalid",
                              "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", ...args],
                      { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

// A user's machine: a temporary HOME and a git repository with `files`
// committed, keel installed into it for Claude Code (`keel install claude`).
//
// `trust`: the user has accepted Claude Code's workspace-trust dialog for the
// repository once (what `claude` asks interactively on its first run there);
// Claude Code ignores the project's permission rules until then. Only the user
// can do this, so the test plays the user here.
export function makeWorkspace({ files = { "README.md": "# demo\n" }, keelConfig, trust = true } = {}) {
  const root = mkTmp("keel-claude-");
  const home = path.join(root, "home");
  const repo = path.join(root, "repo");
  fs.mkdirSync(home);
  fs.mkdirSync(repo);
  git(repo, "init", "-q");
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(repo, name)), { recursive: true });
    fs.writeFileSync(path.join(repo, name), text);
  }
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "initial");
  if (trust) {
    fs.writeFileSync(path.join(home, ".claude.json"),
                     JSON.stringify({ projects: { [repo]: { hasTrustDialogAccepted: true } } }, null, 2));
  }
  if (keelConfig) {
    fs.mkdirSync(path.join(repo, ".keel"), { recursive: true });
    fs.writeFileSync(path.join(repo, ".keel", "keel.jsonc"), JSON.stringify(keelConfig, null, 2));
  }
  const install = execFileSync(KEEL_BIN, ["install", "claude"], {
    cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: baseEnv(home),
  });
  return { root, home, repo, install, file: (name) => path.join(repo, name) };
}

// keel's newest journal records in the workspace (for failure messages).
export function journalTail(workspace, limit = 30) {
  try {
    return execFileSync(KEEL_BIN, ["journal", "tail", "--limit", String(limit)], {
      cwd: workspace.repo, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: baseEnv(workspace.home),
    });
  } catch (e) {
    return `(keel journal tail failed: ${e.message})`;
  }
}

// The environment Claude Code runs with: nothing inherited but PATH and the
// locale, no KEEL_* at all, and no traffic beyond the scripted model.
function baseEnv(home) {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    LANG: process.env.LANG ?? "C.UTF-8",
    HOME: home,
    USER: process.env.USER ?? "root",
    TMPDIR: os.tmpdir(),
  };
}

export function claudeEnv(home, modelUrl, extra = {}) {
  return {
    ...baseEnv(home),
    ANTHROPIC_BASE_URL: modelUrl,
    ANTHROPIC_API_KEY: "dummy",
    DISABLE_TELEMETRY: "1",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_ERROR_REPORTING: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    // Claude Code 2.1.x defers MCP tools behind its ToolSearch tool by default;
    // the scripted model calls keel's tools directly, so list them up front.
    ENABLE_TOOL_SEARCH: "false",
    ...extra,
  };
}

// One `claude -p PROMPT` process. Spawned in its own process group so that
// `killAll()` also takes down what it started (keel serve --stdio).
export class ClaudeRun {
  constructor({ workspace, model, prompt = "Do the task.", args = [], env = {}, label = "claude",
                timeoutMs = 60_000 }) {
    this.label = label;
    this.events = [];
    this.stderr = "";
    const argv = ["-p", prompt, "--output-format", "stream-json", "--verbose",
                  "--permission-mode", "acceptEdits", ...args];
    this.child = spawn(CLAUDE_BIN, argv, {
      cwd: workspace.repo, env: claudeEnv(workspace.home, model.url, env),
      stdio: ["ignore", "pipe", "pipe"], detached: true,
    });
    this.pid = this.child.pid;
    this.pgid = this.child.pid;
    runs.add(this);
    readline.createInterface({ input: this.child.stdout }).on("line", (line) => {
      try { this.events.push(JSON.parse(line)); } catch { this.events.push({ type: "raw", line }); }
    });
    this.child.stderr.on("data", (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => { this.code = code; this.signal = signal; resolve({ code, signal }); });
    });
    this.timer = setTimeout(() => this.kill("SIGKILL"), timeoutMs);
    this.exited.then(() => clearTimeout(this.timer));
  }

  // Resolves with { code, signal } when the process ends; rejects after timeoutMs.
  async wait(timeoutMs = 60_000) {
    let t;
    const timeout = new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${this.label} did not exit within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs);
    });
    try { return await Promise.race([this.exited, timeout]); } finally { clearTimeout(t); }
  }

  kill(signal = "SIGKILL") {
    try { process.kill(this.pid, signal); } catch {}
  }

  killGroup(signal = "SIGKILL") {
    try { process.kill(-this.pgid, signal); } catch {}
  }

  // The Claude Code process itself: the parent of the `keel serve --stdio` it
  // started (KEEL_CLAUDE_BIN may be a launcher that runs it as a child).
  claudePid() {
    for (const pid of [this.pid, ...descendants(this.pid)]) {
      for (const child of childrenOf(pid)) {
        const cmd = cmdline(child);
        if (cmd.includes("serve") && cmd.includes("--stdio")) return pid;
      }
    }
    return undefined;
  }

  get result() { return this.events.find((e) => e.type === "result"); }
  get init() { return this.events.find((e) => e.type === "system" && e.subtype === "init"); }

  describe() {
    const tail = this.events.slice(-8).map((e) => JSON.stringify(e).slice(0, 400)).join("\n");
    return `[${this.label}] pid ${this.pid} code ${this.code} signal ${this.signal}\nstderr: ${this.stderr.slice(-2000)}\nlast events:\n${tail}`;
  }
}

// Kills every claude process group started here and removes the temporary
// directories.
export async function cleanup() {
  for (const r of runs) {
    r.killGroup("SIGKILL");
    r.kill("SIGKILL");
  }
  // Bounded wait; the timer is unref'd so it does not hold the test process open.
  await Promise.all([...runs].map((r) => Promise.race([r.exited, new Promise((res) => setTimeout(res, 5000).unref())])));
  runs.clear();
  for (const d of tmpRoots.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

function parents() {
  const parent = new Map();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(d), ppid);
    } catch {}
  }
  return parent;
}

function childrenOf(pid) {
  return [...parents()].filter(([, ppid]) => ppid === pid).map(([p]) => p);
}

function cmdline(pid) {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "); } catch { return ""; }
}

// Pids of the processes (other than `pid` itself) whose parent chain reaches `pid`.
export function descendants(pid) {
  const parent = parents();
  const out = [];
  for (const p of parent.keys()) {
    for (let q = parent.get(p); q && q > 1; q = parent.get(q)) {
      if (q === pid) { out.push(p); break; }
    }
  }
  return out;
}

// ---- keel doctor ----

// A directory holding Claude Code as `claude`, for PATH: the one CLAUDE_BIN is
// in when it is called claude (node_modules/.bin), else a symlink in `root`.
export function claudePathDir(root) {
  if (path.basename(CLAUDE_BIN) === "claude") return path.dirname(CLAUDE_BIN);
  const dir = path.join(root, "bin");
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, "claude"))) fs.symlinkSync(CLAUDE_BIN, path.join(dir, "claude"));
  return dir;
}

// `keel doctor --agent claude [args]` in the workspace's repository, as its
// user runs it: their HOME, and the real Claude Code on PATH, so that doctor's
// version check runs it. findings: the parsed output when args include --json.
export function keelDoctor(workspace, args = ["--json"]) {
  const env = { ...baseEnv(workspace.home) };
  env.PATH = `${claudePathDir(workspace.root)}:${env.PATH}`;
  const r = spawnSync(KEEL_BIN, ["doctor", "--agent", "claude", ...args],
                      { cwd: workspace.repo, env, encoding: "utf8", timeout: 60_000 });
  let findings;
  if (args.includes("--json")) { try { findings = JSON.parse(r.stdout); } catch {} }
  return {
    status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, findings,
    describe: () => `keel doctor exit ${r.status}${r.signal ? ` (${r.signal})` : ""}${r.error ? ` (${r.error.message})` : ""}` +
                    `\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`,
  };
}

// `claude --version` as the workspace's user runs it, its first line.
export function claudeVersionLine(workspace) {
  return execFileSync(CLAUDE_BIN, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 20_000,
                                                   env: baseEnv(workspace.home) })
    .split("\n")[0].trim();
}
