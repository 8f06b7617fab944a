// tests/integration/scavenge.test.mjs — a dead holder's leases are freed at
// once (SCAVENGE), not at their TTL.
//
// A "holder" is a small Node process (written into the test's temp dir) that
// starts `keel serve --stdio` itself, without --agent or KEEL_AGENT: keel does
// not know the holder as an agent, so it keeps a random name but anchors the
// agent on its client process, the holder. The holder acquires one lease
// (ttl 10 min) and then waits forever. When the holder dies, every keel
// process on the host must free its lease: the stdio server at EOF, the
// liveness sweeper of every `keel serve`, a conflicting lease_acquire.
//
//   1. 8 holders of 8 leases are SIGKILLed at once (a `keel serve --http`
//      sweeps the same state dir): 8 SCAVENGE records, one per holder, each
//      within 1 s of the kill; no lease left; replay equals the lease table.
//   2. A holder that stays alive keeps its lease (1.5 s, sweepers running).
//   3. Holder and its keel server SIGKILLed together (nobody scavenges at
//      EOF): another agent's lease_acquire of the name is granted at once,
//      and the journal shows SCAVENGE before that ACQUIRE.
//
// Run: KEEL_BIN=build/keel node --test tests/integration/scavenge.test.mjs
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

// Every keel here runs in the test's temp dir: a relative KEEL_BIN (as in
// KEEL_BIN=build/keel) is resolved first, before the helpers read it.
if (process.env.KEEL_BIN) process.env.KEEL_BIN = path.resolve(process.env.KEEL_BIN);
const {
  KEEL_BIN,
  RawServer,
  mkTmp,
  onLines,
  parseJsonl,
  payloadOf,
  requireBinary,
  rmTmp,
  runKeel,
  show,
  sleep,
  startHttpServer,
  trackPid,
  withTimeout,
} = await import("../e2e/lib/keel.mjs");

const HOLDERS = 8;
const SCAVENGE_BUDGET_MS = 1000;

// The environment of every keel and holder process: no agent name given, no
// state dir or config from the caller's environment.
function cleanEnv() {
  const env = { ...process.env };
  for (const k of ["KEEL_AGENT", "KEEL_STATE_DIR", "KEEL_CONFIG"]) delete env[k];
  return env;
}

const STREAMS_URL = new URL("../e2e/lib/streams.mjs", import.meta.url).href;

// The holder: speaks newline-delimited JSON-RPC to its own `keel serve
// --stdio`, prints one JSON line {pid, keel_pid, grant | error}, and waits.
const HOLDER_SRC = String.raw`
import { spawn } from "node:child_process";
import { onLines } from ${JSON.stringify(STREAMS_URL)};
const [bin, stateDir, name] = process.argv.slice(2);
const keel = spawn(bin, ["serve", "--stdio", "--state", stateDir], {
  stdio: ["pipe", "pipe", "inherit"],
});
keel.stdin.on("error", () => {});
const out = (o) => process.stdout.write(JSON.stringify({ pid: process.pid, keel_pid: keel.pid, ...o }) + "\n");
keel.on("error", (e) => out({ error: "spawn: " + e.message }));
keel.on("exit", (code, signal) => out({ keel_exit: { code, signal } }));
const pending = new Map();
onLines(keel.stdout, (line) => {
  let msg;
  try { msg = JSON.parse(line); } catch { return; }
  const p = pending.get(msg.id);
  if (p) { pending.delete(msg.id); p(msg); }
});
let nextId = 1;
const request = (method, params) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    keel.stdin.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
  });
try {
  const init = await request("initialize", {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "scavenge-holder", version: "1.0.0" },
  });
  if (init.error) throw new Error("initialize: " + JSON.stringify(init.error));
  keel.stdin.write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) + "\n");
  const res = await request("tools/call", { name: "lease_acquire", arguments: { name, ttl_ms: 600000 } });
  if (res.error || res.result?.isError || res.result?.structuredContent?.granted !== true) {
    out({ error: "lease_acquire: " + JSON.stringify(res) });
  } else {
    out({ grant: res.result.structuredContent });
  }
} catch (e) {
  out({ error: String(e?.stack ?? e) });
}
setInterval(() => {}, 1 << 30); // wait forever: the test kills this process
`;

const dirs = [];
const holders = [];
after(() => {
  for (const h of holders) h.kill();
  for (const d of dirs) rmTmp(d);
});

