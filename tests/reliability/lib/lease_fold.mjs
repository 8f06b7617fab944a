// tests/reliability/lib/lease_fold.mjs — the journal folded into the lease
// holds it implies, checking mutual exclusion for multi-name, shared and
// counted leases.
//
// foldLeases(recs, opts) walks `keel journal export` records in seq order and
// keeps the live holds of every lease name that opts.names(name) accepts:
//   ACQUIRE adds a hold (payload: the lease, with units, group_id and, on a
//   counted name, capacity); RENEW / HEARTBEAT move an expiry; ADOPT, UPGRADE,
//   DOWNGRADE replace a hold by lease_id; RELEASE, EXPIRE, SCAVENGE, SUSPEND
//   end holds; ASK_RELEASE changes nothing.
// It reports as violations (it never throws on the journal's content):
//   - an ACQUIRE (or UPGRADE) that conflicts with a hold still live, or with a
//     hold that ended later in time than the new one's acquired_at: on a
//     counted name, more units than its capacity at one moment; elsewhere two
//     holders of overlapping names with one of them exclusive;
//   - fencing tokens (ACQUIRE, ADOPT, UPGRADE, DOWNGRADE) not strictly
//     increasing in seq order;
//   - a multi-name acquire that is not atomic: the ACQUIRE records of one
//     group_id not consecutive among the folded lease records, or with
//     different holders or acquired_at, or tokens not ascending in the
//     canonical (sorted) order of their names;
//   - an end (RELEASE, EXPIRE, ...) of a hold that is not live, an EXPIRE
//     before the hold's expiry, a RELEASE after it;
//   - a fenced MEMORY_PUT (opts.fenceOf(subject) names its lease) whose token
//     is not the token of a live hold on that name, or accepted after the
//     hold's expiry.
// Returns {violations, acquires, releases, expires, upgrades, downgrades,
// ended, puts, tokens: Set, putTokens: Set, nodes: Set, groups: Map(group_id
// -> {holder, names, tokens, acquired_at}), peakUnits: Map(name -> most units
// held at once), peakHolders: Map(name -> most holds at once)}.
import { payloadOf } from "../../e2e/lib/keel.mjs";

// How many ended holds per name are kept for the in-time check (a hold that
// ended long ago cannot overlap a new one).
const RECENT = 256;

// Lease name overlap (state/lease_types.h): a dir: name covers every file: and
// dir: name under it; file: and free names overlap only themselves.
export function namesOverlap(a, b) {
  if (a === b) return true;
  const path = (n) => (n.startsWith("file:") ? n.slice(5) : n.startsWith("dir:") ? n.slice(4) : null);
  const pa = path(a);
  const pb = path(b);
  if (pa === null || pb === null) return false;
  if (a.startsWith("dir:") && pb.startsWith(pa)) return true;
  if (b.startsWith("dir:") && pa.startsWith(pb)) return true;
  return false;
}

