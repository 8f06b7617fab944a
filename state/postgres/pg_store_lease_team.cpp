// keel/state/postgres/pg_store_lease_team.cpp — PostgreSQL: release_group,
// downgrade_lease, lease_board, ask_release, take_release_asks, and the DDL
// of schema version 2 (the tables they and the fair queue use). The rules
// (who is asked, the downgraded lease, the payloads, the refusals) are
// lease_rules'; this file reads and writes the rows, one write job per
// change, as sqlite_store_lease_team.cpp does on SQLite.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>

#include "state/journal.h"
#include "state/lease_name.h"
#include "state/lease_queue.h"
#include "state/lease_rules.h"
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_leases_util.h"

namespace keel::state {
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace pg_store_detail;
using namespace pg_lease_util;

// Schema version 2 (issue 18), as SQLite's version 5 (state/schema.cpp), every
// table keyed by project first. Rows written before read as 1 unit, no
// group, no args hash (an old request_id replays as before until pruned).
const std::string_view pg_schema::kLeaseTeamTablesV2 = R"sql(
ALTER TABLE leases ADD COLUMN units BIGINT NOT NULL DEFAULT 1;
ALTER TABLE leases ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
CREATE INDEX leases_by_group ON leases(project, group_id);
ALTER TABLE lease_requests ADD COLUMN args_hash TEXT NOT NULL DEFAULT '';

-- Capacities declared by an acquire's `capacity` (StoreOptions::lease_capacities
-- wins over them). Fixed once declared.
CREATE TABLE lease_capacities(
  project     TEXT NOT NULL,
  name        TEXT COLLATE "C" NOT NULL,
  capacity    BIGINT NOT NULL,
  declared_by TEXT NOT NULL,
  declared_at BIGINT NOT NULL,
  PRIMARY KEY(project, name)
);

-- The fair queue: one row per waiting acquire (all its names), served by
-- (rank_ms, seq). Transient: not journaled, not copied; a row whose
-- alive_until passed (its waiter died or stopped coming back) is dropped.
-- seq: one more than the project's greatest queued (rows are inserted
-- under the project's chain_heads lock, so it follows insertion order).
CREATE TABLE lease_waiters(
  project     TEXT NOT NULL,
  waiter_id   TEXT NOT NULL,
  seq         BIGINT NOT NULL,
  agent       TEXT NOT NULL,
  names_json  TEXT NOT NULL,  -- JSON array of normalized names, canonical order
  mode        TEXT NOT NULL,
  units       BIGINT NOT NULL,
  priority    INTEGER NOT NULL,
  enqueued_at BIGINT NOT NULL,
  rank_ms     BIGINT NOT NULL,
  alive_until BIGINT NOT NULL,
  PRIMARY KEY(project, waiter_id)
);
CREATE INDEX lease_waiters_by_rank ON lease_waiters(project, rank_ms, seq);

-- Requests that a holder release a name (Store::ask_release).
CREATE TABLE lease_asks(
  project      TEXT NOT NULL,
  ask_id       TEXT NOT NULL,
  name         TEXT COLLATE "C" NOT NULL,
  asker        TEXT NOT NULL,
  holder       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  at           BIGINT NOT NULL,
  delivered_at BIGINT,
  PRIMARY KEY(project, ask_id)
);
CREATE INDEX lease_asks_by_holder ON lease_asks(project, holder);
)sql";

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Touches the (empty) marker that tells `holder`'s hook on this machine that
// release asks wait for it. Nothing without a state directory: a node knows
// only its own machine's (the holder's hook on another machine learns of the
// ask when it next opens the store: a documented limit).
void touch_ask_marker(const fs::path& dir, std::string_view project, std::string_view holder) {
  if (dir.empty()) return;
  const fs::path marker = store_common::release_ask_marker_path(dir, project, holder);
  std::error_code ec;
  fs::create_directories(marker.parent_path(), ec);
  if (FILE* f = std::fopen(marker.c_str(), "wb")) {
    if (std::fclose(f) != 0) ec = std::error_code(errno, std::generic_category());
  } else {
    ec = std::error_code(errno, std::generic_category());
  }
  if (ec) {
    throw StoreError(ErrorCode::kInternal, "the release ask to " + std::string(holder) +
                                               " is recorded, but its hook marker " +
                                               marker.string() +
                                               " could not be written: " + ec.message());
  }
}

}  // namespace

std::vector<LeaseInfo> PgStore::release_group(const Principal& who, std::string_view group_id,
                                              bool force) {
  validate_lease_principal(who);
  if (force) require(who, caps::kLeaseForce);
  lease_rules::check_group_id(group_id);
  require_text("the group id", group_id);
  std::vector<LeaseInfo> released;
  write(who.project, [&](Write& w) {
    released.clear();
    reap_expired_leases(w);
    static const std::string sql =
        lease_select("project = $1 AND group_id = $2 AND expires_at > $3 ORDER BY name, token");
    std::vector<LeaseInfo> rows =
        read_leases(w.c.exec_prepared("lease_group", sql, {w.project, group_id, w.now}));
    for (LeaseInfo& l : rows) {
      if (!force && l.holder != who.agent) continue;
      release_one(w, who, l, force);  // notifies: waiters look again
      released.push_back(std::move(l));
    }
  });
  return released;
}

