// keel install claude|codex|gemini|cursor: writes keel's MCP server entry and
// its hooks into that agent's own settings files, merging (keel's entries
// only, everything else kept), with a backup; --dry-run prints the diff,
// --uninstall takes keel's entries out again.
//
// Every file is read and changed in memory first; if any of them cannot be
// parsed, nothing is written. A file whose content would not change is not
// touched, so running the command twice changes nothing the second time.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "cli/settings_diff.h"
#include "cli/settings_entries.h"
#include "cli/settings_file.h"
#include "cli/settings_json.h"
#include "cli/settings_toml.h"

namespace keel::cli {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::vector<std::string> kAgents = {"claude", "codex", "gemini", "cursor"};

struct Context {
  std::string agent;
  bool user_scope = false;
  fs::path base;       // the project root, or $HOME
  std::string binary;  // absolute path of keel
  bool shell_form = false;
  bool uninstall = false;
};

// One settings file and how keel's entries change in it.
struct FileEdit {
  fs::path path;
  std::function<void(json::object&)> edit_json;              // JSON files
  std::function<std::string(std::string_view)> edit_text;    // Codex's config.toml
  // Keys that, alone in the file, mean it holds nothing (Cursor's "version").
  std::vector<std::string> boilerplate_keys;
};

// The outcome of one FileEdit, before anything is written.
struct Planned {
  fs::path path;
  std::optional<std::string> before;
  std::optional<std::string> after;  // nullopt: remove the file
  bool comments_dropped = false;
};

// `path` as a shell word: bare when it is plain, else single-quoted.
std::string shell_word(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("/._-+,:@%=").find(c) != std::string_view::npos;
    plain = plain && ok;
  }
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string hook_command_line(const Context& c) {
  return shell_word(c.binary) + " hook --dialect " + c.agent;
}

json::object mcp_server(const Context& c, bool with_type) {
  json::object s;
  if (with_type) s["type"] = "stdio";
  s["command"] = c.binary;
  s["args"] = json::array{"serve", "--stdio"};
  return s;
}

// Claude Code and Codex: timeouts in seconds. The gate answers in
// milliseconds; Stop gets the agents' own 10-minute default because keel's
// stop-time checks may run the project's tests.
int timeout_for(std::string_view event) {
  return event == "Stop" || event == "SubagentStop" || event == "AfterAgent" ? 600 : 30;
}

std::vector<WantedHook> claude_hooks(const Context& c) {
  std::vector<WantedHook> out;
  for (const char* event : {"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
                            "PostToolUseFailure", "Stop", "SubagentStop"}) {
    json::object handler{{"type", "command"}};
    if (c.shell_form) {
      handler["command"] = hook_command_line(c);
    } else {
      handler["command"] = c.binary;  // exec form: no shell, no quoting
      handler["args"] = json::array{"hook", "--dialect", "claude"};
    }
    handler["timeout"] = timeout_for(event);
    out.push_back({event, json::object{{"hooks", json::array{handler}}}});
  }
  return out;
}

std::vector<WantedHook> codex_hooks(const Context& c) {
  std::vector<WantedHook> out;
  for (const char* event : {"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop"}) {
    json::object handler{{"type", "command"}, {"command", hook_command_line(c)}, {"timeout", timeout_for(event)}};
    out.push_back({event, json::object{{"hooks", json::array{handler}}}});
  }
  return out;
}

std::vector<WantedHook> gemini_hooks(const Context& c) {
  std::vector<WantedHook> out;
  for (const char* event : {"SessionStart", "BeforeAgent", "BeforeTool", "AfterTool", "AfterAgent"}) {
    json::object handler{{"type", "command"},
                         {"command", hook_command_line(c)},
                         {"name", "keel"},
                         {"timeout", timeout_for(event) * 1000}};  // Gemini: milliseconds
    out.push_back({event, json::object{{"hooks", json::array{handler}}}});
  }
  return out;
}

std::vector<WantedHook> cursor_hooks(const Context& c) {
  std::vector<WantedHook> out;
  for (const char* event : {"sessionStart", "beforeSubmitPrompt", "preToolUse", "postToolUse",
                            "postToolUseFailure", "stop", "subagentStop"}) {
    json::object handler{{"command", hook_command_line(c)}};
    // Cursor lets a tool call through when its gate crashes unless told
    // otherwise; keel's gate fails closed everywhere else, so here too.
    if (std::string_view(event) == "preToolUse") handler["failClosed"] = true;
    out.push_back({event, std::move(handler)});
  }
  return out;
}

std::function<void(json::object&)> hooks_edit(std::vector<WantedHook> wanted, HookLayout layout,
                                              const Context& c) {
  if (c.uninstall) wanted.clear();
  KeelHandlerMatcher keel{c.binary};
  return [wanted = std::move(wanted), layout, keel](json::object& root) {
    set_keel_hooks(root, layout, wanted, keel);
  };
}

std::function<void(json::object&)> server_edit(json::object server, std::string container, const Context& c) {
  bool remove = c.uninstall;
  return [server = std::move(server), container = std::move(container), remove](json::object& root) {
    set_keel_server(root, container, remove ? nullptr : &server);
  };
}

// Adds `value` to the string array at root[outer][inner] (or root[outer] when
// inner is empty), keeping every other entry; uninstall takes it out again and
// drops what it leaves empty.
std::function<void(json::object&)> list_entry_edit(std::string outer, std::string inner,
                                                   std::string value, const Context& c) {
  const bool remove = c.uninstall;
  return [outer = std::move(outer), inner = std::move(inner), value = std::move(value),
          remove](json::object& root) {
    json::object* parent = &root;
    std::string key = outer;
    if (!inner.empty()) {
      json::value* o = root.if_contains(outer);
      if (o == nullptr || !o->is_object()) {
        if (remove) return;
        if (o != nullptr) {
          throw SettingsError("\"" + outer + "\" is not an object; keel install cannot add to it");
        }
        root[outer] = json::object();
        o = root.if_contains(outer);
      }
      parent = &o->as_object();
      key = inner;
    }
    json::value* list = parent->if_contains(key);
    if (list != nullptr && !list->is_array()) {
      throw SettingsError("\"" + key + "\" is not a list; keel install cannot add to it");
    }
    if (remove) {
      if (list == nullptr) return;
      json::array& a = list->as_array();
      for (auto it = a.begin(); it != a.end();) {
        it = (it->is_string() && it->as_string() == value) ? a.erase(it) : it + 1;
      }
      if (a.empty()) parent->erase(key);
      if (!inner.empty() && parent->empty()) root.erase(outer);
      return;
    }
    if (list == nullptr) {
      (*parent)[key] = json::array();
      list = parent->if_contains(key);
    }
    for (const auto& e : list->as_array()) {
      if (e.is_string() && e.as_string() == value) return;
    }
    list->as_array().emplace_back(value);
  };
}

std::vector<FileEdit> edits_for(const Context& c) {
  std::vector<FileEdit> edits;
  if (c.agent == "claude") {
    // MCP servers: .mcp.json in the project, ~/.claude.json for the user;
    // hooks: .claude/settings.json under either.
    fs::path mcp = c.user_scope ? c.base / ".claude.json" : c.base / ".mcp.json";
    edits.push_back({mcp, server_edit(mcp_server(c, true), "mcpServers", c), {}, {}});
    // Claude Code asks before each MCP tool call (and refuses it under -p) unless
    // allowed: keel's tools are allowed, its own hooks gate them. A project's
    // .mcp.json server starts without the "New MCP server found" prompt when
    // enabled in the project's settings (both count once the workspace is trusted).
    auto hooks = hooks_edit(claude_hooks(c), HookLayout::Grouped, c);
    auto allow = list_entry_edit("permissions", "allow", "mcp__keel", c);
    auto enable = list_entry_edit("enabledMcpjsonServers", "", "keel", c);
    const bool project = !c.user_scope;
    edits.push_back({c.base / ".claude" / "settings.json", [hooks, allow, enable, project](json::object& root) {
                       hooks(root);
                       allow(root);
                       if (project) enable(root);
                     }, {}, {}});
  } else if (c.agent == "codex") {
    fs::path dir = c.base / ".codex";
    if (c.user_scope) {
      if (const char* home = std::getenv("CODEX_HOME"); home && *home) dir = home;
    }
    fs::path toml = dir / "config.toml";
    std::string block = c.uninstall ? std::string() : codex_keel_block(c.binary);
    edits.push_back({toml, {}, [block, toml](std::string_view text) {
                       return toml_set_keel_block(text, block, toml.string());
                     }, {}});
    edits.push_back({dir / "hooks.json", hooks_edit(codex_hooks(c), HookLayout::Grouped, c), {}, {}});
  } else if (c.agent == "gemini") {
    fs::path settings = c.base / ".gemini" / "settings.json";
    // trust: Gemini CLI runs the server's tools without a confirmation each (and
    // headless `gemini -p` offers them to the model at all only then); keel's own
    // hooks still gate every call.
    json::object gemini_server = mcp_server(c, false);
    gemini_server["trust"] = true;
    auto server = server_edit(std::move(gemini_server), "mcpServers", c);
    auto hooks = hooks_edit(gemini_hooks(c), HookLayout::Grouped, c);
    edits.push_back({settings, [server, hooks](json::object& root) {
                       server(root);
                       hooks(root);
                     }, {}, {}});
  } else if (c.agent == "cursor") {
    fs::path dir = c.base / ".cursor";
    edits.push_back({dir / "mcp.json", server_edit(mcp_server(c, false), "mcpServers", c), {}, {}});
    auto hooks = hooks_edit(cursor_hooks(c), HookLayout::Flat, c);
    bool install = !c.uninstall;
    edits.push_back({dir / "hooks.json", [hooks, install](json::object& root) {
                       if (install && !root.contains("version")) root["version"] = 1;
                       hooks(root);
                     }, {}, {"version"}});
  }
  return edits;
}

bool holds_nothing(const json::object& root, const std::vector<std::string>& boilerplate) {
  for (const auto& kv : root) {
    bool is_boilerplate = false;
    for (const auto& k : boilerplate) is_boilerplate = is_boilerplate || kv.key() == k;
    if (!is_boilerplate) return false;
  }
  return true;
}

Planned plan(const FileEdit& e, bool uninstall) {
  Planned p{e.path, read_settings_file(e.path), std::nullopt, false};
  std::string_view before = p.before ? std::string_view(*p.before) : std::string_view();
  if (e.edit_text) {
    std::string after = e.edit_text(before);
    if (after == before) {
      p.after = p.before;
    } else if (uninstall && after.find_first_not_of(" \t\r\n") == std::string::npos &&
               !fs::is_symlink(e.path)) {
      p.after = std::nullopt;  // keel's block was all the file held
    } else {
      p.after = std::move(after);
    }
    return p;
  }
  ParsedSettings parsed = parse_settings_json(before, e.path.string());
  json::object root = parsed.root;
  e.edit_json(root);
  if (root == parsed.root) {
    p.after = p.before;  // semantically the same: leave the user's formatting alone
    return p;
  }
  if (uninstall && p.before && holds_nothing(root, e.boilerplate_keys) && !fs::is_symlink(e.path)) {
    p.after = std::nullopt;
    return p;
  }
  p.after = render_settings_json(root, parsed.indent, parsed.trailing_newline);
  p.comments_dropped = parsed.lenient;
  return p;
}

bool changes(const Planned& p) { return p.before != p.after; }

void print_notes(const Context& c, std::ostream& out) {
  if (c.agent == "claude") {
    if (c.shell_form) {
      out << "  hooks: shell form (command line run by sh -c)\n";
    } else {
      out << "  hooks: exec form (command + args, no shell); Claude Code runs that from v2.1.139 —\n"
             "  for an older Claude Code run `keel install claude --shell-form`\n";
    }
    out << "  keel's MCP tools are allowed (permissions.allow \"mcp__keel\"); its hooks gate them\n";
    if (!c.user_scope) {
      out << "  Claude Code applies a project's settings once you trust the workspace: start\n"
             "  `claude` here once and accept the trust dialog\n";
    }
  } else if (c.agent == "codex") {
    out << "  hooks: shell form (Codex hooks take a command line)\n"
           "  keel's MCP tools run without a prompt (default_tools_approval_mode = \"approve\")\n"
           "\n"
           "  !!! ACTION NEEDED: Codex SKIPS new hooks, without a word, until you trust them. !!!\n"
           "  !!! Start `codex` once and choose \"Trust all and continue\" (or review them      !!!\n"
           "  !!! with /hooks). Until then keel's gates do not run. `keel doctor` checks it.  !!!\n"
           "\n";
    if (!c.user_scope) {
      out << "  project scope: Codex reads .codex/ only in a project you trusted in Codex\n"
             "  ([projects.\"<root>\"] trust_level = \"trusted\" in ~/.codex/config.toml)\n";
    }
  } else if (c.agent == "gemini") {
    out << "  hooks: shell form (Gemini CLI hooks take a command line); keel's server is trusted\n"
           "  (its tools run without a prompt; keel's hooks gate them)\n"
           "  Gemini CLI reads a project's settings (so keel's server and hooks) only in a trusted\n"
           "  folder: run `gemini` here once and choose \"Trust folder\" (or /permissions trust).\n"
           "  Until then `gemini -p` exits with code 55. `keel doctor` checks it.\n";
  } else if (c.agent == "cursor") {
    out << "  hooks: shell form (Cursor hooks take a command line); preToolUse is failClosed\n";
  }
  out << "  identity: each agent session is one keel agent for its MCP server and its hooks\n"
         "  (named after its process, e.g. " << (c.agent == "claude" ? "claude-code" : c.agent)
      << ":4f2a…); nothing to set. Its leases are freed when it exits.\n";
}

int run_install(const Args& args, Workspace& ws) {
  const auto& pos = args.positionals();
  const bool uninstall = args.has("uninstall");
  const bool dry_run = args.has("dry-run");
  std::vector<std::string> agents;
  if (pos.size() > 1) throw UsageError("one agent at a time (got " + std::to_string(pos.size()) + ")");
  if (pos.empty()) {
    if (!uninstall) throw UsageError("which agent? claude, codex, gemini or cursor");
    agents = kAgents;  // --uninstall alone: take keel out of every agent
  } else {
    if (std::find(kAgents.begin(), kAgents.end(), pos[0]) == kAgents.end()) {
      throw UsageError("unknown agent '" + pos[0] + "' (claude, codex, gemini, cursor)");
    }
    agents = {pos[0]};
  }
  std::string scope = args.get("scope").value_or("");
  if (!scope.empty() && scope != "project" && scope != "user") {
    throw UsageError("--scope is project or user, not '" + scope + "'");
  }

  std::string binary;
  if (auto b = args.get("binary")) {
    std::error_code ec;
    fs::path p = fs::absolute(*b, ec);
    if (ec || !fs::is_regular_file(p) || ::access(p.c_str(), X_OK) != 0) {
      throw UsageError("--binary " + *b + ": not an executable file");
    }
    binary = p.lexically_normal().string();
  } else {
    std::error_code ec;
    binary = fs::read_symlink("/proc/self/exe", ec).string();
    if (ec || binary.empty()) throw UsageError("cannot tell where this keel is; pass --binary PATH");
  }

  std::string home;
  if (const char* h = std::getenv("HOME"); h && *h) home = h;

  std::vector<Context> contexts;
  std::vector<std::pair<std::size_t, Planned>> plans;  // index into contexts
  for (const auto& agent : agents) {
    Context c;
    c.agent = agent;
    c.user_scope = scope.empty() ? agent == "codex" : scope == "user";
    if (c.user_scope && home.empty()) throw UsageError("$HOME is not set; user scope needs it");
    c.base = c.user_scope ? fs::path(home) : ws.project();
    c.binary = binary;
    c.shell_form = args.has("shell-form");
    c.uninstall = uninstall;
    contexts.push_back(c);
  }
  // Read and change everything in memory first: one unreadable file, nothing written.
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    for (const auto& e : edits_for(contexts[i])) plans.emplace_back(i, plan(e, uninstall));
  }

