// keel/mcp/tools_methods.cpp — tools/list and tools/call: the era-neutral
// functions of tools_methods.h and the method-table handlers over them.
#include "mcp/tools_methods.h"

#include <algorithm>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "mcp/connection_state.h"
#include "mcp/pagination.h"
#include "mcp/server.h"
#include "mcp/tool_invoke.h"

namespace keel::mcp {

namespace {
constexpr std::string_view kCursorTag = "tools";
}  // namespace

json::object tool_to_json(const Tool& tool) {
  json::object o;
  o["name"] = tool.name;
  if (!tool.title.empty()) o["title"] = tool.title;
  o["description"] = tool.description;
  o["inputSchema"] = tool.input_schema;
  if (!tool.output_schema.empty()) o["outputSchema"] = tool.output_schema;
  json::object ann;
  ann["readOnlyHint"] = tool.annotations.read_only;
  ann["destructiveHint"] = !tool.annotations.read_only && tool.annotations.destructive;
  ann["idempotentHint"] = tool.annotations.idempotent;
  ann["openWorldHint"] = tool.annotations.open_world;
  o["annotations"] = std::move(ann);
  return o;
}

Decoded<ListToolsResult> list_tools(const ToolRegistry& tools, const ServerOptions& options,
                                    const ListToolsParams& params) {
  const auto& all = tools.tools();
  std::size_t offset = 0;
  if (params.cursor) {
    std::optional<std::size_t> decoded = decode_cursor(kCursorTag, *params.cursor);
    if (!decoded || *decoded > all.size()) {
      return Error(ErrorCode::kInvalidParams, "Invalid params: invalid cursor");
    }
    offset = *decoded;
  }
  const std::size_t page = std::max<std::size_t>(1, options.tools_page_size);
  const std::size_t end = std::min(all.size(), offset + page);
  ListToolsResult result;
  for (std::size_t i = offset; i < end; ++i) result.tools.push_back(tool_to_json(all[i]));
  if (end < all.size()) result.next_cursor = encode_cursor(kCursorTag, end);
  return result;
}

Decoded<ToolCall> resolve_tool_call(const ToolRegistry& tools, const CallToolParams& params) {
  ToolCall call;
  call.tool = tools.find(params.name);
  if (call.tool == nullptr) return Error(ErrorCode::kInvalidParams, "Unknown tool: " + params.name);
  if (!params.arguments.is_null()) {
    if (!params.arguments.is_object()) {
      return Error(ErrorCode::kInvalidParams, "Invalid params: \"arguments\" must be an object");
    }
    call.arguments = params.arguments.get_object();
  }
  return call;
}

json::object tool_error_result(std::string_view code, std::string_view message) {
  json::object text;
  text["type"] = "text";
  text["text"] = std::string(code) + ": " + std::string(message);
  json::object result;
  result["content"] = json::array{std::move(text)};
  result["isError"] = true;
  // No structuredContent: it would have to match the tool's outputSchema, and
  // clients (the official TypeScript SDK among them) validate it even on
  // errors. The structured error rides in _meta instead.
  json::object meta;
  meta[kErrorMetaKey] = json::object{{"code", code}, {"message", message}};
  result["_meta"] = std::move(meta);
  return result;
}

}  // namespace keel::mcp

// --- the method-table handlers ------------------------------------------------

