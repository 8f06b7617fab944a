// keel/state/sqlite_store_leases.cpp — acquire / renew / release / list.
//
// Every decision is one writer job: reap the project's expired leases
// (journaling EXPIRE) and dead queue rows, decide (an acquire through
// lease_queue::decide, the same rules PostgreSQL runs), change the tables and
// journal the decision. Jobs report refusals as values, not exceptions, so
// that what they journaled commits; the caller throws after the job returned.
//
// A waiting acquire joins the fair queue (lease_waiters) with its first
// refused attempt, looks again when this process releases or every 10-50 ms
// (a read, for other processes' releases), refreshes its row every second
// (kQueueRefresh), and leaves the queue in the job that grants it, when it
// gives up, or when it is cancelled or fails; every removal wakes this
// process's other waiters.
#include <algorithm>
#include <chrono>
#include <set>

#include "state/journal.h"
#include "state/lease_name.h"
#include "state/lease_queue.h"
#include "state/lease_rules.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {
constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;
// A waiting call's queue row is refreshed (a write) at least this often; it
// dies after kLeaseWaiterLivenessMs without one.
constexpr std::chrono::milliseconds kQueueRefresh{1'000};
static_assert(kQueueRefresh.count() * 3 < kLeaseWaiterLivenessMs);
}  // namespace

namespace sqlite_store_detail {

std::optional<LeaseRow> find_lease(sqlite3* db, std::string_view lease_id) {
  sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                           ", project FROM leases WHERE lease_id = ?");
  q.bind(1, lease_id);
  if (!q.step()) return std::nullopt;
  return LeaseRow{read_lease(q), q.text(kLeaseColumnCount)};
}

std::string tombstone(sqlite3* db, std::string_view project, std::string_view lease_id) {
  sql::Statement q(db, "SELECT outcome FROM lease_tombstones WHERE lease_id = ? AND project = ?");
  q.bind_all(lease_id, project);
  return q.step() ? q.text(0) : std::string();
}

void release_one(sqlite3* db, const Principal& who, const LeaseRow& row, bool force,
                 std::int64_t now) {
  tombstone_lease(db, row.project, row.lease, "released", now);
  const json::object payload = lease_rules::release_payload(row.lease, force);
  append_record(db, now, row.project, who.agent, ops::kRelease, row.lease.name,
                json::serialize(payload));
}

std::vector<LeaseInfo> live_leases(sqlite3* db, std::string_view project, std::int64_t now) {
  sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                           " FROM leases WHERE project = ? AND expires_at > ? ORDER BY token");
  q.bind_all(project, now);
  return q.all(read_lease);
}

}  // namespace sqlite_store_detail

void SqliteStore::notify_lease_change() {
  {
    std::lock_guard<std::mutex> lock(lease_mu_);
    ++lease_epoch_;
  }
  lease_cv_.notify_all();
}

