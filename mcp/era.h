// keel/mcp/era.h — which MCP era serves a request, and what it tells us.
//
// The dual-era rule (reference §2): `initialize` is legacy; a request whose
// params._meta carries "io.modelcontextprotocol/protocolVersion" is modern
// and stateless; anything else belongs to the legacy session of its
// connection. This file reads and checks the modern per-request _meta, and
// shapes modern results (resultType, serverInfo, caching hints).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "mcp/jsonrpc.h"
#include "mcp/logging.h"

namespace keel::mcp {

struct ServerOptions;

inline constexpr std::string_view kMetaProtocolVersion = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view kMetaClientCapabilities =
    "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view kMetaClientInfo = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view kMetaLogLevel = "io.modelcontextprotocol/logLevel";
inline constexpr std::string_view kMetaServerInfo = "io.modelcontextprotocol/serverInfo";
inline constexpr std::string_view kMetaSubscriptionId = "io.modelcontextprotocol/subscriptionId";

// Who is asking and how, for one request.
struct RequestEra {
  bool modern = false;
  std::string protocol_version;
  std::string client_name;
  std::string client_version;
  boost::json::object client_capabilities;
  // Modern: the request's logLevel (nullopt: send no log notifications).
  std::optional<LogLevel> log_level;
};

// params._meta["io.modelcontextprotocol/protocolVersion"] is present.
bool has_modern_meta(const boost::json::object& params);

// Checks the modern _meta of a request that has_modern_meta():
//   version not served        → -32022 {supported, requested}
//   clientCapabilities missing or not an object, a malformed clientInfo or
//   logLevel                   → -32602
std::variant<RequestEra, jsonrpc::Error> read_modern_meta(const boost::json::object& params);

// params._meta.progressToken when it is a string or an integer.
std::optional<boost::json::value> progress_token(const boost::json::object& params);

// Adds resultType:"complete" and _meta serverInfo to a modern result.
void decorate_modern_result(boost::json::object& result, const ServerOptions& options);
// Adds ttlMs and cacheScope:"public" (cacheable list/discover results).
void add_cache_hints(boost::json::object& result, const ServerOptions& options);

}  // namespace keel::mcp
