// keel/mcp/connection_state.h — the shared state of one Connection and the
// method table's view of one request. Not a public header: server.cpp (the
// dispatcher), connection.cpp (in-flight requests, output) and the feature
// files (lifecycle.cpp, tools_methods.cpp, resources_methods.cpp,
// prompts_methods.cpp, logging_methods.cpp) share it.
#pragma once

#include <atomic>
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
#include "mcp/server.h"

namespace keel::mcp::detail {

using Sink = Connection::Sink;
using Received = Connection::Received;

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
                  const ServerFeatures& f, Sink s, std::string sid, std::string subject)
      : options(o),
        tools(std::move(t)),
        features(f),
        send(std::move(s)),
        session_id(std::move(sid)),
        auth_subject(std::move(subject)) {}

  const ServerOptions& options;
  std::shared_ptr<const ToolRegistry> tools;
  const ServerFeatures& features;
  Sink send;
  std::string session_id;
  std::string auth_subject;

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

  const boost::json::object& params() const { return req.params; }
  void reply(boost::json::object result) { conn.reply(sink, req.id, std::move(result)); }
  void fail(jsonrpc::Error error) { conn.reply_error(sink, req.id, std::move(error)); }
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
