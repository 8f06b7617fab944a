// keel/state/postgres/pg_store_requests.cpp — idempotent tool calls on
// PostgreSQL: claim, complete and abandon a request_id (state/store.h; the
// rules in state/request_rules.h).
//
// Not journaled, so not under the project's head lock (no write batch): each
// call is its own short READ COMMITTED transaction on a pooled connection. A
// claim is one INSERT ... ON CONFLICT DO UPDATE whose WHERE takes over only a
// row past retention or a stale claim with the same arguments: of two nodes
// claiming one id at once, the second waits on the first's row and then
// either finds it (its conflict branch updates nothing but locks the row, so
// the SELECT that follows reads it as it stays until this commit) or takes
// it over; exactly one of them gets kNew.
#include "state/postgres/pg_store.h"
#include "state/request_rules.h"

namespace keel::state {

namespace {

// Rows past retention, a bounded batch per claim; SKIP LOCKED so that
// concurrent claims never wait on (or deadlock over) each other's sweep.
constexpr std::string_view kSweepSql =
    "DELETE FROM tool_requests WHERE (project, agent, tool, request_id) IN"
    " (SELECT project, agent, tool, request_id FROM tool_requests"
    " WHERE claimed_at < $1 AND stale_at <= $2"
    " LIMIT 100 FOR UPDATE SKIP LOCKED)";

// $6 now, $7 this claim's owner token, $8 its stale_at, $9 the retention
// cut: the same conditions as request_rules::decide's kNew for an existing
// row.
constexpr std::string_view kClaimSql =
    "INSERT INTO tool_requests AS t(project, agent, tool, request_id, args_hash, result,"
    " claimed_at, claim_id, stale_at) VALUES($1, $2, $3, $4, $5, NULL, $6, $7, $8)"
    " ON CONFLICT (project, agent, tool, request_id) DO UPDATE"
    " SET args_hash = EXCLUDED.args_hash, result = NULL, claimed_at = EXCLUDED.claimed_at,"
    " claim_id = EXCLUDED.claim_id, stale_at = EXCLUDED.stale_at"
    " WHERE (t.claimed_at < $9 AND t.stale_at <= $6)"
    " OR (t.result IS NULL AND t.args_hash = EXCLUDED.args_hash AND t.stale_at <= $6)"
    " RETURNING 1";

constexpr std::string_view kFindSql =
    "SELECT args_hash, result, claimed_at, stale_at FROM tool_requests"
    " WHERE project = $1 AND agent = $2 AND tool = $3 AND request_id = $4";

}  // namespace

RequestClaim PgStore::claim_request(const Principal& who, std::string_view tool,
                                    std::string_view request_id, std::string_view args_hash,
                                    std::int64_t expected_ms) {
  request_rules::validate_claim(who, tool, request_id, args_hash, expected_ms);
  return read([&](pg::Connection& c) {
    pg::Transaction tx(c, pg::Transaction::DeferBegin{});
    const std::int64_t t = now(c);
    c.defer("request_sweep", kSweepSql, {request_rules::retention_cut(options_, t), t});
    RequestClaim mine;
    mine.claim_id = request_rules::new_claim_id();
    const pg::Result claimed = c.exec_prepared(
        "request_claim", kClaimSql,
        {who.project, who.agent, tool, request_id, args_hash, t, mine.claim_id,
         request_rules::stale_at(options_, t, expected_ms),
         request_rules::retention_cut(options_, t)});
    if (claimed.rows() == 1) {
      tx.commit();
      return mine;
    }
    const pg::Result found =
        c.exec_prepared("request_find", kFindSql, {who.project, who.agent, tool, request_id});
    tx.commit();
    if (found.rows() != 1) {
      // The conflict branch locked the row until our commit: it cannot be gone.
      throw StoreError(ErrorCode::kInternal,
                       "request_id " + std::string(request_id) + ": claimed row not found");
    }
    RequestClaim out = request_rules::decide(
        request_rules::StoredRequest{found.text(0, 0), found.opt_text(0, 1), found.int64(0, 2),
                                     found.int64(0, 3)},
        args_hash, options_, t);
    if (out.status == RequestClaim::Status::kNew) {
      throw StoreError(ErrorCode::kInternal, "request_id " + std::string(request_id) +
                                                 ": the claim and its row disagree");
    }
    return out;
  });
}

void PgStore::complete_request(const Principal& who, std::string_view tool,
                               std::string_view request_id, std::string_view claim_id,
                               std::string_view result_json) {
  request_rules::validate_owner(who, tool, request_id, claim_id);
  // Only this call's uncompleted claim takes its result (as on SQLite).
  read([&](pg::Connection& c) {
    c.exec_prepared("request_complete",
                    "UPDATE tool_requests SET result = $6 WHERE project = $1 AND agent = $2"
                    " AND tool = $3 AND request_id = $4 AND claim_id = $5 AND result IS NULL",
                    {who.project, who.agent, tool, request_id, claim_id, result_json});
  });
}

void PgStore::abandon_request(const Principal& who, std::string_view tool,
                              std::string_view request_id, std::string_view claim_id) {
  request_rules::validate_owner(who, tool, request_id, claim_id);
  read([&](pg::Connection& c) {
    c.exec_prepared("request_abandon",
                    "DELETE FROM tool_requests WHERE project = $1 AND agent = $2"
                    " AND tool = $3 AND request_id = $4 AND claim_id = $5 AND result IS NULL",
                    {who.project, who.agent, tool, request_id, claim_id});
  });
}

}  // namespace keel::state