  std::size_t changed = 0;
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    const Context& c = contexts[i];
    std::cout << (uninstall ? "keel uninstall " : "keel install ") << c.agent << " ("
              << (c.user_scope ? "user" : "project") << " scope, " << c.base.string() << "):\n";
    std::size_t changed_here = 0;
    for (const auto& [ci, p] : plans) {
      if (ci != i) continue;
      if (!changes(p)) {
        std::cout << "  " << p.path.string() << ": unchanged"
                  << (p.before ? (uninstall ? " (no keel entries)" : " (keel already installed)") : "")
                  << "\n";
        continue;
      }
      ++changed;
      ++changed_here;
      if (dry_run) {
        std::cout << unified_diff(p.before.value_or(""), p.after.value_or(""),
                                  p.before ? "a" + p.path.string() : "/dev/null",
                                  p.after ? "b" + p.path.string() : "/dev/null");
        continue;
      }
      fs::path backup = p.after ? replace_settings_file(p.path, *p.after) : remove_settings_file(p.path);
      std::cout << "  " << p.path.string() << ": "
                << (!p.before ? "created" : p.after ? "updated" : "removed (it held only keel's entries)");
      if (!backup.empty()) std::cout << "; backup " << backup.string();
      std::cout << "\n";
      if (p.comments_dropped) {
        std::cout << "  note: the comments in " << p.path.string() << " were not kept (the backup has them)\n";
      }
    }
    if (!uninstall && changed_here > 0) print_notes(c, std::cout);
  }
  if (dry_run) {
    std::cout << "dry run: " << changed << (changed == 1 ? " file" : " files") << " would change, nothing written\n";
  } else if (changed == 0) {
    std::cout << (uninstall ? "nothing to remove: keel is not installed there\n"
                            : "nothing to do: keel is already installed\n");
  }
  return 0;
}

}  // namespace

