// The PostgreSQL store's write batches (PgStore::run_write): many callers of
// one project commit together, their writes deferred into few round trips and
// their jobs run without savepoints first. A caller whose job fails — a
// deferred write the server refuses, or an error thrown after deferring —
// gets its own error and leaves no row and no journal record; every other
// caller's change commits once, and the project's chain has no gap. Runs
// only on PostgreSQL (KEEL_TEST_STORE_URL); a warning otherwise.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>

#include "state/postgres/pg_store.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;

TEST_CASE("pg write batches: a failing job leaves no trace, the others of its batch commit",
          "[pg][batch]") {
  if (!testing_postgres()) {
    WARN("KEEL_TEST_STORE_URL is not set: the PostgreSQL batch test is skipped");
    return;
  }
  TempDir dir;
  StoreOptions o;
  o.dir = dir.path();
  o.node = "n1";
  std::unique_ptr<Store> store = open_test_store(o);
  auto* pg = dynamic_cast<PgStore*>(store.get());
  REQUIRE(pg != nullptr);
  pg::Connection db = connect_test_schema(dir.path());
  db.exec("CREATE TABLE batch_t(k TEXT PRIMARY KEY)");
  db.exec("INSERT INTO batch_t VALUES('taken')");

  constexpr int kThreads = 12;
  constexpr int kRounds = 12;
  std::atomic<int> committed{0};
  std::atomic<int> duplicate_errors{0};
  std::atomic<int> thrown_errors{0};
  std::atomic<int> wrong_errors{0};  // an error from a job of the wrong kind, or of the wrong type
  on_agent_threads(kThreads, [&](int t, const Principal&) {
    for (int i = 0; i < kRounds; ++i) {
      const int kind = (t + i) % 4;  // 0: the server refuses its write; 1: it throws
      const std::string key = kind == 0 ? "taken" : "k" + std::to_string(t) + "_" + std::to_string(i);
      try {
        pg->write("/proj", [&](PgStore::Write& w) {
          w.c.defer("batch_test_insert", "INSERT INTO batch_t(k) VALUES($1)", {key});
          w.append("agent" + std::to_string(t), "BENCH", "batch:" + key, "{}");
          if (kind == 1) throw std::runtime_error("the job failed after its writes");
        });
        ++committed;
      } catch (const pg::PgError& e) {
        // Catch2's assertions are not thread-safe: count here, check after the join.
        if (kind != 0 || !e.unique_violation()) ++wrong_errors;
        ++duplicate_errors;
      } catch (const std::runtime_error& e) {
        if (kind != 1) ++wrong_errors;
        ++thrown_errors;
      }
    }
  });
  const int total = kThreads * kRounds;
  CHECK(wrong_errors == 0);
  CHECK(duplicate_errors == total / 4);
  CHECK(thrown_errors == total / 4);
  CHECK(committed == total / 2);

  // Exactly the committed jobs' rows and records, in one unbroken chain.
  CHECK(db.exec("SELECT count(*) FROM batch_t").int64(0, 0) == committed + 1);
  const pg::Result j = db.exec(
      "SELECT count(*), min(seq), max(seq) FROM journal WHERE project = '/proj'");
  CHECK(j.int64(0, 0) == committed);
  CHECK(j.int64(0, 1) == 1);
  CHECK(j.int64(0, 2) == committed);
  CHECK(db.exec("SELECT count(*) FROM journal WHERE subject = 'batch:taken'").int64(0, 0) == 0);
  const VerifyReport v = store->journal_verify(admin());
  CHECK(v.ok);
  CHECK(v.records == committed);
}
