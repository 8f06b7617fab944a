// Idempotent tool calls in the store (Store::claim_request / complete_request
// / abandon_request): on SQLite, and on PostgreSQL when KEEL_TEST_STORE_URL
// is set (state_test_util.h).
#include <catch2/catch.hpp>

#include <atomic>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
using Status = RequestClaim::Status;

namespace {

constexpr std::int64_t kMinuteMs = 60'000;

// How many rows tool_requests holds, read behind the store's back.
std::int64_t request_rows(const StoreEnv& env) {
  if (testing_postgres()) {
    pg::Connection c = connect_test_schema(env.options().dir);
    return c.exec("SELECT count(*) FROM tool_requests").int64(0, 0);
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(env.db_path().c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM tool_requests", -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  const std::int64_t n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return n;
}

}  // namespace

TEST_CASE("requests: a new id, then its result replayed; other arguments refused",
          "[state][requests]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");

  const RequestClaim first = s.claim_request(a, "memory_put", "r1", "hash-a");
  CHECK(first.status == Status::kNew);
  CHECK_FALSE(first.claim_id.empty());
  s.complete_request(a, "memory_put", "r1", first.claim_id, R"({"version":1})");
  const std::int64_t claimed_at = env.clock->now_ms();

  env.clock->advance(1000);
  const RequestClaim again = s.claim_request(a, "memory_put", "r1", "hash-a");
  CHECK(again.status == Status::kReplay);
  CHECK(again.result_json == R"({"version":1})");
  CHECK(again.claimed_at_ms == claimed_at);

  const RequestClaim other = s.claim_request(a, "memory_put", "r1", "hash-b");
  CHECK(other.status == Status::kMismatch);
  // The mismatch changed nothing: the first result is still replayed.
  CHECK(s.claim_request(a, "memory_put", "r1", "hash-a").status == Status::kReplay);
  // Completing again does not replace the first result.
  s.complete_request(a, "memory_put", "r1", first.claim_id, R"({"version":2})");
  CHECK(s.claim_request(a, "memory_put", "r1", "hash-a").result_json == R"({"version":1})");
}

TEST_CASE("requests: ids are per agent, per tool and per project", "[state][requests]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const RequestClaim mine = s.claim_request(a, "memory_put", "r1", "h");
  REQUIRE(mine.status == Status::kNew);
  s.complete_request(a, "memory_put", "r1", mine.claim_id, "{}");

  CHECK(s.claim_request(agent("bob"), "memory_put", "r1", "other").status == Status::kNew);
  CHECK(s.claim_request(a, "memory_delete", "r1", "other").status == Status::kNew);
  CHECK(s.claim_request(agent("alice", "s1", "/other"), "memory_put", "r1", "other").status ==
        Status::kNew);
  CHECK(s.claim_request(a, "memory_put", "r1", "h").status == Status::kReplay);
}

TEST_CASE("requests: an uncompleted claim is in flight until stale, then taken over",
          "[state][requests]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const std::int64_t stale_ms = StoreOptions{}.request_claim_stale_ms;

  const RequestClaim first = s.claim_request(a, "lease_release", "r1", "h");
  REQUIRE(first.status == Status::kNew);
  const std::int64_t claimed_at = env.clock->now_ms();
  const RequestClaim busy = s.claim_request(a, "lease_release", "r1", "h");
  CHECK(busy.status == Status::kInFlight);
  CHECK(busy.claimed_at_ms == claimed_at);
  // Other arguments are refused even while the first call runs.
  CHECK(s.claim_request(a, "lease_release", "r1", "h2").status == Status::kMismatch);

  env.clock->advance(stale_ms - 1);
  CHECK(s.claim_request(a, "lease_release", "r1", "h").status == Status::kInFlight);
  env.clock->advance(1);
  // Its caller died mid-call: the next claim runs it again, and holds it now.
  const RequestClaim second = s.claim_request(a, "lease_release", "r1", "h");
  CHECK(second.status == Status::kNew);
  CHECK(second.claim_id != first.claim_id);
  const RequestClaim taken = s.claim_request(a, "lease_release", "r1", "h");
  CHECK(taken.status == Status::kInFlight);
  CHECK(taken.claimed_at_ms == env.clock->now_ms());

  // The first call was not dead after all: its end leaves the new claim alone.
  s.abandon_request(a, "lease_release", "r1", first.claim_id);
  CHECK(s.claim_request(a, "lease_release", "r1", "h").status == Status::kInFlight);
  s.complete_request(a, "lease_release", "r1", first.claim_id, R"({"ok":"first"})");
  CHECK(s.claim_request(a, "lease_release", "r1", "h").status == Status::kInFlight);

  s.complete_request(a, "lease_release", "r1", second.claim_id, R"({"ok":true})");
  const RequestClaim replay = s.claim_request(a, "lease_release", "r1", "h");
  CHECK(replay.status == Status::kReplay);
  CHECK(replay.result_json == R"({"ok":true})");
  // Nor can the old owner drop the completed one.
  s.abandon_request(a, "lease_release", "r1", first.claim_id);
  CHECK(s.claim_request(a, "lease_release", "r1", "h").status == Status::kReplay);
}

TEST_CASE("requests: expected_ms puts off staleness by the call's own wait",
          "[state][requests]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const std::int64_t stale_ms = StoreOptions{}.request_claim_stale_ms;
  const std::int64_t wait_ms = 10 * kMinuteMs;

  const RequestClaim first = s.claim_request(a, "memory_take", "r1", "h", wait_ms);
  REQUIRE(first.status == Status::kNew);
  env.clock->advance(stale_ms);
  // Past claim_stale alone, but the call may still be waiting.
  CHECK(s.claim_request(a, "memory_take", "r1", "h").status == Status::kInFlight);
  env.clock->advance(wait_ms - 1);
  CHECK(s.claim_request(a, "memory_take", "r1", "h").status == Status::kInFlight);
  env.clock->advance(1);
  const RequestClaim second = s.claim_request(a, "memory_take", "r1", "h");
  CHECK(second.status == Status::kNew);
  // A huge expected_ms saturates (never stale before the retention would
  // drop it), it does not overflow into "already stale".
  const RequestClaim forever =
      s.claim_request(a, "fanout_run", "r2", "h", std::numeric_limits<std::int64_t>::max());
  REQUIRE(forever.status == Status::kNew);
  env.clock->advance(stale_ms * 100);
  CHECK(s.claim_request(a, "fanout_run", "r2", "h").status == Status::kInFlight);
  REQUIRE_STORE_ERROR(s.claim_request(a, "memory_take", "r3", "h", -1),
                      ErrorCode::kInvalidArgument);
}

TEST_CASE("requests: abandon frees the id; a completed one stays", "[state][requests]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");

