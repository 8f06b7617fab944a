// tests/reliability/pg_common.mjs — what the PostgreSQL reliability tests share.
//
// - pgSuite(): a private cluster from scripts/pg-cluster (never the shared
//   server: these tests kill, restart and pause PostgreSQL), a fresh database
//   in it, and two "nodes" (own node id, state dir and project dir; same
//   store URL and project id), as keel on two machines;
// - foldExclusive(): the journal folded per lease name in seq order, asserting
//   no two live exclusive holds, strictly increasing tokens, and fenced writes
//   only under the live hold;
// - verifyAndReplay(), readBack().
//
// Skipped (PG_REL_SKIP) when PostgreSQL 15 is not installed here.
import "../e2e/lib/pg_bin.mjs";
import { after, before } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";

import { parseJsonl, payloadOf, requireBinary, show } from "../e2e/lib/keel.mjs";
import { clusterAvailable, createDatabase, makeNode, nodeRoot, startCluster, stdioTool } from "../e2e/lib/pg.mjs";

export const PG_REL_SKIP = clusterAvailable() ? false : "PostgreSQL 15 is not installed (scripts/pg-cluster needs /usr/lib/postgresql/15/bin)";

// Call at a file's top level. Read fields once the suite runs:
// {cluster, db, nodes: [n1, n2], cli, servers, cleanups}: after() awaits the
// cleanups (e.g. stopping HTTP nodes), kills the stdio servers, stops the
// cluster. `config` goes to every node's keel.jsonc.
export function pgSuite(prefix, { config } = {}) {
  const fx = { cluster: undefined, db: undefined, nodes: [], cli: undefined, tmp: undefined, servers: new Set(), cleanups: [] };
  before(() => {
    if (PG_REL_SKIP) return;
    requireBinary();
    fx.cluster = startCluster();
    fx.db = createDatabase(fx.cluster.url, prefix.replace(/\W/g, "_"));
    fx.tmp = nodeRoot(`keel-${prefix}-`);
    const shared = { storeUrl: fx.db.url, projectId: `${prefix}-${crypto.randomBytes(4).toString("hex")}`, config };
    fx.nodes = [makeNode(fx.tmp.root, "rel-n1", shared), makeNode(fx.tmp.root, "rel-n2", shared)];
    fx.cli = makeNode(fx.tmp.root, "rel-cli", shared);
  });
  after(async () => {
    if (PG_REL_SKIP) return;
    for (const c of fx.cleanups) await c();
    for (const s of fx.servers) {
      s.kill("SIGCONT");
      s.kill("SIGKILL");
    }
    try {
      fx.cluster?.stop();
    } finally {
      fx.tmp?.remove();
    }
  });
  // A stdio server for `agent` on node `i` (0 or 1), tracked for the cleanup.
  fx.serve = (i, agent) => {
    const s = fx.nodes[i].serveStdio(agent);
    fx.servers.add(s);
    s.exitPromise.then(() => fx.servers.delete(s));
    return s;
  };
  fx.keel = (args, opts = {}) => fx.cli.keel(args, { timeout: 120_000, ...opts });
  return fx;
}

// `journal verify` and `journal replay --json` pass (replay equal to the tables).
export async function verifyAndReplay(fx, when) {
  const ver = await fx.keel(["journal", "verify"]);
  assert.equal(ver.code, 0, `${when}: journal verify exit ${ver.code}:\n${ver.stdout}\n${ver.stderr}`);
  const rep = await fx.keel(["journal", "replay", "--json"]);
  assert.equal(rep.code, 0, `${when}: journal replay exit ${rep.code}:\n${rep.stdout.slice(0, 2000)}\n${rep.stderr}`);
  const r = JSON.parse(rep.stdout);
  assert.equal(r.equal, true, `${when}: replay differs: ${show(r.differences)}`);
  return r;
}

export async function exportJournal(fx) {
  const exp = await fx.keel(["journal", "export"]);
  assert.equal(exp.code, 0, `journal export exit ${exp.code}: ${exp.stderr}`);
  return parseJsonl(exp.stdout);
}

const LEASE_OPS = new Set(["ACQUIRE", "RELEASE", "EXPIRE"]);

