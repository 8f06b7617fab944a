// Lease semantics of the SQLite store.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;

TEST_CASE_METHOD(AliceAndBob, "leases: grant, conflict, holders", "[state][lease]") {
  const AcquireResult ra = s.acquire_lease(a, acquire("file:/src//main.cpp"));
  REQUIRE(ra.granted);
  REQUIRE(ra.lease);
  CHECK(ra.lease->name == "file:/src/main.cpp");
  CHECK(ra.lease->holder == "alice");
  CHECK(ra.lease->expires_at_ms == env.clock->now_ms() + 60'000);
  CHECK_FALSE(ra.replayed);
  CHECK_FALSE(ra.already_held);

  const AcquireResult rb = s.acquire_lease(b, acquire("file:/src/./main.cpp"));
  CHECK_FALSE(rb.granted);
  REQUIRE(rb.holders.size() == 1);
  CHECK(rb.holders[0].holder == "alice");
  CHECK(rb.holders[0].lease_id == ra.lease->lease_id);
  CHECK(journal_records(s, ops::kRefuse).size() == 1);

  // Another project is independent.
  CHECK(s.acquire_lease(agent("bob", "s1", "/other"), acquire("file:/src/main.cpp")).granted);

  // Self-holds never conflict; the exact name again is already_held.
  const AcquireResult again = s.acquire_lease(a, acquire("file:/src/main.cpp"));
  CHECK(again.granted);
  CHECK(again.already_held);
  CHECK(again.lease->token == ra.lease->token);
  CHECK(s.acquire_lease(a, acquire("dir:/src")).granted);  // covers own file hold

  std::vector<LeaseInfo> listed = s.list_leases(a);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].name == "dir:/src/");
  CHECK(listed[1].name == "file:/src/main.cpp");
  CHECK(s.list_leases(a, "file:").size() == 1);
  CHECK(journal_records(s, ops::kAcquire).size() == 3);
}

TEST_CASE_METHOD(AliceAndBob, "leases: directory nesting conflicts both ways", "[state][lease]") {
  REQUIRE(s.acquire_lease(a, acquire("dir:/repo/lib")).granted);
  CHECK_FALSE(s.acquire_lease(b, acquire("file:/repo/lib/x.cpp")).granted);
  CHECK_FALSE(s.acquire_lease(b, acquire("dir:/repo/lib/sub/")).granted);
  CHECK_FALSE(s.acquire_lease(b, acquire("dir:/repo")).granted);
  CHECK_FALSE(s.acquire_lease(b, acquire("file:/repo/lib")).granted);
  CHECK(s.acquire_lease(b, acquire("file:/repo/library.cpp")).granted);
  CHECK(s.acquire_lease(b, acquire("dir:/repo/other")).granted);

  // File held first, dir requested above it.
  REQUIRE(s.acquire_lease(a, acquire("file:/x/y/z.txt")).granted);
  const AcquireResult r = s.acquire_lease(b, acquire("dir:/x/"));
  CHECK_FALSE(r.granted);
  REQUIRE(r.holders.size() == 1);
  CHECK(r.holders[0].name == "file:/x/y/z.txt");
}

