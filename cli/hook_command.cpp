// keel hook: one agent hook event on stdin -> the decision in that agent's
// dialect on stdout/stderr and exit code, journaled.
//
// This file only does the I/O: read stdin, pick the agent's dialect, and run the
// hook pipeline (hooks/pipeline.h: the dialect parses, the policy engine decides —
// permission gate, lease gate, budget, guardrail, oracle, self-check —, the
// dialect renders) with the workspace of the event's cwd. The store
// is opened only when a policy needs it. Unreadable input (including a missing
// core field, dialect.h) gets the dialect's render_unreadable() block when the
// permission gate fails closed (the default), unless --fail-open.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>

#include "cli/stdin_capture.h"
#include "cli/commands.h"
#include "hooks/dialect.h"
#include "hooks/engine.h"
#include "hooks/approvals.h"
#include "hooks/lease_gate.h"
#include "hooks/permission_gate.h"
#include "hooks/pipeline.h"
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

std::unique_ptr<hooks::Dialect> dialect_named(const std::string& n) {
  std::unique_ptr<hooks::Dialect> d = hooks::make_dialect(n);
  if (!d) {
    throw UsageError("unknown dialect '" + n +
                     "' (claude, codex, gemini, cursor, copilot, windsurf, cline)");
  }
  return d;
}

// `keel hook`'s side of the pipeline (hooks/pipeline.h): the workspace, the principal and the
// engine come from the event's working directory; a suspended agent is refused before the
// policies run; a SessionStart registers the agent.
class CliHost final : public hooks::HookHost {
 public:
  CliHost(const Args& args, Workspace& outer) : args_(args), ws_(&outer) {}

  // The permission gate concerns every tool call, so its fail mode decides.
  bool unreadable_fails_closed() const override {
    return ws_->config().hook_policies.permission_fail_closed && !args_.has("fail-open");
  }

  std::optional<hooks::HookDecision> prepare(const hooks::HookEvent& ev) override {
    // The event's working directory decides the project (hooks run wherever the
    // agent is), unless --project or --state said otherwise.
    if (!args_.has("project") && !args_.has("state") && !ev.cwd.empty() &&
        ::chdir(ev.cwd.c_str()) == 0) {
      local_ = Workspace::resolve(args_);
      ws_ = &local_;
    }
    resolve_principal(ev);
    // A suspended agent's tool calls are denied with the human's reason (a
    // marker file: no store is opened unless it exists).
    const bool tool_call = ev.kind == hooks::EventKind::PreToolUse ||
                           ev.kind == hooks::EventKind::PermissionRequest;
    if (tool_call) {
      if (std::optional<std::string> why =
              state::suspended_reason(ws_->state_dir(), who_.project, who_.agent)) {
        return suspended(ev, *why);
      }
    }
    // The session's first event binds its session_id to the agent (and records
    // the agent with its process, for `keel agents ls` and liveness).
    if (ev.kind == hooks::EventKind::SessionStart && (who_.anchor || !ev.session_id.empty())) {
      try {
        open_store().register_agent(who_, state::AgentRegistration{"hook:" + ev.dialect});
      } catch (const std::exception& e) {
        std::cerr << "keel hook: could not register agent " << who_.agent << ": " << e.what() << "\n";
      }
    }
    hooks::GateConfig gate = ws_->config().gate;
    if (args_.has("strict")) gate.strict = true;
    engine_.emplace(ws_->config().hook_policies, std::move(gate), ws_->project().string(),
                    ws_->state_dir() / "hooks");
    return std::nullopt;
  }

  const hooks::HookEngine& engine() const override { return *engine_; }
  const state::Principal& principal() const override { return who_; }
  state::Store& open_store() override {
    ws_->set_synchronous(state::Synchronous::kNormal);
    ws_->skip_open_maintenance();
    ws_->write_inline();
    return ws_->store();
  }

