// Runs the real Codex CLI against keel, with a scripted model (openai_model.mjs).
//
// A Workspace is a temporary directory holding HOME, CODEX_HOME and a git repo
// with one committed file. keel is put into Codex only by `keel install codex`
// (user scope: $CODEX_HOME/config.toml [mcp_servers.keel] + $CODEX_HOME/hooks.json).
// The model provider is test plumbing and goes on Codex's command line (-c), so
// config.toml holds nothing but what keel install wrote plus the hook trust.
//
// Hook trust is given the way a user's Codex gives it: Codex's own app server
// (`codex app-server`, the backend of the TUI's /hooks) lists the hooks with
// `hooks/list` and records trust with `config/batchWrite`
// (`hooks.state."<hooks.json>:<event>:<group>:<handler>".trusted_hash`).
//
// Env: KEEL_BIN (default <repo>/build/keel), KEEL_CODEX_BIN (default
// tests/agents/node_modules/.bin/codex), KEEL_AGENTS_DEBUG=1 to echo
// Codex's stderr. Only node built-ins.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

const AGENTS_DIR = new URL("../", import.meta.url).pathname;  // tests/agents/
const REPO_DIR = new URL("../../../", import.meta.url).pathname;
export const KEEL_BIN = path.resolve(process.env.KEEL_BIN || path.join(REPO_DIR, "build/keel"));
export const CODEX_BIN = path.resolve(process.env.KEEL_CODEX_BIN || path.join(AGENTS_DIR, "node_modules/.bin/codex"));
export const MODEL = process.env.KEEL_CODEX_MODEL || "gpt-5.5";
const DEBUG = !!process.env.KEEL_AGENTS_DEBUG;

// Why the suite cannot run here, or null.
export function missingPrerequisite() {
  if (!fs.existsSync(KEEL_BIN)) return `keel binary not found at ${KEEL_BIN} (set KEEL_BIN)`;
  if (!fs.existsSync(CODEX_BIN)) return `codex not found at ${CODEX_BIN} (set KEEL_CODEX_BIN)`;
  return null;
}

// A clean environment: nothing of the caller's leaks in (no KEEL_AGENT, no
// OPENAI_API_KEY, no RUST_LOG), only what Codex and a shell need.
export function baseEnv(ws, extra = {}) {
  const env = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: ws.home,
    CODEX_HOME: ws.codexHome,
    USER: process.env.USER ?? "root",
    LANG: "C.UTF-8",
    TMPDIR: ws.tmp,
    MOCK_API_KEY: "sk-keel-test",
    NO_COLOR: "1",
    ...extra,
  };
  delete env.KEEL_AGENT;
  return env;
}

export class Workspace {
  static create(prefix = "keel-codex-") {
    const ws = new Workspace();
    ws.root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
    ws.home = path.join(ws.root, "home");
    ws.codexHome = path.join(ws.home, ".codex");
    ws.repo = path.join(ws.root, "repo");
    ws.tmp = path.join(ws.root, "tmp");
    for (const d of [ws.home, ws.codexHome, ws.repo, ws.tmp]) fs.mkdirSync(d, { recursive: true });
    const git = (...a) => execFileSync("git", ["-C", ws.repo, "-c", "user.name=keel-test", "-c", "user.email=t@keel.invalid", ...a],
                                       { stdio: "pipe" });
    execFileSync("git", ["init", "-q", ws.repo], { stdio: "pipe" });
    fs.writeFileSync(path.join(ws.repo, "notes.txt"), "one\ntwo\nthree\n");
    git("add", ".");
    git("commit", "-qm", "initial");
    ws.runs = [];
    return ws;
  }

  file(rel) { return path.join(this.repo, rel); }
  read(rel) { return fs.readFileSync(this.file(rel), "utf8"); }

  // keel's own config for this project (<repo>/.keel/keel.jsonc).
  writeKeelConfig(obj) {
    fs.mkdirSync(path.join(this.repo, ".keel"), { recursive: true });
    fs.writeFileSync(path.join(this.repo, ".keel", "keel.jsonc"), JSON.stringify(obj, null, 2));
  }

  // `keel install codex`, as a user runs it from the project.
  installKeel(args = []) {
    const out = execFileSync(KEEL_BIN, ["install", "codex", ...args],
                             { cwd: this.repo, env: baseEnv(this), encoding: "utf8", stdio: "pipe", timeout: 30_000 });
    this.installOutput = out;
    return out;
  }

  configToml() { return fs.readFileSync(path.join(this.codexHome, "config.toml"), "utf8"); }
  hooksJson() { return JSON.parse(fs.readFileSync(path.join(this.codexHome, "hooks.json"), "utf8")); }

  // Kills every process still running with its cwd or executable inside this
  // workspace (Codex, its MCP servers, hook processes, shells), then removes it.
  async cleanup({ keep = false } = {}) {
    for (const r of this.runs) r.kill();
    killStrays(this.root);
    await new Promise((r) => setTimeout(r, 50));
    killStrays(this.root);
    if (!keep && !process.env.KEEL_AGENTS_KEEP) fs.rmSync(this.root, { recursive: true, force: true });
  }
}

