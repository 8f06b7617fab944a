// Graceful stop drains: HttpServer::stop() waits (bounded) for responses
// still being written instead of sleeping a fixed time, so a large answer to
// a call that finished during the stop reaches a slow reader whole.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "mcp/in_flight.h"
#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

TEST_CASE("in_flight: wait_idle returns at once when idle, at the timeout when busy") {
  InFlight f;
  CHECK(f.wait_idle(0ms));
  f.begin();
  f.begin();
  CHECK(f.count() == 2);
  CHECK_FALSE(f.wait_idle(20ms));
  f.end();
  CHECK_FALSE(f.wait_idle(1ms));
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    f.end();
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK(f.wait_idle(10s));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  t.join();
  CHECK(f.count() == 0);
  f.end();  // (an extra end does not wrap around)
  CHECK(f.count() == 0);
}

TEST_CASE("http: stop() drains a large answer to a slow reader instead of cutting it") {
  // The answer (text and structured copy) is far more than the kernel buffers
  // on loopback with a fixed window: its write outlasts the reader's nap.
  constexpr std::size_t kSize = 8u << 20;
  std::atomic<bool> started{false};
  auto reg = std::make_shared<ToolRegistry>();
  reg->add(Tool{
      .name = "big",
      .description = "Waits until the server stops, then answers 8 MiB.",
      .input_schema = obj(R"({"type":"object"})"),
      .handler =
          [&started](const json::object&, const CallContext& ctx) {
            started = true;
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!ctx.cancelled() && std::chrono::steady_clock::now() < deadline) {
              std::this_thread::sleep_for(5ms);
            }
            return ToolResult{json::value(std::string(kSize, 'x')), ""};
          },
  });
  McpServer server(ServerOptions{}, reg);
  HttpOptions options;
  options.drain_timeout = 60s;  // (slow sanitizer builds)
  HttpServer http(server, options);
  http.start();

  const std::string body =
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"big","arguments":{},)"
      R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
      R"("io.modelcontextprotocol/clientCapabilities":{}}}})";
  const std::string raw = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/json\r\nAccept: application/json\r\n"
                          "MCP-Protocol-Version: 2026-07-28\r\nConnection: close\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  // A fixed receive window (no autotuning up to tens of MiB): the kernel
  // cannot absorb the whole answer before we read.
  const int fd = connect_loopback(http.port(), 256 * 1024, 5);
  REQUIRE(fd >= 0);
  REQUIRE(::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size()));
  for (int i = 0; i < 500 && !started; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(started);

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    http.stop();
    stopped = true;
  });
  // A slow reader: it naps until stop() returned (a fixed-sleep stop cuts the
  // answer then) or, when stop() waits for it as it should, for 2 s.
  for (int i = 0; i < 200 && !stopped; ++i) std::this_thread::sleep_for(10ms);
  std::string in;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  stopper.join();

  const auto end = in.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  CHECK(in.substr(0, 12) == "HTTP/1.1 200");
  const std::string payload = in.substr(end + 4);
  json::value v;
  REQUIRE_NOTHROW(v = json::parse(payload));
  CHECK(v.at("id").as_int64() == 3);
  const auto& content = v.at("result").at("content").as_array();
  REQUIRE(content.size() == 1);
  CHECK(content[0].at("text").as_string().size() == kSize + 2);  // (JSON text: quoted)
}
