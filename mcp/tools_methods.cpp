// keel/mcp/tools_methods.cpp — tools/list and tools/call: the era-neutral
// functions of tools_methods.h and the method-table handlers over them.
#include "mcp/tools_methods.h"

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

#include "mcp/connection_state.h"
#include "mcp/pagination.h"
#include "mcp/server.h"
#include "mcp/tool_invoke.h"

namespace keel::mcp {

namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;

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

std::variant<json::object, Error> list_tools(const ToolRegistry& tools,
                                             const ServerOptions& options,
                                             const json::object& params) {
  const auto& all = tools.tools();
  std::size_t offset = 0;
  if (const json::value* c = params.if_contains("cursor"); c != nullptr && !c->is_null()) {
    std::optional<std::size_t> decoded;
    if (c->is_string()) decoded = decode_cursor(kCursorTag, c->get_string());
    if (!decoded || *decoded > all.size()) {
      return Error(ErrorCode::kInvalidParams, "Invalid params: invalid cursor");
    }
    offset = *decoded;
  }
  const std::size_t page = std::max<std::size_t>(1, options.tools_page_size);
  const std::size_t end = std::min(all.size(), offset + page);
  json::array list;
  for (std::size_t i = offset; i < end; ++i) list.push_back(tool_to_json(all[i]));
  json::object result;
  result["tools"] = std::move(list);
  if (end < all.size()) result["nextCursor"] = encode_cursor(kCursorTag, end);
  return result;
}

std::variant<ToolCall, Error> parse_tool_call(const ToolRegistry& tools,
                                              const json::object& params) {
  const json::value* name = params.if_contains("name");
  if (name == nullptr || !name->is_string()) {
    return Error(ErrorCode::kInvalidParams, "Invalid params: \"name\" must be a string");
  }
  ToolCall call;
  call.tool = tools.find(name->get_string());
  if (call.tool == nullptr) {
    return Error(ErrorCode::kInvalidParams, "Unknown tool: " + std::string(name->get_string()));
  }
  if (const json::value* args = params.if_contains("arguments");
      args != nullptr && !args->is_null()) {
    if (!args->is_object()) {
      return Error(ErrorCode::kInvalidParams, "Invalid params: \"arguments\" must be an object");
    }
    call.arguments = args->get_object();
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

void run_call(const std::shared_ptr<ConnectionState>& conn, const std::shared_ptr<CallState>& call,
              const Tool& tool, json::object args, const RequestEra& era) {
  std::optional<json::value> response;
  try {
    if (!call->cancelled) {
      CallContext ctx = conn->make_context(call, era);
      json::object result = call_result(invoke_tool(tool, std::move(args), ctx), ctx);
      if (era.modern) decorate_modern_result(result, conn->options);
      response = jsonrpc::to_json(jsonrpc::Response{call->id, json::value(std::move(result))});
    }
  } catch (const ProtocolError& e) {
    Error err;
    err.code = e.code();
    err.message = e.what();
    if (!e.data().is_null()) err.data = e.data();
    response = jsonrpc::to_json(jsonrpc::ErrorResponse{call->id, std::move(err)});
  } catch (const std::exception& e) {
    spdlog::error("mcp: tools/call {} failed: {}", tool.name, e.what());
    response = jsonrpc::to_json(
        jsonrpc::make_error(call->id, ErrorCode::kInternalError, "Internal error"));
  } catch (...) {
    spdlog::error("mcp: tools/call {} failed", tool.name);
    response = jsonrpc::to_json(
        jsonrpc::make_error(call->id, ErrorCode::kInternalError, "Internal error"));
  }
  conn->finish(call, response);
}

}  // namespace

void handle_tools_list(MethodCall& c) {
  auto r = list_tools(*c.conn.tools, c.conn.options, c.params());
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
  auto parsed = parse_tool_call(*c.conn.tools, c.params());
  if (auto* err = std::get_if<Error>(&parsed)) {
    c.fail(std::move(*err));
    return;
  }
  auto call = std::make_shared<CallState>();
  call->id = c.req.id;
  call->sink = c.sink;
  call->progress_token = progress_token(c.params());
  if (const auto* v = c.params().if_contains("inputResponses")) call->input_responses = *v;
  if (const auto* v = c.params().if_contains("requestState"); v != nullptr && v->is_string()) {
    call->request_state = std::string(v->get_string());
  }
  if (!c.conn.register_call(call)) {
    c.fail(ErrorCode::kInvalidRequest,
           "Invalid Request: request id " + c.req.id.to_string() + " is already in use");
    return;
  }
  ToolCall tc = std::get<ToolCall>(std::move(parsed));
  c.out.work = [conn = c.conn.shared_from_this(), call, tool = tc.tool,
                args = std::move(tc.arguments), era = std::move(c.era)]() mutable {
    run_call(conn, call, *tool, std::move(args), era);
  };
}

}  // namespace keel::mcp::detail
