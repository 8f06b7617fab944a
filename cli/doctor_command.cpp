// keel doctor: checks, for every agent keel is installed into, that the agent
// will really run keel — its settings files parse and point at an executable
// keel, the agent's version runs the hook form written, the agent trusts the
// hooks (Codex) and the workspace (Gemini CLI), keel's MCP server starts and
// lists its tools — and that keel's store opens and its journal verifies.
//
// Files read are exactly those `keel install` writes (install_command.cpp
// edits_for), in project scope (the project root) and user scope ($HOME;
// $CODEX_HOME for Codex). Nothing is written; the MCP server it starts opens
// the project's store, as the agent's would.
//
// The pieces: doctor_scopes (where to look, what is there), doctor_probes
// (running programs), doctor_checks (the agents' trust rules), doctor_report
// (the output); the checks themselves in Doctor (doctor.h).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "cli/doctor.h"
#include "cli/doctor_checks.h"
#include "cli/doctor_probes.h"

namespace keel::cli {

namespace doctor {

namespace json = boost::json;

namespace {

// Claude Code runs exec-form hooks (command + args, no shell) from this version.
const std::vector<int> kClaudeExecForm = {2, 1, 139};

}  // namespace

Doctor::Doctor(Workspace& ws, Report& report) : ws_(ws), r_(report) {
  std::error_code ec;
  self_ = fs::read_symlink("/proc/self/exe", ec).string();
  home_ = env("HOME").value_or("");
}

void Doctor::agent(const std::string& a, bool asked) {
  std::vector<ScopeSpec> scopes;
  ScopeSpec project = scope_spec(a, false, ws_.project());
  scopes.push_back(project);
  if (!home_.empty()) {
    ScopeSpec user = scope_spec(a, true, home_);
    if (user.server_file != project.server_file || user.hooks_file != project.hooks_file) scopes.push_back(user);
  }
  bool any = false;
  bool exec_form = false;
  for (const auto& s : scopes) {
    ScopeState st = inspect(s, files_, self_);
    if (!st.installed() && st.broken.empty()) continue;
    any = true;
    scope(s, st);
    for (const auto& h : st.handlers) exec_form = exec_form || h.exec_form;
  }
  if (!any) {
    std::string files;
    for (const auto& s : scopes) files += (files.empty() ? "" : ", ") + s.server_file.string();
    if (asked) {
      r_.problem(a, "", "installed", "keel is not installed", "no keel entries in " + files,
                 "run `keel install " + a + "`");
    } else {
      r_.note(a, "", "installed", "keel is not installed (nothing of keel's in " + files + "); skipped");
    }
    return;
  }
  version(a, exec_form);
  if (a == "gemini") {
    gemini_trust();
    gemini_switches();
  }
}

void Doctor::store() {
  try {
    auto& st = ws_.store();
    r_.pass("keel", "", "store", "store opens (" + ws_.state_dir().string() + ")");
    auto v = st.journal_verify(ws_.human());
    if (v.ok) {
      r_.pass("keel", "", "journal", "journal verifies (" + std::to_string(v.records) + " records)");
    } else {
      r_.problem("keel", "", "journal", "the journal does not verify",
                 "broken at seq " + std::to_string(v.first_bad->seq) + " (" + v.first_bad->kind +
                     "): " + v.first_bad->detail,
                 "see `keel journal verify --json`; the journal in " + ws_.state_dir().string() +
                     " was changed outside keel — restore it from a backup");
    }
  } catch (const std::exception& e) {
    r_.problem("keel", "", "store", "the store does not open", e.what(),
               "check " + ws_.state_dir().string() + " (its permissions, --state, $KEEL_STATE_DIR)");
  }
}

void Doctor::scope(const ScopeSpec& s, const ScopeState& st) {
  const std::string& a = s.agent;
  // Files parse.
  std::set<std::string> seen;
  for (const fs::path& p : {s.server_file, s.hooks_file}) {
    if (!seen.insert(p.string()).second) continue;
    const LoadedFile& f = (p == s.server_file && s.server_toml) ? files_.toml_file(p) : files_.json_file(p);
    if (!f.error.empty()) {
      r_.problem(a, s.scope, "config", p.string() + " does not parse", f.error,
                 "correct the file (" + a + " cannot read it either), then " + install_fix(s));
    } else if (f.exists) {
      r_.pass(a, s.scope, "config", p.string() + " parses");
    }
  }
  if (!st.installed()) return;

  // The MCP server entry.
  if (!st.server) {
    r_.problem(a, s.scope, "mcp_server", "keel's MCP server is missing",
               "keel's hooks are there but " + s.server_file.string() + " has no server named keel",
               install_fix(s));
  } else {
    server(s, *st.server);
  }

  // The hooks.
  if (st.handlers.empty()) {
    r_.problem(a, s.scope, "hooks", "keel's hooks are missing",
               s.hooks_file.string() + " runs no `keel hook`: no lease gate, no session context",
               install_fix(s));
  } else {
    hooks(s, st);
  }
  if (st.hooks_disabled) {
    r_.problem(a, s.scope, "hooks", "Claude Code's hooks are all off",
               s.hooks_file.string() + " sets \"disableAllHooks\": true",
               "remove disableAllHooks from " + s.hooks_file.string());
  }
  if (a == "codex" && !st.handlers.empty()) codex_trust(s, st);
  if (a == "claude" && s.scope == "project") claude_project(s);
}

void Doctor::server(const ScopeSpec& s, const json::object& server) {
  const std::string& a = s.agent;
  const json::value* c = server.if_contains("command");
  if (!c || !c->is_string() || c->get_string().empty()) {
    r_.problem(a, s.scope, "mcp_binary", "keel's MCP server has no command", s.server_file.string(), install_fix(s));
    return;
  }
  std::string command(c->get_string());
  if (std::string why = cannot_run(command, s.base); !why.empty()) {
    r_.problem(a, s.scope, "mcp_binary", "keel's MCP server command in " + s.server_file.string() + " cannot run",
               why, install_fix(s) + " with the keel you use (or --binary PATH)");
    return;
  }
  r_.pass(a, s.scope, "mcp_binary", "MCP server command " + command + " is executable");
  if (const json::value* e = server.if_contains("enabled"); e && e->is_bool() && !e->get_bool()) {
    r_.problem(a, s.scope, "mcp_server", "keel's MCP server is switched off",
               s.server_file.string() + " sets enabled = false on [mcp_servers.keel]",
               "remove `enabled = false` from [mcp_servers.keel]");
    return;
  }
  std::vector<std::string> argv{command};
  if (const json::value* args = server.if_contains("args"); args && args->is_array()) {
    for (const auto& x : args->get_array()) {
      argv.push_back(x.is_string() ? std::string(x.get_string()) : json::serialize(x));
    }
  }
  std::string key = join(argv, "\x1f");
  auto it = mcp_cache_.find(key);
  if (it == mcp_cache_.end()) {
    std::size_t tools = 0;
    std::string why = probe_mcp_server(argv, ws_.project(), tools);
    it = mcp_cache_.emplace(key, std::make_pair(why, tools)).first;
  }
  const auto& [why, tools] = it->second;
  if (why.empty()) {
    r_.pass(a, s.scope, "mcp_start",
            "MCP server starts and lists keel's tools (" + std::to_string(tools) +
                " tools, lease_acquire among them)");
  } else {
    r_.problem(a, s.scope, "mcp_start", "`" + join(argv, " ") + "` does not serve keel's tools", why,
               "run `" + join(argv, " ") + "` in " + ws_.project().string() +
                   " to see why (check keel's config and state directory)");
  }
}

void Doctor::hooks(const ScopeSpec& s, const ScopeState& st) {
  const std::string& a = s.agent;
  std::map<std::string, std::vector<std::string>> by_program;  // program -> events
  std::vector<std::string> wrong_dialect;
  std::set<std::string> events;
  for (const auto& h : st.handlers) {
    by_program[h.program].push_back(h.event);
    events.insert(h.event);
    if (!h.dialect.empty() && h.dialect != a) wrong_dialect.push_back(h.event + " (--dialect " + h.dialect + ")");
  }
  for (const auto& [program, evs] : by_program) {
    if (std::string why = cannot_run(program, s.base); !why.empty()) {
      r_.problem(a, s.scope, "hook_binary", "keel's hooks in " + s.hooks_file.string() + " cannot run",
                 why + " (" + join(evs) + ")", install_fix(s) + " with the keel you use (or --binary PATH)");
    } else {
      r_.pass(a, s.scope, "hook_binary",
              std::to_string(evs.size()) + " hooks (" + join(evs) + ") run " + program + ", which is executable");
    }
  }
  if (!wrong_dialect.empty()) {
    r_.problem(a, s.scope, "hook_dialect", "keel's hooks speak another agent's dialect", join(wrong_dialect),
               install_fix(s));
  }
  std::vector<std::string> missing;
  bool gate_missing = false;
  for (const auto& e : expected_events(a)) {
    if (events.count(e)) continue;
    if (missing.empty() && e == expected_events(a).front()) gate_missing = true;
    missing.push_back(e);
  }
  if (gate_missing) {
    r_.problem(a, s.scope, "hook_events", "keel's lease gate is not hooked",
               "no keel hook on " + expected_events(a).front() + " in " + s.hooks_file.string() +
                   ": edits go through without a lease check",
               install_fix(s));
  } else if (!missing.empty()) {
    r_.note(a, s.scope, "hook_events",
            "keel hooks no " + join(missing) + " (keel install adds them; " + install_fix(s) + ")");
  }
}

void Doctor::version(const std::string& a, bool exec_form) {
  if (a == "cursor") {
    r_.note(a, "", "version", "Cursor's version is not checked (keel's Cursor hooks are shell commands)");
    return;
  }
  std::string program = find_program(a, {});
  const std::string need = "keel's exec-form hooks (command + args) need Claude Code 2.1.139 or later";
  if (program.empty()) {
    r_.note(a, "", "version",
            a + " is not on PATH: its version is not checked" +
                (a == "claude" && exec_form
                     ? " — " + need + " (for an older one: `keel install claude --shell-form`)"
                     : ""));
    return;
  }
  std::string why;
  auto line = program_version(program, why);
  std::vector<int> v = line ? parse_version(*line) : std::vector<int>{};
  if (!line || v.empty()) {
    r_.note(a, "", "version", line ? program + " --version printed no version: " + *line : why);
    return;
  }
  std::string shown = *line;
  while (!shown.empty() && (shown.back() == '\r' || shown.back() == ' ')) shown.pop_back();
  if (a == "claude" && exec_form && version_less(v, kClaudeExecForm)) {
    std::string dotted;
    for (int n : v) dotted += (dotted.empty() ? "" : ".") + std::to_string(n);
    r_.problem(a, "", "version", "Claude Code " + dotted + " cannot run keel's hooks", need,
               "update Claude Code, or run `keel install claude --shell-form`");
    return;
  }
  r_.pass(a, "", "version",
          program + " --version: " + shown + (a == "claude" && exec_form ? " (runs exec-form hooks)" : ""));
}

}  // namespace doctor

namespace {

const std::vector<std::string> kAgents = {"claude", "codex", "gemini", "cursor"};

int run_doctor(const Args& args, Workspace& ws) {
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  std::vector<std::string> agents = kAgents;
  bool asked = false;
  if (auto a = args.get("agent")) {
    if (std::find(kAgents.begin(), kAgents.end(), *a) == kAgents.end()) {
      throw UsageError("unknown agent '" + *a + "' (claude, codex, gemini, cursor)");
    }
    agents = {*a};
    asked = true;
  }
  doctor::Report report;
  doctor::Doctor doctor(ws, report);
  for (const auto& a : agents) doctor.agent(a, asked);
  doctor.store();
  if (args.has("json")) {
    doctor::print_json(report, std::cout);
  } else {
    doctor::print_text(report, std::cout);
  }
  return report.any_problem() ? 1 : 0;
}

}  // namespace

std::vector<Command> doctor_commands() {
  return {Command{
      .words = {"doctor"},
      .usage = "keel doctor [--agent claude|codex|gemini|cursor] [--json]",
      .summary = "check that the agents keel is installed into will really run it",
      .details =
          "For each agent with keel's entries in its settings (the files `keel install` writes,\n"
          "project and user scope), checks that:\n"
          "  - the files parse and name an executable keel (MCP server and every hook);\n"
          "  - the agent's version runs the hooks written (`<agent> --version`; Claude Code's\n"
          "    exec-form hooks need 2.1.139 or later);\n"
          "  - Codex trusts keel's hooks (hooks.state in $CODEX_HOME/config.toml) and, in\n"
          "    project scope, the project; Gemini CLI trusts the folder (trustedFolders.json);\n"
          "  - the MCP server starts in the project and lists keel's tools;\n"
          "and that keel's store opens and its journal verifies. Prints ✓ for each pass,\n"
          "✗ <what>: <why>. Fix: <how> for each problem and • for notes. An agent without\n"
          "keel is skipped with a note. Exit status 1 when there is a problem, else 0.\n"
          "--json prints [{agent, scope, check, kind, ok, detail, fix}] instead.",
      .options = {{"agent", "NAME", "check this agent only (claude, codex, gemini, cursor)"},
                  {"json", "", "machine-readable output"}},
      .run = run_doctor}};
}

}  // namespace keel::cli