// A fresh project (the temp dir: no git root above it) with its state dir and
// the holder script.
function sandbox(prefix) {
  requireBinary();
  const tmp = fs.realpathSync(mkTmp(prefix));
  dirs.push(tmp);
  const stateDir = path.join(tmp, "state");
  const script = path.join(tmp, "holder.mjs");
  fs.writeFileSync(script, HOLDER_SRC);
  const keel = (args, opts = {}) => runKeel([...args, "--state", stateDir], { cwd: tmp, env: cleanEnv(), ...opts });
  return { tmp, stateDir, script, keel };
}

// Starts one holder of lease `name`; resolves once it reports its grant:
//   {pid, keelPid, grant, child, exited, kill(), stderr()}
function startHolder(box, name, { timeout = 30_000 } = {}) {
  const child = spawn(process.execPath, [box.script, KEEL_BIN, box.stateDir, name], {
    cwd: box.tmp,
    env: cleanEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  trackPid(child.pid);
  const h = {
    name,
    child,
    pid: child.pid,
    keelPid: undefined,
    grant: undefined,
    reports: [],
    err: [],
    stderr: () => Buffer.concat(h.err).toString("utf8"),
    kill: (sig = "SIGKILL") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      if (h.keelPid) killPid(h.keelPid, sig);
    },
  };
  holders.push(h);
  h.exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  child.stderr.on("data", (d) => h.err.push(d));
  return withTimeout(
    new Promise((resolve, reject) => {
      onLines(child.stdout, (line) => {
        const msg = JSON.parse(line);
        h.reports.push(msg);
        if (msg.keel_pid && !h.keelPid) {
          h.keelPid = msg.keel_pid;
          trackPid(msg.keel_pid);
        }
        if (msg.grant) {
          h.grant = msg.grant;
          resolve(h);
        } else if (msg.error) {
          reject(new Error(`holder of ${name}: ${msg.error}\nstderr:\n${h.stderr().slice(-2000)}`));
        } else if (msg.keel_exit && !h.grant) {
          reject(new Error(`holder of ${name}: keel exited ${show(msg.keel_exit)}\nstderr:\n${h.stderr().slice(-2000)}`));
        }
      });
      h.exited.then((st) => reject(new Error(`holder of ${name} exited ${show(st)}\nstderr:\n${h.stderr().slice(-2000)}`)));
    }),
    timeout,
    `holder of ${name} to be granted`,
  );
}

function killPid(pid, sig = "SIGKILL") {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

// True once `pid` has no running process (gone, or a zombie nobody reaped yet).
function processGone(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return true;
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state === "Z" || state === "X";
}

async function waitGone(pid, what, timeout = 10_000) {
  const t0 = Date.now();
  while (!processGone(pid)) {
    if (Date.now() - t0 > timeout) throw new Error(`${what} (pid ${pid}) still running after ${timeout} ms`);
    await sleep(10);
  }
}

async function journal(box, op) {
  const args = ["journal", "tail", "--json", "--limit", "10000"];
  if (op) args.push("--op", op);
  const r = await box.keel(args);
  assert.equal(r.code, 0, `journal tail exit ${r.code}: ${r.stderr}`);
  return parseJsonl(r.stdout);
}

async function leases(box) {
  const r = await box.keel(["lease", "ls", "--json"]);
  assert.equal(r.code, 0, `lease ls exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout).leases;
}

async function agents(box, all = false) {
  const r = await box.keel(["agents", "ls", "--json", ...(all ? ["--all"] : [])]);
  assert.equal(r.code, 0, `agents ls exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout).agents;
}

async function assertJournalConsistent(box) {
  const rep = await box.keel(["journal", "replay"]);
  assert.equal(rep.code, 0, `journal replay exit ${rep.code}:\n${rep.stdout}\n${rep.stderr}`);
  assert.match(rep.stdout, /replay equals the lease table/);
  const ver = await box.keel(["journal", "verify"]);
  assert.equal(ver.code, 0, `journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);
  assert.match(ver.stdout, /journal intact/);
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

test(`${HOLDERS} holders SIGKILLed at once: ${HOLDERS} SCAVENGE records within ${SCAVENGE_BUDGET_MS} ms`, { timeout: 120_000 }, async (t) => {
  const box = sandbox("keel-scavenge-");
  const http = await startHttpServer({ stateDir: box.stateDir, cwd: box.tmp, env: cleanEnv() });
  try {
    const hs = await Promise.all(Array.from({ length: HOLDERS }, (_, i) => startHolder(box, `file:/x/${i}`)));

    // Every holder is its own agent, anchored on the holder's process.
    const names = new Set(hs.map((h) => h.grant.holder));
    assert.equal(names.size, HOLDERS, `one agent per holder: ${show(hs.map((h) => h.grant))}`);
    const live = await leases(box);
    assert.equal(live.length, HOLDERS, `every lease is live before the kill: ${show(live)}`);
    const before = await agents(box);
    for (const h of hs) {
      const a = before.find((x) => x.name === h.grant.holder);
      assert.ok(a, `agents ls lists ${h.grant.holder}: ${show(before)}`);
      assert.equal(a.pid, h.pid, `${a.name} is anchored on its holder (pid ${h.pid}), not on keel: ${show(a)}`);
      assert.equal(a.status, "active", show(a));
      assert.deepEqual(a.leases, [h.name], show(a));
    }
    assert.equal((await journal(box, "SCAVENGE")).length, 0, "no SCAVENGE before the kill");

    // Kill the 8 holders at once (not their keel servers).
    const killedAt = Date.now();
    for (const h of hs) h.child.kill("SIGKILL");
    await Promise.all(hs.map((h) => h.exited));

    let recs = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      recs = await journal(box, "SCAVENGE");
      if (recs.length >= HOLDERS) break;
      await sleep(50);
    }
    assert.equal(recs.length, HOLDERS, `${HOLDERS} SCAVENGE records within 10 s, got ${recs.length}: ${show(recs)}`);

    const delays = [];
    for (const h of hs) {
      const mine = recs.filter((r) => r.principal === h.grant.holder);
      assert.equal(mine.length, 1, `one SCAVENGE for ${h.grant.holder} (holder pid ${h.pid}): ${show(recs)}`);
      const r = mine[0];
      const p = payloadOf(r);
      assert.equal(r.subject, h.grant.holder, show(r));
      assert.equal(p.agent, h.grant.holder, show(r));
      assert.equal(p.pid, h.pid, `SCAVENGE names the holder's pid ${h.pid} (keel's is ${h.keelPid}): ${show(r)}`);
      assert.equal(typeof p.host, "string", show(r));
      assert.ok(p.host.length > 0, `SCAVENGE names the host: ${show(r)}`);
      assert.ok(Number.isInteger(p.start_time) && p.start_time > 0, `SCAVENGE names the start time: ${show(r)}`);
      assert.deepEqual(
        p.leases,
        [{ lease_id: h.grant.lease_id, name: h.name, token: h.grant.token }],
        `SCAVENGE of ${h.grant.holder} frees exactly its lease: ${show(r)}`,
      );
      const delay = r.ts - killedAt;
      assert.ok(delay >= 0, `SCAVENGE of ${h.grant.holder} at ${r.ts} precedes the kill at ${killedAt}`);
      delays.push(delay);
    }
    delays.sort((a, b) => a - b);
    t.diagnostic(
      `SCAVENGE delay after SIGKILL of ${HOLDERS} holders: max ${delays.at(-1)} ms, median ${median(delays)} ms ` +
        `(all: ${delays.join(", ")} ms)`,
    );
    assert.ok(
      delays.at(-1) < SCAVENGE_BUDGET_MS,
      `every SCAVENGE within ${SCAVENGE_BUDGET_MS} ms of the kill; delays ${delays.join(", ")} ms`,
    );

    assert.deepEqual(await leases(box), [], "no lease left");
    const after = await agents(box);
    for (const h of hs) {
      assert.ok(!after.some((a) => a.name === h.grant.holder), `${h.grant.holder} is not listed live: ${show(after)}`);
    }
    const all = await agents(box, true);
    for (const h of hs) {
      const a = all.find((x) => x.name === h.grant.holder);
      assert.ok(a, `agents ls --all lists ${h.grant.holder}: ${show(all)}`);
      assert.equal(a.status, "gone", show(a));
      assert.deepEqual(a.leases, [], show(a));
    }
    await assertJournalConsistent(box);

    // The holders' keel servers see EOF and exit on their own.
    for (const h of hs) await waitGone(h.keelPid, `keel serve of the holder of ${h.name}`);
  } finally {
    for (const h of holders) h.kill();
    await http.stop();
  }
});

test("a holder that stays alive keeps its lease", { timeout: 60_000 }, async () => {
  const box = sandbox("keel-scavenge-alive-");
  const http = await startHttpServer({ stateDir: box.stateDir, cwd: box.tmp, env: cleanEnv() });
  let h;
  try {
    h = await startHolder(box, "file:/x/alive");
    // Here the wait is the point: six sweeps of the HTTP server and of the
    // holder's own keel run meanwhile.
    await sleep(1500);
    assert.deepEqual(await journal(box, "SCAVENGE"), [], "no SCAVENGE of a live holder");
    const live = await leases(box);
    assert.equal(live.length, 1, show(live));
    assert.equal(live[0].name, "file:/x/alive", show(live));
    assert.equal(live[0].holder, h.grant.holder, show(live));
    assert.equal(live[0].lease_id, h.grant.lease_id, show(live));
    assert.equal(live[0].token, h.grant.token, show(live));
    const as = await agents(box);
    const a = as.find((x) => x.name === h.grant.holder);
    assert.ok(a, show(as));
    assert.equal(a.status, "active", show(a));
    assert.equal(a.pid, h.pid, show(a));
    assert.equal(processGone(h.pid), false, "the holder still runs");
    await assertJournalConsistent(box);
  } finally {
    h?.kill();
    await http.stop();
  }
});

test("a dead holder's lease goes at once to another agent's lease_acquire", { timeout: 60_000 }, async (t) => {
  const box = sandbox("keel-scavenge-acquire-");
  const NAME = "file:/x/contended";
  const h = await startHolder(box, NAME);
  // The other agent, started before the death: its own sweeper has swept
  // already (and sweeps again every 250 ms), so right after the death the
  // acquire usually finds the dead hold itself.
  const other = new RawServer(["serve", "--stdio", "--agent", "other", "--state", box.stateDir], {
    cwd: box.tmp,
    env: cleanEnv(),
    label: "other",
  });
  try {
    await other.initialize();
    const busy = await other.tool("lease_acquire", { name: NAME, ttl_ms: 60_000, wait_ms: 0 });
    assert.notEqual(busy.structuredContent?.granted, true, `a live holder's lease is not granted: ${show(busy)}`);

    // Holder and its keel server die together: no keel process sees EOF.
    killPid(h.keelPid);
    h.child.kill("SIGKILL");
    await h.exited;
    await waitGone(h.keelPid, "the holder's keel serve");

    const t0 = performance.now();
    const acq = await other.tool("lease_acquire", { name: NAME, ttl_ms: 60_000, wait_ms: 0 });
    const ms = performance.now() - t0;
    const g = acq.structuredContent ?? {};
    assert.equal(acq.isError, false, show(acq));
    assert.equal(g.granted, true, `granted at once (wait_ms 0): ${show(acq)}`);
    assert.equal(g.holder, "other", show(acq));
    assert.ok(g.token > h.grant.token, `a higher token than the dead holder's: ${show(acq)}`);
    const bySweeper = /scavenged \S+ \(pid/.test(other.stderr());
    t.diagnostic(`acquire after the death: ${ms.toFixed(1)} ms; freed by ${bySweeper ? "the sweeper" : "the acquire"}`);

    const recs = (await journal(box)).filter((r) => r.op === "SCAVENGE" || (r.op === "ACQUIRE" && r.subject === NAME));
    const scav = recs.filter((r) => r.op === "SCAVENGE");
    assert.equal(scav.length, 1, `one SCAVENGE: ${show(recs)}`);
    assert.equal(scav[0].principal, h.grant.holder, show(scav[0]));
    assert.equal(payloadOf(scav[0]).pid, h.pid, show(scav[0]));
    assert.deepEqual(payloadOf(scav[0]).leases, [{ lease_id: h.grant.lease_id, name: NAME, token: h.grant.token }], show(scav[0]));
    const acquires = recs.filter((r) => r.op === "ACQUIRE");
    assert.equal(acquires.length, 2, `the holder's ACQUIRE and the other's: ${show(recs)}`);
    const mine = acquires.find((r) => r.principal === "other");
    assert.ok(mine, show(acquires));
    assert.equal(payloadOf(mine).token, g.token, show(mine));
    assert.ok(scav[0].seq < mine.seq, `SCAVENGE (seq ${scav[0].seq}) before the ACQUIRE (seq ${mine.seq})`);

    const live = await leases(box);
    assert.equal(live.length, 1, show(live));
    assert.equal(live[0].holder, "other", show(live));
    await assertJournalConsistent(box);
  } finally {
    h.kill();
    const exit = await other.closeAndWait();
    assert.equal(exit.code, 0, show(exit));
  }
});
