// keel/mcp/http_server.h — MCP over Streamable HTTP (both eras, one endpoint).
//
// One endpoint (default /mcp) on Boost.Beast/Asio: an io_context run on a
// small pool of threads handles connections (keep-alive, header/idle
// timeouts, a body limit answered with 413), and tools/call work runs on a
// separate worker pool so a long call (a lease wait) never blocks I/O.
//
// Legacy era (2025-11-25): `initialize` mints an Mcp-Session-Id; one
// Connection per session; POST answered as JSON or, when the call may emit
// notifications (progressToken, logging on) and the client accepts it, as an
// SSE stream with a priming event and resumable event ids (GET +
// Last-Event-ID); GET opens the session's stream for server-initiated
// messages; DELETE ends the session.
// Modern era (2026-07-28): stateless POST only; a fresh Connection per POST;
// headers checked against the body (-32020); closing the SSE stream cancels.
//
// Security (every request): a present Origin that is neither loopback nor
// the request's own origin (http://<Host>) → 403; a
// non-loopback Host on a loopback listener → 403; with bearer-token
// principals configured, a missing/wrong token → 401 + WWW-Authenticate.
// A non-loopback listen address is refused unless principals are configured.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mcp/server.h"

namespace keel::mcp {

struct HttpPrincipal {
  std::string name;   // becomes CallContext::auth_subject
  std::string token;  // the bearer token
};

// An extra endpoint served beside the MCP one (HTTP hooks at /hooks/D, the
// escalation JSON API, the web console). It sees a request only after the
// Host and Origin checks passed and, unless the route is public
// (HttpRouteSpec::is_public), the bearer-token check; it runs on a worker
// thread and may block (the server's graceful shutdown waits for it). Any
// exception, or a status outside 100..599, becomes 500 (logged); the server
// keeps serving.
struct HttpRouteRequest {
  std::string method;        // "POST", "GET", ...
  std::string path;          // the target without its query: "/hooks/claude"
  std::string query;         // after '?', "" when none
  std::string content_type;  // the Content-Type header, as sent
  std::string body;
  // The bearer token's principal; "" without auth. A public route gets it
  // too when the request carried a valid token (and "" otherwise).
  std::string auth_subject;
  // Every request header in arrival order, names lower-cased, values trimmed.
  std::vector<std::pair<std::string, std::string>> headers;
  bool tls = false;  // the connection is TLS (never today: keel serves plain HTTP)

  // The first value of header `name` (any case), "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

// An open event stream (text/event-stream) of a streaming route. Thread-safe:
// any thread may send; sends after the stream closed are dropped. Holding it
// costs no thread. It closes when the route closes it, the peer goes away
// (closing the browser tab) or the server stops (stop() ends every open
// stream at once: the graceful drain does not wait for them).
class HttpEventStream {
 public:
  virtual ~HttpEventStream() = default;
  // Queues `event`, a complete SSE event ("event: x\ndata: y\n\n"). Returns
  // false (and sends nothing) once the stream is closed.
  virtual bool send(std::string event) = 0;
  // Ends the stream (idempotent).
  virtual void close() = 0;
  virtual bool closed() const = 0;
};

struct HttpRouteResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra response headers (Set-Cookie, Content-Security-Policy, ...), added
  // as given (a name may repeat).
  std::vector<std::pair<std::string, std::string>> headers = {};
  // Set: the answer is an event stream instead of `body` (status 200,
  // Content-Type text/event-stream, plus `headers`). `stream` is called once,
  // on the worker thread, with the open stream; it must return promptly and
  // keep the stream to send on it later (from any thread).
  std::function<void(std::shared_ptr<HttpEventStream>)> stream = {};
};
using HttpRoute = std::function<HttpRouteResponse(const HttpRouteRequest&)>;

// One extra route: requests whose path starts with `prefix` (or equals it,
// when `exact`). A public route skips the bearer-token check (Host, Origin
// and draining still apply) and does its own authentication.
struct HttpRouteSpec {
  HttpRouteSpec(std::string prefix_, HttpRoute route_, bool is_public_ = false, bool exact_ = false)
      : prefix(std::move(prefix_)), route(std::move(route_)), is_public(is_public_), exact(exact_) {}
  std::string prefix;
  HttpRoute route;
  bool is_public = false;
  bool exact = false;

  bool matches(std::string_view path) const {
    return exact ? path == prefix : path.substr(0, prefix.size()) == prefix;
  }
};

struct HttpOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 0;  // 0: any free port (see HttpServer::port())
  std::string path = "/mcp";
  int io_threads = 2;       // threads running the io_context
  int workers = 4;          // threads running tools/call work
  std::size_t max_body_bytes = 4 << 20;  // larger bodies: 413
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  // A legacy session unused this long expires (later requests: 404).
  std::chrono::milliseconds session_timeout{3'600'000};
  // stop() waits this long at most for responses still being written.
  std::chrono::milliseconds drain_timeout{5'000};
  std::vector<HttpPrincipal> principals;  // non-empty: a bearer token is required
  // Called when a legacy session ends (DELETE or server stop).
  std::function<void(const std::string& session_id)> on_session_closed;
  // Called once by start() with the bound port, before it returns (keel
  // serve logs the console's URL with it).
  std::function<void(unsigned short port)> on_listening;
  // Extra routes, first match wins ("/hooks/" matches "/hooks/claude").
  // routes.emplace_back(prefix, handler) adds a non-public prefix route.
  std::vector<HttpRouteSpec> routes;
};

class HttpServer {
 public:
  HttpServer(McpServer& server, HttpOptions options);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the threads. Throws std::runtime_error when the address
  // cannot be bound, or is not loopback while no principals are configured.
  void start();
  // The bound port (after start()).
  unsigned short port() const;
  // Graceful: stops accepting, answers new requests with 503, lets in-flight
  // calls finish (their waits see cancelled()), flushes, then stops. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Starts a server and blocks until SIGINT or SIGTERM, then stops gracefully.
int serve_http(McpServer& server, const HttpOptions& options);

// "HOST:PORT", "[v6]:PORT" → host, port. Throws std::invalid_argument.
void parse_host_port(const std::string& text, std::string& host, unsigned short& port);

}  // namespace keel::mcp
