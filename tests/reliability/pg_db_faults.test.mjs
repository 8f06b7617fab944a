// tests/reliability/pg_db_faults.test.mjs — PostgreSQL itself fails under load.
//
// Two `keel-pg serve --http` nodes (own node id and state dir; one database
// of a private cluster; config store.pg_call_timeout_ms = 1500) serve 8
// clients (4 per node) that stream memory_put of their own keys and, every
// fourth step, lease_acquire + fenced memory_put + lease_release on 4 shared
// names. In the middle of the load:
//   1. PostgreSQL is restarted crash-like (`pg-cluster restart-immediate`);
//   2. later it is paused (`pg-cluster pause`: SIGSTOP of the postmaster and
//      its children) for 4x the call timeout, then resumed.
// Pass:
//   - no call hangs: every call, during the faults too, answers within 3x the
//     call timeout; a call that fails is a tool error BUSY or INTERNAL (a
//     fenced write or a release may also meet its lease gone: STALE_FENCE,
//     EXPIRED, NOT_FOUND), never a JSON-RPC or HTTP failure; a call made
//     while PostgreSQL is paused fails BUSY/INTERNAL while it is still paused
//     (it does not wait for the resume);
//   - every node serves again without a restart (same processes), and a
//     waiter on one node is woken by a release on the other;
//   - no acknowledged write lost: each acknowledged memory_put reads back with
//     its value and has its MEMORY_PUT record;
//   - from the journal fold: no two live holds of a name, tokens increasing,
//     fenced writes only under the live hold, every grant a client saw journaled;
//   - `journal verify` and `journal replay` pass.
import "../e2e/lib/pg_bin.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import { show, sleep } from "../e2e/lib/keel.mjs";
import { httpTool } from "../e2e/lib/pg.mjs";
import { PG_REL_SKIP, exportJournal, foldExclusive, pgSuite, verifyAndReplay } from "./pg_common.mjs";

const CALL_TIMEOUT_MS = 1500;
const BOUND_MS = 3 * CALL_TIMEOUT_MS;
const CLIENTS = 8;
const NAMES = 4;
const LEASE_TTL_MS = 5000;
const PAUSE_MS = 4 * CALL_TIMEOUT_MS;
const STORE_CODES = new Set(["BUSY", "INTERNAL"]);
const LEASE_GONE = new Set(["STALE_FENCE", "EXPIRED", "NOT_FOUND"]);

const fx = pgSuite("pg_dbf", { config: { store: { pg_call_timeout_ms: CALL_TIMEOUT_MS } } });

const nameOf = (k) => `name:dbf/${k}`;
const keyOf = (k) => `dbf/${k}`;

