// Leases as a team needs them (issue 18) on PostgreSQL with several nodes:
// two PgStore instances on one database (one schema), as two keel nodes on
// two machines would have. Each node has its own pool, its own LISTEN
// connection and its own waiting threads; what they share is the database.
// Multi-name acquires in opposite orders from both nodes (no deadlock, no
// overlap), the fair queue's order across nodes, a counted name's capacity
// across nodes, and a waiter on one node woken by a release on the other.
// Skipped (with a warning) unless KEEL_TEST_STORE_URL names a server; the
// backend-neutral cases are tests/unit/state_lease_team_test.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "tests/unit/state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Two nodes (stores) on the schema of one state directory, on the
// database's clock (real TTLs and waits).
struct TwoNodes {
  TempDir dir;
  std::unique_ptr<Store> a;
  std::unique_ptr<Store> b;
  explicit TwoNodes(std::map<std::string, std::int64_t> capacities = {}) {
    StoreOptions o;
    o.dir = dir.path() / "state";
    o.lease_capacities = std::move(capacities);
    o.node = "node-a";
    a = open_test_store(o);
    o.node = "node-b";
    b = open_test_store(o);
  }
  Store& node(int i) { return i % 2 == 0 ? *a : *b; }
};

AcquireRequest acquire_names(std::vector<std::string> names, std::int64_t ttl_ms = 60'000) {
  AcquireRequest r;
  r.names = std::move(names);
  r.ttl_ms = ttl_ms;
  return r;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

std::size_t waiting(Store& s, std::string_view prefix = {}) {
  return s.lease_board(admin(), prefix).waiters.size();
}

// The journal verifies, folds to the lease table, and was written by both nodes.
void check_journal(Store& s) {
  const VerifyReport v = s.journal_verify(admin());
  CHECK(v.ok);
  const ReplayReport r = s.journal_replay(admin());
  for (const std::string& d : r.differences) UNSCOPED_INFO(d);
  CHECK(r.equal);
}

#define REQUIRE_PG()                                                          \
  if (!testing_postgres()) {                                                  \
    WARN("KEEL_TEST_STORE_URL is unset: PostgreSQL multi-node cases skipped"); \
    return;                                                                   \
  }

}  // namespace

