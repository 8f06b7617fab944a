// Unit tests: traces — traceparent parsing (observe/trace_context.h), the OTLP JSON
// encoding (observe/span.h), the exporter's batching, bounded queue and bounded close
// (observe/span_exporter.h), and the spans and metrics of MCP requests
// (observe/request_observer.h) on a real McpServer.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "mcp/server.h"
#include "observe/request_observer.h"
#include "observe/span.h"
#include "observe/span_exporter.h"
#include "observe/telemetry.h"
#include "observe/trace_context.h"
#include "observe_prom_parser.h"

using namespace keel::observe;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// A collector in memory: every export request's body, optionally held back.
struct FakeCollector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> bodies;
  bool hold = false;        // requests wait while true (up to their timeout)
  unsigned status = 200;

  SpanExporter::Send sender() {
    return [this](const keel::net::HttpClientRequest& req) {
      std::unique_lock lock(mu);
      keel::net::HttpClientResponse res;
      if (!cv.wait_for(lock, req.timeout, [&] { return !hold; })) {
        res.error = "timed out";
        return res;
      }
      bodies.push_back(req.body);
      res.status = status;
      return res;
    };
  }
  void release() {
    {
      std::lock_guard lock(mu);
      hold = false;
    }
    cv.notify_all();
  }
  // Every span of every body received.
  std::vector<json::object> spans() {
    std::lock_guard lock(mu);
    std::vector<json::object> out;
    for (const auto& b : bodies) {
      const json::value v = json::parse(b);
      for (const auto& rs : v.at("resourceSpans").as_array()) {
        for (const auto& ss : rs.at("scopeSpans").as_array()) {
          for (const auto& s : ss.at("spans").as_array()) out.push_back(s.as_object());
        }
      }
    }
    return out;
  }
};

std::string attr(const json::object& span, std::string_view key) {
  for (const auto& a : span.at("attributes").as_array()) {
    if (a.at("key").as_string() == key) {
      const auto& v = a.at("value").as_object();
      if (v.contains("stringValue")) return std::string(v.at("stringValue").as_string());
      if (v.contains("intValue")) return std::string(v.at("intValue").as_string());
      if (v.contains("boolValue")) return v.at("boolValue").as_bool() ? "true" : "false";
    }
  }
  return "<absent>";
}

Span test_span(std::string name) {
  Span s;
  s.trace_id = new_trace_id();
  s.span_id = new_span_id();
  s.name = std::move(name);
  s.start_unix_ns = 1;
  s.end_unix_ns = 2;
  return s;
}

TelemetryConfig exporter_config(int max_queue, int max_batch, std::int64_t flush_ms,
                                std::int64_t timeout_ms) {
  TelemetryConfig c;
  c.otlp_endpoint = "http://127.0.0.1:4318/v1/traces";
  c.max_queue = max_queue;
  c.max_batch = max_batch;
  c.flush_ms = flush_ms;
  c.timeout_ms = timeout_ms;
  return c;
}

}  // namespace

