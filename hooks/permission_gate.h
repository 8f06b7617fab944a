// permission_gate.h — the permission gate policy: ordered user rules (first match wins) over
// tool names, file paths and shell commands, backed by the built-in destructive-command catalog.
//
// Configuration (keel.jsonc "permission" section; a bare array is read as "rules"):
//   {
//     "strict": false,        // true: what cannot be resolved is denied instead of asked
//     "builtin": true,        // false: no built-in catalog (user rules only)
//     "disable": ["git.push-force-with-lease", "rm.*"],   // built-in rule ids (globs) to turn off
//     "rules": [
//       {"decision": "deny",  "tool": "Bash", "command": "git push *--force*", "reason": "..."},
//       {"decision": "allow", "command": "git reset --hard", "id": "allow-reset"},
//       {"decision": "ask",   "tool": "Write|Edit", "path": ["**/migrations/**", "*.sql"]},
//       {"decision": "allow", "tool": "Bash", "line": "eval \"$(my-tool init)\""}
//     ]
//   }
// Rule keys (unknown keys are errors, so typos are caught):
//   decision  required: "allow" | "ask" | "deny"
//   id        optional name used in decisions and the journal (default "rules[N]")
//   tool      glob over the agent's tool name and the canonical kind (Shell, Write, Edit, Read,
//             Glob, Grep, WebFetch, WebSearch, Agent, Mcp, Delete); "A|B" lists alternatives
//   path      glob or array of globs over the call's file paths (** crosses directories; a
//             pattern without '/' matches the file name; "~/" is the home directory; relative
//             patterns are also tried against the path relative to cwd)
//   command   shell command pattern, matched against every simple command the line runs (after
//             unwrapping sudo/env/xargs/bash -c/...). With * ? [ it is a glob over the
//             normalised command ("git push origin --force"); otherwise words: for allow rules
//             the command must start with those words, for ask/deny rules the first word is the
//             command name and the others must appear in order among its arguments
//   line      glob over the whole raw command line; decides the whole call (the escape hatch
//             for lines the analyser cannot resolve, e.g. an eval you trust). Its * and ? do
//             not match the operators ; & | newline or `, so "git *" does not cover
//             "git log; rm -rf ~" (write the operators out to allow such a line)
//   reason    optional text for the decision
// A rule needs at least one of tool/path/command/line.
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

#include "hooks/destructive_catalog.h"
#include "hooks/hook_event.h"

#include <boost/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace keel::hooks {

class GateConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct GateRule {
  std::string id;
  Outcome decision = Outcome::Ask;  // Allow, Ask or Deny
  std::vector<std::string> tools;   // alternatives (split on '|'), globs
  std::vector<std::string> paths;   // globs
  std::string command;              // as configured
  bool command_glob = false;
  std::vector<std::string> command_words;
  std::string line;  // glob over the raw command line
  std::string reason;
};

struct GateConfig {
  std::vector<GateRule> rules;
  bool strict = false;
  bool builtin = true;
  std::vector<std::string> disabled;  // globs over built-in rule ids
  std::string home;                   // "" → $HOME at construction
};

// Validates and converts the JSON "permission" section (object or bare rules array).
GateConfig parse_gate_config(const boost::json::value& v);

struct GateVerdict {
  Outcome outcome = Outcome::Continue;
  std::string rule_id;  // "builtin:rm.root" or the user rule id
  std::string reason;   // full text for the agent/user, including how to allow
  std::string subject;  // the offending command or path
};

class PermissionGate {
 public:
  explicit PermissionGate(GateConfig cfg = {});

  // The policy entry point: Continue for events it has no opinion on.
  HookDecision evaluate(const HookEvent& ev) const;

  // Building blocks (also used by tests and `keel hook --explain`).
  GateVerdict check_shell(std::string_view command_line, std::string_view cwd = {},
                          std::string_view tool_name = "Bash") const;
  GateVerdict check_file(ToolKind kind, std::string_view tool_name, std::string_view path,
                         std::string_view cwd = {}) const;
  GateVerdict check_tool(const HookEvent& ev) const;

  const GateConfig& config() const { return cfg_; }

 private:
  bool builtin_enabled(std::string_view id) const;
  GateConfig cfg_;
};

}  // namespace keel::hooks
