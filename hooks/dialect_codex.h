// dialect_codex.h — Codex CLI hooks (reference §2.1/§2.2): Claude's shapes plus turn_id and
// model; transcript_path may be null; PreToolUse fires for Bash/shell (tool_input.command may be
// an argv array), apply_patch (patch text in tool_input.command; its file headers become
// file_paths), unified_exec and MCP tools. Output is Claude's (permissionDecision allow|deny|ask,
// {"decision":"block","reason"} for Stop). keel always exits 0 with JSON: Codex treats exit 2
// with empty stderr as a failure, not a block.
#pragma once

#include "hooks/dialect_claude.h"

namespace keel::hooks {

class CodexDialect : public ClaudeDialect {
 public:
  std::string_view name() const noexcept override { return "codex"; }
  HookEvent parse(std::string_view stdin_json) const override;
};

}  // namespace keel::hooks