AcquireResult SqliteStore::acquire_lease(const Principal& who, const AcquireRequest& request,
                                         const CancelCheck& cancelled) {
  lease_rules::check_principal(who);
  lease_rules::check_acquire(request, options_);
  AcquireAttempt attempt;
  attempt.names = lease_rules::canonical_names(request);
  if (request.request_id) attempt.args_hash = lease_rules::args_hash(attempt.names, request);

  using std::chrono::milliseconds;
  using SteadyClock = std::chrono::steady_clock;
  const auto started = SteadyClock::now();
  const WaitDeadline deadline(request.wait_ms);
  auto backoff = milliseconds(2);
  auto written_at = started;  // the last attempt made as a write job
  try {
    for (;;) {
      std::uint64_t epoch;
      {
        std::lock_guard<std::mutex> lock(lease_mu_);
        epoch = lease_epoch_;
      }
      attempt.final = request.wait_ms == 0 || deadline.passed();
      attempt.timed_out = request.wait_ms > 0 && attempt.final;
      attempt.waited_ms =
          std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started).count();
      // A queued call looks first without the write lock: while the answer
      // is still no, an attempt would only refresh the queue row, which is
      // due only every kQueueRefresh (and every write costs a durable
      // commit, which many pollers would otherwise spend on nothing).
      std::size_t ahead = 0;
      bool write = true;
      if (!attempt.final && attempt.waiter && SteadyClock::now() - written_at < kQueueRefresh) {
        try {
          const lease_queue::Decision peek = peek_acquire(who, request, attempt);
          write = peek.granted;
          ahead = peek.ahead.size();
        } catch (const StoreError&) {
          write = true;  // the write job decides, and reports, for real
        }
      }
      if (write) {
        bool dequeued = false;
        AcquireResult result = try_acquire(who, request, attempt, dequeued);
        written_at = SteadyClock::now();
        if (dequeued) notify_lease_change();
        if (result.granted || result.replayed || attempt.final) return result;
        ahead = result.ahead.size();
      }
      // Cancellation abandons a wait; it never stops the first attempt (a call
      // still running when its client went away may yet be granted at once).
      if (cancelled && cancelled()) {
        throw lease_rules::wait_cancelled(attempt.names.front().str());
      }

      // Wait outside any transaction: until a release/expiry/dequeue in this
      // process, the step, or the deadline, whichever comes first. Other
      // processes' releases are seen by polling: the nearer the front of the
      // queue, the more often (the head is served next), from every 10 ms to
      // every 50 ms.
      const milliseconds by_place =
          milliseconds(10) * static_cast<int>(1 + std::min<std::size_t>(ahead, 4));
      const auto step = deadline.next_step(std::min(backoff, by_place));
      {
        std::unique_lock<std::mutex> lock(lease_mu_);
        lease_cv_.wait_for(lock, step, [&] { return lease_epoch_ != epoch; });
      }
      backoff = std::min(backoff * 2, milliseconds(50));
    }
  } catch (...) {
    // Cancelled, or an attempt failed: the call leaves the queue now rather
    // than blocking others until its row's liveness runs out.
    if (attempt.waiter) {
      try {
        leave_queue(attempt.waiter->waiter_id);
      } catch (const std::exception&) {
        // The row dies by itself kLeaseWaiterLivenessMs later.
      }
    }
    throw;
  }
}

lease_queue::Decision SqliteStore::peek_acquire(const Principal& who,
                                               const AcquireRequest& request,
                                               const AcquireAttempt& attempt) {
  ReadConnection conn = read_connection();
  sqlite3* db = conn.get();
  sql::ReadTransaction txn(db);
  const std::int64_t t = now();
  const std::vector<LeaseInfo> live = live_leases(db, who.project, t);
  const lease_rules::ResolvedCapacities capacities = lease_rules::resolve_capacities(
      attempt.names, request, options_, declared_capacities(db, who.project));
  const std::vector<lease_queue::QueuedWaiter> waiters = read_waiters(db, who.project);
  txn.commit();
  return lease_queue::decide(who.agent, request, attempt.names, t, live, waiters,
                             capacities.counted, attempt.waiter->waiter_id);
}

void SqliteStore::leave_queue(const std::string& waiter_id) {
  bool deleted = false;
  writer_->submit([&](sqlite3* db) { deleted = delete_waiter(db, waiter_id); });
  if (deleted) notify_lease_change();
}

