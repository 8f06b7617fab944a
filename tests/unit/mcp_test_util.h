// Shared fixtures of the MCP unit tests (tests/unit/mcp_*.cpp): one tool
// registry for every test that needs tools (echo, fail, boom, wait, progress,
// scalar), a Client that drives a Connection and keeps what it sent, and a
// raw-socket HTTP client with an HttpFixture (an in-process HttpServer on
// 127.0.0.1, port 0).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "mcp/http_server.h"
#include "mcp/server.h"

namespace keel::mcp::testing {

namespace json = boost::json;
using namespace std::chrono_literals;

// Tests must not write logs to stdout; keep them on stderr and quiet.
inline const bool kLogSetup = [] {
  auto logger = spdlog::stderr_color_mt("mcp-tests");
  logger->set_level(spdlog::level::critical);
  spdlog::set_default_logger(logger);
  return true;
}();

inline json::object obj(std::string_view text) { return json::parse(text).as_object(); }

// --- the tools ------------------------------------------------------------------

// What the "wait" tool saw; `release` ends it without a cancel.
struct Probe {
  std::atomic<bool> wait_started{false};
  std::atomic<bool> wait_saw_cancel{false};
  std::atomic<bool> wait_finished{false};
  std::atomic<bool> release{false};
};

// echo (a strict schema; answers its arguments and the call's context),
// fail (a ToolError), boom (an unexpected exception), wait (until cancelled
// or released, at most 10 s), progress (3 progress notes and 2 logs kept of
// 5 and 2), scalar (a structured result that is not an object).
inline std::shared_ptr<ToolRegistry> make_registry(std::shared_ptr<Probe> probe) {
  auto reg = std::make_shared<ToolRegistry>();
  reg->add(Tool{
      .name = "echo",
      .title = "Echo",
      .description = "Echoes its arguments.",
      .input_schema = obj(R"({"type":"object",
          "properties":{"text":{"type":"string","minLength":1},
                        "n":{"type":"integer","minimum":1},
                        "mode":{"type":"string","enum":["a","b"]}},
          "required":["text"],"additionalProperties":false})"),
      .output_schema = obj(R"({"type":"object","properties":{"text":{"type":"string"}}})"),
      .annotations = {.read_only = true, .idempotent = true},
      .handler =
          [](const json::object& args, const CallContext& ctx) {
            json::object out;
            out["text"] = args.at("text");
            if (auto* n = args.if_contains("n")) out["n"] = n->as_int64();  // 2.0 arrives as 2
            out["client"] = ctx.client_name;
            out["modern"] = ctx.modern;
            out["version"] = ctx.protocol_version;
            out["session"] = ctx.session_id;
            out["subject"] = ctx.auth_subject;
            return ToolResult{json::value(std::move(out)), ""};
          },
  });
  reg->add(Tool{
      .name = "fail",
      .description = "Always a tool error.",
      .input_schema = obj(R"({"type":"object","additionalProperties":false})"),
      .annotations = {.destructive = true},
      .handler = [](const json::object&, const CallContext&) -> ToolResult {
        throw ToolError("CONFLICT", "lease held by B");
      },
  });
  reg->add(Tool{
      .name = "boom",
      .description = "Throws something unexpected.",
      .input_schema = {},
      .handler = [](const json::object&, const CallContext&) -> ToolResult {
        throw std::runtime_error("secret internal detail");
      },
  });
  reg->add(Tool{
      .name = "wait",
      .description = "Waits until cancelled or released.",
      .input_schema = obj(R"({"type":"object"})"),
      .handler =
          [probe](const json::object&, const CallContext& ctx) {
            probe->wait_started = true;
            auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!ctx.cancelled() && !probe->release && std::chrono::steady_clock::now() < deadline) {
              std::this_thread::sleep_for(1ms);
            }
            probe->wait_saw_cancel = ctx.cancelled();
            probe->wait_finished = true;
            return ToolResult{json::object{{"cancelled", ctx.cancelled()}}, "waited"};
          },
  });
  reg->add(Tool{
      .name = "progress",
      .description = "Reports progress.",
      .input_schema = obj(R"({"type":"object"})"),
      .handler =
          [](const json::object&, const CallContext& ctx) {
            ctx.progress(0, 100, "start");
            ctx.progress(50, 100, "");
            ctx.progress(50, 100, "again");  // not increasing: dropped
            ctx.progress(25, 100, "back");   // dropped
            ctx.progress(100, 100, "done");
            ctx.log(LogLevel::info, "progress", json::value("working"));
            ctx.log(LogLevel::debug, "", json::value("detail"));
            return ToolResult{json::object{{"ok", true}}, "done"};
          },
  });
  reg->add(Tool{
      .name = "scalar",
      .description = "Structured content that is not an object.",
      .input_schema = obj(R"({"type":"object"})"),
      .handler = [](const json::object&, const CallContext&) { return ToolResult{json::value(42), ""}; },
  });
  return reg;
}

