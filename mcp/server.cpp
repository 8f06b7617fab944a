// keel/mcp/server.cpp — McpServer and Connection: lifecycle of both eras,
// the method dispatcher, in-flight requests, progress, cancellation, logging.
#include "mcp/server.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <stdexcept>
#include <exception>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "mcp/era.h"
#include "mcp/prompts.h"
#include "mcp/protocol_version.h"
#include "mcp/resources.h"
#include "mcp/tools_methods.h"

namespace keel::mcp {

namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;
using jsonrpc::RequestId;
using Sink = Connection::Sink;
using Received = Connection::Received;

struct McpServer::Impl {
  ServerOptions options;
  std::shared_ptr<const ToolRegistry> tools;
  ServerFeatures features;
};

McpServer::McpServer(ServerOptions options, std::shared_ptr<const ToolRegistry> tools)
    : McpServer(std::move(options), std::move(tools), ServerFeatures{}) {}

McpServer::McpServer(ServerOptions options, std::shared_ptr<const ToolRegistry> tools,
                     ServerFeatures features)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->tools = tools ? std::move(tools) : std::make_shared<const ToolRegistry>();
  if (features.resources && features.resources->empty()) features.resources = nullptr;
  if (features.prompts && features.prompts->empty() && !features.prompts->completion) {
    features.prompts = nullptr;
  }
  impl_->features = std::move(features);
}

McpServer::~McpServer() = default;

const ServerOptions& McpServer::options() const { return impl_->options; }
const ToolRegistry& McpServer::tools() const { return *impl_->tools; }
const ServerFeatures& McpServer::features() const { return impl_->features; }

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

// One tools/call between receive() and its response.
struct CallState {
  RequestId id;
  Sink sink;
  std::optional<json::value> progress_token;
  json::value input_responses;
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
  json::value result;
  std::optional<Error> error;
};

}  // namespace

namespace {

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

  mutable std::mutex mu;  // guards the legacy session and in_flight
  bool initialized = false;
  std::string legacy_version;
  std::string client_name;
  std::string client_version;
  json::object client_capabilities;
  std::optional<LogLevel> log_level;  // legacy logging/setLevel
  std::unordered_map<RequestId, std::shared_ptr<CallState>, jsonrpc::RequestIdHash> in_flight;
  std::unordered_map<RequestId, std::shared_ptr<PendingRequest>, jsonrpc::RequestIdHash> outgoing;
  std::atomic<std::int64_t> next_outgoing{0};

  std::atomic<bool> shutting_down{false};

  // --- output ---------------------------------------------------------------

