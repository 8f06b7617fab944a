// Unit tests: tools/list (pages, shape, cursors) and tools/call (results,
// argument validation, tool errors, unknown tools, internal failures) on a
// Connection, in the legacy era and then without initialize in the modern one.
#include <catch2/catch.hpp>

#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

// --- legacy era -----------------------------------------------------------------

TEST_CASE("tools/list: pagination, shape and invalid cursors", "[mcp][tools]") {
  ServerOptions opts;
  opts.tools_page_size = 2;
  Client c(opts);
  c.initialize();
  std::vector<std::string> names;
  json::value cursor;
  int pages = 0;
  do {
    std::string params = cursor.is_null() ? "{}" : json::serialize(json::object{{"cursor", cursor}});
    auto r = c.request(100 + pages, "tools/list", params);
    const auto& res = result(r);
    const auto& tools = res.at("tools").as_array();
    CHECK(tools.size() <= 2);
    for (const auto& t : tools) names.emplace_back(t.at("name").as_string());
    CHECK_FALSE(res.contains("ttlMs"));  // legacy: no caching hints
    cursor = res.contains("nextCursor") ? res.at("nextCursor") : json::value(nullptr);
    ++pages;
  } while (!cursor.is_null() && pages < 10);
  CHECK(pages == 3);
  CHECK(names == std::vector<std::string>{"echo", "fail", "boom", "wait", "progress", "scalar"});

  // Shape of one tool.
  auto first = result(c.request(200, "tools/list")).at("tools").at(0).as_object();
  CHECK(first.at("title") == "Echo");
  CHECK(first.at("description") == "Echoes its arguments.");
  CHECK(first.at("inputSchema").at("type") == "object");
  CHECK(first.at("outputSchema").at("type") == "object");
  CHECK(first.at("annotations").at("readOnlyHint") == true);
  CHECK(first.at("annotations").at("destructiveHint") == false);
  CHECK(first.at("annotations").at("idempotentHint") == true);
  CHECK(first.at("annotations").at("openWorldHint") == false);
  auto second = result(c.request(201, "tools/list")).at("tools").at(1).as_object();
  CHECK_FALSE(second.contains("title"));
  CHECK_FALSE(second.contains("outputSchema"));
  CHECK(second.at("annotations").at("destructiveHint") == true);
  // A tool registered with an empty inputSchema still lists an object schema.
  auto boom = result(c.request(202, "tools/list", json::serialize(json::object{
                                                      {"cursor", result(c.request(203, "tools/list"))
                                                                     .at("nextCursor")}})))
                  .at("tools")
                  .at(0);
  CHECK(boom.at("inputSchema").at("type") == "object");

  for (const char* bad : {R"({"cursor":"garbage"})", R"({"cursor":""})", R"({"cursor":5})",
                          R"({"cursor":"a2VlbC50b29sczo5OQ"})"}) {  // keel.tools:99
    INFO(bad);
    CHECK(error_code(c.request(300, "tools/list", bad)) == -32602);
  }
}

TEST_CASE("tools/call: success carries text and structuredContent", "[mcp][tools]") {
  Client c;
  c.initialize();
  auto r = c.request(1, "tools/call", R"({"name":"echo","arguments":{"text":"hi","n":2.0}})");
  const auto& res = result(r);
  CHECK(res.at("isError") == false);
  CHECK(res.at("structuredContent").at("text") == "hi");
  CHECK(res.at("structuredContent").at("n") == 2);
  CHECK(res.at("structuredContent").at("client") == "unit-client");
  CHECK(res.at("structuredContent").at("modern") == false);
  CHECK(res.at("structuredContent").at("version") == "2025-11-25");
  CHECK(res.at("structuredContent").at("session") == "sess-1");
  const auto& content = res.at("content").as_array();
  REQUIRE(content.size() == 1);
  CHECK(content[0].at("type") == "text");
  CHECK(json::parse(content[0].at("text").as_string()) == res.at("structuredContent"));
  CHECK_FALSE(res.contains("resultType"));

  // Explicit text wins over the serialized structure.
  auto w = result(c.request(2, "tools/call", R"({"name":"progress"})"));
  CHECK(w.at("content").at(0).at("text") == "done");
  CHECK(w.at("structuredContent").at("ok") == true);
}

