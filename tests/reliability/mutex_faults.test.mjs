// tests/reliability/mutex_faults.test.mjs — mutual exclusion while holders die or stall.
//
// 32 `keel serve --stdio` processes (one client each) contend for 4 exclusive
// leases (TTL 1.5 s, wait up to 2 s). A holder writes the lease's resource (a
// shared memory key) fenced with its token, then releases. Faults, chosen at
// random among current holders:
//   - kill: SIGKILL the holder's server at a random moment; its slot starts a
//     new server under a new agent name and carries on;
//   - pause: SIGSTOP the holder's server, send its fenced write, keep it
//     stopped past the TTL (others take the lease meanwhile), SIGCONT: the
//     write must be refused with STALE_FENCE.
// Afterwards, from `keel journal export` folded in seq order per name: no
// ACQUIRE while another hold is live (and none before the previous hold's
// expiry), ACQUIRE tokens strictly increasing, every accepted fenced write
// made under the live hold with its token before that hold expired, every
// grant and accepted write seen by a client journaled; `journal verify` and
// `journal replay` pass; the first token ever granted is refused as stale.
// Duration: 35 s of contention (short), 300 s with KEEL_RELIABILITY_LONG=1, or
// KEEL_MX_SECONDS.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import { stdioStateFixture } from "../e2e/lib/fixture.mjs";
import { parseJsonl, payloadOf, show, sleep } from "../e2e/lib/keel.mjs";

const LONG = process.env.KEEL_RELIABILITY_LONG === "1";
const SECONDS = Number(process.env.KEEL_MX_SECONDS ?? (LONG ? 300 : 35));
const PROCS = 32;
const NAMES = 4;
const TTL_MS = 1500;
const FAULT_EVERY_MS = 600;
const LEASE_OPS = new Set(["ACQUIRE", "RELEASE", "EXPIRE"]);

const fx = stdioStateFixture("keel-rel-mx-");

const nameOf = (k) => `name:mx/${k}`;
const keyOf = (k) => `mx/${k}`;

const serve = (agent) => fx.serve(agent);

// One contender slot. `slot.holding` tells the fault injector it may strike;
// `slot.fault` is what it chose ("kill" is done by the injector, "pause" by
// the slot itself so that its write is surely queued behind the stop).
async function runSlot(slot, deadline, log) {
  let gen = 0;
  while (Date.now() < deadline) {
    const agent = `mx-${slot.id}-${gen++}`;
    const s = serve(agent);
    slot.server = s;
    try {
      await s.initialize({ timeout: 30_000 });
      while (Date.now() < deadline) {
        const k = Math.floor(Math.random() * NAMES);
        const acq = await s.tool("lease_acquire", { name: nameOf(k), ttl_ms: TTL_MS, wait_ms: 2000 }, { timeout: 60_000 });
        const a = acq.structuredContent ?? {};
        if (acq.isError || a.granted !== true) {
          log.busy++;
          continue;
        }
        const grant = { agent, k, token: a.token, lease_id: a.lease_id };
        log.grants.push(grant);
        slot.holding = true;
        await sleep(Math.floor(Math.random() * 60));
        const putArgs = {
          namespace: "shared",
          key: keyOf(k),
          value: { agent, token: a.token },
          fence: { name: nameOf(k), token: a.token },
        };
        if (slot.fault === "pause") {
          slot.fault = null;
          slot.holding = false;
          s.kill("SIGSTOP");
          const put = s.callTool("memory_put", putArgs, { timeout: 60_000 });
          const pausedMs = TTL_MS + 300 + Math.floor(Math.random() * 900);
          await sleep(pausedMs);
          s.kill("SIGCONT");
          const res = await put;
          log.paused.push({ ...grant, pausedMs, code: res.result?._meta?.["dev.keel/error"]?.code ?? null, res });
          if (!res.result?.isError) log.accepted.push(grant);
          continue; // its lease is gone; no release
        }
        const t0 = Date.now();
        const put = await s.tool("memory_put", putArgs, { timeout: 60_000 });
        slot.holding = false;
        if (put.isError) log.putRefused.push({ ...grant, ms: Date.now() - t0, code: put._meta?.["dev.keel/error"]?.code, res: put });
        else log.accepted.push(grant);
        const rel = await s.tool("lease_release", { name: nameOf(k), lease_id: a.lease_id }, { timeout: 60_000 });
        if (rel.isError) log.releaseErrors.push({ ...grant, res: rel });
      }
      slot.holding = false;
      await s.closeAndWait({ timeout: 15_000 });
    } catch (e) {
      slot.holding = false;
      if (!s.exited) throw e;
      // killed by the injector: start a new server and carry on
    }
  }
}

