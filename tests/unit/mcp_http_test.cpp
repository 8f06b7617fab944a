// Streamable HTTP transport: an in-process server on 127.0.0.1 port 0 driven
// by a raw-socket client. Each bad-input class gets the status and code the
// spec names, and the server keeps serving afterwards.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "mcp/http_server.h"
#include "mcp/server.h"

namespace json = boost::json;
using namespace std::chrono_literals;
using keel::mcp::CallContext;
using keel::mcp::HttpOptions;
using keel::mcp::HttpServer;
using keel::mcp::McpServer;
using keel::mcp::ServerOptions;
using keel::mcp::Tool;
using keel::mcp::ToolRegistry;
using keel::mcp::ToolResult;

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

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
Reply send_raw(unsigned short port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
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

std::string render(const Req& q) {
  std::string raw = q.method + " " + q.target + " HTTP/1.1\r\n";
  for (const auto& [k, v] : q.headers) raw += k + ": " + v + "\r\n";
  raw += "Connection: close\r\n";
  if (q.method == "POST") raw += "Content-Length: " + std::to_string(q.body.size()) + "\r\n";
  raw += "\r\n" + q.body;
  return raw;
}

const char* kInit =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
    R"("capabilities":{},"clientInfo":{"name":"http-test","version":"1"}}})";

std::string modern_call(const std::string& tool, int id = 7, const std::string& extra_meta = "") {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":")" + tool +
         R"(","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
         R"("io.modelcontextprotocol/clientCapabilities":{})" +
         extra_meta + "}}}";
}

int error_code(const std::string& body) {
  // The body is JSON, or SSE whose last data line is the response.
  std::string text = body;
  auto data = body.rfind("data: {");
  if (data != std::string::npos) {
    text = body.substr(data + 6);
    text = text.substr(0, text.find('\n'));
  }
  auto v = json::parse(text);
  return static_cast<int>(v.at("error").at("code").as_int64());
}

class Fixture {
 public:
  explicit Fixture(HttpOptions options = {}) {
    auto reg = std::make_shared<ToolRegistry>();
    reg->add(Tool{
        .name = "echo",
        .description = "Echoes its text.",
        .input_schema = obj(R"({"type":"object","properties":{"text":{"type":"string"}}})"),
        .handler =
            [](const json::object& args, const CallContext& ctx) {
              json::object out;
              out["text"] = args.at("text");
              out["session"] = ctx.session_id;
              out["subject"] = ctx.auth_subject;
              return ToolResult{json::value(std::move(out)), ""};
            },
    });
    reg->add(Tool{
        .name = "progress",
        .description = "Reports progress twice.",
        .input_schema = obj(R"({"type":"object"})"),
        .handler =
            [](const json::object&, const CallContext& ctx) {
              ctx.progress(1, 2, "half");
              ctx.progress(2, 2, "done");
              return ToolResult{json::value("ok"), ""};
            },
    });
    reg->add(Tool{
        .name = "wait",
        .description = "Waits until cancelled (at most 10 s).",
        .input_schema = obj(R"({"type":"object"})"),
        .handler =
            [this](const json::object&, const CallContext& ctx) {
              started = true;
              auto deadline = std::chrono::steady_clock::now() + 10s;
              while (!ctx.cancelled() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(5ms);
              }
              if (ctx.cancelled()) cancelled = true;
              return ToolResult{json::value("waited"), ""};
            },
    });
    ServerOptions so;
    server = std::make_unique<McpServer>(so, reg);
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

  std::atomic<bool> started{false};
  std::atomic<bool> cancelled{false};
  std::unique_ptr<McpServer> server;
  std::unique_ptr<HttpServer> http;
};

}  // namespace

