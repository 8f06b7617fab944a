// dialect_gemini.h — Gemini CLI hooks (reference §2.1/§2.2, google-gemini/gemini-cli
// docs/hooks/reference.md). Events: BeforeTool → PreToolUse, AfterTool → PostToolUse (failure
// when tool_response.error is set), AfterAgent → Stop (prompt_response → last message),
// BeforeAgent → UserPromptSubmit, SessionStart, SessionEnd, PreCompress → PreCompact; the rest
// (BeforeModel, AfterModel, Notification, ...) → Other. Tools: run_shell_command, write_file,
// replace, read_file, ... Required: hook_event_name; tool_name on BeforeTool/AfterTool;
// tool_input.command of a shell BeforeTool. Output (exit 0): top-level {"decision":"allow"|"deny","reason"}; no
// "ask" (→ deny, "approval required: ..."); AfterAgent block → {"decision":"deny","reason"};
// updated input → hookSpecificOutput.tool_input (merged by Gemini); additionalContext under
// hookSpecificOutput; "continue":false + "stopReason"; "systemMessage".
#pragma once

#include "hooks/dialect.h"

namespace keel::hooks {

class GeminiDialect : public Dialect {
 public:
  std::string_view name() const noexcept override { return "gemini"; }
  HookEvent parse(std::string_view stdin_json) const override;
  RenderResult render(const HookEvent& ev, const HookDecision& dec) const override;
};

}  // namespace keel::hooks