TEST_CASE("pg lease team: two nodes acquiring two names in opposite orders never deadlock or "
          "overlap",
          "[pg][lease-team][concurrency]") {
  REQUIRE_PG();
  TwoNodes nodes;
  constexpr int kThreads = 8;  // 4 per node, alternating orders on each
  constexpr int kRounds = 5;
  std::mutex mu;
  std::map<std::string, std::string> holding;  // name -> agent, while granted
  std::atomic<int> overlaps{0};
  std::atomic<int> grants{0};
  const auto started = std::chrono::steady_clock::now();
  on_agent_threads(kThreads, [&](int t, const Principal& who) {
    Store& s = nodes.node(t);
    for (int i = 0; i < kRounds; ++i) {
      std::vector<std::string> names = {"file:/src/api.h", "file:/src/api.cpp"};
      if ((t / 2) % 2 == 1) std::reverse(names.begin(), names.end());
      AcquireRequest r = acquire_names(names, 30'000);
      r.wait_ms = 60'000;
      const AcquireResult got = s.acquire_lease(who, r, {});
      if (!got.granted) throw std::runtime_error(who.agent + " was not granted");
      if (got.leases.size() != 2) throw std::runtime_error("a grant without both names");
      {
        std::lock_guard<std::mutex> lock(mu);
        for (const LeaseInfo& l : got.leases) {
          if (!holding.emplace(l.name, who.agent).second) ++overlaps;
        }
      }
      ++grants;
      std::this_thread::sleep_for(2ms);
      {
        std::lock_guard<std::mutex> lock(mu);
        for (const LeaseInfo& l : got.leases) holding.erase(l.name);
      }
      // Released through the other node half of the time.
      Store& releaser = i % 2 == 0 ? s : nodes.node(t + 1);
      if (releaser.release_group(who, got.leases[0].group_id, false).size() != 2) {
        throw std::runtime_error("release_group released too little");
      }
    }
  });
  // Far below a TTL (30 s): nobody waited for a hold to run out.
  CHECK(std::chrono::steady_clock::now() - started < 25s);
  CHECK(overlaps == 0);
  CHECK(grants == kThreads * kRounds);
  // One ACQUIRE per name per grant, tokens strictly increasing in journal
  // order, written by both nodes.
  const std::vector<JournalRecord> acquires = journal_records(*nodes.a, ops::kAcquire);
  REQUIRE(acquires.size() == static_cast<std::size_t>(2 * kThreads * kRounds));
  std::int64_t last = 0;
  std::set<std::string> writers;
  for (const JournalRecord& r : acquires) {
    const std::int64_t token = json::parse(r.payload).at("token").to_number<std::int64_t>();
    CHECK(token > last);
    last = token;
    writers.insert(r.node);
  }
  CHECK(writers == std::set<std::string>{"node-a", "node-b"});
  CHECK(waiting(*nodes.b) == 0);
  check_journal(*nodes.b);
}

TEST_CASE("pg lease team: waiters on two nodes are served in the order they arrived",
          "[pg][lease-team][queue]") {
  REQUIRE_PG();
  TwoNodes nodes;
  const Principal holder = agent("holder");
  const AcquireResult held = nodes.a->acquire_lease(holder, acquire("file:/hot", 600'000), {});
  REQUIRE(held.granted);
  constexpr int kWaiters = 4;
  std::mutex mu;
  std::vector<int> order;
  std::deque<TestThread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    // Waiter i waits on node i % 2, and releases through the other node.
    threads.emplace_back([&, i] {
      const Principal who = agent("w" + std::to_string(i));
      AcquireRequest r = acquire("file:/hot", 600'000);
      r.wait_ms = 60'000;
      const AcquireResult got = nodes.node(i).acquire_lease(who, r, {});
      if (!got.granted) throw std::runtime_error(who.agent + " was not granted");
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      nodes.node(i + 1).release_lease(who, "file:/hot", got.lease->lease_id, false);
    });
    // The next one starts once this one is queued (seen from either node).
    REQUIRE(eventually([&] { return waiting(nodes.node(i + 1)) == std::size_t(i + 1); }));
  }
  const LeaseBoard board = nodes.b->lease_board(admin(), "file:/");
  REQUIRE(board.waiters.size() == kWaiters);
  for (int i = 0; i < kWaiters; ++i) CHECK(board.waiters[i].agent == "w" + std::to_string(i));
  // A newcomer on either node that does not wait is refused.
  CHECK_FALSE(nodes.b->acquire_lease(agent("late"), acquire("file:/hot"), {}).granted);

  nodes.b->release_lease(holder, "file:/hot", held.lease->lease_id, false);
  for (TestThread& t : threads) t.join();
  CHECK(order == std::vector<int>{0, 1, 2, 3});
  CHECK(waiting(*nodes.a) == 0);
  check_journal(*nodes.a);
}

TEST_CASE("pg lease team: a counted name never holds more units than its capacity across nodes",
          "[pg][lease-team][concurrency]") {
  REQUIRE_PG();
  TwoNodes nodes({{"slot:build", 3}});
  constexpr int kThreads = 8;
  constexpr int kRounds = 4;
  std::atomic<std::int64_t> used{0};
  std::atomic<std::int64_t> most{0};
  std::atomic<int> over{0};
  on_agent_threads(kThreads, [&](int t, const Principal& who) {
    Store& s = nodes.node(t);
    for (int i = 0; i < kRounds; ++i) {
      AcquireRequest r = acquire("slot:build", 30'000);
      r.units = 1 + (t + i) % 2;  // 1 or 2 units
      r.wait_ms = 60'000;
      const AcquireResult got = s.acquire_lease(who, r, {});
      if (!got.granted) throw std::runtime_error(who.agent + " was not granted");
      const std::int64_t now_used = used += r.units;
      if (now_used > 3) ++over;
      std::int64_t seen = most.load();
      while (now_used > seen && !most.compare_exchange_weak(seen, now_used)) {
      }
      std::this_thread::sleep_for(3ms);
      used -= r.units;
      nodes.node(t + 1).release_lease(who, "slot:build", got.lease->lease_id, false);
    }
  });
  CHECK(over == 0);
  CHECK(most <= 3);
  CHECK(most >= 2);  // the slot was shared at all
  // From the journal: replaying grants and releases in order, the units held
  // never pass the capacity.
  std::map<std::string, std::int64_t> units_of;  // lease_id -> units
  std::int64_t held = 0;
  std::int64_t peak = 0;
  for (const JournalRecord& r : journal_records(*nodes.a)) {
    if (r.subject != "slot:build") continue;
    const json::object p = json::parse(r.payload).as_object();
    const std::string id = json::value_to<std::string>(p.at("lease_id"));
    if (r.op == ops::kAcquire) {
      const std::int64_t u = p.at("units").to_number<std::int64_t>();
      units_of[id] = u;
      held += u;
      peak = std::max(peak, held);
    } else if (r.op == ops::kRelease || r.op == ops::kExpire) {
      held -= units_of[id];
    }
  }
  CHECK(peak <= 3);
  CHECK(held == 0);
  const LeaseBoard board = nodes.b->lease_board(admin(), "slot:");
  REQUIRE(board.capacities.size() == 1);
  CHECK(board.capacities[0] == LeaseCapacity{"slot:build", 3, 0});
  check_journal(*nodes.a);
}

TEST_CASE("pg lease team: a waiter on one node is served when the other node releases, and a "
          "cancelled one leaves the queue for both",
          "[pg][lease-team][queue]") {
  REQUIRE_PG();
  TwoNodes nodes;
  const Principal holder = agent("holder");
  const AcquireResult held = nodes.a->acquire_lease(
      holder, acquire_names({"file:/m/a", "file:/m/b"}, 600'000), {});
  REQUIRE(held.granted);

  // First in the queue: a waiter on node b that is cancelled while queued.
  std::atomic<bool> cancel{false};
  TestThread first([&] {
    AcquireRequest r = acquire_names({"file:/m/b"}, 600'000);
    r.wait_ms = 60'000;
    try {
      (void)nodes.b->acquire_lease(agent("quitter"), r, [&] { return cancel.load(); });
      throw std::runtime_error("the cancelled wait returned");
    } catch (const StoreError& e) {
      if (e.code() != ErrorCode::kCancelled) throw;
    }
  });
  REQUIRE(eventually([&] { return waiting(*nodes.a) == 1; }));
  // Second: a two-name waiter on node a, queued behind it.
  std::atomic<bool> granted{false};
  TestThread second([&] {
    AcquireRequest r = acquire_names({"file:/m/a", "file:/m/b"}, 600'000);
    r.wait_ms = 60'000;
    const AcquireResult got = nodes.a->acquire_lease(agent("patient"), r, {});
    if (!got.granted || got.leases.size() != 2) throw std::runtime_error("patient not granted");
    granted = true;
  });
  REQUIRE(eventually([&] { return waiting(*nodes.b) == 2; }));
  const LeaseBoard board = nodes.a->lease_board(admin(), "file:/m/");
  REQUIRE(board.waiters.size() == 2);
  CHECK(board.waiters[0].agent == "quitter");
  CHECK(board.waiters[1].agent == "patient");
  CHECK(board.waiters[1].names == std::vector<std::string>{"file:/m/a", "file:/m/b"});

  cancel = true;
  first.join();
  // The cancelled row is gone at once (not after its liveness runs out).
  CHECK(eventually([&] { return waiting(*nodes.a) == 1; }, 2s));
  CHECK_FALSE(granted);
  // The holder releases on node b: the waiter on node a is served.
  const auto released = std::chrono::steady_clock::now();
  CHECK(nodes.b->release_group(holder, held.leases[0].group_id, false).size() == 2);
  second.join();
  CHECK(granted);
  CHECK(std::chrono::steady_clock::now() - released < 5s);
  CHECK(waiting(*nodes.b) == 0);
  check_journal(*nodes.b);
}
