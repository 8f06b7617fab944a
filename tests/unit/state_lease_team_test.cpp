// Leases as a team needs them (issue 18), through the Store contract only:
// several names all or nothing, counted names, the fair queue, upgrade and
// downgrade, release asks, request_id idempotency, groups. Backend-neutral
// (open_test_store): the PostgreSQL run executes every case here too, so no
// case assumes SQLite's timing — waits are on observable state (the board),
// with generous deadlines.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "state/store_common.h"
#include "state/store_copy.h"
#include "tests/unit/state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

AcquireRequest acquire_names(std::vector<std::string> names, std::int64_t ttl_ms = 60'000,
                             LeaseMode mode = LeaseMode::kExclusive) {
  AcquireRequest r;
  r.names = std::move(names);
  r.ttl_ms = ttl_ms;
  r.mode = mode;
  return r;
}

AcquireRequest counted(const std::string& name, std::int64_t units,
                       std::optional<std::int64_t> capacity = std::nullopt) {
  AcquireRequest r = acquire(name);
  r.units = units;
  r.capacity = capacity;
  return r;
}

// Polls `done` every 10 ms until it holds or `limit` passes; returns whether it held.
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

json::object payload_of(const JournalRecord& r) { return json::parse(r.payload).as_object(); }

std::vector<JournalRecord> records_by(Store& s, std::string_view op, std::string_view who) {
  std::vector<JournalRecord> out;
  for (JournalRecord& r : journal_records(s, op)) {
    if (r.principal == who) out.push_back(std::move(r));
  }
  return out;
}

// The journal verifies and folds to exactly the lease table.
void check_journal(Store& s) {
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

}  // namespace

// ------------------------------------------------------------ many names

TEST_CASE_METHOD(AliceAndBob, "lease team: several names are granted in canonical order, one "
                              "group, one token each",
                 "[state][lease][lease-team]") {
  const AcquireResult r =
      s.acquire_lease(a, acquire_names({"file:/src/z.h", "file:/src/a.h", "file:/src/z.h",
                                        "file:/src/m.h"}),
                      {});
  REQUIRE(r.granted);
  REQUIRE(r.leases.size() == 3);  // the duplicate is dropped
  CHECK(r.leases[0].name == "file:/src/a.h");
  CHECK(r.leases[1].name == "file:/src/m.h");
  CHECK(r.leases[2].name == "file:/src/z.h");
  REQUIRE(r.lease);
  CHECK(*r.lease == r.leases[0]);
  CHECK_FALSE(r.already_held);
  CHECK(r.leases[0].token < r.leases[1].token);
  CHECK(r.leases[1].token < r.leases[2].token);
  const std::string group = r.leases[0].group_id;
  CHECK_FALSE(group.empty());
  for (const LeaseInfo& l : r.leases) {
    CHECK(l.group_id == group);
    CHECK(l.units == 1);
    CHECK(l.holder == "alice");
  }
  // One ACQUIRE per name, each with its units and group.
  const std::vector<JournalRecord> acquires = journal_records(s, ops::kAcquire);
  REQUIRE(acquires.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(acquires[i].subject == r.leases[i].name);
    const json::object p = payload_of(acquires[i]);
    CHECK(p.at("group_id").as_string() == group);
    CHECK(p.at("units").to_number<std::int64_t>() == 1);
    CHECK(p.at("token").to_number<std::int64_t>() == r.leases[i].token);
  }

  // Asking again for all of them: already held, nothing new.
  const AcquireResult again =
      s.acquire_lease(a, acquire_names({"file:/src/m.h", "file:/src/a.h", "file:/src/z.h"}), {});
  REQUIRE(again.granted);
  CHECK(again.already_held);
  CHECK(again.leases == r.leases);
  // Some held, one new: the new one gets its own group; not already_held.
  const AcquireResult more =
      s.acquire_lease(a, acquire_names({"file:/src/a.h", "file:/src/b.h"}), {});
  REQUIRE(more.granted);
  CHECK_FALSE(more.already_held);
  REQUIRE(more.leases.size() == 2);
  CHECK(more.leases[0] == r.leases[0]);
  CHECK(more.leases[1].name == "file:/src/b.h");
  CHECK(more.leases[1].group_id != group);
  CHECK(more.leases[1].token > r.leases[2].token);
  // Names overlapping each other in one request are fine (own holds).
  const AcquireResult nested =
      s.acquire_lease(b, acquire_names({"dir:/lib/", "file:/lib/x.h"}), {});
  CHECK(nested.granted);
  CHECK(journal_records(s, ops::kAcquire).size() == 6);
  check_journal(s);
}

