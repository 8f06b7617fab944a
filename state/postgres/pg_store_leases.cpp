// keel/state/postgres/pg_store_leases.cpp — PostgreSQL: acquire, renew, release, list. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

// Leases: the same columns as SQLite's (state/schema.cpp), keyed and indexed
// by project first. Fencing tokens come from the project's chain_heads row,
// so they are unique per project (SQLite's counter is per store). Names
// compare bytewise (COLLATE "C"), as SQLite's BINARY: list_leases' prefix
// range and order must not depend on the database's locale.
const std::string_view pg_schema::kLeaseTablesV1 = R"sql(
CREATE TABLE leases(
  project     TEXT NOT NULL,
  lease_id    TEXT NOT NULL,
  name        TEXT COLLATE "C" NOT NULL,
  mode        TEXT NOT NULL,
  holder      TEXT NOT NULL,
  token       BIGINT NOT NULL,
  ttl_ms      BIGINT NOT NULL,
  acquired_at BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  reason      TEXT NOT NULL DEFAULT '',
  request_id  TEXT,
  PRIMARY KEY(project, lease_id),
  UNIQUE(project, token)
);
CREATE INDEX leases_by_name ON leases(project, name);
CREATE INDEX leases_by_expiry ON leases(project, expires_at);
CREATE INDEX leases_by_holder ON leases(project, holder);

-- What became of leases that left the table, so that renew/release can tell
-- "expired" from "released" after the row is gone. Pruned after a day.
CREATE TABLE lease_tombstones(
  project  TEXT NOT NULL,
  lease_id TEXT NOT NULL,
  name     TEXT NOT NULL,
  outcome  TEXT NOT NULL,  -- 'released' | 'expired'
  at       BIGINT NOT NULL,
  PRIMARY KEY(project, lease_id)
);
CREATE INDEX lease_tombstones_by_time ON lease_tombstones(project, at);

-- Granted acquires by request_id (idempotent retries). Pruned after a day.
CREATE TABLE lease_requests(
  project     TEXT NOT NULL,
  holder      TEXT NOT NULL,
  request_id  TEXT NOT NULL,
  result_json TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY(project, holder, request_id)
);
CREATE INDEX lease_requests_by_time ON lease_requests(project, created_at);
)sql";

namespace {
[[noreturn]] void not_yet() {
  throw StoreError(ErrorCode::kInternal, "not implemented on PostgreSQL yet");
}
}  // namespace

AcquireResult PgStore::acquire_lease(const Principal&, const AcquireRequest&, const CancelCheck&) { not_yet(); }
LeaseInfo PgStore::renew_lease(const Principal&, std::string_view, std::string_view) { not_yet(); }
ReleaseOutcome PgStore::release_lease(const Principal&, std::string_view, std::string_view, bool) { not_yet(); }
std::vector<LeaseInfo> PgStore::list_leases(const Principal&, std::string_view) { not_yet(); }

}  // namespace keel::state
