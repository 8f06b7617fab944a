// keel/state/store.cpp — the backend-independent parts of store.h.
#include "state/store.h"

namespace keel::state {

const std::vector<std::string>& all_capabilities() {
  static const std::vector<std::string> kAll = {
      std::string(caps::kLease),           std::string(caps::kLeaseForce),
      std::string(caps::kMemorySession),   std::string(caps::kMemoryCrossRun),
      std::string(caps::kMemoryShared),    std::string(caps::kJournalRead),
      std::string(caps::kJournalAdmin),    std::string(caps::kEscalationRequest),
      std::string(caps::kEscalationResolve), std::string(caps::kFanout),
      std::string(caps::kFanoutCommand),   std::string(caps::kAgentAdmin)};
  return kAll;
}

std::set<std::string> default_agent_capabilities() {
  std::set<std::string> out(all_capabilities().begin(), all_capabilities().end());
  out.erase(std::string(caps::kLeaseForce));
  out.erase(std::string(caps::kJournalAdmin));
  out.erase(std::string(caps::kEscalationResolve));
  out.erase(std::string(caps::kAgentAdmin));
  return out;
}

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode::kPermissionDenied: return "PERMISSION_DENIED";
    case ErrorCode::kNotFound: return "NOT_FOUND";
    case ErrorCode::kVersionMismatch: return "VERSION_MISMATCH";
    case ErrorCode::kStaleFence: return "STALE_FENCE";
    case ErrorCode::kExpired: return "EXPIRED";
    case ErrorCode::kTooLarge: return "TOO_LARGE";
    case ErrorCode::kBusy: return "BUSY";
    case ErrorCode::kCancelled: return "CANCELLED";
    case ErrorCode::kInternal: return "INTERNAL";
  }
  return "INTERNAL";
}

std::string_view to_string(LeaseMode mode) {
  return mode == LeaseMode::kShared ? "shared" : "exclusive";
}

std::string_view to_string(ReleaseOutcome outcome) {
  switch (outcome) {
    case ReleaseOutcome::kReleased: return "released";
    case ReleaseOutcome::kAlreadyReleased: return "already_released";
    case ReleaseOutcome::kExpired: return "expired";
  }
  return "released";
}

std::string_view to_string(Tier tier) {
  return tier == Tier::kSession ? "session" : "cross_run";
}

std::string_view to_string(Namespace ns) {
  return ns == Namespace::kShared ? "shared" : "own";
}

}  // namespace keel::state
