// keel/mcp/http_internal.h — the seam between HTTP I/O and MCP handling.
//
// http_server.cpp owns sockets: it parses one request at a time per
// connection and hands it, with a Responder, to HttpHandler (http_handler.cpp),
// which decides everything MCP about it (its parts: http_parts.h). Not a
// public header.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "mcp/http_server.h"
#include "mcp/server.h"

namespace keel::mcp::http_detail {

namespace bhttp = boost::beast::http;
using HttpRequest = bhttp::request<bhttp::string_body>;
using HttpResponse = bhttp::response<bhttp::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

// One exchange on one connection. Every method is thread-safe and returns at
// once (the work is posted to the connection's strand), and calls made from
// one thread keep their order.
class Responder {
 public:
  virtual ~Responder() = default;
  // A complete response. The connection stays open when res.keep_alive().
  virtual void respond(HttpResponse res) = 0;
  // Starts a 200 text/event-stream response (chunked); then sse_send() any
  // number of events and sse_finish() to end it (the connection then closes).
  virtual void start_sse(Headers headers) = 0;
  virtual void sse_send(std::string event) = 0;
  virtual void sse_finish() = 0;
  // `f` runs once (on an I/O thread) if the peer goes away before sse_finish.
  virtual void on_peer_closed(std::function<void()> f) = 0;
};

class HttpHandler {
 public:
  HttpHandler(McpServer& server, const HttpOptions& options, bool loopback_listener);
  ~HttpHandler();
  void handle(HttpRequest req, std::shared_ptr<Responder> responder);
  // Drain: new requests get 503, sessions are told to shut down, open GET
  // streams end. Then wait_idle() blocks until dispatched calls finished.
  void begin_shutdown();
  void wait_idle();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::mcp::http_detail
