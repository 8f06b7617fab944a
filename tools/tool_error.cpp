#include "tools/tool_error.h"

namespace keel::tools {

std::string_view to_string(ToolCode code) {
  switch (code) {
    case ToolCode::kConflict: return "CONFLICT";
    case ToolCode::kLimitExceeded: return "LIMIT_EXCEEDED";
    case ToolCode::kUnsupported: return "UNSUPPORTED";
  }
  return "INTERNAL";
}

Failure::Failure(state::ErrorCode code, const std::string& message, bool outcome_unknown)
    : mcp::ToolError(std::string(state::to_string(code)), message),
      failure_code_(code),
      outcome_unknown_(outcome_unknown) {}

Failure::Failure(ToolCode code, const std::string& message)
    : mcp::ToolError(std::string(to_string(code)), message), failure_code_(code) {}

std::optional<state::ErrorCode> Failure::store_code() const {
  if (const auto* c = std::get_if<state::ErrorCode>(&failure_code_)) return *c;
  return std::nullopt;
}

std::optional<state::ErrorCode> store_code_of(const std::exception_ptr& error) {
  if (!error) return std::nullopt;
  try {
    std::rethrow_exception(error);
  } catch (const Failure& f) {
    return f.store_code();
  } catch (...) {
    return std::nullopt;
  }
}

void invalid_argument(const std::string& message) {
  throw Failure(state::ErrorCode::kInvalidArgument, message);
}

}  // namespace keel::tools
