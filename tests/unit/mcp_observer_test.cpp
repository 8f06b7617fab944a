// Unit tests: McpServer::set_observer — every request answered is reported once, with
// what it was about (method, target, session, version, _meta) and how it ended (ok, a
// JSON-RPC error, a tool error, cancelled or dropped), in both eras.
#include <catch2/catch.hpp>

#include <mutex>
#include <vector>

#include "mcp/observer.h"
#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

namespace {

struct Seen {
  std::string method, target, session, version, request_id, traceparent;
  bool modern = false;
  bool ended = false;
  RequestResult::Outcome outcome = RequestResult::Outcome::kOk;
  int error_code = 0;
  std::string tool_error_code;
  std::chrono::nanoseconds duration{-1};
};

class Recorder final : public RequestObserver {
 public:
  class Scope final : public RequestScope {
   public:
    Scope(Recorder& r, std::size_t i) : r_(r), i_(i) {}
    void end(const RequestResult& res) noexcept override {
      std::lock_guard lock(r_.mu);
      Seen& s = r_.seen[i_];
      CHECK_FALSE(s.ended);  // exactly once
      s.ended = true;
      s.outcome = res.outcome;
      s.error_code = res.error_code;
      s.tool_error_code = std::string(res.tool_error_code);
      s.duration = res.duration;
    }

   private:
    Recorder& r_;
    std::size_t i_;
  };

  std::unique_ptr<RequestScope> begin(const RequestInfo& info) noexcept override {
    std::lock_guard lock(mu);
    Seen s;
    s.method = std::string(info.method);
    s.target = std::string(info.target);
    s.session = std::string(info.session_id);
    s.version = std::string(info.protocol_version);
    s.request_id = std::string(info.request_id);
    s.modern = info.modern;
    if (info.meta != nullptr) {
      if (const auto* tp = info.meta->if_contains("traceparent"); tp && tp->is_string()) {
        s.traceparent = std::string(tp->get_string());
      }
    }
    seen.push_back(s);
    return std::make_unique<Scope>(*this, seen.size() - 1);
  }

  Seen last() {
    std::lock_guard lock(mu);
    REQUIRE_FALSE(seen.empty());
    return seen.back();
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return seen.size();
  }

  std::mutex mu;
  std::vector<Seen> seen;
};

struct Fixture {
  std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
  McpServer server{ServerOptions{}, make_registry(std::make_shared<Probe>())};
  std::unique_ptr<Connection> conn;
  Fixture() {
    server.set_observer(rec);
    conn = server.connect([](const json::value&) {}, "sess-9");
  }
  void initialize() {
    conn->handle(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  }
};

}  // namespace

TEST_CASE("observer: legacy requests with their target and outcome", "[mcp][observer]") {
  Fixture f;
  f.initialize();
  Seen init = f.rec->last();
  CHECK(init.method == "initialize");
  CHECK(init.version == "2025-11-25");
  CHECK(init.session == "sess-9");
  CHECK(init.ended);
  CHECK(init.outcome == RequestResult::Outcome::kOk);

  f.conn->handle(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}})");
  Seen ok = f.rec->last();
  CHECK(ok.method == "tools/call");
  CHECK(ok.target == "echo");
  CHECK(ok.request_id == "2");
  CHECK(ok.version == "2025-11-25");
  CHECK_FALSE(ok.modern);
  CHECK(ok.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  CHECK(ok.ended);
  CHECK(ok.outcome == RequestResult::Outcome::kOk);
  CHECK(ok.duration.count() >= 0);

  f.conn->handle(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fail"}})");
  Seen te = f.rec->last();
  CHECK(te.outcome == RequestResult::Outcome::kToolError);
  CHECK(te.tool_error_code == "CONFLICT");

  f.conn->handle(R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{}}})");
  CHECK(f.rec->last().outcome == RequestResult::Outcome::kToolError);
  CHECK(f.rec->last().tool_error_code == "INVALID_ARGUMENT");

  f.conn->handle(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nope"}})");
  Seen unknown = f.rec->last();
  CHECK(unknown.target == "nope");
  CHECK(unknown.outcome == RequestResult::Outcome::kError);
  CHECK(unknown.error_code == -32602);

  f.conn->handle(R"({"jsonrpc":"2.0","id":6,"method":"no/such","params":{}})");
  CHECK(f.rec->last().method == "no/such");
  CHECK(f.rec->last().error_code == -32601);

  f.conn->handle(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"boom"}})");
  CHECK(f.rec->last().outcome == RequestResult::Outcome::kToolError);
  CHECK(f.rec->last().tool_error_code == "INTERNAL");

  // Notifications, responses and unparsable lines are not requests.
  const std::size_t n = f.rec->count();
  f.conn->handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  f.conn->handle("{not json");
  CHECK(f.rec->count() == n);
  for (const Seen& s : f.rec->seen) CHECK(s.ended);
}

