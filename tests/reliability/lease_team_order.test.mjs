// tests/reliability/lease_team_order.test.mjs — multi-name leases across processes (SQLite).
//
// 1. Opposite orders: 32 `keel serve --stdio` processes each take two names
//    in ONE lease_acquire {names} — half ask ["…/a", "…/b"], half ["…/b",
//    "…/a"] — with wait_ms, write each name's resource fenced with its token,
//    and release the group, 10 rounds each (40 with KEEL_RELIABILITY_LONG=1),
//    all at once. Taking the names one at a time in opposite orders
//    deadlocks until a TTL runs out; here the TTL (30 s) outlasts the run, so
//    every process must finish its rounds with every acquire granted and no
//    EXPIRE: no deadlock. From the journal fold: no two live holds of a name,
//    each acquire's two ACQUIRE records consecutive (one transaction), of one
//    holder and time, tokens ascending in name order, every fenced write under
//    the live hold; `journal verify` and `journal replay` pass.
// 2. Under kill -9: 16 processes take 2 or 3 of three names (random order)
//    with TTL 1.5 s while holders are SIGKILLed or SIGSTOPped past the TTL
//    with their fenced writes queued (refused STALE_FENCE on SIGCONT). From
//    the fold: no overlap of exclusive holds (live or in time), groups atomic,
//    every grant and accepted write a client saw journaled.
// Duration: ~25 s + ~20 s short; KEEL_LT_SECONDS sets part 2's contention time.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import { stdioStateFixture } from "../e2e/lib/fixture.mjs";
import { parseJsonl, show } from "../e2e/lib/keel.mjs";
import { foldLeases } from "./lib/lease_fold.mjs";
import { runOppositeOrders, runWithFaults } from "./lib/lease_fold_runs.mjs";

const LONG = process.env.KEEL_RELIABILITY_LONG === "1";
const ROUNDS = LONG ? 40 : 10;
const PROCS = 32;
const FAULT_SECONDS = Number(process.env.KEEL_LT_SECONDS ?? (LONG ? 240 : 20));
const FAULT_PROCS = 16;

const fx = stdioStateFixture("keel-rel-lt-order-");
const report = (line) => {
  if (process.env.KEEL_RELIABILITY_REPORT) fs.appendFileSync(process.env.KEEL_RELIABILITY_REPORT, line + "\n");
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] : NaN;
};

async function journal() {
  const exp = await fx.keel(["journal", "export"], { timeout: 120_000 });
  assert.equal(exp.code, 0, `journal export exit ${exp.code}: ${exp.stderr}`);
  return parseJsonl(exp.stdout);
}