// ---- /proc helpers ----------------------------------------------------------

export function procInfo(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const info = { pid: Number(pid), state: rest[0], ppid: Number(rest[1]), pgid: Number(rest[2]), sid: Number(rest[3]) };
    try { info.comm = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim(); } catch {}
    try { info.exe = fs.readlinkSync(`/proc/${pid}/exe`); } catch {}
    try { info.cwd = fs.readlinkSync(`/proc/${pid}/cwd`); } catch {}
    try { info.cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean); } catch {}
    return info;
  } catch { return null; }
}

export function allPids() {
  return fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
}

export function childrenOf(pid) {
  return allPids().map(procInfo).filter((p) => p && p.ppid === pid);
}

export function descendantsOf(pid) {
  const all = allPids().map(procInfo).filter(Boolean);
  const out = [];
  const walk = (p) => { for (const c of all) if (c.ppid === p) { out.push(c); walk(c.pid); } };
  walk(pid);
  return out;
}

export function isAlive(pid) {
  const p = procInfo(pid);
  return !!p && p.state !== "Z";
}

function killStrays(root) {
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    const p = procInfo(pid);
    if (!p || p.state === "Z") continue;
    const inside = (x) => x && (x === root || x.startsWith(root + "/"));
    if (inside(p.cwd) || inside(p.exe)) {
      try { process.kill(pid, "SIGKILL"); } catch {}
    }
  }
}

export async function waitUntil(pred, timeoutMs = 20_000, what = "condition", stepMs = 25) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

// ---- Codex's app server: hooks/list, config/batchWrite ---------------------

