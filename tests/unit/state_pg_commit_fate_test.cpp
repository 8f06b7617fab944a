// PostgreSQL: a write whose connection breaks around its COMMIT. The store
// asks the database, on another connection, what became of the transaction
// (is the newest journal record it appended there?): committed, the call succeeds
// with its change made once; rolled back (the server never got COMMIT), the
// write runs again and its change is made once. Before, both failed with
// "the change may or may not have been made", and the tool layer let a retry
// run the call again — twice made, when the COMMIT had landed. Runs only on
// PostgreSQL (KEEL_TEST_STORE_URL); a warning otherwise.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>

#include "state/postgres/pg_store.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;

TEST_CASE("pg commit fate: a write whose connection breaks at COMMIT is made exactly once",
          "[pg][commit-fate]") {
  if (!testing_postgres()) {
    WARN("KEEL_TEST_STORE_URL is not set: the PostgreSQL commit-fate test is skipped");
    return;
  }
  using CommitPoint = StoreOptions::CommitPoint;
  for (const CommitPoint point : {CommitPoint::kAfterCommit, CommitPoint::kBeforeCommit}) {
    const bool after = point == CommitPoint::kAfterCommit;
    INFO((after ? "the answer to COMMIT is lost" : "the connection breaks before COMMIT"));
    TempDir dir;
    StoreOptions o;
    o.dir = dir.path();
    o.node = "n1";
    std::atomic<bool> armed{false};
    std::atomic<int> cuts{0};
    o.pg_cut_connection = [&](CommitPoint at) {
      if (at != point || !armed.exchange(false)) return false;
      ++cuts;
      return true;
    };
    std::unique_ptr<Store> store = open_test_store(o);
    pg::Connection db = connect_test_schema(dir.path());
    const Principal a = agent("agent-a");
    store->journal_append(a, "NOTE", "before", boost::json::object{});

    // A journal append.
    armed = true;
    JournalRecord appended;
    REQUIRE_NOTHROW(appended = store->journal_append(a, "NOTE", "cut", boost::json::object{}));
    CHECK(cuts == 1);
    CHECK(db.exec("SELECT count(*) FROM journal WHERE subject = 'cut'").int64(0, 0) == 1);
    CHECK(db.exec("SELECT seq FROM journal WHERE subject = 'cut'").int64(0, 0) == appended.seq);

    // A memory write: version 1, once.
    armed = true;
    PutRequest put;
    put.key = "k";
    put.value = 7;
    put.expected_version = 0;  // a second run would fail: the key exists
    PutResult written;
    REQUIRE_NOTHROW(written = store->memory_put(a, put));
    CHECK(cuts == 2);
    CHECK(written.version == 1);
    const GetResult got = store->memory_get(a, Tier::kCrossRun, Namespace::kOwn, "k");
    CHECK(got.found);
    CHECK(got.version == 1);

    // A lease: granted once, one live hold, one ACQUIRE record.
    armed = true;
    AcquireResult lease;
    REQUIRE_NOTHROW(lease = store->acquire_lease(a, acquire("src/a.cc")));
    CHECK(cuts == 3);
    CHECK(lease.granted);
    CHECK(db.exec("SELECT count(*) FROM leases WHERE name = 'src/a.cc'").int64(0, 0) == 1);
    CHECK(journal_records(*store, "ACQUIRE").size() == 1);

    // The store goes on, and the chain has no gap and no fork.
    store->journal_append(a, "NOTE", "after", boost::json::object{});
    const VerifyReport v = store->journal_verify(admin());
    CHECK(v.ok);
    CHECK(db.exec("SELECT count(*) FROM journal WHERE subject IN ('before', 'cut', 'after')")
              .int64(0, 0) == 3);
  }
}
