// keel/state/lease_rules.cpp — see lease_rules.h.
#include "state/lease_rules.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "crypto/random.h"
#include "crypto/sha256.h"
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
  if (request.units < 1 || request.units > kMaxLeaseCapacity) {
    throw StoreError(ErrorCode::kInvalidArgument, "units must be in [1, " +
                                                      std::to_string(kMaxLeaseCapacity) +
                                                      "], got " + std::to_string(request.units));
  }
  if (request.capacity && (*request.capacity < 1 || *request.capacity > kMaxLeaseCapacity)) {
    throw StoreError(ErrorCode::kInvalidArgument, "capacity must be in [1, " +
                                                      std::to_string(kMaxLeaseCapacity) +
                                                      "], got " +
                                                      std::to_string(*request.capacity));
  }
  if (request.priority < kMinLeasePriority || request.priority > kMaxLeasePriority) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "priority must be in [" + std::to_string(kMinLeasePriority) + ", " +
                         std::to_string(kMaxLeasePriority) + "], got " +
                         std::to_string(request.priority));
  }
  if (request.names.size() > kMaxLeaseNamesPerAcquire) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "at most " + std::to_string(kMaxLeaseNamesPerAcquire) +
                         " names per acquire, got " + std::to_string(request.names.size()));
  }
}

std::vector<LeaseName> canonical_names(const AcquireRequest& request) {
  if (!request.name.empty() && !request.names.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "give name or names, not both");
  }
  if (request.names.size() > kMaxLeaseNamesPerAcquire) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "at most " + std::to_string(kMaxLeaseNamesPerAcquire) +
                         " names per acquire, got " + std::to_string(request.names.size()));
  }
  std::vector<LeaseName> out;
  if (request.names.empty()) {
    if (request.name.empty()) {
      throw StoreError(ErrorCode::kInvalidArgument, "a lease name (name or names) is required");
    }
    out.push_back(LeaseName::parse(request.name));
  } else {
    out.reserve(request.names.size());
    for (const std::string& raw : request.names) out.push_back(LeaseName::parse(raw));
  }
  std::sort(out.begin(), out.end(),
            [](const LeaseName& a, const LeaseName& b) { return a.str() < b.str(); });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (request.capacity) {
    if (out.size() != 1) {
      throw StoreError(ErrorCode::kInvalidArgument, "capacity is given with a single name only");
    }
    if (out[0].kind() != LeaseNameKind::kFree) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "capacity is for free names (not file: or dir:), got " + out[0].str());
    }
  }
  return out;
}

std::vector<std::string> name_strings(const std::vector<LeaseName>& names) {
  std::vector<std::string> out;
  out.reserve(names.size());
  for (const LeaseName& n : names) out.push_back(n.str());
  return out;
}

// ------------------------------------------------------------ capacities

ResolvedCapacities resolve_capacities(const std::vector<LeaseName>& names,
                                      const AcquireRequest& request,
                                      const StoreOptions& options,
                                      const std::map<std::string, std::int64_t>& declared) {
  ResolvedCapacities out;
  for (const LeaseName& name : names) {
    std::optional<std::int64_t> fixed;
    if (name.kind() == LeaseNameKind::kFree) {
      if (const auto it = options.lease_capacities.find(name.str());
          it != options.lease_capacities.end()) {
        fixed = it->second;
      } else if (const auto d = declared.find(name.str()); d != declared.end()) {
        fixed = d->second;
      }
    }
    std::optional<std::int64_t> capacity = fixed;
    if (request.capacity) {  // canonical_names: one free name
      if (fixed && *fixed != *request.capacity) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "capacity of " + name.str() + " is fixed at " + std::to_string(*fixed) +
                             ", got " + std::to_string(*request.capacity));
      }
      if (!fixed) {
        capacity = request.capacity;
        out.declare = LeaseCapacity{name.str(), *request.capacity, 0};
      }
    }
    if (capacity) {
      if (request.units > *capacity) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "units " + std::to_string(request.units) + " exceed the capacity " +
                             std::to_string(*capacity) + " of " + name.str() +
                             ": it could never be granted");
      }
      out.counted.emplace(name.str(), *capacity);
    } else if (request.units != 1) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "units must be 1 on " + name.str() + ", which is not counted (no capacity)");
    }
  }
  return out;
}