TEST_CASE_METHOD(AliceAndBob, "lease team: several names are all or nothing",
                 "[state][lease][lease-team]") {
  const AcquireResult held = s.acquire_lease(a, acquire("file:/src/b.h"), {});
  REQUIRE(held.granted);
  const AcquireResult also = s.acquire_lease(a, acquire("file:/src/d.h"), {});
  REQUIRE(also.granted);
  const std::size_t acquires_before = journal_records(s, ops::kAcquire).size();

  const AcquireResult r = s.acquire_lease(
      b, acquire_names({"file:/src/d.h", "file:/src/a.h", "file:/src/b.h", "file:/src/c.h"}), {});
  CHECK_FALSE(r.granted);
  CHECK(r.refusal == LeaseRefusal::kHeld);
  CHECK(r.leases.empty());
  CHECK_FALSE(r.lease);
  // Every holder in the way is listed, not only the first.
  REQUIRE(r.holders.size() == 2);
  std::vector<std::string> ids{r.holders[0].lease_id, r.holders[1].lease_id};
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected{held.lease->lease_id, also.lease->lease_id};
  std::sort(expected.begin(), expected.end());
  CHECK(ids == expected);
  // Nothing granted, nothing journaled but one REFUSE naming the request.
  for (const LeaseInfo& l : s.list_leases(a, "")) CHECK(l.holder == "alice");
  CHECK(s.list_leases(a, "").size() == 2);
  CHECK(journal_records(s, ops::kAcquire).size() == acquires_before);
  const std::vector<JournalRecord> refusals = records_by(s, ops::kRefuse, "bob");
  REQUIRE(refusals.size() == 1);
  const json::object p = payload_of(refusals[0]);
  REQUIRE(p.contains("names"));
  CHECK(p.at("names").as_array().size() == 4);
  CHECK(p.at("refusal").as_string() == "held");

  // Once alice lets go, the same request is granted whole.
  s.release_lease(a, "file:/src/b.h", held.lease->lease_id, false);
  s.release_lease(a, "file:/src/d.h", also.lease->lease_id, false);
  const AcquireResult later = s.acquire_lease(
      b, acquire_names({"file:/src/d.h", "file:/src/a.h", "file:/src/b.h", "file:/src/c.h"}), {});
  REQUIRE(later.granted);
  CHECK(later.leases.size() == 4);
  check_journal(s);
}

TEST_CASE("lease team: bad name lists are refused", "[state][lease][lease-team]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  AcquireRequest both = acquire("file:/a");
  both.names = {"file:/b"};
  REQUIRE_STORE_ERROR(s.acquire_lease(a, both, {}), ErrorCode::kInvalidArgument);
  AcquireRequest none = acquire("");
  REQUIRE_STORE_ERROR(s.acquire_lease(a, none, {}), ErrorCode::kInvalidArgument);
  std::vector<std::string> many;
  for (std::size_t i = 0; i <= kMaxLeaseNamesPerAcquire; ++i) many.push_back("n" + std::to_string(i));
  REQUIRE_STORE_ERROR(s.acquire_lease(a, acquire_names(many), {}), ErrorCode::kInvalidArgument);
  many.pop_back();
  CHECK(s.acquire_lease(a, acquire_names(many), {}).leases.size() == kMaxLeaseNamesPerAcquire);
  REQUIRE_STORE_ERROR(s.acquire_lease(a, acquire_names({"file:/ok", "file:relative"}), {}),
                      ErrorCode::kInvalidArgument);
  AcquireRequest prio = acquire("p");
  prio.priority = kMaxLeasePriority + 1;
  REQUIRE_STORE_ERROR(s.acquire_lease(a, prio, {}), ErrorCode::kInvalidArgument);
  check_journal(s);
}