 private:
  // Who: --agent, else $KEEL_AGENT, else the agent session this hook runs in
  // (its agent process, the same one the agent's MCP server finds:
  // state/agent_identity.h), else the event's session_id.
  void resolve_principal(const hooks::HookEvent& ev) {
    std::string agent = args_.get("agent").value_or("");
    if (agent.empty()) {
      if (const char* env = std::getenv("KEEL_AGENT"); env && *env) agent = env;
    }
    std::optional<state::AgentAnchor> anchor;
    if (agent.empty()) {
      anchor = state::find_own_agent_anchor(*state::system_process_table());
      if (anchor) agent = state::agent_name_for(*anchor);
    }
    if (agent.empty()) agent = ev.session_id.empty() ? "hook" : ev.session_id;
    who_ = state::Principal{agent, ws_->project_id(), ev.session_id,
                            ws_->config().capabilities_for(agent), anchor};
    who_.capabilities.insert(std::string(state::caps::kLease));  // reading holds is the gate's job
  }

  hooks::HookDecision suspended(const hooks::HookEvent& ev, const std::string& why) {
    hooks::HookDecision d;
    d.outcome = hooks::Outcome::Deny;
    d.rule_id = "agent:suspended";
    d.reason = "agent " + who_.agent + " is suspended by a human: " + why +
               ". Stop and report to the user; every tool call is refused until `keel agents "
               "resume` is run.";
    try {
      open_store().journal_append(
          who_, "HOOK", ev.tool_name,
          boost::json::object{{"dialect", ev.dialect}, {"event", ev.event_name},
                              {"session_id", ev.session_id}, {"outcome", "deny"},
                              {"rule", d.rule_id}, {"tool", ev.tool_name}});
    } catch (const std::exception& e) {
      std::cerr << "keel hook: journal: " << e.what() << "\n";
    }
    return d;
  }

  const Args& args_;
  Workspace* ws_;
  Workspace local_;
  state::Principal who_;
  std::optional<hooks::HookEngine> engine_;
};

int run_hook(const Args& args, Workspace& outer) {
  const bool claudecode = [] {
    const char* v = std::getenv("CLAUDECODE");
    return v && std::string_view(v) == "1";
  }();
  std::string name = args.get("dialect").value_or("");
  CliHost host(args, outer);
  auto let_through = [](const std::string& what) {
    std::cerr << "keel: unreadable hook input: " << what << " (let through: fail-open)\n";
    return 0;
  };
  std::string input;
  try {
    input = read_stdin();
    remember_stdin(input);  // for a re-exec as keel-pg (cli/pg_reexec.cpp)
  } catch (const hooks::HookInputError& e) {
    if (!host.unreadable_fails_closed()) return let_through(e.what());
    // Input too large to read has no dialect yet: --dialect's, else Claude's (as detect_dialect
    // answers for oversized input).
    return emit(dialect_named(name.empty() ? "claude" : name)->render_unreadable(e.what()));
  }
  if (name.empty()) name = hooks::detect_dialect(input, claudecode);
  const std::unique_ptr<hooks::Dialect> dialect = dialect_named(name);
  hooks::HookAnswer answer = hooks::run_hook_pipeline(*dialect, input, host);
  if (answer.input_error && !host.unreadable_fails_closed()) return let_through(*answer.input_error);
  for (const auto& e : answer.errors) std::cerr << "keel hook: " << e << "\n";
  return emit(answer.rendered);
}

// The output of a fixed git command line (no user input in it), run by /bin/sh in the current
// directory; nullopt when it fails.
std::optional<std::string> git_output(const char* command) {
  FILE* f = ::popen(command, "r");
  if (!f) return std::nullopt;
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  if (::pclose(f) != 0) return std::nullopt;
  return out;
}

