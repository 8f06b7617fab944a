// keel/mcp/http_handler.cpp — what an HTTP request means to MCP, as routing:
// the guard admits it (http_guard.cpp), an extra route or the MCP endpoint
// takes it; a POST is classified by era (reference §2) and handed to the
// legacy sessions (http_sessions.cpp) or the stateless requests
// (http_stateless.cpp); GET and DELETE belong to sessions. See http_parts.h.
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "mcp/era.h"
#include "mcp/http_parts.h"
#include "mcp/protocol_version.h"

namespace keel::mcp::http_detail {

namespace json = boost::json;
using jsonrpc::ErrorCode;
using jsonrpc::RequestId;

// (Built before the parts, which hold references to it.)
struct CoreHolder {
  CoreHolder(McpServer& s, const HttpOptions& o) : core_object(s, o) {}
  HttpCore core_object;
};

struct HttpHandler::Impl : CoreHolder, HttpPart {
  Impl(McpServer& s, const HttpOptions& o, bool loopback_listener)
      : CoreHolder(s, o),
        HttpPart(core_object),
        guard(core, loopback_listener),
        legacy(core),
        stateless(core) {}

  RequestGuard guard;
  LegacySessions legacy;
  StatelessRequests stateless;

  // --- extra routes ---------------------------------------------------------

  // A streaming route's open event stream: the Responder while open, nothing
  // once closed (so a stream kept by a route never keeps a connection alive).
  class RouteStream final : public HttpEventStream {
   public:
    explicit RouteStream(std::shared_ptr<Responder> r) : r_(std::move(r)) {}
    bool send(std::string event) override {
      std::lock_guard lock(mu_);
      if (!r_) return false;
      r_->sse_send(std::move(event));
      return true;
    }
    void close() override {
      std::lock_guard lock(mu_);
      if (!r_) return;
      r_->sse_finish();
      r_ = nullptr;
    }
    bool closed() const override {
      std::lock_guard lock(mu_);
      return r_ == nullptr;
    }
    void peer_gone() {
      std::lock_guard lock(mu_);
      r_ = nullptr;
    }

   private:
    mutable std::mutex mu_;
    std::shared_ptr<Responder> r_;
  };

  std::mutex streams_mu;  // guards streams and streams_closed
  std::vector<std::weak_ptr<RouteStream>> streams;
  bool streams_closed = false;  // shutdown began: new streams close at once

  // Opens `r` as an event stream and hands it to the route's callback.
  void open_stream(const std::shared_ptr<Responder>& r, const HttpRouteResponse& out) {
    r->start_sse(Headers(out.headers.begin(), out.headers.end()));
    auto stream = std::make_shared<RouteStream>(r);
    std::weak_ptr<RouteStream> weak = stream;
    r->on_peer_closed([weak] {
      if (auto s = weak.lock()) s->peer_gone();
    });
    bool closing = false;
    {
      std::lock_guard lock(streams_mu);
      std::erase_if(streams, [](const std::weak_ptr<RouteStream>& w) { return w.expired(); });
      if (streams_closed) {
        closing = true;
      } else {
        streams.push_back(stream);
      }
    }
    if (closing) {
      stream->close();
      return;
    }
    out.stream(stream);
  }

  // Shutdown: every open route stream ends now.
  void close_streams() {
    std::vector<std::weak_ptr<RouteStream>> open;
    {
      std::lock_guard lock(streams_mu);
      streams_closed = true;
      open.swap(streams);
    }
    for (auto& w : open) {
      if (auto s = w.lock()) s->close();
    }
  }

