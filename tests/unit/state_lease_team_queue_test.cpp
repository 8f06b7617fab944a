// Leases as a team needs them (issue 18): the fair queue (arrival order,
// priority and its ageing, waiters that give up, are cancelled or die),
// upgrade and downgrade, release asks. Backend-neutral like
// state_lease_team_test.cpp: waits are on observable state (the board).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "state/store_common.h"
#include "state/store_copy.h"
#include "tests/unit/state_lease_team_util.h"

using namespace keel::state;
using namespace keel::state::testing;
using namespace keel::state::testing::lease_team;

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


TEST_CASE("lease team: a waiter of another store on the same state stays queued past its "
          "liveness and is served when the holder there releases",
          "[state][lease][lease-team][queue]") {
  // Two stores on one state directory (SQLite: two processes' worth of
  // connections and writers; PostgreSQL: two nodes): a release in one wakes
  // no thread of the other, whose waiter must find out by itself, and keep
  // its queue row alive meanwhile. System clock: the liveness is real time.
  TempDir dir;
  StoreOptions o;
  o.dir = dir.path() / "state";
  auto here = open_test_store(o);
  auto there = open_test_store(o);
  const Principal holder = agent("holder");
  const AcquireResult held = there->acquire_lease(holder, acquire("file:/x", 600'000), {});
  REQUIRE(held.granted);
  std::optional<AcquireResult> got;
  std::chrono::steady_clock::time_point granted_at;
  TestThread waiter([&] {
    AcquireRequest r = acquire("file:/x", 60'000);
    r.wait_ms = 60'000;
    got = here->acquire_lease(agent("waiter"), r, {});
    granted_at = std::chrono::steady_clock::now();
  });
  REQUIRE(eventually([&] { return waiting(*there) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(kLeaseWaiterLivenessMs + 1'000));
  CHECK(waiting(*there) == 1);  // still queued: its row was refreshed
  // A newcomer on the other store is still queued behind it.
  CHECK(there->acquire_lease(agent("late"), acquire("file:/x"), {}).refusal ==
        LeaseRefusal::kQueued);
  const auto released_at = std::chrono::steady_clock::now();
  there->release_lease(holder, "file:/x", held.lease->lease_id, false);
  waiter.join();
  REQUIRE(got);
  CHECK(got->granted);
  CHECK(granted_at - released_at < 5s);
  CHECK(waiting(*there) == 0);
  check_journal(*there);
}
