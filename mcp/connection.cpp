// keel/mcp/connection.cpp — one connection's machinery under the method
// table: output (serialized sends), message entry, notifications, requests
// in flight (cancellation, progress, logs, server-to-client requests).
#include <chrono>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

#include "mcp/connection_state.h"

namespace keel::mcp::detail {

using jsonrpc::RequestId;

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

json::value number_json(double d) {
  if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0) {
    return json::value(static_cast<std::int64_t>(d));
  }
  return json::value(d);
}

}  // namespace

// --- output -----------------------------------------------------------------

void ConnectionState::emit(const Sink& sink, const json::value& msg) {
  std::lock_guard lock(send_mu);
  try {
    if (sink) {
      sink(msg);
    } else if (send) {
      send(msg);
    }
  } catch (const std::exception& e) {
    spdlog::warn("mcp: send failed: {}", e.what());
  } catch (...) {
    spdlog::warn("mcp: send failed");
  }
}

void ConnectionState::reply(const Sink& sink, const RequestId& id, json::object result) {
  emit(sink, jsonrpc::to_json(jsonrpc::Response{id, json::value(std::move(result))}));
}

void ConnectionState::reply_error(const Sink& sink, std::optional<RequestId> id, Error error) {
  spdlog::debug("mcp: error {} for request {}: {}", error.code,
                id ? id->to_string() : std::string("null"), error.message);
  emit(sink, jsonrpc::to_json(jsonrpc::ErrorResponse{std::move(id), std::move(error)}));
}

void MethodCall::finish(json::object result, bool cacheable) {
  if (era.modern) {
    const auto* rt = result.if_contains("resultType");
    const bool input_required =
        rt != nullptr && rt->is_string() && rt->get_string() == "input_required";
    if (cacheable && !input_required) add_cache_hints(result, conn.options);
    decorate_modern_result(result, conn.options);
  }
  reply(std::move(result));
}

// --- entry ------------------------------------------------------------------

Received ConnectionState::receive(jsonrpc::Incoming message, const Sink& sink) {
  Received out;
  std::optional<RequestId> request_id;
  try {
    std::visit(
        Overloaded{
            [&](jsonrpc::Request& req) {
              out.kind = Received::Kind::kRequest;
              request_id = req.id;
              on_request(req, sink, out);
            },
            [&](jsonrpc::Notification& n) {
              out.kind = Received::Kind::kNotification;
              on_notification(n);
            },
            [&](jsonrpc::Response& r) {
              out.kind = Received::Kind::kResponse;
              if (!fulfil(r.id, std::move(r.result), std::nullopt)) {
                spdlog::debug("mcp: ignoring response to unknown request {}", r.id.to_string());
              }
            },
            [&](jsonrpc::ErrorResponse& r) {
              out.kind = Received::Kind::kResponse;
              if (!r.id || !fulfil(*r.id, nullptr, r.error)) {
                spdlog::debug("mcp: ignoring error response {} {}: {}",
                              r.id ? r.id->to_string() : "null", r.error.code, r.error.message);
              }
            },
            [&](jsonrpc::MalformedMessage& m) {
              out.kind = Received::Kind::kInvalid;
              if (m.reply) {
                reply_error(sink, m.id, std::move(m.error));
              } else {
                spdlog::debug("mcp: dropping malformed notification: {}", m.error.message);
              }
            },
        },
        message);
  } catch (const std::exception& e) {
    spdlog::error("mcp: internal error handling a message: {}", e.what());
    out.work = nullptr;
    if (request_id) reply_error(sink, request_id, Error(ErrorCode::kInternalError, "Internal error"));
  } catch (...) {
    spdlog::error("mcp: internal error handling a message");
    out.work = nullptr;
    if (request_id) reply_error(sink, request_id, Error(ErrorCode::kInternalError, "Internal error"));
  }
  return out;
}

// --- notifications ----------------------------------------------------------

void ConnectionState::on_notification(const jsonrpc::Notification& n) {
  if (n.method == "notifications/cancelled") {
    const json::value* rid = n.params.if_contains("requestId");
    std::optional<RequestId> id = rid != nullptr ? RequestId::from_json(*rid) : std::nullopt;
    if (!id) {
      spdlog::debug("mcp: notifications/cancelled without a valid requestId");
      return;
    }
    std::string reason;
    if (const auto* r = n.params.if_contains("reason"); r != nullptr && r->is_string()) {
      reason = std::string(r->get_string());
    }
    const bool found = cancel(*id);
    spdlog::debug("mcp: cancel {} ({}): {}", id->to_string(), found ? "in flight" : "unknown",
                  reason);
  } else if (n.method == "notifications/initialized") {
    spdlog::debug("mcp: client initialized");
  } else {
    spdlog::debug("mcp: ignoring notification {}", n.method);
  }
}

bool ConnectionState::fulfil(const RequestId& id, json::value result, std::optional<Error> error) {
  std::shared_ptr<PendingRequest> p;
  {
    std::lock_guard lock(mu);
    auto it = outgoing.find(id);
    if (it == outgoing.end()) return false;
    p = it->second;
    outgoing.erase(it);
  }
  std::lock_guard lock(p->mu);
  p->done = true;
  p->result = std::move(result);
  p->error = std::move(error);
  p->cv.notify_all();
  return true;
}

bool ConnectionState::cancel(const RequestId& id) {
  std::lock_guard lock(mu);
  auto it = in_flight.find(id);
  if (it == in_flight.end()) return false;
  it->second->cancelled = true;
  return true;
}

// --- contexts ---------------------------------------------------------------

