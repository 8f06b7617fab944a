// keel/state/principal.h — who calls the Store (Principal, capabilities) and how it refuses
// (ErrorCode, StoreError, CancelCheck). Part of the Store contract (state/store.h).
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "state/agent_identity.h"

namespace keel::state {

// ---------------------------------------------------------------- identity

// Capability names (architecture §3). A Principal may do what its set names.
namespace caps {
inline constexpr std::string_view kLease = "lease";
inline constexpr std::string_view kLeaseForce = "lease.force";
inline constexpr std::string_view kMemorySession = "memory.session";
inline constexpr std::string_view kMemoryCrossRun = "memory.cross_run";
inline constexpr std::string_view kMemoryShared = "memory.shared";
inline constexpr std::string_view kJournalRead = "journal.read";
inline constexpr std::string_view kJournalAdmin = "journal.admin";
inline constexpr std::string_view kEscalationRequest = "escalation.request";
inline constexpr std::string_view kEscalationResolve = "escalation.resolve";
inline constexpr std::string_view kFanout = "fanout";
inline constexpr std::string_view kFanoutCommand = "fanout.command";
inline constexpr std::string_view kAgentAdmin = "agent.admin";  // suspend / resume agents
}  // namespace caps

// Every capability keel knows, in a stable order.
const std::vector<std::string>& all_capabilities();
// What a local agent gets by default: all but lease.force, journal.admin,
// escalation.resolve and agent.admin.
std::set<std::string> default_agent_capabilities();

// Who is calling. `agent` names the holder of leases and owns the memory
// namespace "agent:<agent>". `project` is the absolute project root; every
// lease, key and journal record carries it. `session_id` scopes the session
// memory tier (empty: the caller has no session, e.g. the CLI).
struct Principal {
  std::string agent;
  std::string project;
  std::string session_id;
  std::set<std::string> capabilities;
  // The agent's process when keel knows it (state/agent_identity.h): the store
  // records it with the agent, and frees the agent's holds once that process
  // is gone (SCAVENGE). nullopt: a name given by hand, a remote caller, the
  // CLI — their holds live by TTL and heartbeats.
  std::optional<AgentAnchor> anchor = std::nullopt;

  bool can(std::string_view capability) const {
    return capabilities.count(std::string(capability)) != 0;
  }
};

// ------------------------------------------------------------------ errors

enum class ErrorCode {
  kInvalidArgument,   // malformed name, negative TTL, oversize value...
  kPermissionDenied,  // the principal lacks a capability, or is not the holder
  kNotFound,          // no such lease / key
  kVersionMismatch,   // compare-and-set lost: expected_version differs
  kStaleFence,        // fence token is not the live lease's token, or is older
                      // than one the key already accepted
  kExpired,           // renew of a lease whose TTL has run out
  kTooLarge,          // value or key beyond the configured limit
  kBusy,              // the store stayed locked past the busy timeout
  kCancelled,         // the caller's CancelCheck said stop
  kInternal,          // anything else (I/O error, corrupt database)
};

// "INVALID_ARGUMENT", "PERMISSION_DENIED", ... (stable, used on the wire).
std::string_view to_string(ErrorCode code);

class StoreError : public std::runtime_error {
 public:
  // outcome_unknown: the change may or may not have been made — the
  // connection to a PostgreSQL store broke after COMMIT was sent, and the
  // database could not be asked in time what became of it. A caller must
  // not take the call for one that did nothing (tools keep its request_id
  // claimed, so a retry does not run it a second time at once).
  StoreError(ErrorCode code, const std::string& message, bool outcome_unknown = false)
      : std::runtime_error(message), code_(code), outcome_unknown_(outcome_unknown) {}
  ErrorCode code() const { return code_; }
  bool outcome_unknown() const { return outcome_unknown_; }

 private:
  ErrorCode code_;
  bool outcome_unknown_;
};

// Polled by long waits (lease wait_ms); returning true abandons the wait with
// ErrorCode::kCancelled. Must be cheap and thread-safe.
using CancelCheck = std::function<bool()>;

}  // namespace keel::state
