// dialect_cline.h — Cline hooks (reference §2.1/§2.2, cline/cline hook-reference.mdx).
// Input: camelCase and nested: clineVersion, hookName (PreToolUse, PostToolUse,
// UserPromptSubmit, TaskStart, TaskResume, TaskCancel, TaskComplete, PreCompact), timestamp,
// taskId (→ session_id), workspaceRoots[] (first → cwd), userId, and a per-event object:
// preToolUse{toolName, parameters}, postToolUse{toolName, parameters, result, success,
// executionTimeMs}, userPromptSubmit{prompt}, taskComplete{...}. Tools: execute_command,
// write_to_file, replace_in_file, read_file, use_mcp_tool, ... Required: the per-event object
// and its toolName on tool events, parameters.command of a shell PreToolUse.
// Cline is fail-closed (crash, bad JSON or timeout block), so render always prints one JSON
// object and exits 0: {"cancel":bool,"errorMessage"?,"contextModification"?}. Deny, ask (no
// native ask) and stop-blocks set cancel:true with the reason.
#pragma once

#include "hooks/dialect.h"

namespace keel::hooks {

class ClineDialect : public Dialect {
 public:
  std::string_view name() const noexcept override { return "cline"; }
  HookEvent parse(std::string_view stdin_json) const override;
  RenderResult render(const HookEvent& ev, const HookDecision& dec) const override;
};

}  // namespace keel::hooks
