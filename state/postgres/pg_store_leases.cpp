// keel/state/postgres/pg_store_leases.cpp — PostgreSQL: one acquire attempt
// (try_acquire; the wait around it is pg_store_leases_wait.cpp), renew,
// release, list, the lease tables, and the lease helpers the other
// primitives share (tombstone, expire, reap).
//
// A port of sqlite_store_leases.cpp; the decisions are state/lease_rules.h
// and state/lease_queue.h (shared with SQLite), the queue/capacity/ask rows
// pg_store_lease_queue.cpp. Every decision is one
// write() job of the project (so it runs after the project's chain_heads row
// is locked, serialised with every other write of the project on every
// node): reap the project's expired leases (journaling EXPIRE), decide,
// change the table and journal the decision. Jobs report refusals as values,
// not exceptions, so that what they journaled commits; the caller throws
// after the job returned. A job may run more than once (write() retries a
// transaction that failed to commit), so it resets its outputs first.
//
// Every change that frees a hold (release, expiry, scavenge, suspension,
// adoption) NOTIFYs keel_lease, which wakes waiting acquires on every node.
#include <algorithm>
#include <set>

#include "state/journal.h"
#include "state/lease_name.h"
#include "state/lease_queue.h"
#include "state/lease_rules.h"
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_leases_util.h"

namespace keel::state {
namespace json = boost::json;
using namespace pg_store_detail;
using namespace pg_lease_util;

// Leases: the same columns as SQLite's (state/schema.cpp), keyed and indexed
// by project first. Fencing tokens come from the project's chain_heads row,
// so they are unique per project (SQLite's counter is per store). Names
// compare bytewise (COLLATE "C"), as SQLite's BINARY: list_leases' prefix
// range and order must not depend on the database's locale.
const std::string_view pg_schema::kLeaseTablesV1 = R"sql(
CREATE TABLE leases(
  project     TEXT NOT NULL,
  lease_id    TEXT NOT NULL,
  name        TEXT COLLATE "C" NOT NULL,
  mode        TEXT NOT NULL,
  holder      TEXT NOT NULL,
  token       BIGINT NOT NULL,
  ttl_ms      BIGINT NOT NULL,
  acquired_at BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  reason      TEXT NOT NULL DEFAULT '',
  request_id  TEXT,
  PRIMARY KEY(project, lease_id),
  UNIQUE(project, token)
);
CREATE INDEX leases_by_name ON leases(project, name);
CREATE INDEX leases_by_expiry ON leases(project, expires_at);
CREATE INDEX leases_by_holder ON leases(project, holder);

-- What became of leases that left the table, so that renew/release can tell
-- "expired" from "released" after the row is gone. Pruned after a day.
CREATE TABLE lease_tombstones(
  project  TEXT NOT NULL,
  lease_id TEXT NOT NULL,
  name     TEXT NOT NULL,
  outcome  TEXT NOT NULL,  -- 'released' | 'expired'
  at       BIGINT NOT NULL,
  PRIMARY KEY(project, lease_id)
);
CREATE INDEX lease_tombstones_by_time ON lease_tombstones(project, at);

-- Granted acquires by request_id (idempotent retries). Pruned after a day.
CREATE TABLE lease_requests(
  project     TEXT NOT NULL,
  holder      TEXT NOT NULL,
  request_id  TEXT NOT NULL,
  result_json TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY(project, holder, request_id)
);
CREATE INDEX lease_requests_by_time ON lease_requests(project, created_at);
)sql";

namespace {

constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;
constexpr const char* kLeaseChannel = "keel_lease";

}  // namespace

