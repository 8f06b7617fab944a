// The git-level guard end to end (issue 21): `keel install git` chains keel's lease check into
// a temporary repository's pre-commit hook, keeping the hook that was there. Agent A leases a
// file through its MCP server; a real `git commit` staging that file as agent B is refused,
// naming A and the expiry, while the hook B's tool hooks would never see (no agent hook runs
// here at all); A's own commit goes through and runs the chained hook; after A releases the
// lease B commits too. `--uninstall` puts the previous hook back.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { RawServer, mkTmp, requireBinary, rmTmp, runKeel, show } from "./lib/keel.mjs";

let tmp;
let stateDir;
let server;

function git(args, agent) {
  const env = { ...process.env, KEEL_STATE_DIR: stateDir, KEEL_AGENT: agent ?? "",
                GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com",
                GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" };
  return spawnSync("git", args, { cwd: tmp, env, encoding: "utf8" });
}

before(() => {
  requireBinary();
  tmp = fs.realpathSync(mkTmp("keel-precommit-"));
  stateDir = path.join(tmp, ".state");
  assert.equal(git(["init", "-q", "."]).status, 0);
  fs.writeFileSync(path.join(tmp, ".gitignore"), ".state/\nchain.log\n");
  // A project's own pre-commit hook, which keel must keep and run.
  const hook = path.join(tmp, ".git", "hooks", "pre-commit");
  fs.writeFileSync(hook, `#!/bin/sh\necho "project hook ran" >> "${path.join(tmp, "chain.log")}"\n`, { mode: 0o755 });
});
after(() => {
  server?.kill();
  rmTmp(tmp);
});

test("a commit staging a file under another agent's lease is refused by the pre-commit guard", async () => {
  const hooks = path.join(tmp, ".git", "hooks");
  const original = fs.readFileSync(path.join(hooks, "pre-commit"), "utf8");
  const inst = await runKeel(["install", "git"], { cwd: tmp });
  assert.equal(inst.code, 0, inst.stderr);
  assert.match(fs.readFileSync(path.join(hooks, "pre-commit"), "utf8"), /keel pre-commit guard/);
  assert.equal(fs.readFileSync(path.join(hooks, "pre-commit.keel-chained"), "utf8"), original);
  // Installing again changes nothing.
  assert.match((await runKeel(["install", "git"], { cwd: tmp })).stdout, /nothing to do/);

  const file = path.join(tmp, "auth.ts");
  fs.writeFileSync(file, "a\n");
  server = new RawServer(["serve", "--stdio", "--agent", "agent-A", "--state", stateDir], { cwd: tmp, label: "A" });
  await server.initialize();
  const grant = (await server.tool("lease_acquire", { name: `file:${file}`, ttl_ms: 120_000 })).structuredContent;
  assert.equal(grant.granted, true, show(grant));

  assert.equal(git(["add", "auth.ts", ".gitignore"]).status, 0);
  const refused = git(["commit", "-m", "B edits auth"], "agent-B");
  assert.notEqual(refused.status, 0, "B's commit went through: " + refused.stdout + refused.stderr);
  assert.match(refused.stderr, /commit refused for agent-B/);
  assert.match(refused.stderr, /leased by agent-A until \d{4}-\d\d-\d\dT/);
  assert.equal(git(["rev-parse", "--verify", "-q", "HEAD"]).status !== 0, true, "no commit was made");
  assert.equal(fs.existsSync(path.join(tmp, "chain.log")), false, "the chained hook ran after a refusal");

  // The holder's own commit passes and runs the project's hook after keel's check.
  const ok = git(["commit", "-q", "-m", "A edits auth"], "agent-A");
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(fs.readFileSync(path.join(tmp, "chain.log"), "utf8"), /project hook ran/);

  // Once A releases the lease, B may commit the file.
  fs.writeFileSync(file, "b\n");
  assert.equal(git(["add", "auth.ts"]).status, 0);
  assert.notEqual(git(["commit", "-q", "-m", "B again"], "agent-B").status, 0);
  const rel = (await server.tool("lease_release", { name: grant.name ?? `file:${file}`, lease_id: grant.lease_id })).structuredContent;
  assert.ok(rel, show(rel));
  const after = git(["commit", "-q", "-m", "B after release"], "agent-B");
  assert.equal(after.status, 0, after.stderr);

  // --uninstall restores the project's hook exactly.
  const un = await runKeel(["install", "git", "--uninstall"], { cwd: tmp });
  assert.equal(un.code, 0, un.stderr);
  assert.equal(fs.readFileSync(path.join(hooks, "pre-commit"), "utf8"), original);
  assert.equal(fs.existsSync(path.join(hooks, "pre-commit.keel-chained")), false);
});
