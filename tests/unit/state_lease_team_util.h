// Helpers of the lease-team state tests (tests/unit/state_lease_team*_test.cpp),
// backend-neutral: everything goes through the Store contract, but for
// insert_ghost_waiter, which writes the queue table (the same on both
// backends) behind the store's back.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/unit/state_test_util.h"

namespace keel::state::testing::lease_team {

namespace json = boost::json;
using namespace std::chrono_literals;

inline AcquireRequest acquire_names(std::vector<std::string> names,
                                    std::int64_t ttl_ms = 60'000, LeaseMode mode = LeaseMode::kExclusive) {
  AcquireRequest r;
  r.names = std::move(names);
  r.ttl_ms = ttl_ms;
  r.mode = mode;
  return r;
}

inline AcquireRequest counted(const std::string& name, std::int64_t units,
                              std::optional<std::int64_t> capacity = std::nullopt) {
  AcquireRequest r = acquire(name);
  r.units = units;
  r.capacity = capacity;
  return r;
}

// Polls `done` every 10 ms until it holds or `limit` passes; returns whether it held.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

inline std::size_t waiting(Store& s, std::string_view prefix = {}) {
  return s.lease_board(admin(), prefix).waiters.size();
}

inline json::object payload_of(const JournalRecord& r) {
  return json::parse(r.payload).as_object();
}

inline std::vector<JournalRecord> records_by(Store& s, std::string_view op, std::string_view who) {
  std::vector<JournalRecord> out;
  for (JournalRecord& r : journal_records(s, op)) {
    if (r.principal == who) out.push_back(std::move(r));
  }
  return out;
}

// The journal verifies and folds to exactly the lease table.
inline void check_journal(Store& s) {
  const VerifyReport v = s.journal_verify(admin());
  INFO((v.first_bad ? v.first_bad->kind + ": " + v.first_bad->detail : std::string()));
  CHECK(v.ok);
  const ReplayReport r = s.journal_replay(admin());
  for (const std::string& d : r.differences) INFO(d);
  CHECK(r.equal);
}

// A store whose options carry configured capacities.
struct ConfiguredEnv {
  TempDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<Store> store;
  explicit ConfiguredEnv(std::map<std::string, std::int64_t> capacities) {
    StoreOptions o;
    o.dir = dir.path() / "state";
    o.clock = clock;
    o.lease_capacities = std::move(capacities);
    store = open_test_store(o);
  }
};

// A queue row of a waiter whose process is gone, written behind the store's
// back (the same table on both backends): enqueued at `enqueued`, last seen
// now (alive until kLeaseWaiterLivenessMs from now).
inline void insert_ghost_waiter(const StoreEnv& env, const std::string& id,
                                const std::string& name, std::int64_t enqueued, int priority = 0,
                                std::int64_t seq = 1) {
  const std::int64_t seen = env.clock->now_ms();
  const std::int64_t rank = enqueued - priority * kLeasePriorityStepMs;
  env.raw_sql("INSERT INTO lease_waiters(waiter_id, project, seq, agent, names_json, mode, units,"
              " priority, enqueued_at, rank_ms, alive_until) VALUES('" +
              id + "', '/proj', " + std::to_string(seq) + ", 'ghost', '[\"" + name +
              "\"]', 'exclusive', 1, " + std::to_string(priority) + ", " +
              std::to_string(enqueued) + ", " + std::to_string(rank) + ", " +
              std::to_string(seen + kLeaseWaiterLivenessMs) + ")");
}

}  // namespace keel::state::testing::lease_team