namespace pg_lease_util {

std::string lease_select(std::string_view where) {
  return "SELECT " + std::string(kLeaseColumns) + " FROM leases WHERE " + std::string(where);
}

std::vector<LeaseInfo> live_leases(PgStore::Write& w) {
  static const std::string sql = lease_select("project = $1 AND expires_at > $2 ORDER BY token");
  return read_leases(w.c.exec_prepared("lease_live", sql, {w.project, w.now}));
}

// (SQLite looks the id up in every project and then treats another
// project's lease as absent; the same.)
std::optional<LeaseInfo> find_lease(pg::Connection& c, std::string_view project,
                                    std::string_view lease_id) {
  static const std::string sql = lease_select("project = $1 AND lease_id = $2");
  const pg::Result r = c.exec_prepared("lease_find", sql, {project, lease_id});
  if (r.rows() == 0) return std::nullopt;
  return read_leases(r).front();
}

std::string tombstone(pg::Connection& c, std::string_view project, std::string_view lease_id) {
  const pg::Result r = c.exec_prepared(
      "lease_tombstone_get",
      "SELECT outcome FROM lease_tombstones WHERE project = $1 AND lease_id = $2",
      {project, lease_id});
  return r.rows() > 0 ? r.text(0, 0) : std::string();
}

void release_one(PgStore::Write& w, const Principal& who, const LeaseInfo& lease, bool force) {
  tombstone_lease(w, lease, "released");
  const json::object payload = lease_rules::release_payload(lease, force);
  w.append(who.agent, ops::kRelease, lease.name, json::serialize(payload));
}

}  // namespace pg_lease_util

// ------------------------------------------------------------------ helpers

namespace pg_store_detail {

void tombstone_lease(PgStore::Write& w, const LeaseInfo& lease, std::string_view outcome) {
  // One statement, deferred (it goes out with the job's next one).
  w.c.defer("lease_tombstone",
                    "WITH gone AS (DELETE FROM leases WHERE project = $1 AND lease_id = $2)"
                    " INSERT INTO lease_tombstones(project, lease_id, name, outcome, at)"
                    " VALUES($1, $2, $3, $4, $5)"
                    " ON CONFLICT (project, lease_id) DO UPDATE SET name = EXCLUDED.name,"
                    " outcome = EXCLUDED.outcome, at = EXCLUDED.at",
                    {w.project, lease.lease_id, lease.name, outcome, w.now});
  // A hold is gone: waiting acquires (on any node) should look again.
  w.notify(kLeaseChannel);
}

void expire_lease(PgStore::Write& w, const LeaseInfo& lease) {
  tombstone_lease(w, lease, "expired");
  const json::object payload{{"lease_id", lease.lease_id},
                             {"name", lease.name},
                             {"holder", lease.holder},
                             {"token", lease.token},
                             {"expires_at", lease.expires_at_ms}};
  w.append(lease.holder, ops::kExpire, lease.name, json::serialize(payload));
}

int reap_expired_leases(PgStore::Write& w) {
  // By token, so that the EXPIRE records come in a deterministic order (the
  // order of EXPIREs within one transaction changes nothing the journal's
  // fold or replay sees).
  static const std::string sql = lease_select("project = $1 AND expires_at <= $2 ORDER BY token");
  const std::vector<LeaseInfo> expired =
      read_leases(w.c.exec_prepared("lease_reap", sql, {w.project, w.now}));
  for (const LeaseInfo& lease : expired) expire_lease(w, lease);
  return static_cast<int>(expired.size());
}

}  // namespace pg_store_detail

// ------------------------------------------------------------------ acquire

// acquire_lease (the wait) is in pg_store_leases_wait.cpp.

