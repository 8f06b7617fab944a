// Leases as a team (issue 18) end to end: two `keel serve --stdio` processes
// (agents A and B) on one state directory with a config that declares a
// counted name. Many names all or nothing across processes, a queued waiter
// shown by lease_list and served when the holder lets go, a release ask,
// counted units with "waited and timed out" vs an immediate refusal,
// upgrade/downgrade, release by group, and the journal (ASK_RELEASE, UPGRADE,
// DOWNGRADE) replaying to the lease table. `keel lease ls --json` agrees.
// On SQLite, and on PostgreSQL (a fresh database, `--store URL`: the static
// keel re-executes as keel-pg) when KEEL_TEST_PG_URL is set.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { RawServer, mkTmp, parseJsonl, requireBinary, rmTmp, runKeel, show, sleep } from "./lib/keel.mjs";
import { PG_SKIP, PG_URL, createDatabase } from "./lib/pg.mjs";

for (const backend of [{ name: "SQLite" }, { name: "PostgreSQL", skip: PG_SKIP }]) suite(backend);

function suite(backend) {
  let tmp;
  let stateDir;
  let config;
  let db;
  let A;
  let B;
  // --store URL on PostgreSQL; the state dir is used either way (SQLite's file, the hook's markers).
  const where = () => ["--state", stateDir, "--config", config, ...(db ? ["--store", db.url] : [])];

  async function serve(agent) {
    const s = new RawServer(["serve", "--stdio", "--agent", agent, ...where()], { cwd: tmp, label: agent });
    await s.initialize({ timeout: 30_000 });
    return s;
  }

  // A tool result that is not an error: its structuredContent (and text).
  async function ok(server, name, args, opts) {
    const r = await server.tool(name, args, opts);
    assert.equal(r.isError, false, `${name} ${show(args)} -> ${show(r)}`);
    return { ...r.structuredContent, text: r.content?.[0]?.text ?? "" };
  }
  async function refused(server, name, args) {
    const r = await server.tool(name, args);
    assert.equal(r.isError, true, `${name} ${show(args)} should fail: ${show(r)}`);
    return r._meta?.["dev.keel/error"]?.code;
  }
  const keel = (args) => runKeel([...args, ...where()], { cwd: tmp });

  describe(`leases as a team over two keel serve processes (${backend.name})`, { skip: backend.skip }, () => {
    before(async () => {
      requireBinary();
      db = backend.name === "PostgreSQL" ? createDatabase(PG_URL, "keel_lease_team") : undefined;
      tmp = fs.realpathSync(mkTmp("keel-lease-team-"));
      stateDir = path.join(tmp, "state");
      config = path.join(tmp, "keel.jsonc");
      fs.writeFileSync(config, '{"lease": {"capacities": {"slot:build": 2}}}\n');
      A = await serve("agent-A");
      B = await serve("agent-B");
    });
    after(async () => {
      for (const s of [A, B]) await s?.closeAndWait();
      db?.drop();
      rmTmp(tmp);
    });

    test("tools/list declares the new arguments and tools", async () => {
      const { result } = await A.request("tools/list", {});
      const byName = Object.fromEntries(result.tools.map((t) => [t.name, t]));
      const acq = byName.lease_acquire.inputSchema.properties;
      assert.equal(acq.names.type, "array");
      assert.equal(acq.names.maxItems, 64);
      assert.equal(acq.names.minItems, 1);
      assert.equal(acq.priority.minimum, -10);
      assert.equal(acq.priority.maximum, 10);
      assert.equal(acq.units.minimum, 1);
      assert.ok(byName.lease_acquire.outputSchema.properties.refusal.enum.includes("capacity"));
      assert.deepEqual(byName.lease_request_release.inputSchema.required.sort(), ["name", "reason"]);
      assert.deepEqual(byName.lease_downgrade.inputSchema.required.sort(), ["lease_id", "name"]);
      assert.ok(byName.lease_release.inputSchema.properties.group_id);
      assert.ok(byName.lease_list.outputSchema.properties.waiters);
    });

    test("two names: refused whole while one is held; a waiter is queued, asked for, then served", async () => {
      const fa = `file:${tmp}/src/api.h`;
      const fb = `file:${tmp}/src/api.cpp`;
      const held = await ok(A, "lease_acquire", { name: fb, ttl_ms: 60_000 });
      assert.equal(held.granted, true, show(held));

      const now = await ok(B, "lease_acquire", { names: [fb, fa], ttl_ms: 60_000 });
      assert.equal(now.granted, false, show(now));
      assert.equal(now.refusal, "held");
      assert.deepEqual(now.names, [fa, fb].sort());
      assert.match(now.text, /^refused: .*api\.cpp is held by agent-A/);
      const board0 = await ok(A, "lease_list", { prefix: `file:${tmp}` });
      assert.equal(board0.leases.length, 1, `nothing of B's request was granted: ${show(board0)}`);

      // B queues for both (another process), and asks A to let go.
      const pending = B.tool("lease_acquire", { names: [fa, fb], ttl_ms: 60_000, wait_ms: 20_000 }, { timeout: 30_000 });
      let board;
      for (let i = 0; i < 100; i++) {
        board = await ok(A, "lease_list", {});
        if (board.waiters.length > 0) break;
        await sleep(50);
      }
      assert.equal(board.waiters.length, 1, `B waits in the queue: ${show(board)}`);
      assert.equal(board.waiters[0].agent, "agent-B");
      assert.deepEqual(board.waiters[0].names, [fa, fb].sort());
      assert.match(board.text, /queue \(served in this order\):\n  1\. agent-B waits for/);

      const ask = await ok(B, "lease_request_release", { name: fb, reason: "I need api.cpp with api.h" });
      assert.deepEqual(ask.asks.map((a) => a.holder), ["agent-A"]);
      const asked = await ok(A, "lease_list", {});
      assert.equal(asked.asks.length, 1, show(asked));
      assert.equal(asked.asks[0].asker, "agent-B");
      assert.equal(asked.asks[0].reason, "I need api.cpp with api.h");
      assert.match(asked.text, /agent-B asks agent-A to release .*api\.cpp: I need api\.cpp with api\.h/);

      const rel = await ok(A, "lease_release", { name: fb, lease_id: held.lease_id });
      assert.equal(rel.released, true);
      const r = await pending;
      assert.equal(r.isError, false, show(r));
      const g = r.structuredContent;
      assert.equal(g.granted, true, show(g));
      assert.equal(g.leases.length, 2);
      assert.deepEqual(g.leases.map((l) => l.name), [fa, fb].sort());
      assert.equal(g.leases[0].group_id, g.leases[1].group_id);
      assert.ok(g.leases[0].token < g.leases[1].token, show(g.leases));
      assert.ok(g.leases[1].token > held.token, "newer tokens than A's");
      const after = await ok(A, "lease_list", {});
      assert.equal(after.waiters.length, 0, `the queue is empty once served: ${show(after)}`);
      assert.equal(after.asks.length, 0, `an ask on a released name is no longer open: ${show(after)}`);

      const byGroup = await ok(B, "lease_release", { group_id: g.group_id });
      assert.equal(byGroup.releases.length, 2, show(byGroup));
      assert.equal((await ok(A, "lease_list", { prefix: `file:${tmp}` })).leases.length, 0);
    });

    test("a counted name from the config: units within capacity; timed out vs refused at once", async () => {
      const two = await ok(A, "lease_acquire", { name: "slot:build", units: 2, ttl_ms: 60_000 });
      assert.equal(two.granted, true, show(two));
      assert.equal(two.units, 2);

      const at_once = await ok(B, "lease_acquire", { name: "slot:build" });
      assert.equal(at_once.refusal, "capacity", show(at_once));
      assert.equal(at_once.timed_out, undefined);
      assert.match(at_once.text, /^refused: not enough capacity on slot:build: 2 of 2 units used, 0 free/);
      assert.deepEqual(at_once.counted, [{ name: "slot:build", capacity: 2, used: 2, free: 0 }]);

      const t0 = Date.now();
      const waited = await ok(B, "lease_acquire", { name: "slot:build", wait_ms: 400 });
      assert.ok(Date.now() - t0 >= 350, "it waited");
      assert.equal(waited.granted, false);
      assert.equal(waited.timed_out, true, show(waited));
      assert.ok(waited.waited_ms >= 350, show(waited));
      assert.match(waited.text, /^waited \d+ ms and timed out: not enough capacity on slot:build/);

      // A capacity that contradicts the config, or more units than it, are refused as arguments.
      assert.equal(await refused(B, "lease_acquire", { name: "slot:build", capacity: 3 }), "INVALID_ARGUMENT");
      assert.equal(await refused(B, "lease_acquire", { name: "slot:build", units: 3 }), "INVALID_ARGUMENT");

      const ls = await keel(["lease", "ls", "--json"]);
      assert.equal(ls.code, 0, ls.stderr);
      const board = JSON.parse(ls.stdout);
      assert.deepEqual(board.capacities, [{ name: "slot:build", capacity: 2, used: 2, free: 0 }]);
      await ok(A, "lease_release", { name: "slot:build", lease_id: two.lease_id });
    });

    test("upgrade in place and downgrade, journaled; the journal replays to the table", async () => {
      const name = "doc:design";
      const shared = await ok(A, "lease_acquire", { name, mode: "shared", ttl_ms: 60_000 });
      const up = await ok(A, "lease_acquire", { name, mode: "exclusive", ttl_ms: 60_000 });
      assert.equal(up.upgraded, true, show(up));
      assert.equal(up.lease_id, shared.lease_id);
      assert.ok(up.token > shared.token);
      assert.equal((await ok(B, "lease_acquire", { name, mode: "shared" })).granted, false);
      const down = await ok(A, "lease_downgrade", { name, lease_id: up.lease_id });
      assert.equal(down.mode, "shared");
      assert.ok(down.token > up.token);
      assert.equal((await ok(B, "lease_acquire", { name, mode: "shared" })).granted, true);

      const exp = await keel(["journal", "export"]);
      assert.equal(exp.code, 0, exp.stderr);
      const ops = parseJsonl(exp.stdout).map((r) => r.op);
      for (const op of ["ASK_RELEASE", "UPGRADE", "DOWNGRADE"]) assert.ok(ops.includes(op), `${op} journaled: ${show(ops)}`);
      const replay = await keel(["journal", "replay"]);
      assert.equal(replay.code, 0, `replay equals the lease table: ${replay.stdout}${replay.stderr}`);
    });

    test("idempotency: the same request_id with other arguments is INVALID_ARGUMENT; after release it says so", async () => {
      const args = { names: ["slot:m", "slot:n"], request_id: "e2e-req-1", ttl_ms: 60_000 };
      const first = await ok(A, "lease_acquire", args);
      assert.equal(first.granted, true);
      const again = await ok(A, "lease_acquire", { ...args, names: ["slot:n", "slot:m"] });
      assert.equal(again.replayed, true);
      assert.equal(again.replay_status, "granted");
      assert.equal(await refused(A, "lease_acquire", { ...args, ttl_ms: 1000 }), "INVALID_ARGUMENT");
      await ok(A, "lease_release", { lease_ids: first.leases.map((l) => l.lease_id) });
      const gone = await ok(A, "lease_acquire", args);
      assert.equal(gone.granted, false);
      assert.equal(gone.refusal, "released");
      assert.equal(gone.replay_status, "released");
    });
  });
}
