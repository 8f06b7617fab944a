// keel/mcp/tool_invoke.cpp — invoke_tool and call_result (see tool_invoke.h).
#include "mcp/tool_invoke.h"

#include <utility>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "mcp/tools_methods.h"

namespace keel::mcp {

namespace json = boost::json;

ToolOutcome invoke_tool(const Tool& tool, json::object arguments, const CallContext& ctx) {
  ToolOutcome out;
  out.tool = &tool;
  json::value args(std::move(arguments));
  normalize_integers(args);
  if (auto errors = validate_schema(tool.input_schema, args); !errors.empty()) {
    const std::string joined = join_errors(errors, "; ");
    spdlog::debug("mcp: tools/call {} id={}: invalid arguments: {}", tool.name, ctx.request_id,
                  joined);
    out.status = ToolOutcome::Status::kInvalidArguments;
    out.code = "INVALID_ARGUMENT";
    out.message = "invalid arguments for " + tool.name + ": " + joined;
    out.schema_errors = std::move(errors);
    return out;
  }

  try {
    out.result = tool.handler(args.get_object(), ctx);
  } catch (const ToolError& e) {
    out.status = ToolOutcome::Status::kToolError;
    out.code = e.code();
    out.message = e.what();
    out.error = std::current_exception();
  } catch (const ProtocolError&) {
    throw;  // answered as a JSON-RPC error by the caller
  } catch (const std::exception& e) {
    spdlog::error("mcp: tool {} (request {}) threw: {}", tool.name, ctx.request_id, e.what());
    out.status = ToolOutcome::Status::kInternal;
    out.detail = e.what();
    out.error = std::current_exception();
  } catch (...) {
    spdlog::error("mcp: tool {} (request {}) threw a non-standard exception", tool.name,
                  ctx.request_id);
    out.status = ToolOutcome::Status::kInternal;
    out.detail = "a non-standard exception";
    out.error = std::current_exception();
  }
  if (out.status == ToolOutcome::Status::kInternal) {
    out.code = "INTERNAL";
    out.message = "internal error in " + tool.name;
  }
  return out;
}

ToolOutcome invoke_tool(const ToolRegistry& tools, std::string_view name, json::object arguments,
                        const CallContext& ctx) {
  if (const Tool* tool = tools.find(name)) return invoke_tool(*tool, std::move(arguments), ctx);
  ToolOutcome out;
  out.status = ToolOutcome::Status::kUnknownTool;
  out.code = "UNKNOWN_TOOL";
  out.message = "no tool named " + std::string(name);
  return out;
}

json::object call_result(ToolOutcome outcome, const CallContext& ctx) {
  if (!outcome.ok()) return tool_error_result(outcome.code, outcome.message);
  const Tool& tool = *outcome.tool;
  ToolResult& out = outcome.result;
  if (out.raw) return std::move(*out.raw);

  if (!out.structured.is_null() && !tool.output_schema.empty()) {
    if (auto errors = validate_schema(tool.output_schema, out.structured); !errors.empty()) {
      spdlog::warn("mcp: tool {} returned structuredContent not matching its outputSchema: {}",
                   tool.name, join_errors(errors, "; "));
    }
  }

  std::string text = out.text;
  if (text.empty() && !out.structured.is_null()) text = json::serialize(out.structured);
  json::object block;
  block["type"] = "text";
  block["text"] = std::move(text);
  json::object result;
  result["content"] = json::array{std::move(block)};
  if (!out.structured.is_null()) {
    if (ctx.modern || out.structured.is_object()) {
      result["structuredContent"] = std::move(out.structured);
    } else {
      spdlog::warn("mcp: tool {}: non-object structuredContent dropped in the {} era", tool.name,
                   ctx.protocol_version);
    }
  }
  result["isError"] = false;
  return result;
}

}  // namespace keel::mcp