TEST_CASE("http: legacy session lifecycle, JSON and SSE answers, DELETE") {
  Fixture f;
  std::string sid = f.session();
  for (char c : sid) CHECK((c >= 0x21 && c <= 0x7e));
  CHECK(sid.size() >= 32);

  Req list;
  list.headers["Mcp-Session-Id"] = sid;
  list.headers["MCP-Protocol-Version"] = "2025-03-26";  // any legacy version inside a session
  list.body = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
  Reply r = f.send(list);
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body.find("\"echo\"") != std::string::npos);

  // A call with a progressToken is answered as SSE: priming event, progress, response.
  Req call;
  call.headers["Mcp-Session-Id"] = sid;
  call.headers["MCP-Protocol-Version"] = "2025-11-25";
  call.body = R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"progress",)"
              R"("arguments":{},"_meta":{"progressToken":"p1"}}})";
  r = f.send(call);
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "text/event-stream");
  CHECK(r.body.find("retry: 1000") != std::string::npos);
  CHECK(r.body.find("notifications/progress") != std::string::npos);
  CHECK(r.body.find("\"id\":3") != std::string::npos);
  CHECK(r.body.find("id: s1:0") != std::string::npos);

  // Resume that stream after its first event: the rest is replayed.
  Req resume;
  resume.method = "GET";
  resume.headers["Mcp-Session-Id"] = sid;
  resume.headers["Accept"] = "text/event-stream";
  resume.headers["Last-Event-ID"] = "s1:1";
  r = f.send(resume);
  CHECK(r.status == 200);
  CHECK(r.body.find("id: s1:2") != std::string::npos);
  CHECK(r.body.find("id: s1:1\n") == std::string::npos);

  // A notification answers 202.
  Req note = list;
  note.body = R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}})";
  CHECK(f.send(note).status == 202);

  // DELETE ends the session; afterwards its id is unknown (404).
  Req del;
  del.method = "DELETE";
  del.headers["Mcp-Session-Id"] = sid;
  CHECK(f.send(del).status == 200);
  CHECK(f.send(list).status == 404);
  CHECK(f.send(del).status == 404);
}

TEST_CASE("http: legacy logging/setLevel and concurrent POSTs on one session") {
  Fixture f;
  std::string sid = f.session();
  Req q;
  q.headers["Mcp-Session-Id"] = sid;
  q.body = R"({"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}})";
  Reply r = f.send(q);
  CHECK(r.status == 200);
  CHECK(r.body.find("\"result\":{}") != std::string::npos);

  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      Req l;
      l.headers["Mcp-Session-Id"] = sid;
      l.body = R"({"jsonrpc":"2.0","id":)" + std::to_string(10 + i) + R"(,"method":"tools/list"})";
      if (f.send(l).status == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 3);
}

TEST_CASE("http: modern era requests") {
  Fixture f;
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
    r = f.send(q);
    CHECK(r.status == 400);
    CHECK(error_code(r.body) == -32020);
  }
  SECTION("Mcp-Method mismatch → 400 -32020") {
    q.headers["Mcp-Method"] = "tools/list";
    r = f.send(q);
    CHECK(r.status == 400);
    CHECK(error_code(r.body) == -32020);
  }
  SECTION("MCP-Protocol-Version differs from _meta → 400 -32020") {
    q.headers["MCP-Protocol-Version"] = "2025-11-25";
    r = f.send(q);
    CHECK(r.status == 400);
    CHECK(error_code(r.body) == -32020);
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
      r = f.send(u);
      CHECK(r.status == 404);
      CHECK(error_code(r.body) == -32601);
    }
  }
  SECTION("_meta without clientCapabilities → 400 -32602") {
    q.body = R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo",)"
             R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})";
    r = f.send(q);
    CHECK(r.status == 400);
    CHECK(error_code(r.body) == -32602);
  }
  SECTION("a modern header without _meta → 400 -32602") {
    q.body = R"({"jsonrpc":"2.0","id":5,"method":"tools/list"})";
    q.headers["Mcp-Method"] = "tools/list";
    q.headers.erase("Mcp-Session-Id");
    r = f.send(q);
    CHECK(r.status == 400);
    CHECK(error_code(r.body) == -32602);
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
  Fixture f;
  Req q;
  q.headers["MCP-Protocol-Version"] = "2026-07-28";
  q.body = R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"wait",)"
           R"("arguments":{},"_meta":{"progressToken":1,)"
           R"("io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
           R"("io.modelcontextprotocol/clientCapabilities":{}}}})";
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(f.http->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string raw = render(q);
  REQUIRE(::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size()));
  for (int i = 0; i < 500 && !f.started; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(f.started);
  ::close(fd);
  for (int i = 0; i < 500 && !f.cancelled; ++i) std::this_thread::sleep_for(10ms);
  CHECK(f.cancelled);
  f.still_serving();
}

