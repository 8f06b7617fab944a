// keel/state/postgres/pg_store_escalation.cpp — escalations on PostgreSQL:
// request (token bucket), resolve, get, list, wait. A port of
// sqlite_store_escalation.cpp: same checks, errors, journal ops and payloads.
//
// Every decision is one PgStore::write job: the bucket, the escalation row
// and the journal record change together, serialised with every write of the
// project (on any node) by the chain_heads lock. A lost resolution race is
// reported as a value (resolved:false), not thrown, like a lease conflict.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>

#include "state/escalation.h"
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace pg_store_detail;
using escalation::check_principal;
using escalation::not_found;
using escalation::parse_stored;
using escalation::require_read;

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

// How often a waiter re-reads the row, for resolutions it was not told of
// (a lost notification, a listener reconnecting).
constexpr auto kWaitPoll = std::chrono::milliseconds(200);

constexpr std::string_view kEscalationColumns =
    "id, project, agent, reason, context, proposal, impact, severity, request_id, created_at,"
    " status, decision, resolved_proposal, resolver, resolved_via, resolved_at";

std::string select_escalation(std::string_view rest) {
  return "SELECT " + std::string(kEscalationColumns) + " FROM escalations " + std::string(rest);
}

Escalation read_escalation(const pg::Result& q, int row) {
  Escalation e;
  e.id = q.int64(row, 0);
  e.project = q.text(row, 1);
  e.agent = q.text(row, 2);
  e.reason = q.text(row, 3);
  e.context = parse_stored(q.text(row, 4));
  e.proposal = parse_stored(q.text(row, 5));
  e.impact = q.text(row, 6) == "high" ? EscalationImpact::kHigh : EscalationImpact::kLow;
  e.severity = q.text(row, 7);
  e.request_id = q.opt_text(row, 8);
  e.created_at_ms = q.int64(row, 9);
  e.resolved = q.text(row, 10) == "resolved";
  if (e.resolved) {
    e.decision = parse_escalation_decision(q.text(row, 11));
    e.resolved_proposal =
        q.is_null(row, 12) ? json::value(nullptr) : parse_stored(q.text(row, 12));
    e.resolver = q.text(row, 13);
    e.resolved_via = q.text(row, 14);
    e.resolved_at_ms = q.int64(row, 15);
  }
  return e;
}

// The escalation `id` of `project`; with `lock`, its row stays locked until
// the transaction ends.
std::optional<Escalation> find_escalation(pg::Connection& c, std::string_view project,
                                          std::int64_t id, bool lock = false) {
  const pg::Result q =
      lock ? c.exec_prepared("escalation_find_locked",
                             select_escalation("WHERE id = $1 AND project = $2 FOR UPDATE"),
                             {id, project})
           : c.exec_prepared("escalation_find",
                             select_escalation("WHERE id = $1 AND project = $2"), {id, project});
  if (q.rows() == 0) return std::nullopt;
  return read_escalation(q, 0);
}

// The agent's bucket as of `now` (full when never used).
escalation::BucketLevel read_bucket(pg::Connection& c, const Principal& who,
                                    const EscalationBudget& budget, std::int64_t now) {
  const pg::Result q = c.exec_prepared(
      "escalation_bucket",
      "SELECT tokens, updated_at FROM escalation_buckets WHERE project = $1 AND agent = $2",
      {who.project, who.agent});
  if (q.rows() == 0) return escalation::full(budget, now);
  return escalation::refill({q.real(0, 0), q.int64(0, 1)}, now, budget);
}

// A double as text that reads back as the same double (PostgreSQL's float8
// input is correctly rounded).
std::string exact_text(double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

}  // namespace

EscalationRequestResult PgStore::request_escalation(const Principal& who,
                                                    const EscalationRequest& request) {
  check_principal(who);
  require(who, caps::kEscalationRequest);
  escalation::validate(request);
  const EscalationBudget budget = escalation::budget_of(options_, who.agent);

  return write(who.project, [&](Write& w) {
    EscalationRequestResult out;
    const std::int64_t t = w.now;
    escalation::BucketLevel level = read_bucket(w.c, who, budget, t);

    if (request.request_id) {
      const pg::Result q = w.c.exec_prepared(
          "escalation_by_request_id",
          select_escalation("WHERE project = $1 AND agent = $2 AND request_id = $3"),
          {who.project, who.agent, *request.request_id});
      if (q.rows() > 0) {
        out.escalation = read_escalation(q, 0);
        out.outcome = EscalationOutcome::kGranted;
        out.replayed = true;
        out.tokens_left = escalation::whole_tokens(level);
        return out;
      }
    }

    json::object payload = escalation::request_payload(who, request);

    if (!escalation::has_token(level)) {
      escalation::refuse(out, payload, level, budget);
      w.append(who.agent, ops::kEscalateRefused, "escalation:refused", json::serialize(payload));
      return out;
    }

    escalation::spend(level);
    w.c.exec_prepared("escalation_spend",
                      "INSERT INTO escalation_buckets(project, agent, tokens, updated_at)"
                      " VALUES ($1, $2, $3, $4) ON CONFLICT (project, agent)"
                      " DO UPDATE SET tokens = EXCLUDED.tokens, updated_at = EXCLUDED.updated_at",
                      {who.project, who.agent, exact_text(level.tokens), level.at_ms});
    const pg::Result ins = w.c.exec_prepared(
        "escalation_insert",
        "INSERT INTO escalations(project, agent, reason, context, proposal, impact, severity,"
        " request_id, created_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')"
        " RETURNING " + std::string(kEscalationColumns),
        {who.project, who.agent, request.reason, json::serialize(request.context),
         json::serialize(request.proposal), to_string(request.impact), request.severity,
         request.request_id, t});
    out.escalation = read_escalation(ins, 0);
    const std::int64_t id = out.escalation->id;
    escalation::grant(out, payload, id, level);
    w.append(who.agent, ops::kEscalate, "escalation:" + std::to_string(id),
             json::serialize(payload));
    return out;
  });
}

