// Memory as a tuple space (issue 20) end to end, over `keel serve --stdio`
// processes on one store:
//  - a work queue: an orchestrator puts 10,000 entries under one prefix while
//    16 worker processes memory_take from it (wait_ms); every entry is taken
//    exactly once and none is lost — by the workers' replies and by the
//    journal's MEMORY_TAKE records — and the queue ends empty;
//  - a waiter (memory_get wait_ms) in one process wakes on a put made by
//    another, woken (by the poll, or NOTIFY on PostgreSQL) long before its
//    wait_ms runs out;
//  - memory_txn under contention: processes increment one counter with
//    compare version -> put; no increment is lost and no `then` ran on a stale
//    version (the MEMORY_TXN records' versions run 2, 3, 4, ... without a gap
//    or a repeat).
// On SQLite, and on PostgreSQL (a fresh database, `--store URL`) when
// KEEL_TEST_PG_URL is set. Knobs: KEEL_QUEUE_ENTRIES, KEEL_QUEUE_WORKERS.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { RawServer, mkTmp, parseJsonl, payloadOf, requireBinary, rmTmp, runKeel, show, sleep } from "./lib/keel.mjs";
import { PG_SKIP, PG_URL, createDatabase } from "./lib/pg.mjs";

const ENTRIES = Number(process.env.KEEL_QUEUE_ENTRIES ?? 10_000);
const WORKERS = Number(process.env.KEEL_QUEUE_WORKERS ?? 16);
const BATCH = 64; // puts per memory_txn of the orchestrator (kTxnMaxOps)
const SHARED = { tier: "cross_run", namespace: "shared" };

for (const backend of [{ name: "SQLite" }, { name: "PostgreSQL", skip: PG_SKIP }]) suite(backend);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)];
}

