// keel/mcp/connection_state.h — the shared state of one Connection and the
// method table's view of one request. Not a public header: server.cpp (the
// dispatcher), connection.cpp (in-flight requests, output) and the feature
// files (lifecycle.cpp, tools_methods.cpp, resources_methods.cpp,
// prompts_methods.cpp, logging_methods.cpp) share it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "mcp/era.h"
#include "mcp/jsonrpc.h"
#include "mcp/messages.h"
#include "mcp/observer.h"
#include "mcp/server.h"

namespace keel::mcp::detail {

using Sink = Connection::Sink;
using Received = Connection::Received;

// One request as the RequestObserver sees it (mcp/observer.h): empty without
// an observer. It remembers how the request ended so far (a JSON-RPC error
// sent, a tool error) and reports it once, by finish() or, if it was never
// finished (the work was dropped), as cancelled by its destructor.
// Thread safety: one thread at a time (it moves with its request).
class Observed {
 public:
  Observed() = default;
  Observed(RequestObserver& observer, const RequestInfo& info)
      : scope_(observer.begin(info)), start_(std::chrono::steady_clock::now()) {}
  Observed(Observed&&) = default;
  Observed& operator=(Observed&&) = default;
  ~Observed() { report(RequestResult::Outcome::kCancelled); }

  explicit operator bool() const { return scope_ != nullptr; }
  void error(int code) {
    outcome_ = RequestResult::Outcome::kError;
    error_code_ = code;
  }
  void tool_error(std::string code) {
    outcome_ = RequestResult::Outcome::kToolError;
    tool_error_code_ = std::move(code);
  }
  // Reports the outcome recorded so far (ok when nothing was); `cancelled`
  // overrides it (no response was sent).
  void finish(bool cancelled = false) {
    report(cancelled ? RequestResult::Outcome::kCancelled : outcome_);
  }

 private:
  void report(RequestResult::Outcome outcome) {
    if (!scope_) return;
    RequestResult r;
    r.outcome = outcome;
    r.error_code = error_code_;
    r.tool_error_code = tool_error_code_;
    r.duration = std::chrono::steady_clock::now() - start_;
    scope_->end(r);
    scope_.reset();
  }

  std::unique_ptr<RequestScope> scope_;
  std::chrono::steady_clock::time_point start_{};
  RequestResult::Outcome outcome_ = RequestResult::Outcome::kOk;
  int error_code_ = 0;
  std::string tool_error_code_;
};

// One tools/call between receive() and its response.
struct CallState {
  jsonrpc::RequestId id;
  Sink sink;
  std::optional<boost::json::value> progress_token;
  boost::json::value input_responses;
  std::string request_state;
  std::atomic<bool> cancelled{false};  // by the client: no response
  std::mutex mu;                       // guards the two below
  bool done = false;
  std::optional<double> last_progress;
  Observed observed;  // run_call reports it
};

// A request keel sent to the client (legacy era), awaiting its response.
struct PendingRequest {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  boost::json::value result;
  std::optional<jsonrpc::Error> error;
};

// The shared state of one connection; work items keep it alive.
struct ConnectionState : std::enable_shared_from_this<ConnectionState> {
  ConnectionState(const ServerOptions& o, std::shared_ptr<const ToolRegistry> t,
                  const ServerFeatures& f, Sink s, std::string sid, std::string subject,
                  RequestObserver* obs = nullptr)
      : options(o),
        tools(std::move(t)),
        features(f),
        send(std::move(s)),
        session_id(std::move(sid)),
        auth_subject(std::move(subject)),
        observer(obs) {}

  const ServerOptions& options;
  std::shared_ptr<const ToolRegistry> tools;
  const ServerFeatures& features;
  Sink send;
  std::string session_id;
  std::string auth_subject;
  RequestObserver* observer;  // null: requests are not observed (McpServer owns it)

  std::mutex send_mu;  // serializes every outgoing message

  mutable std::mutex mu;  // guards the legacy session, in_flight and outgoing
  bool initialized = false;
  std::string legacy_version;
  std::string client_name;
  std::string client_version;
  boost::json::object client_capabilities;
  std::optional<LogLevel> log_level;  // legacy logging/setLevel
  std::unordered_map<jsonrpc::RequestId, std::shared_ptr<CallState>, jsonrpc::RequestIdHash>
      in_flight;
  std::unordered_map<jsonrpc::RequestId, std::shared_ptr<PendingRequest>, jsonrpc::RequestIdHash>
      outgoing;
  std::atomic<std::int64_t> next_outgoing{0};

