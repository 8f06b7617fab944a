// gate_config.h — the "permission" section of keel.jsonc, typed: the permission gate's rules
// (permission_gate.h), parsed once when the configuration is read.
//
// Configuration (keel.jsonc "permission" section; a bare array is read as "rules"):
//   {
//     "strict": false,        // true: what cannot be resolved is denied instead of asked
//     "remember_approvals": true,  // an approved ask of an exact command is not asked again
//                                  // in that agent session (hooks/approvals.h)
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
//   overrides optional array of exact built-in rule ids ("builtin:git.reset-hard" or
//             "git.reset-hard"; no globs) this rule may decide against
// A rule needs at least one of tool/path/command/line.
//
// The catalog is a floor: a user rule makes a decision stricter, never looser. When a rule and
// the built-in catalog both judge a subject, the more severe of the two decides, unless the
// rule names the catalog rule in "overrides" — a glob never does. So {"decision":"allow",
// "command":"git *"} allows `git status` but `git reset --hard` stays denied; the rule
// {"decision":"allow","command":"git reset --hard","overrides":["builtin:git.reset-hard"]}
// allows it. catalog_cover_warnings() (permission_gate.h) lists the allow rules that would
// cover catalog commands, for `keel hook explain` and config checks.
#pragma once

#include <boost/json/value.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "hooks/hook_event.h"

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
  std::vector<std::string> overrides;  // exact catalog ids, normalised to "builtin:<id>"
};

struct GateConfig {
  std::vector<GateRule> rules;
  bool strict = false;
  bool builtin = true;
  bool remember_approvals = true;
  std::vector<std::string> disabled;  // globs over built-in rule ids
  std::string home;                   // "" → $HOME at construction
};

// Validates and converts the JSON "permission" section (object or bare rules array).
GateConfig parse_gate_config(const boost::json::value& v);

}  // namespace keel::hooks
