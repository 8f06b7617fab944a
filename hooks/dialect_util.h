// dialect_util.h — helpers shared by the dialect adapters: defensive JSON field access, tool and
// path extraction, capping text fields. Internal to hooks/.
#pragma once

#include "hooks/dialect.h"
#include "hooks/hook_event.h"

#include <boost/json.hpp>

#include <initializer_list>
#include <string>
#include <string_view>

namespace keel::hooks::dutil {

namespace json = boost::json;

// Parses stdin as a JSON object or throws HookInputError("<dialect>: ...").
json::object parse_object(std::string_view in, std::string_view dialect);

std::string str(const json::object& o, std::string_view key);  // "" if absent / not a string
bool boolean(const json::object& o, std::string_view key);      // false if absent / not a bool
long long integer(const json::object& o, std::string_view key); // 0 if absent / not a number
const json::object* obj(const json::object& o, std::string_view key);
const json::value* val(const json::object& o, std::string_view key);

// Required non-empty string field; throws HookInputError naming it as `field` (default: `key`),
// e.g. "tool_info.mcp_server_name" for a nested one.
std::string required(const json::object& o, std::string_view key, std::string_view dialect,
                     std::string_view field = {});

// Required string field that may be empty: "" is a command line that runs nothing, not a
// missing command. Throws HookInputError naming it as `field` (default: `key`).
std::string required_text(const json::object& o, std::string_view key, std::string_view dialect,
                          std::string_view field = {});

// Required object field (Windsurf tool_info, Cline preToolUse); throws HookInputError naming it.
const json::object& required_object(const json::object& o, std::string_view key, std::string_view dialect,
                                    std::string_view field = {});

// On the events the permission gate judges (PreToolUse, PermissionRequest), what the call acts
// on must be given: a shell tool's command (a string, or Codex's argv array of strings), and a
// file tool's path (Write, Edit, MultiEdit, NotebookEdit, Delete ...; not apply_patch, whose
// paths come from the patch text). Without it the gate and the lease gate would judge nothing
// and let the call through. `args` names the arguments object in the error ("tool_input",
// "toolArgs"). Call after set_tool().
void require_tool_target(const HookEvent& ev, std::string_view args);

// An object given either as an object or as a JSON string holding one (Copilot toolArgs, Cursor
// tool_input); {} when absent or undecodable.
json::object object_or_json_string(const json::value* v);

// Fills tool, tool_name, tool_input, file_paths and command from a tool name and its arguments.
void set_tool(HookEvent& ev, std::string name, json::object input);

// Caps text at kMaxTextField characters (UTF-8 safe), marking the cut.
std::string cap(std::string_view s);

// "approval required: <reason>" for agents without an ask decision.
std::string degraded_reason(const HookDecision& d);

// The reason to show, or a generic one naming the rule.
std::string reason_or_default(const HookDecision& d);

// What to show when continue_ == false: stop_reason, else the reason (capped).
std::string stop_reason_or_default(const HookDecision& d);

// Copies the agent's session, turn and model ids, given under its own field names.
void read_ids(const json::object& o, HookEvent& ev, std::string_view session, std::string_view turn,
              std::string_view model);

// One row of an agent's event-name table.
struct EventName {
  std::string_view name;
  EventKind kind;
};

// The kind `table` gives the event `name`; EventKind::Other for a name it lacks.
EventKind event_kind(std::string_view name, std::initializer_list<EventName> table);

// Deny, ask and a stop-block: the outcomes that refuse what the agent was about to do.
bool blocks(const HookDecision& d);

// Claude's and Gemini's common tail: `hso` as "hookSpecificOutput" when non-empty,
// "continue":false + "stopReason" when the decision stops the agent, "systemMessage"; exit 0.
RenderResult render_with_common_fields(json::object out, json::object hso, const HookDecision& d);

// Serialises a non-empty object with a trailing newline; "" for an empty one.
std::string emit(const json::object& o);

}  // namespace keel::hooks::dutil
