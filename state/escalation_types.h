// keel/state/escalation_types.h — the value types of escalations (Store::request_escalation and
// friends). Part of the Store contract (state/store.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace keel::state {

// ============================================================= Escalations
// Human-in-the-loop with a budget (architecture §4). An agent files an
// escalation (spending one token of its bucket); a human resolves it OVERRIDE
// (go ahead as proposed), MODIFY (go ahead with a modified proposal) or ABORT.
// Escalations live in the store: they survive restarts and are shared by every
// process on the state directory. Types here; the Store methods are in
// state/store.h.

// Journal ops of escalations (see Store::request_escalation / resolve).
namespace ops {
inline constexpr std::string_view kEscalate = "ESCALATE";                  // granted
inline constexpr std::string_view kEscalateRefused = "ESCALATE_REFUSED";   // budget
inline constexpr std::string_view kResolve = "RESOLVE";
}  // namespace ops

enum class EscalationImpact { kLow, kHigh };
enum class EscalationDecision { kOverride, kModify, kAbort };
// "low" | "high"; "OVERRIDE" | "MODIFY" | "ABORT" (stable, used on the wire).
std::string_view to_string(EscalationImpact impact);
std::string_view to_string(EscalationDecision decision);
// Case-insensitive "override" | "modify" | "abort"; nullopt for anything else.
std::optional<EscalationDecision> parse_escalation_decision(std::string_view text);

// One agent's token bucket: at most `capacity` tokens; an empty bucket refills
// continuously and is full again after `refill_ms` (default: 3 per hour, i.e.
// one token back every 20 minutes).
struct EscalationBudget {
  std::int64_t capacity = 3;          // ≥ 1
  std::int64_t refill_ms = 3'600'000;  // ≥ 1

  bool operator==(const EscalationBudget&) const = default;
};

struct EscalationRequest {
  std::string reason;                    // non-empty, ≤ 4 KiB
  boost::json::value context;            // any JSON (serialized ≤ 64 KiB)
  boost::json::value proposal;           // what the agent wants to do (≤ 64 KiB)
  EscalationImpact impact = EscalationImpact::kLow;
  std::string severity;                  // free label, "" when none (≤ 64 bytes)
  std::optional<std::string> request_id;  // 1..256 bytes; a retry with the same id
                                          // returns the first grant, spending nothing
};

struct Escalation {
  std::int64_t id = 0;  // unique in the store, never reused
  std::string project;
  std::string agent;    // who filed it
  std::string reason;
  boost::json::value context;
  boost::json::value proposal;
  EscalationImpact impact = EscalationImpact::kLow;
  std::string severity;
  std::optional<std::string> request_id;
  std::int64_t created_at_ms = 0;

  bool resolved = false;
  std::optional<EscalationDecision> decision;  // when resolved
  // What the agent may do now: OVERRIDE → the original proposal, MODIFY → the
  // human's proposal, ABORT → null.
  boost::json::value resolved_proposal;
  std::string resolver;      // Principal::agent of the human
  std::string resolved_via;  // "cli" | "http" | "tool" | "elicitation" | "mrtr" | ...
  std::int64_t resolved_at_ms = 0;
};

enum class EscalationOutcome { kGranted, kBudgetExhausted };
std::string_view to_string(EscalationOutcome outcome);  // "GRANTED" | "BUDGET_EXHAUSTED"

struct EscalationRequestResult {
  EscalationOutcome outcome = EscalationOutcome::kGranted;
  std::optional<Escalation> escalation;  // when granted (or replayed)
  std::int64_t retry_after_ms = 0;       // when exhausted: until the next token
  std::int64_t tokens_left = 0;          // whole tokens left after this call
  bool replayed = false;                 // answered from the request_id record
};

struct ResolveEscalationRequest {
  std::int64_t id = 0;
  EscalationDecision decision = EscalationDecision::kOverride;
  // Required for MODIFY (any JSON value but null), refused for the others.
  std::optional<boost::json::value> proposal;
  std::string via;  // journaled: through what the human answered ("cli"...)
};

struct ResolveEscalationResult {
  // false: someone resolved it first (a CONFLICT for the caller to report);
  // `escalation` then shows the winning resolution, unchanged by this call.
  bool resolved = false;
  Escalation escalation;
};

struct EscalationListRequest {
  std::optional<bool> resolved;  // nullopt: pending and resolved
  std::string cursor;            // from a previous result; "" from the newest
  int limit = 0;                 // 0: 50; at most 500
};

struct EscalationListResult {
  std::vector<Escalation> escalations;  // newest first
  std::string next_cursor;              // "" when no more
};
// ========================================================= end Escalations

}  // namespace keel::state
