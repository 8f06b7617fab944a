// tests/integration/multiproc.test.mjs — mutual exclusion across processes.
//
// N `keel serve --stdio` processes (default 8) share one state dir. Each runs
// ITER iterations (default 200) of: lease_acquire a single contended name
// (waiting up to 30 s), a memory_put fenced with the granted token, and
// lease_release. Afterwards the journal (exported as JSONL) must show that no
// two holds of the name ever overlapped, that tokens strictly increase, that
// the chain verifies and that replay equals the lease table; and the first
// token ever granted must now be refused as a stale fence.
//
// Run: KEEL_BIN=build/keel node --test tests/integration/multiproc.test.mjs
// Knobs: KEEL_MP_PROCS, KEEL_MP_ITER.
import { test } from "node:test";
import assert from "node:assert/strict";

import { stdioStateFixture } from "../e2e/lib/fixture.mjs";
import { parseJsonl, payloadOf, show } from "../e2e/lib/keel.mjs";

const PROCS = Number(process.env.KEEL_MP_PROCS ?? 8);
const ITER = Number(process.env.KEEL_MP_ITER ?? 200);
const NAME = "name:resource";
const LEASE_OPS = new Set(["ACQUIRE", "RELEASE", "EXPIRE"]);

const fx = stdioStateFixture("keel-mp-");

