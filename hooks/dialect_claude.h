// dialect_claude.h — Claude Code's hook protocol (reference §1), the reference dialect.
//
// Parses SessionStart, UserPromptSubmit, PreToolUse, PermissionRequest, PostToolUse,
// PostToolUseFailure, Stop, SubagentStop, PreCompact, SessionEnd (others → EventKind::Other).
// Required: hook_event_name; tool_name for tool events; tool_input.command (a string, may be "")
// when a PreToolUse or PermissionRequest names a shell tool. Renders exit 0 + JSON:
//   PreToolUse        hookSpecificOutput{hookEventName, permissionDecision allow|deny|ask,
//                     permissionDecisionReason, updatedInput?, additionalContext?}
//   PermissionRequest hookSpecificOutput{hookEventName, decision{behavior allow|deny, message?,
//                     updatedInput?}} (ask → no decision: the dialog shows; a deny has no
//                     "interrupt", so the agent continues without the call)
//   PostToolUse       {"decision":"block","reason"} for deny/ask/block; additionalContext
//   PostToolUseFailure, SessionStart: hookSpecificOutput.additionalContext only
//   Stop/SubagentStop {"decision":"block","reason"}; or hookSpecificOutput.additionalContext
//   UserPromptSubmit, PreCompact {"decision":"block","reason"}
//   any event         "continue":false + "stopReason"; "systemMessage"
// Continue with nothing to say renders as empty stdout, exit 0.
#pragma once

#include "hooks/dialect.h"

#include <boost/json.hpp>

namespace keel::hooks {

class ClaudeDialect : public Dialect {
 public:
  std::string_view name() const noexcept override { return "claude"; }
  HookEvent parse(std::string_view stdin_json) const override;
  RenderResult render(const HookEvent& ev, const HookDecision& dec) const override;

 protected:
  // Parses an already-decoded object (shared with Codex/Kiro).
  HookEvent parse_object(boost::json::object o, std::string_view dialect) const;
};

}  // namespace keel::hooks