TEST_CASE("tools/call: argument validation failures are isError results", "[mcp][tools]") {
  Client c;
  c.initialize();
  struct Case {
    const char* args;
    const char* needle;
  };
  for (const Case& k : {Case{R"({"text":5})", "/text: must be a string"},
                        Case{R"({})", "/text: is required"},
                        Case{R"({"text":"x","extra":1})", "/extra: is not allowed"},
                        Case{R"({"text":"x","mode":"c"})", "/mode: must be one of"},
                        Case{R"({"text":"x","n":0})", "/n: must be an integer ≥ 1"},
                        Case{R"({"text":"x","n":1.5})", "/n: must be an integer ≥ 1"}}) {
    INFO(k.args);
    auto r = c.request(1, "tools/call",
                       std::string(R"({"name":"echo","arguments":)") + k.args + "}");
    const auto& res = result(r);
    CHECK(res.at("isError") == true);
    const auto& err = res.at("_meta").at("dev.keel/error");
    CHECK(err.at("code") == "INVALID_ARGUMENT");
    const std::string msg(err.at("message").as_string());
    CHECK(msg.find(k.needle) != std::string::npos);
    const std::string text(res.at("content").at(0).at("text").as_string());
    CHECK(text.rfind("INVALID_ARGUMENT: ", 0) == 0);
    CHECK(text.find(k.needle) != std::string::npos);
  }
  // Missing arguments read as {} (and then fail "required").
  auto missing = result(c.request(2, "tools/call", R"({"name":"echo"})"));
  CHECK(missing.at("isError") == true);
  auto null_args = result(c.request(5, "tools/call", R"({"name":"echo","arguments":null})"));
  CHECK(null_args.at("_meta").at("dev.keel/error").at("message").as_string().find(
            "/text: is required") != json::string::npos);
  // Non-object arguments break the CallToolRequest schema: protocol error.
  CHECK(error_code(c.request(3, "tools/call", R"({"name":"echo","arguments":[1]})")) == -32602);
  CHECK(error_code(c.request(4, "tools/call", R"({"arguments":{}})")) == -32602);
}

TEST_CASE("tools/call: tool errors, unknown tools, internal failures", "[mcp][tools]") {
  Client c;
  c.initialize();
  auto r = result(c.request(1, "tools/call", R"({"name":"fail","arguments":{}})"));
  CHECK(r.at("isError") == true);
  CHECK(r.at("content").at(0).at("text") == "CONFLICT: lease held by B");
  CHECK(r.at("_meta").at("dev.keel/error").at("code") == "CONFLICT");
  CHECK(r.at("_meta").at("dev.keel/error").at("message") == "lease held by B");

  auto unknown = c.request(2, "tools/call", R"({"name":"nope","arguments":{}})");
  CHECK(error_code(unknown) == -32602);
  CHECK(unknown.at("error").at("message") == "Unknown tool: nope");
  CHECK(unknown.at("id") == 2);

  auto boom = result(c.request(3, "tools/call", R"({"name":"boom"})"));
  CHECK(boom.at("isError") == true);
  CHECK(boom.at("_meta").at("dev.keel/error").at("code") == "INTERNAL");
  const std::string text(boom.at("content").at(0).at("text").as_string());
  CHECK(text.find("secret") == std::string::npos);

  // Legacy era: a non-object structuredContent is dropped; text remains.
  auto scalar = result(c.request(4, "tools/call", R"({"name":"scalar"})"));
  CHECK_FALSE(scalar.contains("structuredContent"));
  CHECK(scalar.at("content").at(0).at("text") == "42");
}

// --- modern era -----------------------------------------------------------------

TEST_CASE("modern: tools/list and tools/call without initialize", "[mcp][modern]") {
  ServerOptions opts;
  opts.tools_page_size = 4;
  Client c(opts);
  auto list = result(c.request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":)" +
                               modern_params() + "}"));
  CHECK(list.at("resultType") == "complete");
  CHECK(list.at("ttlMs").is_int64());
  CHECK(list.at("cacheScope") == "public");
  CHECK(list.at("tools").as_array().size() == 4);
  CHECK(list.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name") == "keel");
  auto page2 = result(c.request(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":)" +
      modern_params("\"cursor\":" + json::serialize(list.at("nextCursor"))) + "}"));
  CHECK(page2.at("tools").as_array().size() == 2);
  CHECK(page2.at("cacheScope") == "public");
  CHECK_FALSE(page2.contains("nextCursor"));

  auto call = result(c.request(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":)" +
                               modern_params(R"("name":"echo","arguments":{"text":"yo"})") + "}"));
  CHECK(call.at("resultType") == "complete");
  CHECK(call.at("isError") == false);
  CHECK(call.at("structuredContent").at("modern") == true);
  CHECK(call.at("structuredContent").at("version") == "2026-07-28");
  CHECK(call.at("structuredContent").at("client") == "modern-client");
  CHECK(call.at("_meta").at("io.modelcontextprotocol/serverInfo").at("version") == "0.1.0");

  // Modern era: structuredContent may be any JSON value.
  auto scalar = result(c.request(R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":)" +
                                 modern_params(R"("name":"scalar")") + "}"));
  CHECK(scalar.at("structuredContent") == 42);

  // Tool errors keep resultType too.
  auto fail = result(c.request(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":)" +
                               modern_params(R"("name":"fail")") + "}"));
  CHECK(fail.at("isError") == true);
  CHECK(fail.at("resultType") == "complete");
  // Unknown tool: -32602.
  CHECK(error_code(c.request(R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":)" +
                             modern_params(R"("name":"nope")") + "}")) == -32602);
  CHECK_FALSE(c.conn().legacy_version().has_value());
}
