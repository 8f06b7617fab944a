// keel/mcp/lifecycle.cpp — the lifecycle methods: initialize (2025-11-25),
// server/discover (2026-07-28), ping (2025-11-25), and the capabilities and
// serverInfo both eras advertise.
#include <optional>
#include <string>
#include <variant>

#include <spdlog/spdlog.h>

#include "mcp/connection_state.h"
#include "mcp/prompts.h"
#include "mcp/protocol_version.h"
#include "mcp/resources.h"

namespace keel::mcp::detail {

namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;

namespace {

// initialize {protocolVersion, capabilities?, clientInfo?}.
struct InitializeParams {
  std::string protocol_version;
  json::object capabilities;
  std::string client_name;
  std::string client_version;
};

std::variant<InitializeParams, Error> parse_initialize(const json::object& params) {
  const json::value* requested = params.if_contains("protocolVersion");
  if (requested == nullptr || !requested->is_string()) {
    return Error(ErrorCode::kInvalidParams,
                 "Invalid params: \"protocolVersion\" must be a string");
  }
  const json::value* caps = params.if_contains("capabilities");
  if (caps != nullptr && !caps->is_object()) {
    return Error(ErrorCode::kInvalidParams, "Invalid params: \"capabilities\" must be an object");
  }
  const json::value* info = params.if_contains("clientInfo");
  if (info != nullptr && !info->is_object()) {
    return Error(ErrorCode::kInvalidParams, "Invalid params: \"clientInfo\" must be an object");
  }
  InitializeParams p;
  p.protocol_version = std::string(requested->get_string());
  if (caps != nullptr) p.capabilities = caps->get_object();
  if (info != nullptr) {
    const json::object& o = info->get_object();
    if (const auto* n = o.if_contains("name"); n != nullptr && n->is_string()) {
      p.client_name = std::string(n->get_string());
    }
    if (const auto* v = o.if_contains("version"); v != nullptr && v->is_string()) {
      p.client_version = std::string(v->get_string());
    }
  }
  return p;
}

}  // namespace

json::object ConnectionState::capabilities() const {
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

json::object ConnectionState::server_info() const {
  json::object info;
  info["name"] = options.name;
  info["version"] = options.version;
  return info;
}

void handle_initialize(MethodCall& c) {
  auto parsed = parse_initialize(c.params());
  if (auto* err = std::get_if<Error>(&parsed)) {
    c.fail(std::move(*err));
    return;
  }
  InitializeParams& p = std::get<InitializeParams>(parsed);
  ConnectionState& s = c.conn;
  const std::string version = negotiate_legacy_version(p.protocol_version);
  bool again = false;
  {
    std::lock_guard lock(s.mu);
    again = s.initialized;
    if (!again) {
      s.initialized = true;
      s.legacy_version = version;
      s.client_capabilities = std::move(p.capabilities);
      s.client_name = std::move(p.client_name);
      s.client_version = std::move(p.client_version);
    }
  }
  if (again) {
    c.fail(ErrorCode::kInvalidRequest, "Invalid Request: already initialized");
    return;
  }
  spdlog::info("mcp: initialized (protocol {}, client '{}' {})", version, s.client_name,
               s.client_version);
  json::object result;
  result["protocolVersion"] = version;
  result["capabilities"] = s.capabilities();
  result["serverInfo"] = s.server_info();
  if (!s.options.instructions.empty()) result["instructions"] = s.options.instructions;
  c.reply(std::move(result));
}

void handle_ping(MethodCall& c) { c.reply(json::object()); }

void handle_discover(MethodCall& c) {
  const ConnectionState& s = c.conn;
  json::object result;
  result["supportedVersions"] = supported_versions_json();
  result["capabilities"] = s.capabilities();
  if (!s.options.instructions.empty()) result["instructions"] = s.options.instructions;
  add_cache_hints(result, s.options);
  decorate_modern_result(result, s.options);
  c.reply(std::move(result));
}

}  // namespace keel::mcp::detail
