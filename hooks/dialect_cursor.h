// dialect_cursor.h — Cursor agent hooks (reference §2.1/§2.2, cursor.com/docs/agent/hooks).
// Input: hook_event_name, conversation_id (→ session_id), generation_id (→ turn_id),
// workspace_roots[] (first → cwd unless cwd is given), cursor_version. Events:
//   beforeShellExecution (command, cwd) → PreToolUse tool "Shell"
//   beforeMCPExecution (tool_name, tool_input JSON string) → PreToolUse tool "MCP:<tool>"
//   beforeReadFile (file_path) → PreToolUse tool "Read"; preToolUse (newer) → PreToolUse
//   afterShellExecution / afterMCPExecution / afterFileEdit / postToolUse → PostToolUse
//   postToolUseFailure; stop (status, loop_count) → Stop, subagentStop → SubagentStop, when
//   status is "completed" or absent ("aborted" / "error" → Other: no stop policy runs);
//   beforeSubmitPrompt → UserPromptSubmit; sessionStart / sessionEnd / preCompact.
// Required besides hook_event_name: command (beforeShellExecution, may be ""), tool_name
// (MCP and tool events), tool_input.command of a shell preToolUse, file_path (beforeReadFile).
// Output (exit 0, always a JSON object, since hooks may be configured failClosed):
//   before*/preToolUse  {"permission":"allow"|"deny"|"ask","user_message","agent_message"}
//                       (+"updated_input" for preToolUse); Continue → {}
//   stop/subagentStop   {"followup_message": reason} to keep going (deny/ask/block; ask has the
//                       "approval required: " prefix); else {}
//   beforeSubmitPrompt  {"continue":false,"user_message"} to block or stop; else {"continue":true}
//   other events        {}
#pragma once

#include "hooks/dialect.h"

namespace keel::hooks {

class CursorDialect : public Dialect {
 public:
  std::string_view name() const noexcept override { return "cursor"; }
  HookEvent parse(std::string_view stdin_json) const override;
  RenderResult render(const HookEvent& ev, const HookDecision& dec) const override;
};

}  // namespace keel::hooks
