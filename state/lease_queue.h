// keel/state/lease_queue.h — the fair queue of lease waiters and the
// all-or-nothing decision of one acquire attempt over several names, shared
// by state/sqlite_store_leases*.cpp and state/postgres/pg_store_leases*.cpp
// so that both backends decide identically. Pure: the backends read the
// rows (live leases after reaping, live waiter rows, capacities), call
// decide(), and on a grant write what grant() returns, in the same
// transaction.
//
// Queue (table lease_waiters, not journaled): a waiter's rank is
// rank_ms = enqueued_at_ms - priority * kLeasePriorityStepMs, ties broken by
// the insertion sequence `seq`. A request R is blocked by a live waiter W
// (other than R's own row) ranked before R when they conflict on a pair of
// names: the names overlap and either side is exclusive or the name is
// counted. A request without a row ranks at now - priority * step, after
// every waiter of equal rank.
//
// Errors: none thrown by decide()/grant(); names_from_json throws
// StoreError(kInternal) on a malformed row. Thread safety: pure functions
// (new_waiter draws its id from a per-thread generator).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "state/lease_name.h"
#include "state/lease_rules.h"
#include "state/lease_types.h"

namespace keel::state::lease_queue {

using lease_rules::Capacities;

// A lease_waiters row as the decision needs it.
struct QueuedWaiter {
  LeaseWaiter waiter;
  std::int64_t seq = 0;             // insertion order (ties of rank)
  std::int64_t alive_until_ms = 0;  // the row is dead (ignored) at or after this
};

// enqueued_at_ms - priority * kLeasePriorityStepMs.
std::int64_t rank_ms(std::int64_t enqueued_at_ms, int priority);
// now + kLeaseWaiterLivenessMs: a row's alive_until, set on insert and on
// every later attempt.
std::int64_t alive_until(std::int64_t now_ms);
// The caller's new waiter row (waiter_id "w_" + 32 hex, names canonical,
// mode/units/priority from the request, enqueued now, rank). The backend
// assigns seq (ascending per store/project) and alive_until(now).
LeaseWaiter new_waiter(std::string_view agent, const std::vector<LeaseName>& names,
                       const AcquireRequest& request, std::int64_t now_ms);
// lease_waiters.names_json: a JSON array of the canonical names.
std::string names_to_json(const std::vector<std::string>& names);
std::vector<std::string> names_from_json(std::string_view json);

// (rank_ms, seq) order: the order waiters are served and shown.
bool ranked_before(const QueuedWaiter& a, const QueuedWaiter& b);
void sort_waiters(std::vector<QueuedWaiter>& waiters);
// True when some name of `a` and some name of `b` overlap and either mode is
// exclusive or the (overlapping) name is counted (in `counted`).
bool requests_conflict(const std::vector<std::string>& a_names, LeaseMode a_mode,
                       const std::vector<std::string>& b_names, LeaseMode b_mode,
                       const Capacities& counted);

// What an attempt does with each name when it is granted.
enum class Step {
  kReuse,    // the caller's live hold already answers it (already_held)
  kNew,      // a new lease
  kUpgrade,  // the caller's only hold there, shared, becomes exclusive
};
struct NamePlan {
  std::string name;  // canonical
  Step step = Step::kNew;
  LeaseInfo held;    // kReuse / kUpgrade: the caller's lease as it stands
  std::optional<std::int64_t> capacity;  // set on counted names
};

// One attempt's outcome. granted: `plan` has one entry per name in
// canonical order. Else `refusal` with its details, nothing planned.
struct Decision {
  bool granted = false;
  std::vector<NamePlan> plan;
  LeaseRefusal refusal = LeaseRefusal::kNone;
  std::vector<LeaseInfo> holders;      // kHeld / kCapacity: the live holds in the way
  std::vector<LeaseCapacity> counted;  // kCapacity: the counted names short of units
  std::vector<LeaseWaiter> ahead;      // kQueued: the blocking waiters, by rank
  // Fencing tokens grant() consumes (kNew and kUpgrade steps).
  std::int64_t tokens_needed() const;
};

// Decides one attempt (points 1-4 of the design):
//  - own holds: a name the caller already holds answers itself (kReuse): on
//    a non-counted name a live hold on exactly it in the same mode or
//    exclusive; on a counted name a live hold with >= request.units units
//    (mode ignored). Reused names take nothing new and are not checked
//    against the queue or the holders.
//  - queue: `waiters` (live rows, any order; rows with alive_until <= now
//    are ignored) blocking the remaining names (see the file comment) ->
//    refusal kQueued, ahead = the blockers by rank. A waiter that the
//    caller's own live holds block (a non-counted overlap in conflicting
//    modes) does not block the caller: it cannot be served before the
//    caller releases, so waiting for it would deadlock (e.g. an upgrade of
//    the caller's shared hold while an exclusive waiter waits on it).
//  - then per name: other agents' live holds overlapping in conflicting
//    modes -> kHeld; a counted name where used (all live holds' units on it,
//    the caller's too) + units > capacity -> kCapacity; a request exclusive
//    where the caller's hold on exactly the name is shared -> kUpgrade;
//    else kNew. Any name refused: nothing granted; holders and counted
//    list every name's problems; refusal kHeld when some name is held,
//    else kCapacity.
// `names` canonical (lease_rules::canonical_names), `live` the project's
// live leases (expires_at > now), `counted` from resolve_capacities,
// `own_waiter_id` the caller's row when it has one (empty: none).
Decision decide(std::string_view agent, const AcquireRequest& request,
                const std::vector<LeaseName>& names, std::int64_t now_ms,
                const std::vector<LeaseInfo>& live, const std::vector<QueuedWaiter>& waiters,
                const Capacities& counted, std::string_view own_waiter_id = {});

// One journal record to append: op, subject (the lease name), payload.
struct JournalEntry {
  std::string_view op;
  std::string subject;
  boost::json::object payload;
};

// What a granted decision writes, in canonical order.
struct Grant {
  std::vector<LeaseInfo> leases;    // the result's leases (one per name)
  std::vector<LeaseInfo> inserted;  // kNew: rows to INSERT
  // kUpgrade: rows to UPDATE by lease_id (mode, token, ttl_ms, expires_at;
  // acquired_at, units, group_id unchanged).
  std::vector<LeaseInfo> upgraded;
  std::vector<JournalEntry> records;  // ACQUIRE per new lease, UPGRADE per upgrade
  bool already_held = false;          // every step was kReuse
  // The AcquireResult to return (granted, lease = leases[0], leases,
  // already_held, upgraded).
  AcquireResult result() const;
};
// Builds the grant of `decision` (granted). New leases get tokens
// first_token, first_token + 1, ... in canonical order (upgrades too), all
// new leases share `group_id`, units = request.units; an upgrade gets mode
// exclusive, a new token, ttl_ms = request.ttl_ms, expires_at = now + ttl.
// The backend then sets its next token to first_token +
// decision.tokens_needed().
Grant grant(const Decision& decision, std::string_view agent, const AcquireRequest& request,
            std::int64_t first_token, std::int64_t now_ms, std::string_view group_id);

// The AcquireResult of a refused decision (not granted; refusal, holders,
// counted, ahead). timed_out / waited_ms are the waiting loop's to set.
AcquireResult refusal_result(const Decision& decision);

}  // namespace keel::state::lease_queue
