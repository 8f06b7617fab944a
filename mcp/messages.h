// keel/mcp/messages.h — one named type per protocol message's params and
// result, as the official MCP Go SDK names them (InitializeParams,
// ListToolsParams, CallToolParams, ...), with their decoding and encoding.
//
// Decoders return the -32602 Error a bad params object has always produced
// (same message text); encoders write the keys in the order the wire has
// always had them. The era decorations (resultType, serverInfo, caching
// hints) are added by the handlers after encoding. Not a public header: the
// feature files (lifecycle.cpp, tools_methods.cpp, resources_methods.cpp,
// prompts_methods.cpp, logging_methods.cpp) share it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "mcp/jsonrpc.h"
#include "mcp/logging.h"

namespace keel::mcp {

// The names every feature file uses, declared once.
namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;

// A decoded params object, or the -32602 its shape calls for.
template <class Params>
using Decoded = std::variant<Params, Error>;

// --- lifecycle ---------------------------------------------------------------

// initialize {protocolVersion, capabilities?, clientInfo?: {name?, version?}}.
struct InitializeParams {
  std::string protocol_version;
  json::object capabilities;
  std::string client_name;
  std::string client_version;
};
Decoded<InitializeParams> decode_initialize_params(const json::object& params);

// {protocolVersion, capabilities, serverInfo, instructions?}.
struct InitializeResult {
  std::string protocol_version;
  json::object capabilities;
  json::object server_info;
  std::string instructions;  // empty: omitted
};
json::object to_json(InitializeResult result);

// server/discover → {supportedVersions, capabilities, instructions?}.
struct DiscoverResult {
  json::array supported_versions;
  json::object capabilities;
  std::string instructions;  // empty: omitted
};
json::object to_json(DiscoverResult result);

// --- tools -------------------------------------------------------------------

// tools/list {cursor?}: a null cursor is no cursor; a non-string one is
// "Invalid params: invalid cursor" (as is a string that does not decode).
struct ListToolsParams {
  std::optional<std::string> cursor;
};
Decoded<ListToolsParams> decode_list_tools_params(const json::object& params);

// {tools, nextCursor?}.
struct ListToolsResult {
  json::array tools;
  std::optional<std::string> next_cursor;
};
json::object to_json(ListToolsResult result);

// tools/call {name, arguments?, _meta.progressToken?, inputResponses?,
// requestState?}. Only `name` is checked here: the registry lookup ("Unknown
// tool") comes before the arguments check, so `arguments` stays raw until
// resolve_tool_call (tools_methods.h).
struct CallToolParams {
  std::string name;
  json::value arguments;  // null when absent
  std::optional<json::value> progress_token;
  json::value input_responses;  // null when absent
  std::string request_state;    // empty when absent or not a string
};
Decoded<CallToolParams> decode_call_tool_params(const json::object& params);

// --- resources ---------------------------------------------------------------

// resources/read {uri}.
struct ReadResourceParams {
  std::string uri;
};
Decoded<ReadResourceParams> decode_read_resource_params(const json::object& params);

// {contents}.
struct ReadResourceResult {
  json::array contents;
};
json::object to_json(ReadResourceResult result);

// --- prompts -----------------------------------------------------------------

// prompts/get {name, arguments?}. Never fails to decode: a missing or
// non-string name is an unknown prompt, non-object arguments read as {}.
struct GetPromptParams {
  std::optional<std::string> name;
  json::object arguments;
};
GetPromptParams decode_get_prompt_params(const json::object& params);

// completion/complete {ref, argument: {name, value}}.
struct CompleteParams {
  json::object ref;
  std::string argument_name;
  std::string value;
};
Decoded<CompleteParams> decode_complete_params(const json::object& params);

// {completion: {values, total, hasMore}}.
struct CompleteResult {
  std::vector<std::string> values;
  std::size_t total = 0;
  bool has_more = false;
};
json::object to_json(CompleteResult result);

// --- logging -----------------------------------------------------------------

// logging/setLevel {level}.
struct SetLevelParams {
  LogLevel level = LogLevel::info;
};
Decoded<SetLevelParams> decode_set_level_params(const json::object& params);

}  // namespace keel::mcp