TEST_CASE_METHOD(AliceAndBob, "leases: shared and exclusive modes", "[state][lease]") {
  const Principal c = agent("carol");

  REQUIRE(s.acquire_lease(a, acquire("dir:/docs", 60'000, LeaseMode::kShared)).granted);
  CHECK(s.acquire_lease(b, acquire("file:/docs/a.md", 60'000, LeaseMode::kShared)).granted);
  const AcquireResult rc = s.acquire_lease(c, acquire("file:/docs/a.md"));
  CHECK_FALSE(rc.granted);
  CHECK(rc.holders.size() == 2);
  // Exclusive blocks shared.
  REQUIRE(s.acquire_lease(c, acquire("lock")).granted);
  CHECK_FALSE(s.acquire_lease(a, acquire("lock", 60'000, LeaseMode::kShared)).granted);
  // A shared holder asking for exclusive is blocked by the other shared holder.
  CHECK_FALSE(s.acquire_lease(b, acquire("dir:/docs/")).granted);
}

TEST_CASE("leases: argument validation and capability", "[state][lease]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  REQUIRE_STORE_ERROR(s.acquire_lease(a, acquire("x", 0)), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(a, acquire("x", -5)), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(a, acquire("x", 25LL * 3600 * 1000)),
                      ErrorCode::kInvalidArgument);
  AcquireRequest r = acquire("x");
  r.wait_ms = -1;
  REQUIRE_STORE_ERROR(s.acquire_lease(a, r), ErrorCode::kInvalidArgument);
  r.wait_ms = 11 * 60 * 1000;
  REQUIRE_STORE_ERROR(s.acquire_lease(a, r), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(a, acquire("file:rel")), ErrorCode::kInvalidArgument);

  Principal nocap = a;
  nocap.capabilities.erase(std::string(caps::kLease));
  REQUIRE_STORE_ERROR(s.acquire_lease(nocap, acquire("x")), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.release_lease(nocap, "x", "id"), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.renew_lease(nocap, "x", "id"), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.list_leases(nocap), ErrorCode::kPermissionDenied);
}

TEST_CASE("leases: fencing tokens strictly increase, across a restart", "[state][lease]") {
  StoreEnv env;
  const Principal a = agent("alice");
  std::int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    const AcquireResult r = env.store->acquire_lease(a, acquire("k" + std::to_string(i)));
    REQUIRE(r.granted);
    CHECK(r.lease->token > last);
    last = r.lease->token;
  }
  const AcquireResult r0 = env.store->acquire_lease(a, acquire("cycle"));
  env.store->release_lease(a, "cycle", r0.lease->lease_id);
  const AcquireResult r1 = env.store->acquire_lease(a, acquire("cycle"));
  CHECK(r1.lease->token > r0.lease->token);
  last = r1.lease->token;

  env.reopen();
  const AcquireResult after = env.store->acquire_lease(a, acquire("after-restart"));
  REQUIRE(after.granted);
  CHECK(after.lease->token > last);
  // Leases survive the restart.
  CHECK(env.store->list_leases(a).size() == 7);
}

TEST_CASE_METHOD(AliceAndBob, "leases: renew extends, never revives", "[state][lease]") {
  const AcquireResult r = s.acquire_lease(a, acquire("file:/f", 1000));
  REQUIRE(r.granted);
  const std::string id = r.lease->lease_id;

  env.clock->advance(600);
  const LeaseInfo renewed = s.renew_lease(a, "file:/f", id);
  CHECK(renewed.expires_at_ms == env.clock->now_ms() + 1000);
  CHECK(renewed.token == r.lease->token);
  CHECK(renewed.ttl_ms == 1000);

  REQUIRE_STORE_ERROR(s.renew_lease(b, "file:/f", id), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.renew_lease(a, "file:/f", "lease_nope"), ErrorCode::kNotFound);
  REQUIRE_STORE_ERROR(s.renew_lease(a, "file:/other", id), ErrorCode::kNotFound);

  env.clock->advance(1000);  // exactly at expiry: expired
  REQUIRE_STORE_ERROR(s.renew_lease(a, "file:/f", id), ErrorCode::kExpired);
  REQUIRE_STORE_ERROR(s.renew_lease(a, "file:/f", id), ErrorCode::kExpired);  // still gone
  CHECK(s.list_leases(a).empty());
  CHECK(journal_records(s, ops::kExpire).size() == 1);
  CHECK(journal_records(s, ops::kRenew).size() == 1);

  // Someone else can take it now; the old id stays dead.
  REQUIRE(s.acquire_lease(b, acquire("file:/f")).granted);
  REQUIRE_STORE_ERROR(s.renew_lease(a, "file:/f", id), ErrorCode::kExpired);
}

TEST_CASE("leases: expired holds are reaped on acquire", "[state][lease]") {
  StoreEnv env;
  Store& s = *env.store;
  const AcquireResult r = s.acquire_lease(agent("alice"), acquire("file:/f", 1000));
  env.clock->advance(1000);
  const AcquireResult rb = s.acquire_lease(agent("bob"), acquire("file:/f"));
  REQUIRE(rb.granted);
  CHECK(rb.lease->token > r.lease->token);
  const auto expires = journal_records(s, ops::kExpire);
  REQUIRE(expires.size() == 1);
  CHECK(expires[0].subject == "file:/f");
  CHECK(expires[0].payload.find(r.lease->lease_id) != std::string::npos);
}

TEST_CASE_METHOD(AliceAndBob, "leases: release is idempotent and holder-only", "[state][lease]") {
  const AcquireResult r = s.acquire_lease(a, acquire("file:/f"));
  const std::string id = r.lease->lease_id;

  REQUIRE_STORE_ERROR(s.release_lease(b, "file:/f", id), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.release_lease(b, "file:/f", id, true), ErrorCode::kPermissionDenied);
  CHECK(s.release_lease(a, "file:/f", id) == ReleaseOutcome::kReleased);
  CHECK(s.release_lease(a, "file:/f", id) == ReleaseOutcome::kAlreadyReleased);
  CHECK(s.release_lease(a, "file:/f", id) == ReleaseOutcome::kAlreadyReleased);
  CHECK(s.release_lease(a, "file:/f", "lease_unknown") == ReleaseOutcome::kAlreadyReleased);
  CHECK(journal_records(s, ops::kRelease).size() == 1);
  REQUIRE_STORE_ERROR(s.renew_lease(a, "file:/f", id), ErrorCode::kNotFound);

  // Release of an expired lease reports it.
  const AcquireResult r2 = s.acquire_lease(a, acquire("file:/g", 500));
  env.clock->advance(500);
  CHECK(s.release_lease(a, "file:/g", r2.lease->lease_id) == ReleaseOutcome::kExpired);
  CHECK(s.release_lease(a, "file:/g", r2.lease->lease_id) == ReleaseOutcome::kExpired);
  CHECK(journal_records(s, ops::kExpire).size() == 1);

  // Wrong name for the id.
  const AcquireResult r3 = s.acquire_lease(a, acquire("file:/h"));
  REQUIRE_STORE_ERROR(s.release_lease(a, "file:/other", r3.lease->lease_id),
                      ErrorCode::kNotFound);
}

TEST_CASE_METHOD(AliceAndBob, "leases: force release", "[state][lease]") {
  const Principal boss = admin("boss");
  REQUIRE(s.acquire_lease(a, acquire("dir:/shared", 60'000, LeaseMode::kShared)).granted);
  REQUIRE(s.acquire_lease(b, acquire("dir:/shared", 60'000, LeaseMode::kShared)).granted);
  const AcquireResult single = s.acquire_lease(a, acquire("file:/one"));

  CHECK(s.release_lease(boss, "file:/one", single.lease->lease_id, true) ==
        ReleaseOutcome::kReleased);
  CHECK(s.release_lease(boss, "dir:/shared/", "", true) == ReleaseOutcome::kReleased);
  CHECK(s.list_leases(a).empty());
  CHECK(s.release_lease(boss, "dir:/shared/", "", true) == ReleaseOutcome::kAlreadyReleased);
  const auto released = journal_records(s, ops::kRelease);
  REQUIRE(released.size() == 3);
  CHECK(released[0].principal == "boss");
  CHECK(released[0].payload.find("\"force\":true") != std::string::npos);

  // Without force and without a lease_id: the caller's own holds only.
  REQUIRE(s.acquire_lease(a, acquire("n", 60'000, LeaseMode::kShared)).granted);
  REQUIRE(s.acquire_lease(b, acquire("n", 60'000, LeaseMode::kShared)).granted);
  CHECK(s.release_lease(a, "n", "") == ReleaseOutcome::kReleased);
  REQUIRE(s.list_leases(b).size() == 1);
  CHECK(s.list_leases(b)[0].holder == "bob");
}

TEST_CASE("leases: request_id makes acquire idempotent", "[state][lease]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  AcquireRequest req = acquire("file:/f");
  req.request_id = "req-1";
  const AcquireResult first = s.acquire_lease(a, req);
  REQUIRE(first.granted);
  CHECK_FALSE(first.replayed);
  const AcquireResult second = s.acquire_lease(a, req);
  CHECK(second.granted);
  CHECK(second.replayed);
  CHECK(second.lease == first.lease);
  CHECK(journal_records(s, ops::kAcquire).size() == 1);
  // The same id from another agent is a different request.
  AcquireRequest other = req;
  other.name = "file:/g";
  const AcquireResult rb = s.acquire_lease(agent("bob"), other);
  CHECK(rb.granted);
  CHECK_FALSE(rb.replayed);
  // Survives a restart.
  env.reopen();
  const AcquireResult third = env.store->acquire_lease(a, req);
  CHECK(third.replayed);
  CHECK(third.lease == first.lease);
}

TEST_CASE("leases: wait_ms is granted after another thread releases", "[state][lease]") {
  TempDir dir;
  StoreOptions o;
  o.dir = dir.path();
  auto store = open_test_store(o);  // system clock
  const Principal a = agent("alice");
  const Principal b = agent("bob");
  const AcquireResult held = store->acquire_lease(a, acquire("file:/busy"));
  REQUIRE(held.granted);

  TestThread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    store->release_lease(a, "file:/busy", held.lease->lease_id);
  });
  AcquireRequest req = acquire("file:/busy");
  req.wait_ms = 10'000;
  const auto start = std::chrono::steady_clock::now();
  const AcquireResult got = store->acquire_lease(b, req);
  const auto waited = std::chrono::steady_clock::now() - start;
  releaser.join();
  REQUIRE(got.granted);
  CHECK(got.lease->holder == "bob");
  CHECK(got.lease->token > held.lease->token);
  CHECK(waited < std::chrono::seconds(5));
  CHECK(journal_records(*store, ops::kRefuse).empty());  // only a final refusal is journaled
}

TEST_CASE("leases: wait_ms times out with one REFUSE", "[state][lease]") {
  StoreEnv env;
  Store& s = *env.store;
  REQUIRE(s.acquire_lease(agent("alice"), acquire("file:/busy")).granted);
  AcquireRequest req = acquire("file:/busy");
  req.wait_ms = 200;
  const auto start = std::chrono::steady_clock::now();
  const AcquireResult r = s.acquire_lease(agent("bob"), req);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(200));
  CHECK_FALSE(r.granted);
  CHECK(r.holders.size() == 1);
  const auto refusals = journal_records(s, ops::kRefuse);
  REQUIRE(refusals.size() == 1);
  CHECK(refusals[0].principal == "bob");
  CHECK(refusals[0].subject == "file:/busy");
}

TEST_CASE("leases: CancelCheck aborts a wait", "[state][lease]") {
  StoreEnv env;
  Store& s = *env.store;
  REQUIRE(s.acquire_lease(agent("alice"), acquire("file:/busy")).granted);
  AcquireRequest req = acquire("file:/busy");
  req.wait_ms = 60'000;
  std::atomic<bool> stop{false};
  TestThread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  REQUIRE_STORE_ERROR(s.acquire_lease(agent("bob"), req, [&] { return stop.load(); }),
                      ErrorCode::kCancelled);
  canceller.join();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("leases: an already-cancelled call still gets its first attempt", "[state][lease]") {
  // A stdio server cancels in-flight calls at end of input; a free lease must
  // still be granted (and a held one refused) rather than reported cancelled.
  StoreEnv env;
  Store& s = *env.store;
  const CancelCheck always = [] { return true; };
  AcquireRequest req = acquire("file:/free");
  req.wait_ms = 60'000;
  CHECK(s.acquire_lease(agent("alice"), req, always).granted);
  AcquireRequest now = acquire("file:/free");
  CHECK_FALSE(s.acquire_lease(agent("bob"), now, always).granted);
  REQUIRE_STORE_ERROR(s.acquire_lease(agent("bob"), req, always), ErrorCode::kCancelled);
}
