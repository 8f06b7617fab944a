// keel/state/sqlite_store_memory_take.cpp — memory_take and memory_wait
// (issue 20: memory as a tuple space).
//
// A take is one writer job: it finds the entry (by key, or the oldest under
// the prefix by row id, skipping expired rows and
// values the template does not match), deletes it and journals MEMORY_TAKE.
// BEGIN IMMEDIATE makes the find and the delete one step for every process
// on the database, so of concurrent takers exactly one gets each entry.
//
// Waiting happens outside any transaction: a waiter remembers
// memory_epoch_, looks (over a read snapshot), and sleeps until this
// process commits a memory write (the epoch moves) or memory_poll_ms passes
// (other processes' writes are seen by polling). A take runs a writer job
// only when its read showed something to take, so idle waiters and polls of
// an empty queue cost no write lock.
#include <chrono>

#include "crypto/sha256.h"
#include "state/journal.h"
#include "state/memory_rules.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {

// The rows a take considers, in the order it considers them: the key's row,
// or every row under the prefix by id. A prefix walk first reads the slot's
// oldest kAgeProbeRows rows by id (memory_by_age), which is the whole walk
// when the slot is one queue; when they do not settle it, it goes on over
// the unique index's key range after the last id seen, so the slot's other
// keys (say 100k older results/*) are never read under the write lock.
// Columns: id, key, value, version, created_at, updated_at, expires_at.
constexpr int kAgeProbeRows = 32;
constexpr const char* kTakeByKey =
    "SELECT id, key, value, version, created_at, updated_at, expires_at FROM memory"
    " WHERE project = ?1 AND tier = ?2 AND namespace = ?3 AND scope = ?4 AND key = ?5";
// ?5: the last id seen, ?6: how many rows (-1: all).
constexpr const char* kTakeByAge =
    "SELECT id, key, value, version, created_at, updated_at, expires_at"
    " FROM memory INDEXED BY memory_by_age"
    " WHERE project = ?1 AND tier = ?2 AND namespace = ?3 AND scope = ?4 AND id > ?5"
    " ORDER BY id LIMIT ?6";
// ?5, ?6: the prefix's key range, ?7: the last id seen. "+id" keeps the
// planner off memory_by_age (a walk by id with the range as a filter, the
// walk this avoids): it reads the range through the unique index and sorts.
constexpr const char* kTakeByPrefixRange =
    "SELECT id, key, value, version, created_at, updated_at, expires_at FROM memory"
    " WHERE project = ?1 AND tier = ?2 AND namespace = ?3 AND scope = ?4"
    " AND key >= ?5 AND key < ?6 AND +id > ?7 ORDER BY +id";

// Calls visit(row) on the rows a take of `r` considers, oldest first, until
// it returns true; returns whether one did.
template <class Slot, class Visit>
bool walk_take(sqlite3* db, const std::string& project, const Slot& slot, const TakeRequest& r,
               Visit&& visit) {
  if (!r.by_prefix) {
    sql::Statement q(db, kTakeByKey);
    q.bind_all(project, slot.tier, slot.ns, slot.scope, r.key);
    while (q.step()) {
      if (visit(q)) return true;
    }
    return false;
  }
  const std::optional<std::string> upper = store_common::prefix_successor(r.prefix);
  std::int64_t after_id = 0;
  int rows = 0;
  {
    // No upper bound: every key from the prefix on is in range (an empty
    // prefix, or one of 0xFF bytes), so the walk by id is the whole walk.
    sql::Statement q(db, kTakeByAge);
    q.bind_all(project, slot.tier, slot.ns, slot.scope, after_id, upper ? kAgeProbeRows : -1);
    while (q.step()) {
      ++rows;
      after_id = q.int64(0);
      if (!q.text(1).starts_with(r.prefix)) continue;
      if (visit(q)) return true;
    }
  }
  if (!upper || rows < kAgeProbeRows) return false;  // the slot had no more rows
  sql::Statement q(db, kTakeByPrefixRange);
  q.bind_all(project, slot.tier, slot.ns, slot.scope, r.prefix, *upper, after_id);
  while (q.step()) {
    if (visit(q)) return true;
  }
  return false;
}

}  // namespace

void SqliteStore::notify_memory_change() {
  {
    std::lock_guard<std::mutex> lock(memory_mu_);
    ++memory_epoch_;
  }
  memory_cv_.notify_all();
}

std::uint64_t SqliteStore::memory_epoch() {
  std::lock_guard<std::mutex> lock(memory_mu_);
  return memory_epoch_;
}

void SqliteStore::wait_memory_change(std::uint64_t epoch, const WaitDeadline& deadline) {
  const auto step = deadline.next_step(std::chrono::milliseconds(options_.memory_poll_ms));
  std::unique_lock<std::mutex> lock(memory_mu_);
  memory_cv_.wait_for(lock, step, [&] { return memory_epoch_ != epoch; });
}

