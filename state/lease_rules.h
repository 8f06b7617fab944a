// keel/state/lease_rules.h — the backend-neutral rules of leases (acquire /
// renew / release), shared by state/sqlite_store_leases.cpp and
// state/postgres/pg_store_leases*.cpp: argument checks, who is in the way of
// a request, the grant, the journal payloads and the refusals with their
// texts. SQL and waiting stay in the backends.
//
// The fair queue and the all-or-nothing decision over several names are in
// state/lease_queue.h.
//
// Errors: StoreError with the codes and texts documented in state/store.h;
// both backends must give the same ones, which is why they live here.
// Thread safety: pure functions (new_*_id draw from a per-thread generator).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "state/lease_name.h"
#include "state/store.h"

namespace keel::state::lease_rules {

// Counted names of one decision and their capacities (normalized name ->
// capacity). A name absent from the map is not counted.
using Capacities = std::map<std::string, std::int64_t, std::less<>>;

// caps::kLease (kPermissionDenied) and an agent name (kInvalidArgument).
void check_principal(const Principal& who);
// ttl_ms, wait_ms and request_id within their bounds; units >= 1; capacity
// >= 1 when given; priority in [kMinLeasePriority, kMaxLeasePriority]; at
// most kMaxLeaseNamesPerAcquire entries in names. Else kInvalidArgument.
// (Whether units fit the names' capacities needs the capacities: see
// resolve_capacities.)
void check_acquire(const AcquireRequest& request, const StoreOptions& options);
// The request's names, normalized (LeaseName::parse), duplicates dropped,
// sorted bytewise: the canonical order every decision walks. Exactly one of
// request.name / request.names must be given; request.capacity needs exactly
// one distinct name, a free one (not file:/dir:). kInvalidArgument otherwise.
std::vector<LeaseName> canonical_names(const AcquireRequest& request);
// The names as strings (for waiter rows, payloads).
std::vector<std::string> name_strings(const std::vector<LeaseName>& names);

// ------------------------------------------------------------ capacities

// The counted names among `names` with their capacities, and the
// declaration to store when this acquire declares one. For each name:
// options.lease_capacities wins, then `declared` (the project's table
// lease_capacities, name -> capacity, holding at least the rows of `names`),
// then request.capacity (a declaration). A request.capacity that differs
// from the capacity already fixed is kInvalidArgument ("capacity of
// slot:build is fixed at 4"). Then the units: 1..capacity on counted names
// (more could never be granted), exactly 1 on the others; kInvalidArgument
// otherwise. Only free names are ever counted.
struct ResolvedCapacities {
  Capacities counted;
  // Set when request.capacity declares a name not yet counted: the backend
  // inserts it into lease_capacities in the transaction that grants.
  std::optional<LeaseCapacity> declare;  // used is 0
};
ResolvedCapacities resolve_capacities(const std::vector<LeaseName>& names,
                                      const AcquireRequest& request,
                                      const StoreOptions& options,
                                      const std::map<std::string, std::int64_t>& declared);
// The units held on exactly `name` by the live leases (a counted name's
// "used").
std::int64_t used_units(const std::vector<LeaseInfo>& live, std::string_view name);

// ------------------------------------------------------------ idempotency

// The hash stored with a request_id (lease_requests.args_hash): hex SHA-256
// of the canonical JSON {"names":[canonical],"mode","ttl_ms","units",
// "capacity" (null when absent),"priority"}. reason and wait_ms are not part
// of it. Equal for equal arguments however the names were spelled/ordered.
std::string args_hash(const std::vector<LeaseName>& names, const AcquireRequest& request);
// kInvalidArgument "request_id <id> was first used with other arguments"
// when stored_hash differs from hash. An empty stored_hash (a row written
// before hashes existed) matches anything.
void check_request_args(std::string_view request_id, std::string_view stored_hash,
                        std::string_view hash);
// lease_requests.result_json: the grant's leases as a JSON array of
// lease_to_json objects. grant_from_json also reads the older single lease
// object; throws StoreError(kInternal) when malformed.
std::string grant_to_json(const std::vector<LeaseInfo>& leases);
std::vector<LeaseInfo> grant_from_json(std::string_view json);
// A request_id replay (point 6): `recorded` is the grant as recorded, `live`
// the project's live leases (after reaping), `tombstone(lease_id)` the
// outcome recorded for a lease that left the table ("released" |
// "expired" | ""). Every recorded lease still live and held by `agent`:
// granted, leases as they stand now, replay_status "granted". Else granted
// false, refusal kReleased, leases = recorded, replay_status "expired" when
// every recorded lease that is gone has an "expired" tombstone, else
// "released" (also when one moved to another agent). replayed is true.
AcquireResult replay_result(const std::vector<LeaseInfo>& recorded,
                            const std::vector<LeaseInfo>& live, std::string_view agent,
                            const std::function<std::string(std::string_view)>& tombstone);

// ------------------------------------------------------------ ids, groups, asks

// "g_" + 16 hex: the group_id shared by the leases of one acquire.
std::string new_group_id();
// "ask_" + 32 hex.
std::string new_ask_id();
// kInvalidArgument for an empty group_id.
void check_group_id(std::string_view group_id);
// kInvalidArgument for an empty reason or one over kMaxAskReasonBytes.
inline constexpr std::size_t kMaxAskReasonBytes = 1024;
void check_ask_reason(std::string_view reason);
// The agents other than `asker` holding a live lease on exactly `name`,
// sorted, each once: whom ask_release asks (empty: kNotFound, see
// no_one_to_ask).
std::vector<std::string> ask_targets(const std::vector<LeaseInfo>& live, std::string_view asker,
                                     std::string_view name);
StoreError no_one_to_ask(std::string_view name);

// The lease after a downgrade: shared, with `token`. (A shared lease is not
// downgraded: the backend returns it unchanged and journals nothing.)
LeaseInfo downgraded(const LeaseInfo& lease, std::int64_t token);
// The kCancelled error of an abandoned wait for `name`.
StoreError wait_cancelled(std::string_view name);

// The caller's live hold that already answers a request for `name` in
// `mode` (the same mode, or exclusive), or nullptr.
const LeaseInfo* already_held(const std::vector<LeaseInfo>& live, std::string_view agent,
                              std::string_view name, LeaseMode mode);
// The other holders' live leases that overlap `name` in a conflicting mode.
std::vector<LeaseInfo> in_the_way(const std::vector<LeaseInfo>& live, std::string_view agent,
                                  std::string_view name, LeaseMode mode);

// A new lease on `name` for `holder`, granted at `now_ms` with `token`.
LeaseInfo new_lease(std::string_view name, std::string_view holder,
                    const AcquireRequest& request, std::int64_t token, std::int64_t now_ms);

// Journal payloads.
// ACQUIRE: lease_to_json(lease) + reason, request_id; a counted name's
// record also carries "capacity".
boost::json::object acquire_payload(const LeaseInfo& lease, const AcquireRequest& request);
boost::json::object acquire_payload(const LeaseInfo& lease, const AcquireRequest& request,
                                    std::optional<std::int64_t> capacity);
// UPGRADE / DOWNGRADE: the lease as it stands after (as ADOPT's), which the
// fold puts in place of the lease with that id.
boost::json::object upgrade_payload(const LeaseInfo& lease);
boost::json::object downgrade_payload(const LeaseInfo& lease);
// ASK_RELEASE: {name, reason, holders: [agent...]}.
boost::json::object ask_release_payload(std::string_view name, std::string_view reason,
                                        const std::vector<std::string>& holders);
// REFUSE of a (multi-name) acquire: {name: names[0], names, mode, units,
// reason, wait_ms, refusal, holders, counted, ahead: [{waiter_id, agent}],
// timed_out, waited_ms}. `result` is the refusal being returned.
boost::json::object refuse_payload(const std::vector<LeaseName>& names,
                                   const AcquireRequest& request, const AcquireResult& result);
boost::json::object refuse_payload(std::string_view name, const AcquireRequest& request,
                                   const std::vector<LeaseInfo>& holders);
boost::json::object renew_payload(const LeaseInfo& lease);
boost::json::object release_payload(const LeaseInfo& lease, bool force);

// Why renew_lease refused, decided inside its transaction.
enum class RenewStatus { kOk, kNotFound, kExpired, kDenied };
// Throws the refusal a non-kOk status stands for (kOk: kInternal).
[[noreturn]] void throw_renew_refusal(RenewStatus status, std::string_view lease_id,
                                      std::string_view name);

// Why release_lease refused (a release that finds nothing is not refused).
enum class ReleaseStatus { kOk, kDenied, kWrongName };
// Throws for kDenied / kWrongName; returns for kOk.
void throw_if_release_refused(ReleaseStatus status, std::string_view lease_id,
                              std::string_view name);
// A release by name: released beats expired beats already released.
ReleaseOutcome release_outcome(bool released, bool expired);

}  // namespace keel::state::lease_rules
