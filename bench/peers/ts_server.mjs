// bench/peers/ts_server.mjs — the peer keel is benchmarked against: the
// official MCP TypeScript SDK server doing the same in-memory work as keel's
// `memory_get` (a Map lookup), over stdio or Streamable HTTP.
//
//   node ts_server.mjs --stdio
//       McpServer + StdioServerTransport.
//   node ts_server.mjs --http 127.0.0.1:PORT
//       McpServer + StreamableHTTPServerTransport in stateless JSON mode
//       (sessionIdGenerator undefined, enableJsonResponse true) on node:http,
//       one server + transport per request as the SDK's stateless example does.
//       Prints "listening PORT" on stderr when ready.
//
// Tools: memory_get {key} -> {found, value, version}; memory_put {key, value}
// -> {version}. The Map is pre-filled with the key the bench reads ("bench").
import http from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

const store = new Map([["bench", { value: { note: "keel bench value", n: 1 }, version: 1 }]]);

function makeServer() {
  const server = new McpServer({ name: "bench-peer", version: "1.0.0" });
  server.registerTool(
    "memory_get",
    {
      description: "Read one key from an in-memory Map",
      inputSchema: { key: z.string() },
      outputSchema: { found: z.boolean(), value: z.any().optional(), version: z.number().optional() },
    },
    async ({ key }) => {
      const hit = store.get(key);
      const out = hit ? { found: true, value: hit.value, version: hit.version } : { found: false };
      return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
    },
  );
  server.registerTool(
    "memory_put",
    {
      description: "Write one key to an in-memory Map",
      inputSchema: { key: z.string(), value: z.any() },
      outputSchema: { version: z.number() },
    },
    async ({ key, value }) => {
      const version = (store.get(key)?.version ?? 0) + 1;
      store.set(key, { value, version });
      const out = { version };
      return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
    },
  );
  return server;
}

const args = process.argv.slice(2);
if (args[0] === "--stdio") {
  await makeServer().connect(new StdioServerTransport());
} else if (args[0] === "--http" && args[1]) {
  const [host, portText] = args[1].split(":");
  const httpServer = http.createServer(async (req, res) => {
    if (req.method !== "POST" || !req.url.startsWith("/mcp")) {
      res.writeHead(405).end();
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const server = makeServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on("close", () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  httpServer.keepAliveTimeout = 60_000;
  httpServer.listen(Number(portText), host, () => {
    process.stderr.write(`listening ${httpServer.address().port}\n`);
  });
  const stop = () => httpServer.close(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} else {
  process.stderr.write("usage: ts_server.mjs --stdio | --http HOST:PORT\n");
  process.exit(2);
}