CallContext ConnectionState::caller_context(const RequestEra& era, std::string request_id) const {
  CallContext ctx;
  ctx.protocol_version = era.protocol_version;
  ctx.modern = era.modern;
  ctx.client_name = era.client_name;
  ctx.client_version = era.client_version;
  ctx.client_capabilities = era.client_capabilities;
  ctx.session_id = session_id;
  ctx.auth_subject = auth_subject;
  ctx.request_id = std::move(request_id);
  return ctx;
}

CallContext ConnectionState::simple_context(const jsonrpc::Request& req,
                                            const RequestEra& era) const {
  CallContext ctx = caller_context(era, req.id.to_string());
  ctx.progress = [](double, std::optional<double>, std::string_view) {};
  ctx.cancelled = [] { return false; };
  ctx.log = [](LogLevel, std::string_view, const json::value&) {};
  if (const auto* v = req.params.if_contains("inputResponses")) ctx.input_responses = *v;
  if (const auto* v = req.params.if_contains("requestState"); v != nullptr && v->is_string()) {
    ctx.request_state = std::string(v->get_string());
  }
  return ctx;
}

// --- requests in flight -----------------------------------------------------

bool ConnectionState::register_call(const std::shared_ptr<CallState>& call) {
  std::lock_guard lock(mu);
  return in_flight.emplace(call->id, call).second;
}

void ConnectionState::finish(const std::shared_ptr<CallState>& call,
                             const std::optional<json::value>& response) {
  {
    std::lock_guard lock(mu);
    auto it = in_flight.find(call->id);
    if (it != in_flight.end() && it->second == call) in_flight.erase(it);
  }
  std::lock_guard lock(call->mu);
  call->done = true;
  if (call->cancelled) {
    spdlog::debug("mcp: request {} cancelled; no response", call->id.to_string());
    return;
  }
  if (response) emit(call->sink, *response);
}

CallContext ConnectionState::make_context(const std::shared_ptr<CallState>& call,
                                          const RequestEra& era) {
  CallContext ctx = caller_context(era, call->id.to_string());
  ctx.input_responses = call->input_responses;
  ctx.request_state = call->request_state;
  auto self = shared_from_this();
  ctx.cancelled = [self, call] { return call->cancelled.load() || self->shutting_down.load(); };
  if (call->progress_token) {
    ctx.progress = [self, call](double progress, std::optional<double> total,
                                std::string_view message) {
      self->send_progress(*call, progress, total, message);
    };
  } else {
    ctx.progress = [](double, std::optional<double>, std::string_view) {};
  }
  if (era.modern) {
    ctx.request = [](const std::string& method, json::object) -> json::value {
      throw std::runtime_error(method + ": server-to-client requests do not exist in the modern "
                               "era (answer with an InputRequiredResult)");
    };
  } else {
    ctx.request = [self, call](const std::string& method, json::object params) {
      return self->client_request(*call, method, std::move(params));
    };
  }
  const bool modern = era.modern;
  const std::optional<LogLevel> request_level = era.log_level;
  ctx.log = [self, call, modern, request_level](LogLevel level, std::string_view logger,
                                                const json::value& data) {
    std::optional<LogLevel> threshold = request_level;
    if (!modern) {
      std::lock_guard lock(self->mu);
      threshold = self->log_level;
    }
    if (!threshold || level < *threshold) return;
    self->send_log(*call, level, logger, data);
  };
  return ctx;
}

json::value ConnectionState::client_request(CallState& call, const std::string& method,
                                            json::object params) {
  const RequestId id(std::string("keel-") + std::to_string(++next_outgoing));
  auto p = std::make_shared<PendingRequest>();
  {
    std::lock_guard lock(mu);
    outgoing.emplace(id, p);
  }
  auto forget = [this, &id] {
    std::lock_guard lock(mu);
    outgoing.erase(id);
  };
  {
    std::lock_guard lock(call.mu);
    if (call.done || call.cancelled) {
      forget();
      throw std::runtime_error("the request is no longer active");
    }
  }
  emit(call.sink, jsonrpc::to_json(jsonrpc::Request{id, method, std::move(params)}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  std::unique_lock lock(p->mu);
  while (!p->done) {
    if (call.cancelled || shutting_down || std::chrono::steady_clock::now() > deadline) {
      lock.unlock();
      forget();
      throw std::runtime_error(method +
                               ": no answer from the client (cancelled, closing or timed out)");
    }
    p->cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  if (p->error) throw ProtocolError(p->error->code, p->error->message);
  return std::move(p->result);
}

void ConnectionState::send_progress(CallState& call, double progress, std::optional<double> total,
                                    std::string_view message) {
  if (!std::isfinite(progress)) return;
  std::lock_guard lock(call.mu);
  if (call.done || call.cancelled) return;
  if (call.last_progress && !(progress > *call.last_progress)) {
    spdlog::debug("mcp: dropping non-increasing progress {} for {}", progress,
                  call.id.to_string());
    return;
  }
  call.last_progress = progress;
  json::object params;
  params["progressToken"] = *call.progress_token;
  params["progress"] = number_json(progress);
  if (total && std::isfinite(*total)) params["total"] = number_json(*total);
  if (!message.empty()) params["message"] = message;
  emit(call.sink,
       jsonrpc::to_json(jsonrpc::Notification{"notifications/progress", std::move(params)}));
}

void ConnectionState::send_log(CallState& call, LogLevel level, std::string_view logger,
                               const json::value& data) {
  std::lock_guard lock(call.mu);
  if (call.done || call.cancelled) return;
  json::object params;
  params["level"] = to_string(level);
  if (!logger.empty()) params["logger"] = logger;
  params["data"] = data;
  emit(call.sink,
       jsonrpc::to_json(jsonrpc::Notification{"notifications/message", std::move(params)}));
}

}  // namespace keel::mcp::detail
