// Streamable HTTP, the 2026-07-28 era: stateless POSTs, the Mcp-Method /
// Mcp-Name / MCP-Protocol-Version headers checked against the body, removed
// methods, SSE for progress, and a closed SSE stream cancelling its call.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

TEST_CASE("http: modern era requests") {
  HttpFixture f;
  Req q;
  q.headers["MCP-Protocol-Version"] = "2026-07-28";
  q.headers["Mcp-Method"] = "tools/call";
  q.headers["Mcp-Name"] = "echo";
  q.headers["Mcp-Session-Id"] = "ignored";
  q.body = modern_call("echo");
  Reply r = f.send(q);
  CHECK(r.status == 200);
  CHECK(r.header("mcp-session-id").empty());
  CHECK(r.body.find("\"resultType\":\"complete\"") != std::string::npos);

  SECTION("Mcp-Name mismatch → 400 -32020") {
    q.headers["Mcp-Name"] = "other";
    check_error(f.send(q), 400, -32020);
  }
  SECTION("Mcp-Method mismatch → 400 -32020") {
    q.headers["Mcp-Method"] = "tools/list";
    check_error(f.send(q), 400, -32020);
  }
  SECTION("MCP-Protocol-Version differs from _meta → 400 -32020") {
    q.headers["MCP-Protocol-Version"] = "2025-11-25";
    check_error(f.send(q), 400, -32020);
  }
  SECTION("without Mcp-Method the headers are not required") {
    q.headers.erase("Mcp-Method");
    q.headers.erase("Mcp-Name");
    CHECK(f.send(q).status == 200);
  }
  SECTION("removed and unknown methods → 404 -32601") {
    for (std::string m : {"ping", "logging/setLevel", "unknown/method", "initialize"}) {
      Req u = q;
      u.headers["Mcp-Method"] = m;
      u.body = R"({"jsonrpc":"2.0","id":5,"method":")" + m +
               R"(","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
               R"("io.modelcontextprotocol/clientCapabilities":{}}}})";
      if (m == "initialize") continue;  // initialize always selects the legacy era
      check_error(f.send(u), 404, -32601);
    }
  }
  SECTION("_meta without clientCapabilities → 400 -32602") {
    q.body = R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo",)"
             R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})";
    check_error(f.send(q), 400, -32602);
  }
  SECTION("a modern header without _meta → 400 -32602") {
    q.body = R"({"jsonrpc":"2.0","id":5,"method":"tools/list"})";
    q.headers["Mcp-Method"] = "tools/list";
    q.headers.erase("Mcp-Session-Id");
    check_error(f.send(q), 400, -32602);
  }
  SECTION("GET and DELETE → 405") {
    Req g;
    g.method = "GET";
    g.headers["Accept"] = "text/event-stream";
    CHECK(f.send(g).status == 405);
    g.method = "DELETE";
    CHECK(f.send(g).status == 405);
  }
  SECTION("a progress call streams SSE") {
    q.headers["Mcp-Name"] = "progress";
    q.body = R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"progress",)"
             R"("arguments":{},"_meta":{"progressToken":1,)"
             R"("io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
             R"("io.modelcontextprotocol/clientCapabilities":{}}}})";
    r = f.send(q);
    CHECK(r.status == 200);
    CHECK(r.header("content-type") == "text/event-stream");
    CHECK(r.body.find("notifications/progress") != std::string::npos);
    CHECK(r.body.find("id: ") == std::string::npos);  // not resumable
  }
  f.still_serving();
}

TEST_CASE("http: closing a modern SSE stream cancels the call") {
  HttpFixture f;
  Req q;
  q.headers["MCP-Protocol-Version"] = "2026-07-28";
  q.body = R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"wait",)"
           R"("arguments":{},"_meta":{"progressToken":1,)"
           R"("io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
           R"("io.modelcontextprotocol/clientCapabilities":{}}}})";
  const int fd = connect_loopback(f.http->port());
  REQUIRE(fd >= 0);
  std::string raw = render(q);
  REQUIRE(::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size()));
  REQUIRE(f.wait_started());
  ::close(fd);
  for (int i = 0; i < 500 && !f.probe->wait_finished; ++i) std::this_thread::sleep_for(10ms);
  CHECK(f.probe->wait_saw_cancel);
  f.still_serving();
}
