// keel/state/sqlite_store_lease_queue.cpp — the rows behind the fair queue
// (lease_waiters), declared capacities (lease_capacities) and release asks
// (lease_asks): reading and writing them, nothing decided here (the rules are
// state/lease_rules.h and state/lease_queue.h, shared with PostgreSQL).
#include <algorithm>

#include "state/lease_queue.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;

namespace sqlite_store_detail {

namespace {

constexpr std::string_view kWaiterColumns =
    "waiter_id, agent, names_json, mode, units, priority, enqueued_at, rank_ms, seq, alive_until";

lease_queue::QueuedWaiter read_waiter(const sql::Statement& q) {
  lease_queue::QueuedWaiter row;
  LeaseWaiter& w = row.waiter;
  w.waiter_id = q.text(0);
  w.agent = q.text(1);
  w.names = lease_queue::names_from_json(q.text(2));
  w.mode = q.text(3) == "shared" ? LeaseMode::kShared : LeaseMode::kExclusive;
  w.units = q.int64(4);
  w.priority = static_cast<int>(q.int64(5));
  w.enqueued_at_ms = q.int64(6);
  w.rank_ms = q.int64(7);
  row.seq = q.int64(8);
  row.alive_until_ms = q.int64(9);
  return row;
}

constexpr std::string_view kAskColumns =
    "ask_id, name, asker, holder, reason, at, delivered_at IS NOT NULL";

ReleaseAsk read_ask(const sql::Statement& q) {
  return ReleaseAsk{q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.int64(5),
                    q.int64(6) != 0};
}

}  // namespace

std::vector<lease_queue::QueuedWaiter> read_waiters(sqlite3* db, std::string_view project) {
  sql::Statement q(db, "SELECT " + std::string(kWaiterColumns) +
                           " FROM lease_waiters WHERE project = ? ORDER BY rank_ms, seq");
  q.bind(1, project);
  return q.all(read_waiter);
}

int drop_dead_waiters(sqlite3* db, std::string_view project, std::int64_t now) {
  sql::Statement q(db, "DELETE FROM lease_waiters WHERE project = ? AND alive_until <= ?");
  q.bind_all(project, now);
  q.run();
  return sqlite3_changes(db);
}

void insert_waiter(sqlite3* db, std::string_view project, const LeaseWaiter& w,
                   std::int64_t alive_until) {
  // seq: after every row of the project still queued (ties of rank are
  // served in arrival order; a gap left by a row that is gone is harmless).
  std::int64_t seq = 1;
  {
    sql::Statement q(db, "SELECT coalesce(max(seq), 0) + 1 FROM lease_waiters WHERE project = ?");
    q.bind(1, project);
    if (q.step()) seq = q.int64(0);
  }
  sql::Statement(db,
                 "INSERT INTO lease_waiters(waiter_id, project, seq, agent, names_json, mode,"
                 " units, priority, enqueued_at, rank_ms, alive_until)"
                 " VALUES(?,?,?,?,?,?,?,?,?,?,?)")
      .bind_all(w.waiter_id, project, seq, w.agent, lease_queue::names_to_json(w.names), to_string(w.mode),
                w.units, static_cast<std::int64_t>(w.priority), w.enqueued_at_ms, w.rank_ms,
                alive_until)
      .run();
}

bool refresh_waiter(sqlite3* db, std::string_view waiter_id, std::int64_t alive_until) {
  sql::Statement(db, "UPDATE lease_waiters SET alive_until = ? WHERE waiter_id = ?")
      .bind_all(alive_until, waiter_id)
      .run();
  return sqlite3_changes(db) > 0;
}

bool delete_waiter(sqlite3* db, std::string_view waiter_id) {
  sql::Statement(db, "DELETE FROM lease_waiters WHERE waiter_id = ?").bind(1, waiter_id).run();
  return sqlite3_changes(db) > 0;
}

std::map<std::string, std::int64_t> declared_capacities(sqlite3* db, std::string_view project) {
  sql::Statement q(db, "SELECT name, capacity FROM lease_capacities WHERE project = ?");
  q.bind(1, project);
  std::map<std::string, std::int64_t> out;
  while (q.step()) out.emplace(q.text(0), q.int64(1));
  return out;
}

void declare_capacity(sqlite3* db, std::string_view project, std::string_view name,
                      std::int64_t capacity, std::string_view by, std::int64_t now) {
  sql::Statement(db,
                 "INSERT OR IGNORE INTO lease_capacities(project, name, capacity, declared_by,"
                 " declared_at) VALUES(?,?,?,?,?)")
      .bind_all(project, name, capacity, by, now)
      .run();
}

void insert_ask(sqlite3* db, std::string_view project, const ReleaseAsk& ask) {
  sql::Statement(db,
                 "INSERT INTO lease_asks(ask_id, project, name, asker, holder, reason, at,"
                 " delivered_at) VALUES(?,?,?,?,?,?,?,NULL)")
      .bind_all(ask.ask_id, project, ask.name, ask.asker, ask.holder, ask.reason, ask.at_ms)
      .run();
}

std::vector<ReleaseAsk> open_asks(sqlite3* db, std::string_view project, std::int64_t now,
                                  std::optional<std::string_view> holder, bool undelivered_only) {
  // An ask stays open while its holder still holds a live lease on its name
  // taken before the ask (a hold released and taken again is a new one).
  std::string sql = "SELECT " + std::string(kAskColumns) +
                    " FROM lease_asks a WHERE a.project = ?1"
                    " AND EXISTS(SELECT 1 FROM leases l WHERE l.project = a.project"
                    " AND l.name = a.name AND l.holder = a.holder AND l.expires_at > ?2"
                    " AND l.acquired_at <= a.at)";
  if (holder) sql += " AND a.holder = ?3";
  if (undelivered_only) sql += " AND a.delivered_at IS NULL";
  sql += " ORDER BY a.at, a.ask_id";
  sql::Statement q(db, sql);
  q.bind_all(project, now);
  if (holder) q.bind(3, *holder);
  return q.all(read_ask);
}

void mark_asks_delivered(sqlite3* db, const std::vector<ReleaseAsk>& asks, std::int64_t now) {
  sql::Statement q(db, "UPDATE lease_asks SET delivered_at = ? WHERE ask_id = ?");
  for (const ReleaseAsk& a : asks) {
    q.bind_all(now, a.ask_id).run();
    q.reset();
  }
}

int drop_closed_asks(sqlite3* db, std::string_view project, std::int64_t now) {
  sql::Statement(db,
                 "DELETE FROM lease_asks WHERE project = ?1 AND NOT EXISTS(SELECT 1 FROM leases l"
                 " WHERE l.project = lease_asks.project AND l.name = lease_asks.name"
                 " AND l.holder = lease_asks.holder AND l.expires_at > ?2"
                 " AND l.acquired_at <= lease_asks.at)")
      .bind_all(project, now)
      .run();
  return sqlite3_changes(db);
}

}  // namespace sqlite_store_detail
}  // namespace keel::state
