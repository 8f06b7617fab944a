// keel/state/sqlite_store_requests.cpp — idempotent tool calls on SQLite:
// claim, complete and abandon a request_id (state/store.h; the rules in
// state/request_rules.h).
//
// Each call is one writer job, so a claim's read and its write are one
// transaction under the database's write lock: of concurrent claims of one
// id, in this process or others, exactly one finds no live row and gets kNew.
// The table is transient: nothing is journaled (the call's own records are)
// and rows past the retention are dropped by the claims themselves.
#include "state/request_rules.h"
#include "state/sqlite_store.h"

namespace keel::state {

namespace {

constexpr std::string_view kKey = "project = ? AND agent = ? AND tool = ? AND request_id = ?";

}  // namespace

RequestClaim SqliteStore::claim_request(const Principal& who, std::string_view tool,
                                        std::string_view request_id,
                                        std::string_view args_hash, std::int64_t expected_ms) {
  request_rules::validate_claim(who, tool, request_id, args_hash, expected_ms);
  RequestClaim out;
  writer_->submit([&](sqlite3* db) {
    const std::int64_t t = now();
    sql::Statement(db, "DELETE FROM tool_requests WHERE claimed_at < ? AND stale_at <= ?")
        .bind_all(request_rules::retention_cut(options_, t), t)
        .run();
    const std::optional<request_rules::StoredRequest> row = sql::select_one(
        db, "args_hash, result, claimed_at, stale_at",
        "FROM tool_requests WHERE " + std::string(kKey),
        [](const sql::Statement& q) {
          return request_rules::StoredRequest{
              q.text(0), q.is_null(1) ? std::nullopt : std::optional<std::string>(q.text(1)),
              q.int64(2), q.int64(3)};
        },
        who.project, who.agent, tool, request_id);
    out = request_rules::decide(row, args_hash, options_, t);
    if (out.status != RequestClaim::Status::kNew) return;
    // No row, or a stale claim with the same arguments: this call's now,
    // under a new owner token.
    out.claim_id = request_rules::new_claim_id();
    sql::Statement(db,
                   "INSERT OR REPLACE INTO tool_requests(project, agent, tool, request_id,"
                   " args_hash, result, claimed_at, claim_id, stale_at)"
                   " VALUES(?, ?, ?, ?, ?, NULL, ?, ?, ?)")
        .bind_all(who.project, who.agent, tool, request_id, args_hash, t, out.claim_id,
                  request_rules::stale_at(options_, t, expected_ms))
        .run();
  });
  return out;
}

void SqliteStore::complete_request(const Principal& who, std::string_view tool,
                                   std::string_view request_id, std::string_view claim_id,
                                   std::string_view result_json) {
  request_rules::validate_owner(who, tool, request_id, claim_id);
  // Only this call's uncompleted claim takes its result: after its claim
  // went stale and a retry took it over, the retry's result is the one kept.
  writer_->submit([&](sqlite3* db) {
    sql::Statement(db, "UPDATE tool_requests SET result = ? WHERE " + std::string(kKey) +
                           " AND claim_id = ? AND result IS NULL")
        .bind_all(result_json, who.project, who.agent, tool, request_id, claim_id)
        .run();
  });
}

void SqliteStore::abandon_request(const Principal& who, std::string_view tool,
                                  std::string_view request_id, std::string_view claim_id) {
  request_rules::validate_owner(who, tool, request_id, claim_id);
  writer_->submit([&](sqlite3* db) {
    sql::Statement(db, "DELETE FROM tool_requests WHERE " + std::string(kKey) +
                           " AND claim_id = ? AND result IS NULL")
        .bind_all(who.project, who.agent, tool, request_id, claim_id)
        .run();
  });
}

}  // namespace keel::state
