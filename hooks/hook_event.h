// hook_event.h — the canonical, agent-independent hook event and decision.
//
// Contract:
// - Every dialect (dialect_*.h) turns its agent's stdin JSON into one HookEvent and renders one
//   HookDecision back into that agent's JSON/exit-code convention. Policies only ever see these
//   two types, never an agent's raw JSON (it is kept in HookEvent::raw for journaling).
// - Tool names are canonicalised into ToolKind (Bash / shell / run_shell_command / Shell /
//   execute_command / bash → ToolKind::Shell, ...); the agent's spelling stays in tool_name.
// - file_paths holds every path the tool call names (file_path, path, absolute_path, paths[],
//   apply_patch headers ...), as given by the agent (normalise before matching).
// - command holds the shell command line for ToolKind::Shell calls (empty otherwise).
// - Outcome::Continue means "no opinion": the agent's own permission flow proceeds unchanged.
//   Outcome::Allow is an explicit approval (Claude skips its permission prompt on it), so only an
//   explicit allow rule should produce it.
#pragma once

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::hooks {

enum class EventKind {
  SessionStart,
  UserPromptSubmit,
  PreToolUse,
  PermissionRequest,
  PostToolUse,
  PostToolUseFailure,
  Stop,
  SubagentStop,
  PreCompact,
  SessionEnd,
  Other,
};

enum class ToolKind {
  None,       // the event carries no tool
  Shell,      // Bash, PowerShell, shell, run_shell_command, Shell, execute_command, bash ...
  Write,      // Write, write_file, create, write_to_file ...
  Edit,       // Edit, MultiEdit, replace, StrReplace, apply_patch, edit, replace_in_file ...
  Read,       // Read, read_file, view, read_many_files ...
  Delete,     // Cursor's Delete, delete_file
  Glob,       // Glob, glob, list_files, list_directory, LS
  Grep,       // Grep, search_file_content, search_files
  WebFetch,   // WebFetch, web_fetch, fetch
  WebSearch,  // WebSearch, google_web_search, web_search
  Agent,      // Agent, Task (subagents)
  Mcp,        // mcp__server__tool, MCP:tool, use_mcp_tool
  Other,
};

std::string_view to_string(EventKind k) noexcept;
std::string_view to_string(ToolKind k) noexcept;

// Maps an agent's tool name to its kind (exact-name table, then mcp__/MCP: prefixes).
ToolKind canonical_tool(std::string_view tool_name) noexcept;

// True for shell tools whose command is PowerShell rather than POSIX sh.
bool is_powershell_tool(std::string_view tool_name) noexcept;

struct HookEvent {
  EventKind kind = EventKind::Other;
  std::string event_name;  // as the agent spelt it ("PreToolUse", "BeforeTool", "pre_run_command")
  std::string dialect;     // "claude", "codex", ...

  std::string session_id;  // Cursor: conversation_id, Windsurf: trajectory_id, Cline: taskId
  std::string agent_id;    // subagent id when inside a subagent
  std::string agent_type;
  std::string cwd;
  std::string transcript_path;
  // SubagentStop: the subagent's own transcript (Claude: <session>/subagents/agent-<id>.jsonl);
  // its spend is not in transcript_path.
  std::string agent_transcript_path;
  std::string turn_id;      // Codex; Cursor generation_id; Windsurf execution_id
  std::string tool_use_id;  // Claude/Codex
  std::string permission_mode;
  std::string model;

  ToolKind tool = ToolKind::None;
  std::string tool_name;           // the agent's own spelling
  boost::json::object tool_input;  // the arguments (Copilot/Cursor JSON strings are decoded)
  std::vector<std::string> file_paths;
  std::string command;  // shell command line for Shell tools

  std::string prompt;                  // UserPromptSubmit
  std::string source;                  // SessionStart source (startup|resume|clear|compact|fork)
  bool stop_hook_active = false;       // Stop/SubagentStop: already continuing due to a stop hook
  std::string last_assistant_message;  // Stop/SubagentStop
  int loop_count = 0;                  // Cursor stop

  std::optional<boost::json::value> tool_response;  // post-tool events
  bool tool_failed = false;                          // PostToolUseFailure or failure result
  std::string error;                                 // failure text
  bool is_interrupt = false;

  boost::json::value raw;  // the whole parsed input
};

enum class Outcome {
  Continue,   // no opinion: let the agent's own flow proceed
  Allow,      // explicit approval
  Ask,        // force a human confirmation (degrades to deny where the agent has no "ask")
  Deny,       // refuse the tool call / prompt
  BlockStop,  // refuse to stop: keep the agent working (reason = its next instruction)
};

std::string_view to_string(Outcome o) noexcept;

// Severity order used to combine decisions: Deny/BlockStop > Ask > Allow > Continue.
int severity(Outcome o) noexcept;

struct HookDecision {
  Outcome outcome = Outcome::Continue;
  std::string reason;              // to the model for deny/block, to the user for allow/ask
  std::string rule_id;             // which rule decided (journaled)
  std::string system_message;      // warning shown to the user
  std::string additional_context;  // text injected into the model's context
  bool continue_ = true;           // false: stop the agent entirely (beats every decision)
  std::string stop_reason;         // shown to the user when continue_ == false
  std::optional<boost::json::object> updated_input;  // replacement tool input (whole object)
};

}  // namespace keel::hooks
