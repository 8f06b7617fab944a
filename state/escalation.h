// keel/state/escalation.h — backend-independent rules of escalations: the
// token bucket arithmetic and the limits on what an escalation may carry.
// Every backend applies them inside the transaction that spends the token.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "state/escalation_types.h"
#include "state/principal.h"

namespace keel::state::escalation {

inline constexpr std::size_t kMaxReasonBytes = 4096;
inline constexpr std::size_t kMaxJsonBytes = 64 * 1024;  // context, proposal (serialized)
inline constexpr std::size_t kMaxSeverityBytes = 64;
inline constexpr std::size_t kMaxRequestIdBytes = 256;
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 500;

// A bucket's level: `tokens` (fractional) as of `at_ms`.
struct BucketLevel {
  double tokens = 0;
  std::int64_t at_ms = 0;
};

// The level at `now_ms` of a bucket that was at `level`: refilled by
// capacity/refill_ms per millisecond, capped at capacity. A level from the
// future (clock went back) is taken as of now. A bucket seen for the first
// time is full: call with full(budget, now_ms).
BucketLevel refill(const BucketLevel& level, std::int64_t now_ms, const EscalationBudget& budget);
BucketLevel full(const EscalationBudget& budget, std::int64_t now_ms);

// True when `level` holds a whole token (with a margin for rounding).
bool has_token(const BucketLevel& level);

// Milliseconds until `level` holds a whole token again (0 when it does).
std::int64_t retry_after_ms(const BucketLevel& level, const EscalationBudget& budget);

// Throws StoreError(kInvalidArgument) naming the field that breaks a limit.
void validate(const EscalationRequest& request);
void validate(const EscalationBudget& budget, std::string_view what);

}  // namespace keel::state::escalation
