// PostgreSQL schema migrations (state/postgres/pg_schema.h): a fresh schema
// goes 0 -> kVersion, a second migrate changes nothing, nodes migrating at
// once do not race, a newer database is refused. And the layout that schema
// gives the journal: one hash chain per project. Needs a server: the URL in
// KEEL_TEST_STORE_URL (skipped with a warning when unset). Each case works in
// a schema of its own, dropped at the end.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_util.h"
#include "state/store_copy.h"
#include "state_test_util.h"

namespace {

using namespace keel::state;

std::optional<std::string> test_url() {
  const char* url = std::getenv("KEEL_TEST_STORE_URL");
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

// A connection whose search_path names a schema that does not exist yet;
// drops that schema when done.
class ScratchSchema {
 public:
  explicit ScratchSchema(const std::string& url) : url_(url) {
    std::random_device rd;
    name_ = "keel_schema_test_" + std::to_string(rd()) + "_" + std::to_string(rd());
    admin_ = connect();
  }
  ~ScratchSchema() {
    try {
      admin_.exec("DROP SCHEMA IF EXISTS " + admin_.quote_identifier(name_) + " CASCADE");
    } catch (...) {
    }
  }
  ScratchSchema(const ScratchSchema&) = delete;
  ScratchSchema& operator=(const ScratchSchema&) = delete;

  // A new connection with search_path = this schema (as a node would get
  // from a URL with options=-csearch_path=...).
  pg::Connection connect() const {
    pg::Connection c = pg::Connection::open(url_, pg::ConnectOptions{});
    c.exec("SET search_path TO " + c.quote_identifier(name_));
    return c;
  }
  pg::Connection& admin() { return admin_; }
  const std::string& name() const { return name_; }

  // The names of the tables in this schema.
  std::vector<std::string> tables() {
    const pg::Result r = admin_.exec(
        "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = $1 ORDER BY tablename",
        {name_});
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
    return out;
  }

 private:
  std::string url_;
  std::string name_;
  pg::Connection admin_;
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

// Skips the case (with a warning) when no server was given.
#define REQUIRE_PG_URL(var)                                                  \
  const std::optional<std::string> var = test_url();                         \
  if (!var) {                                                                \
    WARN("KEEL_TEST_STORE_URL is unset: PostgreSQL schema tests skipped");   \
    return;                                                                  \
  }

TEST_CASE("pg_schema: a fresh schema is created and migrated 0 -> latest, once",
          "[pg][schema]") {
  REQUIRE_PG_URL(url);
  ScratchSchema scratch(*url);
  pg::Connection c = scratch.connect();
  REQUIRE(c.exec("SELECT current_schema()").is_null(0, 0));  // the schema does not exist yet
  REQUIRE(pg_schema::current_version(c) == 0);

  REQUIRE(pg_schema::migrate(c) == 0);
  REQUIRE(pg_schema::current_version(c) == pg_schema::kVersion);
  REQUIRE(c.exec("SELECT current_schema()").text(0, 0) == scratch.name());
  const std::vector<std::string> tables = scratch.tables();
  for (const char* t : {"keel_schema", "journal", "chain_heads", "leases", "memory",
                        "escalations", "agents"}) {
    INFO(t);
    REQUIRE(contains(tables, t));
  }
  const std::string versions_sql =
      "SELECT string_agg(version::text, ',' ORDER BY version) FROM " +
      c.quote_identifier(scratch.name()) + ".keel_schema";
  const std::string versions = scratch.admin().exec(versions_sql).text(0, 0);
  REQUIRE(versions == "1,2,3");  // one row per applied version

  // A second migrate (a node starting later) finds the schema current and
  // changes nothing.
  pg::Connection later = scratch.connect();
  REQUIRE(pg_schema::migrate(later) == pg_schema::kVersion);
  REQUIRE(pg_schema::migrate(c) == pg_schema::kVersion);
  REQUIRE(scratch.admin().exec(versions_sql).text(0, 0) == versions);
  REQUIRE(scratch.tables() == tables);
}

TEST_CASE("pg_schema: nodes migrating the same new schema at once do not race",
          "[pg][schema]") {
  REQUIRE_PG_URL(url);
  ScratchSchema scratch(*url);
  constexpr int kNodes = 6;
  std::vector<pg::Connection> conns;
  for (int i = 0; i < kNodes; ++i) conns.push_back(scratch.connect());
  std::vector<int> found(kNodes, -1);
  std::vector<std::string> errors(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      try {
        found[i] = pg_schema::migrate(conns[i]);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  int created = 0;
  for (int i = 0; i < kNodes; ++i) {
    INFO("node " << i << ": " << errors[i]);
    REQUIRE(errors[i].empty());
    REQUIRE((found[i] == 0 || found[i] == pg_schema::kVersion));
    if (found[i] == 0) ++created;
  }
  REQUIRE(created == 1);  // exactly one node migrated; the others found it done
  REQUIRE(scratch.admin()
              .exec("SELECT count(*) FROM " + scratch.admin().quote_identifier(scratch.name()) +
                    ".keel_schema")
              .int64(0, 0) == pg_schema::kVersion);
}

TEST_CASE("pg_schema: a version-1 database is upgraded to version 2 in place",
          "[pg][schema]") {
  REQUIRE_PG_URL(url);
  using namespace keel::state::testing;
  ScratchSchema scratch(*url);
  pg::Connection c = scratch.connect();
  REQUIRE(pg_schema::migrate(c, 1) == 0);
  REQUIRE(pg_schema::current_version(c) == 1);
  REQUIRE_FALSE(contains(scratch.tables(), "lease_waiters"));
  // A lease and an idempotency record as a version-1 keel wrote them (no
  // units, group or args hash), live for an hour by the database's clock.
  c.exec(
      "INSERT INTO leases(project, lease_id, name, mode, holder, token, ttl_ms, acquired_at,"
      " expires_at, reason, request_id) VALUES('/p', 'l_old', 'file:/a', 'exclusive', 'alice',"
      " 7, 3600000, (extract(epoch FROM clock_timestamp()) * 1000)::bigint,"
      " (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 3600000, 'old', 'r1')");
  c.exec(
      "INSERT INTO lease_requests(project, holder, request_id, result_json, created_at)"
      " VALUES('/p', 'alice', 'r1', '{}', 1)");
  c.exec("INSERT INTO chain_heads(project, head_seq, head_hash, next_token)"
         " VALUES('/p', 0, repeat('0', 64), 8)");
  // Asking for an older version than the database has changes nothing.
  REQUIRE(pg_schema::migrate(c, 1) == 1);

  // A node of this keel opens it: migrated in place, the old rows kept with
  // the new columns' defaults.
  StoreOptions o;
  o.url = url_with_search_path(*url, scratch.name());
  {
    std::unique_ptr<Store> store = open_postgres_store(o);
    const auto* imaging = dynamic_cast<StoreImaging*>(store.get());
    REQUIRE(imaging != nullptr);
    REQUIRE(imaging->schema_versions().found == 1);
    REQUIRE(imaging->schema_versions().now == pg_schema::kVersion);
    const std::vector<LeaseInfo> held = store->list_leases(agent("alice", "s1", "/p"), "");
    REQUIRE(held.size() == 1);
    REQUIRE(held[0].lease_id == "l_old");
    REQUIRE(held[0].units == 1);
    REQUIRE(held[0].group_id.empty());
    // The old hold is respected by the new code: bob is refused, by name.
    AcquireRequest r = acquire("file:/a");
    const AcquireResult refused = store->acquire_lease(agent("bob", "s1", "/p"), r);
    REQUIRE_FALSE(refused.granted);
    REQUIRE(refused.refusal == LeaseRefusal::kHeld);
    REQUIRE(refused.holders == held);
    // A counted name works on the upgraded tables.
    AcquireRequest slot = acquire("slot:build");
    slot.capacity = 2;
    slot.units = 2;
    const AcquireResult counted = store->acquire_lease(agent("bob", "s1", "/p"), slot);
    REQUIRE(counted.granted);
    REQUIRE(counted.lease->units == 2);
    // Version 3 (issue 20): the queue order works on the upgraded memory table.
    const Principal alice = agent("alice", "s1", "/p");
    for (const char* key : {"q/1", "q/2"}) {
      PutRequest put;
      put.key = key;
      put.value = key;
      store->memory_put(alice, put);
    }
    TakeRequest take;
    take.by_prefix = true;
    take.prefix = "q/";
    REQUIRE(store->memory_take(alice, take).key == "q/1");
  }
  REQUIRE(pg_schema::current_version(c) == pg_schema::kVersion);
  const std::vector<std::string> tables = scratch.tables();
  for (const char* t : {"lease_capacities", "lease_waiters", "lease_asks", "tool_requests",
                        "fanout_cache", "fanout_breakers"}) {
    INFO(t);
    REQUIRE(contains(tables, t));
  }
  REQUIRE(c.exec("SELECT args_hash FROM lease_requests WHERE request_id = 'r1'").text(0, 0) ==
          "");
  REQUIRE(c.exec("SELECT capacity FROM lease_capacities WHERE project = '/p'"
                 " AND name = 'slot:build'")
              .int64(0, 0) == 2);
  REQUIRE_STORE_ERROR(pg_schema::migrate(c, pg_schema::kVersion + 1),
                      ErrorCode::kInvalidArgument);
}

TEST_CASE("pg_schema: a database newer than this keel is refused", "[pg][schema]") {
  REQUIRE_PG_URL(url);
  ScratchSchema scratch(*url);
  pg::Connection c = scratch.connect();
  REQUIRE(pg_schema::migrate(c) == 0);
  c.exec("INSERT INTO keel_schema(version) VALUES (99)");
  REQUIRE(pg_schema::current_version(c) == 99);

  pg::Connection node = scratch.connect();
  bool refused = false;
  try {
    pg_schema::migrate(node);
  } catch (const StoreError& e) {
    refused = true;
    INFO(e.what());
    REQUIRE(e.code() == ErrorCode::kInternal);
    const std::string what = e.what();
    REQUIRE(what.find("99") != std::string::npos);
    REQUIRE(what.find('\n') == std::string::npos);  // one line
  }
  REQUIRE(refused);
  REQUIRE(pg_schema::current_version(node) == 99);  // left as it was
}

TEST_CASE("pg journal: each project has its own chain; verify and compact act on one",
          "[pg][journal]") {
  REQUIRE_PG_URL(url);
  using namespace keel::state::testing;
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = admin("human", "/a");
  const Principal b = admin("human", "/b");
  // Interleaved in time: a1 b1 a2 b2.
  std::vector<JournalRecord> written;
  for (int i = 0; i < 4; ++i) {
    env.clock->advance(1000);
    const Principal& who = i % 2 == 0 ? a : b;
    written.push_back(s.journal_append(who, "NOTE", "n" + std::to_string(i),
                                       boost::json::object{{"i", i}}));
  }
  // Both chains start at seq 1 with the zero hash.
  REQUIRE(written[0].seq == 1);
  REQUIRE(written[1].seq == 1);
  REQUIRE(written[2].seq == 2);
  REQUIRE(written[3].seq == 2);
  REQUIRE(written[1].prev_hash == std::string(64, '0'));
  REQUIRE(written[3].prev_hash == written[1].hash);

  // Without a project, records of every project come in time order.
  JournalFilter all;
  all.op = "NOTE";
  all.limit = 10;
  std::vector<JournalRecord> newest = s.journal_query(a, all);
  REQUIRE(newest.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) REQUIRE(newest[i] == written[3 - i]);
  all.newest_first = false;
  REQUIRE(s.journal_query(a, all) == written);

  // Compacting /a leaves /b's chain as it was.
  const CompactReport compacted = s.journal_compact(a);
  REQUIRE(compacted.folded_records == 2);
  REQUIRE(compacted.checkpoint_seq == 3);
  const VerifyReport va = s.journal_verify(a);
  REQUIRE(va.ok);
  REQUIRE(va.records == 1);
  const VerifyReport vb = s.journal_verify(b);
  REQUIRE(vb.ok);
  REQUIRE(vb.records == 2);
  JournalFilter only_b;
  only_b.project = "/b";
  only_b.newest_first = false;
  REQUIRE(s.journal_query(b, only_b) == std::vector<JournalRecord>{written[1], written[3]});

  // A damaged chain of /b fails /b's verify (and refuses its compaction),
  // not /a's.
  env.raw_sql("UPDATE journal SET payload = '{\"i\":9}' WHERE project = '/b' AND seq = 1");
  const VerifyReport bad = s.journal_verify(b);
  REQUIRE_FALSE(bad.ok);
  REQUIRE(bad.first_bad->seq == 1);
  REQUIRE(bad.first_bad->kind == "edited");
  REQUIRE_STORE_ERROR(s.journal_compact(b), ErrorCode::kInternal);
  REQUIRE(s.journal_verify(a).ok);
  const JournalRecord next = s.journal_append(a, "NOTE", "after", boost::json::object{});
  REQUIRE(next.seq == 4);
  REQUIRE(s.journal_verify(a).ok);
  // A chain that starts with a CHECKPOINT compacts again.
  const CompactReport again = s.journal_compact(a);
  REQUIRE(again.folded_records == 2);
  REQUIRE(again.checkpoint_seq == 5);
  REQUIRE(s.journal_verify(a).records == 1);
  REQUIRE(s.journal_append(a, "NOTE", "again", boost::json::object{}).seq == 6);

  // Export writes the project's chain only.
  std::ostringstream out;
  REQUIRE(s.journal_export(a, out) == 2);  // the CHECKPOINT and the NOTE after it
  REQUIRE(out.str().find("\"/b\"") == std::string::npos);
}
