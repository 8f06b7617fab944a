// keel/state/postgres/pg_store_agents.cpp — PostgreSQL: the agent registry. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

const std::string_view pg_schema::kAgentTablesV1 = "";

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