TEST_CASE("lease team: opposite-order multi-name acquires from many threads never deadlock "
          "or overlap",
          "[state][lease][lease-team][concurrency]") {
  TempDir dir;
  StoreOptions o;
  o.dir = dir.path() / "state";
  auto store = open_test_store(o);  // system clock: real TTLs and waits
  constexpr int kThreads = 8;
  constexpr int kRounds = 6;
  std::mutex mu;
  std::map<std::string, std::string> holding;  // name -> agent, while granted
  std::atomic<int> overlaps{0};
  std::atomic<int> grants{0};
  on_agent_threads(kThreads, [&](int t, const Principal& who) {
    for (int i = 0; i < kRounds; ++i) {
      std::vector<std::string> names = {"file:/shared/x.h", "file:/shared/y.h"};
      if (t % 2 == 1) std::reverse(names.begin(), names.end());
      AcquireRequest r = acquire_names(names, 30'000);
      r.wait_ms = 60'000;
      const AcquireResult got = store->acquire_lease(who, r, {});
      if (!got.granted) throw std::runtime_error(who.agent + " was not granted");
      {
        std::lock_guard<std::mutex> lock(mu);
        for (const LeaseInfo& l : got.leases) {
          if (!holding.emplace(l.name, who.agent).second) ++overlaps;
        }
      }
      ++grants;
      std::this_thread::sleep_for(1ms);
      {
        std::lock_guard<std::mutex> lock(mu);
        for (const LeaseInfo& l : got.leases) holding.erase(l.name);
      }
      const std::vector<LeaseInfo> released =
          store->release_group(who, got.leases[0].group_id, false);
      if (released.size() != 2) throw std::runtime_error("release_group released too little");
    }
  });
  CHECK(overlaps == 0);
  CHECK(grants == kThreads * kRounds);
  // Tokens: one per name per grant, strictly increasing in journal order.
  const std::vector<JournalRecord> acquires = journal_records(*store, ops::kAcquire);
  REQUIRE(acquires.size() == static_cast<std::size_t>(2 * kThreads * kRounds));
  std::int64_t last = 0;
  for (const JournalRecord& r : acquires) {
    const std::int64_t token = payload_of(r).at("token").to_number<std::int64_t>();
    CHECK(token > last);
    last = token;
  }
  CHECK(waiting(*store) == 0);
  check_journal(*store);
}

TEST_CASE_METHOD(AliceAndBob, "lease team: release_group releases one acquire's leases at once",
                 "[state][lease][lease-team]") {
  const AcquireResult r = s.acquire_lease(a, acquire_names({"g1", "g2", "g3"}), {});
  REQUIRE(r.granted);
  const AcquireResult other = s.acquire_lease(a, acquire("g4"), {});
  REQUIRE(other.granted);
  const std::string group = r.leases[0].group_id;

  REQUIRE_STORE_ERROR(s.release_group(a, "", false), ErrorCode::kInvalidArgument);
  // Someone else's group: nothing is released without force, and force
  // needs the capability.
  CHECK(s.release_group(b, group, false).empty());
  REQUIRE_STORE_ERROR(s.release_group(b, group, true), ErrorCode::kPermissionDenied);
  CHECK(s.list_leases(a, "g").size() == 4);

  const std::vector<LeaseInfo> released = s.release_group(a, group, false);
  CHECK(released == r.leases);
  const std::vector<LeaseInfo> left = s.list_leases(a, "g");
  REQUIRE(left.size() == 1);
  CHECK(left[0].name == "g4");
  const std::vector<JournalRecord> releases = journal_records(s, ops::kRelease);
  REQUIRE(releases.size() == 3);
  CHECK(releases[0].subject == "g1");
  CHECK(releases[2].subject == "g3");
  CHECK(s.release_group(a, group, false).empty());  // nothing live any more
  // Releasing one by one still works; a group is also released by force.
  const AcquireResult third = s.acquire_lease(b, acquire_names({"h1", "h2"}), {});
  REQUIRE(third.granted);
  CHECK(s.release_group(admin(), third.leases[0].group_id, true).size() == 2);
  CHECK(s.list_leases(a, "h").empty());
  check_journal(s);
}

// ------------------------------------------------------------ counted names

TEST_CASE_METHOD(AliceAndBob, "lease team: counted names grant units up to their capacity",
                 "[state][lease][lease-team]") {
  const Principal c = agent("carol");
  const AcquireResult first = s.acquire_lease(a, counted("slot:build", 3, 4), {});
  REQUIRE(first.granted);
  CHECK(first.lease->units == 3);
  const std::optional<JournalRecord> declared = newest_record(s, ops::kAcquire);
  REQUIRE(declared);
  CHECK(payload_of(*declared).at("capacity").to_number<std::int64_t>() == 4);

  // 3 of 4 used: 2 more do not fit.
  const AcquireResult short_of = s.acquire_lease(b, counted("slot:build", 2), {});
  CHECK_FALSE(short_of.granted);
  CHECK(short_of.refusal == LeaseRefusal::kCapacity);
  CHECK(short_of.counted == std::vector<LeaseCapacity>{{"slot:build", 4, 3}});
  REQUIRE(short_of.holders.size() == 1);
  CHECK(short_of.holders[0].lease_id == first.lease->lease_id);
  // One does; the mode plays no part on a counted name.
  AcquireRequest one = counted("slot:build", 1);
  one.mode = LeaseMode::kShared;
  const AcquireResult fits = s.acquire_lease(b, one, {});
  REQUIRE(fits.granted);
  CHECK(fits.lease->mode == LeaseMode::kShared);
  CHECK_FALSE(s.acquire_lease(c, counted("slot:build", 1), {}).granted);
  // The caller's own hold with enough units answers itself.
  const AcquireResult mine = s.acquire_lease(a, counted("slot:build", 2), {});
  CHECK(mine.granted);
  CHECK(mine.already_held);
  CHECK(mine.lease->lease_id == first.lease->lease_id);

  // The capacity is fixed once declared; units must fit it; only free names.
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("slot:build", 1, 5), {}),
                      ErrorCode::kInvalidArgument);
  CHECK_FALSE(s.acquire_lease(c, counted("slot:build", 1, 4), {}).granted);  // same value: fine
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("slot:build", 5), {}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("slot:build", 0), {}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("file:/x", 1, 2), {}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("plain", 2), {}), ErrorCode::kInvalidArgument);
  AcquireRequest two = acquire_names({"slot:a", "slot:b"});
  two.capacity = 2;
  REQUIRE_STORE_ERROR(s.acquire_lease(c, two, {}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("slot:new", 3, 2), {}),
                      ErrorCode::kInvalidArgument);

  // A counted name in a multi-name request, all or nothing with the others.
  AcquireRequest mixed = acquire_names({"file:/out/bin", "slot:build"});
  mixed.units = 1;
  const AcquireResult blocked = s.acquire_lease(c, mixed, {});
  CHECK_FALSE(blocked.granted);
  CHECK(blocked.refusal == LeaseRefusal::kCapacity);
  CHECK(s.list_leases(c, "file:/out").empty());

  const LeaseBoard board = s.lease_board(c, "slot:");
  CHECK(board.capacities == std::vector<LeaseCapacity>{{"slot:build", 4, 4}});
  s.release_lease(a, "slot:build", first.lease->lease_id, false);
  CHECK(s.lease_board(c, "slot:").capacities == std::vector<LeaseCapacity>{{"slot:build", 4, 1}});
  CHECK(s.acquire_lease(c, mixed, {}).granted);
  check_journal(s);
}

TEST_CASE("lease team: a configured capacity wins over a declared one",
          "[state][lease][lease-team]") {
  ConfiguredEnv env({{"slot:gpu", 2}});
  Store& s = *env.store;
  const Principal a = agent("alice");
  // Listed before anyone holds it.
  CHECK(s.lease_board(a, "").capacities == std::vector<LeaseCapacity>{{"slot:gpu", 2, 0}});
  try {
    s.acquire_lease(a, counted("slot:gpu", 1, 3), {});
    FAIL("a capacity other than the configured one was accepted");
  } catch (const StoreError& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK(std::string(e.what()).find("fixed at 2") != std::string::npos);
  }
  CHECK(s.acquire_lease(a, counted("slot:gpu", 1, 2), {}).granted);
  CHECK(s.acquire_lease(agent("bob"), counted("slot:gpu", 1), {}).granted);
  const AcquireResult full = s.acquire_lease(agent("carol"), counted("slot:gpu", 1), {});
  CHECK(full.refusal == LeaseRefusal::kCapacity);
  CHECK(full.counted == std::vector<LeaseCapacity>{{"slot:gpu", 2, 2}});
  REQUIRE_STORE_ERROR(s.acquire_lease(a, counted("slot:gpu", 3), {}), ErrorCode::kInvalidArgument);
  check_journal(s);
}

