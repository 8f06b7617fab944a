// Which backend the state tests ran on (state_test_util.h: SQLite, or
// PostgreSQL when KEEL_TEST_STORE_URL is set), proved from the outside so
// that a PostgreSQL run cannot silently test SQLite again: the record a store
// wrote is looked up in the SQLite file, or in the PostgreSQL schema of its
// directory. With KEEL_TEST_EXPECT_BACKEND=sqlite|postgres (scripts/test sets
// it) the run fails unless it used that backend.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <boost/json.hpp>
#include <sqlite3.h>

#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

// The hashes of the journal records with `subject`, read from the SQLite file
// without the store.
std::vector<std::string> sqlite_hashes(const std::filesystem::path& db, const std::string& subject) {
  sqlite3* h = nullptr;
  std::vector<std::string> out;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    throw std::runtime_error("cannot open " + db.string());
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, "SELECT hash FROM journal WHERE subject = ?", -1, &st, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, subject.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
      out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

// The same, from the PostgreSQL schema of state directory `dir`.
std::vector<std::string> pg_hashes(const std::filesystem::path& dir, const std::string& subject) {
  pg::Connection c = connect_test_schema(dir);
  const pg::Result r =
      c.exec("SELECT hash FROM journal WHERE project = $1 AND subject = $2", {"/proj", subject});
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
  return out;
}

}  // namespace

TEST_CASE("backend: the store of a state test is the one KEEL_TEST_STORE_URL selects",
          "[state][backend]") {
  const std::string backend = testing_postgres() ? "postgres" : "sqlite";
  if (const char* expect = std::getenv("KEEL_TEST_EXPECT_BACKEND"); expect != nullptr && *expect) {
    REQUIRE(backend == std::string(expect));
  }
  WARN("state tests backend: " << backend
                               << (testing_postgres() ? " at " + pg::redact_url(*test_store_url()) : ""));

  StoreEnv env;
  const JournalRecord r = env.store->journal_append(agent("alice"), "NOTE", "backend-probe",
                                                    json::object{{"n", 1}});
  if (testing_postgres()) {
    // Nothing in the directory's SQLite file; the record in the schema
    // derived from the directory.
    CHECK_FALSE(std::filesystem::exists(env.db_path()));
    pg::Connection c = connect_test_schema(env.options().dir);
    CHECK(c.exec("SELECT current_schema()").text(0, 0) == test_schema_for(env.options().dir));
    const std::vector<std::string> hashes = pg_hashes(env.options().dir, "backend-probe");
    REQUIRE(hashes.size() == 1);
    CHECK(hashes[0] == r.hash);
  } else {
    REQUIRE(std::filesystem::exists(env.db_path()));
    const std::vector<std::string> hashes = sqlite_hashes(env.db_path(), "backend-probe");
    REQUIRE(hashes.size() == 1);
    CHECK(hashes[0] == r.hash);
  }
}

TEST_CASE("backend: a fresh directory is a fresh store; reopening a directory reopens its data",
          "[state][backend]") {
  StoreEnv first;
  const JournalRecord r = first.store->journal_append(agent("alice"), "NOTE", "kept",
                                                      json::object{{"n", 1}});
  AcquireResult lease = first.store->acquire_lease(agent("alice"), acquire("file:/a"));
  REQUIRE(lease.granted);

  StoreEnv second;  // another TempDir: nothing of the first is visible
  CHECK(journal_records(*second.store).empty());
  CHECK(second.store->list_leases(agent("bob")).empty());
  CHECK(second.store->acquire_lease(agent("bob"), acquire("file:/a")).granted);

  first.reopen();
  const std::vector<JournalRecord> records = journal_records(*first.store);
  REQUIRE(records.size() == 2);
  CHECK(records[0].hash == r.hash);
  const std::vector<LeaseInfo> leases = first.store->list_leases(agent("alice"));
  REQUIRE(leases.size() == 1);
  CHECK(leases[0].lease_id == lease.lease->lease_id);
  CHECK(first.store->journal_verify(admin()).ok);
}

TEST_CASE("backend: a directory's schema name and the URL that selects it", "[state][backend]") {
  const std::string s1 = test_schema_for("/tmp/keel-state-abc/state");
  CHECK(s1.size() == 18);
  CHECK(s1.rfind("k_", 0) == 0);
  CHECK(s1.find_first_not_of("k_0123456789abcdef") == std::string::npos);
  CHECK(test_schema_for("/tmp/keel-state-abc/state") == s1);
  CHECK(test_schema_for("/tmp/keel-state-abc/./state") == s1);  // the same directory
  CHECK(test_schema_for("/tmp/keel-state-abd/state") != s1);

  CHECK(url_with_search_path("postgresql://postgres@127.0.0.1:5/postgres", "k_1") ==
        "postgresql://postgres@127.0.0.1:5/postgres?options=-csearch_path%3Dk_1");
  CHECK(url_with_search_path("postgres://u@h/db?sslmode=disable", "k_1") ==
        "postgres://u@h/db?sslmode=disable&options=-csearch_path%3Dk_1");
  CHECK(url_with_search_path("host=127.0.0.1 port=5 dbname=d", "k_1") ==
        "host=127.0.0.1 port=5 dbname=d options='-csearch_path=k_1'");
  CHECK_THROWS_AS(url_with_search_path("postgresql://h/db?options=-cx%3Dy", "k_1"),
                  std::invalid_argument);
}