TEST_CASE("http: each bad input gets its status and code, and the server keeps serving") {
  HttpOptions options;
  options.max_body_bytes = 2048;
  Fixture f(options);
  Req good;
  good.body = kInit;

  SECTION("malformed JSON → 400 -32700") {
    Req q = good;
    q.body = "{\"jsonrpc\":";
    Reply r = f.send(q);
    CHECK(r.status == 400);
    CHECK(error_code(r.body) == -32700);
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
    Reply r = f.send(q);
    CHECK(r.status == 400);
    CHECK(error_code(r.body) == -32600);
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
  Fixture f(options);
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
  Fixture f;
  std::string sid = f.session();
  Reply reply;
  std::thread t([&] {
    Req q;
    q.headers["Mcp-Session-Id"] = sid;
    q.body = R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"wait","arguments":{}}})";
    reply = f.send(q);
  });
  for (int i = 0; i < 500 && !f.started; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(f.started);
  f.http->stop();  // the wait sees cancelled() (shutdown) and returns
  t.join();
  CHECK(reply.status == 200);
  CHECK(reply.body.find("waited") != std::string::npos);
}

TEST_CASE("http: parse_host_port") {
  std::string host;
  unsigned short port = 0;
  keel::mcp::parse_host_port("127.0.0.1:7777", host, port);
  CHECK(host == "127.0.0.1");
  CHECK(port == 7777);
  keel::mcp::parse_host_port("[::1]:80", host, port);
  CHECK(host == "[::1]");
  CHECK_THROWS(keel::mcp::parse_host_port("nohost", host, port));
  CHECK_THROWS(keel::mcp::parse_host_port("h:99999", host, port));
}

TEST_CASE("http: an idle legacy session expires (404)") {
  HttpOptions options;
  options.session_timeout = std::chrono::milliseconds(200);
  Fixture f(options);
  std::string sid = f.session();
  Req q;
  q.headers["Mcp-Session-Id"] = sid;
  q.body = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
  CHECK(f.send(q).status == 200);
  std::this_thread::sleep_for(400ms);
  CHECK(f.send(q).status == 404);
  f.still_serving();
}

namespace {

// What an extra route saw, for the route tests (routes run on worker threads).
struct RouteLog {
  std::mutex mu;
  std::vector<keel::mcp::HttpRouteRequest> seen;
  void add(const keel::mcp::HttpRouteRequest& r) {
    std::lock_guard lock(mu);
    seen.push_back(r);
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return seen.size();
  }
  keel::mcp::HttpRouteRequest last() {
    std::lock_guard lock(mu);
    REQUIRE(!seen.empty());
    return seen.back();
  }
};

// Options with a "/hooks/" route that echoes what it got (201, text/plain)
// and a "/boom" route that throws.
HttpOptions route_options(RouteLog& log) {
  HttpOptions options;
  options.routes.emplace_back("/hooks/", [&log](const keel::mcp::HttpRouteRequest& in) {
    log.add(in);
    keel::mcp::HttpRouteResponse out;
    out.status = 201;
    out.content_type = "text/plain";
    out.body = in.method + " " + in.path + " ?" + in.query + " [" + in.auth_subject + "] " + in.body;
    return out;
  });
  options.routes.emplace_back("/boom", [&log](const keel::mcp::HttpRouteRequest& in)
                                  -> keel::mcp::HttpRouteResponse {
    log.add(in);
    if (in.query == "weird") throw 42;  // not a std::exception
    throw std::runtime_error("route failed on purpose");
  });
  options.routes.emplace_back("/bad-status", [&log](const keel::mcp::HttpRouteRequest& in) {
    log.add(in);
    return keel::mcp::HttpRouteResponse{.status = 1000, .content_type = "text/plain", .body = "?"};
  });
  return options;
}

Req route_req(const std::string& target, const std::string& body) {
  Req q;
  q.target = target;
  q.headers = {{"Host", "127.0.0.1"}, {"Content-Type", "application/x-test"}};
  q.body = body;
  return q;
}

}  // namespace

