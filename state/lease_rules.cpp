// keel/state/lease_rules.cpp — see lease_rules.h.
#include "state/lease_rules.h"

#include "crypto/random.h"
#include "state/journal.h"
#include "state/lease_name.h"
#include "state/store_common.h"

namespace keel::state::lease_rules {
namespace json = boost::json;

void check_principal(const Principal& who) {
  store_common::require(who, caps::kLease);
  if (who.agent.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "the principal has no agent name");
  }
}

void check_acquire(const AcquireRequest& request, const StoreOptions& options) {
  if (request.ttl_ms <= 0 || request.ttl_ms > options.lease_max_ttl_ms) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "ttl_ms must be in (0, " + std::to_string(options.lease_max_ttl_ms) +
                         "], got " + std::to_string(request.ttl_ms));
  }
  if (request.wait_ms < 0 || request.wait_ms > options.lease_max_wait_ms) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "wait_ms must be in [0, " + std::to_string(options.lease_max_wait_ms) +
                         "], got " + std::to_string(request.wait_ms));
  }
  if (request.request_id &&
      (request.request_id->empty() || request.request_id->size() > kMaxLeaseRequestIdBytes)) {
    throw StoreError(ErrorCode::kInvalidArgument, "request_id must be 1..256 bytes");
  }
}

StoreError wait_cancelled(std::string_view name) {
  return StoreError(ErrorCode::kCancelled, "lease wait for " + std::string(name) + " was cancelled");
}

// A shared hold asked to become exclusive is not "held": it goes on to a new
// grant, which must clear the other holders.
const LeaseInfo* already_held(const std::vector<LeaseInfo>& live, std::string_view agent,
                              std::string_view name, LeaseMode mode) {
  for (const LeaseInfo& l : live) {
    if (l.holder == agent && l.name == name &&
        (l.mode == mode || l.mode == LeaseMode::kExclusive)) {
      return &l;
    }
  }
  return nullptr;
}

std::vector<LeaseInfo> in_the_way(const std::vector<LeaseInfo>& live, std::string_view agent,
                                  std::string_view name, LeaseMode mode) {
  std::vector<LeaseInfo> out;
  for (const LeaseInfo& l : live) {
    if (l.holder != agent && lease_names_overlap(l.name, name) &&
        lease_modes_conflict(l.mode, mode)) {
      out.push_back(l);
    }
  }
  return out;
}

LeaseInfo new_lease(std::string_view name, std::string_view holder,
                    const AcquireRequest& request, std::int64_t token, std::int64_t now_ms) {
  LeaseInfo lease;
  lease.lease_id = "lease_" + crypto::random_hex(16);
  lease.name = std::string(name);
  lease.holder = std::string(holder);
  lease.mode = request.mode;
  lease.token = token;
  lease.ttl_ms = request.ttl_ms;
  lease.acquired_at_ms = now_ms;
  lease.expires_at_ms = now_ms + request.ttl_ms;
  return lease;
}

json::object acquire_payload(const LeaseInfo& lease, const AcquireRequest& request) {
  json::object payload = lease_to_json(lease);
  payload["reason"] = request.reason;
  payload["request_id"] =
      request.request_id ? json::value(*request.request_id) : json::value(nullptr);
  return payload;
}

json::object refuse_payload(std::string_view name, const AcquireRequest& request,
                            const std::vector<LeaseInfo>& holders) {
  json::array refs;
  for (const LeaseInfo& l : holders) {
    refs.push_back(json::object{{"holder", l.holder},
                                {"name", l.name},
                                {"mode", to_string(l.mode)},
                                {"lease_id", l.lease_id},
                                {"expires_at", l.expires_at_ms}});
  }
  return json::object{{"name", name},
                      {"mode", to_string(request.mode)},
                      {"reason", request.reason},
                      {"wait_ms", request.wait_ms},
                      {"holders", std::move(refs)}};
}

json::object renew_payload(const LeaseInfo& lease) {
  return json::object{{"lease_id", lease.lease_id},
                      {"name", lease.name},
                      {"token", lease.token},
                      {"ttl_ms", lease.ttl_ms},
                      {"expires_at", lease.expires_at_ms}};
}

json::object release_payload(const LeaseInfo& lease, bool force) {
  return json::object{{"lease_id", lease.lease_id},
                      {"name", lease.name},
                      {"holder", lease.holder},
                      {"token", lease.token},
                      {"force", force}};
}

void throw_renew_refusal(RenewStatus status, std::string_view lease_id, std::string_view name) {
  switch (status) {
    case RenewStatus::kOk:
      break;
    case RenewStatus::kNotFound:
      throw StoreError(ErrorCode::kNotFound,
                       "no lease " + std::string(lease_id) + " on " + std::string(name));
    case RenewStatus::kExpired:
      throw StoreError(ErrorCode::kExpired,
                       "lease " + std::string(lease_id) + " on " + std::string(name) +
                           " has expired; acquire it again");
    case RenewStatus::kDenied:
      throw StoreError(ErrorCode::kPermissionDenied,
                       "lease " + std::string(lease_id) + " on " + std::string(name) +
                           " is held by another agent");
  }
  throw StoreError(ErrorCode::kInternal, "unreachable");
}

void throw_if_release_refused(ReleaseStatus status, std::string_view lease_id,
                              std::string_view name) {
  if (status == ReleaseStatus::kDenied) {
    throw StoreError(ErrorCode::kPermissionDenied,
                     "lease " + std::string(lease_id) + " on " + std::string(name) +
                         " is held by another agent (force needs " +
                         std::string(caps::kLeaseForce) + ")");
  }
  if (status == ReleaseStatus::kWrongName) {
    throw StoreError(ErrorCode::kNotFound,
                     "lease " + std::string(lease_id) + " is not a lease on " + std::string(name));
  }
}

ReleaseOutcome release_outcome(bool released, bool expired) {
  return released  ? ReleaseOutcome::kReleased
         : expired ? ReleaseOutcome::kExpired
                   : ReleaseOutcome::kAlreadyReleased;
}

}  // namespace keel::state::lease_rules