TEST_CASE("traceparent: strict W3C parsing", "[observe][trace]") {
  const auto tp = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  REQUIRE(tp);
  CHECK(to_hex(tp->trace_id) == "0af7651916cd43dd8448eb211c80319c");
  CHECK(to_hex(tp->parent_id) == "b7ad6b7169203331");
  CHECK(tp->flags == 1);
  // A later version may carry more fields after a '-'.
  CHECK(parse_traceparent("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"));
  for (const char* bad : {
           "",
           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",   // v00 with more
           "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",    // uppercase
           "00-00000000000000000000000000000000-b7ad6b7169203331-01",    // zero trace id
           "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",    // zero parent
           "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    // version ff
           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",     // short flags
           "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    // separator
           "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",    // not hex
           "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",   // later version, no '-'
       }) {
    INFO(bad);
    CHECK_FALSE(parse_traceparent(bad));
  }
  CHECK(valid_tracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7") ==
        std::string("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
  CHECK_FALSE(valid_tracestate(""));
  CHECK_FALSE(valid_tracestate(" , "));
  CHECK_FALSE(valid_tracestate(std::string(513, 'a')));
  CHECK_FALSE(valid_tracestate("a=b\n"));
  CHECK(new_trace_id() != new_trace_id());
  CHECK(to_hex(new_span_id()).size() == 16);
}

TEST_CASE("otlp json: resourceSpans/scopeSpans/spans with hex ids and string nanos",
          "[observe][trace]") {
  Span s = test_span("tools/call lease_acquire");
  s.parent_id = new_span_id();
  s.trace_state = "k=v";
  s.kind = SpanKind::kServer;
  s.start_unix_ns = 1700000000123456789;
  s.end_unix_ns = 1700000000223456789;
  s.attributes.push_back({"mcp.method.name", std::string("tools/call")});
  s.attributes.push_back({"keel.store.commit.jobs", std::int64_t{3}});
  s.error = true;
  s.status_message = "CONFLICT";
  const json::value v = json::parse(otlp_json({s}, "keel-test"));
  const auto& rs = v.at("resourceSpans").at(0);
  const auto& res_attr = rs.at("resource").at("attributes").at(0);
  CHECK(res_attr.at("key") == "service.name");
  CHECK(res_attr.at("value").at("stringValue") == "keel-test");
  const auto& ss = rs.at("scopeSpans").at(0);
  CHECK(ss.at("scope").at("name") == "keel");
  const auto& span = ss.at("spans").at(0).as_object();
  CHECK(span.at("traceId") == json::value(to_hex(s.trace_id)));
  CHECK(span.at("spanId") == json::value(to_hex(s.span_id)));
  CHECK(span.at("parentSpanId") == json::value(to_hex(*s.parent_id)));
  CHECK(span.at("traceState") == "k=v");
  CHECK(span.at("name") == "tools/call lease_acquire");
  CHECK(span.at("kind") == 2);
  CHECK(span.at("startTimeUnixNano") == "1700000000123456789");
  CHECK(span.at("endTimeUnixNano") == "1700000000223456789");
  CHECK(span.at("status").at("code") == 2);
  CHECK(span.at("status").at("message") == "CONFLICT");
  CHECK(attr(span, "mcp.method.name") == "tools/call");
  CHECK(attr(span, "keel.store.commit.jobs") == "3");
  // A root span without error: no parentSpanId, status UNSET.
  const json::value root = json::parse(otlp_json({test_span("store.commit")}, "k"));
  const auto& r = root.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").at(0).as_object();
  CHECK_FALSE(r.contains("parentSpanId"));
  CHECK(r.at("status").at("code") == 0);
}

TEST_CASE("exporter: batches of max_batch, flushed by flush_ms and at close", "[observe][trace]") {
  Registry reg;
  auto& exported = reg.counter("e_total", "e").with({});
  auto& dropped = reg.counter("d_total", "d").with({});
  auto& failures = reg.counter("f_total", "f").with({});
  FakeCollector col;
  {
    SpanExporter ex(exporter_config(100, 3, 60'000, 2000), {exported, dropped, failures},
                    col.sender());
    for (int i = 0; i < 7; ++i) CHECK(ex.submit(test_span("s" + std::to_string(i))));
    // Two full batches go at once; the 7th waits for flush_ms (a minute) or the close.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (exported.value() < 6 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    CHECK(exported.value() == 6);
  }  // close: the last span is sent
  CHECK(exported.value() == 7);
  CHECK(dropped.value() == 0);
  std::lock_guard lock(col.mu);
  REQUIRE(col.bodies.size() == 3);
}

TEST_CASE("exporter: a lone span goes out after flush_ms, without a full batch or a close",
          "[observe][trace]") {
  Registry reg;
  auto& exported = reg.counter("e_total", "e").with({});
  auto& dropped = reg.counter("d_total", "d").with({});
  auto& failures = reg.counter("f_total", "f").with({});
  FakeCollector col;
  SpanExporter ex(exporter_config(100, 50, 50, 2000), {exported, dropped, failures}, col.sender());
  for (int round = 1; round <= 2; ++round) {  // and again once the queue was empty
    CHECK(ex.submit(test_span("lone")));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (exported.value() < static_cast<std::uint64_t>(round) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    CHECK(exported.value() == static_cast<std::uint64_t>(round));
  }
}

TEST_CASE("exporter: a full queue drops and counts, never blocks; a hanging collector "
          "bounds the close", "[observe][trace]") {
  Registry reg;
  auto& exported = reg.counter("e_total", "e").with({});
  auto& dropped = reg.counter("d_total", "d").with({});
  auto& failures = reg.counter("f_total", "f").with({});
  FakeCollector col;
  col.hold = true;  // the collector hangs
  const auto before_close = [&] {
    SpanExporter ex(exporter_config(10, 5, 10, 300), {exported, dropped, failures}, col.sender());
    const auto start = std::chrono::steady_clock::now();
    int accepted = 0;
    for (int i = 0; i < 1000; ++i) accepted += ex.submit(test_span("s")) ? 1 : 0;
    // 1000 submits against a hung collector return at once (functional bound, generous).
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(accepted <= 15);  // the queue (10) and at most one batch in flight (5)
    CHECK(dropped.value() == static_cast<std::uint64_t>(1000 - accepted));
    return std::chrono::steady_clock::now();
  }();  // destroyed here: flushes within timeout_ms (300 ms), then drops the rest
  CHECK(std::chrono::steady_clock::now() - before_close < 2s);
  CHECK(exported.value() == 0);
  CHECK(exported.value() + dropped.value() == 1000);
  CHECK(failures.value() >= 1);

  // After close, submits are dropped and counted.
  FakeCollector ok;
  SpanExporter ex(exporter_config(10, 5, 10, 300), {exported, dropped, failures}, ok.sender());
  ex.close();
  const auto d = dropped.value();
  CHECK_FALSE(ex.submit(test_span("late")));
  CHECK(dropped.value() == d + 1);
}

TEST_CASE("request observer: spans follow the MCP conventions and continue _meta's trace",
          "[observe][trace]") {
  FakeCollector col;
  TelemetryOptions opts;
  opts.config = exporter_config(1000, 100, 60'000, 2000);
  opts.config.service_name = "keel-unit";
  opts.transport = "tcp";
  opts.send = col.sender();
  auto telemetry = std::make_shared<Telemetry>(std::move(opts));

  auto tools = std::make_shared<keel::mcp::ToolRegistry>();
  tools->add(keel::mcp::Tool{
      .name = "lease_acquire",
      .description = "test",
      .input_schema = json::parse(R"({"type":"object"})").as_object(),
      .handler = [](const json::object&, const keel::mcp::CallContext&) {
        return keel::mcp::ToolResult{json::object{{"granted", true}}, ""};
      }});
  tools->add(keel::mcp::Tool{
      .name = "lease_release",
      .description = "test",
      .input_schema = json::parse(R"({"type":"object"})").as_object(),
      .handler = [](const json::object&, const keel::mcp::CallContext&) -> keel::mcp::ToolResult {
        throw keel::mcp::ToolError("NOT_FOUND", "no such lease");
      }});
  keel::mcp::McpServer server(keel::mcp::ServerOptions{}, tools);
  server.set_observer(make_request_observer(telemetry, &server.tools()));
  auto conn = server.connect([](const json::value&) {}, "sess-42");
  conn->handle(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  conn->handle(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lease_acquire","arguments":{},"_meta":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"rojo=00f067aa0ba902b7"}}})");
  conn->handle(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"lease_release","arguments":{},"_meta":{"traceparent":"00-BAD-00f067aa0ba902b7-01"}}})");
  conn->handle(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"no_such_tool"}})");
  conn->handle(R"({"jsonrpc":"2.0","id":4,"method":"made/up"})");

  const auto e = keel::observe::testing::parse_exposition(telemetry->registry.render());
  CHECK(e.value("keel_tool_calls_total", {{"tool", "lease_acquire"}, {"outcome", "ok"}}) == 1);
  CHECK(e.value("keel_tool_calls_total", {{"tool", "lease_release"}, {"outcome", "tool_error"}}) == 1);
  CHECK(e.value("keel_tool_call_duration_seconds_count", {{"tool", "lease_acquire"}}) == 1);
  CHECK(e.value("keel_mcp_requests_total", {{"method", "tools/call"}, {"outcome", "ok"}}) == 1);
  CHECK(e.value("keel_mcp_requests_total", {{"method", "tools/call"}, {"outcome", "error"}}) == 1);
  CHECK(e.value("keel_mcp_requests_total", {{"method", "initialize"}, {"outcome", "ok"}}) == 1);
  CHECK(e.value("keel_mcp_requests_total", {{"method", "other"}, {"outcome", "error"}}) == 1);
  for (const auto& s : e.samples) {
    const bool unknown_tool = s.labels.count("tool") != 0 && s.labels.at("tool") == "no_such_tool";
    CHECK_FALSE(unknown_tool);
  }

  telemetry->close();
  const auto spans = col.spans();
  const json::object* acquire = nullptr;
  const json::object* release = nullptr;
  const json::object* unknown = nullptr;
  for (const auto& s : spans) {
    if (s.at("name") == "tools/call lease_acquire") acquire = &s;
    if (s.at("name") == "tools/call lease_release") release = &s;
    if (s.at("name") == "tools/call no_such_tool") unknown = &s;
  }
  REQUIRE(acquire != nullptr);
  CHECK(acquire->at("traceId") == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(acquire->at("parentSpanId") == "00f067aa0ba902b7");
  CHECK(acquire->at("traceState") == "rojo=00f067aa0ba902b7");
  CHECK(acquire->at("kind") == 2);
  CHECK(attr(*acquire, "mcp.method.name") == "tools/call");
  CHECK(attr(*acquire, "gen_ai.tool.name") == "lease_acquire");
  CHECK(attr(*acquire, "gen_ai.operation.name") == "execute_tool");
  CHECK(attr(*acquire, "mcp.session.id") == "sess-42");
  CHECK(attr(*acquire, "mcp.protocol.version") == "2025-11-25");
  CHECK(attr(*acquire, "jsonrpc.request.id") == "1");
  CHECK(attr(*acquire, "network.transport") == "tcp");
  CHECK(attr(*acquire, "error.type") == "<absent>");
  CHECK(acquire->at("status").at("code") == 0);

  REQUIRE(release != nullptr);  // a bad traceparent: a new trace
  CHECK(release->at("traceId") != "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK_FALSE(release->contains("parentSpanId"));
  CHECK(attr(*release, "error.type") == "NOT_FOUND");
  CHECK(release->at("status").at("code") == 2);

  REQUIRE(unknown != nullptr);
  CHECK(attr(*unknown, "error.type") == "-32602");
  json::value init_name = nullptr;
  for (const auto& s : spans) {
    if (attr(s, "mcp.method.name") == "initialize") init_name = s.at("name");
  }
  CHECK(init_name == "initialize");
}