AcquireResult PgStore::try_acquire(const Principal& who, const AcquireRequest& request,
                                   AcquireAttempt& attempt) {
  AcquireResult out;
  std::optional<std::string> suspended;
  std::optional<LeaseWaiter> waiter;
  write(who.project, [&](Write& w) {
    out = AcquireResult{};
    suspended.reset();
    waiter = attempt.waiter;
    const std::int64_t t = w.now;
    // The decision's reads in one round trip (none depends on another's
    // rows, nor on the writes that follow them here): the dead queue rows
    // dropped, every lease of the project, the caller's agent row, the
    // declared capacities and the queue.
    static const std::string all_sql = lease_select("project = $1 ORDER BY token");
    std::vector<pg::Result> reads = w.c.exec_pipeline(
        {drop_dead_waiters_statement(w),
         {"lease_all", all_sql, {w.project}},
         find_agent_statement(w.project, who.agent),
         declared_capacities_statement(w.project),
         read_waiters_statement(w.project)});
    dropped_dead_waiters(w, reads[0]);
    // The expired leases are reaped (as reap_expired_leases would), the rest
    // are the live set the decision looks at, by token as SQLite reads it.
    std::vector<LeaseInfo> live = read_leases(reads[1]);
    for (const LeaseInfo& l : live) {
      if (l.expires_at_ms <= t) expire_lease(w, l);
    }
    std::erase_if(live, [&](const LeaseInfo& l) { return l.expires_at_ms <= t; });
    auto leave = [&] {
      if (waiter) delete_waiter(w, waiter->waiter_id);
      waiter.reset();
    };
    if (AgentCheck c = touch_agent(w, who, *processes_, reads[2]); c.suspended) {
      suspended = c.reason;
      leave();
      return;
    }

    if (request.request_id) {
      // Prune the project's day-old requests and look this one up, in one
      // statement. The SELECT sees the rows as they were before the DELETE,
      // so it skips the day-old ones itself (SQLite prunes first).
      const pg::Result q = w.c.exec_prepared(
          "lease_requests_get",
          "WITH pruned AS (DELETE FROM lease_requests WHERE project = $1 AND created_at < $4)"
          " SELECT args_hash, result_json FROM lease_requests"
          " WHERE project = $1 AND holder = $2 AND request_id = $3 AND created_at >= $4",
          {w.project, who.agent, *request.request_id, t - kDayMs});
      if (q.rows() > 0) {
        lease_rules::check_request_args(*request.request_id, q.text(0, 0), attempt.args_hash);
        const std::vector<LeaseInfo> recorded = lease_rules::grant_from_json(q.text(0, 1));
        out = lease_rules::replay_result(
            recorded, live, who.agent,
            [&](std::string_view id) { return tombstone(w.c, w.project, id); });
        leave();
        return;
      }
    }

    const lease_rules::ResolvedCapacities capacities = lease_rules::resolve_capacities(
        attempt.names, request, options_, capacities_from(reads[3]));
    const std::vector<lease_queue::QueuedWaiter> waiters = waiters_from(reads[4]);
    const std::string own_waiter = waiter ? waiter->waiter_id : std::string();
    lease_queue::Decision decision = lease_queue::decide(
        who.agent, request, attempt.names, t, live, waiters, capacities.counted, own_waiter);

    // A holder whose process is gone (this host) gives its holds up now, not
    // at their TTL: SCAVENGE, then decide again.
    if (!decision.granted && !decision.holders.empty()) {
      std::set<std::string> holders;
      for (const LeaseInfo& l : decision.holders) holders.insert(l.holder);
      bool freed = false;
      for (const std::string& h : holders) {
        if (scavenge_if_dead(w, h, *processes_)) {
          std::erase_if(live, [&](const LeaseInfo& l) { return l.holder == h; });
          freed = true;
        }
      }
      if (freed) {
        decision = lease_queue::decide(who.agent, request, attempt.names, t, live, waiters,
                                       capacities.counted, own_waiter);
      }
    }

    if (!decision.granted) {
      out = lease_queue::refusal_result(decision);
      if (attempt.final) {
        leave();
        out.timed_out = attempt.timed_out;
        out.waited_ms = attempt.waited_ms;
        const json::object payload = lease_rules::refuse_payload(attempt.names, request, out);
        w.append(who.agent, ops::kRefuse, attempt.names.front().str(), json::serialize(payload));
      } else if (!waiter) {
        // The first refusal of a waiting call: join the queue at this rank.
        waiter = lease_queue::new_waiter(who.agent, attempt.names, request, t);
        insert_waiter(w, *waiter, lease_queue::alive_until(t));
      } else if (!refresh_waiter(w, waiter->waiter_id, lease_queue::alive_until(t))) {
        // The row was dropped as dead (this call did not come back in time):
        // queue it again with the rank it had.
        insert_waiter(w, *waiter, lease_queue::alive_until(t));
      }
      return;
    }

    // Tokens first_token .. first_token + tokens_needed - 1, in canonical order.
    const std::int64_t first_token = w.token_counter;
    for (std::int64_t i = 0; i < decision.tokens_needed(); ++i) (void)w.next_token();
    const lease_queue::Grant grant = lease_queue::grant(decision, who.agent, request, first_token,
                                                        t, lease_rules::new_group_id());
    for (const LeaseInfo& l : grant.inserted) {
      w.c.defer("lease_insert",
                        "INSERT INTO leases(project, lease_id, name, mode, holder, token, ttl_ms,"
                        " acquired_at, expires_at, reason, request_id, units, group_id)"
                        " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                        {w.project, l.lease_id, l.name, to_string(l.mode), l.holder, l.token,
                         l.ttl_ms, l.acquired_at_ms, l.expires_at_ms, request.reason,
                         request.request_id, l.units, l.group_id});
    }
    for (const LeaseInfo& l : grant.upgraded) {
      w.c.exec_prepared("lease_upgrade",
                        "UPDATE leases SET mode = $3, token = $4, ttl_ms = $5, expires_at = $6"
                        " WHERE project = $1 AND lease_id = $2",
                        {w.project, l.lease_id, to_string(l.mode), l.token, l.ttl_ms,
                         l.expires_at_ms});
    }
    if (capacities.declare) declare_capacity(w, *capacities.declare, who.agent);
    for (const lease_queue::JournalEntry& e : grant.records) {
      w.append(who.agent, e.op, e.subject, json::serialize(e.payload));
    }
    if (request.request_id) {
      w.c.defer("lease_requests_put",
                        "INSERT INTO lease_requests(project, holder, request_id, result_json,"
                        " created_at, args_hash) VALUES($1, $2, $3, $4, $5, $6)"
                        " ON CONFLICT (project, holder, request_id) DO UPDATE SET"
                        " result_json = EXCLUDED.result_json, created_at = EXCLUDED.created_at,"
                        " args_hash = EXCLUDED.args_hash",
                        {w.project, who.agent, *request.request_id,
                         lease_rules::grant_to_json(grant.leases), t, attempt.args_hash});
    }
    leave();
    out = grant.result();
  });
  attempt.waiter = waiter;
  if (suspended) {
    // Best effort: a suspension made through another node reaches this
    // machine's hook marker (pg_store_agents.cpp) with the first refusal.
    (void)write_suspension_marker(options_.dir, who.project, who.agent, *suspended);
    throw StoreError(ErrorCode::kPermissionDenied,
                     "agent " + who.agent + " is suspended: " + *suspended);
  }
  return out;
}

