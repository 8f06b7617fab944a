// keel/state/sqlite_store_leases.cpp — acquire / renew / release / list.
//
// Every decision is one writer job: reap the project's expired leases
// (journaling EXPIRE), decide, change the table and journal the decision.
// Jobs report refusals as values, not exceptions, so that what they journaled
// commits; the caller throws after the job returned.
#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include "state/journal.h"
#include "state/lease_name.h"
#include "state/lease_rules.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {

constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

// A lease row with the columns the decisions need beyond LeaseInfo.
struct LeaseRow {
  LeaseInfo lease;
  std::string project;
};

std::optional<LeaseRow> find_lease(sqlite3* db, std::string_view lease_id) {
  sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                           ", project FROM leases WHERE lease_id = ?");
  q.bind(1, lease_id);
  if (!q.step()) return std::nullopt;
  return LeaseRow{read_lease(q), q.text(8)};
}

// 'released' | 'expired' | "" (no tombstone).
std::string tombstone(sqlite3* db, std::string_view project, std::string_view lease_id) {
  sql::Statement q(db, "SELECT outcome FROM lease_tombstones WHERE lease_id = ? AND project = ?");
  q.bind_all(lease_id, project);
  return q.step() ? q.text(0) : std::string();
}

// Removes one live lease and journals its RELEASE by `who`.
void release_one(sqlite3* db, const Principal& who, const LeaseRow& row, bool force,
                 std::int64_t now) {
  tombstone_lease(db, row.project, row.lease, "released", now);
  const json::object payload = lease_rules::release_payload(row.lease, force);
  append_record(db, now, row.project, who.agent, ops::kRelease, row.lease.name,
                json::serialize(payload));
}

}  // namespace

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
  const LeaseName name = LeaseName::parse(request.name);
  lease_rules::check_acquire(request, options_);

  const WaitDeadline deadline(request.wait_ms);
  auto backoff = std::chrono::milliseconds(2);
  for (;;) {
    std::uint64_t epoch;
    {
      std::lock_guard<std::mutex> lock(lease_mu_);
      epoch = lease_epoch_;
    }
    const bool final_attempt = request.wait_ms == 0 || deadline.passed();
    AcquireResult result = try_acquire(who, name, request, final_attempt);
    if (result.granted || final_attempt) return result;
    // Cancellation abandons a wait; it never stops the first attempt (a call
    // still running when its client went away may yet be granted at once).
    if (cancelled && cancelled()) {
      throw lease_rules::wait_cancelled(name.str());
    }

    // Wait outside any transaction: until a release/expiry in this process,
    // the backoff step, or the deadline, whichever comes first.
    const auto step = deadline.next_step(backoff);
    {
      std::unique_lock<std::mutex> lock(lease_mu_);
      lease_cv_.wait_for(lock, step, [&] { return lease_epoch_ != epoch; });
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

AcquireResult SqliteStore::try_acquire(const Principal& who, const LeaseName& name,
                                       const AcquireRequest& request, bool final_attempt) {
  AcquireResult out;
  int reaped = 0;
  std::optional<std::string> suspended;
  writer_->submit([&](sqlite3* db) {
    out = AcquireResult{};
    suspended.reset();
    const std::int64_t t = now();
    reaped = reap_expired_leases(db, who.project, t);
    if (AgentCheck c = touch_agent(db, who, *processes_, t); c.suspended) {
      suspended = c.reason;
      return;
    }

    if (request.request_id) {
      sql::Statement(db, "DELETE FROM lease_requests WHERE created_at < ?")
          .bind(1, t - kDayMs)
          .run();
      sql::Statement q(db,
                       "SELECT result_json FROM lease_requests"
                       " WHERE project = ? AND holder = ? AND request_id = ?");
      q.bind_all(who.project, who.agent, *request.request_id);
      if (q.step()) {
        out.granted = true;
        out.replayed = true;
        out.lease = lease_from_json(json::parse(q.text(0)));
        return;
      }
    }

    std::vector<LeaseInfo> live;
    {
      sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                               " FROM leases WHERE project = ? AND expires_at > ?"
                               " ORDER BY token");
      q.bind_all(who.project, t);
      while (q.step()) live.push_back(read_lease(q));
    }

    auto remember_request = [&](const LeaseInfo& lease) {
      if (!request.request_id) return;
      sql::Statement(db,
                     "INSERT OR REPLACE INTO lease_requests(project, holder, request_id,"
                     " result_json, created_at) VALUES(?,?,?,?,?)")
          .bind_all(who.project, who.agent, *request.request_id,
                    json::serialize(lease_to_json(lease)), t)
          .run();
    };

    // Already held: the same name in the same mode, or exclusively (which
    // covers a shared request). A shared hold asked to become exclusive goes
    // on to a new grant, which must clear the other holders.
    if (const LeaseInfo* held =
            lease_rules::already_held(live, who.agent, name.str(), request.mode)) {
      out.granted = true;
      out.already_held = true;
      out.lease = *held;
      remember_request(*held);
      return;
    }

    auto in_the_way = [&] {
      out.holders = lease_rules::in_the_way(live, who.agent, name.str(), request.mode);
    };
    in_the_way();
    // A holder whose process is gone (this host) gives its holds up now, not
    // at their TTL: SCAVENGE, then look again.
    if (!out.holders.empty()) {
      std::set<std::string> holders;
      for (const LeaseInfo& l : out.holders) holders.insert(l.holder);
      bool freed = false;
      for (const std::string& h : holders) {
        if (scavenge_if_dead(db, who.project, h, *processes_, t)) {
          std::erase_if(live, [&](const LeaseInfo& l) { return l.holder == h; });
          freed = true;
        }
      }
      if (freed) {
        ++reaped;
        in_the_way();
      }
    }
    if (!out.holders.empty()) {
      if (final_attempt) {
        const json::object payload = lease_rules::refuse_payload(name.str(), request, out.holders);
        append_record(db, t, who.project, who.agent, ops::kRefuse, name,
                      json::serialize(payload));
      }
      return;
    }

    std::int64_t token = 0;
    {
      sql::Statement q(db, "SELECT value FROM meta WHERE key = 'next_token'");
      if (!q.step()) throw StoreError(ErrorCode::kInternal, "next_token missing from meta");
      token = q.int64(0);
    }
    sql::Statement(db, "UPDATE meta SET value = ? WHERE key = 'next_token'")
        .bind(1, token + 1)
        .run();

    const LeaseInfo lease = lease_rules::new_lease(name.str(), who.agent, request, token, t);
    sql::Statement(db,
                   "INSERT INTO leases(lease_id, project, name, mode, holder, token, ttl_ms,"
                   " acquired_at, expires_at, reason, request_id)"
                   " VALUES(?,?,?,?,?,?,?,?,?,?,?)")
        .bind_all(lease.lease_id, who.project, lease.name, to_string(lease.mode), lease.holder,
                  lease.token, lease.ttl_ms, lease.acquired_at_ms, lease.expires_at_ms,
                  request.reason, request.request_id)
        .run();
    const json::object payload = lease_rules::acquire_payload(lease, request);
    append_record(db, t, who.project, who.agent, ops::kAcquire, name, json::serialize(payload));
    remember_request(lease);
    out.granted = true;
    out.lease = lease;
  });
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
        LeaseRow r{read_lease(q), q.text(8)};
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
