// keel/mcp/http_handler.cpp — what an HTTP request means to MCP: security
// checks, era classification, sessions, JSON vs SSE answers, status codes.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <unordered_map>

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "mcp/era.h"
#include "mcp/http_internal.h"
#include "mcp/jsonrpc.h"
#include "mcp/protocol_version.h"
#include "mcp/subscriptions.h"

namespace keel::mcp::http_detail {

namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;
using jsonrpc::RequestId;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string header(const HttpRequest& req, std::string_view name) {
  auto it = req.find(boost::beast::string_view(name.data(), name.size()));
  if (it == req.end()) return {};
  return trim(std::string_view(it->value().data(), it->value().size()));
}

bool has_header(const HttpRequest& req, std::string_view name) {
  return req.find(boost::beast::string_view(name.data(), name.size())) != req.end();
}

// "localhost", "127.0.0.1", "[::1]" with an optional ":port".
bool is_loopback_hostport(std::string_view hp) {
  std::string h = lower(hp);
  std::string host;
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string::npos) return false;
    host = h.substr(0, close + 1);
    std::string rest = h.substr(close + 1);
    if (!rest.empty() && (rest[0] != ':' || rest.size() == 1)) return false;
  } else {
    auto colon = h.find(':');
    host = h.substr(0, colon);
    if (colon != std::string::npos) {
      std::string port = h.substr(colon + 1);
      if (port.empty() || !std::all_of(port.begin(), port.end(), ::isdigit)) return false;
    }
  }
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

bool is_loopback_origin(std::string_view origin) {
  std::string o = lower(origin);
  std::string_view rest;
  if (o.rfind("http://", 0) == 0) {
    rest = std::string_view(o).substr(7);
  } else if (o.rfind("https://", 0) == 0) {
    rest = std::string_view(o).substr(8);
  } else {
    return false;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  return is_loopback_hostport(rest);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

// 128 random bits from the OS, as 32 hex characters (visible ASCII).
std::string random_session_id() {
  static thread_local std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 4; ++i) {
    std::uint32_t v = rd();
    for (int j = 0; j < 8; ++j) {
      out += hex[v & 0xf];
      v >>= 4;
    }
  }
  return out;
}

bool accepts(const std::string& accept, std::string_view type) {
  std::string a = lower(accept);
  if (a.find(type) != std::string::npos) return true;
  if (a.find("*/*") != std::string::npos) return true;
  const std::string major = std::string(type.substr(0, type.find('/'))) + "/*";
  return a.find(major) != std::string::npos;
}

std::string error_body(std::optional<RequestId> id, ErrorCode code, std::string message,
                       std::optional<json::value> data = std::nullopt) {
  return json::serialize(
      jsonrpc::to_json(jsonrpc::make_error(std::move(id), code, std::move(message), std::move(data))));
}

bool is_response_message(const json::value& m) {
  const json::object* o = m.if_object();
  return o != nullptr && (o->contains("result") || o->contains("error")) && !o->contains("method");
}

std::optional<int> error_code_of(const json::value& m) {
  const json::object* o = m.if_object();
  if (o == nullptr) return std::nullopt;
  const json::value* e = o->if_contains("error");
  if (e == nullptr || !e->is_object()) return std::nullopt;
  const json::value* c = e->get_object().if_contains("code");
  if (c == nullptr || !c->is_int64()) return std::nullopt;
  return static_cast<int>(c->get_int64());
}

// One SSE stream's events. Legacy streams are resumable: each event has an id
// "<stream>:<seq>" and stays in `history` so a GET with Last-Event-ID can
// replay what a dropped connection missed, then continue live.
class EventStream {
 public:
  EventStream(std::string id, bool resumable) : id_(std::move(id)), resumable_(resumable) {}

  const std::string& id() const { return id_; }

  void attach(std::shared_ptr<Responder> w, std::optional<std::uint64_t> after) {
    std::lock_guard lock(mu_);
    if (after) {
      for (const auto& [seq, ev] : history_) {
        if (seq > *after) w->sse_send(ev);
      }
    } else if (resumable_) {
      // Priming event: an id and empty data, and how long to wait before
      // reconnecting (SEP-1699).
      w->sse_send("id: " + id_ + ":0\nretry: 1000\ndata: \n\n");
    }
    if (ended_) {
      w->sse_finish();
      return;
    }
    writer_ = std::move(w);
  }

  void push(const json::value& m) {
    std::lock_guard lock(mu_);
    if (ended_) return;
    std::string ev;
    ++seq_;
    if (resumable_) ev += "id: " + id_ + ":" + std::to_string(seq_) + "\n";
    ev += "event: message\ndata: " + json::serialize(m) + "\n\n";
    if (resumable_) {
      history_.emplace_back(seq_, ev);
      if (history_.size() > 1024) history_.pop_front();
    }
    if (writer_) writer_->sse_send(std::move(ev));
  }

  void end() {
    std::lock_guard lock(mu_);
    ended_ = true;
    if (writer_) {
      writer_->sse_finish();
      writer_ = nullptr;
    }
  }

  void detach(const Responder* w) {
    std::lock_guard lock(mu_);
    if (writer_.get() == w) writer_ = nullptr;
  }

  bool ended() const {
    std::lock_guard lock(mu_);
    return ended_;
  }

 private:
  mutable std::mutex mu_;
  std::string id_;
  bool resumable_;
  std::uint64_t seq_ = 0;
  std::deque<std::pair<std::uint64_t, std::string>> history_;
  std::shared_ptr<Responder> writer_;
  bool ended_ = false;
};

struct LegacySession {
  std::string id;
  std::string subject;
  std::unique_ptr<Connection> conn;
  std::atomic<bool> logging{false};
  std::atomic<std::int64_t> last_used{0};  // steady_clock ms
  bool may_request = false;  // the client declared sampling/elicitation/roots
  std::mutex mu;  // guards the two below
  std::uint64_t next_stream = 1;
  std::map<std::string, std::shared_ptr<EventStream>> streams;  // by stream id
  std::shared_ptr<EventStream> get_stream;

  std::shared_ptr<EventStream> new_stream(bool resumable) {
    std::lock_guard lock(mu);
    auto s = std::make_shared<EventStream>("s" + std::to_string(next_stream++), resumable);
    streams[s->id()] = s;
    // Keep the most recent streams only.
    while (streams.size() > 64) {
      auto oldest = std::min_element(streams.begin(), streams.end(), [](auto& a, auto& b) {
        return std::stoull(a.first.substr(1)) < std::stoull(b.first.substr(1));
      });
      streams.erase(oldest);
    }
    return s;
  }
};

}  // namespace

