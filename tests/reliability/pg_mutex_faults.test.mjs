// tests/reliability/pg_mutex_faults.test.mjs — mutual exclusion on PostgreSQL, two nodes.
//
// The check of mutex_faults.test.mjs with keel on PostgreSQL: 16 `keel-pg
// serve --stdio` processes, alternating between two nodes, contend for 4
// exclusive leases (TTL 1.5 s, wait up to 2 s). A holder writes the lease's
// resource fenced with its token, then releases. Faults on random holders:
// SIGKILL (the slot restarts under a new agent name, on the same node), or
// SIGSTOP past the TTL with its fenced write queued (refused STALE_FENCE on
// SIGCONT). Then, from the journal folded in seq order: no two live holds of a
// name, tokens strictly increasing, every accepted fenced write under the live
// hold; every grant and accepted write a client saw is journaled; both nodes
// granted; `journal verify` and `journal replay` pass; the first token ever
// granted is refused as stale through either node.
// Duration: 25 s (short), 300 s with KEEL_RELIABILITY_LONG=1, or KEEL_PG_MX_SECONDS.
import "../e2e/lib/pg_bin.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import { show, sleep } from "../e2e/lib/keel.mjs";
import { stdioTool } from "../e2e/lib/pg.mjs";
import { PG_REL_SKIP, exportJournal, foldExclusive, pgSuite, verifyAndReplay } from "./pg_common.mjs";

const LONG = process.env.KEEL_RELIABILITY_LONG === "1";
const SECONDS = Number(process.env.KEEL_PG_MX_SECONDS ?? (LONG ? 300 : 25));
const PROCS = 16;
const NAMES = 4;
const TTL_MS = 1500;
const FAULT_EVERY_MS = 600;

const fx = pgSuite("pg_mx");
const nameOf = (k) => `name:mx/${k}`;
const keyOf = (k) => `mx/${k}`;

async function runSlot(slot, deadline, log) {
  let gen = 0;
  const node = slot.id % 2;
  while (Date.now() < deadline) {
    const agent = `pgmx-${slot.id}-${gen++}`;
    const s = fx.serve(node, agent);
    slot.server = s;
    try {
      await s.initialize({ timeout: 60_000 });
      while (Date.now() < deadline) {
        const k = Math.floor(Math.random() * NAMES);
        const acq = await stdioTool(s, "lease_acquire", { name: nameOf(k), ttl_ms: TTL_MS, wait_ms: 2000 }, { timeout: 60_000 });
        if (acq.isError) log.acquireErrors.push({ agent, code: acq.code, text: acq.text });
        if (acq.isError || acq.sc?.granted !== true) {
          log.busy++;
          continue;
        }
        const a = acq.sc;
        const grant = { agent, node, k, token: a.token, lease_id: a.lease_id };
        log.grants.push(grant);
        slot.holding = true;
        await sleep(Math.floor(Math.random() * 60));
        const putArgs = { namespace: "shared", key: keyOf(k), value: { agent, token: a.token }, fence: { name: nameOf(k), token: a.token } };
        if (slot.fault === "pause") {
          slot.fault = null;
          slot.holding = false;
          s.kill("SIGSTOP");
          const put = stdioTool(s, "memory_put", putArgs, { timeout: 60_000 });
          const pausedMs = TTL_MS + 300 + Math.floor(Math.random() * 900);
          await sleep(pausedMs);
          s.kill("SIGCONT");
          const res = await put;
          log.paused.push({ ...grant, pausedMs, code: res.code ?? null, text: res.text });
          if (!res.isError) log.accepted.push(grant);
          continue;
        }
        const put = await stdioTool(s, "memory_put", putArgs, { timeout: 60_000 });
        slot.holding = false;
        if (put.isError) log.putRefused.push({ ...grant, code: put.code, text: put.text });
        else log.accepted.push(grant);
        const rel = await stdioTool(s, "lease_release", { name: nameOf(k), lease_id: a.lease_id }, { timeout: 60_000 });
        if (rel.isError) log.releaseErrors.push({ ...grant, code: rel.code, text: rel.text });
      }
      slot.holding = false;
      await s.closeAndWait({ timeout: 15_000 });
    } catch (e) {
      slot.holding = false;
      if (!s.exited) throw e;
    }
  }
}