test(`${PROCS} processes, ${NAMES} leases, holders killed and paused for ${SECONDS} s`, { timeout: (SECONDS + 240) * 1000 }, async (t) => {
  const log = { grants: [], accepted: [], paused: [], putRefused: [], releaseErrors: [], kills: 0, busy: 0 };
  const slots = Array.from({ length: PROCS }, (_, id) => ({ id, holding: false, fault: null, server: null }));
  const deadline = Date.now() + SECONDS * 1000;
  let injecting = true;
  const injector = (async () => {
    while (injecting && Date.now() < deadline - 1500) {
      await sleep(FAULT_EVERY_MS / 2 + Math.random() * FAULT_EVERY_MS);
      const holders = slots.filter((s) => s.holding && s.fault === null);
      if (holders.length === 0) continue;
      const slot = holders[Math.floor(Math.random() * holders.length)];
      if (Math.random() < 0.5) {
        slot.fault = "pause";
      } else {
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

  // ------------------------------------------------------------ client view
  const stale = log.paused.filter((p) => p.code === "STALE_FENCE");
  assert.equal(stale.length, log.paused.length, `paused holders' writes not refused as STALE_FENCE: ${show(log.paused.filter((p) => p.code !== "STALE_FENCE").slice(0, 3))}`);
  // A holder whose lease ran out before its write reached the store (a loaded
  // machine) is refused too, and only ever with STALE_FENCE.
  const otherRefusals = log.putRefused.filter((p) => p.code !== "STALE_FENCE");
  assert.equal(otherRefusals.length, 0, `fenced writes refused for another reason: ${show(otherRefusals.slice(0, 3))}`);
  assert.equal(log.releaseErrors.length, 0, `releases failed: ${show(log.releaseErrors.slice(0, 3))}`);
  assert.ok(log.paused.length > 0, "no holder was paused: the fault injector never struck");
  assert.ok(log.kills > 0, "no holder was killed: the fault injector never struck");

  // ---------------------------------------------------------------- journal
  const exp = await fx.keel(["journal", "export"], { timeout: 120_000 });
  assert.equal(exp.code, 0, `journal export exit ${exp.code}: ${exp.stderr}`);
  const recs = parseJsonl(exp.stdout);
  const live = new Map(); // k -> {lease_id, token, expires_at, seq}
  const ended = new Map(); // k -> expires_at / release ts of the last hold
  const journaledGrants = new Set();
  const journaledPuts = new Set();
  let lastToken = -Infinity;
  let acquires = 0;
  let expires = 0;
  let puts = 0;
  for (const r of recs) {
    const p = payloadOf(r);
    if (LEASE_OPS.has(r.op) && r.subject.startsWith("name:mx/")) {
      const k = r.subject.slice("name:mx/".length);
      const cur = live.get(k);
      if (r.op === "ACQUIRE") {
        acquires++;
        assert.equal(cur, undefined, `overlap on ${r.subject}: ACQUIRE seq ${r.seq} (${r.principal}) while seq ${cur?.seq} still holds`);
        assert.ok(p.token > lastToken, `tokens not strictly increasing: seq ${r.seq} token ${p.token} after ${lastToken}`);
        const prevEnd = ended.get(k);
        assert.ok(prevEnd === undefined || p.acquired_at >= prevEnd, `${r.subject}: ACQUIRE seq ${r.seq} at ${p.acquired_at} before the previous hold ended at ${prevEnd}`);
        lastToken = p.token;
        live.set(k, { lease_id: p.lease_id, token: p.token, expires_at: p.expires_at, seq: r.seq });
        journaledGrants.add(p.token);
      } else {
        assert.ok(cur, `${r.op} seq ${r.seq} on ${r.subject} with no live hold`);
        assert.equal(p.lease_id, cur.lease_id, `${r.op} seq ${r.seq} ends another hold than the live one`);
        if (r.op === "EXPIRE") {
          expires++;
          assert.ok(r.ts >= cur.expires_at, `EXPIRE seq ${r.seq} before the hold's expiry`);
          ended.set(k, cur.expires_at);
        } else {
          assert.ok(r.ts <= cur.expires_at, `RELEASE seq ${r.seq} of a hold already past its expiry should be an EXPIRE`);
          ended.set(k, r.ts);
        }
        live.delete(k);
      }
    } else if (r.op === "MEMORY_PUT" && r.subject.startsWith("memory:cross_run/shared/mx/")) {
      puts++;
      const k = r.subject.slice("memory:cross_run/shared/mx/".length);
      const cur = live.get(k);
      assert.ok(cur, `fenced write seq ${r.seq} to ${r.subject} with no live hold (stale token ${p.fence_token} accepted)`);
      assert.equal(p.fence_token, cur.token, `write seq ${r.seq} to ${r.subject} carries token ${p.fence_token}, live hold has ${cur.token}`);
      assert.ok(r.ts < cur.expires_at, `write seq ${r.seq} accepted after its hold expired`);
      journaledPuts.add(p.fence_token);
    }
  }
  const missingGrants = log.grants.filter((g) => !journaledGrants.has(g.token));
  assert.equal(missingGrants.length, 0, `grants a client saw but the journal lacks: ${show(missingGrants.slice(0, 3))}`);
  const missingPuts = log.accepted.filter((g) => !journaledPuts.has(g.token));
  assert.equal(missingPuts.length, 0, `accepted writes the journal lacks: ${show(missingPuts.slice(0, 3))}`);

  const ver = await fx.keel(["journal", "verify"], { timeout: 120_000 });
  assert.equal(ver.code, 0, `journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);
  const rep = await fx.keel(["journal", "replay"], { timeout: 120_000 });
  assert.equal(rep.code, 0, `journal replay exit ${rep.code}:\n${rep.stdout}\n${rep.stderr}`);

  // The oldest token is stale for every resource, from a fresh agent and its first holder alike.
  const chk = serve("mx-check");
  await chk.initialize();
  const first = log.grants.reduce((m, g) => (g.token < m.token ? g : m), log.grants[0]);
  const old = await chk.tool("memory_put", {
    namespace: "shared",
    key: keyOf(first.k),
    value: "stale",
    fence: { name: nameOf(first.k), token: first.token },
  });
  assert.equal(old._meta?.["dev.keel/error"]?.code, "STALE_FENCE", show(old));
  assert.equal((await chk.closeAndWait()).code, 0);

  const summary =
    `mutual exclusion: ${PROCS} processes x ${NAMES} leases for ${wallS.toFixed(0)} s: ${log.grants.length} grants, ` +
    `${log.accepted.length} fenced writes accepted, ${log.kills} holders SIGKILLed, ${log.paused.length} paused past TTL ` +
    `(all ${stale.length} resumed writes refused STALE_FENCE), ${log.putRefused.length} writes of holders whose TTL ran out refused; journal: ${acquires} ACQUIRE, ${expires} EXPIRE, ${puts} fenced MEMORY_PUT, 0 overlaps`;
  t.diagnostic(summary);
  if (process.env.KEEL_RELIABILITY_REPORT) fs.appendFileSync(process.env.KEEL_RELIABILITY_REPORT, summary + "\n");
});
