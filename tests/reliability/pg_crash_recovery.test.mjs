// tests/reliability/pg_crash_recovery.test.mjs — kill -9 on two nodes, PostgreSQL store.
//
// The crash-recovery check of crash_recovery.test.mjs with keel on PostgreSQL:
// each round starts 16 `keel-pg serve --stdio` processes, 8 on each of two
// nodes (own node id and state dir, one database and project id), each
// streaming memory_put of its own keys and, every third request, a
// lease_acquire (TTL 3 s), 4 requests in flight, and SIGKILLs each at its own
// random moment 300-1500 ms in. Then:
//   - every acknowledged lease still within its TTL is in `keel lease ls` with
//     its token; `journal verify` and `journal replay` pass, replay's leases
//     being those of the table;
//   - every acknowledged memory_put (this round's and a sample of earlier
//     ones; all of them at the end) reads back with its value through a fresh
//     process on the other node, and has its MEMORY_PUT in the journal;
//   - after the TTLs, the dead holders' names are free and new tokens are higher.
// Rounds: 3 (short), 20 with KEEL_RELIABILITY_LONG=1, or KEEL_PG_CRASH_ROUNDS.
import "../e2e/lib/pg_bin.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import { pumpUntilKilled } from "../e2e/lib/fixture.mjs";
import { show, sleep } from "../e2e/lib/keel.mjs";
import { stdioTool } from "../e2e/lib/pg.mjs";
import { PG_REL_SKIP, exportJournal, pgSuite, readBack, verifyAndReplay } from "./pg_common.mjs";

const LONG = process.env.KEEL_RELIABILITY_LONG === "1";
const ROUNDS = Number(process.env.KEEL_PG_CRASH_ROUNDS ?? (LONG ? 20 : 3));
const CLIENTS = 16;
const IN_FLIGHT = 4;
const LEASE_TTL_MS = 3000;

const fx = pgSuite("pg_crash");

async function client(s, round, c, killAfterMs) {
  const puts = [];
  const leases = [];
  const refused = [];
  const sent = await pumpUntilKilled(s, { inFlight: IN_FLIGHT, killAfterMs }, (j) => {
    if (j % 3 === 2) {
      const name = `name:crash/r${round}/c${c}/${j}`;
      return s.callTool("lease_acquire", { name, ttl_ms: LEASE_TTL_MS, wait_ms: 0 }, { timeout: 30_000 }).then((res) => {
        const sc = res.result?.structuredContent;
        if (res.result && !res.result.isError && sc?.granted === true) {
          leases.push({ name, token: sc.token, lease_id: sc.lease_id, expires_at: sc.expires_at });
        } else refused.push({ j, res });
      });
    }
    const key = `crash/r${round}/c${c}/${j}`;
    const value = { round, c, j };
    return s.callTool("memory_put", { namespace: "shared", key, value }, { timeout: 30_000 }).then((res) => {
      if (res.result && res.result.isError !== true) puts.push({ key, value });
      else refused.push({ j, res });
    });
  });
  return { puts, leases, refused, sent, signal: s.exitSignal };
}

async function leaseTable() {
  const ls = await fx.keel(["lease", "ls", "--json"]);
  assert.equal(ls.code, 0, `lease ls exit ${ls.code}: ${ls.stderr}`);
  return JSON.parse(ls.stdout).leases;
}

async function replayEqualsTable(round, when) {
  const r = await verifyAndReplay(fx, `round ${round} ${when}`);
  const table = await leaseTable();
  const ids = (xs) => xs.map((l) => l.lease_id).sort();
  const now = Date.now();
  const live = (xs) => xs.filter((l) => l.expires_at > now + 200);
  assert.deepEqual(ids(live(table)), ids(live(r.leases)), `round ${round} ${when}: replay's leases differ from lease ls`);
}

async function readBackOn(node, label, puts) {
  const s = fx.serve(node, label);
  await s.initialize({ timeout: 30_000 });
  const bad = await readBack(s, puts);
  const exit = await s.closeAndWait();
  assert.equal(exit.code, 0, `${label} exit ${show(exit)}`);
  return bad;
}

