// keel/mcp/logging_methods.cpp — logging/setLevel (2025-11-25 only; the
// modern era carries the level per request in _meta).
#include <optional>

#include "mcp/connection_state.h"

namespace keel::mcp::detail {

namespace json = boost::json;
using jsonrpc::ErrorCode;

void handle_set_level(MethodCall& c) {
  const json::value* level = c.params().if_contains("level");
  std::optional<LogLevel> parsed;
  if (level != nullptr && level->is_string()) parsed = parse_log_level(level->get_string());
  if (!parsed) {
    c.fail(ErrorCode::kInvalidParams,
           "Invalid params: \"level\" must be one of debug, info, notice, warning, "
           "error, critical, alert, emergency");
    return;
  }
  {
    std::lock_guard lock(c.conn.mu);
    c.conn.log_level = parsed;
  }
  c.reply(json::object());
}

}  // namespace keel::mcp::detail