void PgStore::leave_queue(std::string_view project, std::string_view waiter_id) {
  write(project, [&](Write& w) { (void)delete_waiter(w, waiter_id); });
}

// -------------------------------------------------------------------- renew

LeaseInfo PgStore::renew_lease(const Principal& who, std::string_view raw_name,
                               std::string_view lease_id) {
  validate_lease_principal(who);
  const LeaseName name = LeaseName::parse(raw_name);
  require_text("the lease name", name.str());
  require_text("the lease id", lease_id);
  using Status = lease_rules::RenewStatus;
  Status status = Status::kOk;
  LeaseInfo renewed;
  write(who.project, [&](Write& w) {
    status = Status::kOk;
    const std::int64_t t = w.now;
    std::optional<LeaseInfo> row = find_lease(w.c, w.project, lease_id);
    if (!row || row->name != name) {
      status = (!row && tombstone(w.c, w.project, lease_id) == "expired") ? Status::kExpired
                                                                          : Status::kNotFound;
      return;
    }
    if (row->holder != who.agent) {
      status = Status::kDenied;
      return;
    }
    if (row->expires_at_ms <= t) {
      expire_lease(w, *row);
      status = Status::kExpired;
      return;
    }
    renewed = *row;
    renewed.expires_at_ms = t + renewed.ttl_ms;
    w.c.defer("lease_extend",
                      "UPDATE leases SET expires_at = $3 WHERE project = $1 AND lease_id = $2",
                      {w.project, renewed.lease_id, renewed.expires_at_ms});
    const json::object payload = lease_rules::renew_payload(renewed);
    w.append(who.agent, ops::kRenew, name, json::serialize(payload));
  });
  if (status == Status::kOk) return renewed;
  lease_rules::throw_renew_refusal(status, lease_id, name.str());
}

