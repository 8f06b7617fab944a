// Streamable HTTP: an in-process server on 127.0.0.1 port 0 driven by a
// raw-socket client (mcp_test_util.h). Each bad-input class gets the status
// and code the spec names, and the server keeps serving afterwards; bearer
// tokens; the listener's address; a graceful stop. (The eras:
// mcp_http_sessions_test.cpp, mcp_http_stateless_test.cpp; extra routes:
// mcp_http_routes_test.cpp; the drain: mcp_drain_test.cpp.)
#include <catch2/catch.hpp>

#include <thread>

#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

TEST_CASE("http: each bad input gets its status and code, and the server keeps serving") {
  HttpOptions options;
  options.max_body_bytes = 2048;
  HttpFixture f(options);
  Req good;
  good.body = kInit;

  SECTION("malformed JSON → 400 -32700") {
    Req q = good;
    q.body = "{\"jsonrpc\":";
    check_error(f.send(q), 400, -32700);
  }
  SECTION("wrong content type → 415") {
    Req q = good;
    q.headers["Content-Type"] = "text/plain";
    CHECK(f.send(q).status == 415);
  }
  SECTION("missing Accept → 406") {
    Req q = good;
    q.headers.erase("Accept");
    CHECK(f.send(q).status == 406);
  }
  SECTION("oversize body → 413") {
    Req q = good;
    q.body = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":")" + std::string(4096, 'a') + "\"}}";
    CHECK(f.send(q).status == 413);
  }
  SECTION("batch array → 400 -32600") {
    Req q = good;
    q.body = std::string("[") + kInit + "]";
    check_error(f.send(q), 400, -32600);
  }
  SECTION("bad Origin → 403") {
    Req q = good;
    q.headers["Origin"] = "http://evil.example.com";
    CHECK(f.send(q).status == 403);
    q.headers["Origin"] = "http://localhost:3000";
    CHECK(f.send(q).status == 200);
  }
  SECTION("bad Host → 403; loopback names accepted") {
    Req q = good;
    q.headers["Host"] = "evil.example.com";
    CHECK(f.send(q).status == 403);
    for (std::string h : {"localhost", "localhost:8080", "127.0.0.1:1", "[::1]", "[::1]:9"}) {
      q.headers["Host"] = h;
      CHECK(f.send(q).status == 200);
    }
  }
  SECTION("unknown session → 404; no session → 400") {
    Req q = good;
    q.headers["Mcp-Session-Id"] = "no-such-session";
    q.body = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
    CHECK(f.send(q).status == 404);
    q.headers.erase("Mcp-Session-Id");
    CHECK(f.send(q).status == 400);
  }
  SECTION("unsupported protocol version → 400 (legacy header) / 400 -32022 (modern)") {
    std::string sid = f.session();
    Req q = good;
    q.headers["Mcp-Session-Id"] = sid;
    q.headers["MCP-Protocol-Version"] = "1900-01-01";
    q.body = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
    CHECK(f.send(q).status == 400);
    Req m = good;
    m.headers["MCP-Protocol-Version"] = "1900-01-01";
    m.body = R"({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{)"
             R"("io.modelcontextprotocol/protocolVersion":"1900-01-01",)"
             R"("io.modelcontextprotocol/clientCapabilities":{}}}})";
    Reply r = f.send(m);
    CHECK(r.status == 400);
    CHECK(error_code(r.body) == -32022);
    CHECK(r.body.find("\"supported\"") != std::string::npos);
  }
  SECTION("wrong path → 404, unknown method → 405") {
    Req q = good;
    q.target = "/other";
    CHECK(f.send(q).status == 404);
    q.target = "/mcp";
    q.method = "PUT";
    CHECK(f.send(q).status == 405);
  }
  f.still_serving();
}

TEST_CASE("http: bearer tokens") {
  HttpOptions options;
  options.principals.push_back({"ci-bot", "0123456789abcdef-secret"});
  HttpFixture f(options);
  Req q;
  q.headers["MCP-Protocol-Version"] = "2026-07-28";
  q.body = modern_call("echo");

  SECTION("missing token → 401 + WWW-Authenticate") {
    Reply r = f.send(q);
    CHECK(r.status == 401);
    CHECK(r.header("www-authenticate").rfind("Bearer", 0) == 0);
  }
  SECTION("wrong token → 401") {
    q.headers["Authorization"] = "Bearer 0123456789abcdef-secreT";
    Reply r = f.send(q);
    CHECK(r.status == 401);
    CHECK(r.header("www-authenticate").find("invalid_token") != std::string::npos);
  }
  SECTION("right token → served as its principal") {
    q.headers["Authorization"] = "Bearer 0123456789abcdef-secret";
    Reply r = f.send(q);
    CHECK(r.status == 200);
    CHECK(r.body.find("\"subject\":\"ci-bot\"") != std::string::npos);
  }
  q.headers["Authorization"] = "Bearer 0123456789abcdef-secret";
  CHECK(f.send(q).status == 200);
}

TEST_CASE("http: a non-loopback listener needs principals") {
  auto reg = std::make_shared<ToolRegistry>();
  McpServer server(ServerOptions{}, reg);
  HttpOptions options;
  options.host = "0.0.0.0";
  HttpServer http(server, options);
  CHECK_THROWS_WITH(http.start(), Catch::Contains("non-loopback"));
}

TEST_CASE("http: stop() lets an in-flight call finish and answers it") {
  HttpFixture f;
  std::string sid = f.session();
  Reply reply;
  std::thread t([&] {
    Req q;
    q.headers["Mcp-Session-Id"] = sid;
    q.body = R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"wait","arguments":{}}})";
    reply = f.send(q);
  });
  REQUIRE(f.wait_started());
  f.http->stop();  // the wait sees cancelled() (shutdown) and returns
  t.join();
  CHECK(reply.status == 200);
  CHECK(reply.body.find("waited") != std::string::npos);
}

TEST_CASE("http: parse_host_port") {
  std::string host;
  unsigned short port = 0;
  parse_host_port("127.0.0.1:7777", host, port);
  CHECK(host == "127.0.0.1");
  CHECK(port == 7777);
  parse_host_port("[::1]:80", host, port);
  CHECK(host == "[::1]");
  CHECK_THROWS(parse_host_port("nohost", host, port));
  CHECK_THROWS(parse_host_port("h:99999", host, port));
}
