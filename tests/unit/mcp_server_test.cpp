// Unit tests: what a Connection does around a call — progress and log
// notifications, cancellation, per-message sinks, many threads on one
// connection, and random input. (Lifecycle: mcp_lifecycle_test.cpp; tools:
// mcp_tools_test.cpp; the fixtures: mcp_test_util.h.)
#include <catch2/catch.hpp>

#include <random>
#include <thread>

#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

// --- progress, logging, cancellation --------------------------------------------

TEST_CASE("progress: notifications in order, before the response", "[mcp][progress]") {
  Client c;
  c.initialize();
  CHECK(result(c.request(1, "logging/setLevel", R"({"level":"info"})")).empty());
  auto out = c.raw(R"({"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"tok"}}})");
  REQUIRE(out.size() == 5);  // 3 progress, 1 log (info; debug filtered), 1 response
  std::vector<double> seen;
  for (int i = 0; i < 3; ++i) {
    CHECK(out[i].at("method") == "notifications/progress");
    CHECK(out[i].at("params").at("progressToken") == "tok");
    CHECK(out[i].at("params").at("total") == 100);
    seen.push_back(out[i].at("params").at("progress").to_number<double>());
    CHECK_FALSE(out[i].as_object().contains("id"));
  }
  CHECK(seen == std::vector<double>{0, 50, 100});
  CHECK(out[0].at("params").at("message") == "start");
  CHECK_FALSE(out[1].at("params").as_object().contains("message"));
  CHECK(out[3].at("method") == "notifications/message");
  CHECK(out[3].at("params").at("level") == "info");
  CHECK(out[3].at("params").at("logger") == "progress");
  CHECK(out[3].at("params").at("data") == "working");
  CHECK(out[4].at("id") == "p");
  CHECK(result(out[4]).at("isError") == false);

  // Integer token; no setLevel in a fresh connection: no log notifications.
  Client d;
  d.initialize();
  auto out2 = d.raw(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":7}}})");
  REQUIRE(out2.size() == 4);
  CHECK(out2[0].at("params").at("progressToken") == 7);
  CHECK(out2[3].at("id") == 2);

  // Without a token: no progress at all.
  auto out3 = d.raw(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"progress"}})");
  REQUIRE(out3.size() == 1);
  CHECK(out3[0].at("id") == 3);

  // Modern: logs only with _meta logLevel.
  Client m;
  auto out4 = m.raw(R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":)" +
                    modern_params(R"("name":"progress")") + "}");
  REQUIRE(out4.size() == 1);
  auto out5 = m.raw(
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"t","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"debug"}}})");
  REQUIRE(out5.size() == 6);  // 3 progress, 2 logs, response
  CHECK(out5[4].at("params").at("level") == "debug");
  CHECK_FALSE(out5[4].at("params").as_object().contains("logger"));
  CHECK(result(out5[5]).at("resultType") == "complete");
}

TEST_CASE("cancellation: suppresses the response and reaches the handler", "[mcp][cancel]") {
  Client c;
  c.initialize();
  auto r = c.conn().receive(R"({"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"wait"}})");
  CHECK(r.kind == Connection::Received::Kind::kRequest);
  REQUIRE(r.work);
  CHECK(c.conn().in_flight() == 1);
  std::thread worker(r.work);
  while (!c.probe().wait_started) std::this_thread::sleep_for(1ms);
  const std::size_t before = c.count();
  // Other requests are served meanwhile.
  CHECK(result(c.request(1, "ping")).empty());
  // Cancelling an unknown id does nothing; then the real one.
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x"}})").empty());
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"w","reason":"user"}})").empty());
  worker.join();
  CHECK(c.probe().wait_saw_cancel);
  CHECK(c.count() == before + 1);  // only the ping response
  for (const auto& m : c.sent()) CHECK(m.at("id") != "w");
  CHECK(c.conn().in_flight() == 0);
  // The id is free again.
  c.probe().release = true;
  auto again = c.request(R"({"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"wait"}})");
  CHECK(result(again).at("structuredContent").at("cancelled") == false);
}

