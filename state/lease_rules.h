// keel/state/lease_rules.h — the backend-neutral rules of leases (acquire /
// renew / release), shared by state/sqlite_store_leases.cpp and
// state/postgres/pg_store_leases*.cpp: argument checks, who is in the way of
// a request, the grant, the journal payloads and the refusals with their
// texts. SQL and waiting stay in the backends.
//
// Errors: StoreError with the codes and texts documented in state/store.h;
// both backends must give the same ones, which is why they live here.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "state/store.h"

namespace keel::state::lease_rules {

// caps::kLease (kPermissionDenied) and an agent name (kInvalidArgument).
void check_principal(const Principal& who);
// ttl_ms, wait_ms and request_id within their bounds, else kInvalidArgument.
void check_acquire(const AcquireRequest& request, const StoreOptions& options);
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
boost::json::object acquire_payload(const LeaseInfo& lease, const AcquireRequest& request);
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
