// keel hook: one agent hook event on stdin -> the decision in that agent's
// dialect on stdout/stderr and exit code, journaled.
//
// This file only does the I/O: read stdin, parse it with the agent's dialect,
// hand the event to the policy engine (hooks/engine.h: permission gate, lease
// gate, budget, guardrail, oracle, self-check), render the decision. The store
// is opened only when a policy needs it. Unreadable input (including a missing
// core field, dialect.h) gets the dialect's render_unreadable() block when the
// permission gate fails closed (the default), unless --fail-open.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "hooks/dialect.h"
#include "hooks/engine.h"
#include "hooks/hooks_config.h"
#include "hooks/permission_gate.h"
#include "state/agent_identity.h"

namespace keel::cli {

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

int emit(const hooks::RenderResult& r) {
  std::cout << r.stdout_text;
  std::cout.flush();
  std::cerr << r.stderr_text;
  return r.exit_code;
}

hooks::HooksConfig hooks_config_of(const Config& config) {
  try {
    return hooks::parse_hooks_config(config.hooks);
  } catch (const hooks::HooksConfigError& e) {
    throw ConfigError(e.what());  // validated when the config was read; kept for safety
  }
}

int run_hook(const Args& args, Workspace& outer) {
  const bool claudecode = [] {
    const char* v = std::getenv("CLAUDECODE");
    return v && std::string_view(v) == "1";
  }();
  std::string name = args.get("dialect").value_or("");
  auto dialect_named = [](const std::string& n) {
    std::unique_ptr<hooks::Dialect> d = hooks::make_dialect(n);
    if (!d) {
      throw UsageError("unknown dialect '" + n +
                       "' (claude, codex, gemini, cursor, copilot, windsurf, cline)");
    }
    return d;
  };
  std::unique_ptr<hooks::Dialect> dialect;
  hooks::HookEvent ev;
  try {
    const std::string input = read_stdin();
    if (name.empty()) name = hooks::detect_dialect(input, claudecode);
    dialect = dialect_named(name);
    ev = dialect->parse(input);
  } catch (const hooks::HookInputError& e) {
    // The permission gate concerns every tool call, so its fail mode decides.
    const bool closed = hooks_config_of(outer.config()).permission_fail_closed && !args.has("fail-open");
    if (!closed) {
      std::cerr << "keel: unreadable hook input: " << e.what() << " (let through: fail-open)\n";
      return 0;
    }
    // Input too large to read has no dialect yet: --dialect's, else Claude's (as detect_dialect
    // answers for oversized input).
    if (!dialect) dialect = dialect_named(name.empty() ? "claude" : name);
    return emit(dialect->render_unreadable(e.what()));
  }

  // The event's working directory decides the project (hooks run wherever the
  // agent is), unless --project or --state said otherwise.
  Workspace local;
  Workspace* ws = &outer;
  if (!args.has("project") && !args.has("state") && !ev.cwd.empty() && ::chdir(ev.cwd.c_str()) == 0) {
    local = Workspace::resolve(args);
    ws = &local;
  }

  // Who: --agent, else $KEEL_AGENT, else the agent session this hook runs in
  // (its agent process, the same one the agent's MCP server finds:
  // state/agent_identity.h), else the event's session_id.
  std::string agent = args.get("agent").value_or("");
  if (agent.empty()) {
    if (const char* env = std::getenv("KEEL_AGENT"); env && *env) agent = env;
  }
  std::optional<state::AgentAnchor> anchor;
  if (agent.empty()) {
    anchor = state::find_own_agent_anchor(*state::system_process_table());
    if (anchor) agent = state::agent_name_for(*anchor);
  }
  if (agent.empty()) agent = ev.session_id.empty() ? "hook" : ev.session_id;
  state::Principal who{agent, ws->project().string(), ev.session_id,
                       ws->config().capabilities_for(agent), anchor};
  who.capabilities.insert(std::string(state::caps::kLease));  // reading holds is the gate's job

  auto open_store = [ws]() -> state::Store& {
    ws->set_synchronous(state::Synchronous::kNormal);
    ws->skip_open_maintenance();
    ws->write_inline();
    return ws->store();
  };

  // A suspended agent's tool calls are denied with the human's reason (a
  // marker file: no store is opened unless it exists).
  const bool tool_call = ev.kind == hooks::EventKind::PreToolUse ||
                         ev.kind == hooks::EventKind::PermissionRequest;
  if (tool_call) {
    if (std::optional<std::string> why = state::suspended_reason(ws->state_dir(), who.project, agent)) {
      hooks::HookDecision d;
      d.outcome = hooks::Outcome::Deny;
      d.rule_id = "agent:suspended";
      d.reason = "agent " + agent + " is suspended by a human: " + *why +
                 ". Stop and report to the user; every tool call is refused until `keel agents "
                 "resume` is run.";
      try {
        open_store().journal_append(
            who, "HOOK", ev.tool_name,
            boost::json::object{{"dialect", ev.dialect}, {"event", ev.event_name},
                                {"session_id", ev.session_id}, {"outcome", "deny"},
                                {"rule", d.rule_id}, {"tool", ev.tool_name}});
      } catch (const std::exception& e) {
        std::cerr << "keel hook: journal: " << e.what() << "\n";
      }
      return emit(dialect->render(ev, d));
    }
  }
  // The session's first event binds its session_id to the agent (and records
  // the agent with its process, for `keel agents ls` and liveness).
  if (ev.kind == hooks::EventKind::SessionStart && (anchor || !ev.session_id.empty())) {
    try {
      open_store().register_agent(who, state::AgentRegistration{"hook:" + ev.dialect});
    } catch (const std::exception& e) {
      std::cerr << "keel hook: could not register agent " << agent << ": " << e.what() << "\n";
    }
  }

  hooks::GateConfig gate_config;
  if (!ws->config().permission.is_null()) {
    gate_config = hooks::parse_gate_config(ws->config().permission);
  }
  if (args.has("strict")) gate_config.strict = true;
  const hooks::HookEngine engine(hooks_config_of(ws->config()), std::move(gate_config),
                                 ws->project().string(), ws->state_dir() / "hooks");

  hooks::EngineResult result = engine.decide(ev, who, open_store);
  for (const auto& e : result.errors) std::cerr << "keel hook: " << e << "\n";
  return emit(dialect->render(ev, result.decision));
}

}  // namespace