test(`PostgreSQL: kill -9 of 16 writing servers on two nodes, ${ROUNDS} rounds: acknowledged state survives`, { skip: PG_REL_SKIP, timeout: (LONG ? 3600 : 400) * 1000 }, async (t) => {
  const allPuts = [];
  const totals = { sent: 0, puts: 0, leases: 0 };
  for (let round = 1; round <= ROUNDS; round++) {
    const agents = Array.from({ length: CLIENTS }, (_, c) => `pgcrash-r${round}-c${c}`);
    const ss = agents.map((a, c) => fx.serve(c % 2, a));
    await Promise.all(ss.map((s) => s.initialize({ timeout: 60_000 })));
    const results = await Promise.all(ss.map((s, c) => client(s, round, c, 300 + Math.floor(Math.random() * 1201))));
    const puts = results.flatMap((r) => r.puts);
    const leases = results.flatMap((r) => r.leases);
    for (const r of results) {
      assert.equal(r.signal, "SIGKILL", `round ${round}: a server did not die by SIGKILL`);
      assert.equal(r.refused.length, 0, `round ${round}: writes refused before the kill: ${show(r.refused.slice(0, 2))}`);
    }
    totals.sent += results.reduce((a, r) => a + r.sent, 0);
    totals.puts += puts.length;
    totals.leases += leases.length;
    allPuts.push(...puts);

    const table = await leaseTable();
    const byId = new Map(table.map((l) => [l.lease_id, l]));
    const now = Date.now();
    for (const l of leases) {
      if (l.expires_at <= now + 300) continue;
      const row = byId.get(l.lease_id);
      assert.ok(row, `round ${round}: acknowledged lease ${l.name} (${l.lease_id}) lost after kill -9`);
      assert.equal(row.token, l.token, `round ${round}: lease ${l.name} token changed`);
    }
    await replayEqualsTable(round, "after the kill");

    // Every acknowledged put has its journal record (the change and its record commit together).
    const recs = await exportJournal(fx);
    const journaled = new Set(recs.filter((r) => r.op === "MEMORY_PUT").map((r) => r.subject));
    const unjournaled = puts.filter((p) => !journaled.has(`memory:cross_run/shared/${p.key}`));
    assert.equal(unjournaled.length, 0, `round ${round}: acknowledged puts without a MEMORY_PUT record: ${show(unjournaled.slice(0, 3))}`);
    const nodes = new Set(recs.map((r) => r.node));
    assert.ok(nodes.has("rel-n1") && nodes.has("rel-n2"), `journal nodes: ${show([...nodes])}`);

    const earlier = allPuts.slice(0, allPuts.length - puts.length);
    const sample = [];
    for (let k = 0; k < Math.min(200, earlier.length); k++) sample.push(earlier[Math.floor(Math.random() * earlier.length)]);
    const bad = await readBackOn(round % 2, `pgcrash-reader-${round}`, [...puts, ...sample]);
    assert.equal(bad.length, 0, `round ${round}: ${bad.length} acknowledged writes missing or wrong; first: ${show(bad.slice(0, 3))}`);

    // After the TTL: the names of the dead are free, on the other node, with higher tokens.
    const lastExpiry = Math.max(Date.now(), ...leases.map((l) => l.expires_at));
    await sleep(lastExpiry - Date.now() + 200);
    const checker = fx.serve((round + 1) % 2, `pgcrash-checker-${round}`);
    await checker.initialize({ timeout: 30_000 });
    const listed = (await stdioTool(checker, "lease_list", {})).sc?.leases ?? [];
    const dead = new Set(agents);
    const stillHeld = listed.filter((l) => dead.has(l.holder));
    assert.equal(stillHeld.length, 0, `round ${round}: leases of dead holders past their TTL: ${show(stillHeld.slice(0, 3))}`);
    for (const l of leases.slice(0, 24)) {
      const a = await stdioTool(checker, "lease_acquire", { name: l.name, ttl_ms: 1000, wait_ms: 0 });
      assert.equal(a.sc?.granted, true, `round ${round}: ${l.name} not free after its dead holder's TTL: ${show(a.msg)}`);
      assert.ok(a.sc.token > l.token, `round ${round}: new token ${a.sc.token} not above ${l.token}`);
      await stdioTool(checker, "lease_release", { name: l.name, lease_id: a.sc.lease_id });
    }
    assert.equal((await checker.closeAndWait()).code, 0);
    await replayEqualsTable(round, "after the TTL");
    t.diagnostic(`round ${round}: ${results.reduce((a, r) => a + r.sent, 0)} sent, ${puts.length} puts and ${leases.length} leases acknowledged, all present; verify+replay ok`);
  }
  const bad = await readBackOn(0, "pgcrash-reader-final", allPuts);
  assert.equal(bad.length, 0, `final: ${bad.length} of ${allPuts.length} acknowledged writes missing; first: ${show(bad.slice(0, 3))}`);
  assert.ok(totals.puts > 0 && totals.leases > 0, `nothing acknowledged: ${show(totals)}`);
  const summary = `pg crash recovery: ${ROUNDS} rounds x ${CLIENTS} servers on 2 nodes killed; ${totals.sent} requests sent, ${totals.puts} memory_put and ${totals.leases} lease_acquire acknowledged, all ${allPuts.length} puts read back`;
  t.diagnostic(summary);
  if (process.env.KEEL_RELIABILITY_REPORT) fs.appendFileSync(process.env.KEEL_RELIABILITY_REPORT, summary + "\n");
});
