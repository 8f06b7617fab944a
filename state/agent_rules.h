// keel/state/agent_rules.h — the backend-neutral rules of the agent registry
// (register / heartbeat / adopt / suspend / resume / scavenge), shared by
// state/sqlite_store_agents.cpp and state/postgres/pg_store_agents.cpp:
// name and reason checks, the refusals with their texts, the journal
// payloads. SQL stays in the backends.
//
// Errors: StoreError with the codes and texts documented in state/store.h;
// both backends must give the same ones, which is why they live here.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "state/store.h"

namespace keel::state::agent_rules {

// The status stored as text ("active" | "suspended" | "gone"; anything else
// reads as active).
AgentStatus parse_status(std::string_view s);

// kInvalidArgument unless 1..kMaxAgentNameBytes bytes.
void validate_agent_name(std::string_view agent);
// kInvalidArgument unless 1..kMaxSuspendReasonBytes bytes.
void validate_suspend_reason(std::string_view reason);

// kNotFound: no agent `agent` in the project.
[[noreturn]] void throw_no_such_agent(std::string_view agent);
// kPermissionDenied: `agent` is suspended, for `reason`.
[[noreturn]] void throw_suspended(std::string_view agent, std::string_view reason);

// Why adopt_lease refused, decided inside its transaction.
enum class AdoptStatus { kOk, kNoLease, kAmbiguous, kNoAgent, kSuspended, kSame };
// Throws the refusal a non-kOk status stands for (kOk: kInternal); `name`
// is the normalized lease name.
[[noreturn]] void throw_adopt_refusal(AdoptStatus status, std::string_view name,
                                      std::string_view lease_id, std::string_view to);
// `l` handed to `to` with a new `token` at `now_ms` (a fresh TTL); returns
// the ADOPT payload (the lease, and "from": its former holder).
boost::json::object adopt(LeaseInfo& l, std::string_view to, std::int64_t token,
                          std::int64_t now_ms);

// {lease_id, name, token} of each lease (scavenge, suspend payloads).
boost::json::array lease_refs(const std::vector<LeaseInfo>& leases);
// The HEARTBEAT payload: {"leases": [{lease_id, name, expires_at}...]}.
boost::json::object heartbeat_payload(const std::vector<LeaseInfo>& renewed);
// The AGENT_START payload.
boost::json::object start_payload(std::string_view product, std::string_view host,
                                  std::int64_t pid, std::string_view session_id,
                                  std::string_view client);
// The SCAVENGE payload of dead agent `row` whose leases `dropped` were freed.
boost::json::object scavenge_payload(const AgentInfo& row, const std::vector<LeaseInfo>& dropped);
// The SUSPEND payload.
boost::json::object suspend_payload(std::string_view agent, std::string_view reason,
                                    const std::vector<LeaseInfo>& released);

}  // namespace keel::state::agent_rules
