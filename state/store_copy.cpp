// keel/state/store_copy.cpp — the tables a StateImage carries (store_copy.h).
#include "state/store_copy.h"

namespace keel::state {

const std::vector<ImageTable>& image_tables() {
  using K = CellKind;
  static const std::vector<ImageTable> tables{
      {"leases",
       {{"lease_id", K::kText}, {"name", K::kText}, {"mode", K::kText}, {"holder", K::kText},
        {"token", K::kInt}, {"ttl_ms", K::kInt}, {"acquired_at", K::kInt},
        {"expires_at", K::kInt}, {"reason", K::kText}, {"request_id", K::kText},
        {"units", K::kInt}, {"group_id", K::kText}}},
      {"lease_tombstones",
       {{"lease_id", K::kText}, {"name", K::kText}, {"outcome", K::kText}, {"at", K::kInt}}},
      {"lease_requests",
       {{"holder", K::kText}, {"request_id", K::kText}, {"result_json", K::kText},
        {"created_at", K::kInt}, {"args_hash", K::kText}}},
      // Declared capacities (configured ones live in each node's config).
      {"lease_capacities",
       {{"name", K::kText}, {"capacity", K::kInt}, {"declared_by", K::kText},
        {"declared_at", K::kInt}}},
      // Release asks, delivered or not. (lease_waiters is not copied: a
      // queue row belongs to a call waiting on the source.)
      {"lease_asks",
       {{"ask_id", K::kText}, {"name", K::kText}, {"asker", K::kText}, {"holder", K::kText},
        {"reason", K::kText}, {"at", K::kInt}, {"delivered_at", K::kInt}}},
      // Without id: the target numbers its rows (nothing refers to them).
      {"memory",
       {{"tier", K::kText}, {"namespace", K::kText}, {"scope", K::kText}, {"key", K::kText},
        {"session_id", K::kText}, {"value", K::kText}, {"version", K::kInt},
        {"created_at", K::kInt}, {"updated_at", K::kInt}, {"expires_at", K::kInt},
        {"fence_token", K::kInt}}},
      // With id: ESCALATE/RESOLVE records and waiting agents name it.
      {"escalations",
       {{"id", K::kInt}, {"agent", K::kText}, {"reason", K::kText}, {"context", K::kText},
        {"proposal", K::kText}, {"impact", K::kText}, {"severity", K::kText},
        {"request_id", K::kText}, {"created_at", K::kInt}, {"status", K::kText},
        {"decision", K::kText}, {"resolved_proposal", K::kText}, {"resolver", K::kText},
        {"resolved_via", K::kText}, {"resolved_at", K::kInt}}},
      {"escalation_buckets",
       {{"agent", K::kText}, {"tokens", K::kReal}, {"updated_at", K::kInt}}},
      {"agents",
       {{"name", K::kText}, {"product", K::kText}, {"host", K::kText}, {"host_key", K::kText},
        {"pid", K::kInt}, {"start_time", K::kInt}, {"session_id", K::kText},
        {"client", K::kText}, {"started_at", K::kInt}, {"last_seen", K::kInt},
        {"status", K::kText}, {"reason", K::kText}}},
      // Idempotent tool calls: completed (result) or claimed (stale_at).
      {"tool_requests",
       {{"agent", K::kText}, {"tool", K::kText}, {"request_id", K::kText},
        {"args_hash", K::kText}, {"result", K::kText}, {"claimed_at", K::kInt},
        {"claim_id", K::kText}, {"stale_at", K::kInt}},
       "agent, tool, request_id"},
      {"fanout_cache",
       {{"digest", K::kText}, {"result", K::kText}, {"stored_at", K::kInt},
        {"expires_at", K::kInt}, {"used_at", K::kInt}, {"hits", K::kInt}},
       "digest"},
      {"fanout_breakers",
       {{"provider", K::kText}, {"state", K::kText}, {"consecutive_failures", K::kInt},
        {"opened", K::kInt}, {"opened_at", K::kInt}, {"updated_at", K::kInt}},
       "provider"},
  };
  return tables;
}

}  // namespace keel::state
