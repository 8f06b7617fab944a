// tests/e2e/lib/pg.mjs — helpers for the suites that run keel on PostgreSQL.
//
// - a fresh database per suite, made from the superuser URL in
//   $KEEL_TEST_PG_URL (scripts/test exports it) and dropped at the end;
// - a private cluster from scripts/pg-cluster (own state file), for suites
//   that restart or pause PostgreSQL: never the shared one;
// - "nodes": keel processes that share one database and one project id
//   (KEEL_STORE_URL, KEEL_PROJECT_ID) but have their own node id, state dir
//   and project dir, as on different machines;
// - a stateless (2026-07-28) tools/call over HTTP naming the agent per request.
//
// Import ./pg_bin.mjs before this module (and before keel.mjs) so that
// every helper spawns keel-pg. psql (postgresql-client) runs the SQL.
import { execFile, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import { MODERN, RawServer, mkTmp, rmTmp, runKeel, startHttpServer } from "./keel.mjs";

const REPO = path.resolve(new URL("../../../", import.meta.url).pathname);
export const PG_CLUSTER = path.join(REPO, "scripts/pg-cluster");

// The superuser URL of the shared test server, or undefined (suites skip).
export const PG_URL = process.env.KEEL_TEST_PG_URL || undefined;
export const PG_SKIP = PG_URL ? false : "KEEL_TEST_PG_URL is not set (scripts/test exports it)";

// The URL `url` with its database replaced by `db`.
export function withDatabase(url, db) {
  const u = new URL(url);
  u.pathname = "/" + encodeURIComponent(db);
  return u.toString();
}

// Runs SQL through psql; returns its stdout (unaligned, tuples only). Throws on error.
export function psql(url, sql, { timeout = 30_000 } = {}) {
  const r = spawnSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-q", "-c", sql], {
    encoding: "utf8",
    timeout,
  });
  if (r.error) throw new Error(`psql: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`psql exit ${r.status}: ${r.stderr.trim()} (SQL: ${sql.slice(0, 200)})`);
  return r.stdout.trim();
}

// The same, asynchronously (for use while PostgreSQL may be stopped: bounded by `timeout`).
export function psqlAsync(url, sql, { timeout = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile("psql", [url, "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-q", "-c", sql], { encoding: "utf8", timeout }, (err, stdout, stderr) => {
      if (err) reject(new Error(`psql: ${err.message} ${stderr ?? ""}`));
      else resolve(stdout.trim());
    });
  });
}

// Creates a database with a random name on the server of `superUrl`.
// Resolves {name, url, drop()}; drop() terminates its sessions first.
export function createDatabase(superUrl, prefix = "keel_e2e") {
  const name = `${prefix}_${crypto.randomBytes(5).toString("hex")}`;
  psql(superUrl, `CREATE DATABASE ${name}`);
  return {
    name,
    url: withDatabase(superUrl, name),
    drop() {
      if (process.env.KEEL_KEEP_TMP === "1") return;
      try {
        psql(superUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } catch (e) {
        process.stderr.write(`warning: could not drop ${name}: ${e.message}\n`);
      }
    },
  };
}

// ------------------------------------------------------------ private cluster

function clusterEnv(stateFile) {
  const env = { ...process.env, KEEL_PG_CLUSTER_STATE: stateFile };
  delete env.KEEL_PG_BIN; // scripts/pg-cluster reads it as PostgreSQL's bin dir
  return env;
}

function cluster(cmd, stateFile, timeout = 120_000) {
  const r = spawnSync(PG_CLUSTER, [cmd], { encoding: "utf8", env: clusterEnv(stateFile), timeout });
  if (r.error) throw new Error(`pg-cluster ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`pg-cluster ${cmd} exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

// The same without blocking the event loop (faults are injected under load).
function clusterAsync(cmd, stateFile, timeout = 120_000) {
  return new Promise((resolve, reject) => {
    execFile(PG_CLUSTER, [cmd], { encoding: "utf8", env: clusterEnv(stateFile), timeout }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pg-cluster ${cmd}: ${err.message} ${stderr ?? ""}`));
      else resolve(stdout.trim());
    });
  });
}

