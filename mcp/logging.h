// keel/mcp/logging.h — MCP log levels (RFC 5424) for notifications/message.
//
// Legacy era: the client sets the minimum level with logging/setLevel; until
// it does, keel sends no log notifications. Modern era: the minimum level is
// _meta["io.modelcontextprotocol/logLevel"] of each request, and without it
// nothing is sent (the spec's MUST NOT).
#pragma once

#include <optional>
#include <string_view>

namespace keel::mcp {

enum class LogLevel { debug, info, notice, warning, error, critical, alert, emergency };

std::string_view to_string(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view name);

}  // namespace keel::mcp
