// Fanout's store side (Store::fanout_cache_lookup / fanout_cache_store,
// fanout_breakers / fanout_breaker_store) on the backend under test: SQLite,
// or PostgreSQL with KEEL_TEST_STORE_URL (state_test_util.h).
#include <catch2/catch.hpp>

#include <thread>

#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;

namespace {

FanoutCacheEntry entry(const std::string& digest, const std::string& result, std::int64_t expires_at) {
  FanoutCacheEntry e;
  e.digest = digest;
  e.result_json = result;
  e.expires_at_ms = expires_at;
  return e;
}

FanoutBreaker breaker(const std::string& provider, const std::string& state, std::int64_t failures,
                      std::int64_t opened, std::int64_t opened_at) {
  return FanoutBreaker{provider, state, failures, opened, opened_at, 0};
}

}  // namespace

TEST_CASE("fanout cache: miss, hit with counted hits, expiry, replace", "[state][fanout]") {
  AliceAndBob t;
  const std::int64_t t0 = t.env.clock->now_ms();
  auto none = t.s.fanout_cache_lookup(t.a, {"d1", "d2"});
  REQUIRE(none.size() == 2);
  CHECK_FALSE(none[0]);
  CHECK_FALSE(none[1]);
  CHECK(t.s.fanout_cache_lookup(t.a, {}).empty());

  t.s.fanout_cache_store(t.a, entry("d1", R"({"value":1})", t0 + 1000));
  // Order follows the request, duplicates included; each found entry counts
  // one hit per lookup call.
  auto got = t.s.fanout_cache_lookup(t.a, {"d2", "d1", "d1"});
  REQUIRE(got.size() == 3);
  CHECK_FALSE(got[0]);
  REQUIRE(got[1]);
  REQUIRE(got[2]);
  CHECK(got[1]->result_json == R"({"value":1})");
  CHECK(got[1]->stored_at_ms == t0);
  CHECK(got[1]->expires_at_ms == t0 + 1000);
  CHECK(got[1]->hits == 1);
  CHECK(t.s.fanout_cache_lookup(t.a, {"d1"})[0]->hits == 2);

  // Per project: bob of the same project sees it, another project does not.
  CHECK(t.s.fanout_cache_lookup(t.b, {"d1"})[0]);
  CHECK_FALSE(t.s.fanout_cache_lookup(agent("carol", "s1", "/other"), {"d1"})[0]);

  // Invisible once expired.
  t.env.clock->advance(1000);
  CHECK_FALSE(t.s.fanout_cache_lookup(t.a, {"d1"})[0]);

  // A store replaces the entry and restarts its hit count.
  const std::int64_t t1 = t.env.clock->now_ms();
  t.s.fanout_cache_store(t.a, entry("d1", R"({"value":2})", t1 + 500));
  auto again = t.s.fanout_cache_lookup(t.a, {"d1"});
  REQUIRE(again[0]);
  CHECK(again[0]->result_json == R"({"value":2})");
  CHECK(again[0]->stored_at_ms == t1);
  CHECK(again[0]->hits == 1);
}

TEST_CASE("fanout cache: bounded LRU per project by last use", "[state][fanout]") {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  StoreOptions o;
  o.dir = dir.path() / "state";
  o.clock = clock;
  o.fanout_cache_max_entries = 3;
  auto store = open_test_store(o);
  const Principal a = agent("alice");
  const std::int64_t far = clock->now_ms() + 3'600'000;
  for (const char* d : {"a", "b", "c"}) {
    store->fanout_cache_store(a, entry(d, "1", far));
    clock->advance(1);
  }
  store->fanout_cache_lookup(a, {"a"});  // a is now the most recently used
  clock->advance(1);
  store->fanout_cache_store(a, entry("d", "1", far));  // drops b, the least recently used
  auto got = store->fanout_cache_lookup(a, {"a", "b", "c", "d"});
  CHECK(got[0]);
  CHECK_FALSE(got[1]);
  CHECK(got[2]);
  CHECK(got[3]);
  // Another project has its own bound.
  const Principal other = agent("alice", "s1", "/other");
  store->fanout_cache_store(other, entry("x", "1", far));
  CHECK(store->fanout_cache_lookup(a, {"a", "c", "d"})[2]);
  CHECK(store->fanout_cache_lookup(other, {"x"})[0]);
}

