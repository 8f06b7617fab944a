// keel/state/escalation.h — backend-independent rules of escalations: the
// token bucket arithmetic and the limits on what an escalation may carry.
// Every backend applies them inside the transaction that spends the token.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "state/escalation_types.h"
#include "state/principal.h"
#include "state/store_options.h"

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

// --- rules every backend's escalation calls share (errors: StoreError) ---

// kInvalidArgument unless the principal has an agent and a project.
void check_principal(const Principal& who);
// kPermissionDenied unless it may request or resolve escalations.
void require_read(const Principal& who);
// The kNotFound error for escalation `id`.
StoreError not_found(std::int64_t id);

// The agent's budget (its own, else the default), validated.
EscalationBudget budget_of(const StoreOptions& options, const std::string& agent);

// The whole tokens a level holds (reported as tokens_left).
std::int64_t whole_tokens(const BucketLevel& level);
// Spends one token (never below 0).
void spend(BucketLevel& level);

// The journal payload of a request, before its outcome is known.
boost::json::object request_payload(const Principal& who, const EscalationRequest& request);
// Sets `out` and `payload` for a request refused for want of a token.
void refuse(EscalationRequestResult& out, boost::json::object& payload, const BucketLevel& level,
            const EscalationBudget& budget);
// Sets `out` (but not out.escalation) and `payload` for a granted request
// that created escalation `id`; `level` is after the spend.
void grant(EscalationRequestResult& out, boost::json::object& payload, std::int64_t id,
           const BucketLevel& level);

// Validates a resolution's decision, proposal and via (kInvalidArgument);
// returns the via to record ("api" when empty).
std::string check_resolve(const ResolveEscalationRequest& r);
// The proposal a resolution records: MODIFY's own, OVERRIDE's the pending
// one, ABORT's null.
boost::json::value resolved_proposal(const ResolveEscalationRequest& r, const Escalation& pending);
boost::json::object resolve_payload(const ResolveEscalationRequest& r, const Escalation& pending,
                                    const boost::json::value& proposal, const std::string& via);

// A stored JSON column: its value, or the text itself when it does not parse
// (a row edited by hand).
boost::json::value parse_stored(const std::string& text);

// A list request's page: at most `limit` rows with id < `before`.
struct ListPage {
  int limit = kDefaultPageSize;
  std::int64_t before = INT64_MAX;
};
// kInvalidArgument for a limit outside [1, kMaxPageSize] or a foreign cursor.
ListPage list_page(const EscalationListRequest& r);
// `out` holds up to limit + 1 rows: trims to `limit` and sets next_cursor.
void finish_page(EscalationListResult& out, int limit);

// kInvalidArgument unless wait_ms is in [0, max_wait_ms].
void check_wait_ms(std::int64_t wait_ms, std::int64_t max_wait_ms);
// The kCancelled error of a wait for escalation `id`.
StoreError wait_cancelled(std::int64_t id);

}  // namespace keel::state::escalation
