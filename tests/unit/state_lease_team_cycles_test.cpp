// The fair queue must never make a caller wait for itself (issue 18): a
// waiter the caller's own holds stop, directly or through an earlier waiter,
// is not "ahead" of the caller. And the small rules found in review: a
// release ask closes with the hold it was about; units and capacity are
// bounded. Backend-neutral (open_test_store).
#include <catch2/catch.hpp>

#include <chrono>
#include <deque>
#include <future>
#include <optional>

#include "tests/unit/state_lease_team_util.h"

using namespace keel::state;
using namespace keel::state::testing;
using namespace keel::state::testing::lease_team;

TEST_CASE("lease team: a holder is not queued behind waiters that wait for it, even transitively",
          "[state][lease][lease-team][queue]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal r = agent("r");
  const AcquireResult x = s.acquire_lease(r, acquire("file:/x", 600'000), {});
  REQUIRE(x.granted);

  // p waits for {x, y}: stopped by r's hold on x. q waits for y alone,
  // queued behind p (p wants y first). Neither can move before r does.
  std::deque<TestThread> threads;
  std::promise<AcquireResult> p_promise;
  std::future<AcquireResult> p_future = p_promise.get_future();
  std::optional<AcquireResult> q_got;  // read after the join only
  threads.emplace_back([&] {
    AcquireRequest req = acquire_names({"file:/x", "file:/y"}, 600'000);
    req.wait_ms = 60'000;
    p_promise.set_value(s.acquire_lease(agent("p"), req, {}));
  });
  REQUIRE(eventually([&] { return waiting(s) == 1; }));
  threads.emplace_back([&] {
    AcquireRequest req = acquire("file:/y", 600'000);
    req.wait_ms = 60'000;
    q_got = s.acquire_lease(agent("q"), req, {});
  });
  REQUIRE(eventually([&] { return waiting(s) == 2; }));

  // r now asks for y: p and q are stuck behind r itself, so r is served
  // at once instead of waiting for them (a cycle only a timeout breaks).
  AcquireRequest more = acquire("file:/y", 600'000);
  more.wait_ms = 5'000;
  const AcquireResult y = s.acquire_lease(r, more, {});
  REQUIRE(y.granted);
  CHECK_FALSE(y.timed_out);
  CHECK(y.waited_ms < 5'000);

  // Then the queue drains in order once r lets go.
  s.release_lease(r, "file:/x", x.lease->lease_id, false);
  s.release_lease(r, "file:/y", y.lease->lease_id, false);
  REQUIRE(p_future.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  const AcquireResult p_got = p_future.get();
  REQUIRE(p_got.granted);
  s.release_group(agent("p"), p_got.leases.front().group_id);
  for (TestThread& t : threads) t.join();
  REQUIRE(q_got.has_value());
  CHECK(q_got->granted);
  check_journal(s);
}

TEST_CASE("lease team: a counted holder asking for more units is not queued behind a waiter its "
          "own units stop",
          "[state][lease][lease-team][queue][counted]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal r = agent("r");
  REQUIRE(s.acquire_lease(r, counted("slot:gpu", 2, 3), {}).granted);

  std::optional<AcquireResult> w_got;
  TestThread w([&] {
    AcquireRequest req = counted("slot:gpu", 2);
    req.wait_ms = 60'000;
    w_got = s.acquire_lease(agent("w"), req, {});
  });
  REQUIRE(eventually([&] { return waiting(s) == 1; }));

  // 1 unit is free: r's own 2 units are what stops w, so r is not behind w.
  AcquireRequest one = counted("slot:gpu", 1);
  one.wait_ms = 5'000;
  const AcquireResult got = s.acquire_lease(r, one, {});
  REQUIRE(got.granted);
  CHECK_FALSE(got.timed_out);
  // A third agent is behind w, though: w is not waiting for it.
  const AcquireResult other = s.acquire_lease(agent("o"), counted("slot:gpu", 1), {});
  CHECK_FALSE(other.granted);
  CHECK((other.refusal == LeaseRefusal::kQueued || other.refusal == LeaseRefusal::kCapacity));

  for (const LeaseInfo& l : s.list_leases(admin(), "slot:gpu")) {
    if (l.holder == "r") s.release_lease(r, "slot:gpu", l.lease_id, false);
  }
  w.join();
  REQUIRE(w_got.has_value());
  CHECK(w_got->granted);
  check_journal(s);
}

TEST_CASE("lease team: a release ask closes with the hold it was about",
          "[state][lease][lease-team][asks]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal h = agent("h");
  const AcquireResult first = s.acquire_lease(h, acquire("file:/api.h", 600'000), {});
  REQUIRE(first.granted);
  REQUIRE(s.ask_release(agent("a"), "file:/api.h", "I need the header").size() == 1);
  CHECK(s.lease_board(admin()).asks.size() == 1);

  // h lets go before its next hook event, and later takes the file again:
  // the old ask was about the old hold, and is not shown for the new one.
  s.release_lease(h, "file:/api.h", first.lease->lease_id, false);
  env.clock->advance(1'000);
  REQUIRE(s.acquire_lease(h, acquire("file:/api.h", 600'000), {}).granted);
  CHECK(s.take_release_asks(h).empty());
  CHECK(s.lease_board(admin()).asks.empty());

  // A new ask on the new hold is shown.
  REQUIRE(s.ask_release(agent("a"), "file:/api.h", "still need it").size() == 1);
  const std::vector<ReleaseAsk> asks = s.take_release_asks(h);
  REQUIRE(asks.size() == 1);
  CHECK(asks.front().reason == "still need it");
}

TEST_CASE("lease team: units and capacity are bounded", "[state][lease][lease-team][counted]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal r = agent("r");
  auto code_of = [&](const AcquireRequest& req) {
    try {
      s.acquire_lease(r, req, {});
    } catch (const StoreError& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  CHECK(code_of(counted("slot:big", 1, kMaxLeaseCapacity + 1)) == ErrorCode::kInvalidArgument);
  CHECK(code_of(counted("slot:big", kMaxLeaseCapacity + 1, kMaxLeaseCapacity)) ==
        ErrorCode::kInvalidArgument);
  CHECK(code_of(counted("slot:big", INT64_MAX, INT64_MAX)) == ErrorCode::kInvalidArgument);
  // At the bound itself, all is well: the whole capacity, then nothing more.
  REQUIRE(s.acquire_lease(r, counted("slot:big", kMaxLeaseCapacity, kMaxLeaseCapacity), {})
              .granted);
  const AcquireResult more = s.acquire_lease(agent("o"), counted("slot:big", 1), {});
  CHECK_FALSE(more.granted);
  CHECK(more.refusal == LeaseRefusal::kCapacity);
  CHECK(s.list_leases(admin(), "slot:big").size() == 1);
}
