// dialect_copilot.h — GitHub Copilot CLI / cloud agent hooks (reference §2.1/§2.2).
// Input is camelCase: timestamp (ms), cwd, toolName (bash, powershell, edit, view, create, ...),
// toolArgs as a JSON *string* (decoded here), toolResult{resultType, textResultForLlm} on
// postToolUse, prompt on userPromptSubmitted, sessionId when present. The event name is taken
// from hookEventName / hook_event_name when present, else inferred from the shape (toolResult →
// postToolUse, toolName → preToolUse, prompt → userPromptSubmitted, source → sessionStart,
// reason → sessionEnd, error → errorOccurred).
// agentStop / subagentStop → EventKind::Other (Copilot has no blocking stop). Required: toolName
// on tool events, toolArgs.command for a shell preToolUse.
// Output: only a preToolUse deny is honoured: {"permissionDecision":"deny",
// "permissionDecisionReason":…} (ask degrades to deny); allow → {"permissionDecision":"allow"};
// everything else → empty stdout. Exit 0. Unreadable input adds that deny JSON on stdout to the
// usual stderr and exit 2.
#pragma once

#include "hooks/dialect.h"

namespace keel::hooks {

class CopilotDialect : public Dialect {
 public:
  std::string_view name() const noexcept override { return "copilot"; }
  HookEvent parse(std::string_view stdin_json) const override;
  RenderResult render(const HookEvent& ev, const HookDecision& dec) const override;
  RenderResult render_unreadable(std::string_view error) const override;
};

}  // namespace keel::hooks