TEST_CASE("observer: modern requests and errors before dispatch", "[mcp][observer]") {
  Fixture f;
  f.conn->handle(R"({"jsonrpc":"2.0","id":"m1","method":"tools/call","params":)" +
                 modern_params(R"("name":"echo","arguments":{"text":"x"})") + "}");
  Seen m = f.rec->last();
  CHECK(m.modern);
  CHECK(m.version == "2026-07-28");
  CHECK(m.request_id == "\"m1\"");
  CHECK(m.outcome == RequestResult::Outcome::kOk);

  // A legacy request before initialize: an error, observed with no version.
  f.conn->handle(R"({"jsonrpc":"2.0","id":8,"method":"tools/list"})");
  CHECK(f.rec->last().version.empty());
  CHECK(f.rec->last().outcome == RequestResult::Outcome::kError);
  CHECK(f.rec->last().error_code == -32600);
}

TEST_CASE("observer: a cancelled call and a dropped one end as cancelled", "[mcp][observer]") {
  Fixture f;
  f.initialize();
  Connection::Received r = f.conn->receive(std::string_view(
      R"({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}})"));
  REQUIRE(r.work);
  CHECK_FALSE(f.rec->last().ended);  // not yet: the work has not run
  CHECK(f.conn->cancel(jsonrpc::RequestId(std::int64_t{11})));
  r.work();
  r.work = nullptr;
  CHECK(f.rec->last().ended);
  CHECK(f.rec->last().outcome == RequestResult::Outcome::kCancelled);

  {
    Connection::Received dropped = f.conn->receive(std::string_view(
        R"({"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}})"));
    REQUIRE(dropped.work);
  }  // never run: reported when the connection goes (a transport drops work when stopping)
  f.conn.reset();
  CHECK(f.rec->last().ended);
  CHECK(f.rec->last().outcome == RequestResult::Outcome::kCancelled);
}

TEST_CASE("observer: connections made before set_observer are not observed", "[mcp][observer]") {
  McpServer server(ServerOptions{}, make_registry(std::make_shared<Probe>()));
  auto early = server.connect([](const json::value&) {}, "a");
  auto rec = std::make_shared<Recorder>();
  server.set_observer(rec);
  early->handle(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(rec->count() == 0);
  auto late = server.connect([](const json::value&) {}, "b");
  late->handle(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(rec->count() == 1);
  CHECK(rec->last().method == "ping");
}

TEST_CASE("http_sessions_open: counts sessions opened, deleted, expired and closed at stop",
          "[mcp][observer][http]") {
  const std::size_t base = http_sessions_open();
  HttpOptions options;
  options.session_timeout = std::chrono::milliseconds(300);
  auto f = std::make_unique<HttpFixture>(options);
  const std::string a = f->session();
  const std::string b = f->session();
  CHECK(http_sessions_open() == base + 2);

  Req del;
  del.method = "DELETE";
  del.headers["Mcp-Session-Id"] = a;
  del.headers["MCP-Protocol-Version"] = "2025-11-25";
  CHECK(f->send(del).status == 200);
  CHECK(http_sessions_open() == base + 1);
  CHECK(f->send(del).status == 404);  // already gone: counted once
  CHECK(http_sessions_open() == base + 1);

  // b expires; the next use finds it so and it stops counting.
  std::this_thread::sleep_for(500ms);
  Req ping;
  ping.headers["Mcp-Session-Id"] = b;
  ping.headers["MCP-Protocol-Version"] = "2025-11-25";
  ping.body = R"({"jsonrpc":"2.0","id":5,"method":"ping"})";
  CHECK(f->send(ping).status == 404);
  CHECK(http_sessions_open() == base);

  f->session();
  CHECK(http_sessions_open() == base + 1);
  f.reset();  // stop closes every session
  CHECK(http_sessions_open() == base);
}