// True when scripts/pg-cluster can start a cluster here (PostgreSQL 15 installed).
export function clusterAvailable() {
  const bin = process.env.KEEL_PG_BIN || "/usr/lib/postgresql/15/bin";
  try {
    fs.accessSync(path.join(bin, "initdb"), fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// Starts a private cluster (its own temp dir, port and state file). Returns
// {url, stateFile, restartImmediate(), pause(), resume(), stop()}: the fault
// commands are async (they run under load); stop() is synchronous and safe twice.
export function startCluster() {
  const stateDir = mkTmp("keel-pgc-");
  const stateFile = path.join(stateDir, "cluster.state");
  let url;
  try {
    url = cluster("start", stateFile).split("\n").pop();
  } catch (e) {
    // It may have started before failing: stop what its state file records.
    try {
      cluster("stop", stateFile, 60_000);
    } catch {
      /* nothing recorded */
    }
    rmTmp(stateDir);
    throw e;
  }
  let stopped = false;
  const c = {
    url,
    stateFile,
    restartImmediate: () => clusterAsync("restart-immediate", stateFile),
    pause: () => clusterAsync("pause", stateFile),
    resume: () => clusterAsync("resume", stateFile),
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        cluster("stop", stateFile);
      } finally {
        rmTmp(stateDir);
      }
    },
  };
  // A test process that dies leaves no paused or running cluster behind.
  process.once("exit", () => {
    if (!stopped) {
      try {
        cluster("stop", stateFile, 60_000);
      } catch {
        /* best effort */
      }
    }
  });
  return c;
}

// ---------------------------------------------------------------------- nodes

// A node: its own dir with `state/` and `project/`, env naming the shared
// store and project and its own node id. `config` (an object) is written as
// its keel.jsonc. Returns {id, dir, stateDir, projectDir, env, args, keel(), serveStdio(), serveHttp()}.
export function makeNode(root, id, { storeUrl, projectId, config } = {}) {
  const dir = path.join(root, id);
  const stateDir = path.join(dir, "state");
  const projectDir = path.join(dir, "project");
  fs.mkdirSync(projectDir, { recursive: true });
  const args = ["--state", stateDir, "--project", projectDir];
  if (config) {
    const file = path.join(dir, "keel.jsonc");
    fs.writeFileSync(file, JSON.stringify(config));
    args.push("--config", file);
  }
  const env = { ...process.env, KEEL_STORE_URL: storeUrl, KEEL_PROJECT_ID: projectId, KEEL_NODE_ID: id };
  delete env.KEEL_AGENT;
  return {
    id,
    dir,
    stateDir,
    projectDir,
    env,
    args,
    // `keel ARGS...` as this node (a CLI process is a node of its own).
    keel: (cmd, opts = {}) => runKeel([...cmd, ...args], { cwd: projectDir, env, ...opts }),
    // `keel serve --stdio --agent AGENT` as this node.
    serveStdio: (agent, { label = `${id}/${agent}` } = {}) =>
      new RawServer(["serve", "--stdio", "--agent", agent, ...args], { cwd: projectDir, env, label }),
    // `keel serve --http 127.0.0.1:0` as this node (agents named per request).
    serveHttp: (opts = {}) =>
      startHttpServer({ stateDir, extraArgs: args.slice(2), cwd: projectDir, env, ...opts }),
  };
}

// A temp root for a suite's nodes, with its cleanup.
export function nodeRoot(prefix) {
  const root = mkTmp(prefix);
  return { root, remove: () => rmTmp(root) };
}

// -------------------------------------------------------------- HTTP calls

let nextId = 1;

// One stateless tools/call to `url` as `agent`. Resolves
// {ms, status, msg, result, isError, code, sc}: code is the tool error's code
// (dev.keel/error), sc the structuredContent. Rejects on a transport failure
// or after `timeout` ms.
export async function httpTool(url, agent, name, args, { timeout = 30_000 } = {}) {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: nextId++,
    method: "tools/call",
    params: {
      name,
      arguments: args,
      _meta: {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { name: agent, version: "1.0.0" },
      },
    },
  });
  const t0 = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN,
      "mcp-method": "tools/call",
      "mcp-name": name,
    },
    body,
    signal: AbortSignal.timeout(timeout),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  let msg;
  const ct = res.headers.get("content-type") ?? "";
  if (ct.startsWith("text/event-stream")) {
    // The last data: line carrying a JSON-RPC response.
    for (const line of text.split(/\r?\n/)) {
      if (!line.startsWith("data:")) continue;
      try {
        const m = JSON.parse(line.slice(5).trim());
        if (m && ("result" in m || "error" in m)) msg = m;
      } catch {
        /* not JSON */
      }
    }
  } else {
    try {
      msg = JSON.parse(text);
    } catch {
      /* below */
    }
  }
  if (!msg) throw new Error(`${name} as ${agent}: HTTP ${res.status}, no JSON-RPC response: ${text.slice(0, 300)}`);
  return toolOutcome(msg, ms, res.status);
}

// {ms, status, msg, result, isError, code, sc, text} from a JSON-RPC response message.
export function toolOutcome(msg, ms = undefined, status = undefined) {
  const result = msg.result;
  return {
    ms,
    status,
    msg,
    result,
    isError: !!msg.error || result?.isError === true,
    code: msg.error ? `JSONRPC_${msg.error.code}` : result?._meta?.["dev.keel/error"]?.code,
    sc: result?.structuredContent,
    text: msg.error ? msg.error.message : result?.content?.[0]?.text,
  };
}

// A tools/call on a RawServer (stdio), with the same outcome shape as httpTool.
export async function stdioTool(server, name, args, { timeout = 30_000 } = {}) {
  const t0 = performance.now();
  const msg = await server.callTool(name, args, { timeout });
  return toolOutcome(msg, performance.now() - t0);
}