// ------------------------------------------------------------ the fair queue

TEST_CASE("lease team: waiters are served in the order they arrived",
          "[state][lease][lease-team][queue]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal holder = agent("holder");
  const AcquireResult held = s.acquire_lease(holder, acquire("file:/hot", 600'000), {});
  REQUIRE(held.granted);
  constexpr int kWaiters = 4;
  std::mutex mu;
  std::vector<int> order;
  std::deque<TestThread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      const Principal who = agent("w" + std::to_string(i));
      AcquireRequest r = acquire("file:/hot", 600'000);
      r.wait_ms = 60'000;
      const AcquireResult got = s.acquire_lease(who, r, {});
      if (!got.granted) throw std::runtime_error(who.agent + " was not granted");
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      s.release_lease(who, "file:/hot", got.lease->lease_id, false);
    });
    // The next one starts once this one is queued.
    REQUIRE(eventually([&] { return waiting(s) == static_cast<std::size_t>(i + 1); }));
  }
  const LeaseBoard board = s.lease_board(admin(), "file:/");
  REQUIRE(board.waiters.size() == kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    CHECK(board.waiters[i].agent == "w" + std::to_string(i));
    CHECK(board.waiters[i].names == std::vector<std::string>{"file:/hot"});
  }
  // A newcomer that does not wait is told who is ahead of it, in order.
  const AcquireResult late = s.acquire_lease(agent("late"), acquire("file:/hot"), {});
  CHECK(late.refusal == LeaseRefusal::kQueued);
  REQUIRE(late.ahead.size() == kWaiters);
  for (int i = 0; i < kWaiters; ++i) CHECK(late.ahead[i] == board.waiters[i]);

  s.release_lease(holder, "file:/hot", held.lease->lease_id, false);
  for (TestThread& t : threads) t.join();
  CHECK(order == std::vector<int>{0, 1, 2, 3});
  CHECK(waiting(s) == 0);
  check_journal(s);
}

// A queue row of a waiter whose process is gone, written behind the store's
// back (the same table on both backends): enqueued at `enqueued`, last seen
// now (alive until kLeaseWaiterLivenessMs from now).
void insert_ghost_waiter(const StoreEnv& env, const std::string& id, const std::string& name,
                         std::int64_t enqueued, int priority = 0, std::int64_t seq = 1) {
  const std::int64_t seen = env.clock->now_ms();
  const std::int64_t rank = enqueued - priority * kLeasePriorityStepMs;
  env.raw_sql("INSERT INTO lease_waiters(waiter_id, project, seq, agent, names_json, mode, units,"
              " priority, enqueued_at, rank_ms, alive_until) VALUES('" +
              id + "', '/proj', " + std::to_string(seq) + ", 'ghost', '[\"" + name +
              "\"]', 'exclusive', 1, " + std::to_string(priority) + ", " +
              std::to_string(enqueued) + ", " + std::to_string(rank) + ", " +
              std::to_string(seen + kLeaseWaiterLivenessMs) + ")");
}

