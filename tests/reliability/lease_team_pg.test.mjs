// tests/reliability/lease_team_pg.test.mjs — multi-name and counted leases on PostgreSQL, two nodes.
//
// The checks of lease_team_order.test.mjs and lease_team_counted.test.mjs,
// short, with keel on PostgreSQL: `keel-pg serve --stdio` processes
// alternating between two nodes (own node id and state dir, one database and
// project id), the fair queue shared through the database.
// 1. 16 processes x 6 rounds of lease_acquire {names} in opposite orders with
//    wait_ms and TTL 30 s, fenced writes, release by group_id: every process
//    finishes, every acquire granted, no EXPIRE; the fold shows no overlap and
//    atomic groups; both nodes granted.
// 2. "slot:lt-pg" counted with capacity 3 by the nodes' config
//    (lease.capacities), 12 processes taking 1-2 units while holders are
//    SIGKILLed or paused past the TTL: never more than 3 units held (fold),
//    capacity reached, paused writes refused STALE_FENCE.
// Then `journal verify` and `journal replay` pass.
// Needs KEEL_TEST_PG_URL (a superuser URL: scripts/test exports it); a fresh
// database is made for the file and dropped at the end. Skipped without it.
// Duration: ~10 s + 15 s of contention (KEEL_LT_PG_SECONDS).
import "../e2e/lib/pg_bin.mjs";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";

import { parseJsonl, requireBinary, show } from "../e2e/lib/keel.mjs";
import { PG_SKIP, PG_URL, createDatabase, makeNode, nodeRoot } from "../e2e/lib/pg.mjs";
import { foldLeases } from "./lib/lease_fold.mjs";
import { runOppositeOrders, runWithFaults } from "./lib/lease_fold_runs.mjs";

const LONG = process.env.KEEL_RELIABILITY_LONG === "1";
const SECONDS = Number(process.env.KEEL_LT_PG_SECONDS ?? (LONG ? 120 : 15));
const ROUNDS = LONG ? 20 : 6;
const SLOT = "slot:lt-pg";
const CAPACITY = 3;

const fx = { db: undefined, tmp: undefined, nodes: [], cli: undefined, servers: new Set() };
before(() => {
  if (PG_SKIP) return;
  requireBinary();
  fx.db = createDatabase(PG_URL, "keel_rel_lt");
  fx.tmp = nodeRoot("keel-rel-lt-pg-");
  const shared = {
    storeUrl: fx.db.url,
    projectId: `lt-pg-${crypto.randomBytes(4).toString("hex")}`,
    config: { lease: { capacities: { [SLOT]: CAPACITY } } },
  };
  fx.nodes = [makeNode(fx.tmp.root, "lt-n1", shared), makeNode(fx.tmp.root, "lt-n2", shared)];
  fx.cli = makeNode(fx.tmp.root, "lt-cli", shared);
});
after(() => {
  if (PG_SKIP) return;
  for (const s of fx.servers) {
    s.kill("SIGCONT");
    s.kill("SIGKILL");
  }
  fx.db?.drop();
  fx.tmp?.remove();
});
const serve = (slot, agent) => {
  const s = fx.nodes[slot % 2].serveStdio(agent);
  fx.servers.add(s);
  s.exitPromise.then(() => fx.servers.delete(s));
  return s;
};
const nodeOf = (slot) => fx.nodes[slot % 2].id;
const keel = (args) => fx.cli.keel(args, { timeout: 120_000 });
const report = (line) => {
  if (process.env.KEEL_RELIABILITY_REPORT) fs.appendFileSync(process.env.KEEL_RELIABILITY_REPORT, line + "\n");
};

async function journal() {
  const exp = await keel(["journal", "export"]);
  assert.equal(exp.code, 0, `journal export exit ${exp.code}: ${exp.stderr}`);
  return parseJsonl(exp.stdout);
}

test(`PostgreSQL: 16 processes on two nodes take two names in opposite orders, ${ROUNDS} rounds`, { skip: PG_SKIP, timeout: 240_000 }, async (t) => {
  const A = "name:lt-pg/a";
  const B = "name:lt-pg/b";
  const log = await runOppositeOrders({
    serve,
    nodeOf,
    procs: 16,
    rounds: ROUNDS,
    names: [A, B],
    keyOf: (l) => `lt-pg/${l.name.slice(-1)}`,
    ttlMs: 30_000,
    waitMs: 25_000,
    budgetMs: LONG ? 600_000 : 90_000,
    prefix: "pgord",
  });
  assert.equal(log.unfinished.length, 0, `processes that did not finish their rounds (deadlock or starvation): ${show(log.unfinished)} (${log.timeoutError})`);
  assert.equal(log.errors.length, 0, `lease_acquire failed: ${show(log.errors.slice(0, 3))}`);
  assert.equal(log.refused.length, 0, `acquires not granted within wait_ms: ${show(log.refused.slice(0, 3))}`);
  assert.equal(log.shapeErrors.length, 0, `grants not one lease per name, sorted, one group_id, ascending tokens: ${show(log.shapeErrors.slice(0, 3))}`);
  assert.equal(log.putRefused.length, 0, `fenced writes refused under a live hold: ${show(log.putRefused.slice(0, 3))}`);
  assert.equal(log.releaseErrors.length, 0, `lease_release {group_id}: ${show(log.releaseErrors.slice(0, 3))}`);

  const f = foldLeases(await journal(), {
    names: (n) => n === A || n === B,
    fenceOf: (subj) => (subj === "memory:cross_run/shared/lt-pg/a" ? A : subj === "memory:cross_run/shared/lt-pg/b" ? B : undefined),
  });
  assert.deepEqual(f.violations, [], "the journal fold found violations");
  assert.equal(f.expires, 0, "a hold expired: some process waited out a TTL");
  assert.equal(f.groups.size, 16 * ROUNDS);
  assert.ok(f.nodes.has("lt-n1") && f.nodes.has("lt-n2"), `ACQUIRE records' nodes: ${show([...f.nodes])}`);
  const missing = log.rounds.flatMap((r) => r.leases).filter((l) => !f.tokens.has(l.token));
  assert.equal(missing.length, 0, `grants the journal lacks: ${show(missing.slice(0, 3))}`);
  const summary = `pg lease team, opposite orders: 16 processes on 2 nodes x ${ROUNDS} rounds in ${(log.wallMs / 1000).toFixed(1)} s: ${log.rounds.length} grants, max wait ${Math.max(...log.waitsMs).toFixed(0)} ms; journal: ${f.acquires} ACQUIRE in ${f.groups.size} groups, 0 EXPIRE, 0 overlaps`;
  t.diagnostic(summary);
  report(summary);
});