  void serve_route(HttpRequest req, const std::shared_ptr<Responder>& r, const HttpRoute& route,
                   std::string path, std::string query, std::string subject) {
    HttpRouteRequest in;
    in.method = std::string(req.method_string());
    in.path = std::move(path);
    in.query = std::move(query);
    in.content_type = header(req, "Content-Type");
    in.body = std::move(req.body());
    in.auth_subject = std::move(subject);
    for (const auto& field : req) {
      in.headers.emplace_back(lower(std::string_view(field.name_string().data(), field.name_string().size())),
                              trim(std::string_view(field.value().data(), field.value().size())));
    }
    core.begin_work();
    auto shared_req = std::make_shared<HttpRequest>(std::move(req));
    boost::asio::post(core.workers, [this, &route, in = std::move(in), shared_req, r]() {
      // Whatever the route does, the client gets an answer and the worker
      // survives: an exception escaping a thread_pool task ends the process.
      std::string failure;
      HttpResponse res;
      try {
        HttpRouteResponse out = route(in);
        if (out.stream && shared_req->method() == bhttp::verb::head) {
          // The head of the event stream, which is not opened (the server
          // sends no body to HEAD: http_server.cpp).
          res = make(*shared_req, bhttp::status::ok, "", "text/event-stream");
          res.set(bhttp::field::content_type, "text/event-stream");
          res.set(bhttp::field::cache_control, "no-cache");
          for (const auto& [k, v] : out.headers) res.insert(k, v);
          res.erase(bhttp::field::content_length);
        } else if (out.stream) {
          open_stream(r, out);
          core.end_work();
          return;
        } else if (out.status < 100 || out.status > 599) {
          failure = "invalid HTTP status " + std::to_string(out.status);
        } else {
          res = make(*shared_req, static_cast<bhttp::status>(out.status), std::move(out.body),
                     out.content_type);
          for (const auto& [k, v] : out.headers) res.insert(k, v);
        }
      } catch (const std::exception& e) {
        failure = e.what();
      } catch (...) {
        failure = "unknown exception";
      }
      if (!failure.empty()) {
        spdlog::error("mcp http: {} {} failed: {}", in.method, in.path, failure);
        res = make(*shared_req, bhttp::status::internal_server_error,
                   error_body(std::nullopt, ErrorCode::kInternalError, "Internal error"));
      }
      r->respond(std::move(res));
      core.end_work();
    });
  }

  // --- entry ----------------------------------------------------------------

  void handle(HttpRequest req, const std::shared_ptr<Responder>& r) {
    std::string_view target(req.target().data(), req.target().size());
    std::string_view query;
    if (auto q = target.find('?'); q != std::string_view::npos) {
      query = target.substr(q + 1);
      target = target.substr(0, q);
    }
    const HttpRoute* route = nullptr;
    auto find_route = [&] {
      if (target == options.path) return Access::kAuthenticated;
      for (const auto& spec : options.routes) {
        if (spec.matches(target)) {
          route = &spec.route;
          return spec.is_public ? Access::kPublic : Access::kAuthenticated;
        }
      }
      fail(req, *r, bhttp::status::not_found, ErrorCode::kInvalidRequest,
           "Not Found: the MCP endpoint is " + options.path);
      return Access::kRefused;
    };
    std::optional<std::string> subject = guard.admit(req, *r, find_route);
    if (!subject) return;
    if (route) {
      serve_route(std::move(req), r, *route, std::string(target), std::string(query),
                  std::move(*subject));
      return;
    }
    switch (req.method()) {
      case bhttp::verb::post:
        post(req, r, *subject);
        return;
      case bhttp::verb::get:
        legacy.get(req, r, *subject);
        return;
      case bhttp::verb::delete_:
        legacy.del(req, r, *subject);
        return;
      default: {
        HttpResponse res = make(req, bhttp::status::method_not_allowed,
                                error_body(std::nullopt, ErrorCode::kInvalidRequest,
                                           "Method Not Allowed"));
        res.set(bhttp::field::allow, "GET, POST, DELETE");
        r->respond(std::move(res));
        return;
      }
    }
  }

  // --- POST: which era ------------------------------------------------------