async function worker(i, stats) {
  const agent = `mp-${i}`;
  const s = fx.serve(agent);
  await s.initialize({ timeout: 20_000 });
  const mine = { agent, grants: [], refused: [], putErrors: [], releaseErrors: [], acquireMs: [] };
  for (let it = 0; it < ITER; it++) {
    const t0 = performance.now();
    const acq = await s.tool("lease_acquire", { name: NAME, ttl_ms: 10_000, wait_ms: 30_000 }, { timeout: 45_000 });
    mine.acquireMs.push(performance.now() - t0);
    const a = acq.structuredContent ?? {};
    if (acq.isError || a.granted !== true) {
      mine.refused.push({ it, result: acq });
      continue;
    }
    mine.grants.push({ token: a.token, lease_id: a.lease_id });
    const put = await s.tool(
      "memory_put",
      {
        tier: "cross_run",
        namespace: "shared",
        key: "resource",
        value: { holder: agent, token: a.token },
        fence: { name: NAME, token: a.token },
      },
      { timeout: 30_000 },
    );
    if (put.isError) mine.putErrors.push({ it, token: a.token, result: put });
    else stats.puts++;
    const rel = await s.tool("lease_release", { name: NAME, lease_id: a.lease_id }, { timeout: 30_000 });
    if (rel.isError || rel.structuredContent?.released !== true) mine.releaseErrors.push({ it, result: rel });
  }
  const exit = await s.closeAndWait({ timeout: 10_000 });
  mine.exit = exit;
  mine.badLines = s.badLines.slice(0, 3);
  return mine;
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

test(`${PROCS} processes x ${ITER} fenced critical sections on one lease`, { timeout: 600_000 }, async (t) => {
  const stats = { puts: 0 };
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: PROCS }, (_, i) => worker(i, stats)));
  const wallMs = performance.now() - t0;

  const all = results.flatMap((r) => r.acquireMs).sort((x, y) => x - y);
  const grants = results.flatMap((r) => r.grants);
  t.diagnostic(
    `wall ${(wallMs / 1000).toFixed(2)} s for ${PROCS}x${ITER}: ${grants.length} grants, ${stats.puts} fenced puts, ` +
      `${((grants.length / wallMs) * 1000).toFixed(1)} critical sections/s; ` +
      `acquire latency p50 ${pct(all, 50).toFixed(1)} ms p99 ${pct(all, 99).toFixed(1)} ms max ${pct(all, 100).toFixed(1)} ms`,
  );

  for (const r of results) {
    assert.equal(r.refused.length, 0, `${r.agent}: acquires not granted: ${show(r.refused.slice(0, 3))}`);
    assert.equal(r.putErrors.length, 0, `${r.agent}: fenced puts refused: ${show(r.putErrors.slice(0, 3))}`);
    assert.equal(r.releaseErrors.length, 0, `${r.agent}: releases failed: ${show(r.releaseErrors.slice(0, 3))}`);
    assert.equal(r.exit.code, 0, `${r.agent} exit ${show(r.exit)}`);
    assert.equal(r.badLines.length, 0, `${r.agent}: stdout lines that are not JSON-RPC: ${show(r.badLines)}`);
  }
  assert.equal(grants.length, PROCS * ITER, "every iteration granted");
  assert.equal(stats.puts, PROCS * ITER, "every fenced write accepted");
  const tokens = grants.map((g) => g.token);
  assert.equal(new Set(tokens).size, tokens.length, "tokens are unique");

  // ---------------------------------------------------------------- journal
  const exp = await fx.keel(["journal", "export"], { timeout: 60_000 });
  assert.equal(exp.code, 0, `journal export exit ${exp.code}: ${exp.stderr}`);
  const recs = parseJsonl(exp.stdout);
  for (const r of recs.slice(0, 1)) {
    for (const f of ["seq", "ts", "project", "principal", "op", "subject", "payload", "prev_hash", "hash"]) {
      assert.ok(f in r, `export record lacks ${f}: ${show(r)}`);
    }
    assert.equal(typeof r.payload, "string", `payload should be JSON text: ${show(r)}`);
  }
  for (let i = 1; i < recs.length; i++) {
    assert.ok(recs[i].seq > recs[i - 1].seq, `export not in seq order at line ${i + 1}`);
  }

  const leaseRecs = recs.filter((r) => r.subject === NAME && LEASE_OPS.has(r.op));
  const acquires = leaseRecs.filter((r) => r.op === "ACQUIRE");
  assert.equal(acquires.length, PROCS * ITER, "one ACQUIRE record per grant");
  const expires = leaseRecs.filter((r) => r.op === "EXPIRE").length;

  // Fold in seq order: an ACQUIRE must find no live hold.
  let live = null; // {lease_id, token, principal, seq}
  let lastToken = -Infinity;
  for (const r of leaseRecs) {
    const p = payloadOf(r);
    if (r.op === "ACQUIRE") {
      assert.equal(live, null, `overlap: ACQUIRE seq ${r.seq} (${r.principal}, ${show(p)}) while seq ${live?.seq} (${live?.principal}) still holds`);
      assert.ok(Number.isInteger(p.token), `ACQUIRE seq ${r.seq} payload lacks an integer token: ${r.payload}`);
      assert.ok(p.token > lastToken, `ACQUIRE tokens must strictly increase: seq ${r.seq} token ${p.token} after ${lastToken}`);
      lastToken = p.token;
      live = { lease_id: p.lease_id, token: p.token, principal: r.principal, seq: r.seq };
    } else {
      assert.notEqual(live, null, `${r.op} seq ${r.seq} with no live hold: ${r.payload}`);
      const sameLease =
        (p.lease_id !== undefined && live.lease_id !== undefined && p.lease_id === live.lease_id) ||
        (p.token !== undefined && p.token === live.token) ||
        (p.lease_id === undefined && p.token === undefined);
      assert.ok(sameLease, `${r.op} seq ${r.seq} ends a different hold than the live one (seq ${live.seq}): ${r.payload}`);
      live = null;
    }
  }
  assert.equal(live, null, "the last hold was released");
  const journaled = acquires.map((r) => payloadOf(r).token).sort((x, y) => x - y);
  const granted = [...tokens].sort((x, y) => x - y);
  const firstDiff = journaled.findIndex((v, i) => v !== granted[i]);
  assert.equal(firstDiff, -1, `journaled tokens differ from granted ones at #${firstDiff}: ${journaled[firstDiff]} vs ${granted[firstDiff]}`);
  t.diagnostic(`journal: ${recs.length} records, ${acquires.length} ACQUIRE, ${expires} EXPIRE on ${NAME}`);

  const ver = await fx.keel(["journal", "verify"]);
  assert.equal(ver.code, 0, `journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);
  const rep = await fx.keel(["journal", "replay"]);
  assert.equal(rep.code, 0, `journal replay exit ${rep.code}:\n${rep.stdout}\n${rep.stderr}`);

  // ---------------------------------------------- final value and stale fence
  const s = fx.serve("mp-check");
  await s.initialize();
  const g = await s.tool("memory_get", { tier: "cross_run", namespace: "shared", key: "resource" });
  assert.equal(g.structuredContent?.found, true, show(g));
  assert.equal(g.structuredContent.version, PROCS * ITER, `one version per fenced write: ${show(g)}`);
  assert.equal(g.structuredContent.value?.token, Math.max(...tokens), `last write carries the last token: ${show(g)}`);

  const first = Math.min(...tokens);
  const stale = await s.tool("memory_put", {
    tier: "cross_run",
    namespace: "shared",
    key: "resource",
    value: { holder: "mp-check", token: first },
    fence: { name: NAME, token: first },
  });
  assert.equal(stale.isError, true, `a put fenced with the first token (${first}) must be refused: ${show(stale)}`);
  assert.equal(stale._meta?.["dev.keel/error"]?.code, "STALE_FENCE", show(stale));
  const exit = await s.closeAndWait({ timeout: 10_000 });
  assert.equal(exit.code, 0, show(exit));
});