// The agent a git hook acts for: --agent, $KEEL_AGENT, else the agent session above the `git`
// that runs the hook (agent → shell → git → sh pre-commit → keel: the walk starts above git,
// since git is no shell the anchor lookup would stop at), else "" (unknown).
state::Principal git_hook_principal(const Args& args, const Workspace& ws) {
  std::string agent = args.get("agent").value_or("");
  if (agent.empty())
    if (const char* env = std::getenv("KEEL_AGENT"); env && *env) agent = env;
  std::optional<state::AgentAnchor> anchor;
  if (agent.empty()) {
    const std::shared_ptr<const state::ProcessTable> procs = state::system_process_table();
    const state::ProcessTable& table = *procs;
    std::int64_t pid = table.parent_pid();
    for (int hop = 0; hop < 8 && pid > 1; ++hop) {
      std::optional<state::ProcessInfo> p = table.info(pid);
      if (!p) break;
      if (p->comm == "git") {
        anchor = state::find_agent_anchor(table, pid);
        break;
      }
      pid = p->ppid;
    }
    if (anchor) agent = state::agent_name_for(*anchor);
  }
  state::Principal who{agent.empty() ? "git" : agent, ws.project_id(), "",
                       ws.config().capabilities_for(agent), anchor};
  who.capabilities.insert(std::string(state::caps::kLease));
  return who;
}

// keel hook pre-commit: run by the pre-commit hook `keel install git` writes. Refuses (exit 1)
// a commit that stages a file under another agent's live lease, naming the holder and expiry:
// the lease gate's check on the staged paths, for commits made where no tool hook ran (a
// subagent, hooks turned off, a person's shell).
int run_pre_commit(const Args& args, Workspace& ws) {
  std::optional<std::string> top = git_output("git rev-parse --show-toplevel");
  std::optional<std::string> staged = git_output("git diff --cached --name-only -z --diff-filter=ACDMRT");
  if (!top || !staged) {
    std::cerr << "keel pre-commit: cannot list the staged files (not in a git work tree?)\n";
    return 1;
  }
  while (!top->empty() && (top->back() == '\n' || top->back() == '\r')) top->pop_back();
  hooks::HookEvent ev;
  ev.kind = hooks::EventKind::PreToolUse;
  ev.event_name = "pre-commit";
  ev.dialect = "git";
  ev.tool = hooks::ToolKind::Write;
  ev.tool_name = "git commit";
  ev.cwd = *top;
  for (std::size_t from = 0; from < staged->size();) {
    std::size_t end = staged->find('\0', from);
    if (end == std::string::npos) end = staged->size();
    if (end > from) ev.file_paths.push_back(*top + "/" + staged->substr(from, end - from));
    from = end + 1;
  }
  if (ev.file_paths.empty()) return 0;
  const state::Principal who = git_hook_principal(args, ws);
  hooks::HookDecision d;
  try {
    d = hooks::LeaseGate().evaluate(ws.store(), who, ev);
  } catch (const std::exception& e) {
    if (!ws.config().hook_policies.lease_fail_closed) {
      std::cerr << "keel pre-commit: could not check leases (" << e.what() << "); letting the commit through\n";
      return 0;
    }
    std::cerr << "keel pre-commit: could not check leases (" << e.what()
              << "); refusing the commit (hooks.lease_gate.fail_closed)\n";
    return 1;
  }
  if (d.outcome != hooks::Outcome::Deny) return 0;
  std::cerr << "keel: commit refused for " << who.agent << ": " << d.reason << "\n"
            << "Unstage that file (git restore --staged <file>) or wait for the lease to be released.\n";
  try {
    ws.store().journal_append(who, "HOOK", "git commit",
                              boost::json::object{{"dialect", "git"}, {"event", "pre-commit"},
                                                  {"outcome", "deny"}, {"rule", d.rule_id},
                                                  {"tool", "git commit"}});
  } catch (const std::exception& e) {
    std::cerr << "keel pre-commit: journal: " << e.what() << "\n";
  }
  return 1;
}