TEST_CASE("fanout cache: racing stores keep the bound exactly", "[state][fanout]") {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  StoreOptions o;
  o.dir = dir.path() / "state";
  o.clock = clock;
  o.fanout_cache_max_entries = 10;
  auto store = open_test_store(o);
  const Principal a = agent("alice");
  const std::int64_t far = clock->now_ms() + 3'600'000;
  std::vector<std::string> digests;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    for (int i = 0; i < 40; ++i) digests.push_back("d" + std::to_string(t) + "-" + std::to_string(i));
  }
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        store->fanout_cache_store(a, entry(digests[static_cast<std::size_t>(t * 40 + i)], "1", far));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::size_t kept = 0;
  for (const auto& hit : store->fanout_cache_lookup(a, digests)) kept += hit ? 1 : 0;
  CHECK(kept == 10);
}

TEST_CASE("fanout cache: a batch of 1,000 digests is one lookup", "[state][fanout]") {
  AliceAndBob t;
  const std::int64_t far = t.env.clock->now_ms() + 60'000;
  std::vector<std::string> digests;
  for (int i = 0; i < 1000; ++i) {
    digests.push_back(std::string(64, 'a' + static_cast<char>(i % 6)) + std::to_string(i));
    if (i % 2 == 0) t.s.fanout_cache_store(t.a, entry(digests.back(), std::to_string(i), far));
  }
  auto got = t.s.fanout_cache_lookup(t.a, digests);
  REQUIRE(got.size() == 1000);
  for (int i = 0; i < 1000; ++i) {
    INFO(i);
    REQUIRE(got[i].has_value() == (i % 2 == 0));
    if (got[i]) CHECK(got[i]->result_json == std::to_string(i));
  }
}

TEST_CASE("fanout cache and breakers: bad input and missing capability are refused",
          "[state][fanout]") {
  AliceAndBob t;
  REQUIRE_STORE_ERROR(t.s.fanout_cache_lookup(t.a, {""}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(t.s.fanout_cache_lookup(t.a, {std::string(129, 'x')}),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(t.s.fanout_cache_store(t.a, entry("", "1", 1)), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(t.s.fanout_breaker_store(t.a, breaker("", "open", 1, 1, 1)),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(t.s.fanout_breaker_store(t.a, breaker("p", "ajar", 1, 1, 1)),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(t.s.fanout_breaker_store(t.a, breaker("p", "open", -1, 1, 1)),
                      ErrorCode::kInvalidArgument);
  Principal no_caps = t.a;
  no_caps.capabilities.erase(std::string(caps::kFanout));
  REQUIRE_STORE_ERROR(t.s.fanout_cache_lookup(no_caps, {"d"}), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(t.s.fanout_breakers(no_caps), ErrorCode::kPermissionDenied);
}

TEST_CASE("fanout breakers: stored per provider, replaced, kept across a reopen", "[state][fanout]") {
  StoreEnv env;
  const Principal a = agent("alice");
  CHECK(env.store->fanout_breakers(a).empty());
  env.store->fanout_breaker_store(a, breaker("command:sh", "open", 5, 1, 1234));
  env.store->fanout_breaker_store(a, breaker("tool:memory_get", "closed", 1, 0, 0));
  env.clock->advance(10);
  env.store->fanout_breaker_store(a, breaker("command:sh", "half_open", 5, 2, 5678));
  env.reopen();
  const auto all = env.store->fanout_breakers(a);
  REQUIRE(all.size() == 2);
  CHECK(all[0].provider == "command:sh");
  CHECK(all[0].state == "half_open");
  CHECK(all[0].consecutive_failures == 5);
  CHECK(all[0].opened == 2);
  CHECK(all[0].opened_at_ms == 5678);
  CHECK(all[0].updated_at_ms == env.clock->now_ms());
  CHECK(all[1].provider == "tool:memory_get");
  CHECK(all[1].state == "closed");
  CHECK(env.store->fanout_breakers(agent("bob", "s1", "/other")).empty());
}