struct HttpHandler::Impl {
  McpServer& server;
  const HttpOptions& options;
  bool loopback_listener;
  boost::asio::thread_pool workers;

  std::mutex mu;  // guards sessions
  std::unordered_map<std::string, std::shared_ptr<LegacySession>> sessions;
  std::atomic<bool> draining{false};
  struct ListenStream {
    std::shared_ptr<EventStream> stream;
    std::uint64_t listener;
    RequestId id;
  };
  std::mutex listen_mu;
  std::vector<ListenStream> listens;
  std::mutex modern_mu;  // modern connections that may be in flight
  std::vector<std::weak_ptr<Connection>> modern_conns;

  std::mutex idle_mu;
  std::condition_variable idle_cv;
  std::size_t pending = 0;

  Impl(McpServer& s, const HttpOptions& o, bool lb)
      : server(s), options(o), loopback_listener(lb),
        workers(static_cast<std::size_t>(std::max(1, o.workers))) {}

  // --- plumbing -----------------------------------------------------------

  HttpResponse make(const HttpRequest& req, bhttp::status status, std::string body,
                    std::string_view content_type = "application/json") {
    HttpResponse res{status, req.version()};
    res.set(bhttp::field::server, "keel");
    if (!body.empty()) res.set(bhttp::field::content_type, content_type);
    res.body() = std::move(body);
    res.keep_alive(req.keep_alive() && !draining);
    res.prepare_payload();
    return res;
  }

  void fail(const HttpRequest& req, Responder& r, bhttp::status status, ErrorCode code,
            std::string message, std::optional<RequestId> id = std::nullopt,
            std::optional<json::value> data = std::nullopt) {
    spdlog::debug("mcp http: {} {} → {} {}", std::string(req.method_string()),
                  std::string(req.target()), static_cast<int>(status), message);
    r.respond(make(req, status, error_body(std::move(id), code, std::move(message), std::move(data))));
  }

