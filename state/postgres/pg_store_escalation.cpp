// keel/state/postgres/pg_store_escalation.cpp — PostgreSQL: escalations. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

// As SQLite's escalation tables (state/schema.cpp, migration 2). id comes
// from an identity sequence: unique in the database and never reused, like
// SQLite's AUTOINCREMENT.
const std::string_view pg_schema::kEscalationTablesV1 = R"sql(
CREATE TABLE escalations(
  id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project           TEXT NOT NULL,
  agent             TEXT NOT NULL,
  reason            TEXT NOT NULL,
  context           TEXT NOT NULL,   -- JSON
  proposal          TEXT NOT NULL,   -- JSON
  impact            TEXT NOT NULL,   -- 'low' | 'high'
  severity          TEXT NOT NULL,
  request_id        TEXT,
  created_at        BIGINT NOT NULL,
  status            TEXT NOT NULL,   -- 'pending' | 'resolved'
  decision          TEXT,            -- 'OVERRIDE' | 'MODIFY' | 'ABORT'
  resolved_proposal TEXT,            -- JSON
  resolver          TEXT,
  resolved_via      TEXT,
  resolved_at       BIGINT,
  UNIQUE(project, agent, request_id)
);
CREATE INDEX escalations_by_status ON escalations(project, status, id);
CREATE INDEX escalations_by_project ON escalations(project, id);

-- tokens: the level at updated_at (fractional: refill is continuous).
CREATE TABLE escalation_buckets(
  project    TEXT NOT NULL,
  agent      TEXT NOT NULL,
  tokens     DOUBLE PRECISION NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY(project, agent)
);
)sql";

namespace {
[[noreturn]] void not_yet() {
  throw StoreError(ErrorCode::kInternal, "not implemented on PostgreSQL yet");
}
}  // namespace

EscalationRequestResult PgStore::request_escalation(const Principal&, const EscalationRequest&) { not_yet(); }
ResolveEscalationResult PgStore::resolve_escalation(const Principal&, const ResolveEscalationRequest&) { not_yet(); }
Escalation PgStore::get_escalation(const Principal&, std::int64_t) { not_yet(); }
EscalationListResult PgStore::list_escalations(const Principal&, const EscalationListRequest&) { not_yet(); }
Escalation PgStore::wait_escalation(const Principal&, std::int64_t, std::int64_t, const CancelCheck&) { not_yet(); }

}  // namespace keel::state