// keel hook approvals: the remembered approvals (APPROVAL_REMEMBERED records), newest first.
int run_approvals(const Args& args, Workspace& ws) {
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  state::JournalFilter f;
  f.op = std::string(hooks::kApprovalRemembered);
  f.project = ws.project_id();
  f.limit = 1000;
  const std::string session = args.get("session").value_or("");
  std::size_t n = 0;
  for (const state::JournalRecord& r : ws.store().journal_query(ws.human(), f)) {
    boost::json::object p;
    try {
      boost::json::value v = boost::json::parse(r.payload);
      if (v.is_object()) p = v.as_object();
    } catch (const std::exception&) {
    }
    auto str = [&](const char* k) {
      auto it = p.find(k);
      return it != p.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
    };
    if (!session.empty() && str("session_id") != session) continue;
    std::cout << "#" << r.seq << "  " << r.principal << "  session " << str("session_id") << "  in " << str("cwd")
              << "\n    " << str("command") << "\n";
    ++n;
  }
  if (n == 0) std::cout << "no remembered approvals\n";
  return 0;
}

// keel hook explain '<command>': every rule that matched each simple command, in order, and
// the decision, under this workspace's permission configuration. Pure: opens no store.
int run_explain(const Args& args, Workspace& ws) {
  if (args.positionals().size() != 1)
    throw UsageError("give exactly one command line to explain, quoted: keel hook explain 'git reset --hard'");
  hooks::GateConfig gate = ws.config().gate;
  if (args.has("strict")) gate.strict = true;
  for (const std::string& w : hooks::catalog_cover_warnings(gate)) std::cout << "warning: " << w << "\n";
  hooks::PermissionGate g(std::move(gate));
  std::string cwd = args.get("cwd").value_or("");
  if (cwd.empty()) {
    std::error_code ec;
    cwd = std::filesystem::current_path(ec).string();
  }
  std::cout << hooks::render_explanation(g.explain_shell(args.positionals()[0], cwd));
  return 0;
}

}  // namespace

std::vector<Command> hook_commands() {
  return {Command{
              .words = {"hook", "pre-commit"},
              .usage = "keel hook pre-commit [--agent NAME]",
              .summary = "git pre-commit check: refuse a commit staging a file under another agent's lease",
              .details =
                  "Run by the pre-commit hook `keel install git` writes, in the repository. Lists the\n"
                  "staged files and exits 1, naming the holder and the expiry, when one is under a\n"
                  "live lease of another agent. The agent is --agent, else $KEEL_AGENT, else the agent\n"
                  "session that ran `git` (as `keel hook` finds it), else \"git\" (every agent's lease\n"
                  "then counts). Leases that cannot be read refuse the commit while\n"
                  "hooks.lease_gate.fail_closed (the default).",
              .options = {{"agent", "NAME", "the agent committing (env KEEL_AGENT)"}},
              .run = run_pre_commit},
          Command{
              .words = {"hook", "approvals"},
              .usage = "keel hook approvals [--session ID]",
              .summary = "list the approvals keel remembered (exact commands a person approved in a session)",
              .details =
                  "When keel asked about a shell command and the person approved it, the same exact\n"
                  "command, in the same directory, is not asked again for the rest of that agent\n"
                  "session (journaled as APPROVAL_REMEMBERED). Turn it off with\n"
                  "permission.remember_approvals: false.",
              .options = {{"session", "ID", "only this agent session's"}},
              .run = run_approvals},
          Command{
              .words = {"hook", "explain"},
              .usage = "keel hook explain [--cwd DIR] [--strict] '<command line>'",
              .summary = "show which permission rules match a shell command, in order, and the decision",
              .details =
                  "For each simple command the line runs (after unwrapping sudo, bash -c, xargs, ...):\n"
                  "the user rules of keel.jsonc's permission section that match it (the first one\n"
                  "decides, later ones are shadowed), the built-in catalog rule, and which of them\n"
                  "decided. The catalog is a floor: an allow rule does not loosen it unless it names\n"
                  "the catalog rule in \"overrides\". Allow rules that would cover catalog commands\n"
                  "are listed first as warnings. Opens no store.",
              .options = {{"cwd", "DIR", "the working directory of the command (default: the current one)"},
                          {"strict", "", "as keel hook --strict: deny what the parser cannot resolve"}},
              .run = run_explain},
          Command{
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