std::int64_t used_units(const std::vector<LeaseInfo>& live, std::string_view name) {
  std::int64_t used = 0;
  for (const LeaseInfo& l : live) {
    if (l.name == name) used += l.units;
  }
  return used;
}

// ------------------------------------------------------------ idempotency

std::string args_hash(const std::vector<LeaseName>& names, const AcquireRequest& request) {
  json::array list;
  for (const LeaseName& n : names) list.push_back(json::string(n.str()));
  // boost::json::object keeps insertion order, so this text is canonical.
  const json::object args{
      {"names", std::move(list)},
      {"mode", to_string(request.mode)},
      {"ttl_ms", request.ttl_ms},
      {"units", request.units},
      {"capacity", request.capacity ? json::value(*request.capacity) : json::value(nullptr)},
      {"priority", request.priority}};
  return crypto::sha256_hex(json::serialize(args));
}

void check_request_args(std::string_view request_id, std::string_view stored_hash,
                        std::string_view hash) {
  if (!stored_hash.empty() && stored_hash != hash) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "request_id " + std::string(request_id) +
                         " was first used with other arguments");
  }
}

std::string grant_to_json(const std::vector<LeaseInfo>& leases) {
  json::array out;
  for (const LeaseInfo& l : leases) out.push_back(lease_to_json(l));
  return json::serialize(out);
}

std::vector<LeaseInfo> grant_from_json(std::string_view text) {
  try {
    const json::value v = json::parse(text);
    std::vector<LeaseInfo> out;
    if (v.is_object()) {  // a row written before multi-name grants
      out.push_back(lease_from_json(v));
    } else {
      for (const json::value& l : v.as_array()) out.push_back(lease_from_json(l));
    }
    if (out.empty()) throw std::invalid_argument("no lease");
    return out;
  } catch (const std::exception& e) {
    throw StoreError(ErrorCode::kInternal,
                     std::string("malformed lease_requests result: ") + e.what());
  }
}

AcquireResult replay_result(const std::vector<LeaseInfo>& recorded,
                            const std::vector<LeaseInfo>& live, std::string_view agent,
                            const std::function<std::string(std::string_view)>& tombstone) {
  AcquireResult out;
  out.replayed = true;
  std::vector<LeaseInfo> now;
  bool all_expired = true;
  for (const LeaseInfo& r : recorded) {
    const auto it = std::find_if(live.begin(), live.end(),
                                 [&](const LeaseInfo& l) { return l.lease_id == r.lease_id; });
    if (it != live.end() && it->holder == agent) {
      now.push_back(*it);
      continue;
    }
    // Gone, or moved to another agent (which is not "expired").
    if (it != live.end() || !tombstone || tombstone(r.lease_id) != "expired") {
      all_expired = false;
    }
  }
  if (!recorded.empty() && now.size() == recorded.size()) {
    out.granted = true;
    out.leases = std::move(now);
    out.lease = out.leases.front();
    out.replay_status = "granted";
    return out;
  }
  out.refusal = LeaseRefusal::kReleased;
  out.leases = recorded;
  out.replay_status = all_expired && !recorded.empty() ? "expired" : "released";
  return out;
}

// ------------------------------------------------------------ ids, groups, asks

std::string new_group_id() { return "g_" + crypto::random_hex(8); }

std::string new_ask_id() { return "ask_" + crypto::random_hex(16); }

void check_group_id(std::string_view group_id) {
  if (group_id.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "group_id must not be empty");
  }
}

void check_ask_reason(std::string_view reason) {
  if (reason.empty() || reason.size() > kMaxAskReasonBytes) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "reason must be 1.." + std::to_string(kMaxAskReasonBytes) + " bytes, got " +
                         std::to_string(reason.size()));
  }
}

std::vector<std::string> ask_targets(const std::vector<LeaseInfo>& live, std::string_view asker,
                                     std::string_view name) {
  std::set<std::string> holders;
  for (const LeaseInfo& l : live) {
    if (l.name == name && l.holder != asker) holders.insert(l.holder);
  }
  return {holders.begin(), holders.end()};
}

