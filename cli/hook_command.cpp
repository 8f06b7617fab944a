// keel hook: one agent hook event on stdin -> the decision in that agent's
// dialect on stdout/stderr and exit code, journaled.
//
// Policies, in order, the most severe decision winning: the permission gate
// (destructive commands, user rules), then the lease gate (a write under
// another agent's lease). The gate fails closed: unreadable input or an
// unreadable store blocks rather than allows.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "hooks/dialect.h"
#include "hooks/lease_gate.h"
#include "hooks/permission_gate.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxInputBytes = 8u << 20;

std::string read_stdin() {
  std::string input;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    input.append(buf, static_cast<std::size_t>(n));
    if (input.size() > kMaxInputBytes) throw hooks::HookInputError("hook input exceeds 8 MiB");
  }
  return input;
}

hooks::HookDecision stricter(hooks::HookDecision a, hooks::HookDecision b) {
  return hooks::severity(b.outcome) > hooks::severity(a.outcome) ? b : a;
}

int emit(const hooks::RenderResult& r) {
  std::cout << r.stdout_text;
  std::cout.flush();
  std::cerr << r.stderr_text;
  return r.exit_code;
}

int run_hook(const Args& args, Workspace& outer) {
  const bool claudecode = [] {
    const char* v = std::getenv("CLAUDECODE");
    return v && std::string_view(v) == "1";
  }();
  std::string input;
  std::unique_ptr<hooks::Dialect> dialect;
  hooks::HookEvent ev;
  try {
    input = read_stdin();
    std::string name = args.get("dialect").value_or("");
    if (name.empty()) name = hooks::detect_dialect(input, claudecode);
    dialect = hooks::make_dialect(name);
    if (!dialect) {
      throw UsageError("unknown dialect '" + name +
                       "' (claude, codex, gemini, cursor, copilot, windsurf, cline)");
    }
    ev = dialect->parse(input);
  } catch (const hooks::HookInputError& e) {
    // Fail closed: exit 2 blocks on every agent that can block.
    std::cerr << "keel hook: unreadable hook input: " << e.what() << "\n";
    return args.has("fail-open") ? 0 : 2;
  }

  // The event's working directory decides the project (hooks run wherever the
  // agent is), unless --project or --state said otherwise.
  Workspace local;
  Workspace* ws = &outer;
  if (!args.has("project") && !args.has("state") && !ev.cwd.empty() && ::chdir(ev.cwd.c_str()) == 0) {
    local = Workspace::resolve(args);
    ws = &local;
  }

  std::string agent = args.get("agent").value_or("");
  if (agent.empty()) {
    if (const char* env = std::getenv("KEEL_AGENT"); env && *env) agent = env;
  }
  if (agent.empty()) agent = ev.session_id.empty() ? "hook" : ev.session_id;
  state::Principal who{agent, ws->project().string(), ev.session_id,
                       ws->config().capabilities_for(agent)};
  who.capabilities.insert(std::string(state::caps::kLease));  // reading holds is the gate's job

  hooks::GateConfig gate_config;
  if (!ws->config().permission.is_null()) {
    gate_config = hooks::parse_gate_config(ws->config().permission);
  }
  if (args.has("strict")) gate_config.strict = true;
  hooks::PermissionGate gate(gate_config);
  hooks::HookDecision decision = gate.evaluate(ev);

  const bool tool_event =
      ev.kind == hooks::EventKind::PreToolUse || ev.kind == hooks::EventKind::PermissionRequest;
  state::Store* store = nullptr;
  try {
    if (tool_event || decision.outcome != hooks::Outcome::Continue) {
      ws->set_synchronous(state::Synchronous::kNormal);
      ws->skip_open_maintenance();
      store = &ws->store();
    }
    if (store && tool_event && hooks::severity(decision.outcome) < hooks::severity(hooks::Outcome::Deny)) {
      decision = stricter(decision, hooks::LeaseGate().evaluate(*store, who, ev));
    }
  } catch (const std::exception& e) {
    if (tool_event && !hooks::written_paths(ev).empty()) {
      hooks::HookDecision unavailable;
      unavailable.outcome = hooks::Outcome::Deny;
      unavailable.reason = std::string("keel could not check leases: ") + e.what();
      unavailable.rule_id = "lease:unavailable";
      decision = stricter(decision, unavailable);
    }
    store = nullptr;
  }

  if (store) {
    json::object payload{{"dialect", dialect->name()},
                         {"event", ev.event_name},
                         {"session_id", ev.session_id},
                         {"outcome", hooks::to_string(decision.outcome)}};
    if (!decision.rule_id.empty()) payload["rule"] = decision.rule_id;
    if (!decision.reason.empty()) payload["reason"] = decision.reason.substr(0, 1000);
    if (!ev.tool_name.empty()) payload["tool"] = ev.tool_name;
    if (!ev.command.empty()) payload["command"] = ev.command.substr(0, 1000);
    if (!ev.file_paths.empty()) {
      json::array paths;
      for (const auto& p : ev.file_paths) paths.emplace_back(p);
      payload["paths"] = std::move(paths);
    }
    try {
      store->journal_append(who, "HOOK", ev.tool_name.empty() ? ev.event_name : ev.tool_name,
                            payload);
    } catch (const std::exception& e) {
      std::cerr << "keel hook: could not journal the decision: " << e.what() << "\n";
    }
  }
  return emit(dialect->render(ev, decision));
}

}  // namespace

std::vector<Command> hook_commands() {
  return {Command{
      .words = {"hook"},
      .usage = "keel hook [--dialect claude|codex|gemini|cursor|copilot|windsurf|cline] [--agent NAME]",
      .summary = "decide one agent hook event read on stdin (permission gate, lease gate)",
      .details =
          "Writes the decision in the agent's own format and exit code and journals it (op HOOK).\n"
          "Without --dialect the agent is recognised from the input. The agent name compared\n"
          "with lease holders is --agent, else $KEEL_AGENT, else the event's session_id: give\n"
          "an agent's MCP server and its hooks the same KEEL_AGENT so its own leases do not\n"
          "block it. Unreadable input exits 2 (blocks) unless --fail-open.",
      .options = {{"dialect", "D", "the agent's hook dialect (default: recognised from stdin)"},
                  {"agent", "NAME", "the agent this hook acts for (env KEEL_AGENT)"},
                  {"strict", "", "deny (instead of ask) what the shell parser cannot resolve"},
                  {"fail-open", "", "let unreadable input through (exit 0) instead of blocking"}},
      .run = run_hook}};
}

}  // namespace keel::cli
