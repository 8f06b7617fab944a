// keel/state/sqlite_store_escalation.cpp — escalations on SQLite: request
// (token bucket), resolve, get, list, wait.
//
// Every decision is one writer job: the bucket, the escalation row and the
// journal record change together. A lost resolution race is reported as a
// value (resolved:false), not thrown, like a lease conflict.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "state/escalation.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;
using escalation::check_principal;
using escalation::not_found;
using escalation::parse_stored;
using escalation::require_read;

namespace {

// How often a waiter re-reads the row, for resolutions made by other
// processes (this process's resolutions wake it at once).
constexpr auto kWaitPoll = std::chrono::milliseconds(200);

constexpr std::string_view kEscalationColumns =
    "id, project, agent, reason, context, proposal, impact, severity, request_id, created_at,"
    " status, decision, resolved_proposal, resolver, resolved_via, resolved_at";

Escalation read_escalation(const sql::Statement& q) {
  Escalation e;
  e.id = q.int64(0);
  e.project = q.text(1);
  e.agent = q.text(2);
  e.reason = q.text(3);
  e.context = parse_stored(q.text(4));
  e.proposal = parse_stored(q.text(5));
  e.impact = q.text(6) == "high" ? EscalationImpact::kHigh : EscalationImpact::kLow;
  e.severity = q.text(7);
  if (!q.is_null(8)) e.request_id = q.text(8);
  e.created_at_ms = q.int64(9);
  e.resolved = q.text(10) == "resolved";
  if (e.resolved) {
    e.decision = parse_escalation_decision(q.is_null(11) ? "" : q.text(11));
    e.resolved_proposal = q.is_null(12) ? json::value(nullptr) : parse_stored(q.text(12));
    e.resolver = q.is_null(13) ? "" : q.text(13);
    e.resolved_via = q.is_null(14) ? "" : q.text(14);
    e.resolved_at_ms = q.is_null(15) ? 0 : q.int64(15);
  }
  return e;
}

std::optional<Escalation> find_escalation(sqlite3* db, std::string_view project, std::int64_t id) {
  return sql::select_one(db, kEscalationColumns, "FROM escalations WHERE id = ? AND project = ?",
                         read_escalation, id, project);
}

// The agent's bucket as of `now` (full when never used).
escalation::BucketLevel read_bucket(sqlite3* db, const Principal& who,
                                    const EscalationBudget& budget, std::int64_t now) {
  sql::Statement q(db, "SELECT tokens, updated_at FROM escalation_buckets"
                       " WHERE project = ? AND agent = ?");
  q.bind_all(who.project, who.agent);
  if (!q.step()) return escalation::full(budget, now);
  return escalation::refill({q.real(0), q.int64(1)}, now, budget);
}

}  // namespace

EscalationRequestResult SqliteStore::request_escalation(const Principal& who,
                                                        const EscalationRequest& request) {
  check_principal(who);
  require(who, caps::kEscalationRequest);
  escalation::validate(request);
  const EscalationBudget budget = escalation::budget_of(options_, who.agent);

  EscalationRequestResult out;
  writer_->submit([&](sqlite3* db) {
    out = EscalationRequestResult{};
    const std::int64_t t = now();
    escalation::BucketLevel level = read_bucket(db, who, budget, t);

    if (request.request_id) {
      sql::Statement q(db, "SELECT id FROM escalations WHERE project = ? AND agent = ?"
                           " AND request_id = ?");
      q.bind_all(who.project, who.agent, *request.request_id);
      if (q.step()) {
        out.escalation = find_escalation(db, who.project, q.int64(0));
        out.outcome = EscalationOutcome::kGranted;
        out.replayed = true;
        out.tokens_left = escalation::whole_tokens(level);
        return;
      }
    }

    json::object payload = escalation::request_payload(who, request);

    if (!escalation::has_token(level)) {
      escalation::refuse(out, payload, level, budget);
      append_record(db, t, who.project, who.agent, ops::kEscalateRefused, "escalation:refused",
                    json::serialize(payload));
      return;
    }

    escalation::spend(level);
    sql::Statement(db,
                   "INSERT INTO escalation_buckets(project, agent, tokens, updated_at)"
                   " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(project, agent)"
                   " DO UPDATE SET tokens = ?3, updated_at = ?4")
        .bind_all(who.project, who.agent, level.tokens, level.at_ms)
        .run();
    sql::Statement(db,
                   "INSERT INTO escalations(project, agent, reason, context, proposal, impact,"
                   " severity, request_id, created_at, status) VALUES(?,?,?,?,?,?,?,?,?,'pending')")
        .bind_all(who.project, who.agent, request.reason, json::serialize(request.context),
                  json::serialize(request.proposal), to_string(request.impact), request.severity,
                  request.request_id, t)
        .run();
    const std::int64_t id = sqlite3_last_insert_rowid(db);
    out.escalation = find_escalation(db, who.project, id);
    escalation::grant(out, payload, id, level);
    append_record(db, t, who.project, who.agent, ops::kEscalate,
                  "escalation:" + std::to_string(id), json::serialize(payload));
  });
  return out;
}