LeaseInfo PgStore::downgrade_lease(const Principal& who, std::string_view raw_name,
                                   std::string_view lease_id) {
  validate_lease_principal(who);
  const LeaseName name = LeaseName::parse(raw_name);
  require_text("the lease name", name.str());
  require_text("the lease id", lease_id);
  using Status = lease_rules::RenewStatus;
  Status status = Status::kOk;
  LeaseInfo lease;
  write(who.project, [&](Write& w) {
    status = Status::kOk;
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
    if (row->expires_at_ms <= w.now) {
      expire_lease(w, *row);
      status = Status::kExpired;
      return;
    }
    if (row->mode == LeaseMode::kShared) {
      lease = *row;  // nothing to do, nothing journaled
      return;
    }
    lease = lease_rules::downgraded(*row, w.next_token());
    w.c.exec_prepared("lease_downgrade",
                      "UPDATE leases SET mode = $3, token = $4, expires_at = $5"
                      " WHERE project = $1 AND lease_id = $2",
                      {w.project, lease.lease_id, to_string(lease.mode), lease.token,
                       lease.expires_at_ms});
    w.append(who.agent, ops::kDowngrade, name, json::serialize(lease_rules::downgrade_payload(lease)));
    // Shared waiters on the name may be served now.
    w.notify("keel_lease");
  });
  if (status != Status::kOk) lease_rules::throw_renew_refusal(status, lease_id, name.str());
  return lease;
}

LeaseBoard PgStore::lease_board(const Principal& who, std::string_view prefix) {
  validate_lease_principal(who);
  return read(
      [&](pg::Connection& c) {
        const std::int64_t t = now(c);
        LeaseBoard board;
        static const std::string sql =
            lease_select("project = $1 AND expires_at > $2 ORDER BY name, token");
        board.leases = read_leases(c.exec_prepared("lease_board_leases", sql, {who.project, t}));
        std::erase_if(board.leases, [&](const LeaseInfo& l) { return !starts_with(l.name, prefix); });
        for (lease_queue::QueuedWaiter& w : read_waiters(c, who.project)) {
          if (w.alive_until_ms <= t) continue;
          const bool under =
              std::any_of(w.waiter.names.begin(), w.waiter.names.end(),
                          [&](const std::string& n) { return starts_with(n, prefix); });
          if (under) board.waiters.push_back(std::move(w.waiter));
        }
        for (ReleaseAsk& a : open_asks(c, who.project, t, std::nullopt, false)) {
          if (starts_with(a.name, prefix)) board.asks.push_back(std::move(a));
        }
        // Configured capacities win over declared ones (as in every decision).
        std::map<std::string, std::int64_t> capacities = declared_capacities(c, who.project);
        for (const auto& [name, capacity] : options_.lease_capacities) capacities[name] = capacity;
        for (const auto& [name, capacity] : capacities) {
          if (!starts_with(name, prefix)) continue;
          board.capacities.push_back(
              LeaseCapacity{name, capacity, lease_rules::used_units(board.leases, name)});
        }
        return board;
      },
      /*snapshot=*/true);
}

std::vector<ReleaseAsk> PgStore::ask_release(const Principal& who, std::string_view raw_name,
                                             std::string_view reason) {
  validate_lease_principal(who);
  const LeaseName name = LeaseName::parse(raw_name);
  lease_rules::check_ask_reason(reason);
  require_text("the lease name", name.str());
  require_text("the reason", reason);
  std::vector<ReleaseAsk> asks;
  write(who.project, [&](Write& w) {
    asks.clear();
    reap_expired_leases(w);
    drop_closed_asks(w);
    const std::vector<std::string> holders =
        lease_rules::ask_targets(live_leases(w), who.agent, name.str());
    if (holders.empty()) return;
    for (const std::string& holder : holders) {
      ReleaseAsk ask{lease_rules::new_ask_id(), name.str(), who.agent, holder,
                     std::string(reason), w.now, false};
      insert_ask(w, ask);
      asks.push_back(std::move(ask));
    }
    w.append(who.agent, ops::kAskRelease, name,
             json::serialize(lease_rules::ask_release_payload(name.str(), reason, holders)));
  });
  if (asks.empty()) throw lease_rules::no_one_to_ask(name.str());
  // Each holder's hook looks for this marker (one stat()) before it opens
  // the store to take its asks.
  for (const ReleaseAsk& ask : asks) touch_ask_marker(options_.dir, who.project, ask.holder);
  return asks;
}

std::vector<ReleaseAsk> PgStore::take_release_asks(const Principal& who) {
  validate_lease_principal(who);
  // The marker goes first: an ask made while this runs either is taken
  // below or writes the marker again after it.
  if (!options_.dir.empty()) {
    std::error_code ec;
    fs::remove(store_common::release_ask_marker_path(options_.dir, who.project, who.agent), ec);
  }
  std::vector<ReleaseAsk> asks;
  write(who.project, [&](Write& w) {
    asks = open_asks(w.c, w.project, w.now, who.agent, true);
    mark_asks_delivered(w, asks);
    for (ReleaseAsk& a : asks) a.delivered = true;  // as they now stand
  });
  return asks;
}

}  // namespace keel::state