  const RequestClaim first = s.claim_request(a, "memory_delete", "r1", "h");
  REQUIRE(first.status == Status::kNew);
  s.abandon_request(a, "memory_delete", "r1", "not-its-claim-id");  // not the owner: no effect
  CHECK(s.claim_request(a, "memory_delete", "r1", "h").status == Status::kInFlight);
  s.abandon_request(a, "memory_delete", "r1", first.claim_id);
  // Free again, for any arguments.
  const RequestClaim second = s.claim_request(a, "memory_delete", "r1", "h2");
  CHECK(second.status == Status::kNew);
  s.complete_request(a, "memory_delete", "r1", second.claim_id, "{}");
  s.abandon_request(a, "memory_delete", "r1", second.claim_id);  // no effect on a completed one
  CHECK(s.claim_request(a, "memory_delete", "r1", "h2").status == Status::kReplay);
  s.abandon_request(a, "memory_delete", "never-claimed", "x");  // nothing to drop: no error
}

TEST_CASE("requests: rows past the retention are dropped and the id is new again",
          "[state][requests]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const std::int64_t retention_ms = StoreOptions{}.request_retention_ms;

  const RequestClaim old = s.claim_request(a, "memory_put", "old", "h");
  REQUIRE(old.status == Status::kNew);
  s.complete_request(a, "memory_put", "old", old.claim_id, "{}");
  const RequestClaim gone = s.claim_request(a, "memory_put", "gone", "h");
  REQUIRE(gone.status == Status::kNew);
  s.complete_request(a, "memory_put", "gone", gone.claim_id, "{}");
  CHECK(request_rows(env) == 2);

  env.clock->advance(retention_ms - kMinuteMs);
  CHECK(s.claim_request(a, "memory_put", "old", "h").status == Status::kReplay);
  env.clock->advance(kMinuteMs + 1);
  // Past the retention: other arguments are a new call, not a mismatch.
  CHECK(s.claim_request(a, "memory_put", "old", "other").status == Status::kNew);
  // The claim swept the other expired row.
  CHECK(request_rows(env) == 1);
}

TEST_CASE("requests: bad ids and callers are refused", "[state][requests]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  REQUIRE_STORE_ERROR(s.claim_request(a, "memory_put", "", "h"), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.claim_request(a, "memory_put", std::string(kMaxRequestIdBytes + 1, 'x'), "h"),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.claim_request(a, "", "r1", "h"), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.claim_request(a, "memory_put", "r1", ""), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.claim_request(agent(""), "memory_put", "r1", "h"),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.complete_request(a, "memory_put", "", "c", "{}"),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.abandon_request(a, "memory_put", "", "c"), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.complete_request(a, "memory_put", "r1", "", "{}"),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.abandon_request(a, "memory_put", "r1", ""), ErrorCode::kInvalidArgument);
  // The longest id is fine.
  CHECK(s.claim_request(a, "memory_put", std::string(kMaxRequestIdBytes, 'x'), "h").status ==
        Status::kNew);
}

TEST_CASE("requests: of 8 threads claiming one id, exactly one gets kNew",
          "[state][requests][concurrency]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  for (int round = 0; round < 5; ++round) {
    const std::string id = "race-" + std::to_string(round);
    std::atomic<int> fresh{0};
    std::atomic<int> in_flight{0};
    std::atomic<int> other{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&] {
        const RequestClaim c = s.claim_request(a, "memory_put", id, "h");
        if (c.status == Status::kNew) {
          ++fresh;
        } else if (c.status == Status::kInFlight) {
          ++in_flight;
        } else {
          ++other;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(fresh == 1);
    CHECK(in_flight == 7);
    CHECK(other == 0);
  }
}

TEST_CASE("requests: claims survive a reopen", "[state][requests]") {
  StoreEnv env;
  const Principal a = agent("alice");
  const RequestClaim mine = env.store->claim_request(a, "memory_put", "r1", "h");
  REQUIRE(mine.status == Status::kNew);
  env.store->complete_request(a, "memory_put", "r1", mine.claim_id, R"({"v":1})");
  env.reopen();
  const RequestClaim c = env.store->claim_request(a, "memory_put", "r1", "h");
  CHECK(c.status == Status::kReplay);
  CHECK(c.result_json == R"({"v":1})");
}
