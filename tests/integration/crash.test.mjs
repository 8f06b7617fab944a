// tests/integration/crash.test.mjs — an acknowledged write survives SIGKILL.
//
// Each round spawns `keel serve --stdio --agent crash`, streams memory_put
// calls with up to 16 in flight, notes which were acknowledged (a result
// without isError reached stdout), and SIGKILLs the server after a random
// 200-800 ms. A fresh server must then return every acknowledged key with its
// value, `keel journal verify` must pass, and the journal must hold at least
// as many MEMORY_PUT records as there were acknowledgements. Three rounds on
// one state dir; every round re-checks the keys of all earlier rounds.
//
// Run: KEEL_BIN=build/keel node --test tests/integration/crash.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";

import { pumpUntilKilled, stdioStateFixture } from "../e2e/lib/fixture.mjs";
import { parseJsonl, show, sleep } from "../e2e/lib/keel.mjs";

const ROUNDS = Number(process.env.KEEL_CRASH_ROUNDS ?? 3);
const IN_FLIGHT = 16;

const fx = stdioStateFixture("keel-crash-");
const serve = (label) => fx.serve("crash", { label });

// Streams puts until the server dies; returns the acknowledged indices.
async function writeUntilKilled(round, firstIndex, killAfterMs) {
  const s = serve(`crash-writer-${round}`);
  await s.initialize({ timeout: 20_000 });
  const acked = [];
  const refused = [];
  const sent = await pumpUntilKilled(s, { inFlight: IN_FLIGHT, killAfterMs }, (j) => {
    const i = firstIndex + j;
    return s.callTool("memory_put", { tier: "cross_run", key: `k${i}`, value: { i } }, { timeout: 30_000 }).then((res) => {
      if (res.result && res.result.isError !== true) acked.push(i);
      else refused.push({ i, res });
    });
  });
  // Responses already in the pipe when the kill landed have been read by now
  // (they are acknowledgements too); let the event loop drain.
  await sleep(50);
  return { acked, refused, sent, exitSignal: s.exitSignal, nextIndex: firstIndex + sent };
}

// Checks every key with one fresh server and many pipelined memory_get calls.
async function checkAll(round, ackedAll) {
  const s = serve(`crash-reader-${round}`);
  await s.initialize({ timeout: 20_000 });
  const missing = [];
  const wrong = [];
  for (let off = 0; off < ackedAll.length; off += 64) {
    const chunk = ackedAll.slice(off, off + 64);
    const res = await Promise.all(chunk.map((i) => s.tool("memory_get", { tier: "cross_run", key: `k${i}` }, { timeout: 30_000 })));
    res.forEach((r, j) => {
      const i = chunk[j];
      const sc = r.structuredContent ?? {};
      if (r.isError || sc.found !== true) missing.push({ i, r });
      else if (JSON.stringify(sc.value) !== JSON.stringify({ i })) wrong.push({ i, value: sc.value });
    });
  }
  const exit = await s.closeAndWait({ timeout: 10_000 });
  assert.equal(s.badLines.length, 0, `reader stdout lines that are not JSON-RPC: ${show(s.badLines.slice(0, 3))}`);
  return { missing, wrong, exit };
}

test(`acknowledged memory_put survives SIGKILL (${ROUNDS} rounds)`, { timeout: 300_000 }, async (t) => {
  const ackedAll = [];
  let next = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const delay = 200 + Math.floor(Math.random() * 601);
    const w = await writeUntilKilled(round, next, delay);
    next = w.nextIndex;
    assert.equal(w.exitSignal, "SIGKILL", `round ${round}: the writer should die by SIGKILL`);
    assert.equal(w.refused.length, 0, `round ${round}: puts refused before the kill: ${show(w.refused.slice(0, 3))}`);
    ackedAll.push(...w.acked);

    const t0 = performance.now();
    const c = await checkAll(round, ackedAll);
    const checkMs = performance.now() - t0;
    t.diagnostic(
      `round ${round}: killed after ${delay} ms, ${w.sent} sent, ${w.acked.length} acknowledged ` +
        `(${ackedAll.length} in all), checked in ${checkMs.toFixed(0)} ms`,
    );
    assert.equal(
      c.missing.length,
      0,
      `round ${round}: ${c.missing.length} of ${ackedAll.length} acknowledged keys lost after SIGKILL; first: ${show(c.missing.slice(0, 3))}`,
    );
    assert.equal(c.wrong.length, 0, `round ${round}: ${c.wrong.length} wrong values; first: ${show(c.wrong.slice(0, 3))}`);
    assert.equal(c.exit.code, 0, `reader exit ${show(c.exit)}`);

    const ver = await fx.keel(["journal", "verify"]);
    assert.equal(ver.code, 0, `round ${round}: journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);

    const exp = await fx.keel(["journal", "export"]);
    assert.equal(exp.code, 0, `journal export exit ${exp.code}: ${exp.stderr}`);
    const puts = parseJsonl(exp.stdout).filter((r) => r.op === "MEMORY_PUT").length;
    assert.ok(puts >= ackedAll.length, `round ${round}: ${puts} MEMORY_PUT records < ${ackedAll.length} acknowledged`);
  }
  assert.ok(ackedAll.length > 0, "no write was acknowledged in any round (server too slow to answer within 200 ms?)");
});
