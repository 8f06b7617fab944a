// permission_gate.h — the permission gate policy: ordered user rules (first match wins) over
// tool names, file paths and shell commands, backed by the built-in destructive-command catalog.
//
// Configuration: keel.jsonc "permission" (gate_config.h).
//
// Evaluation of a PreToolUse (or PermissionRequest) event:
//   1. "line" rules, in order: the first match decides the whole call.
//   2. Each subject (each simple command of a shell call, each path of a file call, or the call
//      itself) gets the first matching rule; a subject no rule matches goes to the catalog.
//      Allow rules never clear a command whose name is unresolved (ask/deny stands).
//      apply_patch/applypatch run by a shell call also makes each file its patch names a subject,
//      judged as a path of the apply_patch tool (tool "apply_patch", kind Edit: path rules, then
//      the catalog's write checks) relative to the directory it runs in; a patch the analyser
//      cannot read (`apply_patch "$P"`, a file, an unquoted heredoc with $) asks (strict: deny,
//      rule builtin:patch.unresolved) unless a user rule decides that command (hooks/apply_patch.h).
//   3. Analyser findings (curl|sh, eval "$x", parse errors, ...) go to the catalog.
//   4. The result is the most severe outcome (deny > ask > allow); "allow" only when every
//      subject was explicitly allowed, otherwise "continue" (no opinion).
// Other events yield Outcome::Continue. Decisions name the rule and say how to allow it.
#pragma once

#include "hooks/analysed_event.h"
#include "hooks/destructive_catalog.h"
#include "hooks/gate_config.h"
#include "hooks/hook_event.h"
#include "hooks/policy.h"

#include <boost/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace keel::hooks {

struct GateVerdict {
  Outcome outcome = Outcome::Continue;
  std::string rule_id;  // "builtin:rm.root" or the user rule id
  std::string reason;   // full text for the agent/user, including how to allow
  std::string subject;  // the offending command or path
};

class PermissionGate : public Policy {
 public:
  explicit PermissionGate(GateConfig cfg = {});

  // Policy: PreToolUse and PermissionRequest events of a tool; pure (no store).
  std::string_view name() const noexcept override { return "permission"; }
  bool concerns(const HookEvent& ev) const override;
  HookDecision decide(const PolicyCall& call) const override { return evaluate(call.event); }

  // The policy entry point: Continue for events it has no opinion on.
  HookDecision evaluate(const AnalysedEvent& ev) const;
  HookDecision evaluate(const HookEvent& ev) const { return evaluate(AnalysedEvent(ev)); }

  // Building blocks (also used by tests and `keel hook --explain`).
  GateVerdict check_shell(std::string_view command_line, std::string_view cwd = {},
                          std::string_view tool_name = "Bash") const;
  GateVerdict check_file(ToolKind kind, std::string_view tool_name, std::string_view path,
                         std::string_view cwd = {}) const;
  GateVerdict check_tool(const HookEvent& ev) const { return check_tool(AnalysedEvent(ev)); }
  GateVerdict check_tool(const AnalysedEvent& ev) const;

  const GateConfig& config() const { return cfg_; }

 private:
  bool builtin_enabled(std::string_view id) const;
  GateVerdict check_shell(const AnalysedEvent& ev) const;
  GateConfig cfg_;
};

}  // namespace keel::hooks
