// tests/e2e/multinode.test.mjs — keel on PostgreSQL, several nodes on one database.
//
// Two `keel-pg serve --http` nodes (node-a, node-b) and `keel-pg serve --stdio`
// processes (node-c, node-d), each with its own node id, state dir and project
// dir, all with the same KEEL_STORE_URL (a fresh database) and KEEL_PROJECT_ID,
// as keel processes on different machines would be. Checked across nodes:
//   - a lease granted through one node is refused through every other, and a
//     waiter on another node is woken by the release (LISTEN/NOTIFY);
//   - fencing tokens strictly increase whichever node grants them;
//   - a write fenced with a stale token is refused (STALE_FENCE) on any node;
//   - memory compare-and-set: of two conflicting CAS on two nodes exactly one wins;
//   - an escalation filed on one node is resolved on another (CLI, HTTP
//     endpoint), and the agent waiting in escalation_status wakes promptly;
//     two concurrent resolutions on two nodes: one wins, one gets 409;
//   - the journal names every node that wrote; `keel journal verify` and
//     `keel journal replay` pass at the end.
//
// Needs KEEL_TEST_PG_URL (a superuser URL; the suite creates and drops its own
// database); skipped without it.
// Run: KEEL_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres \
//      KEEL_BIN=build/keel node --test tests/e2e/multinode.test.mjs   (Node 22)
import { KEEL_PG_BIN } from "./lib/pg_bin.mjs";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";

import { parseJsonl, payloadOf, requireBinary, show, sleep } from "./lib/keel.mjs";
import { PG_SKIP, PG_URL, createDatabase, httpTool, makeNode, nodeRoot, stdioTool } from "./lib/pg.mjs";

const T = 30_000;

