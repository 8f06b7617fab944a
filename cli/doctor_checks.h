// keel/cli/doctor_checks.h — the parts of `keel doctor` that decide without
// running anything: reading Codex's TOML, the trust Codex records for a hook,
// Gemini CLI's folder-trust rules, versions.
//
// Codex hook trust (verified against codex-cli 0.171.0 `codex app-server`
// `hooks/list`): the USER config.toml ($CODEX_HOME, default ~/.codex) holds
//   [hooks.state."<real path of hooks.json>:<event_snake>:<group>:<handler>"]
//   trusted_hash = "sha256:<hex>"
//   enabled = false          (optional: the user switched the hook off)
// where <event_snake> is the event in snake case (PreToolUse -> pre_tool_use),
// <group> the index in hooks.<Event>[] and <handler> the index in that
// group's hooks[]. The hash is SHA-256 of the compact JSON, keys sorted at
// every level, of
//   {"event_name": <event_snake>, "matcher": <matcher, when set — never for
//    UserPromptSubmit and Stop>, "hooks": [{"type": "command", "command": …,
//    "timeout": <timeout, 600 when absent>, "async": false,
//    "statusMessage": <when set>}]}
// A hook without that entry is untrusted, one whose hash differs is
// modified; Codex runs neither (and says nothing in `codex exec`).
//
// Gemini CLI folder trust (gemini-cli 0.61 packages/core/src/utils/trust.ts):
// GEMINI_RESTRICTED_MODE=true or GEMINI_CLI_TRUST_WORKSPACE=false: untrusted;
// GEMINI_CLI_TRUST_WORKSPACE=true: trusted; security.folderTrust.enabled=false
// in the user settings: no check; else the rules of trustedFolders.json
// ({"<path>": "TRUST_FOLDER"|"TRUST_PARENT"|"DO_NOT_TRUST"}, comments allowed):
// a rule covers its path's subtree (TRUST_PARENT: its parent's), paths
// compared after realpath, the longest rule path wins; no rule: not trusted
// (yet). A value that is not one of the three makes Gemini refuse to start.
//
// Pure functions except where noted (gemini_folder_trust reads realpaths).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

namespace keel::cli::doctor {

// TOML (1.0, plus 1.1's \e and \xHH escapes) as JSON: tables -> objects,
// arrays of tables -> arrays of objects, integers -> int64, floats -> double,
// dates and times -> their text. Duplicate keys and tables are errors, as in
// Codex. Throws SettingsError "<where>:<line>: <what>".
boost::json::object parse_toml(std::string_view text, std::string_view where);

// Compact JSON with object keys sorted (bytewise) at every level, strings
// escaped like serde_json (only ", \ and control characters).
std::string canonical_json(const boost::json::value& v);

// "PreToolUse" -> "pre_tool_use".
std::string snake_case(std::string_view event);

// The key of a handler in hooks.state (hooks_json: the real path of the file).
std::string codex_hook_key(std::string_view hooks_json, std::string_view event, std::size_t group,
                           std::size_t handler);

// "sha256:<hex>" of the handler as Codex hashes it; `group` is the group
// object ({matcher?, hooks}), `handler` one element of its hooks.
std::string codex_hook_hash(std::string_view event, const boost::json::object& group,
                            const boost::json::object& handler);

enum class CodexTrust { Trusted, Untrusted, Modified, Disabled };

// What the user config (parsed config.toml) records for `key` against the
// handler's current hash.
CodexTrust codex_hook_trust(const boost::json::object& user_config, const std::string& key,
                            const std::string& current_hash);

// [projects."<dir>"] trust_level of the user config ("" when absent).
std::string codex_project_trust(const boost::json::object& user_config, const std::string& dir);

// Gemini CLI's trust in `dir` (an absolute path).
struct GeminiTrustInput {
  std::optional<std::string> trust_workspace_env;  // GEMINI_CLI_TRUST_WORKSPACE
  std::optional<std::string> restricted_mode_env;  // GEMINI_RESTRICTED_MODE
  bool folder_trust_enabled = true;                // security.folderTrust.enabled
  std::optional<boost::json::object> rules;        // trustedFolders.json; nullopt: no file
};
struct GeminiTrust {
  bool trusted = false;
  bool invalid_rules = false;  // a value Gemini rejects: it will not start
  std::string why;             // how it was decided
};
GeminiTrust gemini_folder_trust(const GeminiTrustInput& in, const std::string& dir);

// The first dotted number in `text` ("2.1.332 (Claude Code)" -> {2,1,332}),
// empty when there is none.
std::vector<int> parse_version(std::string_view text);
// a < b, missing parts as 0.
bool version_less(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace keel::cli::doctor