Command install_git_command();  // cli/install_git.cpp

std::vector<Command> install_commands() {
  return {install_git_command(), Command{
      .words = {"install"},
      .usage = "keel install claude|codex|gemini|cursor [--scope project|user] [--dry-run] [--uninstall] "
               "[--binary PATH]",
      .summary = "add keel's MCP server and hooks to an agent's settings (or remove them)",
      .details =
          "Writes the agent's MCP server entry (`<keel> serve --stdio`) and hooks running\n"
          "`<keel> hook --dialect <agent>` on its session, prompt, tool and stop events, with\n"
          "the absolute path of this keel (or --binary). Files, by scope:\n"
          "  claude  project: .mcp.json, .claude/settings.json   user: ~/.claude.json, ~/.claude/settings.json\n"
          "  codex   user: ~/.codex/config.toml ([mcp_servers.keel], $CODEX_HOME honoured), ~/.codex/hooks.json\n"
          "          project: .codex/config.toml, .codex/hooks.json\n"
          "  gemini  project: .gemini/settings.json              user: ~/.gemini/settings.json\n"
          "  cursor  project: .cursor/mcp.json, .cursor/hooks.json   user: the same under ~/.cursor\n"
          "Default scope: user for codex, project (the git root, or --project) for the others.\n"
          "Only keel's own entries change (the server named \"keel\"; hook handlers running\n"
          "`keel hook`); everything else is kept. A changed file is replaced atomically after\n"
          "a copy of it is saved as <file>.keel-backup-<UTC time>. A file that is not valid\n"
          "JSON is refused and nothing is written. Running it again changes nothing.\n"
          "--uninstall without an agent removes keel from all four.",
      .options = {{"scope", "S", "project or user (default: user for codex, else project)"},
                  {"dry-run", "", "print the diff of every file that would change; write nothing"},
                  {"uninstall", "", "remove keel's entries instead (all agents when none is named)"},
                  {"binary", "PATH", "the keel to run (default: this executable)"},
                  {"shell-form", "", "claude: hooks as a shell command line (Claude Code before 2.1.139)"}},
      .run = run_install}};
}

}  // namespace keel::cli
