// keel/state/postgres/pg_store_lease_queue.cpp — PostgreSQL: the rows behind
// the fair queue (lease_waiters), declared capacities (lease_capacities) and
// release asks (lease_asks), read and written; nothing is decided here (the
// rules are state/lease_rules.h and state/lease_queue.h, shared with
// SQLite's sqlite_store_lease_queue.cpp). Declared in pg_store_leases_util.h.
//
// The writes run inside a write job (PgStore::Write), after the project's
// chain_heads row was locked: the queue of a project changes in the same
// serial order as its leases, on every node.
#include "state/postgres/pg_store_leases_util.h"

namespace keel::state::pg_lease_util {

namespace {

constexpr const char* kLeaseChannel = "keel_lease";

constexpr std::string_view kWaiterColumns =
    "waiter_id, agent, names_json, mode, units, priority, enqueued_at, rank_ms, seq, alive_until";

lease_queue::QueuedWaiter read_waiter(const pg::Result& r, int i) {
  lease_queue::QueuedWaiter row;
  LeaseWaiter& w = row.waiter;
  w.waiter_id = r.text(i, 0);
  w.agent = r.text(i, 1);
  w.names = lease_queue::names_from_json(r.text(i, 2));
  w.mode = r.text(i, 3) == "shared" ? LeaseMode::kShared : LeaseMode::kExclusive;
  w.units = r.int64(i, 4);
  w.priority = static_cast<int>(r.int64(i, 5));
  w.enqueued_at_ms = r.int64(i, 6);
  w.rank_ms = r.int64(i, 7);
  row.seq = r.int64(i, 8);
  row.alive_until_ms = r.int64(i, 9);
  return row;
}

constexpr std::string_view kAskColumns =
    "a.ask_id, a.name, a.asker, a.holder, a.reason, a.at, a.delivered_at IS NOT NULL";

}  // namespace

pg::Connection::Statement read_waiters_statement(std::string_view project) {
  static const std::string sql = "SELECT " + std::string(kWaiterColumns) +
                                 " FROM lease_waiters WHERE project = $1 ORDER BY rank_ms, seq";
  return {"lease_waiters_read", sql, {project}};
}

std::vector<lease_queue::QueuedWaiter> waiters_from(const pg::Result& r) {
  std::vector<lease_queue::QueuedWaiter> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_waiter(r, i));
  return out;
}

std::vector<lease_queue::QueuedWaiter> read_waiters(pg::Connection& c, std::string_view project) {
  const pg::Connection::Statement st = read_waiters_statement(project);
  return waiters_from(c.exec_prepared(st.name, st.sql, st.params));
}

pg::Connection::Statement drop_dead_waiters_statement(const PgStore::Write& w) {
  return {"lease_waiters_drop_dead",
          "DELETE FROM lease_waiters WHERE project = $1 AND alive_until <= $2",
          {w.project, w.now}};
}

int dropped_dead_waiters(PgStore::Write& w, const pg::Result& r) {
  const int n = static_cast<int>(r.affected());
  if (n > 0) w.notify(kLeaseChannel);  // those queued behind them may go now
  return n;
}

int drop_dead_waiters(PgStore::Write& w) {
  const pg::Connection::Statement st = drop_dead_waiters_statement(w);
  return dropped_dead_waiters(w, w.c.exec_prepared(st.name, st.sql, st.params));
}

void insert_waiter(PgStore::Write& w, const LeaseWaiter& waiter, std::int64_t alive_until) {
  w.c.exec_prepared("lease_waiters_insert",
                    "INSERT INTO lease_waiters(project, waiter_id, seq, agent, names_json, mode,"
                    " units, priority, enqueued_at, rank_ms, alive_until)"
                    " SELECT $1::text, $2::text, coalesce(max(seq), 0) + 1, $3::text, $4::text, $5::text,"
                    " $6::bigint, $7::integer, $8::bigint, $9::bigint, $10::bigint"
                    " FROM lease_waiters WHERE project = $1",
                    {w.project, waiter.waiter_id, waiter.agent,
                     lease_queue::names_to_json(waiter.names), to_string(waiter.mode),
                     waiter.units, waiter.priority, waiter.enqueued_at_ms, waiter.rank_ms,
                     alive_until});
}