// --- a Connection and what it sent ------------------------------------------------

class Client {
 public:
  explicit Client(ServerOptions opts = {}, std::shared_ptr<Probe> probe = std::make_shared<Probe>())
      : probe_(probe), server_(std::move(opts), make_registry(probe)) {
    conn_ = server_.connect(
        [this](const json::value& v) {
          std::lock_guard lock(mu_);
          sent_.push_back(v);
        },
        "sess-1");
  }

  // Sends raw text; returns what was sent in reply (all messages).
  std::vector<json::value> raw(std::string_view text) {
    const std::size_t before = count();
    conn_->handle(text);
    std::lock_guard lock(mu_);
    return {sent_.begin() + static_cast<std::ptrdiff_t>(before), sent_.end()};
  }

  // Sends one request and returns the single response.
  json::value request(std::string_view text) {
    auto out = raw(text);
    REQUIRE(out.size() == 1);
    return out.front();
  }

  json::value request(std::int64_t id, std::string_view method, std::string_view params = "{}") {
    json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    msg["params"] = json::parse(params);
    return request(json::serialize(msg));
  }

  void initialize(std::string_view version = "2025-11-25") {
    auto r = request(json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", 0},
        {"method", "initialize"},
        {"params",
         {{"protocolVersion", version},
          {"capabilities", {{"elicitation", json::object{}}}},
          {"clientInfo", {{"name", "unit-client"}, {"version", "9.9"}}}}}}));
    REQUIRE(r.as_object().contains("result"));
    CHECK(raw(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").empty());
  }

  std::size_t count() {
    std::lock_guard lock(mu_);
    return sent_.size();
  }
  std::vector<json::value> sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

  Connection& conn() { return *conn_; }
  Probe& probe() { return *probe_; }

 private:
  std::shared_ptr<Probe> probe_;
  McpServer server_;
  std::mutex mu_;
  std::vector<json::value> sent_;
  std::unique_ptr<Connection> conn_;
};

// The error code of a JSON-RPC error response.
inline int error_code(const json::value& v) {
  REQUIRE(v.as_object().contains("error"));
  return static_cast<int>(v.at("error").at("code").as_int64());
}

inline const json::object& result(const json::value& v) {
  if (!v.as_object().contains("result")) FAIL("expected a result, got " << json::serialize(v));
  return v.at("result").as_object();
}

// Modern-era params: _meta with `version`, capabilities and clientInfo, and
// the members in `extra` (`"name":"echo"`).
inline std::string modern_params(std::string_view extra = "", std::string_view version = "2026-07-28") {
  std::string p = R"({"_meta":{"io.modelcontextprotocol/protocolVersion":")" + std::string(version) +
                  R"(","io.modelcontextprotocol/clientCapabilities":{},)" +
                  R"("io.modelcontextprotocol/clientInfo":{"name":"modern-client","version":"2"}}})";
  if (!extra.empty()) {
    p.pop_back();
    p += ",";
    p += extra;
    p += "}";
  }
  return p;
}

// --- a raw HTTP client ------------------------------------------------------------