// ------------------------------------------------------------------ release

ReleaseOutcome PgStore::release_lease(const Principal& who, std::string_view raw_name,
                                      std::string_view lease_id, bool force) {
  validate_lease_principal(who);
  if (force) require(who, caps::kLeaseForce);
  const LeaseName name = LeaseName::parse(raw_name);
  require_text("the lease name", name.str());
  require_text("the lease id", lease_id);
  using Status = lease_rules::ReleaseStatus;
  Status status = Status::kOk;
  ReleaseOutcome outcome = ReleaseOutcome::kAlreadyReleased;
  write(who.project, [&](Write& w) {
    status = Status::kOk;
    outcome = ReleaseOutcome::kAlreadyReleased;
    const std::int64_t t = w.now;

    if (!lease_id.empty()) {
      std::optional<LeaseInfo> row = find_lease(w.c, w.project, lease_id);
      if (!row) {
        outcome = tombstone(w.c, w.project, lease_id) == "expired"
                      ? ReleaseOutcome::kExpired
                      : ReleaseOutcome::kAlreadyReleased;
        return;
      }
      if (row->name != name) {
        status = Status::kWrongName;
        return;
      }
      if (row->holder != who.agent && !force) {
        status = Status::kDenied;
        return;
      }
      if (row->expires_at_ms <= t) {
        expire_lease(w, *row);
        outcome = ReleaseOutcome::kExpired;
        return;
      }
      release_one(w, who, *row, force);
      outcome = ReleaseOutcome::kReleased;
      return;
    }

    // No lease_id: every hold on the name (force) or the caller's own holds.
    static const std::string sql = lease_select("project = $1 AND name = $2 ORDER BY token");
    std::vector<LeaseInfo> rows =
        read_leases(w.c.exec_prepared("lease_by_name", sql, {w.project, name.str()}));
    std::erase_if(rows, [&](const LeaseInfo& l) { return !force && l.holder != who.agent; });
    bool released = false;
    bool expired = false;
    for (const LeaseInfo& l : rows) {
      if (l.expires_at_ms <= t) {
        expire_lease(w, l);
        expired = true;
      } else {
        release_one(w, who, l, force);
        released = true;
      }
    }
    outcome = lease_rules::release_outcome(released, expired);
  });
  lease_rules::throw_if_release_refused(status, lease_id, name.str());
  return outcome;
}

// --------------------------------------------------------------------- list

std::vector<LeaseInfo> PgStore::list_leases(const Principal& who, std::string_view prefix) {
  validate_lease_principal(who);
  // name is COLLATE "C" (byte order, which for UTF-8 is code point order):
  // the names starting with `prefix` are the range [prefix, successor).
  // PostgreSQL holds no name that is not UTF-8, but a prefix may end inside
  // a character (a byte prefix, as SQLite takes it): then the project's live
  // leases are filtered here instead.
  const bool text_prefix = is_text(prefix);
  const std::optional<std::string> upper =
      text_prefix ? pg_memory_text::utf8_prefix_successor(prefix) : std::nullopt;
  std::vector<LeaseInfo> out = read([&](pg::Connection& c) {
    if (!text_prefix) {
      static const std::string sql =
          lease_select("project = $1 AND expires_at > $2 ORDER BY name, token");
      return read_leases(c.exec_prepared("lease_list_all", sql, {who.project, now(c)}));
    }
    static const std::string sql = lease_select(
        "project = $1 AND expires_at > $2 AND name >= $3 AND ($4::text IS NULL OR name < $4::text)"
        " ORDER BY name, token");
    return read_leases(c.exec_prepared("lease_list", sql, {who.project, now(c), prefix, upper}));
  });
  if (!text_prefix) {
    std::erase_if(out, [&](const LeaseInfo& l) { return !l.name.starts_with(prefix); });
  }
  return out;
}

}  // namespace keel::state
