// tests/reliability/lib/lease_fold_runs.mjs — the contention runs of the
// lease_team reliability tests, whose journals lib/lease_fold.mjs checks.
// Backend-neutral: the caller passes serve(slot, agent) (a RawServer of
// `keel serve --stdio`, SQLite or a PostgreSQL node) and reads the journal.
//
// - runOppositeOrders(): `procs` processes each take two names in one
//   lease_acquire {names} — half as [a, b], half as [b, a] — with wait_ms,
//   write each name's resource fenced with its token, release the group;
//   `rounds` times each, all at once. No faults: every acquire must be granted.
// - runWithFaults(): `procs` slots acquire what pick() asks (several names,
//   or units of a counted name) until `seconds` have passed, write fenced,
//   release the group; meanwhile holders are SIGKILLed (the slot starts a new
//   server under a new agent name) or SIGSTOPped past the TTL with their
//   fenced writes queued (which must then be refused STALE_FENCE).
// Every call is bounded by a timeout; the runs collect, they do not assert.
import { show, sleep, withTimeout } from "../../e2e/lib/keel.mjs";
import { stdioTool } from "../../e2e/lib/pg.mjs";

// The fenced writes of one grant: one memory_put per lease, key keyOf(lease).
function fencedPuts(s, grant, leases, keyOf) {
  return leases.map((l) =>
    stdioTool(
      s,
      "memory_put",
      { namespace: "shared", key: keyOf(l), value: { agent: grant.agent, token: l.token }, fence: { name: l.name, token: l.token } },
      { timeout: 60_000 },
    ),
  );
}

// opts: {serve(slot, agent) -> RawServer, nodeOf(slot) -> label, procs,
// rounds, names: [a, b], keyOf(lease), ttlMs, waitMs, holdMs, budgetMs,
// prefix (agent names)}. Resolves {rounds: [...], refused, errors, puts,
// putRefused, releaseErrors, shapeErrors, slotsDone, waitsMs, wallMs,
// unfinished (slots that did not finish within budgetMs)}.
export async function runOppositeOrders(opts) {
  const { serve, procs, rounds, names, keyOf, ttlMs, waitMs, holdMs = 5, budgetMs, prefix = "ord" } = opts;
  const nodeOf = opts.nodeOf ?? (() => "");
  const log = { rounds: [], refused: [], errors: [], puts: 0, putRefused: [], releaseErrors: [], shapeErrors: [], waitsMs: [], slotsDone: 0, unfinished: [] };
  const slots = Array.from({ length: procs }, (_, id) => ({ id, agent: `${prefix}-${id}`, done: 0, s: null }));
  for (const slot of slots) slot.s = serve(slot.id, slot.agent);
  await Promise.all(slots.map((slot) => slot.s.initialize({ timeout: 60_000 })));
  const sorted = [...names].sort();
  const t0 = performance.now();
  const one = async (slot) => {
    const s = slot.s;
    const order = slot.id % 2 === 0 ? names : [...names].reverse();
    for (let r = 0; r < rounds; r++) {
      const a0 = performance.now();
      const acq = await stdioTool(s, "lease_acquire", { names: order, ttl_ms: ttlMs, wait_ms: waitMs, reason: `round ${r}` }, { timeout: waitMs + 60_000 });
      const ms = performance.now() - a0;
      log.waitsMs.push(ms);
      if (acq.isError) {
        log.errors.push({ agent: slot.agent, round: r, code: acq.code, text: acq.text });
        continue;
      }
      const a = acq.sc ?? {};
      if (a.granted !== true) {
        log.refused.push({ agent: slot.agent, round: r, ms, refusal: a.refusal, timed_out: a.timed_out, holders: a.holders, ahead: a.ahead });
        continue;
      }
      const leases = a.leases ?? [];
      const grant = { agent: slot.agent, node: nodeOf(slot.id), round: r, group_id: a.group_id, leases: leases.map((l) => ({ name: l.name, token: l.token, lease_id: l.lease_id, group_id: l.group_id })) };
      log.rounds.push(grant);
      const gotNames = leases.map((l) => l.name);
      if (show(gotNames) !== show(sorted) || leases.some((l) => l.group_id !== a.group_id) || !a.group_id || !(leases[0]?.token < leases[1]?.token)) {
        log.shapeErrors.push({ asked: order, got: grant, group_id: a.group_id });
      }
      const puts = await Promise.all(fencedPuts(s, grant, leases, keyOf));
      puts.forEach((p, k) => {
        if (p.isError) log.putRefused.push({ ...grant, name: leases[k].name, code: p.code, text: p.text });
        else log.puts++;
      });
      if (holdMs > 0) await sleep(holdMs);
      const rel = await stdioTool(s, "lease_release", { group_id: a.group_id }, { timeout: 60_000 });
      const released = rel.sc?.releases ?? [];
      if (rel.isError || rel.sc?.released !== true || released.length !== leases.length || released.some((x) => x.released !== true)) {
        log.releaseErrors.push({ ...grant, code: rel.code, text: rel.text, sc: rel.sc });
      }
    }
    slot.done = rounds;
    log.slotsDone++;
  };
  try {
    await withTimeout(Promise.all(slots.map(one)), budgetMs, `${procs} processes x ${rounds} rounds`);
  } catch (e) {
    log.unfinished = slots.filter((x) => x.done < rounds).map((x) => x.agent);
    log.timeoutError = e.message;
  }
  log.wallMs = performance.now() - t0;
  await Promise.all(
    slots.map(async (slot) => {
      try {
        await slot.s.closeAndWait({ timeout: 15_000 });
      } catch {
        slot.s.kill("SIGKILL");
      }
    }),
  );
  return log;
}