// A socket connected to 127.0.0.1:`port` with a receive timeout, or -1.
// `rcvbuf` > 0 fixes the receive window (set before connect, so the kernel
// cannot absorb a large answer before the test reads it).
inline int connect_loopback(unsigned short port, int rcvbuf = 0, int timeout_s = 10) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Sends `raw` (a complete HTTP/1.1 request with Connection: close) and reads
// until the server closes. Status 0 means no connection. It uses no Catch2
// macro, so test threads may call it (Catch2 assertions are not thread-safe).
inline Reply send_raw(unsigned short port, const std::string& raw) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {};
  std::size_t off = 0;
  while (off < raw.size()) {
    ssize_t n = ::send(fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // (the server may answer 413 and close early)
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  Reply r;
  auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  std::string head = in.substr(0, end);
  r.body = in.substr(end + 4);
  std::size_t pos = head.find("\r\n");
  std::string status_line = head.substr(0, pos);
  r.status = std::stoi(status_line.substr(9, 3));
  while (pos != std::string::npos) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    pos = next;
  }
  return r;
}

struct Req {
  std::string method = "POST";
  std::string target = "/mcp";
  std::map<std::string, std::string> headers = {
      {"Host", "127.0.0.1"},
      {"Content-Type", "application/json"},
      {"Accept", "application/json, text/event-stream"}};
  std::string body;
};

inline std::string render(const Req& q) {
  std::string raw = q.method + " " + q.target + " HTTP/1.1\r\n";
  for (const auto& [k, v] : q.headers) raw += k + ": " + v + "\r\n";
  raw += "Connection: close\r\n";
  if (q.method == "POST") raw += "Content-Length: " + std::to_string(q.body.size()) + "\r\n";
  raw += "\r\n" + q.body;
  return raw;
}

inline constexpr const char* kInit =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
    R"("capabilities":{},"clientInfo":{"name":"http-test","version":"1"}}})";

// A modern tools/call of `tool` with {"text":"hi"}; `extra_meta` is appended
// to its _meta (",\"progressToken\":1").
inline std::string modern_call(const std::string& tool, int id = 7, const std::string& extra_meta = "") {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":")" + tool +
         R"(","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
         R"("io.modelcontextprotocol/clientCapabilities":{})" +
         extra_meta + "}}}";
}

// The error code in an HTTP body: JSON, or SSE whose last data line is the
// response.
inline int error_code(const std::string& body) {
  std::string text = body;
  auto data = body.rfind("data: {");
  if (data != std::string::npos) {
    text = body.substr(data + 6);
    text = text.substr(0, text.find('\n'));
  }
  return error_code(json::parse(text));
}

// `r` is an HTTP error: `status`, and `code` in its JSON-RPC body.
inline void check_error(const Reply& r, int status, int code) {
  CHECK(r.status == status);
  CHECK(error_code(r.body) == code);
}

// An HttpServer on 127.0.0.1 (any free port) over make_registry's tools.
class HttpFixture {
 public:
  explicit HttpFixture(HttpOptions options = {}) {
    server = std::make_unique<McpServer>(ServerOptions{}, make_registry(probe));
    options.port = 0;
    http = std::make_unique<HttpServer>(*server, options);
    http->start();
  }

  Reply send(const Req& q) { return send_raw(http->port(), render(q)); }

  // A fresh legacy session id.
  std::string session() {
    Req q;
    q.body = kInit;
    Reply r = send(q);
    REQUIRE(r.status == 200);
    std::string sid = r.header("mcp-session-id");
    REQUIRE(!sid.empty());
    Req n;
    n.headers["Mcp-Session-Id"] = sid;
    n.headers["MCP-Protocol-Version"] = "2025-11-25";
    n.body = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
    REQUIRE(send(n).status == 202);
    return sid;
  }

  // The server still answers a good request.
  void still_serving() {
    Req q;
    q.headers["MCP-Protocol-Version"] = "2026-07-28";
    q.headers["Mcp-Method"] = "tools/call";
    q.headers["Mcp-Name"] = "echo";
    q.body = modern_call("echo");
    Reply r = send(q);
    CHECK(r.status == 200);
    CHECK(r.body.find("\"hi\"") != std::string::npos);
  }

  // Polls (10 ms, at most 5 s) until the wait tool started.
  bool wait_started() {
    for (int i = 0; i < 500 && !probe->wait_started; ++i) std::this_thread::sleep_for(10ms);
    return probe->wait_started;
  }

  std::shared_ptr<Probe> probe = std::make_shared<Probe>();
  std::unique_ptr<McpServer> server;
  std::unique_ptr<HttpServer> http;
};

}  // namespace keel::mcp::testing
