// tests/reliability/lease_team_counted.test.mjs — a counted lease never over capacity (SQLite).
//
// 24 `keel serve --stdio` processes take 1 or 2 units of "slot:lt-build",
// declared with capacity 3 by the acquire itself (`capacity: 3` on every
// call: the first declares it, the others must match), TTL 1.5 s, wait up to
// 3 s. A holder writes its own resource fenced with its token, then releases.
// Holders are SIGKILLed (the slot restarts under a new agent name) or
// SIGSTOPped past the TTL with their fenced write queued (refused
// STALE_FENCE on SIGCONT). From the journal fold: at no point — in seq
// order, nor in time, counting holds that ended after a new one began — do
// the live holds take more than 3 units; the capacity is reached (3 units at
// once); every fenced write accepted under a live hold; every refusal is
// "waited and timed out" with reason capacity or queued. Then the capacity is
// fixed (another value is INVALID_ARGUMENT) and more units than it are
// INVALID_ARGUMENT. `journal verify` and `journal replay` pass.
// Duration: 25 s of contention (short), 240 s with KEEL_RELIABILITY_LONG=1,
// or KEEL_LT_SECONDS.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import { stdioStateFixture } from "../e2e/lib/fixture.mjs";
import { parseJsonl, show } from "../e2e/lib/keel.mjs";
import { stdioTool } from "../e2e/lib/pg.mjs";
import { foldLeases } from "./lib/lease_fold.mjs";
import { runWithFaults } from "./lib/lease_fold_runs.mjs";

const LONG = process.env.KEEL_RELIABILITY_LONG === "1";
const SECONDS = Number(process.env.KEEL_LT_SECONDS ?? (LONG ? 240 : 25));
const PROCS = 24;
const SLOT = "slot:lt-build";
const CAPACITY = 3;

const fx = stdioStateFixture("keel-rel-lt-counted-");

