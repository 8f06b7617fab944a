// keel/state/request_types.h — idempotent tool calls: a request_id bound to
// the hash of a call's canonical arguments, and the first result replayed to
// a retry (Store::claim_request and friends). Part of the Store contract
// (state/store.h).
#pragma once

#include <cstdint>
#include <string>

namespace keel::state {

inline constexpr std::size_t kMaxRequestIdBytes = 128;

// What claim_request found for (project, agent, tool, request_id).
struct RequestClaim {
  enum class Status {
    kNew,       // nobody claimed it (or its claim was stale): the caller
                // runs the call, then completes (or abandons) the claim
                // with claim_id
    kReplay,    // done before with the same arguments: result_json is the
                // first result, to return as it is
    kMismatch,  // claimed before with other arguments (kInvalidArgument to
                // the caller)
    kInFlight,  // claimed, same arguments, not completed yet and not stale:
                // another call with this id is running (kConflict / retry)
  };
  Status status = Status::kNew;
  std::string result_json;        // kReplay
  std::int64_t claimed_at_ms = 0; // kReplay / kInFlight
  // kNew: this claim's owner token (random hex). complete_request and
  // abandon_request act only on a row that still carries it, so a call whose
  // stale claim was taken over by a retry cannot complete or drop the
  // retry's claim.
  std::string claim_id{};
};

}  // namespace keel::state
