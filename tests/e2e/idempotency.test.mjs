// tests/e2e/idempotency.test.mjs — request_id over stdio with the official MCP
// SDK client: a tools/call retried with the same request_id after the first
// succeeded changes nothing (README, "Retrying safely: request_id"), also
// when the retry comes from a new server process (the client restarted).
//
// Run: KEEL_BIN=build/keel node --test tests/e2e/idempotency.test.mjs   (Node 22)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

import { mkTmp, parseJsonl, requireBinary, rmTmp, runKeel, show } from "./lib/keel.mjs";
import { closeClients, connectStdioSdk } from "./lib/sdk.mjs";

const CALL_TIMEOUT = 15_000;
const AGENT = "idem-a";

async function connect(stateDir, cwd) {
  const { client } = await connectStdioSdk(AGENT, ["--state", stateDir], {
    cwd,
    clientName: "keel-e2e",
    timeout: CALL_TIMEOUT,
    connectTimeout: CALL_TIMEOUT + 5000,
  });
  return {
    agent: AGENT,
    client,
    call: (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT }),
  };
}

function replayOf(result) {
  return result._meta?.["dev.keel/replay"];
}

describe("request_id over stdio", () => {
  let tmp, stateDir, peer;

  before(async () => {
    requireBinary();
    tmp = mkTmp("keel-idem-");
    stateDir = path.join(tmp, "state");
    peer = await connect(stateDir, tmp);
  });

  after(async () => {
    await closeClients([peer], 10_000);
    rmTmp(tmp);
  });

  async function memoryPuts() {
    const r = await runKeel(["journal", "export", "--state", stateDir], { cwd: tmp });
    assert.equal(r.code, 0, r.stderr);
    return parseJsonl(r.stdout).filter((rec) => rec.op === "MEMORY_PUT").length;
  }

  test("tools/list: memory_put takes request_id, memory_get does not", async () => {
    const { tools } = await peer.client.listTools(undefined, { timeout: CALL_TIMEOUT });
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.equal(byName.memory_put.inputSchema.properties.request_id?.type, "string");
    assert.equal(byName.memory_get.inputSchema.properties.request_id, undefined);
  });

  test("a retried memory_put replays the first result and writes nothing", async () => {
    const args = { key: "idem/1", value: { n: 1 }, request_id: "put-idem-1" };
    const first = await peer.call("memory_put", args);
    assert.ok(!first.isError, show(first));
    assert.equal(first.structuredContent.version, 1);
    assert.equal(replayOf(first), undefined, show(first));

    const retry = await peer.call("memory_put", args);
    assert.ok(!retry.isError, show(retry));
    assert.deepEqual(retry.structuredContent, first.structuredContent);
    assert.equal(replayOf(retry)?.request_id, "put-idem-1", show(retry));

    const got = await peer.call("memory_get", { key: "idem/1" });
    assert.equal(got.structuredContent.version, 1, show(got));
    assert.equal(await memoryPuts(), 1);
  });

  test("the same request_id with other arguments is INVALID_ARGUMENT", async () => {
    const r = await peer.call("memory_put", { key: "idem/1", value: { n: 2 }, request_id: "put-idem-1" });
    assert.equal(r.isError, true, show(r));
    assert.equal(r._meta?.["dev.keel/error"]?.code, "INVALID_ARGUMENT", show(r));
    assert.match(r._meta["dev.keel/error"].message, /put-idem-1/);
  });

  test("a retry from a new server process (client restarted) still replays", async () => {
    await closeClients([peer], 10_000);
    peer = await connect(stateDir, tmp);
    const retry = await peer.call("memory_put", { key: "idem/1", value: { n: 1 }, request_id: "put-idem-1" });
    assert.ok(!retry.isError, show(retry));
    assert.equal(retry.structuredContent.version, 1);
    assert.ok(replayOf(retry), show(retry));
    assert.equal(await memoryPuts(), 1);
  });
});