test("PostgreSQL restarted and paused under load: bounded errors, nothing acknowledged lost, every node serves again", { skip: PG_REL_SKIP, timeout: 600_000 }, async (t) => {
  const servers = await Promise.all(fx.nodes.map((n) => n.serveHttp({ timeout: 60_000 })));
  // The servers hold the test process open: stop them whatever happens.
  fx.cleanups.push(() => Promise.all(servers.map((s) => s.stop())));
  const urls = servers.map((s) => s.url);
  const pids = servers.map((s) => s.pid);
  let phase = "before";
  const calls = []; // {node, tool, phase, t0, t1, ms, ok, code, text, transport}
  const puts = []; // acknowledged {key, value}
  const grants = []; // {token, k, node}
  const accepted = []; // fenced writes acknowledged {token}

  // One call, recorded; never throws (a transport failure is recorded as such).
  const call = async (node, agent, tool, args, lease = false) => {
    const ph = phase;
    const t0 = performance.now();
    try {
      const r = await httpTool(urls[node], agent, tool, args, { timeout: 30_000 });
      calls.push({ node, tool, phase: ph, t0, t1: performance.now(), ms: r.ms, ok: !r.isError, code: r.code, text: r.text, lease });
      return r;
    } catch (e) {
      calls.push({ node, tool, phase: ph, t0, t1: performance.now(), ms: performance.now() - t0, ok: false, transport: e.message, lease });
      return null;
    }
  };

  let stop = false;
  const client = async (c) => {
    const node = c % 2;
    const agent = `dbf-${c}`;
    for (let j = 0; !stop; j++) {
      if (j % 4 === 3) {
        const k = Math.floor(Math.random() * NAMES);
        const a = await call(node, agent, "lease_acquire", { name: nameOf(k), ttl_ms: LEASE_TTL_MS, wait_ms: 0 }, true);
        if (!a || a.isError || a.sc?.granted !== true) continue;
        grants.push({ token: a.sc.token, k, node });
        const p = await call(node, agent, "memory_put", { namespace: "shared", key: keyOf(k), value: { agent, token: a.sc.token }, fence: { name: nameOf(k), token: a.sc.token } }, true);
        if (p && !p.isError) accepted.push({ token: a.sc.token });
        await call(node, agent, "lease_release", { name: nameOf(k), lease_id: a.sc.lease_id }, true);
        continue;
      }
      const key = `dbf/c${c}/${j}`;
      const value = { c, j };
      const r = await call(node, agent, "memory_put", { namespace: "shared", key, value });
      if (r && !r.isError) puts.push({ key, value });
      else await sleep(50); // a failing store: do not spin
    }
  };

  const load = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  await sleep(2000);
  phase = "restart";
  const tr0 = performance.now();
  await fx.cluster.restartImmediate();
  const restartMs = performance.now() - tr0;
  phase = "after-restart";
  await sleep(3000);
  phase = "pause";
  await fx.cluster.pause();
  const pausedAt = performance.now();
  await sleep(PAUSE_MS);
  const resumeAt = performance.now();
  await fx.cluster.resume();
  phase = "after-pause";
  // Every node serves again (same processes): a write through each succeeds.
  const recovered = [];
  for (const node of [0, 1]) {
    const t0 = performance.now();
    for (;;) {
      const r = await httpTool(urls[node], "dbf-probe", "memory_put", { namespace: "shared", key: `dbf/probe/${node}`, value: node }, { timeout: 30_000 });
      if (!r.isError) break;
      assert.ok(performance.now() - t0 < 20_000, `node ${node} does not serve 20 s after the resume: ${r.code} ${r.text}`);
      await sleep(200);
    }
    recovered.push(performance.now() - t0);
  }
  await sleep(3000);
  stop = true;
  await load;
  servers.forEach((s, i) => assert.equal(s.pid, pids[i]));
  for (const s of servers) {
    const st = await Promise.race([s.exited.then(() => "exited"), sleep(10).then(() => "running")]);
    assert.equal(st, "running", "a node exited during the faults");
  }

  // ------------------------------------------------------------ the calls
  const by = (ph) => calls.filter((c) => c.phase === ph);
  // Timing and error-shape problems are collected, so that one run reports
  // them all and still checks the state below; asserted at the end.
  const problems = [];
  const expect = (cond, msg) => cond || problems.push(msg);
  const transport = calls.filter((c) => c.transport);
  expect(transport.length === 0, `calls failed outside the tool protocol (hang, HTTP or JSON-RPC error): ${show(transport.slice(0, 3))}`);
  const slow = calls.filter((c) => c.ms > BOUND_MS);
  expect(slow.length === 0, `calls slower than ${BOUND_MS} ms (3x the call timeout): ${show(slow.slice(0, 5))}`);
  const unclear = calls.filter((c) => !c.ok && !STORE_CODES.has(c.code) && !(c.lease && LEASE_GONE.has(c.code)));
  expect(unclear.length === 0, `failed calls without a BUSY/INTERNAL error: ${show(unclear.slice(0, 5))}`);
  // Calls made while PostgreSQL was surely stopped, early enough to time out
  // before the resume: each failed BUSY/INTERNAL before the resume.
  const show1 = (c) => ({ ...c, t0: (c.t0 - pausedAt).toFixed(0), t1: (c.t1 - pausedAt).toFixed(0) });
  // ...and a call in flight for 2x the call timeout while it was paused ended
  // before the resume (it did not hang until PostgreSQL came back).
  const hung = calls.filter((c) => c.t0 <= resumeAt - 2 * CALL_TIMEOUT_MS && c.t1 > resumeAt);
  expect(hung.length === 0, `${hung.length} calls in flight while PostgreSQL was paused waited for the resume instead of failing (pause ${PAUSE_MS} ms, call timeout ${CALL_TIMEOUT_MS} ms; times from the pause): ${show(hung.slice(0, 4).map(show1))}`);
  const inPause = calls.filter((c) => c.t0 >= pausedAt && c.t0 <= resumeAt - 2 * CALL_TIMEOUT_MS);
  expect(inPause.length > 0, "no call was made while PostgreSQL was paused");
  const succeeded = inPause.filter((c) => c.ok);
  expect(succeeded.length === 0, `calls made while PostgreSQL was paused succeeded: ${show(succeeded.slice(0, 3).map(show1))}`);
  const pauseFailures = inPause;
  expect(by("before").every((c) => c.ok || c.lease), `calls failed before any fault: ${show(by("before").filter((c) => !c.ok).slice(0, 3))}`);
  expect(by("after-pause").some((c) => c.ok && c.node === 0) && by("after-pause").some((c) => c.ok && c.node === 1), "a node did not serve after the resume");

  // A waiter on one node is woken by a release on the other (the listener is back, or the poll).
  const held = await httpTool(urls[0], "dbf-holder", "lease_acquire", { name: "name:dbf/wake", ttl_ms: 30_000, wait_ms: 0 });
  assert.equal(held.sc?.granted, true, show(held.msg));
  const waiting = httpTool(urls[1], "dbf-waiter", "lease_acquire", { name: "name:dbf/wake", ttl_ms: 30_000, wait_ms: 15_000 }, { timeout: 30_000 });
  await sleep(500);
  const tw = performance.now();
  await httpTool(urls[0], "dbf-holder", "lease_release", { name: "name:dbf/wake", lease_id: held.sc.lease_id });
  const woke = await waiting;
  assert.equal(woke.sc?.granted, true, show(woke.msg));
  const wokeMs = performance.now() - tw;
  assert.ok(wokeMs < 3000, `the waiter on node 2 woke ${wokeMs.toFixed(0)} ms after the release on node 1`);

  // ------------------------------------------------------------ the state
  const recs = await exportJournal(fx);
  const journaled = new Set(recs.filter((r) => r.op === "MEMORY_PUT").map((r) => r.subject));
  const unjournaled = puts.filter((p) => !journaled.has(`memory:cross_run/shared/${p.key}`));
  assert.equal(unjournaled.length, 0, `${unjournaled.length} of ${puts.length} acknowledged puts have no MEMORY_PUT record; first: ${show(unjournaled.slice(0, 3))}`);
  const bad = [];
  for (let off = 0; off < puts.length; off += 32) {
    const chunk = puts.slice(off, off + 32);
    const got = await Promise.all(chunk.map((p, i) => httpTool(urls[(off + i) % 2], "dbf-reader", "memory_get", { namespace: "shared", key: p.key })));
    got.forEach((r, i) => {
      if (r.isError || r.sc?.found !== true || JSON.stringify(r.sc.value) !== JSON.stringify(chunk[i].value)) bad.push({ key: chunk[i].key, got: r.isError ? r.code : r.sc });
    });
  }
  assert.equal(bad.length, 0, `${bad.length} of ${puts.length} acknowledged writes lost or wrong; first: ${show(bad.slice(0, 3))}`);

  const f = foldExclusive(recs, "name:dbf/", "memory:cross_run/shared/dbf/");
  const missingGrants = grants.filter((g) => !f.tokens.has(g.token));
  assert.equal(missingGrants.length, 0, `grants a client saw but the journal lacks: ${show(missingGrants.slice(0, 3))}`);
  const missingPuts = accepted.filter((g) => !f.putTokens.has(g.token));
  assert.equal(missingPuts.length, 0, `accepted fenced writes the journal lacks: ${show(missingPuts.slice(0, 3))}`);
  await verifyAndReplay(fx, "after the faults");

  assert.equal(problems.length, 0, `during the faults:\n- ${problems.join("\n- ")}`);
  const fail = (ph) => by(ph).filter((c) => !c.ok).length;
  const maxMs = (ph) => Math.max(0, ...by(ph).map((c) => c.ms)).toFixed(0);
  const summary =
    `pg db faults: ${calls.length} calls from ${CLIENTS} clients on 2 nodes; restart-immediate took ${restartMs.toFixed(0)} ms: ` +
    `${by("restart").length} calls during it (${fail("restart")} failed, max ${maxMs("restart")} ms); pause ${PAUSE_MS} ms: ` +
    `${by("pause").length} calls (${fail("pause")} failed BUSY/INTERNAL, ${pauseFailures.length} made while surely paused all failed before the resume, max ${maxMs("pause")} ms, bound ${BOUND_MS}); ` +
    `nodes served again ${recovered.map((m) => m.toFixed(0)).join("/")} ms after the resume; ${puts.length} acknowledged puts all present; ` +
    `${f.acquires} ACQUIRE, ${f.puts} fenced writes, 0 overlaps; verify+replay ok`;
  t.diagnostic(summary);
  if (process.env.KEEL_RELIABILITY_REPORT) fs.appendFileSync(process.env.KEEL_RELIABILITY_REPORT, summary + "\n");
});
