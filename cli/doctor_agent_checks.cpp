// The checks of `keel doctor` that belong to one agent: Codex's trust in the
// project and in each of keel's hooks, Claude Code's workspace trust and MCP
// approval, Gemini CLI's folder trust and the settings that switch keel off.
// See doctor.h and, for the rules the agents apply, doctor_checks.h.
#include <filesystem>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "cli/doctor.h"
#include "cli/doctor_checks.h"
#include "cli/doctor_probes.h"

namespace keel::cli::doctor {

namespace json = boost::json;

const LoadedFile& Doctor::codex_user_config() {
  fs::path dir = home_.empty() ? fs::path() : fs::path(home_) / ".codex";
  if (auto h = env("CODEX_HOME"); h && !h->empty()) dir = *h;
  codex_user_config_path_ = dir / "config.toml";
  return files_.toml_file(codex_user_config_path_);
}

void Doctor::codex_trust(const ScopeSpec& s, const ScopeState& st) {
  const LoadedFile& cfg = codex_user_config();
  const std::string cfg_name = codex_user_config_path_.string();
  if (!cfg.error.empty()) {
    r_.problem("codex", s.scope, "hooks_trust", "cannot tell whether Codex trusts keel's hooks",
               cfg_name + " does not parse: " + cfg.error, "correct " + cfg_name);
    return;
  }
  if (s.scope == "project") {
    std::string dir = ws_.project().string();
    std::string level = codex_project_trust(cfg.root, dir);
    if (level.empty()) level = codex_project_trust(cfg.root, real_path(dir));
    if (level != "trusted") {
      r_.problem("codex", s.scope, "project_trust", "Codex does not trust the project",
                 (level.empty() ? std::string("no [projects.\"") + dir + "\"] in " + cfg_name
                                : "[projects.\"" + dir + "\"] trust_level = \"" + level + "\" in " + cfg_name) +
                     ": Codex ignores " + (ws_.project() / ".codex").string() + " (keel's server and hooks)",
                 "run codex in " + dir + " and trust the project (or `keel install codex` in user scope)");
    } else {
      r_.pass("codex", s.scope, "project_trust", "Codex trusts the project " + dir);
    }
  }
  const std::string hooks_json = real_path(s.hooks_file);
  std::vector<std::string> untrusted, modified, disabled;
  for (const auto& h : st.handlers) {
    std::string key = codex_hook_key(hooks_json, h.event, h.group, h.index);
    std::string hash = codex_hook_hash(h.event, h.group_obj, h.handler);
    switch (codex_hook_trust(cfg.root, key, hash)) {
      case CodexTrust::Trusted: break;
      case CodexTrust::Untrusted: untrusted.push_back(h.event); break;
      case CodexTrust::Modified: modified.push_back(h.event); break;
      case CodexTrust::Disabled: disabled.push_back(h.event); break;
    }
  }
  if (untrusted.empty() && modified.empty() && disabled.empty()) {
    r_.pass("codex", s.scope, "hooks_trust",
            "Codex trusts keel's " + std::to_string(st.handlers.size()) + " hooks (" + cfg_name + ")");
    return;
  }
  if (!untrusted.empty() || !modified.empty()) {
    std::vector<std::string> parts;
    if (!untrusted.empty()) parts.push_back("untrusted: " + join(untrusted));
    if (!modified.empty()) parts.push_back("changed since trusted: " + join(modified));
    r_.problem("codex", s.scope, "hooks_trust", "Codex does not trust keel's hooks",
               join(parts, "; ") + " — Codex skips them without a word",
               "run codex, choose Trust all (or /hooks)");
  }
  if (!disabled.empty()) {
    r_.problem("codex", s.scope, "hooks_trust", "keel's hooks are switched off in Codex",
               join(disabled) + ": enabled = false under [hooks.state] in " + cfg_name,
               "turn them on in codex with /hooks");
  }
}

void Doctor::claude_project(const ScopeSpec& s) {
  // Claude Code records a trusted workspace and the project's .mcp.json
  // servers the user turned down in ~/.claude.json.
  if (home_.empty()) return;
  fs::path global = fs::path(home_) / ".claude.json";
  const LoadedFile& g = files_.json_file(global);
  const json::object* projects = nullptr;
  if (const json::value* p = g.root.if_contains("projects"); p && p->is_object()) projects = &p->get_object();
  auto entry = [&](const std::string& dir) -> const json::object* {
    if (!projects) return nullptr;
    const json::value* v = projects->if_contains(dir);
    return v && v->is_object() ? &v->get_object() : nullptr;
  };
  const std::string dir = ws_.project().string();
  if (const json::object* e = entry(dir)) {
    if (const json::value* d = e->if_contains("disabledMcpjsonServers"); d && d->is_array()) {
      for (const auto& name : d->get_array()) {
        if (name.is_string() && name.get_string() == "keel") {
          r_.problem("claude", s.scope, "mcp_approval", "Claude Code has keel's MCP server turned off",
                     "\"keel\" is in disabledMcpjsonServers of " + dir + " in " + global.string(),
                     "enable it with /mcp in claude (or remove it from that list)");
        }
      }
    }
  }
  bool trusted = false;
  for (fs::path d = ws_.project(); !trusted; d = d.parent_path()) {
    const json::object* e = entry(d.string());
    if (const json::value* t = e ? e->if_contains("hasTrustDialogAccepted") : nullptr; t && t->is_bool()) {
      trusted = t->get_bool();
    }
    if (d == d.parent_path()) break;
  }
  if (trusted) {
    r_.pass("claude", s.scope, "workspace_trust", "Claude Code has recorded the workspace as trusted (" +
                                                      global.string() + ")");
  } else {
    // Claude Code 2.1.332 still starts the .mcp.json server and runs the hooks in an
    // untrusted workspace, but ignores the project's permission rules: keel's tools
    // (allowed there by permissions.allow "mcp__keel") are refused, under `claude -p` too.
    r_.problem("claude", s.scope, "workspace_trust",
               "Claude Code has not been told to trust " + dir,
               "until then it ignores the project's settings' permission rules, so every keel tool "
               "call is refused (\"Claude requested permissions to use mcp__keel__...\")",
               "start claude in " + dir + " once and accept the trust dialog");
  }
}

void Doctor::gemini_trust() {
  GeminiTrustInput in;
  in.trust_workspace_env = env("GEMINI_CLI_TRUST_WORKSPACE");
  in.restricted_mode_env = env("GEMINI_RESTRICTED_MODE");
  std::string gemini_home = env("GEMINI_CLI_HOME").value_or(home_);
  if (gemini_home.empty()) gemini_home = home_;
  fs::path settings = fs::path(gemini_home) / ".gemini" / "settings.json";
  const LoadedFile& us = files_.json_file(settings);
  const json::value* sec = us.root.if_contains("security");
  const json::value* ft = sec && sec->is_object() ? sec->get_object().if_contains("folderTrust") : nullptr;
  const json::value* en = ft && ft->is_object() ? ft->get_object().if_contains("enabled") : nullptr;
  in.folder_trust_enabled = !(en && en->is_bool() && !en->get_bool());
  fs::path rules_file = env("GEMINI_CLI_TRUSTED_FOLDERS_PATH").value_or("");
  if (rules_file.empty()) rules_file = fs::path(gemini_home) / ".gemini" / "trustedFolders.json";
  const LoadedFile& rf = files_.json_file(rules_file);
  const std::string dir = ws_.project().string();
  const std::string fix = "run gemini in " + dir + " once and choose Trust folder (or /permissions trust)";
  if (!rf.error.empty() && !in.trust_workspace_env && in.restricted_mode_env != "true" && in.folder_trust_enabled) {
    r_.problem("gemini", "", "folder_trust", "Gemini CLI cannot read its trusted folders",
               rf.error + " — Gemini CLI refuses to start", "correct " + rules_file.string());
    return;
  }
  if (rf.exists && rf.error.empty()) in.rules = rf.root;
  GeminiTrust t = gemini_folder_trust(in, dir);
  if (t.trusted) {
    r_.pass("gemini", "", "folder_trust", "Gemini CLI trusts " + dir + " (" + t.why + ")");
  } else if (t.invalid_rules) {
    r_.problem("gemini", "", "folder_trust", "Gemini CLI cannot read its trusted folders", t.why,
               "correct " + rules_file.string());
  } else {
    r_.problem("gemini", "", "folder_trust", "Gemini CLI does not trust " + dir,
               t.why + " — `gemini -p` exits 55 and an interactive gemini ignores the project's MCP servers "
                       "and hooks",
               fix);
  }
}

void Doctor::gemini_switches() {
  std::string gemini_home = env("GEMINI_CLI_HOME").value_or(home_);
  if (gemini_home.empty()) gemini_home = home_;
  std::vector<fs::path> files{ws_.project() / ".gemini" / "settings.json"};
  if (!gemini_home.empty()) files.push_back(fs::path(gemini_home) / ".gemini" / "settings.json");
  if (files.size() == 2 && files[0] == files[1]) files.pop_back();
  auto list_has = [](const json::value* list, auto&& pred) {
    if (!list || !list->is_array()) return false;
    for (const auto& v : list->get_array()) {
      if (v.is_string() && pred(std::string_view(v.get_string()))) return true;
    }
    return false;
  };
  auto at = [](const json::object& root, std::string_view a, std::string_view b) -> const json::value* {
    const json::value* x = root.if_contains(a);
    return x && x->is_object() ? x->get_object().if_contains(b) : nullptr;
  };
  for (const auto& f : files) {
    const LoadedFile& lf = files_.json_file(f);
    if (!lf.exists || !lf.error.empty()) continue;
    const std::string name = f.string();
    if (const json::value* e = at(lf.root, "hooksConfig", "enabled"); e && e->is_bool() && !e->get_bool()) {
      r_.problem("gemini", "", "hooks_enabled", "Gemini CLI's hooks are switched off",
                 name + " sets hooksConfig.enabled = false", "remove that setting from " + name);
    }
    if (list_has(at(lf.root, "hooksConfig", "disabled"), [](std::string_view n) {
          return n == "keel" || n.find(" hook --dialect gemini") != std::string_view::npos;
        })) {
      r_.problem("gemini", "", "hooks_enabled", "keel's hooks are disabled in Gemini CLI",
                 name + " lists them in hooksConfig.disabled", "remove keel from hooksConfig.disabled in " + name);
    }
    if (list_has(at(lf.root, "mcp", "excluded"), [](std::string_view n) { return n == "keel"; })) {
      r_.problem("gemini", "", "mcp_enabled", "Gemini CLI excludes keel's MCP server",
                 name + " lists \"keel\" in mcp.excluded", "remove it from mcp.excluded in " + name);
    }
    if (const json::value* allowed = at(lf.root, "mcp", "allowed");
        allowed && allowed->is_array() && !list_has(allowed, [](std::string_view n) { return n == "keel"; })) {
      r_.problem("gemini", "", "mcp_enabled", "Gemini CLI does not allow keel's MCP server",
                 name + " has an mcp.allowed list without \"keel\"", "add \"keel\" to mcp.allowed in " + name);
    }
  }
}

}  // namespace keel::cli::doctor