TEST_CASE("cancellation: cancelled before it starts, duplicate ids, shutdown", "[mcp][cancel]") {
  Client c;
  c.initialize();
  auto r = c.conn().receive(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}})");
  REQUIRE(r.work);
  // Same id while in flight.
  auto dup = c.request(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}})");
  CHECK(error_code(dup) == -32600);
  CHECK(c.conn().cancel(jsonrpc::RequestId(std::int64_t{9})));
  const std::size_t before = c.count();
  r.work();
  CHECK(c.count() == before);
  CHECK_FALSE(c.conn().cancel(jsonrpc::RequestId(std::int64_t{9})));

  // initialize is never in flight, so never cancelled.
  Client d;
  auto init = d.conn().receive(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})");
  CHECK_FALSE(init.work);
  CHECK(d.count() == 1);

  // Shutdown: waits end, and the response is still sent.
  auto w = c.conn().receive(R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"wait"}})");
  REQUIRE(w.work);
  std::thread t(w.work);
  while (!c.probe().wait_started) std::this_thread::sleep_for(1ms);
  c.conn().shutdown();
  t.join();
  CHECK(c.probe().wait_saw_cancel);
  auto last = c.sent().back();
  CHECK(last.at("id") == 10);
  CHECK(result(last).at("structuredContent").at("cancelled") == true);
}

TEST_CASE("receive: a per-message sink gets that message's output", "[mcp][sink]") {
  Client c;
  std::vector<json::value> mine;
  auto r = c.conn().receive(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":1,"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})",
      [&mine](const json::value& v) { mine.push_back(v); });
  CHECK(r.modern);
  REQUIRE(r.work);
  r.work();
  CHECK(mine.size() == 4);
  CHECK(c.count() == 0);
  auto n = c.conn().receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(n.kind == Connection::Received::Kind::kNotification);
  auto bad = c.conn().receive("]");
  CHECK(bad.kind == Connection::Received::Kind::kInvalid);
}

TEST_CASE("concurrency: many threads, one connection", "[mcp][concurrency]") {
  Client c;
  c.initialize();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 50; ++i) {
        const int id = 1000 + t * 100 + i;
        c.conn().handle(json::serialize(json::object{
            {"jsonrpc", "2.0"},
            {"id", id},
            {"method", "tools/call"},
            {"params", {{"name", "echo"}, {"arguments", {{"text", "x"}}}, {"_meta", {{"progressToken", id}}}}}}));
        c.conn().handle(R"({"jsonrpc":"2.0","id":"p","method":"ping"})");
      }
    });
  }
  for (auto& t : threads) t.join();
  std::size_t results = 0;
  for (const auto& m : c.sent()) {
    if (m.as_object().contains("result")) ++results;
  }
  CHECK(results == 1 + 8 * 50 * 2);
}

TEST_CASE("fuzz: random and truncated input never crashes", "[mcp][fuzz]") {
  Client c;
  c.initialize();
  const std::vector<std::string> seeds = {
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","n":3}}})",
      R"({"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"a2VlbC50b29sczoy"}})",
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})",
      R"({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})",
      R"({"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}})",
  };
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    switch (rng() % 4) {
      case 0:
        s.resize(rng() % (s.size() + 1));
        break;
      case 1:
        for (int k = 0; k < 4; ++k) s[rng() % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 2: {
        s.clear();
        const std::size_t n = rng() % 64;
        for (std::size_t k = 0; k < n; ++k) s.push_back(static_cast<char>(rng() % 256));
        break;
      }
      default:
        s.insert(rng() % s.size(), std::string(rng() % 3 + 1, "{[\"}]:,\\"[rng() % 8]));
        break;
    }
    std::vector<json::value> out;
    REQUIRE_NOTHROW(out = c.raw(s));
    // Never more than one response per message.
    std::size_t responses = 0;
    for (const auto& m : out) {
      if (m.as_object().contains("id")) ++responses;
    }
    REQUIRE(responses <= 1);
  }
  // Still healthy.
  CHECK(result(c.request(42, "ping")).empty());
}
