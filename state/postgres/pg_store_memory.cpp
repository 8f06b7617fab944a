// keel/state/postgres/pg_store_memory.cpp — PostgreSQL: memory. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

// As SQLite's memory table (state/schema.cpp), plus `search`: the text-search
// vector of the row (key and every string leaf of the value), written by the
// same INSERT/UPDATE that writes the row. key is COLLATE "C" so that ORDER BY
// key and the prefix bounds of memory_list are byte order, as in SQLite,
// whatever the database's default collation.
const std::string_view pg_schema::kMemoryTablesV1 = R"sql(
-- scope: the session id for own-namespace session-tier rows, '' otherwise.
-- session_id: the session that last wrote a session-tier row ('' for
-- cross_run), for end_session and orphan cleanup.
CREATE TABLE memory(
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project     TEXT NOT NULL,
  tier        TEXT NOT NULL,
  namespace   TEXT NOT NULL,
  scope       TEXT NOT NULL,
  key         TEXT COLLATE "C" NOT NULL,
  session_id  TEXT NOT NULL,
  value       TEXT NOT NULL,
  version     BIGINT NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  expires_at  BIGINT,
  fence_token BIGINT,
  search      TSVECTOR NOT NULL,
  UNIQUE(project, tier, namespace, scope, key)
);
CREATE INDEX memory_by_session ON memory(project, tier, session_id);
CREATE INDEX memory_by_expiry ON memory(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX memory_search ON memory USING GIN(search);
)sql";

namespace {
[[noreturn]] void not_yet() {
  throw StoreError(ErrorCode::kInternal, "not implemented on PostgreSQL yet");
}
}  // namespace

PutResult PgStore::memory_put(const Principal&, const PutRequest&) { not_yet(); }
GetResult PgStore::memory_get(const Principal&, Tier, Namespace, std::string_view) { not_yet(); }
bool PgStore::memory_delete(const Principal&, const DeleteRequest&) { not_yet(); }
ListResult PgStore::memory_list(const Principal&, const ListRequest&) { not_yet(); }
std::vector<SearchHit> PgStore::memory_search(const Principal&, const SearchRequest&) { not_yet(); }
void PgStore::end_session(const Principal&) { not_yet(); }

}  // namespace keel::state