test(`PostgreSQL: ${PROCS} processes on two nodes, ${NAMES} leases, holders killed and paused for ${SECONDS} s`, { skip: PG_REL_SKIP, timeout: (SECONDS + 300) * 1000 }, async (t) => {
  const log = { grants: [], accepted: [], paused: [], putRefused: [], releaseErrors: [], acquireErrors: [], kills: 0, busy: 0 };
  const slots = Array.from({ length: PROCS }, (_, id) => ({ id, holding: false, fault: null, server: null }));
  const deadline = Date.now() + SECONDS * 1000;
  let injecting = true;
  const injector = (async () => {
    while (injecting && Date.now() < deadline - 1500) {
      await sleep(FAULT_EVERY_MS / 2 + Math.random() * FAULT_EVERY_MS);
      const holders = slots.filter((s) => s.holding && s.fault === null);
      if (holders.length === 0) continue;
      const slot = holders[Math.floor(Math.random() * holders.length)];
      if (Math.random() < 0.5) slot.fault = "pause";
      else {
        slot.holding = false;
        log.kills++;
        slot.server.kill("SIGKILL");
      }
    }
  })();
  const t0 = performance.now();
  await Promise.all(slots.map((slot) => runSlot(slot, deadline, log)));
  injecting = false;
  await injector;
  const wallS = (performance.now() - t0) / 1000;

  const stale = log.paused.filter((p) => p.code === "STALE_FENCE");
  assert.equal(stale.length, log.paused.length, `paused holders' writes not refused as STALE_FENCE: ${show(log.paused.filter((p) => p.code !== "STALE_FENCE").slice(0, 3))}`);
  const otherRefusals = log.putRefused.filter((p) => p.code !== "STALE_FENCE");
  assert.equal(otherRefusals.length, 0, `fenced writes refused for another reason: ${show(otherRefusals.slice(0, 3))}`);
  assert.equal(log.releaseErrors.length, 0, `releases failed: ${show(log.releaseErrors.slice(0, 3))}`);
  assert.equal(log.acquireErrors.length, 0, `lease_acquire failed: ${show(log.acquireErrors.slice(0, 3))}`);
  assert.ok(log.paused.length > 0, "no holder was paused: the fault injector never struck");
  assert.ok(log.kills > 0, "no holder was killed: the fault injector never struck");
  assert.ok(new Set(log.grants.map((g) => g.node)).size === 2, "grants came from one node only");

  const recs = await exportJournal(fx);
  const f = foldExclusive(recs, "name:mx/", "memory:cross_run/shared/mx/");
  const missingGrants = log.grants.filter((g) => !f.tokens.has(g.token));
  assert.equal(missingGrants.length, 0, `grants a client saw but the journal lacks: ${show(missingGrants.slice(0, 3))}`);
  const missingPuts = log.accepted.filter((g) => !f.putTokens.has(g.token));
  assert.equal(missingPuts.length, 0, `accepted writes the journal lacks: ${show(missingPuts.slice(0, 3))}`);
  assert.ok(f.nodes.has("rel-n1") && f.nodes.has("rel-n2"), `lease records' nodes: ${show([...f.nodes])}`);
  await verifyAndReplay(fx, "after the contention");

  const first = log.grants.reduce((m, g) => (g.token < m.token ? g : m), log.grants[0]);
  for (const node of [0, 1]) {
    const chk = fx.serve(node, `pgmx-check-${node}`);
    await chk.initialize({ timeout: 30_000 });
    const old = await stdioTool(chk, "memory_put", { namespace: "shared", key: keyOf(first.k), value: "stale", fence: { name: nameOf(first.k), token: first.token } });
    assert.equal(old.code, "STALE_FENCE", `node ${node}: ${show(old.msg)}`);
    assert.equal((await chk.closeAndWait()).code, 0);
  }

  const summary =
    `pg mutual exclusion: ${PROCS} processes on 2 nodes x ${NAMES} leases for ${wallS.toFixed(0)} s: ${log.grants.length} grants, ` +
    `${log.accepted.length} fenced writes accepted, ${log.kills} holders SIGKILLed, ${log.paused.length} paused past TTL ` +
    `(all refused STALE_FENCE), ${log.putRefused.length} late writes refused; journal: ${f.acquires} ACQUIRE, ${f.expires} EXPIRE, ${f.puts} fenced MEMORY_PUT, 0 overlaps`;
  t.diagnostic(summary);
  if (process.env.KEEL_RELIABILITY_REPORT) fs.appendFileSync(process.env.KEEL_RELIABILITY_REPORT, summary + "\n");
});
