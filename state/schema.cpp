// keel/state/schema.cpp
#include "state/schema.h"

#include <array>
#include <string>
#include <string_view>

#include "state/journal.h"
#include "state/sqlite_util.h"

namespace keel::state {
namespace {

// Append-only: never edit a step that has shipped; add a new one.
const std::array<std::string_view, 6> kMigrations = {
    // 1: leases, memory, journal.
    R"sql(
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

-- What became of leases that left the table, so that renew/release can tell
-- "expired" from "released" after the row is gone. Pruned after a day.
CREATE TABLE lease_tombstones(
  lease_id TEXT PRIMARY KEY,
  project  TEXT NOT NULL,
  name     TEXT NOT NULL,
  outcome  TEXT NOT NULL,  -- 'released' | 'expired'
  at       INTEGER NOT NULL
);
CREATE INDEX lease_tombstones_by_time ON lease_tombstones(at);

-- Granted acquires by request_id (idempotent retries). Pruned after a day.
CREATE TABLE lease_requests(
  project     TEXT NOT NULL,
  holder      TEXT NOT NULL,
  request_id  TEXT NOT NULL,
  result_json TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY(project, holder, request_id)
) WITHOUT ROWID;
CREATE INDEX lease_requests_by_time ON lease_requests(created_at);

-- scope: the session id for own-namespace session-tier rows, '' otherwise.
-- session_id: the session that last wrote a session-tier row ('' for
-- cross_run), for end_session and orphan cleanup.
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

-- Full-text index of memory rows (rowid = memory.id), kept in step by hand in
-- the transaction that changes the row.
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
)sql",
    // 2: escalations and the per-agent token buckets that budget them.
    R"sql(
CREATE TABLE escalations(
  id                INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
  project           TEXT NOT NULL,
  agent             TEXT NOT NULL,
  reason            TEXT NOT NULL,
  context           TEXT NOT NULL,   -- JSON
  proposal          TEXT NOT NULL,   -- JSON
  impact            TEXT NOT NULL,   -- 'low' | 'high'
  severity          TEXT NOT NULL,
  request_id        TEXT,
  created_at        INTEGER NOT NULL,
  status            TEXT NOT NULL,   -- 'pending' | 'resolved'
  decision          TEXT,            -- 'OVERRIDE' | 'MODIFY' | 'ABORT'
  resolved_proposal TEXT,            -- JSON
  resolver          TEXT,
  resolved_via      TEXT,
  resolved_at       INTEGER,
  UNIQUE(project, agent, request_id)
);
CREATE INDEX escalations_by_status ON escalations(project, status, id);

-- tokens: the level at updated_at (fractional: refill is continuous).
CREATE TABLE escalation_buckets(
  project    TEXT NOT NULL,
  agent      TEXT NOT NULL,
  tokens     REAL NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(project, agent)
) WITHOUT ROWID;
)sql",
    R"sql(
-- The agent registry (Store::register_agent ...). host_key/pid/start_time
-- anchor the agent on its process (state/process_table.h); 0/'' without one.
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
  status      TEXT NOT NULL DEFAULT 'active',  -- 'active' | 'suspended' | 'gone'
  reason      TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(project, name)
) WITHOUT ROWID;
CREATE INDEX agents_by_host ON agents(host_key, status);
CREATE INDEX leases_by_holder ON leases(project, holder);
)sql",
    // 4: the node (StoreOptions::node) that wrote each journal record. Records
    // written before carry '' and keep their hashes (state/journal.h hashes
    // the node only when it is not empty).
    R"sql(
ALTER TABLE journal ADD COLUMN node TEXT NOT NULL DEFAULT '';
)sql",
    // 5: leases as a team needs them (issue 18): counted names (units, their
    // declared capacities), groups of one multi-name acquire, the fair queue,
    // release asks, and the arguments a request_id was first used with.
    // Rows written before read as 1 unit, no group, no args hash (an old
    // request_id replays as before until it is pruned, a day later).
    R"sql(
ALTER TABLE leases ADD COLUMN units INTEGER NOT NULL DEFAULT 1;
ALTER TABLE leases ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
CREATE INDEX leases_by_group ON leases(project, group_id);
ALTER TABLE lease_requests ADD COLUMN args_hash TEXT NOT NULL DEFAULT '';

-- Capacities declared by an acquire's `capacity` (StoreOptions::lease_capacities
-- wins over them). Fixed once declared.
CREATE TABLE lease_capacities(
  project     TEXT NOT NULL,
  name        TEXT NOT NULL,
  capacity    INTEGER NOT NULL,
  declared_by TEXT NOT NULL,
  declared_at INTEGER NOT NULL,
  PRIMARY KEY(project, name)
) WITHOUT ROWID;