class AppServer {
  constructor(ws) {
    this.child = spawn(CODEX_BIN, ["app-server"], { cwd: ws.repo, env: baseEnv(ws), stdio: ["pipe", "pipe", "pipe"] });
    this.pending = new Map();
    this.nextId = 1;
    this.stderr = "";
    this.child.stderr.on("data", (d) => { this.stderr += d; });
    readline.createInterface({ input: this.child.stdout }).on("line", (line) => {
      let m;
      try { m = JSON.parse(line); } catch { return; }
      if (m.id !== undefined && this.pending.has(m.id)) {
        const { resolve, reject } = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) reject(new Error(`${JSON.stringify(m.error)}`)); else resolve(m.result);
      }
    });
    this.exited = new Promise((r) => this.child.on("exit", r));
  }
  call(method, params, timeoutMs = 20_000) {
    const id = this.nextId++;
    this.child.stdin.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.pending.delete(id); reject(new Error(`app-server ${method} timed out; stderr: ${this.stderr.slice(-2000)}`)); }, timeoutMs);
      this.pending.set(id, { resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
    });
  }
  notify(method, params) { this.child.stdin.write(JSON.stringify({ jsonrpc: "2.0", method, params }) + "\n"); }
  async close() {
    this.child.stdin.end();
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

async function withAppServer(ws, fn) {
  const app = new AppServer(ws);
  try {
    await app.call("initialize", { clientInfo: { name: "keel-test", version: "0" }, capabilities: { experimentalApi: true } });
    app.notify("initialized");
    return await fn(app);
  } finally { await app.close(); }
}

const hooksOf = (res) => res.data.flatMap((d) => d.hooks ?? []);

// Codex's view of the hooks for the repo: [{ key, eventName, command, currentHash, trustStatus, … }].
export function listHooks(ws) {
  return withAppServer(ws, async (app) => hooksOf(await app.call("hooks/list", { cwds: [ws.repo] })));
}

// Writes user config through Codex's own writer (what the TUI does).
// edits: [{ keyPath, value }].
export function codexConfigWrite(ws, edits) {
  return withAppServer(ws, (app) => app.call("config/batchWrite", {
    edits: edits.map((e) => ({ mergeStrategy: "upsert", ...e })), reloadUserConfig: false,
  }));
}

// Trusts every hook whose command runs `keel hook`, as a user does in the TUI
// ("Hooks need review" -> "Trust all and continue", or /hooks): Codex records
// hooks.state."<hooks.json path>:<event>:<group>:<handler>".trusted_hash =
// its current hash in $CODEX_HOME/config.toml. Returns the hooks as Codex lists them after.
export function trustKeelHooks(ws) {
  return withAppServer(ws, async (app) => {
    const before = hooksOf(await app.call("hooks/list", { cwds: [ws.repo] }));
    const keel = before.filter((h) => / hook( |$)/.test(h.command ?? "") && h.trustStatus !== "trusted");
    if (keel.length) {
      await app.call("config/batchWrite", {
        edits: keel.map((h) => ({ keyPath: `hooks.state.${JSON.stringify(h.key)}.trusted_hash`, value: h.currentHash, mergeStrategy: "upsert" })),
        reloadUserConfig: false,
      });
    }
    return hooksOf(await app.call("hooks/list", { cwds: [ws.repo] }));
  });
}

// ---- one `codex exec` session ---------------------------------------------

// `-c` overrides pointing Codex at the scripted model (test plumbing only).
export function providerArgs(model) {
  return [
    "-c", `model=${JSON.stringify(MODEL)}`,
    "-c", `model_provider="keel_mock"`,
    "-c", `model_providers.keel_mock={ name = "keel-mock", base_url = ${JSON.stringify(model.baseUrl)}, wire_api = "responses", env_key = "MOCK_API_KEY", request_max_retries = 0, stream_max_retries = 0 }`,
  ];
}

export class CodexRun {
  // opts: { prompt, sandbox ("workspace-write"), extraArgs, env, label, timeoutMs }
  constructor(ws, model, opts = {}) {
    this.ws = ws;
    this.model = model;
    this.label = opts.label ?? "codex";
    const args = ["exec", "--json", "--skip-git-repo-check", "-s", opts.sandbox ?? "workspace-write",
                  ...providerArgs(model), ...(opts.extraArgs ?? []), opts.prompt ?? "do the task"];
    this.args = args;
    this.child = spawn(CODEX_BIN, args, { cwd: ws.repo, env: baseEnv(ws, opts.env), stdio: ["ignore", "pipe", "pipe"] });
    this.pid = this.child.pid;
    this.stdout = "";
    this.stderr = "";
    this.events = [];
    readline.createInterface({ input: this.child.stdout }).on("line", (line) => {
      this.stdout += line + "\n";
      try { this.events.push(JSON.parse(line)); } catch {}
    });
    this.child.stderr.on("data", (d) => { this.stderr += d; if (DEBUG) process.stderr.write(`[${this.label}] ${d}`); });
    this.exit = new Promise((resolve) => this.child.on("exit", (code, signal) => { this.exited = { code, signal }; resolve(this.exited); }));
    const timeoutMs = opts.timeoutMs ?? 90_000;
    this.timer = setTimeout(() => { this.timedOut = true; this.kill(); }, timeoutMs);
    this.exit.then(() => clearTimeout(this.timer));
    ws.runs.push(this);
  }

  // The native Codex process: the spawned pid itself when the node wrapper
  // exec'd into it (Node >= 22.15 has process.execve), else the wrapper's child.
  nativePid() {
    const self = procInfo(this.pid);
    if (self && path.basename(self.exe ?? "") === "codex") return this.pid;
    const c = childrenOf(this.pid).find((p) => path.basename(p.exe ?? "") === "codex");
    return c?.pid;
  }

  // The MCP server processes (keel serve) Codex started for this session.
  mcpServers() {
    const native = this.nativePid();
    if (!native) return [];
    return childrenOf(native).filter((p) => (p.cmdline ?? []).includes("serve"));
  }

  async wait(timeoutMs = 90_000) {
    const t = setTimeout(() => this.kill(), timeoutMs);
    const r = await this.exit;
    clearTimeout(t);
    return r;
  }

  kill(signal = "SIGKILL") {
    if (this.exited) return;
    const native = this.nativePid();
    for (const pid of new Set([native, this.pid].filter(Boolean))) {
      try { process.kill(pid, signal); } catch {}
    }
  }

  // Text of every agent message Codex printed (--json).
  agentMessages() {
    return this.events.filter((e) => e.type === "item.completed" && e.item?.type === "agent_message").map((e) => e.item.text);
  }

  describe() {
    return `${this.label}: exit ${JSON.stringify(this.exited)}${this.timedOut ? " (timed out)" : ""}\n` +
           `stdout:\n${this.stdout.slice(-3000)}\nstderr:\n${this.stderr.slice(-3000)}`;
  }
}

// ---- keel doctor -------------------------------------------------------------

// A directory holding the Codex CLI as `codex`, for PATH: the one CODEX_BIN is
// in when it is called codex (node_modules/.bin), else a symlink in the workspace.
export function codexPathDir(ws) {
  if (path.basename(CODEX_BIN) === "codex") return path.dirname(CODEX_BIN);
  const dir = path.join(ws.root, "bin");
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, "codex"))) fs.symlinkSync(CODEX_BIN, path.join(dir, "codex"));
  return dir;
}

// `keel doctor --agent codex [args]` run from the project as a user runs it:
// the workspace's HOME and CODEX_HOME, the real Codex CLI on PATH (so doctor's
// version check runs it). Returns { status, stdout, stderr, findings } where
// findings is the parsed --json output (when args include --json).
export function keelDoctor(ws, args = ["--json"]) {
  const env = baseEnv(ws, { PATH: `${codexPathDir(ws)}:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}` });
  const r = spawnSync(KEEL_BIN, ["doctor", "--agent", "codex", ...args],
                      { cwd: ws.repo, env, encoding: "utf8", timeout: 60_000 });
  let findings;
  if (args.includes("--json")) { try { findings = JSON.parse(r.stdout); } catch {} }
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, findings,
           describe: () => `keel doctor exit ${r.status}${r.signal ? ` (${r.signal})` : ""}${r.error ? ` (${r.error.message})` : ""}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}` };
}

// `codex --version`, the first line (what doctor should report).
export function codexVersionLine() {
  return execFileSync(CODEX_BIN, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 })
    .split("\n")[0].trim();
}