StoreError no_one_to_ask(std::string_view name) {
  return StoreError(ErrorCode::kNotFound,
                    "no other agent holds a live lease on " + std::string(name));
}

LeaseInfo downgraded(const LeaseInfo& lease, std::int64_t token) {
  LeaseInfo out = lease;
  out.mode = LeaseMode::kShared;
  out.token = token;
  return out;
}

StoreError wait_cancelled(std::string_view name) {
  return StoreError(ErrorCode::kCancelled,
                    "lease wait for " + std::string(name) + " was cancelled");
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
  // The fencing token (strictly increasing) leads, so that new ids append at
  // the right edge of the indexes keyed by lease_id (leases, lease_tombstones)
  // instead of dirtying a random leaf page per grant and release; the random
  // half keeps ids unguessable. Same length as the fully random ids before.
  char ordered[17];
  std::snprintf(ordered, sizeof ordered, "%016llx", static_cast<unsigned long long>(token));
  lease.lease_id = "lease_" + std::string(ordered) + crypto::random_hex(8);
  lease.name = std::string(name);
  lease.holder = std::string(holder);
  lease.mode = request.mode;
  lease.token = token;
  lease.ttl_ms = request.ttl_ms;
  lease.acquired_at_ms = now_ms;
  lease.expires_at_ms = now_ms + request.ttl_ms;
  lease.units = request.units;
  return lease;
}

json::object acquire_payload(const LeaseInfo& lease, const AcquireRequest& request) {
  json::object payload = lease_to_json(lease);
  payload["reason"] = request.reason;
  payload["request_id"] =
      request.request_id ? json::value(*request.request_id) : json::value(nullptr);
  return payload;
}

json::object acquire_payload(const LeaseInfo& lease, const AcquireRequest& request,
                             std::optional<std::int64_t> capacity) {
  json::object payload = acquire_payload(lease, request);
  if (capacity) payload["capacity"] = *capacity;
  return payload;
}

json::object upgrade_payload(const LeaseInfo& lease) { return lease_to_json(lease); }

json::object downgrade_payload(const LeaseInfo& lease) { return lease_to_json(lease); }

json::object ask_release_payload(std::string_view name, std::string_view reason,
                                 const std::vector<std::string>& holders) {
  json::array list;
  for (const std::string& h : holders) list.push_back(json::string(h));
  return json::object{{"name", name}, {"reason", reason}, {"holders", std::move(list)}};
}

namespace {

json::array holder_refs(const std::vector<LeaseInfo>& holders) {
  json::array refs;
  for (const LeaseInfo& l : holders) {
    refs.push_back(json::object{{"holder", l.holder},
                                {"name", l.name},
                                {"mode", to_string(l.mode)},
                                {"lease_id", l.lease_id},
                                {"expires_at", l.expires_at_ms}});
  }
  return refs;
}

}  // namespace

json::object refuse_payload(const std::vector<LeaseName>& names, const AcquireRequest& request,
                            const AcquireResult& result) {
  json::array list;
  for (const LeaseName& n : names) list.push_back(json::string(n.str()));
  json::array counted;
  for (const LeaseCapacity& c : result.counted) {
    counted.push_back(json::object{{"name", c.name}, {"capacity", c.capacity}, {"used", c.used}});
  }
  json::array ahead;
  for (const LeaseWaiter& w : result.ahead) {
    ahead.push_back(json::object{{"waiter_id", w.waiter_id}, {"agent", w.agent}});
  }
  return json::object{{"name", names.empty() ? std::string() : names.front().str()},
                      {"names", std::move(list)},
                      {"mode", to_string(request.mode)},
                      {"units", request.units},
                      {"reason", request.reason},
                      {"wait_ms", request.wait_ms},
                      {"refusal", to_string(result.refusal)},
                      {"holders", holder_refs(result.holders)},
                      {"counted", std::move(counted)},
                      {"ahead", std::move(ahead)},
                      {"timed_out", result.timed_out},
                      {"waited_ms", result.waited_ms}};
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
