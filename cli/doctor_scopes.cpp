// Where `keel doctor` looks for keel's entries and what it finds there. See
// doctor_scopes.h.
#include "cli/doctor_scopes.h"

#include "cli/doctor_checks.h"
#include "cli/doctor_probes.h"
#include "cli/settings_file.h"
#include "cli/settings_json.h"

namespace keel::cli::doctor {

namespace json = boost::json;

namespace {

KeelHandler describe_handler(const std::string& event, const json::object& handler) {
  KeelHandler h;
  h.event = event;
  h.handler = handler;
  std::vector<std::string> words;
  const json::value* command = handler.if_contains("command");
  std::string cmd = command && command->is_string() ? std::string(command->get_string()) : std::string();
  const json::value* args = handler.if_contains("args");
  if (args && args->is_array()) {
    h.exec_form = true;
    h.program = cmd;
    for (const auto& a : args->get_array()) words.push_back(a.is_string() ? std::string(a.get_string()) : "");
  } else {
    words = leading_shell_words(cmd, 5);
    if (!words.empty()) {
      h.program = words.front();
      words.erase(words.begin());
    }
  }
  for (std::size_t k = 0; k + 1 < words.size(); ++k) {
    if (words[k] == "--dialect") h.dialect = words[k + 1];
  }
  return h;
}

}  // namespace

const LoadedFile& Files::load(const fs::path& p, bool toml) {
  auto it = cache_.find(p.string());
  if (it != cache_.end()) return it->second;
  LoadedFile f;
  try {
    if (auto text = read_settings_file(p)) {
      f.exists = true;
      f.root = toml ? parse_toml(*text, p.string()) : parse_settings_json(*text, p.string()).root;
    }
  } catch (const std::exception& e) {
    f.error = e.what();
  }
  return cache_.emplace(p.string(), std::move(f)).first->second;
}

ScopeSpec scope_spec(const std::string& agent, bool user, const fs::path& base) {
  ScopeSpec s{agent, user ? "user" : "project", base, {}, false, {}, HookLayout::Grouped};
  if (agent == "claude") {
    s.server_file = user ? base / ".claude.json" : base / ".mcp.json";
    s.hooks_file = base / ".claude" / "settings.json";
  } else if (agent == "codex") {
    fs::path dir = base / ".codex";
    if (user) {
      if (auto home = env("CODEX_HOME"); home && !home->empty()) dir = *home;
    }
    s.server_file = dir / "config.toml";
    s.server_toml = true;
    s.hooks_file = dir / "hooks.json";
  } else if (agent == "gemini") {
    s.server_file = base / ".gemini" / "settings.json";
    s.hooks_file = s.server_file;
  } else {
    s.server_file = base / ".cursor" / "mcp.json";
    s.hooks_file = base / ".cursor" / "hooks.json";
    s.layout = HookLayout::Flat;
  }
  return s;
}

// The events keel install gives each agent, the gate's first.
std::vector<std::string> expected_events(const std::string& agent) {
  if (agent == "claude") {
    return {"PreToolUse",         "SessionStart", "UserPromptSubmit", "PostToolUse",
            "PostToolUseFailure", "Stop",         "SubagentStop"};
  }
  if (agent == "codex") return {"PreToolUse", "SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"};
  if (agent == "gemini") return {"BeforeTool", "SessionStart", "BeforeAgent", "AfterTool", "AfterAgent"};
  return {"preToolUse",         "sessionStart", "beforeSubmitPrompt", "postToolUse",
          "postToolUseFailure", "stop",         "subagentStop"};
}

ScopeState inspect(const ScopeSpec& s, Files& files, const std::string& self) {
  ScopeState st;
  const LoadedFile& sf = s.server_toml ? files.toml_file(s.server_file) : files.json_file(s.server_file);
  if (!sf.error.empty()) st.broken.push_back(s.server_file.string());
  const std::string container = s.server_toml ? "mcp_servers" : "mcpServers";
  if (const json::value* servers = sf.root.if_contains(container); servers && servers->is_object()) {
    if (const json::value* keel = servers->get_object().if_contains("keel"); keel && keel->is_object()) {
      st.server = keel->get_object();
    }
  }
  std::string binary = self;
  if (st.server) {
    if (const json::value* c = st.server->if_contains("command"); c && c->is_string()) binary = c->get_string();
  }
  KeelHandlerMatcher keel{binary};
  const LoadedFile& hf = files.json_file(s.hooks_file);
  if (!hf.error.empty() && s.hooks_file != s.server_file) st.broken.push_back(s.hooks_file.string());
  if (const json::value* d = hf.root.if_contains("disableAllHooks"); d && d->is_bool() && d->get_bool()) {
    st.hooks_disabled = s.agent == "claude";
  }
  const json::value* hooks = hf.root.if_contains("hooks");
  if (!hooks || !hooks->is_object()) return st;
  for (const auto& kv : hooks->get_object()) {
    if (!kv.value().is_array()) continue;
    const auto& list = kv.value().get_array();
    for (std::size_t g = 0; g < list.size(); ++g) {
      if (s.layout == HookLayout::Flat) {
        if (!keel.matches(list[g])) continue;
        KeelHandler h = describe_handler(std::string(kv.key()), list[g].get_object());
        h.index = g;
        st.handlers.push_back(std::move(h));
        continue;
      }
      if (!list[g].is_object()) continue;
      const json::value* inner = list[g].get_object().if_contains("hooks");
      if (!inner || !inner->is_array()) continue;
      const auto& handlers = inner->get_array();
      for (std::size_t k = 0; k < handlers.size(); ++k) {
        if (!keel.matches(handlers[k])) continue;
        KeelHandler h = describe_handler(std::string(kv.key()), handlers[k].get_object());
        h.group = g;
        h.index = k;
        h.group_obj = list[g].get_object();
        st.handlers.push_back(std::move(h));
      }
    }
  }
  return st;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string install_fix(const ScopeSpec& s) {
  bool default_scope = (s.agent == "codex") == (s.scope == "user");
  return "run `keel install " + s.agent + (default_scope ? "" : " --scope " + s.scope) + "`";
}

std::string real_path(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(p, ec);
  return ec ? p.string() : r.string();
}

}  // namespace keel::cli::doctor
