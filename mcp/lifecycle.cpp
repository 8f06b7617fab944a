// keel/mcp/lifecycle.cpp — the lifecycle methods: initialize (2025-11-25),
// server/discover (2026-07-28), ping (2025-11-25), and the capabilities and
// serverInfo both eras advertise.
#include <string>
#include <variant>

#include <spdlog/spdlog.h>

#include "mcp/connection_state.h"
#include "mcp/messages.h"
#include "mcp/prompts.h"
#include "mcp/protocol_version.h"
#include "mcp/resources.h"

namespace keel::mcp::detail {

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
  auto parsed = decode_initialize_params(c.params());
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
  c.reply(to_json(InitializeResult{version, s.capabilities(), s.server_info(),
                                    s.options.instructions}));
}

void handle_ping(MethodCall& c) { c.reply(json::object()); }

void handle_discover(MethodCall& c) {
  const ConnectionState& s = c.conn;
  json::object result =
      to_json(DiscoverResult{supported_versions_json(), s.capabilities(), s.options.instructions});
  add_cache_hints(result, s.options);
  decorate_modern_result(result, s.options);
  c.reply(std::move(result));
}

}  // namespace keel::mcp::detail
