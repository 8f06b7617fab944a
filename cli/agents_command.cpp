// keel agents ls|suspend|resume: the agents working on the project, and the
// human's brake on one that misbehaves.
#include <ctime>
#include <iostream>

#include <boost/json.hpp>

#include "cli/commands.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

std::string ago(std::int64_t now_ms, std::int64_t then_ms) {
  if (then_ms <= 0) return "-";
  std::int64_t s = (now_ms - then_ms) / 1000;
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 7200) return std::to_string(s / 60) + "m ago";
  if (s < 172800) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

json::object agent_json(const state::AgentInfo& a) {
  json::array leases;
  for (const auto& n : a.leases) leases.emplace_back(n);
  json::object o{{"name", a.name},          {"product", a.product},
                 {"host", a.host},          {"pid", a.pid},
                 {"session_id", a.session_id}, {"client", a.client},
                 {"started_at", a.started_at_ms}, {"last_seen", a.last_seen_ms},
                 {"status", state::to_string(a.status)}, {"leases", std::move(leases)}};
  if (!a.suspend_reason.empty()) o["reason"] = a.suspend_reason;
  return o;
}

std::int64_t now_ms() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

int run_ls(const Args& args, Workspace& ws) {
  ws.store().scavenge_dead_agents(ws.human());  // a gone agent holds nothing
  const auto agents = ws.store().list_agents(ws.human(), args.has("all"));
  if (args.has("json")) {
    json::array arr;
    for (const auto& a : agents) arr.push_back(agent_json(a));
    std::cout << json::serialize(json::object{{"agents", std::move(arr)}}) << "\n";
    return 0;
  }
  if (agents.empty()) {
    std::cout << (args.has("all") ? "no agents\n" : "no live agents (--all shows gone ones)\n");
    return 0;
  }
  const std::int64_t now = now_ms();
  for (const auto& a : agents) {
    std::cout << a.name << "  " << state::to_string(a.status);
    if (a.pid != 0) std::cout << "  pid " << a.pid << "@" << a.host;
    if (!a.session_id.empty()) std::cout << "  session " << a.session_id;
    std::cout << "  started " << ago(now, a.started_at_ms) << "  seen " << ago(now, a.last_seen_ms)
              << "  leases " << a.leases.size();
    for (const auto& n : a.leases) std::cout << " " << n;
    if (!a.suspend_reason.empty()) std::cout << "  (suspended: " << a.suspend_reason << ")";
    std::cout << "\n";
  }
  return 0;
}

const std::string& one_agent(const Args& args) {
  if (args.positionals().size() != 1) throw UsageError("name exactly one agent (keel agents ls)");
  return args.positionals()[0];
}

int run_suspend(const Args& args, Workspace& ws) {
  const std::string& name = one_agent(args);
  const std::string reason = args.get("reason").value_or("");
  if (reason.empty()) throw UsageError("--reason R is required: the agent is told why");
  const state::AgentInfo a = ws.store().suspend_agent(ws.human(), name, reason);
  std::cout << "suspended " << a.name << ": its tool calls are denied, its acquires refused"
            << " (keel agents resume " << a.name << " lifts it)\n";
  return 0;
}

int run_resume(const Args& args, Workspace& ws) {
  const state::AgentInfo a = ws.store().resume_agent(ws.human(), one_agent(args));
  std::cout << "resumed " << a.name << " (" << state::to_string(a.status) << ")\n";
  return 0;
}

}  // namespace

std::vector<Command> agents_commands() {
  return {
      Command{{"agents", "ls"}, "keel agents ls [--all] [--json]",
              "the agents working on the project: name, product, host, pid, session, leases",
              "An agent is one agent session (claude-code:<id>, codex:<id>, gemini:<id>), or a name\n"
              "given with --agent / KEEL_AGENT. Status: active, suspended, or gone (its process\n"
              "has exited; its leases were freed). Gone agents are listed with --all.",
              {{"all", "", "also gone agents"}, {"json", "", "print JSON"}},
              run_ls},
      Command{{"agents", "suspend"}, "keel agents suspend NAME --reason R",
              "stop an agent: release its leases, refuse its acquires, deny its tool calls",
              "Journaled as SUSPEND. Its hooks deny every tool call with the reason until\n"
              "`keel agents resume NAME`.",
              {{"reason", "R", "why (shown to the agent)"}}, run_suspend},
      Command{{"agents", "resume"}, "keel agents resume NAME",
              "lift an agent's suspension (journaled as RESUME)", "", {}, run_resume},
  };
}

}  // namespace keel::cli