// opts: {names(name) -> bool: the lease names to fold; capacities: {name:
// capacity} known beforehand (config lease.capacities), else learned from the
// first ACQUIRE carrying "capacity"; fenceOf(memorySubject) -> lease name or
// undefined: which MEMORY_PUT records are fenced writes under which lease}.
export function foldLeases(recs, { names = () => true, capacities = {}, fenceOf = () => undefined } = {}) {
  const out = {
    violations: [],
    acquires: 0,
    releases: 0,
    expires: 0,
    upgrades: 0,
    downgrades: 0,
    ended: 0,
    puts: 0,
    tokens: new Set(),
    putTokens: new Set(),
    nodes: new Set(),
    groups: new Map(),
    peakUnits: new Map(),
    peakHolders: new Map(),
  };
  const bad = (msg) => {
    if (out.violations.length < 50) out.violations.push(msg);
  };
  const caps = new Map(Object.entries(capacities));
  const live = new Map(); // lease_id -> hold {lease_id, name, holder, mode, token, units, expires_at, acquired_at, group_id, seq}
  const recent = new Map(); // name -> [{holder, mode, units, end, seq}]
  let lastToken = -Infinity;
  let lastSeq = -Infinity;
  let prevLeaseRec = null; // the previous folded lease record {op, group_id}

  const holdsOn = (name) => [...live.values()].filter((h) => namesOverlap(h.name, name));
  const token = (rec, p) => {
    if (!(p.token > lastToken)) bad(`seq ${rec.seq} ${rec.op} ${p.name}: token ${p.token} not above ${lastToken}`);
    lastToken = Math.max(lastToken, p.token);
  };
  // Does the hold `h` (mode, units, holder) conflict with `n` on name `name`?
  const conflicts = (h, n) => h.holder !== n.holder && (h.mode === "exclusive" || n.mode === "exclusive");
  // Checks `n` (about to be live) against the live holds and those ended after n.acquired_at.
  const admit = (rec, n, replacing) => {
    const others = holdsOn(n.name).filter((h) => h.lease_id !== replacing);
    const endedLate = [];
    for (const [name, list] of recent) {
      if (!namesOverlap(name, n.name)) continue;
      for (const e of list) if (e.end > n.acquired_at && e.lease_id !== replacing) endedLate.push(e);
    }
    const cap = caps.get(n.name);
    if (cap !== undefined) {
      const used = [...others, ...endedLate].reduce((s, h) => s + h.units, 0);
      if (used + n.units > cap) {
        bad(
          `seq ${rec.seq} ${rec.op} ${n.name} by ${n.holder} (${n.units} units): ${used} units already held ` +
            `(live: ${others.map((h) => `${h.holder}:${h.units}@${h.seq}`).join(",")}; ended after it began: ` +
            `${endedLate.map((h) => `${h.holder}:${h.units}@${h.seq}`).join(",")}) — over capacity ${cap}`,
        );
      }
      return;
    }
    for (const h of others) {
      if (conflicts(h, n)) bad(`overlap on ${n.name}: seq ${rec.seq} ${rec.op} (${n.holder}, ${n.mode}) while seq ${h.seq} (${h.holder}, ${h.mode}) still holds ${h.name}`);
    }
    for (const e of endedLate) {
      if (conflicts(e, n)) bad(`overlap in time on ${n.name}: seq ${rec.seq} ${rec.op} acquired at ${n.acquired_at}, before the hold of ${e.holder} (seq ${e.seq}) ended at ${e.end}`);
    }
  };
  const peaks = (name) => {
    const hs = [...live.values()].filter((h) => h.name === name);
    const units = hs.reduce((s, h) => s + h.units, 0);
    out.peakUnits.set(name, Math.max(out.peakUnits.get(name) ?? 0, units));
    out.peakHolders.set(name, Math.max(out.peakHolders.get(name) ?? 0, hs.length));
  };
  const holdOf = (rec, p) => ({
    lease_id: p.lease_id,
    name: p.name,
    holder: p.holder,
    mode: p.mode ?? "exclusive",
    token: p.token,
    units: p.units ?? 1,
    group_id: p.group_id ?? "",
    acquired_at: p.acquired_at,
    expires_at: p.expires_at,
    seq: rec.seq,
  });
  const end = (rec, leaseId, at, how) => {
    const h = live.get(leaseId);
    if (!h) return false;
    live.delete(leaseId);
    out.ended++;
    const list = recent.get(h.name) ?? [];
    list.push({ ...h, end: at });
    if (list.length > RECENT) list.shift();
    recent.set(h.name, list);
    if (how === "EXPIRE" && rec.ts < h.expires_at) bad(`EXPIRE seq ${rec.seq} of ${h.name} at ${rec.ts}, before the hold's expiry ${h.expires_at}`);
    if (how === "RELEASE" && rec.ts > h.expires_at) bad(`RELEASE seq ${rec.seq} of ${h.name} at ${rec.ts}, after the hold's expiry ${h.expires_at} (should be an EXPIRE)`);
    return true;
  };

  for (const rec of recs) {
    if (!(rec.seq > lastSeq)) bad(`journal export not in seq order at ${rec.seq}`);
    lastSeq = rec.seq;
    const p = payloadOf(rec);
    switch (rec.op) {
      case "ACQUIRE": {
        if (!names(p.name)) break;
        out.nodes.add(rec.node);
        out.acquires++;
        if (p.capacity !== undefined && !caps.has(p.name)) caps.set(p.name, p.capacity);
        if (p.capacity !== undefined && caps.get(p.name) !== p.capacity) bad(`seq ${rec.seq} ACQUIRE ${p.name} with capacity ${p.capacity}, declared ${caps.get(p.name)}`);
        const n = holdOf(rec, p);
        token(rec, p);
        if (n.group_id) {
          const g = out.groups.get(n.group_id);
          if (g) {
            if (!(prevLeaseRec?.op === "ACQUIRE" && prevLeaseRec.group_id === n.group_id)) {
              bad(`group ${n.group_id}: ACQUIRE seq ${rec.seq} of ${n.name} not next to the group's other ACQUIRE records (previous lease record: ${prevLeaseRec?.op} seq ${prevLeaseRec?.seq})`);
            }
            if (g.holder !== n.holder || g.acquired_at !== n.acquired_at) bad(`group ${n.group_id}: seq ${rec.seq} holder/acquired_at ${n.holder}/${n.acquired_at} differ from ${g.holder}/${g.acquired_at}`);
            const last = g.names[g.names.length - 1];
            if (!(n.name > last)) bad(`group ${n.group_id}: ${n.name} (token ${n.token}) granted after ${last}: not in canonical order`);
            g.names.push(n.name);
            g.tokens.push(n.token);
          } else {
            out.groups.set(n.group_id, { holder: n.holder, names: [n.name], tokens: [n.token], acquired_at: n.acquired_at, seq: rec.seq });
          }
        }
        if (live.has(n.lease_id)) bad(`seq ${rec.seq} ACQUIRE of lease_id ${n.lease_id}, already live`);
        admit(rec, n, null);
        live.set(n.lease_id, n);
        out.tokens.add(n.token);
        peaks(n.name);
        prevLeaseRec = { op: "ACQUIRE", group_id: n.group_id, seq: rec.seq };
        break;
      }
      case "UPGRADE":
      case "DOWNGRADE":
      case "ADOPT": {
        if (!names(p.name)) break;
        const old = live.get(p.lease_id);
        if (!old) {
          bad(`${rec.op} seq ${rec.seq} of ${p.name}: lease ${p.lease_id} is not live`);
          break;
        }
        const n = { ...holdOf(rec, p), acquired_at: rec.op === "ADOPT" ? p.acquired_at : rec.ts };
        token(rec, p);
        if (rec.op === "UPGRADE") {
          out.upgrades++;
          if (old.mode !== "shared" || n.mode !== "exclusive") bad(`UPGRADE seq ${rec.seq} of ${p.name}: ${old.mode} -> ${n.mode}`);
          admit(rec, n, n.lease_id);
        } else if (rec.op === "DOWNGRADE") {
          out.downgrades++;
          if (old.mode !== "exclusive" || n.mode !== "shared") bad(`DOWNGRADE seq ${rec.seq} of ${p.name}: ${old.mode} -> ${n.mode}`);
        }
        live.set(n.lease_id, n);
        out.tokens.add(n.token);
        peaks(n.name);
        prevLeaseRec = { op: rec.op, seq: rec.seq };
        break;
      }
      case "RENEW": {
        const h = live.get(p.lease_id);
        if (h) h.expires_at = p.expires_at;
        else if (names(p.name ?? rec.subject)) bad(`RENEW seq ${rec.seq}: lease ${p.lease_id} is not live`);
        break;
      }
      case "HEARTBEAT":
        for (const e of p.leases ?? []) {
          const h = live.get(e.lease_id);
          if (h) h.expires_at = e.expires_at;
        }
        break;
      case "RELEASE":
      case "EXPIRE": {
        if (!names(p.name ?? rec.subject)) break;
        const h = live.get(p.lease_id);
        const at = rec.op === "EXPIRE" ? (h?.expires_at ?? rec.ts) : rec.ts;
        if (!end(rec, p.lease_id, at, rec.op)) bad(`${rec.op} seq ${rec.seq} of ${p.name ?? rec.subject}: lease ${p.lease_id} is not live`);
        else if (rec.op === "RELEASE") out.releases++;
        else out.expires++;
        prevLeaseRec = { op: rec.op, seq: rec.seq };
        break;
      }
      case "SCAVENGE":
      case "SUSPEND":
        for (const e of (rec.op === "SCAVENGE" ? p.leases : p.released) ?? []) {
          if (live.has(e.lease_id)) end(rec, e.lease_id, rec.ts, rec.op);
        }
        prevLeaseRec = { op: rec.op, seq: rec.seq };
        break;
      case "MEMORY_PUT": {
        const name = fenceOf(rec.subject);
        if (name === undefined || p.fence_token === undefined) break;
        out.puts++;
        const h = [...live.values()].find((x) => x.name === name && x.token === p.fence_token);
        if (!h) bad(`fenced write seq ${rec.seq} to ${rec.subject} with token ${p.fence_token}: no live hold of ${name} has it`);
        else if (!(rec.ts < h.expires_at)) bad(`fenced write seq ${rec.seq} to ${rec.subject} accepted at ${rec.ts}, after its hold expired at ${h.expires_at}`);
        out.putTokens.add(p.fence_token);
        break;
      }
      default:
        break;
    }
  }
  out.live = [...live.values()];
  return out;
}