std::optional<TakeResult> SqliteStore::try_take(const Principal& who, const MemorySlot& slot,
                                                const TakeRequest& r) {
  std::optional<TakeResult> taken;
  writer_->submit([&](sqlite3* db) {
    taken.reset();
    const std::int64_t t = now();
    std::vector<std::int64_t> expired;
    std::int64_t id = 0;
    std::string value_text;
    walk_take(db, who.project, slot, r, [&](sql::Statement& q) {
      const std::optional<std::int64_t> expires_at = q.opt_int64(6);
      if (expires_at && *expires_at <= t) {
        expired.push_back(q.int64(0));
        return false;
      }
      std::string text = q.text(2);
      if (r.match && !memory_rules::take_matches(r, json::parse(text))) return false;
      id = q.int64(0);
      value_text = std::move(text);
      TakeResult found;
      found.taken = true;
      found.key = q.text(1);
      found.version = q.int64(3);
      found.created_at_ms = q.int64(4);
      found.updated_at_ms = q.int64(5);
      taken = std::move(found);
      return true;
    });
    // Expired rows met on the way are invisible already; dropping them (not
    // journaled) keeps the next scan short.
    delete_memory_rows(db, expired);
    if (!taken) return;
    delete_memory_rows(db, {id});
    taken->value = json::parse(value_text);
    const json::object payload = memory_rules::take_payload(
        memory_rules::Slot{slot.tier, slot.ns, slot.scope, slot.session_id}, taken->key,
        taken->version, static_cast<std::int64_t>(value_text.size()),
        crypto::sha256_hex(value_text));
    append_record(db, t, who.project, who.agent, ops::kMemoryTake,
                  memory_rules::subject_of(slot.tier, slot.ns, taken->key),
                  json::serialize(payload));
  });
  return taken;
}

bool SqliteStore::take_candidate_visible(const Principal& who, const MemorySlot& slot,
                                         const TakeRequest& r) {
  ReadConnection conn = read_connection();
  const std::int64_t t = now();
  return walk_take(conn.get(), who.project, slot, r, [&](sql::Statement& q) {
    const std::optional<std::int64_t> expires_at = q.opt_int64(6);
    if (expires_at && *expires_at <= t) return false;
    return !r.match || memory_rules::take_matches(r, json::parse(q.text(2)));
  });
}

TakeResult SqliteStore::memory_take(const Principal& who, const TakeRequest& r,
                                    const CancelCheck& cancelled) {
  const MemorySlot slot = memory_slot(who, r.tier, r.ns);
  memory_rules::check_take_request(r, options_.memory_max_key_bytes,
                                   options_.memory_max_wait_ms);
  std::optional<TakeResult> taken;
  const memory_rules::WaitOutcome waited = memory_rules::wait_loop(
      "memory_take", r, cancelled, [&] { return memory_epoch(); },
      [&](bool) {
        // A read first, every round: a poll of an empty queue takes no write lock.
        if (!take_candidate_visible(who, slot, r)) return false;
        taken = try_take(who, slot, r);
        return taken.has_value();
      },
      [&](std::uint64_t epoch, const WaitDeadline& deadline) {
        wait_memory_change(epoch, deadline);
      });
  if (!waited.answered) {
    TakeResult none;
    none.waited_ms = waited.waited_ms;
    return none;
  }
  notify_memory_change();
  taken->waited_ms = waited.waited_ms;
  return std::move(*taken);
}

bool SqliteStore::wait_satisfied(const Principal& who, const MemorySlot& slot,
                                 const WaitRequest& r) {
  ReadConnection conn = read_connection();
  const std::int64_t t = now();
  if (!r.by_prefix) {
    sql::Statement q(conn.get(),
                     "SELECT version, value FROM memory"
                     " WHERE project = ? AND tier = ? AND namespace = ? AND scope = ? AND key = ?"
                     " AND (expires_at IS NULL OR expires_at > ?)");
    q.bind_all(who.project, slot.tier, slot.ns, slot.scope, r.key, t);
    if (!q.step()) return memory_rules::key_wait_satisfied(r, 0, nullptr);
    const std::int64_t version = q.int64(0);
    if (!r.match) return memory_rules::key_wait_satisfied(r, version, nullptr);
    const json::value value = json::parse(q.text(1));
    return memory_rules::key_wait_satisfied(r, version, &value);
  }
  sql::Statement q(conn.get(),
                   "SELECT version, value FROM memory"
                   " WHERE project = ?1 AND tier = ?2 AND namespace = ?3 AND scope = ?4"
                   " AND key >= ?5 AND (?6 IS NULL OR key < ?6) AND version > ?7"
                   " AND (expires_at IS NULL OR expires_at > ?8)");
  q.bind_all(who.project, slot.tier, slot.ns, slot.scope, r.prefix,
             store_common::prefix_successor(r.prefix), r.after_version, t);
  while (q.step()) {
    if (!r.match) return true;  // version > after_version already
    if (memory_rules::prefix_entry_satisfies(r, q.int64(0), json::parse(q.text(1)))) return true;
  }
  return false;
}

WaitResult SqliteStore::memory_wait(const Principal& who, const WaitRequest& r,
                                    const CancelCheck& cancelled) {
  const MemorySlot slot = memory_slot(who, r.tier, r.ns);
  memory_rules::check_wait_request(r, options_.memory_max_key_bytes,
                                   options_.memory_max_wait_ms);
  const memory_rules::WaitOutcome waited = memory_rules::wait_loop(
      "memory_wait", r, cancelled, [&] { return memory_epoch(); },
      [&](bool) { return wait_satisfied(who, slot, r); },
      [&](std::uint64_t epoch, const WaitDeadline& deadline) {
        wait_memory_change(epoch, deadline);
      });
  return WaitResult{waited.answered, waited.waited_ms};
}

}  // namespace keel::state