std::vector<Command> hook_commands() {
  return {Command{
      .words = {"hook"},
      .usage = "keel hook [--dialect claude|codex|gemini|cursor|copilot|windsurf|cline] [--agent NAME]",
      .summary = "decide one agent hook event read on stdin (gates, budget, guardrail, oracle, self-check)",
      .details =
          "Writes the decision in the agent's own format and exit code, and journals it (op\n"
          "HOOK) unless it is the plain allow of a call that needed no state (hooks.journal_all\n"
          "journals those too).\n"
          "Policies: permission gate, lease gate, budget, guardrail, oracle, self-check, each\n"
          "configured in keel.jsonc (permission, hooks). Without --dialect the agent is\n"
          "recognised from the input. The agent name compared with lease holders is --agent,\n"
          "else $KEEL_AGENT, else the agent session the hook runs in (its agent process, as\n"
          "its MCP server finds it: claude-code:<id>, codex:<id>, gemini:<id>), else the\n"
          "event's session_id. A suspended agent's tool calls are denied. Unreadable input (or a\n"
          "missing core field such as a shell call's command) exits 2 (blocks; for copilot\n"
          "also its deny JSON) while hooks.permission_gate.fail_closed, unless --fail-open.",
      .options = {{"dialect", "D", "the agent's hook dialect (default: recognised from stdin)"},
                  {"agent", "NAME", "the agent this hook acts for (env KEEL_AGENT)"},
                  {"strict", "", "deny (instead of ask) what the shell parser cannot resolve"},
                  {"fail-open", "", "let unreadable input through (exit 0) instead of blocking"}},
      .run = run_hook}};
}

}  // namespace keel::cli
