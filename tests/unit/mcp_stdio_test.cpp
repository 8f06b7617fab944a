// Unit tests: serve_stdio end to end over pipes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "mcp/server.h"

namespace json = boost::json;
using namespace keel::mcp;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<ToolRegistry> stdio_registry() {
  auto reg = std::make_shared<ToolRegistry>();
  reg->add(Tool{
      .name = "echo",
      .description = "Echoes.",
      .input_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},
                                      "required":["text"]})")
                          .as_object(),
      .handler =
          [](const json::object& args, const CallContext& ctx) {
            return ToolResult{json::object{{"text", args.at("text")}, {"session", ctx.session_id}}};
          },
  });
  reg->add(Tool{
      .name = "wait",
      .description = "Waits until cancelled (max 10 s).",
      .input_schema = json::parse(R"({"type":"object"})").as_object(),
      .handler =
          [](const json::object&, const CallContext& ctx) {
            auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!ctx.cancelled() && std::chrono::steady_clock::now() < deadline) {
              std::this_thread::sleep_for(1ms);
            }
            return ToolResult{json::object{{"cancelled", ctx.cancelled()}}};
          },
  });
  return reg;
}

// A server on two pipes, run by serve_stdio on its own thread.
class StdioHarness {
 public:
  explicit StdioHarness(ServerOptions opts = {}, int workers = 4)
      : server_(std::move(opts), stdio_registry()) {
    int in[2];
    int out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    to_server_ = in[1];
    from_server_ = out[0];
    StdioOptions so;
    so.workers = workers;
    so.session_id = "proc-1";
    const int server_in = in[0];
    const int server_out = out[1];
    result_ = std::async(std::launch::async, [this, server_in, server_out, so] {
      const int rc = serve_stdio(server_, server_in, server_out, so);
      ::close(server_in);
      ::close(server_out);
      return rc;
    });
  }

  ~StdioHarness() {
    close_input();
    if (result_.valid()) result_.wait();
    if (from_server_ >= 0) ::close(from_server_);
  }

  void write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(to_server_, data.data(), data.size());
      REQUIRE(n > 0);
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void line(std::string_view l) {
    write(l);
    write("\n");
  }

  // The next line from the server, or nullopt after `timeout` / EOF.
  std::optional<json::value> read(std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        json::error_code ec;
        json::value v = json::parse(l, ec);
        if (ec) FAIL("server wrote a non-JSON line: " << l);
        return v;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd pfd{from_server_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char tmp[4096];
      const ssize_t n = ::read(from_server_, tmp, sizeof tmp);
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }

  json::value read_required() {
    auto v = read();
    REQUIRE(v.has_value());
    return *v;
  }

  void close_input() {
    if (to_server_ >= 0) {
      ::close(to_server_);
      to_server_ = -1;
    }
  }
  void close_output() {
    ::close(from_server_);
    from_server_ = -1;
  }

  // serve_stdio's return value; fails after `timeout`.
  int wait(std::chrono::milliseconds timeout = 5000ms) {
    REQUIRE(result_.wait_for(timeout) == std::future_status::ready);
    return result_.get();
  }

  std::string leftover() const { return buf_; }

 private:
  McpServer server_;
  int to_server_ = -1;
  int from_server_ = -1;
  std::string buf_;
  std::future<int> result_;
};

constexpr std::string_view kInit =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";

}  // namespace

TEST_CASE("stdio: end to end over pipes", "[mcp][stdio]") {
  StdioHarness h;
  h.line(R"({"jsonrpc":"2.0","id":"d","method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})");
  auto d = h.read_required();
  CHECK(d.at("id") == "d");
  CHECK(d.at("result").at("resultType") == "complete");

  h.line(kInit);
  CHECK(h.read_required().at("result").at("protocolVersion") == "2025-11-25");
  h.line(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  h.line("");        // blank lines are ignored
  h.line("   \r");   // so are whitespace-only ones
  h.line("this is not json");
  auto pe = h.read_required();
  CHECK(pe.at("error").at("code") == -32700);
  CHECK(pe.at("id").is_null());
  h.write(R"({"jsonrpc":"2.0","id":1,"method":"ping"})" "\r\n");  // CRLF tolerated
  CHECK(h.read_required().at("id") == 1);
  h.line(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hé"}}})");
  auto call = h.read_required();
  CHECK(call.at("id") == 2);
  CHECK(call.at("result").at("structuredContent").at("text") == "hé");
  CHECK(call.at("result").at("structuredContent").at("session") == "proc-1");
  // Two messages in one write, then one split across writes.
  h.write(R"({"jsonrpc":"2.0","id":3,"method":"ping"})" "\n" R"({"jsonrpc":"2.0","id":4,"method":"ping"})" "\n");
  h.write(R"({"jsonrpc":"2.0","id":5,)");
  std::this_thread::sleep_for(10ms);
  h.write(R"("method":"ping"})" "\n");
  std::set<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) ids.insert(h.read_required().at("id").as_int64());
  CHECK(ids == std::set<std::int64_t>{3, 4, 5});
  // A final line without a newline is still served at EOF.
  h.write(R"({"jsonrpc":"2.0","id":6,"method":"ping"})");
  h.close_input();
  CHECK(h.read_required().at("id") == 6);
  CHECK(h.wait() == 0);
  CHECK_FALSE(h.read(100ms).has_value());
  CHECK(h.leftover().empty());
}