// Folds the journal's lease records under `namePrefix` (e.g. "name:mx/") and
// the MEMORY_PUT records of keys `memPrefix` + k (fenced writes to resource k)
// in seq order. Asserts: no ACQUIRE while another hold of the name is live (or
// before the previous hold ended), ACQUIRE tokens strictly increasing, every
// accepted fenced write under the live hold with its token before its expiry.
// Returns {acquires, expires, puts, tokens: Set, putTokens: Set, nodes: Set}.
export function foldExclusive(recs, namePrefix, memPrefix) {
  const live = new Map();
  const ended = new Map();
  const out = { acquires: 0, expires: 0, puts: 0, tokens: new Set(), putTokens: new Set(), nodes: new Set() };
  let lastToken = -Infinity;
  let lastSeq = -Infinity;
  for (const r of recs) {
    assert.ok(r.seq > lastSeq, `journal export not in seq order at ${r.seq}`);
    lastSeq = r.seq;
    const p = payloadOf(r);
    if (LEASE_OPS.has(r.op) && r.subject.startsWith(namePrefix)) {
      out.nodes.add(r.node);
      const k = r.subject.slice(namePrefix.length);
      const cur = live.get(k);
      if (r.op === "ACQUIRE") {
        out.acquires++;
        assert.equal(cur, undefined, `overlap on ${r.subject}: ACQUIRE seq ${r.seq} (${r.principal}@${r.node}) while seq ${cur?.seq} still holds`);
        assert.ok(p.token > lastToken, `tokens not strictly increasing: seq ${r.seq} token ${p.token} after ${lastToken}`);
        const prevEnd = ended.get(k);
        assert.ok(prevEnd === undefined || p.acquired_at >= prevEnd, `${r.subject}: ACQUIRE seq ${r.seq} at ${p.acquired_at} before the previous hold ended at ${prevEnd}`);
        lastToken = p.token;
        live.set(k, { lease_id: p.lease_id, token: p.token, expires_at: p.expires_at, seq: r.seq });
        out.tokens.add(p.token);
      } else {
        assert.ok(cur, `${r.op} seq ${r.seq} on ${r.subject} with no live hold`);
        assert.equal(p.lease_id, cur.lease_id, `${r.op} seq ${r.seq} ends another hold than the live one`);
        if (r.op === "EXPIRE") {
          out.expires++;
          assert.ok(r.ts >= cur.expires_at, `EXPIRE seq ${r.seq} before the hold's expiry`);
          ended.set(k, cur.expires_at);
        } else {
          assert.ok(r.ts <= cur.expires_at, `RELEASE seq ${r.seq} of a hold already past its expiry should be an EXPIRE`);
          ended.set(k, r.ts);
        }
        live.delete(k);
      }
    } else if (r.op === "MEMORY_PUT" && memPrefix && r.subject.startsWith(memPrefix)) {
      const k = r.subject.slice(memPrefix.length);
      if (p.fence_token === undefined) continue;
      out.puts++;
      const cur = live.get(k);
      assert.ok(cur, `fenced write seq ${r.seq} to ${r.subject} with no live hold (token ${p.fence_token} accepted)`);
      assert.equal(p.fence_token, cur.token, `write seq ${r.seq} to ${r.subject} carries token ${p.fence_token}, live hold has ${cur.token}`);
      assert.ok(r.ts < cur.expires_at, `write seq ${r.seq} accepted after its hold expired`);
      out.putTokens.add(p.fence_token);
    }
  }
  return out;
}

// Reads `puts` ({key, value} in namespace "shared") back through `server`
// (a started RawServer), 64 at a time; returns the missing or wrong ones.
export async function readBack(server, puts) {
  const bad = [];
  for (let off = 0; off < puts.length; off += 64) {
    const chunk = puts.slice(off, off + 64);
    const res = await Promise.all(chunk.map((p) => stdioTool(server, "memory_get", { namespace: "shared", key: p.key }, { timeout: 60_000 })));
    res.forEach((r, k) => {
      if (r.isError || r.sc?.found !== true || JSON.stringify(r.sc.value) !== JSON.stringify(chunk[k].value)) {
        bad.push({ key: chunk[k].key, got: r.isError ? `${r.code} ${r.text}` : r.sc });
      }
    });
  }
  return bad;
}
