// tests/reliability/crash_recovery.test.mjs — acknowledged state survives kill -9.
//
// Each round starts 16 `keel serve --stdio` processes (one client each, a
// fresh agent name per round) on one state dir. Every client streams, with 4
// requests in flight, memory_put of its own shared keys and, every third
// request, lease_acquire of its own names (TTL 3 s); every such call also
// appends a journal record in the same transaction. Each server is SIGKILLed
// at its own random moment 300-1500 ms after the writing started. Then:
//   - every acknowledged lease whose TTL has not run out is in `keel lease ls`
//     with its token, and `keel journal verify` and `keel journal replay`
//     pass, replay's lease set being exactly `lease ls`;
//   - every memory_put acknowledged in this round (and a sample of earlier
//     rounds; all of them after the last round) reads back with its value;
//   - once the TTLs have run out, no lease of the dead holders is listed, each
//     of their names can be acquired at once by a new agent, and replay still
//     equals the table.
// Rounds: 5 (short), 50 with KEEL_RELIABILITY_LONG=1, or KEEL_CRASH_ROUNDS.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import { pumpUntilKilled, stdioStateFixture } from "../e2e/lib/fixture.mjs";
import { show, sleep } from "../e2e/lib/keel.mjs";

const LONG = process.env.KEEL_RELIABILITY_LONG === "1";
const ROUNDS = Number(process.env.KEEL_CRASH_ROUNDS ?? (LONG ? 50 : 5));
const CLIENTS = 16;
const IN_FLIGHT = 4;
const LEASE_TTL_MS = 3000;

const fx = stdioStateFixture("keel-rel-crash-");
const serve = (agent) => fx.serve(agent);

const keel = (args, opts = {}) => fx.keel(args, { timeout: 120_000, ...opts });

