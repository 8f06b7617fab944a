// keel/state/sqlite_store_memory_take.cpp — memory_take and memory_wait
// (issue 20: memory as a tuple space).
//
// A take is one writer job: it finds the entry (by key, or the oldest under
// the prefix by row id through memory_by_age, skipping expired rows and
// values the template does not match), deletes it and journals MEMORY_TAKE.
// BEGIN IMMEDIATE makes the find and the delete one step for every process
// on the database, so of concurrent takers exactly one gets each entry.
//
// Waiting happens outside any transaction: a waiter remembers
// memory_epoch_, looks (over a read snapshot), and sleeps until this
// process commits a memory write (the epoch moves) or memory_poll_ms passes
// (other processes' writes are seen by polling). A waiting take runs a
// writer job only when its read showed something to take, so idle waiters
// cost no write lock.
#include <chrono>

#include "crypto/sha256.h"
#include "state/journal.h"
#include "state/memory_rules.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {

// The rows a take (or a prefix wait) considers, in the order it considers
// them: the key's row, or every row under the prefix by id (memory_by_age).
// Columns: id, key, value, version, created_at, updated_at, expires_at.
constexpr const char* kTakeByKey =
    "SELECT id, key, value, version, created_at, updated_at, expires_at FROM memory"
    " WHERE project = ?1 AND tier = ?2 AND namespace = ?3 AND scope = ?4 AND key = ?5";
constexpr const char* kTakeByPrefix =
    "SELECT id, key, value, version, created_at, updated_at, expires_at"
    " FROM memory INDEXED BY memory_by_age"
    " WHERE project = ?1 AND tier = ?2 AND namespace = ?3 AND scope = ?4"
    " AND key >= ?5 AND (?6 IS NULL OR key < ?6) ORDER BY id";

// Binds a take's statement: the slot and the key, or the prefix range.
template <class Slot>
void bind_take(sql::Statement& q, const std::string& project, const Slot& slot,
               const TakeRequest& r) {
  q.bind_all(project, slot.tier, slot.ns, slot.scope, r.by_prefix ? r.prefix : r.key);
  if (r.by_prefix) q.bind(6, store_common::prefix_successor(r.prefix));
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
    {
      sql::Statement q(db, r.by_prefix ? kTakeByPrefix : kTakeByKey);
      bind_take(q, who.project, slot, r);
      while (q.step()) {
        const std::optional<std::int64_t> expires_at = q.opt_int64(6);
        if (expires_at && *expires_at <= t) {
          expired.push_back(q.int64(0));
          continue;
        }
        std::string text = q.text(2);
        if (r.match && !memory_rules::take_matches(r, json::parse(text))) continue;
        id = q.int64(0);
        value_text = std::move(text);
        TakeResult found;
        found.taken = true;
        found.key = q.text(1);
        found.version = q.int64(3);
        found.created_at_ms = q.int64(4);
        found.updated_at_ms = q.int64(5);
        taken = std::move(found);
        break;
      }
    }
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
  sql::Statement q(conn.get(), r.by_prefix ? kTakeByPrefix : kTakeByKey);
  bind_take(q, who.project, slot, r);
  const std::int64_t t = now();
  while (q.step()) {
    const std::optional<std::int64_t> expires_at = q.opt_int64(6);
    if (expires_at && *expires_at <= t) continue;
    if (!r.match || memory_rules::take_matches(r, json::parse(q.text(2)))) return true;
  }
  return false;
}

TakeResult SqliteStore::memory_take(const Principal& who, const TakeRequest& r,
                                    const CancelCheck& cancelled) {
  const MemorySlot slot = memory_slot(who, r.tier, r.ns);
  memory_rules::check_take_request(r, options_.memory_max_key_bytes,
                                   options_.memory_max_wait_ms);
  std::optional<TakeResult> taken;
  const memory_rules::WaitOutcome waited = memory_rules::wait_loop(
      "memory_take", r, cancelled, [&] { return memory_epoch(); },
      [&](bool first) {
        if (!first && !take_candidate_visible(who, slot, r)) return false;
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