-- The fair queue: one row per waiting acquire (all its names), served by
-- (rank_ms, seq). Transient: not journaled, not copied; a row whose
-- alive_until passed (its waiter died or stopped coming back) is dropped.
CREATE TABLE lease_waiters(
  waiter_id   TEXT PRIMARY KEY,
  project     TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  agent       TEXT NOT NULL,
  names_json  TEXT NOT NULL,  -- JSON array of normalized names, canonical order
  mode        TEXT NOT NULL,
  units       INTEGER NOT NULL,
  priority    INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  rank_ms     INTEGER NOT NULL,
  alive_until INTEGER NOT NULL
);
CREATE INDEX lease_waiters_by_rank ON lease_waiters(project, rank_ms, seq);

-- Requests that a holder release a name (Store::ask_release).
CREATE TABLE lease_asks(
  ask_id       TEXT PRIMARY KEY,
  project      TEXT NOT NULL,
  name         TEXT NOT NULL,
  asker        TEXT NOT NULL,
  holder       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  at           INTEGER NOT NULL,
  delivered_at INTEGER
);
CREATE INDEX lease_asks_by_holder ON lease_asks(project, holder);
)sql",
    // 6: issue 20 — memory_take's oldest-first order, idempotent tool calls,
    // fanout's cache and breakers.
    R"sql(
CREATE INDEX memory_by_age ON memory(project, tier, namespace, scope, id);

-- One row per (project, agent, tool, request_id): claimed (result NULL) or
-- completed. Transient: not journaled, not copied.
CREATE TABLE tool_requests(
  project    TEXT NOT NULL,
  agent      TEXT NOT NULL,
  tool       TEXT NOT NULL,
  request_id TEXT NOT NULL,
  args_hash  TEXT NOT NULL,
  result     TEXT,
  claimed_at INTEGER NOT NULL,
  claim_id   TEXT NOT NULL,     -- the claim's owner token
  stale_at   INTEGER NOT NULL,  -- uncompleted: taken over from then
  PRIMARY KEY(project, agent, tool, request_id)
) WITHOUT ROWID;
CREATE INDEX tool_requests_by_time ON tool_requests(claimed_at);

CREATE TABLE fanout_cache(
  project    TEXT NOT NULL,
  digest     TEXT NOT NULL,
  result     TEXT NOT NULL,
  stored_at  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER NOT NULL,  -- stored or last hit: the LRU order
  hits       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(project, digest)
) WITHOUT ROWID;
CREATE INDEX fanout_cache_by_use ON fanout_cache(project, used_at);

CREATE TABLE fanout_breakers(
  project              TEXT NOT NULL,
  provider             TEXT NOT NULL,
  state                TEXT NOT NULL,
  consecutive_failures INTEGER NOT NULL,
  opened               INTEGER NOT NULL,
  opened_at            INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL,
  PRIMARY KEY(project, provider)
) WITHOUT ROWID;
)sql",
};

}  // namespace

int latest_schema_version() { return static_cast<int>(kMigrations.size()); }

namespace {
// The schema version, read without taking the write lock; 0 when the table
// does not exist yet or cannot be read (the locked path below decides).
int current_version_unlocked(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  int version = 0;
  if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &stmt,
                         nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    version = sqlite3_column_int(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return version;
}
}  // namespace

int migrate(sqlite3* db) {
  // Fast path: an up-to-date store needs no write lock (every hook run opens
  // the store; it must not queue behind writers for nothing).
  if (current_version_unlocked(db) == latest_schema_version()) return latest_schema_version();
  sql::exec(db, "BEGIN IMMEDIATE");
  try {
    sql::exec(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
    int version = 0;
    {
      sql::Statement q(db, "SELECT coalesce(max(version), 0) FROM schema_version");
      if (q.step()) version = static_cast<int>(q.int64(0));
    }
    if (version > latest_schema_version()) {
      throw StoreError(ErrorCode::kInternal,
                       "database schema version " + std::to_string(version) +
                           " is newer than this keel (" +
                           std::to_string(latest_schema_version()) + ")");
    }
    for (int v = version + 1; v <= latest_schema_version(); ++v) {
      sql::exec(db, kMigrations[static_cast<std::size_t>(v - 1)]);
      sql::Statement(db, "INSERT INTO schema_version(version) VALUES(?)").bind(1, v).run();
    }
    sql::exec(db, "COMMIT");
    return version;
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace keel::state
