// Schema version 5 of the SQLite store (issue 18): a store written by schema
// version 4 migrates in place when opened — its leases, journal and request
// records survive, read with the defaults the new columns give them — and the
// new lease features work on it at once.
//
// SQLite only: the fixture is a keel.db written with the version-4 DDL (the
// PostgreSQL schema's migration is tested in state_pg_schema_test.cpp).
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "state/journal.h"
#include "state/schema.h"
#include "state/store_copy.h"
#include "tests/unit/state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

// The DDL of schema versions 1..4 as they shipped (comments dropped).
constexpr const char* kSchemaV4 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES
  ('next_token', 1),
  ('journal_head_seq', 0),
  ('journal_head_hash', '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE leases(
  lease_id    TEXT PRIMARY KEY,
  project     TEXT NOT NULL,
  name        TEXT NOT NULL,
  mode        TEXT NOT NULL,
  holder      TEXT NOT NULL,
  token       INTEGER NOT NULL UNIQUE,
  ttl_ms      INTEGER NOT NULL,
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  reason      TEXT NOT NULL DEFAULT '',
  request_id  TEXT
);
CREATE INDEX leases_by_name ON leases(project, name);
CREATE INDEX leases_by_expiry ON leases(project, expires_at);

CREATE TABLE lease_tombstones(
  lease_id TEXT PRIMARY KEY,
  project  TEXT NOT NULL,
  name     TEXT NOT NULL,
  outcome  TEXT NOT NULL,
  at       INTEGER NOT NULL
);
CREATE INDEX lease_tombstones_by_time ON lease_tombstones(at);

CREATE TABLE lease_requests(
  project     TEXT NOT NULL,
  holder      TEXT NOT NULL,
  request_id  TEXT NOT NULL,
  result_json TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY(project, holder, request_id)
) WITHOUT ROWID;
CREATE INDEX lease_requests_by_time ON lease_requests(created_at);

CREATE TABLE memory(
  id          INTEGER PRIMARY KEY,
  project     TEXT NOT NULL,
  tier        TEXT NOT NULL,
  namespace   TEXT NOT NULL,
  scope       TEXT NOT NULL,
  key         TEXT NOT NULL,
  session_id  TEXT NOT NULL,
  value       TEXT NOT NULL,
  version     INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  expires_at  INTEGER,
  fence_token INTEGER,
  UNIQUE(project, tier, namespace, scope, key)
);
CREATE INDEX memory_by_session ON memory(tier, session_id);
CREATE INDEX memory_by_expiry ON memory(expires_at) WHERE expires_at IS NOT NULL;

CREATE VIRTUAL TABLE memory_fts USING fts5(body);

CREATE TABLE journal(
  seq       INTEGER PRIMARY KEY,
  ts        INTEGER NOT NULL,
  project   TEXT NOT NULL,
  principal TEXT NOT NULL,
  op        TEXT NOT NULL,
  subject   TEXT NOT NULL,
  payload   TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);
CREATE INDEX journal_by_op ON journal(op, seq);
CREATE INDEX journal_by_subject ON journal(subject, seq);
CREATE INDEX journal_by_principal ON journal(principal, seq);
CREATE INDEX journal_by_ts ON journal(ts);
CREATE TABLE escalations(
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  project           TEXT NOT NULL,
  agent             TEXT NOT NULL,
  reason            TEXT NOT NULL,
  context           TEXT NOT NULL,
  proposal          TEXT NOT NULL,
  impact            TEXT NOT NULL,
  severity          TEXT NOT NULL,
  request_id        TEXT,
  created_at        INTEGER NOT NULL,
  status            TEXT NOT NULL,
  decision          TEXT,
  resolved_proposal TEXT,
  resolver          TEXT,
  resolved_via      TEXT,
  resolved_at       INTEGER,
  UNIQUE(project, agent, request_id)
);
CREATE INDEX escalations_by_status ON escalations(project, status, id);

CREATE TABLE escalation_buckets(
  project    TEXT NOT NULL,
  agent      TEXT NOT NULL,
  tokens     REAL NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(project, agent)
) WITHOUT ROWID;
CREATE TABLE agents(
  project     TEXT NOT NULL,
  name        TEXT NOT NULL,
  product     TEXT NOT NULL DEFAULT '',
  host        TEXT NOT NULL DEFAULT '',
  host_key    TEXT NOT NULL DEFAULT '',
  pid         INTEGER NOT NULL DEFAULT 0,
  start_time  INTEGER NOT NULL DEFAULT 0,
  session_id  TEXT NOT NULL DEFAULT '',
  client      TEXT NOT NULL DEFAULT '',
  started_at  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  status      TEXT NOT NULL DEFAULT 'active',
  reason      TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(project, name)
) WITHOUT ROWID;
CREATE INDEX agents_by_host ON agents(host_key, status);
CREATE INDEX leases_by_holder ON leases(project, holder);
ALTER TABLE journal ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE TABLE schema_version(version INTEGER NOT NULL);
INSERT INTO schema_version(version) VALUES (1), (2), (3), (4);
)sql";