describe("multi-node on PostgreSQL", { skip: PG_SKIP }, () => {
  let db;
  let tmp;
  let A;
  let B;
  let C;
  let D;
  let CLI;
  let httpA;
  let httpB;
  let stdioC;
  let stdioD;
  const wrote = new Set(); // node ids that made a journaled change

  before(async () => {
    requireBinary();
    db = createDatabase(PG_URL, "keel_mn");
    tmp = nodeRoot("keel-mn-");
    const shared = { storeUrl: db.url, projectId: `mn-${crypto.randomBytes(4).toString("hex")}` };
    A = makeNode(tmp.root, "node-a", shared);
    B = makeNode(tmp.root, "node-b", shared);
    C = makeNode(tmp.root, "node-c", shared);
    D = makeNode(tmp.root, "node-d", shared);
    CLI = makeNode(tmp.root, "node-cli", shared);
    // Node A first: it creates the schema (the others would race for it,
    // which migrate allows, but a failure is clearer this way).
    httpA = await A.serveHttp().catch((e) => {
      throw new Error(`${KEEL_PG_BIN} serve --http on ${db.name}: ${e.message}`);
    });
    httpB = await B.serveHttp();
    stdioC = C.serveStdio("carol");
    stdioD = D.serveStdio("dave");
    await Promise.all([stdioC.initialize({ timeout: T }), stdioD.initialize({ timeout: T })]);
  });

  after(async () => {
    for (const s of [stdioC, stdioD]) if (s) await s.closeAndWait({ timeout: 5000 });
    for (const h of [httpA, httpB]) if (h) await h.stop();
    db?.drop();
    tmp?.remove();
  });

  const onA = (agent, name, args, opts) => httpTool(httpA.url, agent, name, args, opts);
  const onB = (agent, name, args, opts) => httpTool(httpB.url, agent, name, args, opts);
  const onC = (name, args, opts) => stdioTool(stdioC, name, args, opts);
  const onD = (name, args, opts) => stdioTool(stdioD, name, args, opts);
  const ok = (r, what) => {
    assert.ok(!r.isError, `${what}: ${r.code} ${r.text} ${show(r.msg)}`);
    return r.sc;
  };

  test("a lease granted through one node is refused through the others; a waiter on another node wakes on release", async () => {
    const name = "name:mn/exclusive";
    const a = ok(await onA("alice", "lease_acquire", { name, ttl_ms: 60_000, wait_ms: 0 }), "alice acquires on A");
    assert.equal(a.granted, true, show(a));
    wrote.add("node-a");
    const b = ok(await onB("bob", "lease_acquire", { name, ttl_ms: 60_000, wait_ms: 0 }), "bob tries on B");
    assert.equal(b.granted, false, `bob was granted a lease alice holds: ${show(b)}`);
    assert.equal(b.holder, "alice", show(b));
    for (const [label, call] of [["C", onC], ["D", onD]]) {
      const r = ok(await call("lease_acquire", { name, ttl_ms: 60_000, wait_ms: 0 }), `acquire on ${label}`);
      assert.equal(r.granted, false, `granted on ${label} while alice holds: ${show(r)}`);
      assert.equal(r.holder, "alice", show(r));
    }
    // The listing on another node shows alice's hold.
    const ls = ok(await onB("bob", "lease_list", { prefix: "name:mn/" }), "lease_list on B");
    const held = ls.leases.filter((l) => l.name === name);
    assert.equal(held.length, 1, show(ls));
    assert.equal(held[0].holder, "alice");
    assert.equal(held[0].lease_id, a.lease_id);

    // bob waits on B; alice releases on A: bob's wait ends well before its wait_ms.
    const waiting = onB("bob", "lease_acquire", { name, ttl_ms: 60_000, wait_ms: 20_000 });
    await sleep(500);
    const tRel = performance.now();
    ok(await onA("alice", "lease_release", { name, lease_id: a.lease_id }), "alice releases on A");
    const w = ok(await waiting, "bob's wait on B");
    const woke = performance.now() - tRel;
    assert.equal(w.granted, true, show(w));
    assert.ok(w.token > a.token, `token ${w.token} after ${a.token}`);
    assert.ok(woke < 3000, `bob's wait on B ended ${woke.toFixed(0)} ms after the release on A (wait_ms 20000)`);
    wrote.add("node-b");
    ok(await onB("bob", "lease_release", { name, lease_id: w.lease_id }), "bob releases on B");
  });

  test("fencing tokens strictly increase across nodes", async () => {
    const calls = [
      (n) => onA("alice", "lease_acquire", { name: n, ttl_ms: 30_000, wait_ms: 0 }),
      (n) => onC("lease_acquire", { name: n, ttl_ms: 30_000, wait_ms: 0 }),
      (n) => onB("bob", "lease_acquire", { name: n, ttl_ms: 30_000, wait_ms: 0 }),
      (n) => onD("lease_acquire", { name: n, ttl_ms: 30_000, wait_ms: 0 }),
    ];
    // Sequential, round-robin over the nodes: each grant's token above the last.
    let last = -Infinity;
    for (let i = 0; i < 16; i++) {
      const r = ok(await calls[i % 4](`name:mn/seq/${i}`), `acquire ${i}`);
      assert.equal(r.granted, true, show(r));
      assert.ok(r.token > last, `grant ${i} (node ${i % 4}) token ${r.token} not above ${last}`);
      last = r.token;
    }
    wrote.add("node-c").add("node-d");
    // Concurrent, on all nodes at once: all distinct.
    const many = await Promise.all(
      Array.from({ length: 24 }, (_, i) => calls[i % 4](`name:mn/par/${i}`).then((r) => ok(r, `parallel acquire ${i}`))),
    );
    const tokens = many.map((r) => r.token);
    assert.ok(many.every((r) => r.granted === true), show(many));
    assert.equal(new Set(tokens).size, tokens.length, `duplicate tokens across nodes: ${show(tokens)}`);
    assert.ok(Math.min(...tokens) > last, `concurrent tokens ${show(tokens)} not above ${last}`);
  });

  test("a write fenced with a stale token is refused on every node", async () => {
    const name = "name:mn/fenced";
    const key = "mn/fenced";
    const g1 = ok(await onA("alice", "lease_acquire", { name, ttl_ms: 60_000, wait_ms: 0 }), "alice acquires");
    ok(await onA("alice", "memory_put", { namespace: "shared", key, value: { by: "alice" }, fence: { name, token: g1.token } }), "alice's fenced put on A");
    ok(await onA("alice", "lease_release", { name, lease_id: g1.lease_id }), "alice releases");
    const g2 = ok(await onB("bob", "lease_acquire", { name, ttl_ms: 60_000, wait_ms: 0 }), "bob acquires on B");
    assert.equal(g2.granted, true);
    assert.ok(g2.token > g1.token);
    ok(await onB("bob", "memory_put", { namespace: "shared", key, value: { by: "bob" }, fence: { name, token: g2.token } }), "bob's fenced put on B");

    const stale = { namespace: "shared", key, value: { by: "stale" }, fence: { name, token: g1.token } };
    const outcomes = {
      A: await onA("alice", "memory_put", stale),
      B: await onB("alice", "memory_put", stale),
      C: await onC("memory_put", stale),
      D: await onD("memory_put", stale),
    };
    for (const [node, r] of Object.entries(outcomes)) {
      assert.equal(r.isError, true, `stale fenced write accepted on ${node}: ${show(r.msg)}`);
      assert.equal(r.code, "STALE_FENCE", `on ${node}: ${r.code} ${r.text}`);
    }
    // The value is bob's, read through any node.
    for (const r of [await onC("memory_get", { namespace: "shared", key }), await onA("x", "memory_get", { namespace: "shared", key })]) {
      const v = ok(r, "memory_get");
      assert.equal(v.found, true);
      assert.deepEqual(v.value, { by: "bob" });
    }
    ok(await onB("bob", "lease_release", { name, lease_id: g2.lease_id }), "bob releases");
  });

  test("memory compare-and-set across nodes: one of two conflicting writes wins", async () => {
    const rounds = 12;
    for (let i = 0; i < rounds; i++) {
      const key = `mn/cas/${i}`;
      // Create: two nodes race with expected_version 0.
      const creators = await Promise.all([
        onA("alice", "memory_put", { namespace: "shared", key, value: { by: "A", i }, expected_version: 0 }),
        onB("bob", "memory_put", { namespace: "shared", key, value: { by: "B", i }, expected_version: 0 }),
      ]);
      const won = creators.filter((r) => !r.isError);
      assert.equal(won.length, 1, `round ${i}: create race: ${show(creators.map((r) => [r.code, r.text]))}`);
      assert.equal(creators.find((r) => r.isError).code, "VERSION_MISMATCH", show(creators.map((r) => r.code)));
      const v1 = won[0].sc.version;
      // Update: a stdio node and an HTTP node race from the same version.
      const [c, b] = await Promise.all([
        onC("memory_put", { namespace: "shared", key, value: { by: "C", i }, expected_version: v1 }),
        onB("bob", "memory_put", { namespace: "shared", key, value: { by: "B2", i }, expected_version: v1 }),
      ]);
      const winners = [c, b].filter((r) => !r.isError);
      assert.equal(winners.length, 1, `round ${i}: update race: ${show([c, b].map((r) => [r.code, r.text]))}`);
      assert.equal([c, b].find((r) => r.isError).code, "VERSION_MISMATCH");
      const expectBy = c.isError ? "B2" : "C";
      const got = ok(await onD("memory_get", { namespace: "shared", key }), "memory_get on D");
      assert.equal(got.version, winners[0].sc.version);
      assert.ok(got.version > v1);
      assert.deepEqual(got.value, { by: expectBy, i }, `round ${i}: the value is not the winner's`);
    }
  });

  test("an escalation filed on one node is resolved on another; the waiting agent wakes", async () => {
    const ask = (reason) => ({ reason, context: { branch: "release" }, proposal: { command: "git push --force" }, impact: "high" });

    // 1. Filed and waited on over HTTP on node A; resolved by the CLI as node-cli.
    const e1 = ok(await onA("esc-a", "escalation_request", ask("filed on A")), "escalation on A");
    assert.equal(e1.status, "pending", show(e1));
    const wait1 = onA("esc-a", "escalation_status", { id: e1.id, wait_ms: 20_000 });
    await sleep(500);
    const t1 = performance.now();
    const cli = await CLI.keel(["escalation", "resolve", String(e1.id), "--decision", "abort"]);
    assert.equal(cli.code, 0, `escalation resolve on node-cli: ${cli.stdout}\n${cli.stderr}`);
    const tCli = performance.now();
    const s1 = ok(await wait1, "escalation_status wait on A");
    assert.equal(s1.status, "resolved", show(s1));
    assert.equal(s1.decision, "ABORT");
    assert.equal(s1.escalation.resolved_via, "cli");
    const woke1 = performance.now() - tCli;
    assert.ok(woke1 < 3000, `the wait on A ended ${woke1.toFixed(0)} ms after the CLI on another node resolved (wait_ms 20000; CLI took ${(tCli - t1).toFixed(0)} ms)`);
    wrote.add("node-cli");

    // 2. Filed and waited on over stdio (node C); resolved on node B's HTTP endpoint.
    const e2 = ok(await onC("escalation_request", ask("filed on C")), "escalation on C");
    const wait2 = onC("escalation_status", { id: e2.id, wait_ms: 20_000 });
    await sleep(500);
    const base = httpB.url.replace(/\/mcp$/, "");
    const t2 = performance.now();
    const res = await fetch(`${base}/escalations/${e2.id}/resolve`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ decision: "modify", proposal: { command: "git push" } }),
    });
    assert.equal(res.status, 200, await res.text());
    const tHttp = performance.now();
    const s2 = ok(await wait2, "escalation_status wait on C");
    const woke2 = performance.now() - tHttp;
    assert.equal(s2.status, "resolved");
    assert.equal(s2.decision, "MODIFY");
    assert.deepEqual(s2.proposal, { command: "git push" });
    assert.equal(s2.escalation.resolved_via, "http");
    assert.ok(woke2 < 3000, `the wait on C ended ${woke2.toFixed(0)} ms after node B resolved (wait_ms 20000; POST took ${(tHttp - t2).toFixed(0)} ms)`);

    // 3. Two humans on two nodes resolve at once: exactly one wins.
    const e3 = ok(await onD("escalation_request", ask("filed on D")), "escalation on D");
    const post = (h, decision) =>
      fetch(`${h.url.replace(/\/mcp$/, "")}/escalations/${e3.id}/resolve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ decision }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const both = await Promise.all([post(httpA, "override"), post(httpB, "abort")]);
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 409], show(both));
    const winner = both.find((r) => r.status === 200).body;
    const loser = both.find((r) => r.status === 409).body;
    assert.equal(loser.error.code, "CONFLICT");
    assert.equal(loser.escalation.decision, winner.decision);
    const s3 = ok(await onD("escalation_status", { id: e3.id }), "status on D");
    assert.equal(s3.decision, winner.decision);
  });

  test("the journal names every node that wrote; journal verify and replay pass", async () => {
    const exp = await CLI.keel(["journal", "export"], { timeout: 60_000 });
    assert.equal(exp.code, 0, `journal export: ${exp.stderr}`);
    const recs = parseJsonl(exp.stdout);
    assert.ok(recs.length > 40, `only ${recs.length} records`);
    const nodes = new Set(recs.map((r) => r.node));
    for (const n of wrote) assert.ok(nodes.has(n), `no journal record names ${n}; nodes seen: ${show([...nodes])}`);
    assert.ok(recs.every((r) => typeof r.node === "string" && r.node !== ""), `records without a node: ${show(recs.filter((r) => !r.node).slice(0, 2))}`);
    // One chain: seq 1..n without gaps, whichever node appended.
    const seqs = recs.map((r) => r.seq);
    seqs.forEach((s, i) => assert.equal(s, seqs[0] + i, `gap or fork at record ${i}: ${show(seqs.slice(Math.max(0, i - 2), i + 2))}`));
    // Every ACQUIRE token is unique and grows with seq.
    const acq = recs.filter((r) => r.op === "ACQUIRE").map((r) => payloadOf(r).token);
    acq.forEach((t, i) => i === 0 || assert.ok(t > acq[i - 1], `ACQUIRE tokens not increasing in seq order: ${acq[i - 1]} then ${t}`));
    // The RESOLVE records name the node that resolved.
    const resolves = recs.filter((r) => r.op === "RESOLVE").map((r) => r.node);
    assert.ok(resolves.includes("node-cli") && resolves.includes("node-b"), `RESOLVE nodes: ${show(resolves)}`);

    const tail = await B.keel(["journal", "tail", "--json", "--limit", "5"]);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /"node"\s*:\s*"node-/, `journal tail --json shows no node: ${tail.stdout.slice(0, 400)}`);

    const ver = await A.keel(["journal", "verify"], { timeout: 60_000 });
    assert.equal(ver.code, 0, `journal verify: ${ver.stdout}\n${ver.stderr}`);
    const rep = await D.keel(["journal", "replay", "--json"], { timeout: 60_000 });
    assert.equal(rep.code, 0, `journal replay: ${rep.stdout}\n${rep.stderr}`);
    assert.equal(JSON.parse(rep.stdout).equal, true, rep.stdout.slice(0, 1000));
    // journal_tail through a stdio node shows the node field too.
    const jt = ok(await onC("journal_tail", { limit: 20 }), "journal_tail on C");
    assert.ok(JSON.stringify(jt).includes('"node":"node-'), `journal_tail lacks node: ${show(jt)}`);
  });
});
