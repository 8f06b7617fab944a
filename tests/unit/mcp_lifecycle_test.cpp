// Unit tests: the MCP lifecycle on a Connection, in both eras — initialize
// and its version negotiation, what is refused before and after it, malformed
// and oversize messages (legacy); server/discover, _meta validation, removed
// and unknown methods (modern).
#include <catch2/catch.hpp>

#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

// --- legacy era -----------------------------------------------------------------

TEST_CASE("legacy: initialize negotiates the version", "[mcp][legacy]") {
  ServerOptions opts;
  opts.instructions = "use leases";
  for (auto [requested, expected] : std::vector<std::pair<std::string, std::string>>{
           {"2025-11-25", "2025-11-25"},
           {"2025-06-18", "2025-06-18"},
           {"2025-03-26", "2025-03-26"},
           {"2024-11-05", "2024-11-05"},
           {"2031-01-01", "2025-11-25"},
           {"2026-07-28", "2025-11-25"}}) {
    Client c(opts);
    CHECK_FALSE(c.conn().legacy_version().has_value());
    auto r = c.request(json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", "init"},
        {"method", "initialize"},
        {"params", {{"protocolVersion", requested}, {"capabilities", json::object{}},
                    {"clientInfo", {{"name", "x"}, {"version", "1"}}}}}}));
    CHECK(r.at("id") == "init");
    const auto& res = result(r);
    CHECK(res.at("protocolVersion") == json::value(expected));
    CHECK(res.at("capabilities").at("tools").at("listChanged") == true);
    CHECK(res.at("capabilities").as_object().contains("logging"));
    CHECK_FALSE(res.at("capabilities").as_object().contains("resources"));
    CHECK(res.at("serverInfo").at("name") == "keel");
    CHECK(res.at("serverInfo").at("version") == "0.1.0");
    CHECK(res.at("instructions") == "use leases");
    CHECK_FALSE(res.contains("resultType"));
    CHECK(c.conn().legacy_version() == expected);
  }
}

TEST_CASE("legacy: lifecycle errors", "[mcp][legacy]") {
  Client c;
  // Before initialize: only ping works.
  auto r = c.request(1, "tools/list");
  CHECK(error_code(r) == -32600);
  CHECK(r.at("id") == 1);
  CHECK(std::string(r.at("error").at("message").as_string()).find("not initialized") !=
        std::string::npos);
  CHECK(result(c.request(2, "ping")).empty());
  CHECK(error_code(c.request(3, "initialize", R"({"capabilities":{}})")) == -32602);
  CHECK(error_code(c.request(4, "initialize", R"({"protocolVersion":"2025-11-25","capabilities":1})")) ==
        -32602);

  c.initialize();
  // Second initialize.
  CHECK(error_code(c.request(5, "initialize", R"({"protocolVersion":"2025-11-25"})")) == -32600);
  CHECK(result(c.request(6, "ping")).empty());
  // Method not found.
  auto nf = c.request(7, "resources/list");
  CHECK(error_code(nf) == -32601);
  CHECK(nf.at("id") == 7);
  // server/discover without _meta is a malformed modern request.
  CHECK(error_code(c.request(8, "server/discover")) == -32602);
  // logging/setLevel.
  CHECK(result(c.request(9, "logging/setLevel", R"({"level":"debug"})")).empty());
  CHECK(error_code(c.request(10, "logging/setLevel", R"({"level":"loud"})")) == -32602);
}

TEST_CASE("legacy: protocol-level malformed input", "[mcp][legacy]") {
  Client c;
  auto pe = c.request("{not json");
  CHECK(error_code(pe) == -32700);
  CHECK(pe.at("id").is_null());

  auto batch = c.request(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  CHECK(error_code(batch) == -32600);
  CHECK(batch.at("id").is_null());

  auto ver = c.request(R"({"jsonrpc":"1.0","id":"v","method":"ping"})");
  CHECK(error_code(ver) == -32600);
  CHECK(ver.at("id") == "v");

  CHECK(error_code(c.request(R"({"jsonrpc":"2.0","id":2,"method":"ping","params":[]})")) == -32600);

  // Notifications never get a reply, even malformed or unknown ones.
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/whatever","params":{}})").empty());
  CHECK(c.raw(R"({"jsonrpc":"1.0","method":"notifications/whatever"})").empty());
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}})").empty());
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/cancelled"})").empty());
  // Responses from the client are ignored.
  CHECK(c.raw(R"({"jsonrpc":"2.0","id":5,"result":{}})").empty());
  CHECK(c.raw(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})").empty());
}