  std::atomic<bool> shutting_down{false};

  // --- output (connection.cpp) ---
  void emit(const Sink& sink, const boost::json::value& msg);
  void reply(const Sink& sink, const jsonrpc::RequestId& id, boost::json::object result);
  void reply_error(const Sink& sink, std::optional<jsonrpc::RequestId> id, jsonrpc::Error error);

  // --- entry (connection.cpp) ---
  Received receive(jsonrpc::Incoming message, const Sink& sink);
  void on_notification(const jsonrpc::Notification& n);
  bool fulfil(const jsonrpc::RequestId& id, boost::json::value result,
              std::optional<jsonrpc::Error> error);
  bool cancel(const jsonrpc::RequestId& id);

  // --- requests: era classification and the method table (server.cpp) ---
  void on_request(jsonrpc::Request& req, const Sink& sink, Received& out);
  // on_request without the observer; `observed` (may be empty) learns of errors.
  void route_request(jsonrpc::Request& req, const Sink& sink, Received& out, Observed& observed);
  // The observer's view of `req` (observer set).
  Observed observe(const jsonrpc::Request& req);

  // --- lifecycle (lifecycle.cpp) ---
  boost::json::object capabilities() const;
  boost::json::object server_info() const;

  // --- what handlers share (connection.cpp) ---
  // What every CallContext of this connection says about the caller.
  CallContext caller_context(const RequestEra& era, std::string request_id) const;
  // The context of a request answered inline (resources, prompts).
  CallContext simple_context(const jsonrpc::Request& req, const RequestEra& era) const;

  // --- tools/call in flight (connection.cpp) ---
  // Registers `call` as in flight; false when its id is already in use.
  bool register_call(const std::shared_ptr<CallState>& call);
  void finish(const std::shared_ptr<CallState>& call,
              const std::optional<boost::json::value>& response);
  CallContext make_context(const std::shared_ptr<CallState>& call, const RequestEra& era);
  // Sends `method` to the client on the call's stream and waits for the answer.
  boost::json::value client_request(CallState& call, const std::string& method,
                                    boost::json::object params);
  void send_progress(CallState& call, double progress, std::optional<double> total,
                     std::string_view message);
  void send_log(CallState& call, LogLevel level, std::string_view logger,
                const boost::json::value& data);
};

// One request as the method table hands it to a handler.
struct MethodCall {
  ConnectionState& conn;
  jsonrpc::Request& req;
  RequestEra era;
  const Sink& sink;
  Received& out;
  Observed& observed;  // tools/call moves it into its CallState

  const boost::json::object& params() const { return req.params; }
  void reply(boost::json::object result) { conn.reply(sink, req.id, std::move(result)); }
  void fail(jsonrpc::Error error) {
    observed.error(error.code);
    conn.reply_error(sink, req.id, std::move(error));
  }
  void fail(jsonrpc::ErrorCode code, std::string message) {
    fail(jsonrpc::Error(code, std::move(message)));
  }
  // Replies with `result`, decorated for the modern era (resultType,
  // serverInfo; caching hints when `cacheable` and not input_required).
  void finish(boost::json::object result, bool cacheable);
};

using MethodHandler = void (*)(MethodCall&);

// --- the handlers, one per protocol method, each in its feature's file ---
// lifecycle.cpp
void handle_initialize(MethodCall& c);
void handle_ping(MethodCall& c);
void handle_discover(MethodCall& c);
// logging_methods.cpp
void handle_set_level(MethodCall& c);
// tools_methods.cpp
void handle_tools_list(MethodCall& c);
void handle_tools_call(MethodCall& c);
// resources_methods.cpp
void handle_resources_list(MethodCall& c);
void handle_resource_templates_list(MethodCall& c);
void handle_resources_read(MethodCall& c);
void handle_resources_subscribe(MethodCall& c);  // and unsubscribe
// prompts_methods.cpp
void handle_prompts_list(MethodCall& c);
void handle_prompts_get(MethodCall& c);
void handle_complete(MethodCall& c);

}  // namespace keel::mcp::detail