bool refresh_waiter(PgStore::Write& w, std::string_view waiter_id, std::int64_t alive_until) {
  const pg::Result r = w.c.exec_prepared(
      "lease_waiters_refresh",
      "UPDATE lease_waiters SET alive_until = $3 WHERE project = $1 AND waiter_id = $2",
      {w.project, waiter_id, alive_until});
  return r.affected() > 0;
}

bool delete_waiter(PgStore::Write& w, std::string_view waiter_id) {
  const pg::Result r = w.c.exec_prepared(
      "lease_waiters_delete", "DELETE FROM lease_waiters WHERE project = $1 AND waiter_id = $2",
      {w.project, waiter_id});
  if (r.affected() == 0) return false;
  w.notify(kLeaseChannel);
  return true;
}

pg::Connection::Statement declared_capacities_statement(std::string_view project) {
  return {"lease_capacities_read", "SELECT name, capacity FROM lease_capacities WHERE project = $1",
          {project}};
}

std::map<std::string, std::int64_t> capacities_from(const pg::Result& r) {
  std::map<std::string, std::int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace(r.text(i, 0), r.int64(i, 1));
  return out;
}

std::map<std::string, std::int64_t> declared_capacities(pg::Connection& c,
                                                        std::string_view project) {
  const pg::Connection::Statement st = declared_capacities_statement(project);
  return capacities_from(c.exec_prepared(st.name, st.sql, st.params));
}

void declare_capacity(PgStore::Write& w, const LeaseCapacity& declared, std::string_view by) {
  w.c.exec_prepared("lease_capacities_declare",
                    "INSERT INTO lease_capacities(project, name, capacity, declared_by,"
                    " declared_at) VALUES($1, $2, $3, $4, $5)"
                    " ON CONFLICT (project, name) DO NOTHING",
                    {w.project, declared.name, declared.capacity, by, w.now});
}

void insert_ask(PgStore::Write& w, const ReleaseAsk& ask) {
  w.c.exec_prepared("lease_asks_insert",
                    "INSERT INTO lease_asks(project, ask_id, name, asker, holder, reason, at,"
                    " delivered_at) VALUES($1, $2, $3, $4, $5, $6, $7, NULL)",
                    {w.project, ask.ask_id, ask.name, ask.asker, ask.holder, ask.reason,
                     ask.at_ms});
}

std::vector<ReleaseAsk> open_asks(pg::Connection& c, std::string_view project, std::int64_t now,
                                  std::optional<std::string_view> holder, bool undelivered_only) {
  // An ask stays open while its holder still holds a live lease on its name
  // taken before the ask (a hold released and taken again is a new one).
  static const std::string sql =
      "SELECT " + std::string(kAskColumns) +
      " FROM lease_asks a WHERE a.project = $1"
      " AND EXISTS(SELECT 1 FROM leases l WHERE l.project = a.project"
      " AND l.name = a.name AND l.holder = a.holder AND l.expires_at > $2"
      " AND l.acquired_at <= a.at)"
      " AND ($3::text IS NULL OR a.holder = $3::text)"
      " AND (NOT $4::boolean OR a.delivered_at IS NULL)"
      " ORDER BY a.at, a.ask_id";
  const std::optional<std::string> who =
      holder ? std::optional<std::string>(std::string(*holder)) : std::nullopt;
  const pg::Result r =
      c.exec_prepared("lease_asks_open", sql, {project, now, who, undelivered_only});
  std::vector<ReleaseAsk> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(ReleaseAsk{r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3),
                             r.text(i, 4), r.int64(i, 5), r.boolean(i, 6)});
  }
  return out;
}

void mark_asks_delivered(PgStore::Write& w, const std::vector<ReleaseAsk>& asks) {
  for (const ReleaseAsk& a : asks) {
    w.c.exec_prepared(
        "lease_asks_delivered",
        "UPDATE lease_asks SET delivered_at = $3 WHERE project = $1 AND ask_id = $2",
        {w.project, a.ask_id, w.now});
  }
}

int drop_closed_asks(PgStore::Write& w) {
  const pg::Result r = w.c.exec_prepared(
      "lease_asks_drop_closed",
      "DELETE FROM lease_asks a WHERE a.project = $1 AND NOT EXISTS(SELECT 1 FROM leases l"
      " WHERE l.project = a.project AND l.name = a.name AND l.holder = a.holder"
      " AND l.expires_at > $2 AND l.acquired_at <= a.at)",
      {w.project, w.now});
  return static_cast<int>(r.affected());
}

}  // namespace keel::state::pg_lease_util
