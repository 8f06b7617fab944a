// keel/mcp/tool_invoke.h — calling one tool: the one path from a tool name and
// its arguments to what the handler made of them, shared by tools/call and by
// whatever calls tools from inside the server (fanout_run's tool branches).
//
// invoke_tool looks the tool up, normalizes the integers of the arguments
// (3.0 reads as 3), validates them against the tool's inputSchema, calls the
// handler and catches what it throws, and says how it ended (ToolOutcome).
// call_result renders an outcome as the CallToolResult tools/call answers:
// text and structuredContent, or an isError result "<code>: <message>" with
// the structured error in _meta["dev.keel/error"].
//
// Thread safety: both functions are reentrant; the handler's own rules apply.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "mcp/schema.h"
#include "mcp/tool.h"

namespace keel::mcp {

// How one invocation ended.
struct ToolOutcome {
  enum class Status {
    kOk,                // the handler returned `result`
    kUnknownTool,       // no tool of that name in the registry
    kInvalidArguments,  // the arguments do not match the inputSchema (`schema_errors`)
    kToolError,         // the handler threw ToolError (`error` holds it)
    kInternal,          // the handler threw anything else (`error` holds it)
  };
  Status status = Status::kOk;
  const Tool* tool = nullptr;  // null only for kUnknownTool
  ToolResult result{};         // kOk
  // Failures: the code and message tools/call shows ("INVALID_ARGUMENT",
  // ToolError::code(), "INTERNAL", "UNKNOWN_TOOL").
  std::string code{};
  std::string message{};
  std::vector<SchemaError> schema_errors{};  // kInvalidArguments
  std::exception_ptr error{};                // kToolError, kInternal: what the handler threw
  // kInternal: the exception's what() (logged; never on the wire, where the
  // message is "internal error in <tool>").
  std::string detail{};

  bool ok() const { return status == Status::kOk; }
};

// Runs `tool` with `arguments`. Never throws, except a ProtocolError from the
// handler, which propagates: its caller answers with that JSON-RPC error.
ToolOutcome invoke_tool(const Tool& tool, boost::json::object arguments, const CallContext& ctx);

// The same for the tool named `name` in `tools`; an unknown name ends with
// kUnknownTool, code "UNKNOWN_TOOL", message "no tool named <name>".
ToolOutcome invoke_tool(const ToolRegistry& tools, std::string_view name,
                        boost::json::object arguments, const CallContext& ctx);

// The CallToolResult tools/call answers for `outcome`: failures are
// isError:true results (the invalid-arguments one reads "INVALID_ARGUMENT:
// invalid arguments for <tool>: <errors>"); a success is the handler's raw
// result as-is, or its text (the serialized structuredContent when empty) and
// its structuredContent (checked against the outputSchema, a mismatch logged;
// in the legacy era (!ctx.modern) only an object is sent).
boost::json::object call_result(ToolOutcome outcome, const CallContext& ctx);

}  // namespace keel::mcp