function suite(backend) {
  let tmp;
  let stateDir;
  let db;
  const servers = [];
  const where = () => ["--state", stateDir, ...(db ? ["--store", db.url] : [])];

  async function serve(agent) {
    const s = new RawServer(["serve", "--stdio", "--agent", agent, ...where()], { cwd: tmp, label: agent });
    servers.push(s);
    await s.initialize({ timeout: 30_000 });
    return s;
  }
  // A tool result that is not an error: its structuredContent.
  async function ok(server, name, args, opts) {
    const r = await server.tool(name, args, opts);
    assert.equal(r.isError, false, `${server.label}: ${name} ${show(args)} -> ${show(r)}`);
    return r.structuredContent;
  }
  const keel = (args, opts) => runKeel([...args, ...where()], { cwd: tmp, timeout: 120_000, ...opts });

  describe(`memory as a work queue over keel serve processes (${backend.name})`, { skip: backend.skip }, () => {
    before(() => {
      requireBinary();
      db = backend.name === "PostgreSQL" ? createDatabase(PG_URL, "keel_memory_queue") : undefined;
      tmp = fs.realpathSync(mkTmp("keel-memory-queue-"));
      stateDir = path.join(tmp, "state");
    });
    after(async () => {
      for (const s of servers) await s.closeAndWait();
      db?.drop();
      rmTmp(tmp);
    });

    test(`${WORKERS} workers take ${ENTRIES} entries put by an orchestrator: each exactly once`, { timeout: 300_000 }, async (t) => {
      const orchestrator = await serve("orchestrator");
      const workers = await Promise.all(Array.from({ length: WORKERS }, (_, i) => serve(`worker-${i}`)));
      const keys = Array.from({ length: ENTRIES }, (_, i) => `queue/${String(i).padStart(6, "0")}`);

      let putDone = false;
      const t0 = performance.now();
      const put = (async () => {
        // The puts run while the workers take: the first takes wait for entries.
        for (let i = 0; i < keys.length; i += BATCH) {
          const then = keys.slice(i, i + BATCH).map((key, j) => ({ op: "put", key, ...SHARED, value: { task: i + j } }));
          const r = await ok(orchestrator, "memory_txn", { compare: [], then }, { timeout: 60_000 });
          assert.equal(r.succeeded, true, show(r));
        }
        putDone = true;
      })();

      const taken = new Map(); // key -> worker
      const duplicates = [];
      const wrongValues = [];
      const work = async (w) => {
        let mine = 0;
        for (;;) {
          const r = await ok(w, "memory_take", { prefix: "queue/", ...SHARED, wait_ms: 500 }, { timeout: 60_000 });
          if (!r.taken) {
            if (putDone) return mine;
            continue;
          }
          mine++;
          if (taken.has(r.key)) duplicates.push({ key: r.key, first: taken.get(r.key), again: w.label });
          taken.set(r.key, w.label);
          if (r.value?.task !== Number(r.key.slice("queue/".length))) wrongValues.push(r);
        }
      };
      const perWorker = await Promise.all(workers.map(work));
      await put;
      const wallMs = performance.now() - t0;
      t.diagnostic(
        `${ENTRIES} entries, ${WORKERS} workers: ${(wallMs / 1000).toFixed(2)} s, ` +
          `${((ENTRIES / wallMs) * 1000).toFixed(0)} takes/s; per worker ${perWorker.join(" ")}`,
      );

      assert.deepEqual(duplicates, [], "an entry was taken twice");
      assert.deepEqual(wrongValues.slice(0, 3), [], "a taken value is not the one put under its key");
      assert.equal(taken.size, ENTRIES, "every entry taken");
      assert.deepEqual(keys.filter((k) => !taken.has(k)), [], "entries never taken");
      const left = await ok(orchestrator, "memory_list", { prefix: "queue/", ...SHARED });
      assert.deepEqual(left.entries, [], "the queue ends empty");

      // The journal agrees: one MEMORY_TAKE per key, by the worker that got it.
      const exp = await keel(["journal", "export"]);
      assert.equal(exp.code, 0, exp.stderr);
      const takes = parseJsonl(exp.stdout).filter((r) => r.op === "MEMORY_TAKE");
      assert.equal(takes.length, ENTRIES, "one MEMORY_TAKE record per entry");
      const journaled = new Map();
      for (const r of takes) {
        const p = payloadOf(r);
        assert.equal(journaled.has(p.key), false, `two MEMORY_TAKE records for ${p.key}`);
        journaled.set(p.key, r.principal);
        assert.equal(p.namespace, "shared", show(p));
      }
      for (const [key, worker] of taken) {
        assert.equal(journaled.get(key), worker, `${key}: the journal names another taker`);
      }
      const verify = await keel(["journal", "verify"]);
      assert.equal(verify.code, 0, `journal verify: ${verify.stdout}${verify.stderr}`);
    });

    test("a waiter in another process wakes on a put, long before its wait_ms runs out", { timeout: 120_000 }, async (t) => {
      const waiter = await serve("waiter");
      const writer = await serve("writer");
      const latencies = [];
      for (let round = 0; round < 5; round++) {
        const key = `signal/${round}`;
        const wait = ok(waiter, "memory_get", { key, ...SHARED, wait_ms: 30_000 }, { timeout: 60_000 });
        await sleep(300); // the waiter is waiting (it would also be satisfied if it came later)
        const put = await ok(writer, "memory_put", { key, ...SHARED, value: { round } });
        const putAt = performance.now();
        const got = await wait;
        latencies.push(performance.now() - putAt);
        assert.equal(got.satisfied, true, show(got));
        assert.equal(got.found, true, show(got));
        assert.equal(got.version, put.version);
        assert.deepEqual(got.value, { round });
        assert.ok(got.waited_ms < 30_000, `woken, not timed out: ${show(got)}`);

        // after_version: the next write to the same key wakes a waiter that saw this one.
        const next = ok(waiter, "memory_get", { key, ...SHARED, after_version: got.version, match: { round: round + 100 }, wait_ms: 30_000 }, { timeout: 60_000 });
        await ok(writer, "memory_put", { key, ...SHARED, value: { round, not: "matching" } });
        await ok(writer, "memory_put", { key, ...SHARED, value: { round: round + 100 } });
        const changed = await next;
        assert.equal(changed.satisfied, true, show(changed));
        assert.deepEqual(changed.value, { round: round + 100 });
      }
      t.diagnostic(`put acknowledged -> waiter answered: median ${median(latencies).toFixed(1)} ms (${latencies.map((x) => x.toFixed(0)).join(" ")})`);
    });

    test("memory_txn under contention: compare version -> put never loses an increment", { timeout: 180_000 }, async (t) => {
      const PROCS = 4;
      const PER = 40;
      const procs = await Promise.all(Array.from({ length: PROCS }, (_, i) => serve(`incr-${i}`)));
      await ok(procs[0], "memory_put", { key: "counter", ...SHARED, value: 0 });
      let conflicts = 0;
      await Promise.all(
        procs.map(async (p) => {
          for (let done = 0; done < PER; ) {
            const cur = await ok(p, "memory_get", { key: "counter", ...SHARED });
            const r = await ok(p, "memory_txn", {
              compare: [{ key: "counter", ...SHARED, version: cur.version }],
              then: [{ op: "put", key: "counter", ...SHARED, value: cur.value + 1 }],
            });
            assert.equal(r.compare_held.length, 1);
            assert.equal(r.compare_held[0], r.succeeded);
            if (r.succeeded) {
              assert.equal(r.results[0].version, cur.version + 1, show(r));
              done++;
            } else {
              assert.equal(r.journal_seq, 0, `a failed compare with no else wrote: ${show(r)}`);
              conflicts++;
            }
          }
        }),
      );
      const end = await ok(procs[0], "memory_get", { key: "counter", ...SHARED });
      assert.equal(end.value, PROCS * PER, "every increment counted");
      assert.equal(end.version, PROCS * PER + 1);
      t.diagnostic(`${PROCS}x${PER} increments, ${conflicts} lost compares retried`);

      const exp = await keel(["journal", "export"]);
      assert.equal(exp.code, 0, exp.stderr);
      const txns = parseJsonl(exp.stdout)
        .filter((r) => r.op === "MEMORY_TXN")
        .map(payloadOf)
        .filter((p) => p.ops?.some((o) => o.key === "counter"));
      assert.equal(txns.length, PROCS * PER, "one MEMORY_TXN record per applied increment");
      const versions = txns.map((p) => p.ops.find((o) => o.key === "counter").version);
      assert.deepEqual(versions, Array.from({ length: PROCS * PER }, (_, i) => i + 2), "versions in journal order, no gap, no repeat");
      assert.ok(txns.every((p) => p.succeeded === true), "only held compares applied then");
    });
  });
}
