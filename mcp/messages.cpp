// keel/mcp/messages.cpp — decoding and encoding of the protocol messages'
// params and results (messages.h). Key order in every encoder is the wire's.
#include "mcp/messages.h"

#include <utility>

#include "mcp/era.h"

namespace keel::mcp {

namespace {

Error invalid_params(std::string what) {
  return Error(ErrorCode::kInvalidParams, "Invalid params: " + std::move(what));
}

// `o[key]` when it is a string, else "".
std::string string_or_empty(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// Adds instructions when there are any (both eras omit an empty one).
void add_instructions(json::object& result, std::string instructions) {
  if (!instructions.empty()) result["instructions"] = std::move(instructions);
}

}  // namespace

// --- lifecycle ---------------------------------------------------------------

Decoded<InitializeParams> decode_initialize_params(const json::object& params) {
  const json::value* requested = params.if_contains("protocolVersion");
  if (requested == nullptr || !requested->is_string()) {
    return invalid_params("\"protocolVersion\" must be a string");
  }
  const json::value* caps = params.if_contains("capabilities");
  if (caps != nullptr && !caps->is_object()) {
    return invalid_params("\"capabilities\" must be an object");
  }
  const json::value* info = params.if_contains("clientInfo");
  if (info != nullptr && !info->is_object()) {
    return invalid_params("\"clientInfo\" must be an object");
  }
  InitializeParams p;
  p.protocol_version = std::string(requested->get_string());
  if (caps != nullptr) p.capabilities = caps->get_object();
  if (info != nullptr) {
    p.client_name = string_or_empty(info->get_object(), "name");
    p.client_version = string_or_empty(info->get_object(), "version");
  }
  return p;
}

json::object to_json(InitializeResult result) {
  json::object o;
  o["protocolVersion"] = std::move(result.protocol_version);
  o["capabilities"] = std::move(result.capabilities);
  o["serverInfo"] = std::move(result.server_info);
  add_instructions(o, std::move(result.instructions));
  return o;
}

json::object to_json(DiscoverResult result) {
  json::object o;
  o["supportedVersions"] = std::move(result.supported_versions);
  o["capabilities"] = std::move(result.capabilities);
  add_instructions(o, std::move(result.instructions));
  return o;
}

// --- tools -------------------------------------------------------------------

Decoded<ListToolsParams> decode_list_tools_params(const json::object& params) {
  ListToolsParams p;
  if (const json::value* c = params.if_contains("cursor"); c != nullptr && !c->is_null()) {
    if (!c->is_string()) return invalid_params("invalid cursor");
    p.cursor = std::string(c->get_string());
  }
  return p;
}

json::object to_json(ListToolsResult result) {
  json::object o;
  o["tools"] = std::move(result.tools);
  if (result.next_cursor) o["nextCursor"] = std::move(*result.next_cursor);
  return o;
}

Decoded<CallToolParams> decode_call_tool_params(const json::object& params) {
  const json::value* name = params.if_contains("name");
  if (name == nullptr || !name->is_string()) return invalid_params("\"name\" must be a string");
  CallToolParams p;
  p.name = std::string(name->get_string());
  if (const json::value* args = params.if_contains("arguments")) p.arguments = *args;
  p.progress_token = progress_token(params);
  if (const json::value* v = params.if_contains("inputResponses")) p.input_responses = *v;
  p.request_state = string_or_empty(params, "requestState");
  return p;
}

// --- resources ---------------------------------------------------------------

Decoded<ReadResourceParams> decode_read_resource_params(const json::object& params) {
  const json::value* uri = params.if_contains("uri");
  if (uri == nullptr || !uri->is_string()) return invalid_params("\"uri\" must be a string");
  return ReadResourceParams{std::string(uri->get_string())};
}

json::object to_json(ReadResourceResult result) {
  json::object o;
  o["contents"] = std::move(result.contents);
  return o;
}

// --- prompts -----------------------------------------------------------------

GetPromptParams decode_get_prompt_params(const json::object& params) {
  GetPromptParams p;
  if (const json::value* n = params.if_contains("name"); n != nullptr && n->is_string()) {
    p.name = std::string(n->get_string());
  }
  if (const json::value* a = params.if_contains("arguments"); a != nullptr && a->is_object()) {
    p.arguments = a->get_object();
  }
  return p;
}

Decoded<CompleteParams> decode_complete_params(const json::object& params) {
  const json::value* ref = params.if_contains("ref");
  const json::value* arg = params.if_contains("argument");
  if (ref == nullptr || !ref->is_object() || arg == nullptr || !arg->is_object()) {
    return invalid_params("\"ref\" and \"argument\" are required");
  }
  CompleteParams p;
  p.ref = ref->get_object();
  p.argument_name = string_or_empty(arg->get_object(), "name");
  p.value = string_or_empty(arg->get_object(), "value");
  return p;
}

json::object to_json(CompleteResult result) {
  json::array values;
  for (auto& v : result.values) values.push_back(json::value(std::move(v)));
  json::object completion;
  completion["values"] = std::move(values);
  completion["total"] = result.total;
  completion["hasMore"] = result.has_more;
  json::object o;
  o["completion"] = std::move(completion);
  return o;
}

// --- logging -----------------------------------------------------------------

Decoded<SetLevelParams> decode_set_level_params(const json::object& params) {
  const json::value* level = params.if_contains("level");
  std::optional<LogLevel> parsed;
  if (level != nullptr && level->is_string()) parsed = parse_log_level(level->get_string());
  if (!parsed) {
    return invalid_params(
        "\"level\" must be one of debug, info, notice, warning, error, critical, alert, "
        "emergency");
  }
  return SetLevelParams{*parsed};
}

}  // namespace keel::mcp
