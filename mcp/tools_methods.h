// keel/mcp/tools_methods.h — the MCP "tools" feature: tools/list, tools/call.
//
// Era-neutral: the dispatcher (server.cpp) adds the modern decorations
// (resultType, serverInfo, caching hints) to what these return.
#pragma once

#include <variant>

#include <boost/json/object.hpp>

#include "mcp/jsonrpc.h"
#include "mcp/messages.h"
#include "mcp/tool.h"

namespace keel::mcp {

struct ServerOptions;

// A Tool as tools/list shows it.
boost::json::object tool_to_json(const Tool& tool);

// tools/list: one page of the registry from the cursor on; a cursor that
// does not decode (or points past the end) → -32602 "invalid cursor".
Decoded<ListToolsResult> list_tools(const ToolRegistry& tools, const ServerOptions& options,
                                    const ListToolsParams& params);

// tools/call's params checked against the registry: an unknown tool, then
// non-object arguments → -32602. Missing (or null) arguments read as {}.
struct ToolCall {
  const Tool* tool = nullptr;
  boost::json::object arguments;
};
Decoded<ToolCall> resolve_tool_call(const ToolRegistry& tools, const CallToolParams& params);

// (Running the call: invoke_tool and call_result, mcp/tool_invoke.h.)

// The isError:true CallToolResult for {code, message}.
// The _meta key of a tool error's structured form: {"code", "message"}.
inline constexpr std::string_view kErrorMetaKey = "dev.keel/error";
boost::json::object tool_error_result(std::string_view code, std::string_view message);

}  // namespace keel::mcp