  void begin_work() {
    std::lock_guard lock(idle_mu);
    ++pending;
  }
  void end_work() {
    std::lock_guard lock(idle_mu);
    if (--pending == 0) idle_cv.notify_all();
  }

  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // The live session `id`; an expired one is closed and reads as unknown.
  std::shared_ptr<LegacySession> find_session(const std::string& id) {
    std::shared_ptr<LegacySession> expired;
    {
      std::lock_guard lock(mu);
      auto it = sessions.find(id);
      if (it == sessions.end()) return nullptr;
      const std::int64_t now = now_ms();
      if (now - it->second->last_used.load() <= options.session_timeout.count()) {
        it->second->last_used = now;
        return it->second;
      }
      expired = it->second;
      sessions.erase(it);
    }
    spdlog::info("mcp http: session {} expired", expired->id);
    close_session(*expired);
    return nullptr;
  }

  // --- extra routes ---------------------------------------------------------

  void serve_route(HttpRequest req, const std::shared_ptr<Responder>& r, const HttpRoute& route,
                   std::string path, std::string query, std::string subject) {
    HttpRouteRequest in;
    in.method = std::string(req.method_string());
    in.path = std::move(path);
    in.query = std::move(query);
    in.content_type = header(req, "Content-Type");
    in.body = std::move(req.body());
    in.auth_subject = std::move(subject);
    begin_work();
    auto shared_req = std::make_shared<HttpRequest>(std::move(req));
    boost::asio::post(workers, [this, &route, in = std::move(in), shared_req, r]() {
      // Whatever the route does, the client gets an answer and the worker
      // survives: an exception escaping a thread_pool task ends the process.
      std::string failure;
      HttpResponse res;
      try {
        HttpRouteResponse out = route(in);
        if (out.status < 100 || out.status > 599) {
          failure = "invalid HTTP status " + std::to_string(out.status);
        } else {
          res = make(*shared_req, static_cast<bhttp::status>(out.status), std::move(out.body),
                     out.content_type);
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
      end_work();
    });
  }

  // --- entry ----------------------------------------------------------------

  void handle(HttpRequest req, const std::shared_ptr<Responder>& r) {
    // DNS rebinding / cross-origin protection, before anything else.
    if (!has_header(req, "Host")) {
      fail(req, *r, bhttp::status::bad_request, ErrorCode::kInvalidRequest, "Bad Request: Host header required");
      return;
    }
    if (loopback_listener && !is_loopback_hostport(header(req, "Host"))) {
      fail(req, *r, bhttp::status::forbidden, ErrorCode::kInvalidRequest,
           "Forbidden: Host must be a loopback name");
      return;
    }
    if (has_header(req, "Origin") && !is_loopback_origin(header(req, "Origin"))) {
      fail(req, *r, bhttp::status::forbidden, ErrorCode::kInvalidRequest, "Forbidden: invalid Origin");
      return;
    }
    std::string_view target(req.target().data(), req.target().size());
    std::string_view query;
    if (auto q = target.find('?'); q != std::string_view::npos) {
      query = target.substr(q + 1);
      target = target.substr(0, q);
    }
    const HttpRoute* route = nullptr;
    if (target != options.path) {
      for (const auto& [prefix, handler] : options.routes) {
        if (target.substr(0, prefix.size()) == prefix) {
          route = &handler;
          break;
        }
      }
      if (!route) {
        fail(req, *r, bhttp::status::not_found, ErrorCode::kInvalidRequest,
             "Not Found: the MCP endpoint is " + options.path);
        return;
      }
    }
    std::string subject;
    if (!options.principals.empty()) {
      const std::string auth = header(req, "Authorization");
      std::string token;
      if (auth.size() > 7 && lower(auth.substr(0, 7)) == "bearer ") token = trim(auth.substr(7));
      bool found = false;
      for (const auto& p : options.principals) {
        // Compare against every token so timing does not tell which matched.
        if (constant_time_equal(token, p.token) && !token.empty() && !found) {
          subject = p.name;
          found = true;
        }
      }
      if (!found) {
        HttpResponse res = make(req, bhttp::status::unauthorized,
                                error_body(std::nullopt, ErrorCode::kInvalidRequest,
                                           token.empty() ? "Unauthorized: bearer token required"
                                                         : "Unauthorized: invalid token"));
        res.set(bhttp::field::www_authenticate,
                token.empty() ? "Bearer realm=\"keel\""
                              : "Bearer realm=\"keel\", error=\"invalid_token\"");
        r->respond(std::move(res));
        return;
      }
    }
    if (draining) {
      fail(req, *r, bhttp::status::service_unavailable, ErrorCode::kInternalError,
           "Service Unavailable: shutting down");
      return;
    }
    if (route) {
      serve_route(std::move(req), r, *route, std::string(target), std::string(query),
                  std::move(subject));
      return;
    }
    switch (req.method()) {
      case bhttp::verb::post:
        post(req, r, subject);
        return;
      case bhttp::verb::get:
        get(req, r, subject);
        return;
      case bhttp::verb::delete_:
        del(req, r, subject);
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

  // --- POST -----------------------------------------------------------------

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
      modern(req, r, std::move(msg), subject, json_ok, sse_ok);
      return;
    }
    if (id && *method == "initialize") {
      initialize(req, r, std::move(msg), subject);
      return;
    }
    const std::string sid = header(req, "Mcp-Session-Id");
    if (!sid.empty()) {
      legacy(req, r, std::move(msg), subject, sid, json_ok, sse_ok);
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

  void initialize(const HttpRequest& req, const std::shared_ptr<Responder>& r, jsonrpc::Incoming msg,
                  const std::string& subject) {
    auto session = std::make_shared<LegacySession>();
    session->id = random_session_id();
    if (const auto* caps = std::get<jsonrpc::Request>(msg).params.if_contains("capabilities");
        caps != nullptr && caps->is_object()) {
      const json::object& c = caps->get_object();
      session->may_request = c.contains("sampling") || c.contains("elicitation") || c.contains("roots");
    }
    session->subject = subject;
    std::weak_ptr<LegacySession> weak = session;
    session->conn = server.connect(
        [weak](const json::value& m) {
          // Messages not tied to a request: the session's GET stream.
          auto s = weak.lock();
          if (!s) return;
          std::shared_ptr<EventStream> g;
          {
            std::lock_guard lock(s->mu);
            g = s->get_stream;
          }
          if (g) g->push(m);
        },
        session->id, subject);
    std::optional<json::value> response;
    Connection::Received got =
        session->conn->receive(std::move(msg), [&response](const json::value& m) {
          if (is_response_message(m)) response = m;
        });
    if (got.work) got.work();  // (initialize has none)
    if (!response) {
      fail(req, *r, bhttp::status::internal_server_error, ErrorCode::kInternalError, "Internal error");
      return;
    }
    HttpResponse res = make(req, bhttp::status::ok, json::serialize(*response));
    if (!error_code_of(*response)) {
      session->last_used = now_ms();
      {
        std::lock_guard lock(mu);
        sessions[session->id] = session;
      }
      res.set("Mcp-Session-Id", session->id);
      spdlog::info("mcp http: session {} opened", session->id);
    }
    r->respond(std::move(res));
  }

  void legacy(const HttpRequest& req, const std::shared_ptr<Responder>& r, jsonrpc::Incoming msg,
              const std::string& subject, const std::string& sid, bool json_ok, bool sse_ok) {
    auto session = find_session(sid);
    std::optional<RequestId> id;
    if (auto* q = std::get_if<jsonrpc::Request>(&msg)) id = q->id;
    if (!session) {
      fail(req, *r, bhttp::status::not_found, ErrorCode::kInvalidRequest,
           "Not Found: unknown or terminated session", id);
      return;
    }
    if (session->subject != subject) {
      fail(req, *r, bhttp::status::forbidden, ErrorCode::kInvalidRequest,
           "Forbidden: the session belongs to another principal", id);
      return;
    }
    const std::string pv = header(req, "MCP-Protocol-Version");
    if (!pv.empty() && !is_legacy_version(pv)) {
      fail(req, *r, bhttp::status::bad_request, ErrorCode::kInvalidRequest,
           "Bad Request: unsupported MCP-Protocol-Version '" + pv + "'", id);
      return;
    }
    auto* q = std::get_if<jsonrpc::Request>(&msg);
    if (q == nullptr) {  // notification or response
      session->conn->receive(std::move(msg));
      r->respond(make(req, bhttp::status::accepted, ""));
      return;
    }
    if (q->method == "logging/setLevel") session->logging = true;
    // SSE when the call may emit notifications or send requests to the client.
    const bool notifies = q->method == "tools/call" && (progress_token(q->params).has_value() ||
                                                        session->logging || session->may_request);
    const bool sse = sse_ok && (notifies || !json_ok);
    std::shared_ptr<EventStream> stream;
    if (sse) {
      const auto v = session->conn->legacy_version();
      stream = session->new_stream(v && *v >= "2025-11-25");
    }
    Connection* conn = session->conn.get();
    run(req, r, conn, std::move(msg), stream, /*modern=*/false, session,
        Headers{{"Mcp-Session-Id", session->id}});
  }

  void modern(const HttpRequest& req, const std::shared_ptr<Responder>& r, jsonrpc::Incoming msg,
              const std::string& subject, bool json_ok, bool sse_ok) {
    auto* q = std::get_if<jsonrpc::Request>(&msg);
    auto* n = std::get_if<jsonrpc::Notification>(&msg);
    const std::string& method = q ? q->method : n->method;
    const json::object& params = q ? q->params : n->params;
    std::optional<RequestId> id;
    if (q) id = q->id;
    // The header must name the body's version (-32020) before that version
    // is judged (-32022).
    std::string version;
    if (const auto* meta = params.if_contains("_meta"); meta != nullptr && meta->is_object()) {
      if (const auto* v = meta->get_object().if_contains(kMetaProtocolVersion);
          v != nullptr && v->is_string()) {
        version = std::string(v->get_string());
      }
    }
    const std::string pv = header(req, "MCP-Protocol-Version");
    if (pv != version) {
      fail(req, *r, bhttp::status::bad_request, ErrorCode::kHeaderMismatch,
           pv.empty() ? "Header mismatch: MCP-Protocol-Version header required"
                      : "Header mismatch: MCP-Protocol-Version header value '" + pv +
                            "' does not match body value '" + version + "'",
           id);
      return;
    }
    auto era = read_modern_meta(params);
    if (auto* err = std::get_if<Error>(&era)) {
      r->respond(make(req, bhttp::status::bad_request,
                      json::serialize(jsonrpc::to_json(jsonrpc::ErrorResponse{id, std::move(*err)}))));
      return;
    }
    const bool has_method_header = has_header(req, "Mcp-Method");
    if (has_method_header && header(req, "Mcp-Method") != method) {
      fail(req, *r, bhttp::status::bad_request, ErrorCode::kHeaderMismatch,
           "Header mismatch: Mcp-Method header value '" + header(req, "Mcp-Method") +
               "' does not match body value '" + method + "'",
           id);
      return;
    }
    const char* name_key = nullptr;
    if (method == "tools/call" || method == "prompts/get") name_key = "name";
    if (method == "resources/read") name_key = "uri";
    if (name_key != nullptr) {
      const json::value* v = params.if_contains(name_key);
      const std::string body = v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
      if (has_header(req, "Mcp-Name")) {
        if (header(req, "Mcp-Name") != body) {
          fail(req, *r, bhttp::status::bad_request, ErrorCode::kHeaderMismatch,
               "Header mismatch: Mcp-Name header value '" + header(req, "Mcp-Name") +
                   "' does not match body value '" + body + "'",
               id);
          return;
        }
      } else if (has_method_header) {
        fail(req, *r, bhttp::status::bad_request, ErrorCode::kHeaderMismatch,
             "Header mismatch: Mcp-Name header required for " + method, id);
        return;
      }
    }
    if (!q) {
      r->respond(make(req, bhttp::status::accepted, ""));
      return;
    }
    if (method == "initialize") {  // removed in the modern era
      fail(req, *r, bhttp::status::not_found, ErrorCode::kMethodNotFound,
           "Method not found: initialize", id);
      return;
    }
    if (method == "subscriptions/listen") {
      listen(*q, r, sse_ok);
      return;
    }
    const bool notifies = method == "tools/call" &&
                          (progress_token(params).has_value() ||
                           std::get<RequestEra>(era).log_level.has_value());
    const bool sse = sse_ok && (notifies || !json_ok);
    std::shared_ptr<Connection> conn = server.connect(nullptr, std::string(), subject);
    {
      std::lock_guard lock(modern_mu);
      if (modern_conns.size() >= 256) {
        std::erase_if(modern_conns, [](const auto& w) { return w.expired(); });
      }
      modern_conns.push_back(conn);
    }
    std::shared_ptr<EventStream> stream;
    if (sse) stream = std::make_shared<EventStream>("m", false);
    run(req, r, conn.get(), std::move(msg), stream, /*modern=*/true, conn, Headers{});
  }

  // Runs one request on `conn`; answers JSON (stream null) or SSE. `keep`
  // keeps the connection's owner alive until the answer is out.
  void run(const HttpRequest& req, const std::shared_ptr<Responder>& r, Connection* conn,
           jsonrpc::Incoming msg, const std::shared_ptr<EventStream>& stream, bool modern_era,
           std::shared_ptr<void> keep, Headers headers) {
    const RequestId id = std::get<jsonrpc::Request>(msg).id;
    if (!stream) {
      struct Collected {
        std::mutex mu;
        std::optional<json::value> response;
      };
      auto collected = std::make_shared<Collected>();
      Connection::Received got = conn->receive(std::move(msg), [collected](const json::value& m) {
        if (!is_response_message(m)) return;  // JSON mode: nowhere to put notifications
        std::lock_guard lock(collected->mu);
        collected->response = m;
      });
      auto answer = [this, collected, r, modern_era, headers,
                     version = req.version(), keep_alive = req.keep_alive()]() {
        std::optional<json::value> response;
        {
          std::lock_guard lock(collected->mu);
          response = collected->response;
        }
        HttpResponse res{bhttp::status::accepted, version};
        res.set(bhttp::field::server, "keel");
        for (const auto& [k, v] : headers) res.set(k, v);
        if (response) {
          res.result(bhttp::status::ok);
          if (modern_era) {
            if (auto code = error_code_of(*response)) {
              if (*code == static_cast<int>(ErrorCode::kMethodNotFound)) {
                res.result(bhttp::status::not_found);
              } else if (*code == static_cast<int>(ErrorCode::kHeaderMismatch) ||
                         *code == static_cast<int>(ErrorCode::kMissingRequiredClientCapability) ||
                         *code == static_cast<int>(ErrorCode::kUnsupportedProtocolVersion)) {
                res.result(bhttp::status::bad_request);
              }
            }
          }
          res.set(bhttp::field::content_type, "application/json");
          res.body() = json::serialize(*response);
        }
        res.keep_alive(keep_alive && !draining);
        res.prepare_payload();
        r->respond(std::move(res));
      };
      if (got.work) {
        begin_work();
        boost::asio::post(workers, [this, work = std::move(got.work), answer, keep]() mutable {
          work();
          answer();
          end_work();
        });
      } else {
        answer();
      }
      return;
    }
    // SSE.
    r->start_sse(headers);
    if (modern_era) {
      r->on_peer_closed([conn, id, keep] { conn->cancel(id); });
    } else {
      std::weak_ptr<EventStream> weak = stream;
      Responder* raw = r.get();
      r->on_peer_closed([weak, raw] {
        if (auto s = weak.lock()) s->detach(raw);  // legacy: not a cancellation
      });
    }
    stream->attach(r, std::nullopt);
    Connection::Received got =
        conn->receive(std::move(msg), [stream](const json::value& m) { stream->push(m); });
    if (got.work) {
      begin_work();
      boost::asio::post(workers, [this, work = std::move(got.work), stream, keep]() mutable {
        work();
        stream->end();
        end_work();
      });
    } else {
      stream->end();
    }
  }

  // --- subscriptions/listen (modern) ---------------------------------------

  void listen(const jsonrpc::Request& q, const std::shared_ptr<Responder>& r, bool sse_ok) {
    if (!sse_ok) {
      HttpResponse res{bhttp::status::not_acceptable, 11};
      res.set(bhttp::field::content_type, "application/json");
      res.body() = error_body(q.id, ErrorCode::kInvalidRequest,
                              "Not Acceptable: subscriptions/listen needs text/event-stream");
      res.keep_alive(false);
      res.prepare_payload();
      r->respond(std::move(res));
      return;
    }
    json::object asked;
    if (const auto* n = q.params.if_contains("notifications"); n != nullptr && n->is_object()) {
      asked = n->get_object();
    }
    json::object honoured;
    std::vector<std::string> kinds;
    for (const auto& [key, kind] : {std::pair<const char*, const char*>{"toolsListChanged", "tools"},
                                    {"promptsListChanged", "prompts"},
                                    {"resourcesListChanged", "resources"}}) {
      const json::value* v = asked.if_contains(key);
      if (v != nullptr && v->is_bool() && v->get_bool()) {
        honoured[key] = true;
        kinds.emplace_back(kind);
      }
    }
    const json::value sub_id = q.id.to_json();
    auto tagged = [sub_id](std::string method, json::object params) {
      json::object meta;
      meta[kMetaSubscriptionId] = sub_id;
      params["_meta"] = std::move(meta);
      return jsonrpc::to_json(jsonrpc::Notification{std::move(method), std::move(params)});
    };
    auto stream = std::make_shared<EventStream>("l", false);
    r->start_sse(Headers{});
    stream->attach(r, std::nullopt);
    stream->push(tagged("notifications/subscriptions/acknowledged",
                        json::object{{"notifications", honoured}}));
    auto hub = server.features().subscriptions;
    {
      std::lock_guard lock(listen_mu);
      std::erase_if(listens, [](const ListenStream& l) { return l.stream->ended(); });
      listens.push_back(ListenStream{stream, 0, q.id});
    }
    if (!hub) return;  // (nothing ever changes: keep the stream open)
    const std::uint64_t listener = hub->add([stream, kinds, tagged](std::string_view kind) {
      for (const auto& k : kinds) {
        if (k == kind) {
          stream->push(tagged("notifications/" + k + "/list_changed", json::object()));
        }
      }
    });
    std::weak_ptr<SubscriptionHub> weak_hub = hub;
    r->on_peer_closed([weak_hub, listener, stream] {
      if (auto h = weak_hub.lock()) h->remove(listener);
      stream->end();
    });
    std::lock_guard lock(listen_mu);
    for (auto& l : listens) {
      if (l.stream == stream) l.listener = listener;
    }
  }

  // --- GET / DELETE ---------------------------------------------------------

  // GET or DELETE without Mcp-Session-Id: a legacy client forgot its session
  // (400); anyone else is told the endpoint takes only POSTs (405, the modern
  // era's answer).
  void refuse_without_session(const HttpRequest& req, Responder& r) {
    const std::string pv = header(req, "MCP-Protocol-Version");
    if (!pv.empty() && is_legacy_version(pv)) {
      fail(req, r, bhttp::status::bad_request, ErrorCode::kInvalidRequest,
           "Bad Request: Mcp-Session-Id header required");
      return;
    }
    HttpResponse res = make(req, bhttp::status::method_not_allowed,
                            error_body(std::nullopt, ErrorCode::kInvalidRequest,
                                       "Method Not Allowed: POST requests only without a session"));
    res.set(bhttp::field::allow, "POST");
    r.respond(std::move(res));
  }

  void get(const HttpRequest& req, const std::shared_ptr<Responder>& r, const std::string& subject) {
    const std::string sid = header(req, "Mcp-Session-Id");
    const std::string pv = header(req, "MCP-Protocol-Version");
    if (sid.empty()) {
      refuse_without_session(req, *r);
      return;
    }
    if (!accepts(header(req, "Accept"), "text/event-stream") || header(req, "Accept").empty()) {
      fail(req, *r, bhttp::status::not_acceptable, ErrorCode::kInvalidRequest,
           "Not Acceptable: Accept must include text/event-stream");
      return;
    }
    auto session = find_session(sid);
    if (!session) {
      fail(req, *r, bhttp::status::not_found, ErrorCode::kInvalidRequest,
           "Not Found: unknown or terminated session");
      return;
    }
    if (session->subject != subject) {
      fail(req, *r, bhttp::status::forbidden, ErrorCode::kInvalidRequest,
           "Forbidden: the session belongs to another principal");
      return;
    }
    if (!pv.empty() && !is_legacy_version(pv)) {
      fail(req, *r, bhttp::status::bad_request, ErrorCode::kInvalidRequest,
           "Bad Request: unsupported MCP-Protocol-Version '" + pv + "'");
      return;
    }
    const std::string last = header(req, "Last-Event-ID");
    if (!last.empty()) {
      const auto colon = last.rfind(':');
      std::shared_ptr<EventStream> stream;
      std::uint64_t after = 0;
      if (colon != std::string::npos) {
        try {
          after = std::stoull(last.substr(colon + 1));
          std::lock_guard lock(session->mu);
          auto it = session->streams.find(last.substr(0, colon));
          if (it != session->streams.end()) stream = it->second;
        } catch (const std::exception&) {
          stream = nullptr;
        }
      }
      if (!stream) {
        fail(req, *r, bhttp::status::not_found, ErrorCode::kInvalidRequest,
             "Not Found: unknown Last-Event-ID");
        return;
      }
      r->start_sse(Headers{{"Mcp-Session-Id", session->id}});
      std::weak_ptr<EventStream> weak = stream;
      Responder* raw = r.get();
      r->on_peer_closed([weak, raw] {
        if (auto s = weak.lock()) s->detach(raw);
      });
      stream->attach(r, after);
      return;
    }
    std::shared_ptr<EventStream> stream;
    {
      std::lock_guard lock(session->mu);
      if (session->get_stream && !session->get_stream->ended()) {
        stream = nullptr;
      } else {
        stream = std::make_shared<EventStream>("g" + std::to_string(session->next_stream++), true);
        session->streams[stream->id()] = stream;
        session->get_stream = stream;
      }
    }
    if (!stream) {
      fail(req, *r, bhttp::status::conflict, ErrorCode::kInvalidRequest,
           "Conflict: the session already has a GET stream");
      return;
    }
    r->start_sse(Headers{{"Mcp-Session-Id", session->id}});
    std::weak_ptr<EventStream> weak = stream;
    std::weak_ptr<LegacySession> wsession = session;
    r->on_peer_closed([weak, wsession] {
      auto s = weak.lock();
      auto ls = wsession.lock();
      if (s && ls) {
        std::lock_guard lock(ls->mu);
        if (ls->get_stream == s) ls->get_stream = nullptr;
      }
      if (s) s->end();
    });
    stream->attach(r, std::nullopt);
  }

  void del(const HttpRequest& req, const std::shared_ptr<Responder>& r, const std::string& subject) {
    const std::string sid = header(req, "Mcp-Session-Id");
    if (sid.empty()) {
      refuse_without_session(req, *r);
      return;
    }
    std::shared_ptr<LegacySession> session;
    {
      std::lock_guard lock(mu);
      auto it = sessions.find(sid);
      if (it != sessions.end() && it->second->subject == subject) {
        session = it->second;
        sessions.erase(it);
      }
    }
    if (!session) {
      fail(req, *r, bhttp::status::not_found, ErrorCode::kInvalidRequest,
           "Not Found: unknown or terminated session");
      return;
    }
    close_session(*session);
    r->respond(make(req, bhttp::status::ok, ""));
  }

  void close_session(LegacySession& s) {
    s.conn->shutdown();
    std::shared_ptr<EventStream> g;
    {
      std::lock_guard lock(s.mu);
      g = std::move(s.get_stream);
    }
    if (g) g->end();
    spdlog::info("mcp http: session {} closed", s.id);
    if (options.on_session_closed) {
      try {
        options.on_session_closed(s.id);
      } catch (const std::exception& e) {
        spdlog::warn("mcp http: session close hook failed: {}", e.what());
      }
    }
  }
};

HttpHandler::HttpHandler(McpServer& server, const HttpOptions& options, bool loopback_listener)
    : impl_(std::make_unique<Impl>(server, options, loopback_listener)) {}

HttpHandler::~HttpHandler() {
  begin_shutdown();
  impl_->workers.join();
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
  if (impl_->draining.exchange(true)) return;
  std::unordered_map<std::string, std::shared_ptr<LegacySession>> sessions;
  {
    std::lock_guard lock(impl_->mu);
    sessions.swap(impl_->sessions);
  }
  for (auto& [id, s] : sessions) impl_->close_session(*s);
  std::vector<std::weak_ptr<Connection>> modern;
  {
    std::lock_guard lock(impl_->modern_mu);
    modern.swap(impl_->modern_conns);
  }
  for (auto& w : modern) {
    if (auto c = w.lock()) c->shutdown();
  }
  // Listen streams end gracefully: a complete result tagged with their id.
  std::vector<Impl::ListenStream> listens;
  {
    std::lock_guard lock(impl_->listen_mu);
    listens.swap(impl_->listens);
  }
  auto hub = impl_->server.features().subscriptions;
  for (auto& l : listens) {
    if (hub && l.listener != 0) hub->remove(l.listener);
    json::object result;
    result["resultType"] = "complete";
    result["_meta"] = json::object{{kMetaSubscriptionId, l.id.to_json()}};
    l.stream->push(jsonrpc::to_json(jsonrpc::Response{l.id, json::value(std::move(result))}));
    l.stream->end();
  }
}

void HttpHandler::wait_idle() {
  std::unique_lock lock(impl_->idle_mu);
  impl_->idle_cv.wait(lock, [this] { return impl_->pending == 0; });
}

}  // namespace keel::mcp::http_detail