  void post(const HttpRequest& req, const std::shared_ptr<Responder>& r, const std::string& subject) {
    const std::string ctype = lower(header(req, "Content-Type"));
    if (ctype.substr(0, ctype.find(';')) != "application/json") {
      fail(req, *r, bhttp::status::unsupported_media_type, ErrorCode::kInvalidRequest,
           "Unsupported Media Type: Content-Type must be application/json");
      return;
    }
    const std::string accept = header(req, "Accept");
    const bool json_ok = !accept.empty() && accepts(accept, "application/json");
    const bool sse_ok = !accept.empty() && accepts(accept, "text/event-stream");
    if (!json_ok && !sse_ok) {
      fail(req, *r, bhttp::status::not_acceptable, ErrorCode::kInvalidRequest,
           "Not Acceptable: Accept must include application/json and text/event-stream");
      return;
    }
    jsonrpc::ParseLimits limits;
    limits.max_message_bytes = options.max_body_bytes;
    jsonrpc::Incoming msg = jsonrpc::parse_message(req.body(), limits);
    if (auto* bad = std::get_if<jsonrpc::MalformedMessage>(&msg)) {
      r->respond(make(req, bhttp::status::bad_request,
                      json::serialize(jsonrpc::to_json(
                          jsonrpc::ErrorResponse{bad->id, std::move(bad->error)}))));
      return;
    }
    const std::string* method = nullptr;
    const json::object* params = nullptr;
    std::optional<RequestId> id;
    if (auto* q = std::get_if<jsonrpc::Request>(&msg)) {
      method = &q->method;
      params = &q->params;
      id = q->id;
    } else if (auto* n = std::get_if<jsonrpc::Notification>(&msg)) {
      method = &n->method;
      params = &n->params;
    }
    const std::string pv = header(req, "MCP-Protocol-Version");

    // (A modern request for the removed `initialize` gets 404 -32601.)
    if (params != nullptr && has_modern_meta(*params)) {
      stateless.post(req, r, std::move(msg), subject, json_ok, sse_ok);
      return;
    }
    if (id && *method == "initialize") {
      legacy.initialize(req, r, std::move(msg), subject);
      return;
    }
    const std::string sid = header(req, "Mcp-Session-Id");
    if (!sid.empty()) {
      legacy.post(req, r, std::move(msg), subject, sid, json_ok, sse_ok);
      return;
    }
    if (method != nullptr &&
        (*method == "server/discover" || *method == "subscriptions/listen" || is_modern_version(pv))) {
      if (!id) {
        r->respond(make(req, bhttp::status::accepted, ""));
        return;
      }
      fail(req, *r, bhttp::status::bad_request, ErrorCode::kInvalidParams,
           "Invalid params: a " + std::string(kModernVersion) + " request needs params._meta with \"" +
               std::string(kMetaProtocolVersion) + "\" and \"" +
               std::string(kMetaClientCapabilities) + "\"",
           id);
      return;
    }
    fail(req, *r, bhttp::status::bad_request, ErrorCode::kInvalidRequest,
         "Bad Request: Mcp-Session-Id header required (send initialize first)", id);
  }
};

HttpHandler::HttpHandler(McpServer& server, const HttpOptions& options, bool loopback_listener)
    : impl_(std::make_unique<Impl>(server, options, loopback_listener)) {}

HttpHandler::~HttpHandler() {
  begin_shutdown();
  impl_->core.workers.join();
}

void HttpHandler::handle(HttpRequest req, std::shared_ptr<Responder> responder) {
  const unsigned version = req.version();
  try {
    impl_->handle(std::move(req), responder);
  } catch (const std::exception& e) {
    spdlog::error("mcp http: internal error: {}", e.what());
    HttpResponse res{bhttp::status::internal_server_error, version};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = error_body(std::nullopt, ErrorCode::kInternalError, "Internal error");
    res.keep_alive(false);
    res.prepare_payload();
    responder->respond(std::move(res));
  }
}

void HttpHandler::begin_shutdown() {
  if (impl_->core.draining.exchange(true)) return;
  impl_->close_streams();
  impl_->legacy.close_all();
  impl_->stateless.shutdown();
}

void HttpHandler::wait_idle() { impl_->core.wait_idle(); }

}  // namespace keel::mcp::http_detail

namespace keel::mcp {

std::string HttpRouteRequest::header(std::string_view name) const {
  const std::string key = http_detail::lower(name);
  for (const auto& [k, v] : headers) {
    if (k == key) return v;
  }
  return {};
}

bool HttpRouteRequest::has_header(std::string_view name) const {
  const std::string key = http_detail::lower(name);
  for (const auto& [k, v] : headers) {
    if (k == key) return true;
  }
  return false;
}

}  // namespace keel::mcp
