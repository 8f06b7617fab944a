// keel/mcp/http_sessions.cpp — the 2025-11-25 era over HTTP: initialize opens
// a session (Mcp-Session-Id), later POSTs run on its Connection, GET opens the
// session's stream or resumes one with Last-Event-ID, DELETE ends it.
#include <algorithm>
#include <map>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "crypto/random.h"
#include "mcp/era.h"
#include "mcp/http_parts.h"
#include "mcp/observer.h"
#include "mcp/protocol_version.h"

namespace keel::mcp {
namespace {
// Sessions in every LegacySessions' map (http_sessions_open()).
std::atomic<std::size_t> g_sessions_open{0};
}  // namespace

std::size_t http_sessions_open() { return g_sessions_open.load(std::memory_order_relaxed); }

}  // namespace keel::mcp

namespace keel::mcp::http_detail {

namespace json = boost::json;
using jsonrpc::ErrorCode;
using jsonrpc::RequestId;

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

void LegacySessions::close_all() {
  std::unordered_map<std::string, std::shared_ptr<LegacySession>> sessions;
  {
    std::lock_guard lock(mu_);
    sessions.swap(sessions_);
  }
  g_sessions_open -= sessions.size();
  for (auto& [id, s] : sessions) close_session(*s);
}

// The live session `id`; an expired one is closed and reads as unknown.
std::shared_ptr<LegacySession> LegacySessions::find_session(const std::string& id) {
  std::shared_ptr<LegacySession> expired;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    const std::int64_t now = now_ms();
    if (now - it->second->last_used.load() <= options.session_timeout.count()) {
      it->second->last_used = now;
      return it->second;
    }
    expired = it->second;
    sessions_.erase(it);
    --g_sessions_open;
  }
  spdlog::info("mcp http: session {} expired", expired->id);
  close_session(*expired);
  return nullptr;
}

void LegacySessions::initialize(const HttpRequest& req, const std::shared_ptr<Responder>& r,
                              jsonrpc::Incoming msg, const std::string& subject) {
  auto session = std::make_shared<LegacySession>();
  session->id = crypto::secure_random_hex(16);  // 128 bits from getrandom(2)
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
      std::lock_guard lock(mu_);
      if (sessions_.emplace(session->id, session).second) ++g_sessions_open;
    }
    res.set("Mcp-Session-Id", session->id);
    spdlog::info("mcp http: session {} opened", session->id);
  }
  r->respond(std::move(res));
}

void LegacySessions::post(const HttpRequest& req, const std::shared_ptr<Responder>& r,
                        jsonrpc::Incoming msg, const std::string& subject,
                        const std::string& sid, bool json_ok, bool sse_ok) {
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
  core.run(req, r, conn, std::move(msg), stream, /*modern=*/false, session,
      Headers{{"Mcp-Session-Id", session->id}});
}

// GET or DELETE without Mcp-Session-Id: a legacy client forgot its session
// (400); anyone else is told the endpoint takes only POSTs (405, the modern
// era's answer).
void LegacySessions::refuse_without_session(const HttpRequest& req, Responder& r) {
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

namespace {

// Answers a GET with `stream` as SSE: its events after `after` (a resume), or
// a priming event and then all of them. `gone` runs if the peer leaves first.
void serve_stream(const std::shared_ptr<Responder>& r, const LegacySession& session,
                  const std::shared_ptr<EventStream>& stream, std::optional<std::uint64_t> after,
                  std::function<void()> gone) {
  r->start_sse(Headers{{"Mcp-Session-Id", session.id}});
  r->on_peer_closed(std::move(gone));
  stream->attach(r, after);
}

}  // namespace

void LegacySessions::get(const HttpRequest& req, const std::shared_ptr<Responder>& r,
                       const std::string& subject) {
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
    std::weak_ptr<EventStream> weak = stream;
    serve_stream(r, *session, stream, after, [weak, raw = r.get()] {
      if (auto s = weak.lock()) s->detach(raw);  // (the stream lives on for a later resume)
    });
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
  std::weak_ptr<EventStream> weak = stream;
  std::weak_ptr<LegacySession> wsession = session;
  serve_stream(r, *session, stream, std::nullopt, [weak, wsession] {
    auto s = weak.lock();
    auto ls = wsession.lock();
    if (s && ls) {
      std::lock_guard lock(ls->mu);
      if (ls->get_stream == s) ls->get_stream = nullptr;
    }
    if (s) s->end();
  });
}

void LegacySessions::del(const HttpRequest& req, const std::shared_ptr<Responder>& r,
                       const std::string& subject) {
  const std::string sid = header(req, "Mcp-Session-Id");
  if (sid.empty()) {
    refuse_without_session(req, *r);
    return;
  }
  std::shared_ptr<LegacySession> session;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(sid);
    if (it != sessions_.end() && it->second->subject == subject) {
      session = it->second;
      sessions_.erase(it);
      --g_sessions_open;
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

void LegacySessions::close_session(LegacySession& s) {
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
}  // namespace keel::mcp::http_detail