TEST_CASE("http: an extra route serves requests beside /mcp") {
  RouteLog log;
  Fixture f(route_options(log));

  SECTION("POST: method, path, query, content type and body reach the route; its answer is sent") {
    Reply r = f.send(route_req("/hooks/claude?event=PreToolUse", R"({"tool":"Edit"})"));
    CHECK(r.status == 201);
    CHECK(r.header("content-type") == "text/plain");
    CHECK(r.body == R"(POST /hooks/claude ?event=PreToolUse [] {"tool":"Edit"})");
    auto in = log.last();
    CHECK(in.content_type == "application/x-test");
    CHECK(in.auth_subject.empty());
  }
  SECTION("GET reaches the route too; an empty query stays empty") {
    Req q = route_req("/hooks/status", "");
    q.method = "GET";
    Reply r = f.send(q);
    CHECK(r.status == 201);
    CHECK(r.body == "GET /hooks/status ? [] ");
  }
  SECTION("paths outside every prefix and /mcp → 404, the route is not called") {
    for (std::string target : {"/hooks", "/hook/x", "/other", "/mcp/extra", "/"}) {
      CAPTURE(target);
      Reply r = f.send(route_req(target, "{}"));
      CHECK(r.status == 404);
    }
    CHECK(log.size() == 0);
  }
  SECTION("Origin and Host checks apply before the route") {
    Req q = route_req("/hooks/claude", "{}");
    q.headers["Origin"] = "http://evil.example.com";
    CHECK(f.send(q).status == 403);
    q.headers["Origin"] = "http://localhost:3000";
    CHECK(f.send(q).status == 201);
    q.headers.erase("Origin");
    q.headers["Host"] = "evil.example.com";
    CHECK(f.send(q).status == 403);
    CHECK(log.size() == 1);  // only the allowed Origin got through
  }
  SECTION("an exception in the route → 500, and the server keeps serving") {
    Reply r = f.send(route_req("/boom", "{}"));
    CHECK(r.status == 500);
    CHECK(error_code(r.body) == -32603);
    CHECK(r.body.find("on purpose") == std::string::npos);  // internals are logged, not sent
    r = f.send(route_req("/boom?weird", "{}"));
    CHECK(r.status == 500);
    r = f.send(route_req("/bad-status", "{}"));  // not an HTTP status
    CHECK(r.status == 500);
    CHECK(f.send(route_req("/hooks/after", "x")).status == 201);
    CHECK(log.size() == 4);
  }
  f.still_serving();
}

TEST_CASE("http: an extra route needs the bearer token and sees its principal") {
  RouteLog log;
  HttpOptions options = route_options(log);
  options.principals.push_back({"ci-bot", "0123456789abcdef-secret"});
  Fixture f(options);
  Req q = route_req("/hooks/claude", "{}");

  Reply r = f.send(q);
  CHECK(r.status == 401);
  CHECK(r.header("www-authenticate").rfind("Bearer", 0) == 0);
  q.headers["Authorization"] = "Bearer wrong-token";
  r = f.send(q);
  CHECK(r.status == 401);
  CHECK(r.header("www-authenticate").find("invalid_token") != std::string::npos);
  CHECK(log.size() == 0);

  q.headers["Authorization"] = "Bearer 0123456789abcdef-secret";
  r = f.send(q);
  CHECK(r.status == 201);
  CHECK(r.body == "POST /hooks/claude ? [ci-bot] {}");
  CHECK(log.last().auth_subject == "ci-bot");
}
