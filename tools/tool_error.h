// keel/tools/tool_error.h — how a keel tool fails: a mcp::ToolError whose code
// stays an enum until the wire. The store's codes are state::ErrorCode; the
// few only a tool reports are ToolCode. The MCP layer sees the code's string
// ("BUSY", "CONFLICT", ...); code inside keel (fanout's failure classes)
// reads the enum.
//
// Thread safety: values; immutable once thrown.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "mcp/tool.h"
#include "state/principal.h"

namespace keel::tools {

// Codes a tool reports that the store has no word for.
enum class ToolCode {
  kConflict,       // the run id is taken; someone else resolved the escalation first
  kLimitExceeded,  // a configured limit (fanout.max_branches, ...) is exceeded
  kUnsupported,    // the client cannot do what was asked (sampling)
};
std::string_view to_string(ToolCode code);  // "CONFLICT" | "LIMIT_EXCEEDED" | "UNSUPPORTED"

using FailureCode = std::variant<state::ErrorCode, ToolCode>;

class Failure : public mcp::ToolError {
 public:
  // outcome_unknown: as state::StoreError's — the store cannot tell whether
  // the call's change was made.
  Failure(state::ErrorCode code, const std::string& message, bool outcome_unknown = false);
  Failure(ToolCode code, const std::string& message);

  const FailureCode& failure_code() const { return failure_code_; }
  // The store's code, when it is one.
  std::optional<state::ErrorCode> store_code() const;
  bool outcome_unknown() const { return outcome_unknown_; }

 private:
  FailureCode failure_code_;
  bool outcome_unknown_ = false;
};

// The store code of a Failure held by `error` (an exception a tool threw);
// nullopt for any other exception, and for a null pointer.
std::optional<state::ErrorCode> store_code_of(const std::exception_ptr& error);

// Throws Failure(kInvalidArgument, message).
[[noreturn]] void invalid_argument(const std::string& message);

}  // namespace keel::tools