async function verifyAndReplay(when) {
  const ver = await fx.keel(["journal", "verify"], { timeout: 120_000 });
  assert.equal(ver.code, 0, `${when}: journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);
  const rep = await fx.keel(["journal", "replay"], { timeout: 120_000 });
  assert.equal(rep.code, 0, `${when}: journal replay exit ${rep.code}:\n${rep.stdout}\n${rep.stderr}`);
}

test(`${PROCS} processes take two names in opposite orders, ${ROUNDS} rounds each: no deadlock, no overlap`, { timeout: 240_000 }, async (t) => {
  const A = "name:lt-ord/a";
  const B = "name:lt-ord/b";
  const budgetMs = LONG ? 600_000 : 90_000;
  const log = await runOppositeOrders({
    serve: (_slot, agent) => fx.serve(agent),
    procs: PROCS,
    rounds: ROUNDS,
    names: [A, B],
    keyOf: (l) => `lt-ord/${l.name.slice(-1)}`,
    ttlMs: 30_000,
    waitMs: 25_000,
    budgetMs,
    prefix: "ord",
  });
  assert.equal(log.unfinished.length, 0, `processes that did not finish their ${ROUNDS} rounds in ${budgetMs} ms (deadlock or starvation): ${show(log.unfinished)} (${log.timeoutError})`);
  assert.equal(log.errors.length, 0, `lease_acquire failed: ${show(log.errors.slice(0, 3))}`);
  assert.equal(log.refused.length, 0, `acquires not granted within wait_ms: ${show(log.refused.slice(0, 3))}`);
  assert.equal(log.shapeErrors.length, 0, `grants not one lease per name in sorted order with one group_id and ascending tokens: ${show(log.shapeErrors.slice(0, 3))}`);
  assert.equal(log.putRefused.length, 0, `fenced writes refused under a live hold: ${show(log.putRefused.slice(0, 3))}`);
  assert.equal(log.releaseErrors.length, 0, `lease_release {group_id} did not release both leases: ${show(log.releaseErrors.slice(0, 3))}`);
  assert.equal(log.rounds.length, PROCS * ROUNDS);

  const recs = await journal();
  const f = foldLeases(recs, {
    names: (n) => n === A || n === B,
    fenceOf: (subj) => (subj === "memory:cross_run/shared/lt-ord/a" ? A : subj === "memory:cross_run/shared/lt-ord/b" ? B : undefined),
  });
  assert.deepEqual(f.violations, [], "the journal fold found violations");
  assert.equal(f.expires, 0, "a hold expired: some process waited out a TTL");
  assert.equal(f.acquires, 2 * PROCS * ROUNDS, "ACQUIRE records: two per grant");
  assert.equal(f.releases, 2 * PROCS * ROUNDS, "RELEASE records: two per group release");
  assert.equal(f.groups.size, PROCS * ROUNDS);
  for (const [g, grp] of f.groups) assert.deepEqual(grp.names, [A, B], `group ${g}`);
  const missing = log.rounds.flatMap((r) => r.leases).filter((l) => !f.tokens.has(l.token));
  assert.equal(missing.length, 0, `grants a client saw but the journal lacks: ${show(missing.slice(0, 3))}`);
  assert.equal(f.puts, log.puts, "fenced writes journaled vs accepted");
  assert.equal(f.live.length, 0, `holds left live: ${show(f.live.slice(0, 3))}`);
  await verifyAndReplay("after the opposite-order rounds");

  const summary =
    `lease team, opposite orders: ${PROCS} processes x ${ROUNDS} rounds of lease_acquire {names: [a, b] | [b, a]} in ${(log.wallMs / 1000).toFixed(1)} s: ` +
    `${log.rounds.length} grants, acquire wait p50 ${pct(log.waitsMs, 50).toFixed(0)} ms / p99 ${pct(log.waitsMs, 99).toFixed(0)} ms / max ${Math.max(...log.waitsMs).toFixed(0)} ms, ` +
    `${log.puts} fenced writes; journal: ${f.acquires} ACQUIRE in ${f.groups.size} groups, 0 EXPIRE, 0 overlaps`;
  t.diagnostic(summary);
  report(summary);
});

test(`${FAULT_PROCS} processes take 2-3 names at once while holders are killed and paused for ${FAULT_SECONDS} s`, { timeout: (FAULT_SECONDS + 240) * 1000 }, async (t) => {
  const NAMES = ["name:lt-kill/x", "name:lt-kill/y", "name:lt-kill/z"];
  const TTL_MS = 1500;
  const pick = () => {
    const shuffled = [...NAMES].sort(() => Math.random() - 0.5);
    return { names: shuffled.slice(0, Math.random() < 0.7 ? 2 : 3) };
  };
  const log = await runWithFaults({
    serve: (_slot, agent) => fx.serve(agent),
    procs: FAULT_PROCS,
    seconds: FAULT_SECONDS,
    pick,
    keyOf: (_slot, l) => `lt-kill/${l.name.slice(-1)}`,
    ttlMs: TTL_MS,
    waitMs: 3000,
    prefix: "kill",
  });
  const notStale = log.paused.filter((p) => p.codes.some((c) => c !== "STALE_FENCE"));
  assert.equal(notStale.length, 0, `paused holders' writes not all refused STALE_FENCE: ${show(notStale.slice(0, 3))}`);
  const other = log.putRefused.filter((p) => p.code !== "STALE_FENCE");
  assert.equal(other.length, 0, `fenced writes refused for another reason: ${show(other.slice(0, 3))}`);
  assert.equal(log.acquireErrors.length, 0, `lease_acquire failed: ${show(log.acquireErrors.slice(0, 3))}`);
  assert.equal(log.releaseErrors.length, 0, `lease_release {group_id} failed: ${show(log.releaseErrors.slice(0, 3))}`);
  const badRefusals = log.refusals.filter((r) => r.timed_out !== true || !["held", "queued"].includes(r.refusal));
  assert.equal(badRefusals.length, 0, `refusals not "waited and timed out" (held/queued): ${show(badRefusals.slice(0, 3))}`);
  assert.ok(log.paused.length > 0, "no holder was paused: the fault injector never struck");
  assert.ok(log.kills > 0, "no holder was killed: the fault injector never struck");
  assert.ok(log.grants.length > 0, "nothing was granted");

  const recs = await journal();
  const f = foldLeases(recs, {
    names: (n) => NAMES.includes(n),
    fenceOf: (subj) => (subj.startsWith("memory:cross_run/shared/lt-kill/") ? `name:lt-kill/${subj.slice(-1)}` : undefined),
  });
  assert.deepEqual(f.violations, [], "the journal fold found violations");
  const missing = log.grants.flatMap((g) => g.leases).filter((l) => !f.tokens.has(l.token));
  assert.equal(missing.length, 0, `grants a client saw but the journal lacks: ${show(missing.slice(0, 3))}`);
  const missingPuts = log.accepted.filter((a) => !f.putTokens.has(a.token));
  assert.equal(missingPuts.length, 0, `accepted writes the journal lacks: ${show(missingPuts.slice(0, 3))}`);
  for (const [g, grp] of f.groups) assert.ok(grp.names.length >= 2, `group ${g} granted ${show(grp.names)}: fewer names than asked`);
  assert.ok(f.expires > 0, "no hold of a killed or paused holder expired");
  await verifyAndReplay("after the faults");

  const summary =
    `lease team under kill -9: ${FAULT_PROCS} processes x 2-3 of 3 names for ${(log.wallMs / 1000).toFixed(0)} s: ${log.grants.length} grants (${f.groups.size} groups), ` +
    `${log.accepted.length} fenced writes accepted, ${log.kills} holders SIGKILLed, ${log.paused.length} paused past TTL (all writes refused STALE_FENCE), ` +
    `${log.refusals.length} timed out; journal: ${f.acquires} ACQUIRE, ${f.expires} EXPIRE, ${f.puts} fenced MEMORY_PUT, 0 overlaps`;
  t.diagnostic(summary);
  report(summary);
});