  void emit(const Sink& sink, const json::value& msg) {
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

  void reply(const Sink& sink, const RequestId& id, json::object result) {
    emit(sink, jsonrpc::to_json(jsonrpc::Response{id, json::value(std::move(result))}));
  }

  void reply_error(const Sink& sink, std::optional<RequestId> id, Error error) {
    spdlog::debug("mcp: error {} for request {}: {}", error.code,
                  id ? id->to_string() : std::string("null"), error.message);
    emit(sink, jsonrpc::to_json(jsonrpc::ErrorResponse{std::move(id), std::move(error)}));
  }

  // --- entry ----------------------------------------------------------------

  Received receive(jsonrpc::Incoming message, const Sink& sink) {
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

  // --- notifications --------------------------------------------------------

  void on_notification(const jsonrpc::Notification& n) {
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

  bool fulfil(const RequestId& id, json::value result, std::optional<Error> error) {
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

  // Sends `method` to the client on the call's stream and waits for the answer.
  json::value client_request(CallState& call, const std::string& method, json::object params) {
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
        throw std::runtime_error(method + ": no answer from the client (cancelled, closing or timed out)");
      }
      p->cv.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (p->error) throw ProtocolError(p->error->code, p->error->message);
    return std::move(p->result);
  }

  bool cancel(const RequestId& id) {
    std::lock_guard lock(mu);
    auto it = in_flight.find(id);
    if (it == in_flight.end()) return false;
    it->second->cancelled = true;
    return true;
  }

  // --- requests -------------------------------------------------------------

  void on_request(jsonrpc::Request& req, const Sink& sink, Received& out) {
    // Era classification, in the order of reference §2.
    if (req.method == "initialize") {
      initialize(req, sink);
      return;
    }
    if (has_modern_meta(req.params)) {
      out.modern = true;
      auto era = read_modern_meta(req.params);
      if (auto* err = std::get_if<Error>(&era)) {
        reply_error(sink, req.id, std::move(*err));
        return;
      }
      dispatch(req, std::get<RequestEra>(std::move(era)), sink, out);
      return;
    }
    if (req.method == "server/discover" || req.method == "subscriptions/listen") {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidParams,
                        "Invalid params: " + req.method + " requires _meta with \"" +
                            std::string(kMetaProtocolVersion) + "\" and \"" +
                            std::string(kMetaClientCapabilities) + "\""));
      return;
    }
    if (req.method == "ping") {
      reply(sink, req.id, json::object());
      return;
    }
    RequestEra era;
    {
      std::lock_guard lock(mu);
      if (!initialized) {
        era.protocol_version.clear();
      } else {
        era.protocol_version = legacy_version;
        era.client_name = client_name;
        era.client_version = client_version;
        era.client_capabilities = client_capabilities;
      }
    }
    if (era.protocol_version.empty()) {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidRequest,
                        "Invalid Request: not initialized (send initialize first, or use "
                        "per-request _meta of protocol " +
                            std::string(kModernVersion) + ")"));
      return;
    }
    dispatch(req, std::move(era), sink, out);
  }

  void dispatch(jsonrpc::Request& req, RequestEra era, const Sink& sink, Received& out) {
    const std::string& m = req.method;
    if (m == "tools/list") {
      auto r = list_tools(*tools, options, req.params);
      if (auto* err = std::get_if<Error>(&r)) {
        reply_error(sink, req.id, std::move(*err));
        return;
      }
      auto& result = std::get<json::object>(r);
      if (era.modern) {
        add_cache_hints(result, options);
        decorate_modern_result(result, options);
      }
      reply(sink, req.id, std::move(result));
    } else if (m == "tools/call") {
      out.work = start_call(req, std::move(era), sink);
    } else if (era.modern && m == "server/discover") {
      reply(sink, req.id, discover_result());
    } else if (!era.modern && m == "logging/setLevel") {
      set_level(req, sink);
    } else if (features.resources && (m == "resources/list" || m == "resources/templates/list" ||
                                      m == "resources/read")) {
      resources_method(req, era, sink);
    } else if (features.resources && !era.modern &&
               (m == "resources/subscribe" || m == "resources/unsubscribe")) {
      reply(sink, req.id, json::object());
    } else if (features.prompts && (m == "prompts/list" || m == "prompts/get")) {
      prompts_method(req, era, sink);
    } else if (features.prompts && features.prompts->completion && m == "completion/complete") {
      complete(req, era, sink);
    } else {
      // Includes, in the modern era, the removed ping, logging/setLevel,
      // resources/subscribe and resources/unsubscribe.
      reply_error(sink, req.id, Error(ErrorCode::kMethodNotFound, "Method not found: " + m));
    }
  }

  json::object capabilities() const {
    json::object tools_cap;
    tools_cap["listChanged"] = true;
    json::object caps;
    caps["tools"] = std::move(tools_cap);
    caps["logging"] = json::object();
    if (features.resources) {
      json::object r;
      r["subscribe"] = true;
      r["listChanged"] = false;
      caps["resources"] = std::move(r);
    }
    if (features.prompts) {
      if (!features.prompts->empty()) caps["prompts"] = json::object{{"listChanged", false}};
      if (features.prompts->completion) caps["completions"] = json::object();
    }
    return caps;
  }

  // What every CallContext of this connection says about the caller.
  CallContext caller_context(const RequestEra& era, std::string request_id) const {
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

  CallContext simple_context(const jsonrpc::Request& req, const RequestEra& era) const {
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

  void finish_result(const jsonrpc::Request& req, const RequestEra& era, const Sink& sink,
                     json::object result, bool cacheable) {
    if (era.modern) {
      const auto* rt = result.if_contains("resultType");
      const bool input_required = rt != nullptr && rt->is_string() && rt->get_string() == "input_required";
      if (cacheable && !input_required) add_cache_hints(result, options);
      decorate_modern_result(result, options);
    }
    reply(sink, req.id, std::move(result));
  }

  void resources_method(const jsonrpc::Request& req, const RequestEra& era, const Sink& sink) {
    if (req.method == "resources/list") {
      finish_result(req, era, sink, features.resources->list_json(), true);
      return;
    }
    if (req.method == "resources/templates/list") {
      finish_result(req, era, sink, features.resources->list_templates_json(), true);
      return;
    }
    const json::value* uri = req.params.if_contains("uri");
    if (uri == nullptr || !uri->is_string()) {
      reply_error(sink, req.id, Error(ErrorCode::kInvalidParams, "Invalid params: \"uri\" must be a string"));
      return;
    }
    const std::string u(uri->get_string());
    std::optional<json::array> contents;
    try {
      contents = features.resources->read(u, simple_context(req, era));
    } catch (const std::exception& e) {
      reply_error(sink, req.id, Error(ErrorCode::kInvalidParams, std::string("Invalid params: ") + e.what()));
      return;
    }
    if (!contents || contents->empty()) {
      json::object data;
      data["uri"] = u;
      reply_error(sink, req.id,
                  Error(era.modern ? ErrorCode::kInvalidParams : ErrorCode::kResourceNotFound,
                        "Resource not found: " + u, json::value(std::move(data))));
      return;
    }
    json::object result;
    result["contents"] = std::move(*contents);
    finish_result(req, era, sink, std::move(result), true);
  }

  void prompts_method(const jsonrpc::Request& req, const RequestEra& era, const Sink& sink) {
    if (req.method == "prompts/list") {
      finish_result(req, era, sink, features.prompts->list_json(), true);
      return;
    }
    const json::value* name = req.params.if_contains("name");
    const Prompt* prompt = name != nullptr && name->is_string()
                               ? features.prompts->find(name->get_string())
                               : nullptr;
    if (prompt == nullptr) {
      reply_error(sink, req.id, Error(ErrorCode::kInvalidParams, "Invalid params: unknown prompt"));
      return;
    }
    json::object args;
    if (const auto* a = req.params.if_contains("arguments"); a != nullptr && a->is_object()) {
      args = a->get_object();
    }
    for (const auto& pa : prompt->arguments) {
      if (pa.required && !args.contains(pa.name)) {
        reply_error(sink, req.id,
                    Error(ErrorCode::kInvalidParams, "Invalid params: missing argument " + pa.name));
        return;
      }
    }
    json::object result;
    try {
      result = prompt->get(args, simple_context(req, era));
    } catch (const std::exception& e) {
      reply_error(sink, req.id, Error(ErrorCode::kInvalidParams, std::string("Invalid params: ") + e.what()));
      return;
    }
    finish_result(req, era, sink, std::move(result), false);
  }

  void complete(const jsonrpc::Request& req, const RequestEra& era, const Sink& sink) {
    const json::value* ref = req.params.if_contains("ref");
    const json::value* arg = req.params.if_contains("argument");
    if (ref == nullptr || !ref->is_object() || arg == nullptr || !arg->is_object()) {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidParams, "Invalid params: \"ref\" and \"argument\" are required"));
      return;
    }
    std::string arg_name;
    std::string value;
    if (const auto* n = arg->get_object().if_contains("name"); n != nullptr && n->is_string()) {
      arg_name = std::string(n->get_string());
    }
    if (const auto* v = arg->get_object().if_contains("value"); v != nullptr && v->is_string()) {
      value = std::string(v->get_string());
    }
    std::vector<std::string> values = features.prompts->completion(ref->get_object(), arg_name, value);
    const std::size_t total = values.size();
    if (values.size() > 100) values.resize(100);
    json::array arr;
    for (auto& v : values) arr.push_back(json::value(v));
    json::object completion;
    completion["values"] = std::move(arr);
    completion["total"] = total;
    completion["hasMore"] = total > 100;
    json::object result;
    result["completion"] = std::move(completion);
    finish_result(req, era, sink, std::move(result), false);
  }

  json::object server_info() const {
    json::object info;
    info["name"] = options.name;
    info["version"] = options.version;
    return info;
  }

  void initialize(const jsonrpc::Request& req, const Sink& sink) {
    const json::value* requested = req.params.if_contains("protocolVersion");
    if (requested == nullptr || !requested->is_string()) {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidParams,
                        "Invalid params: \"protocolVersion\" must be a string"));
      return;
    }
    const json::value* caps = req.params.if_contains("capabilities");
    if (caps != nullptr && !caps->is_object()) {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidParams, "Invalid params: \"capabilities\" must be an object"));
      return;
    }
    const json::value* info = req.params.if_contains("clientInfo");
    if (info != nullptr && !info->is_object()) {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidParams, "Invalid params: \"clientInfo\" must be an object"));
      return;
    }
    const std::string version = negotiate_legacy_version(requested->get_string());
    bool again = false;
    {
      std::lock_guard lock(mu);
      if (initialized) {
        again = true;
      } else {
        initialized = true;
        legacy_version = version;
        client_capabilities = caps != nullptr ? caps->get_object() : json::object();
        if (info != nullptr) {
          const json::object& o = info->get_object();
          if (const auto* n = o.if_contains("name"); n != nullptr && n->is_string()) {
            client_name = std::string(n->get_string());
          }
          if (const auto* v = o.if_contains("version"); v != nullptr && v->is_string()) {
            client_version = std::string(v->get_string());
          }
        }
      }
    }
    if (again) {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidRequest, "Invalid Request: already initialized"));
      return;
    }
    spdlog::info("mcp: initialized (protocol {}, client '{}' {})", version, client_name,
                 client_version);
    json::object result;
    result["protocolVersion"] = version;
    result["capabilities"] = capabilities();
    result["serverInfo"] = server_info();
    if (!options.instructions.empty()) result["instructions"] = options.instructions;
    reply(sink, req.id, std::move(result));
  }

  json::object discover_result() const {
    json::object result;
    result["supportedVersions"] = supported_versions_json();
    result["capabilities"] = capabilities();
    if (!options.instructions.empty()) result["instructions"] = options.instructions;
    add_cache_hints(result, options);
    decorate_modern_result(result, options);
    return result;
  }

  void set_level(const jsonrpc::Request& req, const Sink& sink) {
    const json::value* level = req.params.if_contains("level");
    std::optional<LogLevel> parsed;
    if (level != nullptr && level->is_string()) parsed = parse_log_level(level->get_string());
    if (!parsed) {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidParams,
                        "Invalid params: \"level\" must be one of debug, info, notice, warning, "
                        "error, critical, alert, emergency"));
      return;
    }
    {
      std::lock_guard lock(mu);
      log_level = parsed;
    }
    reply(sink, req.id, json::object());
  }

  // --- tools/call -----------------------------------------------------------

  std::function<void()> start_call(jsonrpc::Request& req, RequestEra era, const Sink& sink) {
    auto parsed = parse_tool_call(*tools, req.params);
    if (auto* err = std::get_if<Error>(&parsed)) {
      reply_error(sink, req.id, std::move(*err));
      return nullptr;
    }
    auto call = std::make_shared<CallState>();
    call->id = req.id;
    call->sink = sink;
    call->progress_token = progress_token(req.params);
    if (const auto* v = req.params.if_contains("inputResponses")) call->input_responses = *v;
    if (const auto* v = req.params.if_contains("requestState"); v != nullptr && v->is_string()) {
      call->request_state = std::string(v->get_string());
    }
    {
      std::lock_guard lock(mu);
      if (!in_flight.emplace(req.id, call).second) {
        call = nullptr;
      }
    }
    if (!call) {
      reply_error(sink, req.id,
                  Error(ErrorCode::kInvalidRequest,
                        "Invalid Request: request id " + req.id.to_string() + " is already in use"));
      return nullptr;
    }
    ToolCall tc = std::get<ToolCall>(std::move(parsed));
    auto self = shared_from_this();
    return [self, call, tool = tc.tool, args = std::move(tc.arguments),
            era = std::move(era)]() mutable {
      self->run_call(call, *tool, std::move(args), era);
    };
  }

  void run_call(const std::shared_ptr<CallState>& call, const Tool& tool, json::object args,
                const RequestEra& era) {
    std::optional<json::value> response;
    try {
      if (!call->cancelled) {
        CallContext ctx = make_context(call, era);
        json::object result = call_tool(tool, std::move(args), ctx);
        if (era.modern) decorate_modern_result(result, options);
        response = jsonrpc::to_json(jsonrpc::Response{call->id, json::value(std::move(result))});
      }
    } catch (const ProtocolError& e) {
      Error err;
      err.code = e.code();
      err.message = e.what();
      if (!e.data().is_null()) err.data = e.data();
      response = jsonrpc::to_json(jsonrpc::ErrorResponse{call->id, std::move(err)});
    } catch (const std::exception& e) {
      spdlog::error("mcp: tools/call {} failed: {}", tool.name, e.what());
      response = jsonrpc::to_json(jsonrpc::make_error(call->id, ErrorCode::kInternalError,
                                                      "Internal error"));
    } catch (...) {
      spdlog::error("mcp: tools/call {} failed", tool.name);
      response = jsonrpc::to_json(jsonrpc::make_error(call->id, ErrorCode::kInternalError,
                                                      "Internal error"));
    }
    finish(call, response);
  }

  void finish(const std::shared_ptr<CallState>& call, const std::optional<json::value>& response) {
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

  CallContext make_context(const std::shared_ptr<CallState>& call, const RequestEra& era) {
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

  void send_progress(CallState& call, double progress, std::optional<double> total,
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

  void send_log(CallState& call, LogLevel level, std::string_view logger, const json::value& data) {
    std::lock_guard lock(call.mu);
    if (call.done || call.cancelled) return;
    json::object params;
    params["level"] = to_string(level);
    if (!logger.empty()) params["logger"] = logger;
    params["data"] = data;
    emit(call.sink,
         jsonrpc::to_json(jsonrpc::Notification{"notifications/message", std::move(params)}));
  }
};

}  // namespace

// --- McpServer / Connection ---------------------------------------------------

struct Connection::Impl {
  std::shared_ptr<ConnectionState> state;
};

std::unique_ptr<Connection> McpServer::connect(std::function<void(const json::value&)> send,
                                               std::string session_id, std::string auth_subject) {
  auto impl = std::make_unique<Connection::Impl>();
  impl->state = std::make_shared<ConnectionState>(impl_->options, impl_->tools, impl_->features,
                                                  std::move(send),
                                                  std::move(session_id), std::move(auth_subject));
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
  // Work still queued somewhere keeps the state alive; make it end promptly.
  if (impl_ && impl_->state) impl_->state->shutting_down = true;
}

void Connection::handle(std::string_view raw) {
  Received r = receive(raw);
  if (r.work) r.work();
}

Received Connection::receive(std::string_view raw, Sink sink) {
  jsonrpc::ParseLimits limits;
  limits.max_message_bytes = impl_->state->options.max_message_bytes;
  jsonrpc::Incoming msg;
  try {
    msg = jsonrpc::parse_message(raw, limits);
  } catch (...) {  // std::bad_alloc on absurd input
    msg = jsonrpc::MalformedMessage{std::nullopt,
                                    Error(ErrorCode::kParseError, "Parse error: out of memory"),
                                    true};
  }
  return impl_->state->receive(std::move(msg), sink);
}

Received Connection::receive(jsonrpc::Incoming message, Sink sink) {
  return impl_->state->receive(std::move(message), sink);
}

bool Connection::cancel(const RequestId& id) { return impl_->state->cancel(id); }

void Connection::shutdown() { impl_->state->shutting_down = true; }

std::size_t Connection::in_flight() const {
  std::lock_guard lock(impl_->state->mu);
  return impl_->state->in_flight.size();
}

std::optional<std::string> Connection::legacy_version() const {
  std::lock_guard lock(impl_->state->mu);
  if (!impl_->state->initialized) return std::nullopt;
  return impl_->state->legacy_version;
}

}  // namespace keel::mcp
