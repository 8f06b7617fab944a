// pg::Connection's deferred statements and pipelines (state/postgres/pg_util.h),
// which the PostgreSQL store's write path uses to send a job's statements in
// fewer round trips: deferred writes run in order before the next statement,
// an error of one of them is thrown there (and what followed it did not
// run), nothing deferred is lost or sent twice, and a value PostgreSQL cannot
// hold is refused when it is deferred. Needs a server: the URL in
// KEEL_TEST_STORE_URL (skipped with a warning when unset). Works in a
// temporary table.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>

#include "state/postgres/pg_util.h"

namespace {

using namespace keel::state;

std::optional<pg::Connection> connect_or_skip() {
  const char* url = std::getenv("KEEL_TEST_STORE_URL");
  if (url == nullptr || *url == '\0') {
    WARN("KEEL_TEST_STORE_URL is not set: PostgreSQL pipeline tests skipped");
    return std::nullopt;
  }
  pg::Connection c = pg::Connection::open(url, pg::ConnectOptions{});
  c.exec("CREATE TEMP TABLE pipe_t(k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  return c;
}

constexpr std::string_view kInsert = "INSERT INTO pipe_t(k, v) VALUES($1, $2)";
constexpr std::string_view kCount = "SELECT count(*), coalesce(sum(v), 0) FROM pipe_t";

}  // namespace

TEST_CASE("pg pipeline: deferred writes run in order before the next statement",
          "[pg][pipeline]") {
  std::optional<pg::Connection> c = connect_or_skip();
  if (!c) return;
  c->defer("pipe_insert", kInsert, {"a", 1});
  c->defer("pipe_bump", "UPDATE pipe_t SET v = v + $2 WHERE k = $1", {"a", 10});
  c->defer("pipe_insert", kInsert, {"b", 100});
  CHECK(c->has_deferred());
  // The read runs after them, in the same round trip, and sees them.
  const pg::Result r = c->exec_prepared("pipe_count", kCount, {});
  CHECK_FALSE(c->has_deferred());
  CHECK(r.int64(0, 0) == 2);
  CHECK(r.int64(0, 1) == 111);

  // Several reads at once: one result each, in order.
  c->defer("pipe_insert", kInsert, {"c", 1000});
  const std::vector<pg::Result> rs = c->exec_pipeline(
      {{"pipe_count", kCount, {}}, {"pipe_get", "SELECT v FROM pipe_t WHERE k = $1", {"c"}}});
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].int64(0, 0) == 3);
  CHECK(rs[1].int64(0, 0) == 1000);

  // flush() sends them without a statement of its own.
  c->defer("pipe_insert", kInsert, {"d", 1});
  c->flush();
  CHECK(c->exec("SELECT count(*) FROM pipe_t").int64(0, 0) == 4);
}

TEST_CASE("pg pipeline: a deferred write's error is thrown at the next statement, and what "
          "followed it did not run",
          "[pg][pipeline]") {
  std::optional<pg::Connection> c = connect_or_skip();
  if (!c) return;
  c->exec("INSERT INTO pipe_t VALUES('a', 1)");
  c->exec("BEGIN");
  c->exec("SAVEPOINT s");
  c->defer("pipe_insert", kInsert, {"b", 2});
  c->defer("pipe_insert", kInsert, {"a", 3});  // a duplicate key
  c->defer("pipe_insert", kInsert, {"c", 4});
  try {
    (void)c->exec_prepared("pipe_count", kCount, {});
    FAIL("the duplicate key was not reported");
  } catch (const pg::PgError& e) {
    CHECK(e.unique_violation());
  }
  CHECK_FALSE(c->has_deferred());  // sent once, not again with the next statement
  CHECK_FALSE(c->broken());
  c->exec("ROLLBACK TO SAVEPOINT s");
  c->defer("pipe_insert", kInsert, {"e", 5});
  c->exec("COMMIT");  // a plain exec sends what was deferred first
  const pg::Result r = c->exec("SELECT string_agg(k, ',' ORDER BY k) FROM pipe_t");
  CHECK(r.text(0, 0) == "a,e");
}

TEST_CASE("pg pipeline: discarded statements are never sent; bad text is refused when deferred",
          "[pg][pipeline]") {
  std::optional<pg::Connection> c = connect_or_skip();
  if (!c) return;
  c->defer("pipe_insert", kInsert, {"a", 1});
  c->discard_deferred();
  CHECK(c->exec_prepared("pipe_count", kCount, {}).int64(0, 0) == 0);

  try {
    c->defer("pipe_insert", kInsert, {std::string("x\0y", 3), 1});
    FAIL("a NUL byte was accepted");
  } catch (const StoreError& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
  }
  CHECK_FALSE(c->has_deferred());

  // A transaction dropped before it sent anything: its deferred BEGIN and
  // writes go nowhere, and the connection is still usable.
  {
    pg::Transaction tx(*c, pg::Transaction::DeferBegin{});
    c->defer("pipe_insert", kInsert, {"b", 2});
  }
  CHECK_FALSE(c->has_deferred());
  CHECK(c->exec_prepared("pipe_count", kCount, {}).int64(0, 0) == 0);

  // One that commits: BEGIN, its writes and COMMIT in one round trip.
  {
    pg::Transaction tx(*c, pg::Transaction::DeferBegin{});
    c->defer("pipe_insert", kInsert, {"c", 3});
    tx.commit();
  }
  CHECK(c->exec_prepared("pipe_count", kCount, {}).int64(0, 1) == 3);
}
