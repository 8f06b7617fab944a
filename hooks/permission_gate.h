// permission_gate.h — the permission gate policy: ordered user rules (first match wins) over
// tool names, file paths and shell commands, backed by the built-in destructive-command catalog.
//
// Configuration: keel.jsonc "permission" (gate_config.h).
//
// Evaluation of a PreToolUse (or PermissionRequest) event:
//   1. "line" rules, in order: the first match decides the whole call.
//   2. Each subject (each simple command of a shell call, each path of a file call, or the call
//      itself) gets the first matching rule (a matching "line" rule stands for every command of
//      the line) and the catalog's verdict. The catalog is a floor: the more severe of the two
//      decides, unless the rule names the catalog rule in "overrides" (gate_config.h). So an
//      allow rule never clears what the catalog denies or asks, nor a command whose name is
//      unresolved (builtin:cmd.unresolved).
//      apply_patch/applypatch run by a shell call also makes each file its patch names a subject,
//      judged as a path of the apply_patch tool (tool "apply_patch", kind Edit: path rules, then
//      the catalog's write checks) relative to the directory it runs in; a patch the analyser
//      cannot read (`apply_patch "$P"`, a file, an unquoted heredoc with $) asks (strict: deny,
//      rule builtin:patch.unresolved) unless a user rule decides that command (hooks/apply_patch.h).
//   3. Analyser findings (curl|sh, eval "$x", parse errors, ...) go to the catalog (floored the
//      same way against a matching "line" rule).
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

// One line of an explanation (`keel hook explain`): a rule that matched a subject, in the
// order the gate considered them, and the part it played.
struct ExplainStep {
  std::string subject;  // the simple command, path, finding or whole line judged
  std::string rule_id;  // "rules[0]" / a user id, or "builtin:git.reset-hard"
  Outcome outcome = Outcome::Continue;
  std::string note;     // the rule's pattern or the catalog's reason, and its part
  bool result = false;  // true: the subject's own verdict (rule_id decided it)
};

struct Explanation {
  std::vector<ExplainStep> steps;
  GateVerdict verdict;  // the same verdict check_tool() returns
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
  GateVerdict check_tool(const AnalysedEvent& ev) const { return check_tool(ev, nullptr); }

  // Every rule that matched each subject of the call, in order, and the verdict
  // (gate_explain.cpp renders it). Same evaluation as check_tool(), traced.
  Explanation explain(const AnalysedEvent& ev) const;
  Explanation explain_shell(std::string_view command_line, std::string_view cwd = {}) const;

  const GateConfig& config() const { return cfg_; }

 private:
  using Trace = std::vector<ExplainStep>;
  bool builtin_enabled(std::string_view id, std::string_view subject = {}, Trace* tr = nullptr) const;
  GateVerdict check_tool(const AnalysedEvent& ev, Trace* tr) const;
  GateVerdict check_shell(const AnalysedEvent& ev, Trace* tr) const;
  GateVerdict check_file(ToolKind kind, std::string_view tool_name, std::string_view path, std::string_view cwd,
                         Trace* tr) const;
  GateConfig cfg_;
};

// The text `keel hook explain` prints: per subject, the rules that matched and their part,
// then the decision. Stable (golden-tested): change tests/hooks/explain.golden with it.
std::string render_explanation(const Explanation& e);

// Warnings for allow rules that would cover commands or paths the built-in catalog denies or
// asks (a sample of them: rm -rf /, git reset --hard, .env, ...) and do not name those catalog
// rules in "overrides": the catalog still decides those. Cheap but not free (parses ~25
// sample commands): for config checks and `keel hook explain`, not for every hook call.
std::vector<std::string> catalog_cover_warnings(const GateConfig& cfg);

}  // namespace keel::hooks
