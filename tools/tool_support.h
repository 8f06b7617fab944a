// keel/tools/tool_support.h — helpers shared by the tool files: schema
// literals, typed argument access, store errors as tool errors, and the JSON
// shapes of store values that several tools return.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "mcp/tool.h"
#include "state/store.h"

namespace keel::tools {

// Parses a schema written as a JSON literal in the source. Throws on a typo
// (at start-up, so a broken schema never ships silently).
boost::json::object schema(std::string_view json_text);

// Typed access to arguments that the server already validated against the
// tool's inputSchema, so a type mismatch here is a programming error.
std::string arg_string(const boost::json::object& args, std::string_view key,
                       std::string_view fallback = {});
std::optional<std::string> arg_opt_string(const boost::json::object& args, std::string_view key);
std::optional<std::int64_t> arg_opt_int(const boost::json::object& args, std::string_view key);
bool arg_bool(const boost::json::object& args, std::string_view key, bool fallback);

state::Tier arg_tier(const boost::json::object& args);            // "tier", default cross_run
state::Namespace arg_namespace(const boost::json::object& args);  // "namespace", default own
std::optional<state::Fence> arg_fence(const boost::json::object& args);

// Runs `body`, turning a StoreError into the ToolError the model sees.
template <class F>
auto guarded(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const state::StoreError& e) {
    throw mcp::ToolError(std::string(state::to_string(e.code())), e.what());
  }
}

boost::json::object lease_json(const state::LeaseInfo& lease);
boost::json::object record_json(const state::JournalRecord& record);

// The JSON Schema of lease_json() output, for the outputSchemas that embed it.
boost::json::object lease_schema();

}  // namespace keel::tools

namespace keel::tools {
// Shapes shared by the journal tools and `keel journal verify|replay --json`.
boost::json::object verify_json(const state::VerifyReport& report);
boost::json::object replay_json(const state::ReplayReport& report);
}  // namespace keel::tools
