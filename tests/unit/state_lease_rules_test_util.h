// Helpers of the pure lease-rule tests (state_lease_rules_test.cpp,
// state_lease_queue_test.cpp): leases, requests and waiter rows built by
// hand, and decide() without a store.
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "state/journal.h"
#include "state/lease_queue.h"
#include "state/lease_rules.h"

namespace keel::state::lease_rules_testing {
using namespace keel::state;
namespace json = boost::json;
namespace lr = keel::state::lease_rules;
namespace lq = keel::state::lease_queue;

inline constexpr std::int64_t kNow = 1'000'000;

inline LeaseInfo hold(const std::string& id, const std::string& name, const std::string& holder,
                      LeaseMode mode = LeaseMode::kExclusive, std::int64_t units = 1,
                      std::int64_t token = 1) {
  LeaseInfo l;
  l.lease_id = id;
  l.name = name;
  l.holder = holder;
  l.mode = mode;
  l.token = token;
  l.ttl_ms = 60'000;
  l.acquired_at_ms = kNow - 1000;
  l.expires_at_ms = kNow + 59'000;
  l.units = units;
  return l;
}

inline AcquireRequest req(std::vector<std::string> names, LeaseMode mode = LeaseMode::kExclusive,
                          std::int64_t units = 1) {
  AcquireRequest r;
  if (names.size() == 1) {
    r.name = names[0];
  } else {
    r.names = std::move(names);
  }
  r.ttl_ms = 30'000;
  r.mode = mode;
  r.units = units;
  return r;
}

inline lq::QueuedWaiter waiter(const std::string& id, const std::string& agent,
                               std::vector<std::string> names, std::int64_t enqueued,
                               std::int64_t seq, LeaseMode mode = LeaseMode::kExclusive,
                               int priority = 0) {
  lq::QueuedWaiter q;
  q.waiter.waiter_id = id;
  q.waiter.agent = agent;
  q.waiter.names = std::move(names);
  q.waiter.mode = mode;
  q.waiter.priority = priority;
  q.waiter.enqueued_at_ms = enqueued;
  q.waiter.rank_ms = lq::rank_ms(enqueued, priority);
  q.seq = seq;
  q.alive_until_ms = kNow + 1000;
  return q;
}

inline std::vector<std::string> ids(const std::vector<LeaseInfo>& v) {
  std::vector<std::string> out;
  for (const LeaseInfo& l : v) out.push_back(l.lease_id);
  return out;
}

inline std::vector<std::string> waiter_ids(const std::vector<LeaseWaiter>& v) {
  std::vector<std::string> out;
  for (const LeaseWaiter& w : v) out.push_back(w.waiter_id);
  return out;
}

inline ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.code();
  }
  FAIL("no StoreError thrown");
  return ErrorCode::kInternal;
}

inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.what();
  }
  FAIL("no StoreError thrown");
  return {};
}

// decide() with no queue.
inline lq::Decision decide(const std::string& agent, const AcquireRequest& r,
                           const std::vector<LeaseInfo>& live, const lr::Capacities& counted = {},
                           const std::vector<lq::QueuedWaiter>& waiters = {},
                           const std::string& own_waiter = {}) {
  return lq::decide(agent, r, lr::canonical_names(r), kNow, live, waiters, counted, own_waiter);
}

inline JournalRecord record(std::int64_t seq, std::string_view op, const json::object& payload) {
  JournalRecord r;
  r.seq = seq;
  r.op = std::string(op);
  r.payload = json::serialize(payload);
  return r;
}

}  // namespace keel::state::lease_rules_testing