constexpr std::int64_t kT0 = 1'700'000'000'000;

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err != nullptr ? err : "";
  sqlite3_free(err);
  if (rc != SQLITE_OK) throw std::runtime_error("fixture sql failed: " + msg + "\n" + sql);
}

std::string sql_text(std::string_view s) {
  std::string out = "'";
  for (const char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// A version-4 store as keel wrote it: alice holds file:/src/a.h (token 1),
// granted under request_id "r-old", with its ACQUIRE record heading a valid
// chain; bob's lease on file:/src/b.h was released (tombstone + RELEASE).
struct V4Store {
  LeaseInfo alive;

  explicit V4Store(const std::filesystem::path& state_dir) {
    std::filesystem::create_directories(state_dir);
    sqlite3* db = nullptr;
    if (sqlite3_open((state_dir / "keel.db").c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      throw std::runtime_error("cannot create the v4 fixture");
    }
    try {
      exec(db, kSchemaV4);
      alive = LeaseInfo{"lease_v4alice", "file:/src/a.h", "alice", LeaseMode::kExclusive,
                        1, 600'000, kT0, kT0 + 600'000, 1, ""};
      // Version 4's lease_to_json: no units, no group_id.
      json::object acquire{{"lease_id", alive.lease_id}, {"name", alive.name},
                           {"holder", alive.holder},    {"mode", "exclusive"},
                           {"token", alive.token},      {"ttl_ms", alive.ttl_ms},
                           {"acquired_at", alive.acquired_at_ms},
                           {"expires_at", alive.expires_at_ms},
                           {"reason", "v4"},            {"request_id", "r-old"}};
      json::object bob_acquire{{"lease_id", "lease_v4bob"}, {"name", "file:/src/b.h"},
                               {"holder", "bob"},           {"mode", "shared"},
                               {"token", 2},                {"ttl_ms", 600'000},
                               {"acquired_at", kT0},        {"expires_at", kT0 + 600'000},
                               {"reason", ""},              {"request_id", nullptr}};
      json::object bob_release{{"lease_id", "lease_v4bob"}, {"name", "file:/src/b.h"},
                               {"holder", "bob"}, {"token", 2}, {"force", false}};
      struct Rec {
        std::string principal, op, subject, payload;
      };
      const std::vector<Rec> recs{
          {"alice", "ACQUIRE", alive.name, json::serialize(acquire)},
          {"bob", "ACQUIRE", "file:/src/b.h", json::serialize(bob_acquire)},
          {"bob", "RELEASE", "file:/src/b.h", json::serialize(bob_release)},
      };
      std::string prev = kZeroHash;
      std::int64_t seq = 0;
      for (const Rec& r : recs) {
        ++seq;
        const std::string hash =
            journal_hash(prev, seq, kT0, "/proj", r.principal, r.op, r.subject, r.payload);
        exec(db, "INSERT INTO journal(seq, ts, project, principal, op, subject, payload,"
                 " prev_hash, hash) VALUES(" +
                     std::to_string(seq) + ", " + std::to_string(kT0) + ", '/proj', " +
                     sql_text(r.principal) + ", " + sql_text(r.op) + ", " + sql_text(r.subject) +
                     ", " + sql_text(r.payload) + ", " + sql_text(prev) + ", " + sql_text(hash) + ")");
        prev = hash;
      }
      exec(db, "UPDATE meta SET value = 3 WHERE key = 'next_token';"
               "UPDATE meta SET value = 3 WHERE key = 'journal_head_seq';"
               "UPDATE meta SET value = " + sql_text(prev) + " WHERE key = 'journal_head_hash';");
      exec(db, "INSERT INTO leases(lease_id, project, name, mode, holder, token, ttl_ms,"
               " acquired_at, expires_at, reason, request_id) VALUES('lease_v4alice', '/proj',"
               " 'file:/src/a.h', 'exclusive', 'alice', 1, 600000, " + std::to_string(kT0) +
               ", " + std::to_string(kT0 + 600'000) + ", 'v4', 'r-old');"
               "INSERT INTO lease_tombstones(lease_id, project, name, outcome, at)"
               " VALUES('lease_v4bob', '/proj', 'file:/src/b.h', 'released', " +
               std::to_string(kT0) + ");");
      json::object old_result = lease_to_json(alive);
      old_result.erase("units");
      old_result.erase("group_id");
      exec(db, "INSERT INTO lease_requests(project, holder, request_id, result_json, created_at)"
               " VALUES('/proj', 'alice', 'r-old', " + sql_text(json::serialize(old_result)) + ", " +
               std::to_string(kT0) + ")");
    } catch (...) {
      sqlite3_close(db);
      throw;
    }
    sqlite3_close(db);
  }
};

int user_version_of(const std::filesystem::path& db_path) {
  sqlite3* db = nullptr;
  sqlite3_open(db_path.c_str(), &db);
  sqlite3_stmt* q = nullptr;
  int v = -1;
  if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &q, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW) {
    v = sqlite3_column_int(q, 0);
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

}  // namespace

TEST_CASE("schema v5: a version-4 store migrates in place; its data survives and the new "
          "lease features work on it",
          "[state][schema][sqlite-only]") {
  TempDir dir;
  const std::filesystem::path state_dir = dir.path() / "state";
  const V4Store v4(state_dir);
  auto clock = std::make_shared<ManualClock>(kT0 + 1'000);
  StoreOptions options;
  options.dir = state_dir;
  options.clock = clock;
  auto store = open_sqlite_store(options);
  Store& s = *store;

  auto* imaging = dynamic_cast<StoreImaging*>(&s);
  REQUIRE(imaging != nullptr);
  CHECK(imaging->schema_versions().found == 4);
  CHECK(imaging->schema_versions().now == latest_schema_version());
  CHECK(user_version_of(state_dir / "keel.db") == latest_schema_version());

  const Principal alice = agent("alice");
  const Principal bob = agent("bob");

  // The old lease reads with 1 unit and no group; the chain still verifies
  // and folds to the table (old ACQUIRE payloads carry neither field).
  const std::vector<LeaseInfo> leases = s.list_leases(alice, "");
  REQUIRE(leases.size() == 1);
  CHECK(leases[0] == v4.alive);
  CHECK(s.journal_verify(admin()).ok);
  CHECK(s.journal_replay(admin()).equal);

  // The old request_id (recorded without an args hash) replays its grant.
  AcquireRequest again = acquire("file:/src/a.h", 600'000);
  again.request_id = "r-old";
  const AcquireResult replay = s.acquire_lease(alice, again, {});
  CHECK(replay.granted);
  CHECK(replay.replayed);
  REQUIRE(replay.lease);
  CHECK(replay.lease->lease_id == "lease_v4alice");

  // The released lease's tombstone survived: releasing it again says so.
  CHECK(s.release_lease(bob, "file:/src/b.h", "lease_v4bob", false) ==
        ReleaseOutcome::kAlreadyReleased);

  // Tokens continue after the old ones.
  AcquireRequest two;
  two.names = {"file:/src/c.h", "file:/src/d.h"};
  two.ttl_ms = 60'000;
  const AcquireResult pair = s.acquire_lease(bob, two, {});
  REQUIRE(pair.granted);
  REQUIRE(pair.leases.size() == 2);
  CHECK(pair.leases[0].token == 3);
  CHECK(pair.leases[1].token == 4);
  CHECK(!pair.leases[0].group_id.empty());
  CHECK(pair.leases[0].group_id == pair.leases[1].group_id);

  AcquireRequest slot = acquire("slot:build");
  slot.capacity = 2;
  slot.units = 2;
  CHECK(s.acquire_lease(bob, slot, {}).granted);
  const AcquireResult full = s.acquire_lease(alice, acquire("slot:build"), {});
  CHECK(!full.granted);
  CHECK(full.refusal == LeaseRefusal::kCapacity);

  // A release ask on the old lease reaches its holder once.
  REQUIRE(s.ask_release(bob, "file:/src/a.h", "need it").size() == 1);
  const std::vector<ReleaseAsk> asks = s.take_release_asks(alice);
  REQUIRE(asks.size() == 1);
  CHECK(asks[0].asker == "bob");
  CHECK(s.take_release_asks(alice).empty());

  // Reopened: no second migration, everything still there and consistent.
  store.reset();
  store = open_sqlite_store(options);
  auto* reopened = dynamic_cast<StoreImaging*>(store.get());
  REQUIRE(reopened != nullptr);
  CHECK(reopened->schema_versions().found == latest_schema_version());
  CHECK(store->list_leases(alice, "").size() == 4);
  CHECK(store->lease_board(alice, "slot:").capacities ==
        std::vector<LeaseCapacity>{{"slot:build", 2, 2}});
  CHECK(store->journal_verify(admin()).ok);
  CHECK(store->journal_replay(admin()).equal);

  // Migration 6 (issue 20) on the same store: the queue order, idempotent
  // calls and fanout's tables are there and work.
  for (const std::string key : {"task/1", "task/2"}) {
    PutRequest put;
    put.key = key;
    put.value = boost::json::value(key);
    store->memory_put(alice, put);
  }
  TakeRequest take;
  take.by_prefix = true;
  take.prefix = "task/";
  const TakeResult first = store->memory_take(alice, take);
  CHECK(first.taken);
  CHECK(first.key == "task/1");
  CHECK(store->claim_request(alice, "memory_put", "r1", "h").status == RequestClaim::Status::kNew);
  CHECK(store->fanout_breakers(admin()).empty());
  CHECK(store->journal_verify(admin()).ok);
}