TEST_CASE("lease team: a queued waiter goes before a newcomer on a free name",
          "[state][lease][lease-team][queue]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal holder = agent("holder");
  const AcquireResult held = s.acquire_lease(holder, acquire("file:/a", 600'000), {});
  REQUIRE(held.granted);
  // w waits for a and b together; b is free, but w is ahead of anyone
  // wanting b.
  std::optional<AcquireResult> got;
  TestThread w([&] {
    AcquireRequest r = acquire_names({"file:/a", "file:/b"}, 600'000);
    r.wait_ms = 60'000;
    got = s.acquire_lease(agent("w"), r, {});
  });
  REQUIRE(eventually([&] { return waiting(s) == 1; }));
  const AcquireResult late = s.acquire_lease(agent("late"), acquire("file:/b"), {});
  CHECK_FALSE(late.granted);
  CHECK(late.refusal == LeaseRefusal::kQueued);
  REQUIRE(late.ahead.size() == 1);
  CHECK(late.ahead[0].agent == "w");
  CHECK(late.ahead[0].names == std::vector<std::string>{"file:/a", "file:/b"});
  const std::vector<JournalRecord> refusals = records_by(s, ops::kRefuse, "late");
  REQUIRE(refusals.size() == 1);
  CHECK(payload_of(refusals[0]).at("refusal").as_string() == "queued");
  // A name w does not want is not held up by it; shared waiters do not
  // block shared requests.
  CHECK(s.acquire_lease(agent("late"), acquire("file:/c"), {}).granted);

  s.release_lease(holder, "file:/a", held.lease->lease_id, false);
  w.join();
  REQUIRE(got);
  REQUIRE(got->granted);
  CHECK(got->leases.size() == 2);
  CHECK_FALSE(got->timed_out);
  CHECK(waiting(s) == 0);
  check_journal(s);
}

TEST_CASE("lease team: a waiter whose process died leaves the queue when its liveness runs out",
          "[state][lease][lease-team][queue]") {
  StoreEnv env;
  Store& s = *env.store;
  const std::int64_t t0 = env.clock->now_ms();
  insert_ghost_waiter(env, "w_ghost", "file:/q", t0);
  const AcquireResult blocked = s.acquire_lease(agent("bob"), acquire("file:/q"), {});
  CHECK_FALSE(blocked.granted);
  CHECK(blocked.refusal == LeaseRefusal::kQueued);
  REQUIRE(blocked.ahead.size() == 1);
  CHECK(blocked.ahead[0].waiter_id == "w_ghost");
  CHECK(waiting(s) == 1);
  env.clock->advance(kLeaseWaiterLivenessMs - 1);
  CHECK(s.acquire_lease(agent("bob"), acquire("file:/q"), {}).refusal == LeaseRefusal::kQueued);
  env.clock->advance(1);
  CHECK(waiting(s) == 0);  // the board shows live waiters only
  const AcquireResult granted = s.acquire_lease(agent("bob"), acquire("file:/q"), {});
  CHECK(granted.granted);
  check_journal(s);
}

TEST_CASE("lease team: a waiter that gives up or is cancelled leaves the queue",
          "[state][lease][lease-team][queue]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal holder = agent("holder");
  const AcquireResult held = s.acquire_lease(holder, acquire("file:/q", 600'000), {});
  REQUIRE(held.granted);

  AcquireRequest r = acquire("file:/q");
  r.wait_ms = 300;
  const AcquireResult gave_up = s.acquire_lease(agent("bob"), r, {});
  CHECK_FALSE(gave_up.granted);
  CHECK(gave_up.timed_out);
  CHECK(gave_up.waited_ms >= 250);
  CHECK(gave_up.refusal == LeaseRefusal::kHeld);
  REQUIRE(gave_up.holders.size() == 1);
  CHECK(gave_up.holders[0].holder == "holder");
  CHECK(waiting(s) == 0);
  const std::vector<JournalRecord> refusals = records_by(s, ops::kRefuse, "bob");
  REQUIRE(refusals.size() == 1);  // once, when it gave up
  CHECK(payload_of(refusals[0]).at("timed_out").as_bool());
  // An immediate refusal is not a timeout.
  const AcquireResult at_once = s.acquire_lease(agent("bob"), acquire("file:/q"), {});
  CHECK_FALSE(at_once.timed_out);
  CHECK(at_once.waited_ms == 0);

  std::atomic<bool> stop{false};
  TestThread cancelled([&] {
    AcquireRequest w = acquire("file:/q");
    w.wait_ms = 60'000;
    REQUIRE_STORE_ERROR(s.acquire_lease(agent("carol"), w, [&] { return stop.load(); }),
                        ErrorCode::kCancelled);
  });
  REQUIRE(eventually([&] { return waiting(s) == 1; }));
  stop = true;
  cancelled.join();
  CHECK(waiting(s) == 0);

  // With the holder gone, a newcomer is not queued behind any of them.
  s.release_lease(holder, "file:/q", held.lease->lease_id, false);
  CHECK(s.acquire_lease(agent("dave"), acquire("file:/q"), {}).granted);
  check_journal(s);
}

TEST_CASE("lease team: priority serves earlier, and ages", "[state][lease][lease-team][queue]") {
  StoreEnv env;
  Store& s = *env.store;
  const std::int64_t t0 = env.clock->now_ms();
  // Enqueued 40 s ago at priority 0: behind a newcomer of priority 5 (worth
  // 50 s of waiting), ahead of one of priority 3 (30 s).
  insert_ghost_waiter(env, "w_old", "slot:x", t0 - 40'000);
  AcquireRequest p3 = acquire("slot:x");
  p3.priority = 3;
  const AcquireResult r3 = s.acquire_lease(agent("p3"), p3, {});
  CHECK(r3.refusal == LeaseRefusal::kQueued);
  AcquireRequest p5 = acquire("slot:x");
  p5.priority = 5;
  CHECK(s.acquire_lease(agent("p5"), p5, {}).granted);

  // Live waiters at the same moment: the higher priority is served first.
  const Principal holder = agent("holder");
  const AcquireResult held = s.acquire_lease(holder, acquire("file:/p", 600'000), {});
  REQUIRE(held.granted);
  std::mutex mu;
  std::vector<std::string> order;
  std::deque<TestThread> threads;
  for (const int priority : {0, 4}) {
    threads.emplace_back([&, priority] {
      const Principal who = agent("prio" + std::to_string(priority));
      AcquireRequest r = acquire("file:/p", 600'000);
      r.wait_ms = 60'000;
      r.priority = priority;
      const AcquireResult got = s.acquire_lease(who, r, {});
      if (!got.granted) throw std::runtime_error(who.agent + " was not granted");
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(who.agent);
      }
      s.release_lease(who, "file:/p", got.lease->lease_id, false);
    });
    REQUIRE(eventually([&] { return waiting(s, "file:/p") == threads.size(); }));
  }
  const LeaseBoard board = s.lease_board(admin(), "file:/p");
  REQUIRE(board.waiters.size() == 2);
  CHECK(board.waiters[0].agent == "prio4");
  CHECK(board.waiters[0].rank_ms == board.waiters[0].enqueued_at_ms - 4 * kLeasePriorityStepMs);
  CHECK(board.waiters[1].agent == "prio0");
  s.release_lease(holder, "file:/p", held.lease->lease_id, false);
  for (TestThread& t : threads) t.join();
  CHECK(order == std::vector<std::string>{"prio4", "prio0"});
  check_journal(s);
}

// ------------------------------------------------------------ upgrade / downgrade

TEST_CASE_METHOD(AliceAndBob, "lease team: a sole shared holder upgrades in place",
                 "[state][lease][lease-team]") {
  const AcquireResult shared = s.acquire_lease(a, acquire("file:/u", 60'000, LeaseMode::kShared), {});
  REQUIRE(shared.granted);
  env.clock->advance(1'000);
  const AcquireResult up = s.acquire_lease(a, acquire("file:/u", 120'000), {});
  REQUIRE(up.granted);
  CHECK(up.upgraded);
  CHECK_FALSE(up.already_held);
  CHECK(up.lease->lease_id == shared.lease->lease_id);
  CHECK(up.lease->mode == LeaseMode::kExclusive);
  CHECK(up.lease->token > shared.lease->token);
  CHECK(up.lease->ttl_ms == 120'000);
  CHECK(up.lease->expires_at_ms == env.clock->now_ms() + 120'000);
  CHECK(up.lease->acquired_at_ms == shared.lease->acquired_at_ms);
  const std::optional<JournalRecord> rec = newest_record(s, ops::kUpgrade);
  REQUIRE(rec);
  CHECK(payload_of(*rec).at("token").to_number<std::int64_t>() == up.lease->token);
  CHECK(s.list_leases(a, "file:/u") == std::vector<LeaseInfo>{*up.lease});
  // Asked again: already held, nothing new.
  const AcquireResult again = s.acquire_lease(a, acquire("file:/u"), {});
  CHECK(again.already_held);
  CHECK_FALSE(again.upgraded);
  CHECK(journal_records(s, ops::kUpgrade).size() == 1);
  check_journal(s);
}

TEST_CASE_METHOD(AliceAndBob, "lease team: an upgrade with other holders waits in the queue",
                 "[state][lease][lease-team]") {
  const AcquireResult mine = s.acquire_lease(a, acquire("file:/u", 600'000, LeaseMode::kShared), {});
  const AcquireResult theirs =
      s.acquire_lease(b, acquire("file:/u", 600'000, LeaseMode::kShared), {});
  REQUIRE(mine.granted);
  REQUIRE(theirs.granted);
  const AcquireResult refused = s.acquire_lease(a, acquire("file:/u"), {});
  CHECK_FALSE(refused.granted);
  CHECK(refused.refusal == LeaseRefusal::kHeld);
  REQUIRE(refused.holders.size() == 1);
  CHECK(refused.holders[0].holder == "bob");

  std::optional<AcquireResult> up;
  TestThread upgrader([&] {
    AcquireRequest r = acquire("file:/u", 600'000);
    r.wait_ms = 60'000;
    up = s.acquire_lease(a, r, {});
  });
  REQUIRE(eventually([&] { return waiting(s) == 1; }));
  // A shared newcomer is queued behind the upgrade.
  const AcquireResult newcomer =
      s.acquire_lease(agent("carol"), acquire("file:/u", 60'000, LeaseMode::kShared), {});
  CHECK(newcomer.refusal == LeaseRefusal::kQueued);
  s.release_lease(b, "file:/u", theirs.lease->lease_id, false);
  upgrader.join();
  REQUIRE(up);
  REQUIRE(up->granted);
  CHECK(up->upgraded);
  CHECK(up->lease->lease_id == mine.lease->lease_id);
  CHECK(up->lease->mode == LeaseMode::kExclusive);
  check_journal(s);
}

TEST_CASE_METHOD(AliceAndBob, "lease team: an exclusive waiter does not hold up the sole "
                              "holder's upgrade",
                 "[state][lease][lease-team]") {
  const AcquireResult mine = s.acquire_lease(a, acquire("file:/u", 600'000, LeaseMode::kShared), {});
  REQUIRE(mine.granted);
  std::optional<AcquireResult> theirs;
  TestThread waiter([&] {
    AcquireRequest r = acquire("file:/u", 600'000);
    r.wait_ms = 60'000;
    theirs = s.acquire_lease(b, r, {});
  });
  REQUIRE(eventually([&] { return waiting(s) == 1; }));
  // bob cannot be served before alice lets go: waiting for him would deadlock.
  const AcquireResult up = s.acquire_lease(a, acquire("file:/u", 600'000), {});
  REQUIRE(up.granted);
  CHECK(up.upgraded);
  s.release_lease(a, "file:/u", up.lease->lease_id, false);
  waiter.join();
  REQUIRE(theirs);
  CHECK(theirs->granted);
  check_journal(s);
}

TEST_CASE_METHOD(AliceAndBob, "lease team: downgrade turns an exclusive hold shared",
                 "[state][lease][lease-team]") {
  const AcquireResult held = s.acquire_lease(a, acquire("file:/d", 600'000), {});
  REQUIRE(held.granted);
  REQUIRE_STORE_ERROR(s.downgrade_lease(b, "file:/d", held.lease->lease_id),
                      ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.downgrade_lease(a, "file:/d", "lease_nope"), ErrorCode::kNotFound);
  REQUIRE_STORE_ERROR(s.downgrade_lease(a, "file:/other", held.lease->lease_id),
                      ErrorCode::kNotFound);

  // A reader waiting on the exclusive hold is woken by the downgrade.
  std::optional<AcquireResult> reader;
  TestThread t([&] {
    AcquireRequest r = acquire("file:/d", 60'000, LeaseMode::kShared);
    r.wait_ms = 60'000;
    reader = s.acquire_lease(b, r, {});
  });
  REQUIRE(eventually([&] { return waiting(s) == 1; }));
  const LeaseInfo down = s.downgrade_lease(a, "file:/d", held.lease->lease_id);
  CHECK(down.lease_id == held.lease->lease_id);
  CHECK(down.mode == LeaseMode::kShared);
  CHECK(down.token > held.lease->token);
  CHECK(down.expires_at_ms == held.lease->expires_at_ms);
  t.join();
  REQUIRE(reader);
  CHECK(reader->granted);
  const std::optional<JournalRecord> rec = newest_record(s, ops::kDowngrade);
  REQUIRE(rec);
  CHECK(payload_of(*rec).at("mode").as_string() == "shared");
  // Already shared: returned as it is, nothing journaled.
  CHECK(s.downgrade_lease(a, "file:/d", held.lease->lease_id) == down);
  CHECK(journal_records(s, ops::kDowngrade).size() == 1);
  // Expired: kExpired.
  env.clock->advance(600'001);
  REQUIRE_STORE_ERROR(s.downgrade_lease(a, "file:/d", held.lease->lease_id),
                      ErrorCode::kExpired);
  check_journal(s);
}

// ------------------------------------------------------------ release asks

TEST_CASE_METHOD(AliceAndBob, "lease team: a release ask reaches each holder once",
                 "[state][lease][lease-team]") {
  const Principal c = agent("carol");
  const AcquireResult held = s.acquire_lease(a, acquire("file:/f", 600'000), {});
  REQUIRE(held.granted);
  const std::filesystem::path marker =
      store_common::release_ask_marker_path(env.options().dir, "/proj", "alice");
  CHECK_FALSE(std::filesystem::exists(marker));

  REQUIRE_STORE_ERROR(s.ask_release(b, "file:/f", ""), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.ask_release(b, "file:/f", std::string(1025, 'x')),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.ask_release(a, "file:/f", "mine"), ErrorCode::kNotFound);
  REQUIRE_STORE_ERROR(s.ask_release(b, "file:/nobody", "why"), ErrorCode::kNotFound);

  const std::vector<ReleaseAsk> asks = s.ask_release(b, "file:/f", "I must refactor f");
  REQUIRE(asks.size() == 1);
  CHECK(asks[0].name == "file:/f");
  CHECK(asks[0].asker == "bob");
  CHECK(asks[0].holder == "alice");
  CHECK(asks[0].reason == "I must refactor f");
  CHECK_FALSE(asks[0].delivered);
  CHECK(std::filesystem::exists(marker));
  const std::vector<JournalRecord> recs = journal_records(s, ops::kAskRelease);
  REQUIRE(recs.size() == 1);
  const json::object p = payload_of(recs[0]);
  CHECK(p.at("name").as_string() == "file:/f");
  CHECK(p.at("reason").as_string() == "I must refactor f");
  CHECK(p.at("holders").as_array().size() == 1);
  CHECK(s.list_leases(a, "file:/f").size() == 1);  // no lease changed hands

  CHECK(s.take_release_asks(b).empty());  // addressed to alice only
  CHECK(s.lease_board(c, "file:/").asks.size() == 1);
  const std::vector<ReleaseAsk> taken = s.take_release_asks(a);
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].ask_id == asks[0].ask_id);
  CHECK(taken[0].reason == "I must refactor f");
  CHECK(taken[0].delivered);
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK(s.take_release_asks(a).empty());  // once
  // Still open (delivered) on the board while alice holds the name.
  const LeaseBoard board = s.lease_board(c, "file:/");
  REQUIRE(board.asks.size() == 1);
  CHECK(board.asks[0].delivered);
  CHECK(s.lease_board(c, "dir:").asks.empty());

  // Released: the ask stops showing.
  CHECK(s.ask_release(c, "file:/f", "me too").size() == 1);
  s.release_lease(a, "file:/f", held.lease->lease_id, false);
  CHECK(s.lease_board(c, "").asks.empty());
  CHECK(s.take_release_asks(a).empty());

  // Several holders: one ask each.
  REQUIRE(s.acquire_lease(a, acquire("file:/s", 60'000, LeaseMode::kShared), {}).granted);
  REQUIRE(s.acquire_lease(b, acquire("file:/s", 60'000, LeaseMode::kShared), {}).granted);
  const std::vector<ReleaseAsk> two = s.ask_release(c, "file:/s", "exclusive, please");
  REQUIRE(two.size() == 2);
  CHECK(two[0].holder != two[1].holder);
  CHECK(s.take_release_asks(b).size() == 1);
  check_journal(s);
}

// ------------------------------------------------------------ idempotency

TEST_CASE_METHOD(AliceAndBob, "lease team: a request_id replays only the same arguments, and "
                              "says when its grant is gone",
                 "[state][lease][lease-team]") {
  AcquireRequest r = acquire_names({"file:/i1", "file:/i2"});
  r.request_id = "req-1";
  r.reason = "first";
  const AcquireResult first = s.acquire_lease(a, r, {});
  REQUIRE(first.granted);
  CHECK_FALSE(first.replayed);

  // The same arguments, spelled otherwise (order, reason, wait_ms): replayed.
  AcquireRequest same = acquire_names({"file:/i2", "file:/i1", "file:/i2"});
  same.request_id = "req-1";
  same.reason = "retry";
  same.wait_ms = 1'000;
  const AcquireResult replay = s.acquire_lease(a, same, {});
  CHECK(replay.granted);
  CHECK(replay.replayed);
  CHECK(replay.replay_status == "granted");
  CHECK(replay.leases == first.leases);
  CHECK(journal_records(s, ops::kAcquire).size() == 2);

  // Other arguments under the same id: refused.
  AcquireRequest other = r;
  other.ttl_ms = 30'000;
  REQUIRE_STORE_ERROR(s.acquire_lease(a, other, {}), ErrorCode::kInvalidArgument);
  other = r;
  other.names = {"file:/i1"};
  REQUIRE_STORE_ERROR(s.acquire_lease(a, other, {}), ErrorCode::kInvalidArgument);
  other = r;
  other.mode = LeaseMode::kShared;
  REQUIRE_STORE_ERROR(s.acquire_lease(a, other, {}), ErrorCode::kInvalidArgument);

  // Released: the replay says so rather than granting the old leases.
  REQUIRE(s.release_group(a, first.leases[0].group_id, false).size() == 2);
  const AcquireResult after = s.acquire_lease(a, r, {});
  CHECK_FALSE(after.granted);
  CHECK(after.replayed);
  CHECK(after.refusal == LeaseRefusal::kReleased);
  CHECK(after.replay_status == "released");
  CHECK(after.leases == first.leases);
  CHECK(s.list_leases(a, "file:/i").empty());

  // Expired.
  AcquireRequest brief = acquire("file:/i3", 1'000);
  brief.request_id = "req-2";
  REQUIRE(s.acquire_lease(a, brief, {}).granted);
  env.clock->advance(2'000);
  const AcquireResult gone = s.acquire_lease(a, brief, {});
  CHECK_FALSE(gone.granted);
  CHECK(gone.replay_status == "expired");

  // A refused request_id is not remembered: the retry decides afresh.
  const AcquireResult blocker = s.acquire_lease(b, acquire("file:/i4"), {});
  REQUIRE(blocker.granted);
  AcquireRequest refused = acquire("file:/i4");
  refused.request_id = "req-3";
  CHECK_FALSE(s.acquire_lease(a, refused, {}).granted);
  s.release_lease(b, "file:/i4", blocker.lease->lease_id, false);
  const AcquireResult fresh = s.acquire_lease(a, refused, {});
  CHECK(fresh.granted);
  CHECK_FALSE(fresh.replayed);

  // The same id of another agent is another request; a reopened store
  // still remembers.
  CHECK_FALSE(s.acquire_lease(b, r, {}).replayed);
  env.reopen();
  const AcquireResult reopened = env.store->acquire_lease(a, refused, {});
  CHECK(reopened.replayed);
  CHECK(reopened.replay_status == "granted");
  check_journal(*env.store);
}

// ------------------------------------------------------------ all of it

TEST_CASE("lease team: the journal folds every new op, before and after compaction",
          "[state][lease][lease-team]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const Principal b = agent("bob");
  const AcquireResult group = s.acquire_lease(a, acquire_names({"file:/j1", "file:/j2"}), {});
  REQUIRE(group.granted);
  REQUIRE(s.acquire_lease(b, counted("slot:j", 2, 3), {}).granted);
  const AcquireResult sh = s.acquire_lease(b, acquire("file:/j3", 60'000, LeaseMode::kShared), {});
  REQUIRE(sh.granted);
  REQUIRE(s.acquire_lease(b, acquire("file:/j3"), {}).upgraded);
  s.downgrade_lease(b, "file:/j3", sh.lease->lease_id);
  REQUIRE(s.ask_release(b, "file:/j1", "please").size() == 1);
  REQUIRE(s.take_release_asks(a).size() == 1);
  check_journal(s);
  const ReplayReport before = s.journal_replay(admin());
  CHECK(before.table.size() == 4);
  s.journal_compact(admin());
  check_journal(s);
  REQUIRE(s.release_group(a, group.leases[0].group_id, false).size() == 2);
  check_journal(s);
  const ReplayReport after = s.journal_replay(admin());
  REQUIRE(after.table.size() == 2);
  bool counted_seen = false;
  for (const LeaseInfo& l : after.replayed) {
    if (l.name == "slot:j") {
      counted_seen = true;
      CHECK(l.units == 2);
    }
  }
  CHECK(counted_seen);
}

TEST_CASE("lease team: a store copy keeps units, groups, declared capacities, release asks and "
          "args hashes, not the queue",
          "[state][lease][lease-team][copy]") {
  StoreEnv src;
  Store& s = *src.store;
  const Principal a = agent("alice");
  const Principal b = agent("bob");
  AcquireRequest pair = acquire_names({"file:/c1", "file:/c2"}, 600'000);
  pair.request_id = "req-copy";
  const AcquireResult group = s.acquire_lease(a, pair, {});
  REQUIRE(group.granted);
  AcquireRequest slot = counted("slot:c", 2, 3);
  slot.ttl_ms = 600'000;
  REQUIRE(s.acquire_lease(b, slot, {}).granted);
  REQUIRE(s.ask_release(b, "file:/c1", "copy me").size() == 1);
  insert_ghost_waiter(src, "w_copy", "file:/c3", src.clock->now_ms());
  REQUIRE(waiting(s) == 1);

  auto* from = dynamic_cast<StoreImaging*>(&s);
  REQUIRE(from != nullptr);
  const StateImage image = from->export_image(admin());
  StoreEnv dst;
  dst.clock->set(src.clock->now_ms());
  auto* to = dynamic_cast<StoreImaging*>(dst.store.get());
  REQUIRE(to != nullptr);
  to->import_image(admin(), image);
  Store& t = *dst.store;

  CHECK(t.list_leases(a, "") == s.list_leases(a, ""));
  const LeaseBoard board = t.lease_board(a, "");
  CHECK(board.capacities == std::vector<LeaseCapacity>{{"slot:c", 3, 2}});
  REQUIRE(board.asks.size() == 1);
  CHECK(board.asks[0].reason == "copy me");
  CHECK(board.waiters.empty());
  // The declared capacity is fixed on the copy too; the ask is delivered there.
  REQUIRE_STORE_ERROR(t.acquire_lease(a, counted("slot:c", 1, 4), {}), ErrorCode::kInvalidArgument);
  CHECK(t.take_release_asks(a).size() == 1);
  // The request_id replays with the same arguments only.
  const AcquireResult replay = t.acquire_lease(a, pair, {});
  CHECK(replay.replayed);
  CHECK(replay.leases == group.leases);
  AcquireRequest other = pair;
  other.ttl_ms = 1'000;
  REQUIRE_STORE_ERROR(t.acquire_lease(a, other, {}), ErrorCode::kInvalidArgument);
  CHECK(t.release_group(a, group.leases[0].group_id, false).size() == 2);
  check_journal(t);
}