TEST_CASE("legacy: oversize message is -32600", "[mcp][legacy]") {
  ServerOptions opts;
  opts.max_message_bytes = 64;
  Client c(opts);
  auto r = c.request(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":")" +
                     std::string(100, 'x') + "\"}}");
  CHECK(error_code(r) == -32600);
  CHECK(r.at("id").is_null());
  CHECK(result(c.request(2, "ping")).empty());
}

// --- modern era -------------------------------------------------------------------

TEST_CASE("modern: server/discover", "[mcp][modern]") {
  ServerOptions opts;
  opts.instructions = "hello";
  Client c(opts);
  auto r = c.request(R"({"jsonrpc":"2.0","id":"d1","method":"server/discover","params":)" +
                     modern_params() + "}");
  CHECK(r.at("id") == "d1");
  const auto& res = result(r);
  CHECK(res.at("resultType") == "complete");
  const auto& versions = res.at("supportedVersions").as_array();
  REQUIRE(versions.size() == 5);
  CHECK(versions[0] == "2026-07-28");
  CHECK(versions[1] == "2025-11-25");
  CHECK(res.at("capabilities").at("tools").at("listChanged") == true);
  CHECK(res.at("instructions") == "hello");
  CHECK(res.at("ttlMs").is_int64());
  CHECK(res.at("ttlMs").as_int64() >= 0);
  CHECK(res.at("cacheScope") == "public");
  CHECK(res.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name") == "keel");
  CHECK(res.at("_meta").at("io.modelcontextprotocol/serverInfo").at("version") == "0.1.0");

  // The same stdio process may then fall back to initialize.
  c.initialize();
  CHECK(c.conn().legacy_version() == "2025-11-25");
  // ... and still serve modern requests.
  auto again = c.request(R"({"jsonrpc":"2.0","id":"d2","method":"server/discover","params":)" +
                         modern_params() + "}");
  CHECK(result(again).at("resultType") == "complete");
}

TEST_CASE("modern: _meta validation", "[mcp][modern]") {
  Client c;
  // Unknown version → -32022 with data.
  auto v = c.request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":)" +
                     modern_params("", "1900-01-01") + "}");
  CHECK(error_code(v) == -32022);
  CHECK(v.at("id") == 1);
  CHECK(v.at("error").at("data").at("requested") == "1900-01-01");
  CHECK(v.at("error").at("data").at("supported").at(0) == "2026-07-28");
  CHECK(v.at("error").at("data").at("supported").at(1) == "2025-11-25");
  // A legacy version in modern _meta is not served statelessly either.
  CHECK(error_code(c.request(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":)" +
                             modern_params("", "2025-11-25") + "}")) == -32022);
  // Missing / non-object clientCapabilities → -32602.
  CHECK(error_code(c.request(
            R"({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})")) ==
        -32602);
  CHECK(error_code(c.request(
            R"({"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":[]}}})")) ==
        -32602);
  CHECK(error_code(c.request(
            R"({"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":7,"io.modelcontextprotocol/clientCapabilities":{}}}})")) ==
        -32602);
  // clientInfo is optional.
  auto no_info = c.request(
      R"({"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})");
  CHECK(result(no_info).at("resultType") == "complete");
  // Invalid logLevel → -32602.
  CHECK(error_code(c.request(
            R"({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"loud"}}})")) ==
        -32602);
}

TEST_CASE("modern: removed and unknown methods are -32601", "[mcp][modern]") {
  Client c;
  for (const char* m : {"ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
                        "unknown/method"}) {
    INFO(m);
    auto r = c.request(std::string(R"({"jsonrpc":"2.0","id":"m","method":")") + m +
                       R"(","params":)" + modern_params() + "}");
    CHECK(error_code(r) == -32601);
    CHECK(r.at("id") == "m");
  }
  // initialize is classified legacy first, even with modern _meta.
  auto init = c.request(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":)" +
                        modern_params(R"("protocolVersion":"2025-11-25")") + "}");
  CHECK(result(init).at("protocolVersion") == "2025-11-25");
}