ResolveEscalationResult PgStore::resolve_escalation(const Principal& who,
                                                    const ResolveEscalationRequest& r) {
  check_principal(who);
  require(who, caps::kEscalationResolve);
  const std::string via = escalation::check_resolve(r);

  // Exactly one winner, across nodes: the job holds the project's chain_heads
  // lock (and the row's), so a second resolver reads the row only after the
  // first committed, and finds it resolved.
  ResolveEscalationResult out = write(who.project, [&](Write& w) {
    ResolveEscalationResult res;
    std::optional<Escalation> e = find_escalation(w.c, who.project, r.id, /*lock=*/true);
    if (!e) throw not_found(r.id);
    if (e->resolved) {  // someone else won
      res.resolved = false;
      res.escalation = std::move(*e);
      return res;
    }
    const std::int64_t t = w.now;
    const json::value resolved_proposal = escalation::resolved_proposal(r, *e);
    const pg::Result u = w.c.exec_prepared(
        "escalation_resolve",
        "UPDATE escalations SET status = 'resolved', decision = $1, resolved_proposal = $2,"
        " resolver = $3, resolved_via = $4, resolved_at = $5"
        " WHERE id = $6 AND project = $7 AND status = 'pending'"
        " RETURNING " + std::string(kEscalationColumns),
        {to_string(r.decision), json::serialize(resolved_proposal), who.agent, via, t, r.id,
         who.project});
    if (u.rows() != 1) {
      // (Unreachable: the row is locked since it was read.)
      throw StoreError(ErrorCode::kInternal, "escalation row changed under the write lock");
    }
    const json::object payload = escalation::resolve_payload(r, *e, resolved_proposal, via);
    w.append(who.agent, ops::kResolve, "escalation:" + std::to_string(r.id),
             json::serialize(payload));
    w.notify("keel_escalation");
    res.resolved = true;
    res.escalation = read_escalation(u, 0);
    return res;
  });
  if (out.resolved) {
    // Waiters of this process wake at once, whether or not the listener's
    // copy of the notification arrives.
    {
      std::lock_guard<std::mutex> lock(wake_mu_);
      ++escalation_epoch_;
    }
    wake_cv_.notify_all();
  }
  return out;
}

Escalation PgStore::get_escalation(const Principal& who, std::int64_t id) {
  check_principal(who);
  require_read(who);
  std::optional<Escalation> e =
      read([&](pg::Connection& c) { return find_escalation(c, who.project, id); });
  if (!e) throw not_found(id);
  return std::move(*e);
}

EscalationListResult PgStore::list_escalations(const Principal& who,
                                               const EscalationListRequest& r) {
  check_principal(who);
  require_read(who);
  const escalation::ListPage page = escalation::list_page(r);
  const int limit = page.limit;
  const std::int64_t before = page.before;
  // NULL: both statuses.
  std::optional<std::string> status;
  if (r.resolved) status = *r.resolved ? "resolved" : "pending";

  EscalationListResult out = read([&](pg::Connection& c) {
    const pg::Result q = c.exec_prepared(
        "escalation_list",
        select_escalation("WHERE project = $1 AND id < $2 AND ($3::text IS NULL OR status = $3)"
                          " ORDER BY id DESC LIMIT $4"),
        {who.project, before, status, limit + 1});
    EscalationListResult res;
    for (int i = 0; i < q.rows(); ++i) res.escalations.push_back(read_escalation(q, i));
    return res;
  });
  escalation::finish_page(out, limit);
  return out;
}

// Woken by escalation_epoch_ (resolutions in this process, and the
// listener's keel_escalation notifications from every node), and re-reads
// the row at least every 200 ms in case a notification was lost. No
// connection is held while waiting: each check is its own read.
Escalation PgStore::wait_escalation(const Principal& who, std::int64_t id, std::int64_t wait_ms,
                                    const CancelCheck& cancelled) {
  escalation::check_wait_ms(wait_ms, options_.escalation_max_wait_ms);
  const WaitDeadline deadline(wait_ms);
  for (;;) {
    std::uint64_t epoch;
    {
      std::lock_guard<std::mutex> lock(wake_mu_);
      epoch = escalation_epoch_;
    }
    Escalation e = get_escalation(who, id);  // checks principal and capability
    if (e.resolved || deadline.passed()) return e;
    if (cancelled && cancelled()) {
      throw escalation::wait_cancelled(id);
    }
    const auto step = deadline.next_step(kWaitPoll);
    std::unique_lock<std::mutex> lock(wake_mu_);
    wake_cv_.wait_for(lock, step, [&] { return escalation_epoch_ != epoch; });
  }
}

}  // namespace keel::state