TEST_CASE("stdio: an over-long line is rejected and the next one served", "[mcp][stdio]") {
  ServerOptions opts;
  opts.max_message_bytes = 1024;
  StdioHarness h(opts);
  h.line(kInit);
  h.read_required();
  // 200 KB line written in pieces: never buffered whole, answered once.
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":")";
  big += std::string(200 * 1024, 'x');
  big += "\"}}";
  h.line(big);
  h.line(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  auto err = h.read_required();
  CHECK(err.at("error").at("code") == -32600);
  CHECK(err.at("id").is_null());
  auto ok = h.read_required();
  CHECK(ok.at("id") == 2);
  // Exactly at the limit is fine.
  std::string exact = R"({"jsonrpc":"2.0","id":3,"method":"ping","params":{"pad":")";
  exact += std::string(1024 - exact.size() - 3, 'y');
  exact += "\"}}";
  REQUIRE(exact.size() == 1024);
  h.line(exact);
  CHECK(h.read_required().at("id") == 3);
  h.close_input();
  CHECK(h.wait() == 0);
}

TEST_CASE("stdio: a long call does not block others; cancellation reaches it", "[mcp][stdio]") {
  StdioHarness h({}, 2);
  h.line(kInit);
  h.read_required();
  h.line(R"({"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"wait"}})");
  h.line(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}})");
  CHECK(h.read_required().at("id") == 1);
  h.line(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"w"}})");
  h.line(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  CHECK(h.read_required().at("id") == 2);
  // No response for "w", ever.
  CHECK_FALSE(h.read(200ms).has_value());
  h.close_input();
  CHECK(h.wait() == 0);
  CHECK_FALSE(h.read(100ms).has_value());
}

TEST_CASE("stdio: EOF ends in-flight waits promptly", "[mcp][stdio]") {
  StdioHarness h({}, 1);
  h.line(kInit);
  h.read_required();
  const auto start = std::chrono::steady_clock::now();
  h.line(R"({"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"wait"}})");
  std::this_thread::sleep_for(20ms);
  h.close_input();
  CHECK(h.wait() == 0);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  auto r = h.read_required();  // the response is still delivered, best effort
  CHECK(r.at("id") == "w");
  CHECK(r.at("result").at("structuredContent").at("cancelled") == true);
}

TEST_CASE("stdio: a closed output stops the server", "[mcp][stdio]") {
  StdioHarness h;
  h.line(kInit);
  h.read_required();
  h.close_output();
  for (int i = 0; i < 20; ++i) h.line(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(h.wait() == 0);
}

TEST_CASE("stdio: random bytes never crash or wedge it", "[mcp][stdio][fuzz]") {
  ServerOptions opts;
  opts.max_message_bytes = 4096;
  StdioHarness h(opts);
  std::mt19937 rng(7);
  std::string junk;
  for (int i = 0; i < 200000; ++i) {
    const auto r = rng() % 100;
    junk.push_back(r < 3 ? '\n' : static_cast<char>(rng() % 256));
  }
  junk += "\n";
  // Write and drain concurrently so neither side blocks on a full pipe.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    h.write(junk);
    h.line(R"({"jsonrpc":"2.0","id":"last","method":"ping"})");
    done = true;
  });
  bool saw_last = false;
  while (!saw_last) {
    auto v = h.read(5000ms);
    if (!v) break;
    if (v->as_object().contains("id") && v->at("id") == "last") saw_last = true;
  }
  writer.join();
  CHECK(saw_last);
  h.close_input();
  CHECK(h.wait() == 0);
}
