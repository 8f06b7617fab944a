// keel/state/sqlite_store_lease_team.cpp — release_group, downgrade_lease,
// lease_board, ask_release, take_release_asks on SQLite. The rules (who is
// asked, the downgraded lease, the payloads, the refusals) are lease_rules';
// this file reads and writes the rows, one writer job per change.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include "state/lease_name.h"
#include "state/lease_rules.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::vector<LeaseInfo> SqliteStore::release_group(const Principal& who, std::string_view group_id,
                                                  bool force) {
  lease_rules::check_principal(who);
  if (force) require(who, caps::kLeaseForce);
  lease_rules::check_group_id(group_id);
  std::vector<LeaseInfo> released;
  int reaped = 0;
  writer_->submit([&](sqlite3* db) {
    released.clear();
    const std::int64_t t = now();
    reaped = reap_expired_leases(db, who.project, t);
    std::vector<LeaseInfo> rows;
    {
      sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                               " FROM leases WHERE project = ? AND group_id = ?"
                               " AND expires_at > ? ORDER BY name, token");
      q.bind_all(who.project, group_id, t);
      rows = q.all(read_lease);
    }
    for (LeaseInfo& l : rows) {
      if (!force && l.holder != who.agent) continue;
      release_one(db, who, LeaseRow{l, who.project}, force, t);
      released.push_back(std::move(l));
    }
  });
  if (!released.empty() || reaped > 0) notify_lease_change();
  return released;
}

LeaseInfo SqliteStore::downgrade_lease(const Principal& who, std::string_view raw_name,
                                       std::string_view lease_id) {
  lease_rules::check_principal(who);
  const LeaseName name = LeaseName::parse(raw_name);
  using Status = lease_rules::RenewStatus;
  Status status = Status::kOk;
  LeaseInfo lease;
  bool changed = false;
  writer_->submit([&](sqlite3* db) {
    status = Status::kOk;
    changed = false;
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
    if (row->lease.mode == LeaseMode::kShared) {
      lease = row->lease;
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
    lease = lease_rules::downgraded(row->lease, token);
    sql::Statement(db, "UPDATE leases SET mode = ?, token = ?, expires_at = ? WHERE lease_id = ?")
        .bind_all(to_string(lease.mode), lease.token, lease.expires_at_ms, lease.lease_id)
        .run();
    append_record(db, t, who.project, who.agent, ops::kDowngrade, name,
                  json::serialize(lease_rules::downgrade_payload(lease)));
    changed = true;
  });
  if (status == Status::kExpired || changed) notify_lease_change();
  if (status != Status::kOk) lease_rules::throw_renew_refusal(status, lease_id, name.str());
  return lease;
}

LeaseBoard SqliteStore::lease_board(const Principal& who, std::string_view prefix) {
  lease_rules::check_principal(who);
  ReadConnection conn = read_connection();
  sqlite3* db = conn.get();
  sql::ReadTransaction txn(db);
  const std::int64_t t = now();
  LeaseBoard board;
  {
    const std::optional<std::string> upper = prefix_successor(prefix);
    sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                             " FROM leases WHERE project = ?1 AND expires_at > ?2"
                             " AND name >= ?3 AND (?4 IS NULL OR name < ?4)"
                             " ORDER BY name, token");
    q.bind_all(who.project, t, prefix, upper);
    board.leases = q.all(read_lease);
  }
  for (lease_queue::QueuedWaiter& w : read_waiters(db, who.project)) {
    if (w.alive_until_ms <= t) continue;
    const bool under = std::any_of(w.waiter.names.begin(), w.waiter.names.end(),
                                   [&](const std::string& n) { return starts_with(n, prefix); });
    if (under) board.waiters.push_back(std::move(w.waiter));
  }
  for (ReleaseAsk& a : open_asks(db, who.project, t, std::nullopt, false)) {
    if (starts_with(a.name, prefix)) board.asks.push_back(std::move(a));
  }
  // Configured capacities win over declared ones (as in every decision).
  std::map<std::string, std::int64_t> capacities = declared_capacities(db, who.project);
  for (const auto& [name, capacity] : options_.lease_capacities) capacities[name] = capacity;
  for (const auto& [name, capacity] : capacities) {
    if (!starts_with(name, prefix)) continue;
    board.capacities.push_back(
        LeaseCapacity{name, capacity, lease_rules::used_units(board.leases, name)});
  }
  txn.commit();
  return board;
}

std::vector<ReleaseAsk> SqliteStore::ask_release(const Principal& who, std::string_view raw_name,
                                                 std::string_view reason) {
  lease_rules::check_principal(who);
  const LeaseName name = LeaseName::parse(raw_name);
  lease_rules::check_ask_reason(reason);
  std::vector<ReleaseAsk> asks;
  int reaped = 0;
  writer_->submit([&](sqlite3* db) {
    asks.clear();
    const std::int64_t t = now();
    reaped = reap_expired_leases(db, who.project, t);
    drop_closed_asks(db, who.project, t);
    const std::vector<std::string> holders =
        lease_rules::ask_targets(live_leases(db, who.project, t), who.agent, name.str());
    if (holders.empty()) return;
    for (const std::string& holder : holders) {
      ReleaseAsk ask{lease_rules::new_ask_id(), name.str(), who.agent, holder,
                     std::string(reason), t, false};
      insert_ask(db, who.project, ask);
      asks.push_back(std::move(ask));
    }
    append_record(db, t, who.project, who.agent, ops::kAskRelease, name,
                  json::serialize(lease_rules::ask_release_payload(name.str(), reason, holders)));
  });
  if (reaped > 0) notify_lease_change();
  if (asks.empty()) throw lease_rules::no_one_to_ask(name.str());
  // Each holder's hook looks for this marker (one stat()) before it opens
  // the store to take its asks.
  for (const ReleaseAsk& ask : asks) {
    const fs::path marker = store_common::release_ask_marker_path(options_.dir, who.project,
                                                                  ask.holder);
    std::error_code ec;
    fs::create_directories(marker.parent_path(), ec);
    if (FILE* f = std::fopen(marker.c_str(), "wb")) {
      if (std::fclose(f) != 0) ec = std::error_code(errno, std::generic_category());
    } else {
      ec = std::error_code(errno, std::generic_category());
    }
    if (ec) {
      throw StoreError(ErrorCode::kInternal,
                       "the release ask to " + ask.holder +
                           " is recorded, but its hook marker " + marker.string() +
                           " could not be written: " + ec.message());
    }
  }
  return asks;
}

std::vector<ReleaseAsk> SqliteStore::take_release_asks(const Principal& who) {
  lease_rules::check_principal(who);
  // The marker goes first: an ask made while this runs either is taken
  // below or writes the marker again after it.
  std::error_code ec;
  fs::remove(store_common::release_ask_marker_path(options_.dir, who.project, who.agent), ec);
  std::vector<ReleaseAsk> asks;
  writer_->submit([&](sqlite3* db) {
    const std::int64_t t = now();
    asks = open_asks(db, who.project, t, who.agent, true);
    mark_asks_delivered(db, asks, t);
    for (ReleaseAsk& a : asks) a.delivered = true;
  });
  return asks;
}

}  // namespace keel::state