// opts: {serve(slot, agent), nodeOf(slot), procs, seconds, pick(slot) -> the
// lease_acquire arguments besides ttl_ms / wait_ms (names or name, units,
// capacity...), keyOf(slot, lease), ttlMs, waitMs, faultEveryMs, prefix}.
// Resolves {grants, accepted, paused, putRefused, releaseErrors,
// acquireErrors, refusals, kills, wallMs}: grants [{agent, node, leases}],
// accepted [{agent, token, name}], paused [{agent, codes, leases}].
export async function runWithFaults(opts) {
  const { serve, procs, seconds, pick, keyOf, ttlMs, waitMs, faultEveryMs = 600, prefix = "flt" } = opts;
  const nodeOf = opts.nodeOf ?? (() => "");
  const log = { grants: [], accepted: [], paused: [], putRefused: [], releaseErrors: [], acquireErrors: [], refusals: [], kills: 0 };
  const slots = Array.from({ length: procs }, (_, id) => ({ id, holding: false, fault: null, server: null }));
  const deadline = Date.now() + seconds * 1000;

  const runSlot = async (slot) => {
    let gen = 0;
    while (Date.now() < deadline) {
      const agent = `${prefix}-${slot.id}-${gen++}`;
      const s = serve(slot.id, agent);
      slot.server = s;
      try {
        await s.initialize({ timeout: 60_000 });
        while (Date.now() < deadline) {
          const args = { ...pick(slot), ttl_ms: ttlMs, wait_ms: waitMs };
          const acq = await stdioTool(s, "lease_acquire", args, { timeout: waitMs + 60_000 });
          if (acq.isError) {
            log.acquireErrors.push({ agent, args, code: acq.code, text: acq.text });
            continue;
          }
          const a = acq.sc ?? {};
          if (a.granted !== true) {
            log.refusals.push({ agent, args, refusal: a.refusal, timed_out: a.timed_out, waited_ms: a.waited_ms, counted: a.counted, ahead: a.ahead?.length });
            continue;
          }
          const leases = a.leases ?? [];
          const grant = { agent, node: nodeOf(slot.id), group_id: a.group_id, leases: leases.map((l) => ({ name: l.name, token: l.token, lease_id: l.lease_id, units: l.units })) };
          log.grants.push(grant);
          slot.holding = true;
          await sleep(Math.floor(Math.random() * 60));
          const key = (l) => keyOf(slot, l);
          if (slot.fault === "pause") {
            slot.fault = null;
            slot.holding = false;
            s.kill("SIGSTOP");
            const puts = Promise.all(fencedPuts(s, grant, leases, key));
            const pausedMs = ttlMs + 300 + Math.floor(Math.random() * 900);
            await sleep(pausedMs);
            s.kill("SIGCONT");
            const res = await puts;
            log.paused.push({ ...grant, pausedMs, codes: res.map((r) => r.code ?? null) });
            res.forEach((r, k) => {
              if (!r.isError) log.accepted.push({ agent, token: leases[k].token, name: leases[k].name });
            });
            continue; // its leases are gone; no release
          }
          const res = await Promise.all(fencedPuts(s, grant, leases, key));
          slot.holding = false;
          res.forEach((r, k) => {
            if (r.isError) log.putRefused.push({ agent, name: leases[k].name, token: leases[k].token, code: r.code, text: r.text });
            else log.accepted.push({ agent, token: leases[k].token, name: leases[k].name });
          });
          const rel = await stdioTool(s, "lease_release", { group_id: a.group_id }, { timeout: 60_000 });
          if (rel.isError) log.releaseErrors.push({ ...grant, code: rel.code, text: rel.text });
        }
        slot.holding = false;
        await s.closeAndWait({ timeout: 15_000 });
      } catch (e) {
        slot.holding = false;
        if (!s.exited) throw e;
        // killed by the injector: a new server, a new agent, carry on
      }
    }
  };

  let injecting = true;
  const injector = (async () => {
    while (injecting && Date.now() < deadline - 1500) {
      await sleep(faultEveryMs / 2 + Math.random() * faultEveryMs);
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
  try {
    await Promise.all(slots.map(runSlot));
  } finally {
    injecting = false;
    await injector;
  }
  log.wallMs = performance.now() - t0;
  return log;
}
