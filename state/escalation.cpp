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
namespace escalation {
namespace json = boost::json;

namespace {
constexpr std::size_t kMaxViaBytes = 64;
}  // namespace

void check_principal(const Principal& who) {
  if (who.agent.empty() || who.project.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "principal needs an agent and a project");
  }
}

void require_read(const Principal& who) {
  if (!who.can(caps::kEscalationRequest) && !who.can(caps::kEscalationResolve)) {
    throw StoreError(ErrorCode::kPermissionDenied,
                     "principal '" + who.agent + "' lacks the capability '" +
                         std::string(caps::kEscalationRequest) + "' (or '" +
                         std::string(caps::kEscalationResolve) + "')");
  }
}

StoreError not_found(std::int64_t id) {
  return StoreError(ErrorCode::kNotFound, "no escalation " + std::to_string(id) + " in this project");
}

EscalationBudget budget_of(const StoreOptions& options, const std::string& agent) {
  auto it = options.escalation_agent_budgets.find(agent);
  const EscalationBudget budget =
      it != options.escalation_agent_budgets.end() ? it->second : options.escalation_budget;
  validate(budget, "escalation budget of " + agent);
  return budget;
}

std::int64_t whole_tokens(const BucketLevel& level) {
  return static_cast<std::int64_t>(std::floor(level.tokens + 1e-9));
}

void spend(BucketLevel& level) { level.tokens = std::max(0.0, level.tokens - 1.0); }

json::object request_payload(const Principal& who, const EscalationRequest& request) {
  json::object payload{{"agent", who.agent},
                       {"reason", request.reason},
                       {"impact", to_string(request.impact)},
                       {"proposal", request.proposal},
                       {"context", request.context}};
  if (!request.severity.empty()) payload["severity"] = request.severity;
  if (request.request_id) payload["request_id"] = *request.request_id;
  return payload;
}

void refuse(EscalationRequestResult& out, json::object& payload, const BucketLevel& level,
            const EscalationBudget& budget) {
  out.outcome = EscalationOutcome::kBudgetExhausted;
  out.retry_after_ms = retry_after_ms(level, budget);
  out.tokens_left = 0;
  payload["outcome"] = to_string(out.outcome);
  payload["retry_after_ms"] = out.retry_after_ms;
  payload["capacity"] = budget.capacity;
  payload["refill_ms"] = budget.refill_ms;
}

void grant(EscalationRequestResult& out, json::object& payload, std::int64_t id,
           const BucketLevel& level) {
  out.outcome = EscalationOutcome::kGranted;
  out.tokens_left = whole_tokens(level);
  payload["id"] = id;
  payload["outcome"] = to_string(out.outcome);
  payload["tokens_left"] = out.tokens_left;
}

std::string check_resolve(const ResolveEscalationRequest& r) {
  const bool modify = r.decision == EscalationDecision::kModify;
  if (modify && (!r.proposal || r.proposal->is_null())) {
    throw StoreError(ErrorCode::kInvalidArgument, "MODIFY needs the modified proposal");
  }
  if (!modify && r.proposal) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "a proposal goes only with MODIFY, not " +
                         std::string(to_string(r.decision)));
  }
  if (r.proposal && json::serialize(*r.proposal).size() > kMaxJsonBytes) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "proposal is larger than " + std::to_string(kMaxJsonBytes) +
                         " bytes of JSON");
  }
  if (r.via.size() > kMaxViaBytes) {
    throw StoreError(ErrorCode::kInvalidArgument, "via is longer than 64 bytes");
  }
  return r.via.empty() ? "api" : r.via;
}

json::value resolved_proposal(const ResolveEscalationRequest& r, const Escalation& pending) {
  if (r.decision == EscalationDecision::kModify) return *r.proposal;
  return r.decision == EscalationDecision::kOverride ? pending.proposal : json::value(nullptr);
}

json::object resolve_payload(const ResolveEscalationRequest& r, const Escalation& pending,
                             const json::value& proposal, const std::string& via) {
  return json::object{{"id", r.id},
                      {"agent", pending.agent},
                      {"decision", to_string(r.decision)},
                      {"proposal", proposal},
                      {"via", via}};
}

json::value parse_stored(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(text) : v;
}

ListPage list_page(const EscalationListRequest& r) {
  ListPage page;
  page.limit = r.limit == 0 ? kDefaultPageSize : r.limit;
  if (page.limit < 1 || page.limit > kMaxPageSize) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "limit must be in [1, " + std::to_string(kMaxPageSize) + "]");
  }
  if (!r.cursor.empty()) {
    std::size_t used = 0;
    try {
      page.before = std::stoll(r.cursor, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != r.cursor.size() || page.before < 1) {
      throw StoreError(ErrorCode::kInvalidArgument, "cursor is not one keel returned");
    }
  }
  return page;
}

void finish_page(EscalationListResult& out, int limit) {
  if (out.escalations.size() > static_cast<std::size_t>(limit)) {
    out.escalations.pop_back();
    out.next_cursor = std::to_string(out.escalations.back().id);
  }
}

void check_wait_ms(std::int64_t wait_ms, std::int64_t max_wait_ms) {
  if (wait_ms < 0 || wait_ms > max_wait_ms) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "wait_ms must be in [0, " + std::to_string(max_wait_ms) + "], got " +
                         std::to_string(wait_ms));
  }
}

StoreError wait_cancelled(std::int64_t id) {
  return StoreError(ErrorCode::kCancelled,
                    "wait for escalation " + std::to_string(id) + " was cancelled");
}

}  // namespace escalation

}  // namespace keel::state