test(`${PROCS} processes take 1-2 of ${CAPACITY} units while holders are killed and paused for ${SECONDS} s`, { timeout: (SECONDS + 240) * 1000 }, async (t) => {
  const log = await runWithFaults({
    serve: (_slot, agent) => fx.serve(agent),
    procs: PROCS,
    seconds: SECONDS,
    pick: () => ({ name: SLOT, units: Math.random() < 0.5 ? 1 : 2, capacity: CAPACITY }),
    keyOf: (slot) => `lt-counted/${slot.id}`,
    ttlMs: 1500,
    waitMs: 3000,
    prefix: "cnt",
  });
  const notStale = log.paused.filter((p) => p.codes.some((c) => c !== "STALE_FENCE"));
  assert.equal(notStale.length, 0, `paused holders' writes not refused STALE_FENCE: ${show(notStale.slice(0, 3))}`);
  const other = log.putRefused.filter((p) => p.code !== "STALE_FENCE");
  assert.equal(other.length, 0, `fenced writes refused for another reason: ${show(other.slice(0, 3))}`);
  assert.equal(log.acquireErrors.length, 0, `lease_acquire failed: ${show(log.acquireErrors.slice(0, 3))}`);
  assert.equal(log.releaseErrors.length, 0, `lease_release failed: ${show(log.releaseErrors.slice(0, 3))}`);
  const badRefusals = log.refusals.filter(
    (r) =>
      r.timed_out !== true ||
      !["capacity", "queued"].includes(r.refusal) ||
      (r.refusal === "capacity" && !(r.counted?.[0]?.name === SLOT && r.counted[0].capacity === CAPACITY && r.counted[0].used + r.args.units > CAPACITY)),
  );
  assert.equal(badRefusals.length, 0, `refusals not "waited and timed out" for capacity (with the counted name short of units) or queue: ${show(badRefusals.slice(0, 3))}`);
  const wrongUnits = log.grants.filter((g) => g.leases.length !== 1 || g.leases[0].name !== SLOT || ![1, 2].includes(g.leases[0].units));
  assert.equal(wrongUnits.length, 0, `grants not one lease of 1-2 units on ${SLOT}: ${show(wrongUnits.slice(0, 3))}`);
  assert.ok(log.paused.length > 0, "no holder was paused: the fault injector never struck");
  assert.ok(log.kills > 0, "no holder was killed: the fault injector never struck");

  const exp = await fx.keel(["journal", "export"], { timeout: 120_000 });
  assert.equal(exp.code, 0, `journal export exit ${exp.code}: ${exp.stderr}`);
  const f = foldLeases(parseJsonl(exp.stdout), {
    names: (n) => n === SLOT,
    fenceOf: (subj) => (subj.startsWith("memory:cross_run/shared/lt-counted/") ? SLOT : undefined),
  });
  assert.deepEqual(f.violations, [], "the journal fold found violations (units over capacity, stale fenced writes)");
  assert.equal(f.peakUnits.get(SLOT), CAPACITY, `the most units held at once: the capacity was ${f.peakUnits.get(SLOT) > CAPACITY ? "exceeded" : "never reached"}`);
  const missing = log.grants.flatMap((g) => g.leases).filter((l) => !f.tokens.has(l.token));
  assert.equal(missing.length, 0, `grants a client saw but the journal lacks: ${show(missing.slice(0, 3))}`);
  const missingPuts = log.accepted.filter((a) => !f.putTokens.has(a.token));
  assert.equal(missingPuts.length, 0, `accepted writes the journal lacks: ${show(missingPuts.slice(0, 3))}`);

  // The capacity is fixed once declared; more units than it can never be granted.
  const chk = fx.serve("cnt-check");
  await chk.initialize();
  const other4 = await stdioTool(chk, "lease_acquire", { name: SLOT, ttl_ms: 1000, capacity: 4 });
  assert.equal(other4.code, "INVALID_ARGUMENT", `capacity 4 on a name fixed at 3: ${show(other4.sc ?? other4.text)}`);
  assert.match(other4.text ?? "", /3/, "the refusal names the fixed capacity");
  const tooMany = await stdioTool(chk, "lease_acquire", { name: SLOT, ttl_ms: 1000, units: CAPACITY + 1 });
  assert.equal(tooMany.code, "INVALID_ARGUMENT", `units ${CAPACITY + 1} of ${CAPACITY}: ${show(tooMany.sc ?? tooMany.text)}`);
  assert.equal((await chk.closeAndWait()).code, 0);

  const ver = await fx.keel(["journal", "verify"], { timeout: 120_000 });
  assert.equal(ver.code, 0, `journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);
  const rep = await fx.keel(["journal", "replay"], { timeout: 120_000 });
  assert.equal(rep.code, 0, `journal replay exit ${rep.code}:\n${rep.stdout}\n${rep.stderr}`);

  const summary =
    `lease team, counted: ${PROCS} processes x 1-2 units of ${SLOT} (capacity ${CAPACITY}) for ${(log.wallMs / 1000).toFixed(0)} s: ${log.grants.length} grants, ` +
    `${log.accepted.length} fenced writes accepted, ${log.kills} holders SIGKILLed, ${log.paused.length} paused past TTL (all refused STALE_FENCE), ` +
    `${log.refusals.length} timed out (${log.refusals.filter((r) => r.refusal === "capacity").length} capacity, ${log.refusals.filter((r) => r.refusal === "queued").length} queued); ` +
    `journal: ${f.acquires} ACQUIRE, ${f.expires} EXPIRE, most units at once ${f.peakUnits.get(SLOT)} of ${CAPACITY} (${f.peakHolders.get(SLOT)} holders), never over`;
  t.diagnostic(summary);
  if (process.env.KEEL_RELIABILITY_REPORT) fs.appendFileSync(process.env.KEEL_RELIABILITY_REPORT, summary + "\n");
});
