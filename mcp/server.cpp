// keel/mcp/server.cpp — McpServer and Connection, and the dispatcher: the
// era classification of reference §2 and the method table that names the
// handler of every protocol method (each in its feature's file; see
// connection_state.h).
#include "mcp/server.h"

#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "mcp/connection_state.h"
#include "mcp/prompts.h"
#include "mcp/protocol_version.h"
#include "mcp/resources.h"

namespace keel::mcp {

using jsonrpc::RequestId;
using Sink = Connection::Sink;
using Received = Connection::Received;

struct McpServer::Impl {
  ServerOptions options;
  std::shared_ptr<const ToolRegistry> tools;
  ServerFeatures features;
  std::shared_ptr<RequestObserver> observer;
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

void McpServer::set_observer(std::shared_ptr<RequestObserver> observer) {
  impl_->observer = std::move(observer);
}

std::string_view to_string(RequestResult::Outcome outcome) {
  switch (outcome) {
    case RequestResult::Outcome::kOk: return "ok";
    case RequestResult::Outcome::kToolError: return "tool_error";
    case RequestResult::Outcome::kError: return "error";
    case RequestResult::Outcome::kCancelled: return "cancelled";
  }
  return "ok";
}

// --- the method table ---------------------------------------------------------

namespace detail {
namespace {

// In which era a method exists.
enum class Eras { kBoth, kLegacy, kModern };

struct MethodSpec {
  std::string_view name;
  Eras eras;
  bool (*available)(const ServerFeatures&);  // nullptr: always
  MethodHandler handler;
};

bool has_resources(const ServerFeatures& f) { return f.resources != nullptr; }
bool has_prompts(const ServerFeatures& f) { return f.prompts != nullptr; }
bool has_completion(const ServerFeatures& f) { return f.prompts && f.prompts->completion; }

// Every method served once the era is known. initialize and (legacy, before
// initialize) ping are classified first, in ConnectionState::on_request.
// Missing here, or not available in the era or with the features: -32601
// (in the modern era that includes the removed ping, logging/setLevel and
// resources/subscribe|unsubscribe).
constexpr MethodSpec kMethods[] = {
    {"tools/list", Eras::kBoth, nullptr, handle_tools_list},
    {"tools/call", Eras::kBoth, nullptr, handle_tools_call},
    {"server/discover", Eras::kModern, nullptr, handle_discover},
    {"logging/setLevel", Eras::kLegacy, nullptr, handle_set_level},
    {"resources/list", Eras::kBoth, has_resources, handle_resources_list},
    {"resources/templates/list", Eras::kBoth, has_resources, handle_resource_templates_list},
    {"resources/read", Eras::kBoth, has_resources, handle_resources_read},
    {"resources/subscribe", Eras::kLegacy, has_resources, handle_resources_subscribe},
    {"resources/unsubscribe", Eras::kLegacy, has_resources, handle_resources_subscribe},
    {"prompts/list", Eras::kBoth, has_prompts, handle_prompts_list},
    {"prompts/get", Eras::kBoth, has_prompts, handle_prompts_get},
    {"completion/complete", Eras::kBoth, has_completion, handle_complete},
};

const MethodSpec* find_method(std::string_view name, bool modern, const ServerFeatures& f) {
  for (const MethodSpec& m : kMethods) {
    if (m.name != name) continue;
    if (m.eras == (modern ? Eras::kLegacy : Eras::kModern)) return nullptr;
    if (m.available != nullptr && !m.available(f)) return nullptr;
    return &m;
  }
  return nullptr;
}

void dispatch(MethodCall& c) {
  const MethodSpec* m = find_method(c.req.method, c.era.modern, c.conn.features);
  if (m == nullptr) {
    c.fail(ErrorCode::kMethodNotFound, "Method not found: " + c.req.method);
    return;
  }
  m->handler(c);
}

std::string_view string_param(const json::object& params, std::string_view key) {
  const json::value* v = params.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  const json::string& s = v->get_string();
  return std::string_view(s.data(), s.size());
}

// What a request is about, for the observer (RequestInfo::target).
std::string_view request_target(const jsonrpc::Request& req) {
  const std::string_view m = req.method;
  if (m == "tools/call" || m == "prompts/get") return string_param(req.params, "name");
  if (m == "resources/read" || m == "resources/subscribe" || m == "resources/unsubscribe") {
    return string_param(req.params, "uri");
  }
  return {};
}

}  // namespace

Observed ConnectionState::observe(const jsonrpc::Request& req) {
  RequestInfo info;
  info.method = req.method;
  info.target = request_target(req);
  info.session_id = session_id;
  const std::string request_id = req.id.to_string();
  info.request_id = request_id;
  const json::value* meta = req.params.if_contains("_meta");
  if (meta != nullptr && meta->is_object()) info.meta = &meta->get_object();
  std::string version;
  if (info.meta != nullptr && info.meta->contains(kMetaProtocolVersion)) {
    info.modern = true;
    info.protocol_version = string_param(*info.meta, kMetaProtocolVersion);
  } else if (req.method == "initialize") {
    info.protocol_version = string_param(req.params, "protocolVersion");
  } else {
    std::lock_guard lock(mu);
    if (initialized) version = legacy_version;
    info.protocol_version = version;
  }
  return Observed(*observer, info);
}

void ConnectionState::on_request(jsonrpc::Request& req, const Sink& sink, Received& out) {
  Observed observed;
  if (observer == nullptr) {  // the one branch an unobserved request pays
    route_request(req, sink, out, observed);
    return;
  }
  observed = observe(req);
  route_request(req, sink, out, observed);
  observed.finish();  // (tools/call took it into its work: a no-op then)
}

// Era classification, in the order of reference §2.
void ConnectionState::route_request(jsonrpc::Request& req, const Sink& sink, Received& out,
                                    Observed& observed) {
  auto reply_error = [&](const Sink& s, const RequestId& id, Error error) {
    observed.error(error.code);
    this->reply_error(s, id, std::move(error));
  };
  if (req.method == "initialize") {
    MethodCall c{*this, req, RequestEra{}, sink, out, observed};
    handle_initialize(c);
    return;
  }
  if (has_modern_meta(req.params)) {
    out.modern = true;
    auto era = read_modern_meta(req.params);
    if (auto* err = std::get_if<Error>(&era)) {
      reply_error(sink, req.id, std::move(*err));
      return;
    }
    MethodCall c{*this, req, std::get<RequestEra>(std::move(era)), sink, out, observed};
    dispatch(c);
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
    MethodCall c{*this, req, RequestEra{}, sink, out, observed};
    handle_ping(c);
    return;
  }
  RequestEra era;
  {
    std::lock_guard lock(mu);
    if (initialized) {
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
  MethodCall c{*this, req, std::move(era), sink, out, observed};
  dispatch(c);
}

}  // namespace detail

using detail::ConnectionState;

// --- McpServer / Connection ---------------------------------------------------

struct Connection::Impl {
  std::shared_ptr<ConnectionState> state;
};

std::unique_ptr<Connection> McpServer::connect(std::function<void(const json::value&)> send,
                                               std::string session_id, std::string auth_subject) {
  auto impl = std::make_unique<Connection::Impl>();
  impl->state = std::make_shared<ConnectionState>(impl_->options, impl_->tools, impl_->features,
                                                  std::move(send),
                                                  std::move(session_id), std::move(auth_subject),
                                                  impl_->observer.get());
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
