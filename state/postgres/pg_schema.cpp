// keel/state/postgres/pg_schema.cpp — the PostgreSQL store's schema versions
// and migrate() (see pg_schema.h).
//
// keel_schema holds one row per applied version (as SQLite's schema_version);
// the schema's version is max(version). Migrations run in one transaction
// that first takes a database-wide advisory lock, so of several nodes
// starting together one migrates and the others, once it commits, find the
// schema current and do nothing.
#include "state/postgres/pg_schema.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace keel::state::pg_schema {
namespace {

// pg_advisory_xact_lock key of migrations: "keel" "schm" as ASCII.
constexpr std::int64_t kMigrationLockKey = 0x6b65656c7363686dLL;

struct Migration {
  int version;
  std::function<void(pg::Connection&)> apply;
};

// Runs the DDL text (several statements; nothing when only whitespace).
void run_ddl(pg::Connection& c, std::string_view sql) {
  if (sql.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
  c.exec(sql);
}

// Version 3 (issue 20): memory_take's oldest-first order, idempotent tool
// calls, fanout's cache and breakers (as SQLite's migration 6).
constexpr std::string_view kTupleSpaceTablesV3 = R"sql(
CREATE INDEX memory_by_age ON memory(project, tier, namespace, scope, id);

CREATE TABLE tool_requests(
  project    TEXT NOT NULL,
  agent      TEXT NOT NULL,
  tool       TEXT NOT NULL,
  request_id TEXT NOT NULL,
  args_hash  TEXT NOT NULL,
  result     TEXT,
  claimed_at BIGINT NOT NULL,
  claim_id   TEXT NOT NULL,     -- the claim's owner token
  stale_at   BIGINT NOT NULL,   -- uncompleted: taken over from then
  PRIMARY KEY(project, agent, tool, request_id)
);
CREATE INDEX tool_requests_by_time ON tool_requests(claimed_at);

CREATE TABLE fanout_cache(
  project    TEXT NOT NULL,
  digest     TEXT NOT NULL,
  result     TEXT NOT NULL,
  stored_at  BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at    BIGINT NOT NULL,
  hits       BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY(project, digest)
);
CREATE INDEX fanout_cache_by_use ON fanout_cache(project, used_at);

CREATE TABLE fanout_breakers(
  project              TEXT NOT NULL,
  provider             TEXT NOT NULL,
  state                TEXT NOT NULL,
  consecutive_failures BIGINT NOT NULL,
  opened               BIGINT NOT NULL,
  opened_at            BIGINT NOT NULL,
  updated_at           BIGINT NOT NULL,
  PRIMARY KEY(project, provider)
);
)sql";

// Append-only: never edit a step that has shipped; add a new one with the
// next version (and raise kVersion in pg_schema.h).
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      {1,
       [](pg::Connection& c) {
         // Each primitive's piece, in an order where no piece refers to a
         // later one's tables.
         for (const std::string_view piece : {kJournalTablesV1, kLeaseTablesV1, kAgentTablesV1,
                                              kMemoryTablesV1, kEscalationTablesV1}) {
           run_ddl(c, piece);
         }
       }},
      {2, [](pg::Connection& c) { run_ddl(c, kLeaseTeamTablesV2); }},
      {3, [](pg::Connection& c) { run_ddl(c, kTupleSpaceTablesV3); }},
  };
  return kMigrations;
}

// The entries of a `SHOW search_path` value, unquoted ("a", "b c" → a, b c).
std::vector<std::string> split_search_path(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= s.size()) break;
    std::string entry;
    if (s[i] == '"') {
      ++i;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {  // "" inside quotes is one "
            entry += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        entry += s[i++];
      }
      while (i < s.size() && s[i] != ',') ++i;
    } else {
      while (i < s.size() && s[i] != ',') entry += s[i++];
      while (!entry.empty() && entry.back() == ' ') entry.pop_back();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// When current_schema() is NULL (no schema of search_path exists), creates
// the first schema it names, skipping "$user" (which PostgreSQL resolves to
// the session user; used only when it is the sole entry).
void ensure_schema(pg::Connection& c) {
  if (!c.exec("SELECT current_schema()").is_null(0, 0)) return;
  const std::string path = c.exec("SHOW search_path").text(0, 0);
  std::string name;
  for (const std::string& entry : split_search_path(path)) {
    if (entry == "$user") continue;
    name = entry;
    break;
  }
  if (name.empty()) {
    const std::vector<std::string> entries = split_search_path(path);
    if (!entries.empty() && entries.front() == "$user") {
      name = c.exec("SELECT session_user").text(0, 0);
    }
  }
  if (name.empty()) {
    throw StoreError(ErrorCode::kInternal,
                     "the PostgreSQL search_path (" + path + ") names no schema to create");
  }
  c.exec("CREATE SCHEMA IF NOT EXISTS " + c.quote_identifier(name));
  if (c.exec("SELECT current_schema()").is_null(0, 0)) {
    throw StoreError(ErrorCode::kInternal, "created schema " + name +
                                               " but it is not on the search_path (" + path +
                                               ")");
  }
}

}  // namespace

int current_version(pg::Connection& c) {
  // Only the current schema counts: a keel_schema further down search_path
  // belongs to another store.
  const pg::Result r = c.exec(
      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables"
      "               WHERE schemaname = current_schema() AND tablename = 'keel_schema')");
  if (!r.boolean(0, 0)) return 0;
  return static_cast<int>(c.exec("SELECT coalesce(max(version), 0) FROM keel_schema").int64(0, 0));
}

int migrate(pg::Connection& c, int target) {
  if (target < 1 || target > kVersion) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "no PostgreSQL schema version " + std::to_string(target));
  }
  // Fast path: an up-to-date schema needs no lock (every node and every CLI
  // run opens the store).
  if (const int v = current_version(c); v == target) return v;

  pg::Transaction txn(c);
  c.exec("SELECT pg_advisory_xact_lock($1)", {kMigrationLockKey});
  ensure_schema(c);
  c.exec("CREATE TABLE IF NOT EXISTS keel_schema(version INTEGER NOT NULL)");
  const int before = current_version(c);
  if (before > kVersion) {
    throw StoreError(ErrorCode::kInternal, "database schema version " + std::to_string(before) +
                                               " is newer than this keel (" +
                                               std::to_string(kVersion) + ")");
  }
  for (const Migration& m : migrations()) {
    if (m.version <= before || m.version > target) continue;
    m.apply(c);
    c.exec("INSERT INTO keel_schema(version) VALUES ($1)", {m.version});
  }
  // (A target below the version found changes nothing: forward only.)
  if (current_version(c) != std::max(before, target)) {
    throw StoreError(ErrorCode::kInternal, "the PostgreSQL migrations stop before version " +
                                               std::to_string(target));
  }
  txn.commit();
  return before;
}

}  // namespace keel::state::pg_schema
