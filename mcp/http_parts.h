// keel/mcp/http_parts.h — the parts of the HTTP handler and what they share.
// Not a public header. HttpHandler::Impl (http_handler.cpp) only routes; it
// hands each request to:
//   RequestGuard      (http_guard.cpp)     Host, Origin, bearer token, draining
//   LegacySessions    (http_sessions.cpp)  2025-11-25: initialize, sessions,
//                                          GET streams, SSE resumption, DELETE
//   StatelessRequests (http_stateless.cpp) 2026-07-28: per-request _meta,
//                                          header checks, subscriptions/listen
// over HttpCore (http_core.cpp): responses, the worker pool, the drain count
// and run(), which answers one request on a Connection as JSON or SSE.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "mcp/http_internal.h"
#include "mcp/jsonrpc.h"

namespace keel::mcp::http_detail {

// --- small helpers (http_core.cpp) ---
std::string lower(std::string_view s);
std::string trim(std::string_view s);
std::string header(const HttpRequest& req, std::string_view name);
bool has_header(const HttpRequest& req, std::string_view name);
bool accepts(const std::string& accept, std::string_view type);
std::string error_body(std::optional<jsonrpc::RequestId> id, jsonrpc::ErrorCode code,
                       std::string message,
                       std::optional<boost::json::value> data = std::nullopt);
bool is_response_message(const boost::json::value& m);
std::optional<int> error_code_of(const boost::json::value& m);
std::int64_t now_ms();  // steady clock

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

  void push(const boost::json::value& m) {
    std::lock_guard lock(mu_);
    if (ended_) return;
    std::string ev;
    ++seq_;
    if (resumable_) ev += "id: " + id_ + ":" + std::to_string(seq_) + "\n";
    ev += "event: message\ndata: " + boost::json::serialize(m) + "\n\n";
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

// The plumbing every part shares.
struct HttpCore {
  HttpCore(McpServer& s, const HttpOptions& o);

  McpServer& server;
  const HttpOptions& options;
  boost::asio::thread_pool workers;
  std::atomic<bool> draining{false};

  std::mutex idle_mu;
  std::condition_variable idle_cv;
  std::size_t pending = 0;  // work posted to `workers` and not yet done

  HttpResponse make(const HttpRequest& req, bhttp::status status, std::string body,
                    std::string_view content_type = "application/json");
  void fail(const HttpRequest& req, Responder& r, bhttp::status status, jsonrpc::ErrorCode code,
            std::string message, std::optional<jsonrpc::RequestId> id = std::nullopt,
            std::optional<boost::json::value> data = std::nullopt);
  void begin_work();
  void end_work();
  void wait_idle();

  // Runs one request on `conn`; answers JSON (stream null) or SSE. `keep`
  // keeps the connection's owner alive until the answer is out.
  void run(const HttpRequest& req, const std::shared_ptr<Responder>& r, Connection* conn,
           jsonrpc::Incoming msg, const std::shared_ptr<EventStream>& stream, bool modern_era,
           std::shared_ptr<void> keep, Headers headers);
};

// A part of the handler: HttpCore's members under their usual names.
struct HttpPart {
  explicit HttpPart(HttpCore& c) : core(c), server(c.server), options(c.options) {}
  HttpCore& core;
  McpServer& server;
  const HttpOptions& options;

  template <class... A>
  HttpResponse make(A&&... a) {
    return core.make(std::forward<A>(a)...);
  }
  template <class... A>
  void fail(A&&... a) {
    core.fail(std::forward<A>(a)...);
  }
};

// What the path of a request asks of the guard (RequestGuard::admit).
enum class Access {
  kRefused,        // the refusal was sent (unknown path)
  kAuthenticated,  // the bearer token is required (when principals are configured)
  kPublic,         // a public route: authenticates itself; a valid token still names its principal
};

// Host (DNS rebinding), Origin, bearer token, and 503 while draining.
class RequestGuard : HttpPart {
 public:
  RequestGuard(HttpCore& c, bool loopback_listener) : HttpPart(c), loopback_listener_(loopback_listener) {}
  // The request's principal ("" without principals, or a public route's
  // request without a valid token), or nullopt once the refusal was sent.
  // `route_checked` (returning Access) runs between the Host/Origin checks
  // and authentication (a 404 for an unknown path comes before a 401).
  template <class F>
  std::optional<std::string> admit(const HttpRequest& req, Responder& r, F route_checked) {
    if (!check_origin(req, r)) return std::nullopt;
    const Access access = route_checked();
    if (access == Access::kRefused) return std::nullopt;
    std::optional<std::string> subject =
        access == Access::kPublic ? std::optional<std::string>(token_subject(req)) : authenticate(req, r);
    if (!subject) return std::nullopt;
    if (!check_draining(req, r)) return std::nullopt;
    return subject;
  }

 private:
  bool check_origin(const HttpRequest& req, Responder& r);
  std::optional<std::string> authenticate(const HttpRequest& req, Responder& r);
  // The principal of the request's valid bearer token, "" when none.
  std::string token_subject(const HttpRequest& req) const;
  bool check_draining(const HttpRequest& req, Responder& r);
  bool loopback_listener_;
};

struct LegacySession;

// 2025-11-25: sessions opened by initialize, requests with Mcp-Session-Id,
// GET streams with Last-Event-ID resumption, DELETE.
class LegacySessions : HttpPart {
 public:
  explicit LegacySessions(HttpCore& c) : HttpPart(c) {}
  void initialize(const HttpRequest& req, const std::shared_ptr<Responder>& r,
                  jsonrpc::Incoming msg, const std::string& subject);
  void post(const HttpRequest& req, const std::shared_ptr<Responder>& r, jsonrpc::Incoming msg,
            const std::string& subject, const std::string& sid, bool json_ok, bool sse_ok);
  void get(const HttpRequest& req, const std::shared_ptr<Responder>& r, const std::string& subject);
  void del(const HttpRequest& req, const std::shared_ptr<Responder>& r, const std::string& subject);
  // Shutdown: every session is closed.
  void close_all();

 private:
  std::shared_ptr<LegacySession> find_session(const std::string& id);
  void close_session(LegacySession& s);
  void refuse_without_session(const HttpRequest& req, Responder& r);

  std::mutex mu_;  // guards sessions_
  std::unordered_map<std::string, std::shared_ptr<LegacySession>> sessions_;
};

// 2026-07-28: each request stands alone, described by its params._meta.
class StatelessRequests : HttpPart {
 public:
  explicit StatelessRequests(HttpCore& c) : HttpPart(c) {}
  void post(const HttpRequest& req, const std::shared_ptr<Responder>& r, jsonrpc::Incoming msg,
            const std::string& subject, bool json_ok, bool sse_ok);
  // Shutdown: calls in flight see cancelled(); listen streams end with a
  // complete result tagged with their id.
  void shutdown();

 private:
  void listen(const jsonrpc::Request& q, const std::shared_ptr<Responder>& r, bool sse_ok);

  struct ListenStream {
    std::shared_ptr<EventStream> stream;
    std::uint64_t listener;
    jsonrpc::RequestId id;
  };
  std::mutex listen_mu_;
  std::vector<ListenStream> listens_;
  std::mutex modern_mu_;  // connections that may be in flight
  std::vector<std::weak_ptr<Connection>> modern_conns_;
};

}  // namespace keel::mcp::http_detail
