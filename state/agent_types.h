// keel/state/agent_types.h — the value types of the agent registry and liveness
// (Store::register_agent and friends). Part of the Store contract (state/store.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "state/lease_types.h"

namespace keel::state {

// An agent name is 1..kMaxAgentNameBytes bytes; a suspension's reason is
// 1..kMaxSuspendReasonBytes bytes.
inline constexpr std::size_t kMaxAgentNameBytes = 256;
inline constexpr std::size_t kMaxSuspendReasonBytes = 1024;

// ================================================================== Agents
// The agent registry and agent liveness (README "Agent identity and
// liveness"). An agent is a Principal::agent name in a project; when it has an
// anchor (its process), any keel process on that host can tell when it is
// gone, and frees its leases at once instead of at their TTL (SCAVENGE).

namespace ops {
inline constexpr std::string_view kAgentStart = "AGENT_START";  // first seen in the project
inline constexpr std::string_view kScavenge = "SCAVENGE";       // a dead holder's leases freed
inline constexpr std::string_view kHeartbeat = "HEARTBEAT";     // a holder proved it is alive
inline constexpr std::string_view kAdopt = "ADOPT";             // a lease moved to another agent
inline constexpr std::string_view kSuspend = "SUSPEND";         // an agent stopped by a human
inline constexpr std::string_view kResume = "RESUME";
}  // namespace ops

enum class AgentStatus { kActive, kSuspended, kGone };
std::string_view to_string(AgentStatus status);  // "active" | "suspended" | "gone"

struct AgentRegistration {
  std::string client;  // what it said it is: clientInfo name+version, a hook dialect
};

struct AgentInfo {
  std::string name;
  std::string project;
  std::string product;    // from the anchor; "" when unknown
  std::string host;       // the host name it was seen on ("" when remote or unknown)
  std::string host_key;   // ProcessTable::host_key() of that host ("" without anchor)
  std::int64_t pid = 0;   // 0 without anchor
  std::int64_t start_time = 0;
  std::string session_id;  // the last session id bound to it
  std::string client;
  std::int64_t started_at_ms = 0;
  std::int64_t last_seen_ms = 0;
  AgentStatus status = AgentStatus::kActive;  // kGone: its process is gone, or it was scavenged
  std::string suspend_reason;                 // when suspended
  std::vector<std::string> leases;            // names of its live leases
};

// One agent whose process was gone and whose holds were freed.
struct ScavengedAgent {
  std::string agent;
  std::int64_t pid = 0;
  std::string host;
  std::vector<std::string> names;  // the lease names freed
};

struct HeartbeatResult {
  std::vector<LeaseInfo> renewed;  // every live lease of the caller, renewed by its TTL
  std::int64_t at_ms = 0;
};
// ============================================================== end Agents

}  // namespace keel::state
