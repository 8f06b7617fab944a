// keel/state/postgres/pg_store_leases_util.h — small helpers the PostgreSQL
// lease and agent files (pg_store_leases.cpp, pg_store_leases_wait.cpp,
// pg_store_lease_team.cpp, pg_store_lease_queue.cpp, pg_store_agents.cpp)
// share: text checks, the rows of the lease tables (read and written here,
// decided by state/lease_rules.h and state/lease_queue.h), and the hook's
// marker files.
//
// Thread safety: pure functions, or functions of the connection / write job
// they are given (a job's connection is its own while it runs).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "state/lease_name.h"
#include "state/lease_queue.h"
#include "state/lease_rules.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_memory_text.h"

namespace keel::state::pg_lease_util {

// PostgreSQL text is UTF-8 without NUL bytes, where SQLite stores any bytes
// (and libpq would cut a parameter at its first NUL, so "a\0b" would become
// "a"). True when `v` can be stored as it is.
inline bool is_text(std::string_view v) {
  return v.find('\0') == std::string_view::npos && pg_memory_text::valid_utf8(v);
}

// Refuses what is_text() refuses as bad input (kInvalidArgument), instead of
// failing inside the transaction (kInternal) or storing it cut short.
inline void require_text(std::string_view what, std::string_view v) {
  if (!is_text(v)) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     std::string(what) + " must be UTF-8 text without NUL bytes");
  }
}

// The caller of a lease call: caps::kLease, an agent name, and the fields a
// lease decision writes as text PostgreSQL can hold.
inline void validate_lease_principal(const Principal& who) {
  lease_rules::check_principal(who);
  require_text("the agent name", who.agent);
  require_text("the project", who.project);
  require_text("the session id", who.session_id);
  if (who.anchor) require_text("the agent's product", who.anchor->product);
}

// Every row of `r`, selected by pg_store_detail::kLeaseColumns.
inline std::vector<LeaseInfo> read_leases(const pg::Result& r) {
  std::vector<LeaseInfo> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    LeaseInfo l = pg_store_detail::read_lease(r, i);
    // units, group_id: the last two of kLeaseColumns (read here too, so the
    // rows are whole whichever version of read_lease this is linked with).
    if (r.columns() >= 10) {
      l.units = r.int64(i, 8);
      l.group_id = r.text(i, 9);
    }
    out.push_back(std::move(l));
  }
  return out;
}

// ------------------------------------------------ lease rows (pg_store_leases.cpp)

// "SELECT <kLeaseColumns> FROM leases WHERE <where>".
std::string lease_select(std::string_view where);
// The live leases of w.project (expires_at > w.now), by token.
std::vector<LeaseInfo> live_leases(PgStore::Write& w);
// The lease `lease_id` of `project`, live or not.
std::optional<LeaseInfo> find_lease(pg::Connection& c, std::string_view project,
                                    std::string_view lease_id);
// 'released' | 'expired' | "" (no tombstone).
std::string tombstone(pg::Connection& c, std::string_view project, std::string_view lease_id);
// Removes one live lease and journals its RELEASE by `who` (notifies).
void release_one(PgStore::Write& w, const Principal& who, const LeaseInfo& lease, bool force);

// ------------------------------------ queue, capacities, asks (pg_store_lease_queue.cpp)

// The project's waiter rows, by (rank_ms, seq); dead ones included.
std::vector<lease_queue::QueuedWaiter> read_waiters(pg::Connection& c, std::string_view project);
// Deletes the project's rows whose alive_until <= now; how many.
int drop_dead_waiters(PgStore::Write& w);
// The same reads in halves, for a job that sends several statements in one
// round trip (pg::Connection::exec_pipeline): the statement, then the
// reader of its result (dropped_dead_waiters notifies as drop_dead_waiters).
pg::Connection::Statement read_waiters_statement(std::string_view project);
std::vector<lease_queue::QueuedWaiter> waiters_from(const pg::Result& r);
pg::Connection::Statement drop_dead_waiters_statement(const PgStore::Write& w);
int dropped_dead_waiters(PgStore::Write& w, const pg::Result& r);
pg::Connection::Statement declared_capacities_statement(std::string_view project);
std::map<std::string, std::int64_t> capacities_from(const pg::Result& r);
// Inserts the caller's row, after every row of the project still queued
// (seq = their greatest + 1; ties of rank are served in arrival order).
void insert_waiter(PgStore::Write& w, const LeaseWaiter& waiter, std::int64_t alive_until);
// Moves a row's alive_until; false when the row is gone (dropped as dead).
bool refresh_waiter(PgStore::Write& w, std::string_view waiter_id, std::int64_t alive_until);
// Deletes a row; true when there was one (then notifies keel_lease: waiters
// queued behind it may now be served).
bool delete_waiter(PgStore::Write& w, std::string_view waiter_id);
// The project's declared capacities (table lease_capacities), name -> capacity.
std::map<std::string, std::int64_t> declared_capacities(pg::Connection& c,
                                                        std::string_view project);
// Declares a capacity (a name already declared keeps its first one).
void declare_capacity(PgStore::Write& w, const LeaseCapacity& declared, std::string_view by);
void insert_ask(PgStore::Write& w, const ReleaseAsk& ask);
// The asks of `project` whose holder still holds a live lease on their name
// at `now`, oldest first; of one holder only when given; undelivered only
// when asked.
std::vector<ReleaseAsk> open_asks(pg::Connection& c, std::string_view project, std::int64_t now,
                                  std::optional<std::string_view> holder, bool undelivered_only);
void mark_asks_delivered(PgStore::Write& w, const std::vector<ReleaseAsk>& asks);
// Deletes the asks that are no longer open (their holder let the name go).
int drop_closed_asks(PgStore::Write& w);

// The hook's suspension markers (pg_store_agents_marker.cpp). The hook's
// fast check reads the marker under the state directory instead of opening
// the store; a node can write only its own machine's.
//
// Writes the marker of `agent` of `project` under `state_dir` (the file
// suspended_reason() reads; atomically, by rename), or nothing when
// state_dir is empty. Returns the error, if any.
std::error_code write_suspension_marker(const std::filesystem::path& state_dir,
                                        std::string_view project, std::string_view agent,
                                        std::string_view reason);
// Removes that marker, if there is one (nothing when state_dir is empty).
// For an agent the store says is not suspended: call it inside a write job
// that saw the agent active, under the project's lock, so that a suspension
// committed later writes its marker after this unlink (a fresh marker is
// never removed).
void drop_stale_marker(const std::filesystem::path& state_dir, std::string_view project,
                       std::string_view agent);

}  // namespace keel::state::pg_lease_util

namespace keel::state {

// One acquire_lease call's state across its attempts (pg_store_leases_wait.cpp
// owns it; try_acquire reads and updates it).
struct PgStore::AcquireAttempt {
  std::vector<LeaseName> names;  // canonical
  std::string args_hash;         // with a request_id
  bool final = false;            // the last attempt: a refusal journals REFUSE
  bool timed_out = false;        // final after waiting wait_ms
  std::int64_t waited_ms = 0;
  // The caller's queue row, once a refused waiting attempt inserted it.
  std::optional<LeaseWaiter> waiter;
};

}  // namespace keel::state
