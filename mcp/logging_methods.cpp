// keel/mcp/logging_methods.cpp — logging/setLevel (2025-11-25 only; the
// modern era carries the level per request in _meta).
#include <mutex>
#include <variant>

#include "mcp/connection_state.h"

namespace keel::mcp::detail {

void handle_set_level(MethodCall& c) {
  auto decoded = decode_set_level_params(c.params());
  if (auto* err = std::get_if<Error>(&decoded)) {
    c.fail(std::move(*err));
    return;
  }
  {
    std::lock_guard lock(c.conn.mu);
    c.conn.log_level = std::get<SetLevelParams>(decoded).level;
  }
  c.reply(json::object());
}

}  // namespace keel::mcp::detail