// One client: streams writes until its server dies. Returns what was acknowledged.
async function client(s, round, c, killAfterMs) {
  const puts = []; // {key, value}
  const leases = []; // {name, token, lease_id, expires_at}
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

// Reads keys back through one fresh server, 64 pipelined memory_get at a time.
async function readBack(label, puts) {
  const s = serve(label);
  await s.initialize({ timeout: 20_000 });
  const bad = [];
  for (let off = 0; off < puts.length; off += 64) {
    const chunk = puts.slice(off, off + 64);
    const res = await Promise.all(chunk.map((p) => s.tool("memory_get", { namespace: "shared", key: p.key }, { timeout: 30_000 })));
    res.forEach((r, k) => {
      const sc = r.structuredContent ?? {};
      if (r.isError || sc.found !== true || JSON.stringify(sc.value) !== JSON.stringify(chunk[k].value)) {
        bad.push({ key: chunk[k].key, got: r });
      }
    });
  }
  const exit = await s.closeAndWait();
  assert.equal(exit.code, 0, `${label} exit ${show(exit)}`);
  assert.equal(s.badLines.length, 0, `${label}: non-JSON-RPC stdout: ${show(s.badLines.slice(0, 3))}`);
  return bad;
}

async function leaseTable() {
  const ls = await keel(["lease", "ls", "--json"]);
  assert.equal(ls.code, 0, `lease ls exit ${ls.code}: ${ls.stderr}`);
  return JSON.parse(ls.stdout).leases;
}

async function replayEqualsTable(round, when) {
  const rep = await keel(["journal", "replay", "--json"]);
  assert.equal(rep.code, 0, `round ${round} ${when}: journal replay exit ${rep.code}: ${rep.stdout} ${rep.stderr}`);
  const r = JSON.parse(rep.stdout);
  assert.equal(r.equal, true, `round ${round} ${when}: replay differs: ${show(r.differences)}`);
  const table = await leaseTable();
  const ids = (xs) => xs.map((l) => l.lease_id).sort();
  // lease ls hides leases past their TTL that nobody swept yet; replay keeps them.
  const now = Date.now();
  const replayLive = r.leases.filter((l) => l.expires_at > now + 50);
  const tableLive = table.filter((l) => l.expires_at > now + 50);
  assert.deepEqual(ids(tableLive), ids(replayLive), `round ${round} ${when}: replay's leases differ from lease ls`);
  return table;
}

test(`kill -9 of 16 writing servers, ${ROUNDS} rounds: acknowledged state survives`, { timeout: (LONG ? 3600 : 300) * 1000 }, async (t) => {
  const allPuts = [];
  const totals = { sent: 0, puts: 0, leases: 0, refused: 0 };
  for (let round = 1; round <= ROUNDS; round++) {
    const agents = Array.from({ length: CLIENTS }, (_, c) => `crash-r${round}-c${c}`);
    const ss = agents.map((a) => serve(a));
    await Promise.all(ss.map((s) => s.initialize({ timeout: 30_000 })));
    const results = await Promise.all(ss.map((s, c) => client(s, round, c, 300 + Math.floor(Math.random() * 1201))));
    await sleep(50);

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

    // Acknowledged leases still within their TTL are in the table.
    const table = await leaseTable();
    const byId = new Map(table.map((l) => [l.lease_id, l]));
    const now = Date.now();
    for (const l of leases) {
      if (l.expires_at <= now + 200) continue;
      const row = byId.get(l.lease_id);
      assert.ok(row, `round ${round}: acknowledged lease ${l.name} (${l.lease_id}) lost after kill -9`);
      assert.equal(row.token, l.token, `round ${round}: lease ${l.name} token changed`);
    }
    const ver = await keel(["journal", "verify"]);
    assert.equal(ver.code, 0, `round ${round}: journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);
    await replayEqualsTable(round, "after the kill");

    // Every write acknowledged in this round, and a sample of earlier ones.
    const earlier = allPuts.slice(0, allPuts.length - puts.length);
    const sample = [];
    for (let k = 0; k < Math.min(200, earlier.length); k++) sample.push(earlier[Math.floor(Math.random() * earlier.length)]);
    const bad = await readBack(`crash-reader-${round}`, [...puts, ...sample]);
    assert.equal(bad.length, 0, `round ${round}: ${bad.length} acknowledged writes missing or wrong; first: ${show(bad.slice(0, 3))}`);

    // After the TTL: the dead holders hold nothing; their names are free.
    const lastExpiry = Math.max(Date.now(), ...leases.map((l) => l.expires_at));
    await sleep(lastExpiry - Date.now() + 100);
    const dead = new Set(agents);
    const checker = serve(`crash-checker-${round}`);
    await checker.initialize();
    const listed = (await checker.tool("lease_list", {})).structuredContent?.leases ?? [];
    const stillHeld = listed.filter((l) => dead.has(l.holder));
    assert.equal(stillHeld.length, 0, `round ${round}: leases of dead holders past their TTL: ${show(stillHeld.slice(0, 3))}`);
    for (const l of leases.slice(0, 32)) {
      const a = await checker.tool("lease_acquire", { name: l.name, ttl_ms: 1000, wait_ms: 0 });
      assert.equal(a.structuredContent?.granted, true, `round ${round}: ${l.name} not free after its dead holder's TTL: ${show(a)}`);
      assert.ok(a.structuredContent.token > l.token, `round ${round}: new token ${a.structuredContent.token} not above ${l.token}`);
      await checker.tool("lease_release", { name: l.name, lease_id: a.structuredContent.lease_id });
    }
    assert.equal((await checker.closeAndWait()).code, 0);
    await replayEqualsTable(round, "after the TTL");
    t.diagnostic(
      `round ${round}: ${results.reduce((a, r) => a + r.sent, 0)} sent, ${puts.length} puts and ${leases.length} leases acknowledged, all present; verify+replay ok`,
    );
  }
  const bad = await readBack("crash-reader-final", allPuts);
  assert.equal(bad.length, 0, `final: ${bad.length} of ${allPuts.length} acknowledged writes missing; first: ${show(bad.slice(0, 3))}`);
  assert.ok(totals.puts > 0 && totals.leases > 0, `nothing acknowledged: ${show(totals)}`);
  const summary = `crash recovery: ${ROUNDS} rounds x ${CLIENTS} servers killed; ${totals.sent} requests sent, ${totals.puts} memory_put and ${totals.leases} lease_acquire acknowledged, all ${allPuts.length} puts read back`;
  t.diagnostic(summary);
  if (process.env.KEEL_RELIABILITY_REPORT) fs.appendFileSync(process.env.KEEL_RELIABILITY_REPORT, summary + "\n");
});