AcquireResult SqliteStore::try_acquire(const Principal& who, const AcquireRequest& request,
                                       AcquireAttempt& attempt, bool& dequeued) {
  AcquireResult out;
  int reaped = 0;
  std::optional<std::string> suspended;
  std::optional<LeaseWaiter> waiter = attempt.waiter;
  writer_->submit([&](sqlite3* db) {
    out = AcquireResult{};
    suspended.reset();
    waiter = attempt.waiter;
    dequeued = false;
    const std::int64_t t = now();
    reaped = reap_expired_leases(db, who.project, t);
    if (drop_dead_waiters(db, who.project, t) > 0) dequeued = true;
    if (AgentCheck c = touch_agent(db, who, *processes_, t); c.suspended) {
      suspended = c.reason;
      if (waiter) dequeued = delete_waiter(db, waiter->waiter_id) || dequeued;
      waiter.reset();
      return;
    }
    auto leave = [&] {
      if (waiter && delete_waiter(db, waiter->waiter_id)) dequeued = true;
      waiter.reset();
    };
    auto read_live = [&] { return live_leases(db, who.project, t); };

    if (request.request_id) {
      sql::Statement(db, "DELETE FROM lease_requests WHERE created_at < ?")
          .bind(1, t - kDayMs)
          .run();
      sql::Statement q(db,
                       "SELECT args_hash, result_json FROM lease_requests"
                       " WHERE project = ? AND holder = ? AND request_id = ?");
      q.bind_all(who.project, who.agent, *request.request_id);
      if (q.step()) {
        lease_rules::check_request_args(*request.request_id, q.text(0), attempt.args_hash);
        const std::vector<LeaseInfo> recorded = lease_rules::grant_from_json(q.text(1));
        out = lease_rules::replay_result(recorded, read_live(), who.agent,
                                         [&](std::string_view id) {
                                           return tombstone(db, who.project, id);
                                         });
        leave();
        return;
      }
    }

    std::vector<LeaseInfo> live = read_live();
    const lease_rules::ResolvedCapacities capacities = lease_rules::resolve_capacities(
        attempt.names, request, options_, declared_capacities(db, who.project));
    const std::vector<lease_queue::QueuedWaiter> waiters = read_waiters(db, who.project);
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
        if (scavenge_if_dead(db, who.project, h, *processes_, t)) freed = true;
      }
      if (freed) {
        ++reaped;
        live = read_live();
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
        append_record(db, t, who.project, who.agent, ops::kRefuse, attempt.names.front().str(),
                      json::serialize(payload));
      } else if (!waiter) {
        // The first refusal of a waiting call: join the queue at this rank.
        waiter = lease_queue::new_waiter(who.agent, attempt.names, request, t);
        insert_waiter(db, who.project, *waiter, lease_queue::alive_until(t));
      } else if (!refresh_waiter(db, waiter->waiter_id, lease_queue::alive_until(t))) {
        // The row was dropped as dead (this call did not come back in
        // time): queue it again with the rank it had.
        insert_waiter(db, who.project, *waiter, lease_queue::alive_until(t));
      }
      return;
    }

    std::int64_t token = 0;
    {
      sql::Statement q(db, "SELECT value FROM meta WHERE key = 'next_token'");
      if (!q.step()) throw StoreError(ErrorCode::kInternal, "next_token missing from meta");
      token = q.int64(0);
    }
    const lease_queue::Grant grant = lease_queue::grant(decision, who.agent, request, token, t,
                                                        lease_rules::new_group_id());
    sql::Statement(db, "UPDATE meta SET value = ? WHERE key = 'next_token'")
        .bind(1, token + decision.tokens_needed())
        .run();
    {
      sql::Statement ins(db,
                         "INSERT INTO leases(lease_id, project, name, mode, holder, token, ttl_ms,"
                         " acquired_at, expires_at, reason, request_id, units, group_id)"
                         " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
      for (const LeaseInfo& l : grant.inserted) {
        ins.bind_all(l.lease_id, who.project, l.name, to_string(l.mode), l.holder, l.token,
                     l.ttl_ms, l.acquired_at_ms, l.expires_at_ms, request.reason,
                     request.request_id, l.units, l.group_id);
        ins.run();
        ins.reset();
      }
    }
    for (const LeaseInfo& l : grant.upgraded) {
      sql::Statement(db,
                     "UPDATE leases SET mode = ?, token = ?, ttl_ms = ?, expires_at = ?"
                     " WHERE lease_id = ?")
          .bind_all(to_string(l.mode), l.token, l.ttl_ms, l.expires_at_ms, l.lease_id)
          .run();
    }
    if (capacities.declare) {
      declare_capacity(db, who.project, capacities.declare->name, capacities.declare->capacity,
                       who.agent, t);
    }
    for (const lease_queue::JournalEntry& e : grant.records) {
      append_record(db, t, who.project, who.agent, e.op, e.subject, json::serialize(e.payload));
    }
    if (request.request_id) {
      sql::Statement(db,
                     "INSERT OR REPLACE INTO lease_requests(project, holder, request_id,"
                     " result_json, created_at, args_hash) VALUES(?,?,?,?,?,?)")
          .bind_all(who.project, who.agent, *request.request_id,
                    lease_rules::grant_to_json(grant.leases), t, attempt.args_hash)
          .run();
    }
    leave();
    out = grant.result();
  });
  attempt.waiter = waiter;
  if (reaped > 0) notify_lease_change();
  if (suspended) {
    throw StoreError(ErrorCode::kPermissionDenied,
                     "agent " + who.agent + " is suspended: " + *suspended);
  }
  return out;
}

