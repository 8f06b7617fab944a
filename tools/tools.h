// keel/tools/tools.h — keel's coordination primitives as MCP tools.
//
// Each primitive has one file (lease_tools.cpp, memory_tools.cpp,
// journal_tools.cpp) holding its JSON Schemas, argument decoding, the call
// into state::Store and the shaping of the result. The files are thin on
// purpose: every rule lives in state/.
//
// Thread safety: the registered handlers are called concurrently by the MCP
// server; they share only the Store (thread-safe) and the resolver.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "mcp/tool.h"
#include "state/store.h"

namespace keel::tools {

// Maps the caller of one MCP request to the principal the store acts for.
// Must be thread-safe.
using PrincipalResolver =
    std::function<state::Principal(const mcp::CallContext& ctx)>;

// Limits of fanout_run (config section "fanout"); see configs/keel.jsonc.
struct FanoutLimits {
  std::int64_t max_branches = 1'000'000;      // per run, explicit or generated
  int max_concurrency = 32;                   // branches running at once, per run
  int default_concurrency = 8;                // when the call gives none
  std::int64_t default_branch_timeout_ms = 60'000;
  std::int64_t max_branch_timeout_ms = 3'600'000;
  std::int64_t max_wall_ms = 24LL * 3'600'000;  // budget.wall_ms cap and default
  int max_results = 1000;                     // per-branch entries a result lists
  std::int64_t max_output_bytes = 1 << 20;    // stdout kept per command branch
  std::int64_t kill_grace_ms = 50;            // SIGTERM -> SIGKILL of a command's group
  int max_attempts = 10;                      // retry.max_attempts cap
  int recent_runs = 32;                       // finished runs fanout_status remembers
};

// Decides whether fanout_run may run a command branch (the cli wires it to the
// hook layer's permission gate). Called concurrently: must be thread-safe.
struct CommandVerdict {
  bool allowed = true;
  std::string reason;   // why not (shown in the branch's error)
  std::string rule_id;  // the rule that decided, when known
};
using CommandGate = std::function<CommandVerdict(
    const state::Principal& who, const std::vector<std::string>& argv, const std::string& cwd)>;

// Files an escalation for `who` (fanout_run on_error "escalate"). `request` is
// escalation_request's arguments {reason, context (object), proposal (object),
// impact: "low"}; returns its result {outcome, id?, retry_after_ms?}. Throws on
// failure. Must be thread-safe.
using EscalationFiler = std::function<boost::json::object(const state::Principal& who,
                                                           const boost::json::object& request)>;

struct ToolEnv {
  state::Store* store = nullptr;  // not owned; outlives the registry
  PrincipalResolver principal;
  std::int64_t lease_default_ttl_ms = 60'000;

  // --- fanout (tools/fanout_*) ---
  // The registry fanout_run's tool branches are looked up in (the one these
  // tools are registered in); not owned, outlives it. Null: no tool branches.
  const mcp::ToolRegistry* registry = nullptr;
  FanoutLimits fanout{};
  CommandGate command_gate{};       // null: every command allowed
  EscalationFiler escalate{};       // null: on_error "escalate" reports "escalation unavailable"
};

// lease_acquire, lease_renew, lease_list (tools/lease_tools.cpp); it also
// registers lease_release, lease_request_release and lease_downgrade
// (tools/lease_team_tools.cpp: register_lease_team_tools).
void register_lease_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);
void register_lease_team_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);
void register_memory_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);
void register_journal_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);
// escalation_request/status/list/resolve (tools/escalation_tools.cpp).
void register_escalation_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);
// agent_list/heartbeat/suspend/resume and lease_adopt (tools/agent_tools.cpp).
void register_agent_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);

// Shapes of escalations shared by the tools, `keel escalation` and the HTTP
// endpoint: the JSON object, a one-line rendering, and the message of a lost
// resolution race (CONFLICT).
boost::json::object escalation_json(const state::Escalation& escalation);
std::string escalation_line(const state::Escalation& escalation);
std::string conflict_message(const state::Escalation& winner);
// An EscalationFiler over `store` (not owned; must outlive the filer): files
// through Store::request_escalation, so it spends `who`'s budget and is
// journaled like escalation_request. Bad arguments throw StoreError.
EscalationFiler make_escalation_filer(state::Store* store);
// fanout_run, fanout_status, fanout_cancel (tools/fanout_tools.cpp). Set
// env->registry first (to this registry) for tool branches.
void register_fanout_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);

// All of the above, in the order tools/list shows them. Sets
// idempotency_decorator (tools/tool_idempotency.h) first: every tool that
// changes state takes request_id.
void register_all(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);

}  // namespace keel::tools
