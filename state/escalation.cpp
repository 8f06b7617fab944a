// keel/state/escalation.cpp — see escalation.h; also the to_string/parse
// functions of the escalation types declared in store.h.
#include "state/escalation.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include <boost/json.hpp>

#include "state/enum_names.h"

namespace keel::state {

std::string_view to_string(EscalationImpact impact) {
  return impact == EscalationImpact::kHigh ? "high" : "low";
}

std::string_view to_string(EscalationDecision decision) {
  static constexpr std::array<std::string_view, 3> kNames{"OVERRIDE", "MODIFY", "ABORT"};
  static_assert(static_cast<std::size_t>(EscalationDecision::kAbort) + 1 == kNames.size());
  return enum_name(decision, kNames, "ABORT");
}

std::string_view to_string(EscalationOutcome outcome) {
  return outcome == EscalationOutcome::kGranted ? "GRANTED" : "BUDGET_EXHAUSTED";
}

std::optional<EscalationDecision> parse_escalation_decision(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "override") return EscalationDecision::kOverride;
  if (lower == "modify") return EscalationDecision::kModify;
  if (lower == "abort") return EscalationDecision::kAbort;
  return std::nullopt;
}

namespace escalation {

namespace {
// Refill arithmetic is in doubles; a level this close below a whole token
// counts as one, so that rounding never makes an agent wait a millisecond
// longer than the budget says.
constexpr double kEpsilon = 1e-9;
}  // namespace

BucketLevel refill(const BucketLevel& level, std::int64_t now_ms, const EscalationBudget& budget) {
  const double capacity = static_cast<double>(budget.capacity);
  const std::int64_t elapsed = std::max<std::int64_t>(0, now_ms - level.at_ms);
  double tokens = level.tokens + static_cast<double>(elapsed) * capacity /
                                     static_cast<double>(budget.refill_ms);
  tokens = std::clamp(tokens, 0.0, capacity);
  return BucketLevel{tokens, now_ms};
}

BucketLevel full(const EscalationBudget& budget, std::int64_t now_ms) {
  return BucketLevel{static_cast<double>(budget.capacity), now_ms};
}

bool has_token(const BucketLevel& level) { return level.tokens >= 1.0 - kEpsilon; }

std::int64_t retry_after_ms(const BucketLevel& level, const EscalationBudget& budget) {
  if (has_token(level)) return 0;
  const double missing = 1.0 - level.tokens;
  const double ms = missing * static_cast<double>(budget.refill_ms) /
                    static_cast<double>(budget.capacity);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(ms - kEpsilon)));
}

void validate(const EscalationRequest& r) {
  auto bad = [](const std::string& what) { throw StoreError(ErrorCode::kInvalidArgument, what); };
  if (r.reason.empty()) bad("reason must not be empty");
  if (r.reason.size() > kMaxReasonBytes) {
    bad("reason is longer than " + std::to_string(kMaxReasonBytes) + " bytes");
  }
  if (r.severity.size() > kMaxSeverityBytes) {
    bad("severity is longer than " + std::to_string(kMaxSeverityBytes) + " bytes");
  }
  if (boost::json::serialize(r.context).size() > kMaxJsonBytes) {
    bad("context is larger than " + std::to_string(kMaxJsonBytes) + " bytes of JSON");
  }
  if (boost::json::serialize(r.proposal).size() > kMaxJsonBytes) {
    bad("proposal is larger than " + std::to_string(kMaxJsonBytes) + " bytes of JSON");
  }
  if (r.request_id && (r.request_id->empty() || r.request_id->size() > kMaxRequestIdBytes)) {
    bad("request_id must be 1.." + std::to_string(kMaxRequestIdBytes) + " bytes");
  }
}

void validate(const EscalationBudget& budget, std::string_view what) {
  if (budget.capacity < 1 || budget.refill_ms < 1) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     std::string(what) + ": capacity and refill_ms must be at least 1");
  }
}

}  // namespace escalation
}  // namespace keel::state