ResolveEscalationResult SqliteStore::resolve_escalation(const Principal& who,
                                                        const ResolveEscalationRequest& r) {
  check_principal(who);
  require(who, caps::kEscalationResolve);
  const std::string via = escalation::check_resolve(r);

  ResolveEscalationResult out;
  writer_->submit([&](sqlite3* db) {
    out = ResolveEscalationResult{};
    std::optional<Escalation> e = find_escalation(db, who.project, r.id);
    if (!e) throw not_found(r.id);
    if (e->resolved) {  // someone else won
      out.resolved = false;
      out.escalation = std::move(*e);
      return;
    }
    const std::int64_t t = now();
    const json::value resolved_proposal = escalation::resolved_proposal(r, *e);
    sql::Statement update(db,
                          "UPDATE escalations SET status = 'resolved', decision = ?,"
                          " resolved_proposal = ?, resolver = ?, resolved_via = ?,"
                          " resolved_at = ? WHERE id = ? AND status = 'pending'");
    update.bind_all(to_string(r.decision), json::serialize(resolved_proposal), who.agent, via, t,
                    r.id)
        .run();
    if (sqlite3_changes(db) != 1) {
      // (Unreachable: the write lock is held since the row was read.)
      throw StoreError(ErrorCode::kInternal, "escalation row changed under the write lock");
    }
    const json::object payload = escalation::resolve_payload(r, *e, resolved_proposal, via);
    append_record(db, t, who.project, who.agent, ops::kResolve,
                  "escalation:" + std::to_string(r.id), json::serialize(payload));
    out.resolved = true;
    out.escalation = *find_escalation(db, who.project, r.id);
  });
  if (out.resolved) {
    {
      std::lock_guard<std::mutex> lock(escalation_mu_);
      ++escalation_epoch_;
    }
    escalation_cv_.notify_all();
  }
  return out;
}

Escalation SqliteStore::get_escalation(const Principal& who, std::int64_t id) {
  check_principal(who);
  require_read(who);
  ReadConnection conn = read_connection();
  std::optional<Escalation> e = find_escalation(conn.get(), who.project, id);
  if (!e) throw not_found(id);
  return std::move(*e);
}

EscalationListResult SqliteStore::list_escalations(const Principal& who,
                                                   const EscalationListRequest& r) {
  check_principal(who);
  require_read(who);
  const escalation::ListPage page = escalation::list_page(r);
  const int limit = page.limit;
  const std::int64_t before = page.before;
  std::string where = " WHERE project = ?1 AND id < ?2";
  if (r.resolved) where += *r.resolved ? " AND status = 'resolved'" : " AND status = 'pending'";

  EscalationListResult out;
  ReadConnection conn = read_connection();
  sql::Statement q(conn.get(), "SELECT " + std::string(kEscalationColumns) + " FROM escalations" +
                                   where + " ORDER BY id DESC LIMIT ?3");
  q.bind_all(who.project, before, limit + 1);
  while (q.step()) out.escalations.push_back(read_escalation(q));
  escalation::finish_page(out, limit);
  return out;
}

Escalation SqliteStore::wait_escalation(const Principal& who, std::int64_t id,
                                        std::int64_t wait_ms, const CancelCheck& cancelled) {
  escalation::check_wait_ms(wait_ms, options_.escalation_max_wait_ms);
  const WaitDeadline deadline(wait_ms);
  for (;;) {
    std::uint64_t epoch;
    {
      std::lock_guard<std::mutex> lock(escalation_mu_);
      epoch = escalation_epoch_;
    }
    Escalation e = get_escalation(who, id);  // checks principal and capability
    if (e.resolved || deadline.passed()) return e;
    if (cancelled && cancelled()) {
      throw escalation::wait_cancelled(id);
    }
    const auto step = deadline.next_step(kWaitPoll);
    std::unique_lock<std::mutex> lock(escalation_mu_);
    escalation_cv_.wait_for(lock, step, [&] { return escalation_epoch_ != epoch; });
  }
}

}  // namespace keel::state
