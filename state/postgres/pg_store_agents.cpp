// keel/state/postgres/pg_store_agents.cpp — PostgreSQL: the agent registry. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

// The agent registry: the same columns as SQLite's (state/schema.cpp).
// host_key/pid/start_time anchor the agent on its process
// (state/process_table.h); 0/'' without one. Names order bytewise (COLLATE
// "C"), as SQLite's BINARY, whatever the database's locale.
const std::string_view pg_schema::kAgentTablesV1 = R"sql(
CREATE TABLE agents(
  project     TEXT NOT NULL,
  name        TEXT COLLATE "C" NOT NULL,
  product     TEXT NOT NULL DEFAULT '',
  host        TEXT NOT NULL DEFAULT '',
  host_key    TEXT NOT NULL DEFAULT '',
  pid         BIGINT NOT NULL DEFAULT 0,
  start_time  BIGINT NOT NULL DEFAULT 0,
  session_id  TEXT NOT NULL DEFAULT '',
  client      TEXT NOT NULL DEFAULT '',
  started_at  BIGINT NOT NULL,
  last_seen   BIGINT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'active',  -- 'active' | 'suspended' | 'gone'
  reason      TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(project, name)
);
CREATE INDEX agents_by_host ON agents(project, host_key, status);
)sql";

namespace {
[[noreturn]] void not_yet() {
  throw StoreError(ErrorCode::kInternal, "not implemented on PostgreSQL yet");
}
}  // namespace

AgentInfo PgStore::register_agent(const Principal&, const AgentRegistration&) { not_yet(); }
std::vector<AgentInfo> PgStore::list_agents(const Principal&, bool) { not_yet(); }
std::vector<ScavengedAgent> PgStore::scavenge_dead_agents(const Principal&, std::optional<std::string>) { not_yet(); }
HeartbeatResult PgStore::heartbeat(const Principal&) { not_yet(); }
LeaseInfo PgStore::adopt_lease(const Principal&, std::string_view, std::string_view, std::string_view) { not_yet(); }
AgentInfo PgStore::suspend_agent(const Principal&, std::string_view, std::string_view) { not_yet(); }
AgentInfo PgStore::resume_agent(const Principal&, std::string_view) { not_yet(); }

}  // namespace keel::state