test(`PostgreSQL: 12 processes on two nodes take 1-2 of ${CAPACITY} units (config lease.capacities) under kill and pause for ${SECONDS} s`, { skip: PG_SKIP, timeout: (SECONDS + 240) * 1000 }, async (t) => {
  const log = await runWithFaults({
    serve,
    nodeOf,
    procs: 12,
    seconds: SECONDS,
    pick: () => ({ name: SLOT, units: Math.random() < 0.5 ? 1 : 2 }),
    keyOf: (slot) => `lt-pg-counted/${slot.id}`,
    ttlMs: 1500,
    waitMs: 3000,
    prefix: "pgcnt",
  });
  const notStale = log.paused.filter((p) => p.codes.some((c) => c !== "STALE_FENCE"));
  assert.equal(notStale.length, 0, `paused holders' writes not refused STALE_FENCE: ${show(notStale.slice(0, 3))}`);
  const other = log.putRefused.filter((p) => p.code !== "STALE_FENCE");
  assert.equal(other.length, 0, `fenced writes refused for another reason: ${show(other.slice(0, 3))}`);
  assert.equal(log.acquireErrors.length, 0, `lease_acquire failed: ${show(log.acquireErrors.slice(0, 3))}`);
  assert.equal(log.releaseErrors.length, 0, `lease_release failed: ${show(log.releaseErrors.slice(0, 3))}`);
  const badRefusals = log.refusals.filter((r) => r.timed_out !== true || !["capacity", "queued"].includes(r.refusal));
  assert.equal(badRefusals.length, 0, `refusals not "waited and timed out" for capacity or queue: ${show(badRefusals.slice(0, 3))}`);
  assert.ok(log.paused.length + log.kills > 0, "the fault injector never struck");

  const f = foldLeases(await journal(), {
    names: (n) => n === SLOT,
    capacities: { [SLOT]: CAPACITY },
    fenceOf: (subj) => (subj.startsWith("memory:cross_run/shared/lt-pg-counted/") ? SLOT : undefined),
  });
  assert.deepEqual(f.violations, [], "the journal fold found violations (units over capacity, stale fenced writes)");
  assert.equal(f.peakUnits.get(SLOT), CAPACITY, "the most units held at once");
  assert.ok(f.nodes.has("lt-n1") && f.nodes.has("lt-n2"), `ACQUIRE records' nodes: ${show([...f.nodes])}`);
  const missing = log.grants.flatMap((g) => g.leases).filter((l) => !f.tokens.has(l.token));
  assert.equal(missing.length, 0, `grants the journal lacks: ${show(missing.slice(0, 3))}`);
  const missingPuts = log.accepted.filter((a) => !f.putTokens.has(a.token));
  assert.equal(missingPuts.length, 0, `accepted writes the journal lacks: ${show(missingPuts.slice(0, 3))}`);

  const ver = await keel(["journal", "verify"]);
  assert.equal(ver.code, 0, `journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);
  const rep = await keel(["journal", "replay", "--json"]);
  assert.equal(rep.code, 0, `journal replay exit ${rep.code}:\n${rep.stdout.slice(0, 2000)}\n${rep.stderr}`);
  assert.equal(JSON.parse(rep.stdout).equal, true, "replay equals the lease table");

  const summary =
    `pg lease team, counted: 12 processes on 2 nodes x 1-2 units of ${SLOT} (capacity ${CAPACITY}) for ${(log.wallMs / 1000).toFixed(0)} s: ${log.grants.length} grants, ` +
    `${log.kills} SIGKILLed, ${log.paused.length} paused past TTL (refused STALE_FENCE), ${log.refusals.length} timed out; journal: ${f.acquires} ACQUIRE, ${f.expires} EXPIRE, ` +
    `most units at once ${f.peakUnits.get(SLOT)} of ${CAPACITY}, never over`;
  t.diagnostic(summary);
  report(summary);
});
