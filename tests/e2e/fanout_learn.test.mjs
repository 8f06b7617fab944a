// Fanout that learns (issue 20) end to end: what one `keel serve --stdio`
// process's fanout_run learnt is used by the next process on the same store —
// an open breaker stays open (and fanout_status without run_id lists it), and
// a cached branch result is served without running the command again.
// On SQLite, and on PostgreSQL (a fresh database, `--store URL`) when
// KEEL_TEST_PG_URL is set.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { RawServer, mkTmp, requireBinary, rmTmp, show } from "./lib/keel.mjs";
import { PG_SKIP, PG_URL, createDatabase } from "./lib/pg.mjs";

for (const backend of [{ name: "SQLite" }, { name: "PostgreSQL", skip: PG_SKIP }]) suite(backend);

function suite(backend) {
  let tmp;
  let stateDir;
  let db;
  const where = () => ["--state", stateDir, ...(db ? ["--store", db.url] : [])];

  // One process: serve, run `fn(ok)`, exit.
  async function inProcess(fn) {
    const s = new RawServer(["serve", "--stdio", "--agent", "agent-A", ...where()], { cwd: tmp, label: "A" });
    try {
      await s.initialize({ timeout: 30_000 });
      return await fn(async (name, args) => {
        const r = await s.tool(name, args, { timeout: 60_000 });
        assert.equal(r.isError, false, `${name} ${show(args)} -> ${show(r)}`);
        return r.structuredContent;
      });
    } finally {
      await s.closeAndWait();
    }
  }

  describe(`fanout learns across processes (${backend.name})`, { skip: backend.skip }, () => {
    before(() => {
      requireBinary();
      db = backend.name === "PostgreSQL" ? createDatabase(PG_URL, "keel_fanout_learn") : undefined;
      tmp = fs.realpathSync(mkTmp("keel-fanout-learn-"));
      stateDir = path.join(tmp, "state");
    });
    after(() => {
      db?.drop();
      rmTmp(tmp);
    });

    test("an open breaker outlives its process", async () => {
      const breaker = { failures: 2, cooldown_ms: 600_000 };
      const fail = { command: "sh", args: ["-c", "exit 3"] };
      await inProcess(async (ok) => {
        const run = await ok("fanout_run", { branches: [fail, fail], max_concurrency: 1, breaker });
        assert.equal(run.breakers[0].state, "open");
      });
      await inProcess(async (ok) => {
        const run = await ok("fanout_run", {
          branches: [{ command: "sh", args: ["-c", "exit 0"] }],
          breaker,
          on_error: { transient: "skip" },
        });
        assert.equal(run.results[0].error.code, "BREAKER_OPEN", show(run));
        const status = await ok("fanout_status", {});
        const sh = status.breakers.find((b) => b.provider === "command:sh");
        assert.equal(sh?.state, "open", show(status));
        assert.equal(sh.opened, 1);
      });
    });

    test("a cached result is served to the next process without running the command", async () => {
      const marker = path.join(tmp, "ran");
      const args = {
        branches: [{ command: "sh", args: ["-c", `echo x >> '${marker}'; echo '{"v":1}'`] }],
        cache: { ttl_ms: 600_000 },
        breaker: { failures: 0 },
      };
      await inProcess(async (ok) => {
        const run = await ok("fanout_run", args);
        assert.equal(run.cache.stored, 1, show(run));
      });
      await inProcess(async (ok) => {
        const run = await ok("fanout_run", args);
        assert.equal(run.cache.hits, 1, show(run));
        assert.equal(run.results[0].cached, true);
        assert.deepEqual(run.results[0].value, { v: 1 });
      });
      assert.equal(fs.readFileSync(marker, "utf8").trim().split("\n").length, 1);
    });
  });
}