LeaseInfo SqliteStore::renew_lease(const Principal& who, std::string_view raw_name,
                                   std::string_view lease_id) {
  lease_rules::check_principal(who);
  const LeaseName name = LeaseName::parse(raw_name);
  using Status = lease_rules::RenewStatus;
  Status status = Status::kOk;
  LeaseInfo renewed;
  writer_->submit([&](sqlite3* db) {
    status = Status::kOk;
    const std::int64_t t = now();
    std::optional<LeaseRow> row = find_lease(db, lease_id);
    if (!row || row->project != who.project || row->lease.name != name) {
      status = (!row && tombstone(db, who.project, lease_id) == "expired") ? Status::kExpired
                                                                          : Status::kNotFound;
      return;
    }
    if (row->lease.holder != who.agent) {
      status = Status::kDenied;
      return;
    }
    if (row->lease.expires_at_ms <= t) {
      expire_lease(db, row->project, row->lease, t);
      status = Status::kExpired;
      return;
    }
    renewed = row->lease;
    renewed.expires_at_ms = t + renewed.ttl_ms;
    sql::Statement(db, "UPDATE leases SET expires_at = ? WHERE lease_id = ?")
        .bind_all(renewed.expires_at_ms, renewed.lease_id)
        .run();
    const json::object payload = lease_rules::renew_payload(renewed);
    append_record(db, t, who.project, who.agent, ops::kRenew, name, json::serialize(payload));
  });
  if (status == Status::kOk) return renewed;
  if (status == Status::kExpired) notify_lease_change();
  lease_rules::throw_renew_refusal(status, lease_id, name.str());
}

ReleaseOutcome SqliteStore::release_lease(const Principal& who, std::string_view raw_name,
                                          std::string_view lease_id, bool force) {
  lease_rules::check_principal(who);
  if (force) require(who, caps::kLeaseForce);
  const LeaseName name = LeaseName::parse(raw_name);
  using Status = lease_rules::ReleaseStatus;
  Status status = Status::kOk;
  ReleaseOutcome outcome = ReleaseOutcome::kAlreadyReleased;
  writer_->submit([&](sqlite3* db) {
    status = Status::kOk;
    outcome = ReleaseOutcome::kAlreadyReleased;
    const std::int64_t t = now();

    if (!lease_id.empty()) {
      std::optional<LeaseRow> row = find_lease(db, lease_id);
      if (!row || row->project != who.project) {
        outcome = tombstone(db, who.project, lease_id) == "expired"
                      ? ReleaseOutcome::kExpired
                      : ReleaseOutcome::kAlreadyReleased;
        return;
      }
      if (row->lease.name != name) {
        status = Status::kWrongName;
        return;
      }
      if (row->lease.holder != who.agent && !force) {
        status = Status::kDenied;
        return;
      }
      if (row->lease.expires_at_ms <= t) {
        expire_lease(db, row->project, row->lease, t);
        outcome = ReleaseOutcome::kExpired;
        return;
      }
      release_one(db, who, *row, force, t);
      outcome = ReleaseOutcome::kReleased;
      return;
    }

    // No lease_id: every hold on the name (force) or the caller's own holds.
    std::vector<LeaseRow> rows;
    {
      sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                               ", project FROM leases WHERE project = ? AND name = ?"
                               " ORDER BY token");
      q.bind_all(who.project, name.str());
      while (q.step()) {
        LeaseRow r{read_lease(q), q.text(kLeaseColumnCount)};
        if (force || r.lease.holder == who.agent) rows.push_back(std::move(r));
      }
    }
    bool released = false;
    bool expired = false;
    for (const LeaseRow& r : rows) {
      if (r.lease.expires_at_ms <= t) {
        expire_lease(db, r.project, r.lease, t);
        expired = true;
      } else {
        release_one(db, who, r, force, t);
        released = true;
      }
    }
    outcome = lease_rules::release_outcome(released, expired);
  });
  lease_rules::throw_if_release_refused(status, lease_id, name.str());
  if (outcome != ReleaseOutcome::kAlreadyReleased) notify_lease_change();
  return outcome;
}

std::vector<LeaseInfo> SqliteStore::list_leases(const Principal& who, std::string_view prefix) {
  lease_rules::check_principal(who);
  ReadConnection conn = read_connection();
  const std::optional<std::string> upper = prefix_successor(prefix);
  sql::Statement q(conn.get(), "SELECT " + std::string(kLeaseColumns) +
                                   " FROM leases WHERE project = ?1 AND expires_at > ?2"
                                   " AND name >= ?3 AND (?4 IS NULL OR name < ?4)"
                                   " ORDER BY name, token");
  q.bind_all(who.project, now(), prefix, upper);
  std::vector<LeaseInfo> out;
  while (q.step()) out.push_back(read_lease(q));
  return out;
}

}  // namespace keel::state