namespace keel::mcp::detail {

namespace {

// The code of an isError result (its _meta["dev.keel/error"].code), else "TOOL_ERROR".
std::string error_code_of(const json::object& result) {
  if (const auto* meta = result.if_contains("_meta"); meta != nullptr && meta->is_object()) {
    if (const auto* e = meta->get_object().if_contains(kErrorMetaKey); e != nullptr && e->is_object()) {
      if (const auto* code = e->get_object().if_contains("code"); code != nullptr && code->is_string()) {
        return std::string(code->get_string());
      }
    }
  }
  return "TOOL_ERROR";
}

void run_call(const std::shared_ptr<ConnectionState>& conn, const std::shared_ptr<CallState>& call,
              const Tool& tool, json::object args, const RequestEra& era) {
  std::optional<json::value> response;
  Observed& observed = call->observed;
  try {
    if (!call->cancelled) {
      CallContext ctx = conn->make_context(call, era);
      ToolOutcome outcome = invoke_tool(tool, std::move(args), ctx);
      json::object result = call_result(std::move(outcome), ctx);
      if (observed) {  // a raw result may say isError itself
        const json::value* e = result.if_contains("isError");
        if (e != nullptr && e->is_bool() && e->get_bool()) observed.tool_error(error_code_of(result));
      }
      if (era.modern) decorate_modern_result(result, conn->options);
      response = jsonrpc::to_json(jsonrpc::Response{call->id, json::value(std::move(result))});
    }
  } catch (const ProtocolError& e) {
    Error err;
    err.code = e.code();
    err.message = e.what();
    if (!e.data().is_null()) err.data = e.data();
    observed.error(err.code);
    response = jsonrpc::to_json(jsonrpc::ErrorResponse{call->id, std::move(err)});
  } catch (const std::exception& e) {
    spdlog::error("mcp: tools/call {} failed: {}", tool.name, e.what());
    observed.error(static_cast<int>(ErrorCode::kInternalError));
    response = jsonrpc::to_json(
        jsonrpc::make_error(call->id, ErrorCode::kInternalError, "Internal error"));
  } catch (...) {
    spdlog::error("mcp: tools/call {} failed", tool.name);
    observed.error(static_cast<int>(ErrorCode::kInternalError));
    response = jsonrpc::to_json(
        jsonrpc::make_error(call->id, ErrorCode::kInternalError, "Internal error"));
  }
  conn->finish(call, response);
  if (observed) observed.finish(call->cancelled.load() || !response);
}

// Decodes, lists, encodes; a bad cursor at either step is the same -32602.
Decoded<json::object> tools_list_result(const ConnectionState& conn, const json::object& params) {
  auto decoded = decode_list_tools_params(params);
  if (auto* err = std::get_if<Error>(&decoded)) return std::move(*err);
  auto listed = list_tools(*conn.tools, conn.options, std::get<ListToolsParams>(decoded));
  if (auto* err = std::get_if<Error>(&listed)) return std::move(*err);
  return to_json(std::get<ListToolsResult>(std::move(listed)));
}

// Decodes tools/call's params and resolves them against the registry.
Decoded<std::pair<CallToolParams, ToolCall>> decode_tool_call(const ConnectionState& conn,
                                                             const json::object& params) {
  auto decoded = decode_call_tool_params(params);
  if (auto* err = std::get_if<Error>(&decoded)) return std::move(*err);
  auto& p = std::get<CallToolParams>(decoded);
  auto resolved = resolve_tool_call(*conn.tools, p);
  if (auto* err = std::get_if<Error>(&resolved)) return std::move(*err);
  return std::pair{std::move(p), std::get<ToolCall>(std::move(resolved))};
}

}  // namespace

void handle_tools_list(MethodCall& c) {
  auto r = tools_list_result(c.conn, c.params());
  if (auto* err = std::get_if<Error>(&r)) {
    c.fail(std::move(*err));
    return;
  }
  auto& result = std::get<json::object>(r);
  if (c.era.modern) {
    add_cache_hints(result, c.conn.options);
    decorate_modern_result(result, c.conn.options);
  }
  c.reply(std::move(result));
}

// Registers the call as in flight (so a cancellation can reach it) and hands
// the transport the work that runs it and sends the response.
void handle_tools_call(MethodCall& c) {
  auto parsed = decode_tool_call(c.conn, c.params());
  if (auto* err = std::get_if<Error>(&parsed)) {
    c.fail(std::move(*err));
    return;
  }
  auto& [p, tc] = std::get<std::pair<CallToolParams, ToolCall>>(parsed);
  auto call = std::make_shared<CallState>();
  call->id = c.req.id;
  call->sink = c.sink;
  call->progress_token = std::move(p.progress_token);
  call->input_responses = std::move(p.input_responses);
  call->request_state = std::move(p.request_state);
  if (!c.conn.register_call(call)) {
    c.fail(ErrorCode::kInvalidRequest,
           "Invalid Request: request id " + c.req.id.to_string() + " is already in use");
    return;
  }
  call->observed = std::move(c.observed);  // reported when the work ends (or is dropped)
  c.out.work = [conn = c.conn.shared_from_this(), call, tool = tc.tool,
                args = std::move(tc.arguments), era = std::move(c.era)]() mutable {
    run_call(conn, call, *tool, std::move(args), era);
  };
}

}  // namespace keel::mcp::detail
