// agent_list, agent_heartbeat, agent_suspend, agent_resume, lease_adopt: the
// agent registry and agent liveness. The rules live in state/ (Store).
#include <boost/json.hpp>

#include "state/lease_name.h"
#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

// The store's caps (bytes) on an agent's name and on a suspension's reason.
constexpr auto kMaxAgentNameBytes = static_cast<std::int64_t>(state::kMaxAgentNameBytes);
constexpr auto kMaxSuspendReasonBytes = static_cast<std::int64_t>(state::kMaxSuspendReasonBytes);

// An agent as the tools show it. Every field but reason is always there; the
// schema has always promised only name, status and leases.
struct AgentOut {
  std::string name{};
  std::optional<std::string> product{};
  std::optional<std::string> host{};
  std::optional<std::int64_t> pid{};
  std::optional<std::string> session_id{};
  std::optional<std::string> client{};
  std::optional<std::int64_t> started_at{};
  std::optional<std::int64_t> last_seen{};
  state::AgentStatus status = state::AgentStatus::kActive;
  std::optional<std::string> reason{};
  std::vector<std::string> leases{};
  static constexpr wire::Doc docs[] = {
      {.name = "product", .description = "claude-code, codex, gemini ...; empty when unknown"},
      {.name = "pid", .description = "the agent's process; 0 when keel does not know it"}};

  static AgentOut of(const state::AgentInfo& a) {
    AgentOut o{a.name,   a.product,       a.host,         a.pid,    a.session_id, a.client,
               a.started_at_ms, a.last_seen_ms, a.status, std::nullopt, a.leases};
    if (!a.suspend_reason.empty()) o.reason = a.suspend_reason;
    return o;
  }
};
BOOST_DESCRIBE_STRUCT(AgentOut, (),
                      (name, product, host, pid, session_id, client, started_at, last_seen, status,
                       reason, leases))

std::string agent_line(const state::AgentInfo& a) {
  std::string line = a.name + "  " + std::string(state::to_string(a.status));
  if (a.pid != 0) line += "  pid " + std::to_string(a.pid) + "@" + a.host;
  line += "  leases " + std::to_string(a.leases.size());
  for (const auto& n : a.leases) line += " " + n;
  if (!a.suspend_reason.empty()) line += "  (suspended: " + a.suspend_reason + ")";
  return line + "\n";
}

struct ListArgs {
  bool include_gone = false;
  static constexpr wire::Doc docs[] = {{.name = "include_gone", .show_default = true}};
};
BOOST_DESCRIBE_STRUCT(ListArgs, (), (include_gone))

struct ListOut {
  std::vector<AgentOut> agents{};
};
BOOST_DESCRIBE_STRUCT(ListOut, (), (agents))

struct HeartbeatOut {
  std::vector<LeaseOut> renewed{};
  std::int64_t at = 0;
};
BOOST_DESCRIBE_STRUCT(HeartbeatOut, (), (renewed, at))

constexpr wire::Doc kAgentNameDoc{.name = "name", .min_length = 1, .max_length = kMaxAgentNameBytes};

struct SuspendArgs {
  std::string name{};
  std::string reason{};
  static constexpr wire::Doc docs[] = {
      kAgentNameDoc, {.name = "reason", .min_length = 1, .max_length = kMaxSuspendReasonBytes}};
};
BOOST_DESCRIBE_STRUCT(SuspendArgs, (), (name, reason))

struct ResumeArgs {
  std::string name{};
  static constexpr wire::Doc docs[] = {kAgentNameDoc};
};
BOOST_DESCRIBE_STRUCT(ResumeArgs, (), (name))

struct AdoptArgs {
  std::string name{};
  std::optional<std::string> lease_id{};
  std::string to{};
  static constexpr wire::Doc docs[] = {
      {.name = "name", .min_length = 1, .max_length = state::kMaxLeaseNameBytes},
      {.name = "to",
       .description = "the agent that gets the lease, as agent_list names it",
       .min_length = 1,
       .max_length = kMaxAgentNameBytes}};
};
BOOST_DESCRIBE_STRUCT(AdoptArgs, (), (name, lease_id, to))

}  // namespace

void register_agent_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<ListArgs, ListOut>(
      {.name = "agent_list",
       .title = "List agents",
       .description =
           "The agents working on this project: name, product, host, pid, session, when "
           "started and last seen, status (active, suspended, gone) and the leases each "
           "holds. Gone agents only with include_gone.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const ListArgs& args, const mcp::CallContext& ctx) {
        auto agents = env->store->list_agents(env->principal(ctx), args.include_gone);
        return Reply<ListOut>{{map_to<AgentOut>(agents, AgentOut::of)},
                              lines_of(agents, agent_line, "no agents\n")};
      }));

  registry.add(declare_tool<NoArgs, HeartbeatOut>(
      {.name = "agent_heartbeat",
       .title = "Prove you are alive",
       .description =
           "Renew every lease you hold by its TTL and record that you are alive. An agent "
           "on another machine (over HTTP) calls it well within its leases' TTL; an agent "
           "on this machine needs none: keel sees its process.",
       .annotations = {.read_only = false, .destructive = false, .idempotent = true}},
      [env](const NoArgs&, const mcp::CallContext& ctx) {
        auto r = env->store->heartbeat(env->principal(ctx));
        return Reply<HeartbeatOut>{{leases_out(r.renewed), r.at_ms},
                                   "renewed " + std::to_string(r.renewed.size()) + " lease(s)"};
      }));

  registry.add(declare_tool<SuspendArgs, AgentOut>(
      {.name = "agent_suspend",
       .title = "Suspend an agent",
       .description =
           "Stop an agent that misbehaves: its leases are released, its acquires refused "
           "and its hooks deny every tool call with the reason, until agent_resume. Needs "
           "the agent.admin capability.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = true}},
      [env](const SuspendArgs& args, const mcp::CallContext& ctx) {
        auto a = env->store->suspend_agent(env->principal(ctx), args.name, args.reason);
        return Reply<AgentOut>{AgentOut::of(a), "suspended " + agent_line(a)};
      }));

  registry.add(declare_tool<ResumeArgs, AgentOut>(
      {.name = "agent_resume",
       .title = "Resume an agent",
       .description = "Lift an agent's suspension. Needs the agent.admin capability.",
       .annotations = {.read_only = false, .destructive = false, .idempotent = true}},
      [env](const ResumeArgs& args, const mcp::CallContext& ctx) {
        auto a = env->store->resume_agent(env->principal(ctx), args.name);
        return Reply<AgentOut>{AgentOut::of(a), "resumed " + agent_line(a)};
      }));

  registry.add(declare_tool<AdoptArgs, LeaseOut>(
      {.name = "lease_adopt",
       .title = "Move a lease to another agent",
       .description =
           "Give a live lease (by lease_id, or the only hold on name) to another agent of "
           "the project, with a new, higher fencing token: the old holder's fenced writes "
           "are refused from then on. Needs the lease.force capability.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = false}},
      [env](const AdoptArgs& args, const mcp::CallContext& ctx) {
        auto l = env->store->adopt_lease(env->principal(ctx), args.name,
                                         args.lease_id.value_or(""), args.to);
        LeaseOut out = LeaseOut::of(l);
        std::string text = "adopted: " + l.name + " now held by " + l.holder + " with token " +
                           std::to_string(l.token) + "\n" + json::serialize(wire::encode(out));
        return Reply<LeaseOut>{std::move(out), std::move(text)};
      }));
}

}  // namespace keel::tools
