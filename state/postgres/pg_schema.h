// keel/state/postgres/pg_schema.h — the PostgreSQL store's tables and their
// forward-only migrations.
//
// The schema is versioned by one row in `keel_schema(version)`. Migration N
// runs in one transaction (holding an advisory lock so that nodes starting at
// once do not race) and never edits an earlier one: a store written by an
// older keel is upgraded in place, one written by a newer keel is refused.
//
// Version 1 is the concatenation of the pieces below, each defined in the
// file of the primitive that owns those tables, so a primitive's DDL sits
// beside the statements that use it. Version 2 (issue 18: leases as a team
// needs them) alters the lease tables and adds the queue, capacity and ask
// tables (kLeaseTeamTablesV2).
#pragma once

#include <string_view>

#include "state/postgres/pg_util.h"

namespace keel::state::pg_schema {

// The newest schema this keel knows.
inline constexpr int kVersion = 3;

// Version-1 DDL pieces (plain CREATE TABLE / CREATE INDEX statements).
extern const std::string_view kJournalTablesV1;     // pg_store_journal.cpp: journal, chain_heads
extern const std::string_view kLeaseTablesV1;       // pg_store_leases.cpp: leases, lease_tombstones, lease_requests
extern const std::string_view kAgentTablesV1;       // pg_store_agents.cpp: agents
extern const std::string_view kMemoryTablesV1;      // pg_store_memory.cpp: memory (+ tsvector)
extern const std::string_view kEscalationTablesV1;  // pg_store_escalation.cpp: escalations, escalation_buckets

// Version-2 DDL (pg_store_lease_team.cpp): leases.units/group_id,
// lease_requests.args_hash; lease_capacities, lease_waiters, lease_asks.
extern const std::string_view kLeaseTeamTablesV2;

// The schema version the database at `c` carries (0: none yet).
int current_version(pg::Connection& c);

// Brings the schema in c's current schema (created when search_path names one
// that does not exist) up to `target` (kVersion; a lower one only for tests
// that build an old database to upgrade). Returns the version found before.
// Throws StoreError(kInternal) for a database newer than this keel, and
// kInvalidArgument for a target outside 1..kVersion.
int migrate(pg::Connection& c, int target = kVersion);

}  // namespace keel::state::pg_schema
