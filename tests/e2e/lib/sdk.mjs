// tests/e2e/lib/sdk.mjs — the official MCP SDK client over `keel serve --stdio`.
//
// Apart from keel.mjs because it needs the SDK (tests/e2e/node_modules), which
// tests/integration/ and tests/reliability/ do without.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

import { KEEL_BIN, trackPid, withTimeout } from "./keel.mjs";

// Spawns `keel serve --stdio --agent AGENT ...args` (in `cwd`) under an SDK
// Client named `clientName` with `capabilities`, and connects: the SDK's
// request timeout is `timeout`, the whole connect gets `connectTimeout`.
// prepare(client, transport) runs before the connect (request handlers,
// transport hooks). Resolves {client, transport, stderr()}, stderr() being
// the server's last 200 chunks; a failed connect rejects with them.
export async function connectStdioSdk(agent, args, { cwd, clientName, capabilities = {}, timeout, connectTimeout = timeout, prepare } = {}) {
  const transport = new StdioClientTransport({
    command: KEEL_BIN,
    args: ["serve", "--stdio", "--agent", agent, ...args],
    cwd,
    stderr: "pipe",
  });
  const errChunks = [];
  transport.stderr?.on("data", (d) => {
    errChunks.push(d);
    if (errChunks.length > 200) errChunks.shift();
  });
  const stderr = () => Buffer.concat(errChunks).toString();
  const client = new Client({ name: clientName, version: "1.0.0" }, { capabilities });
  prepare?.(client, transport);
  try {
    await withTimeout(client.connect(transport, { timeout }), connectTimeout, `connect ${agent}`);
  } catch (e) {
    try {
      await client.close();
    } catch {
      /* ignore */
    }
    throw new Error(`${agent}: connect failed: ${e.message}\nstderr:\n${stderr()}`);
  }
  trackPid(transport.pid);
  return { client, transport, stderr };
}

// Closes SDK clients ({client, agent or name}; null entries are skipped) one
// after the other, allowing each `timeout` ms; one that does not close is
// left to the exit hook, which kills every child.
export async function closeClients(peers, timeout) {
  for (const p of peers) {
    if (!p) continue;
    try {
      await withTimeout(p.client.close(), timeout, `close ${p.agent ?? p.name}`);
    } catch {
      /* killed by the exit hook */
    }
  }
}
