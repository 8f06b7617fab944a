// keel/state/postgres/pg_store_memory_take.cpp — PostgreSQL: memory_take and
// memory_wait (issue 20: memory as a tuple space). The SQLite port is
// sqlite_store_memory_take.cpp; the checks, conditions and payloads both
// share are memory_rules'.
//
// A take is one write job: it walks the candidates oldest first (ORDER BY
// id; see walk_statement) in small batches locked FOR UPDATE SKIP LOCKED,
// checks `match` on each value here, deletes the first live matching row and
// journals MEMORY_TAKE in the same transaction. Why exactly one taker gets
// each entry, across nodes: every write of a project (this job, a put, a
// delete, another node's take) first locks the project's chain_heads row,
// so the jobs that could delete or change a row run one after the other, and
// each sees what the one before committed. Inside one write batch (several
// jobs, one transaction) a job's deferred DELETE goes out before the next
// job's SELECT, so the next job no longer sees the row. The row locks add
// nothing between this project's writes; SKIP LOCKED only keeps a take from
// queueing behind another project's sweep of expired rows
// (drop_expired_memory), which deletes only rows expired anyway. A job may
// run again (the batch retried, or re-run with savepoints): it assigns its
// results afresh each time.
//
// Waits hold no connection and no transaction: a waiter notes
// memory_epoch_, reads, and sleeps until memory_epoch_ moves (a keel_memory
// NOTIFY from any node's memory write, or this process's own commit) or
// memory_poll_ms passes (a notification lost with the listener's
// connection, a one-shot process that does not listen, an entry that
// expired). A take runs a write job only when its read saw something to
// take, so idle waiters and polls of an empty queue never queue for the
// head lock. Both loops are memory_rules::wait_loop, as on SQLite.
#include <algorithm>
#include <chrono>
#include <limits>

#include "crypto/sha256.h"
#include "state/memory_rules.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_memory_text.h"

namespace keel::state {
namespace json = boost::json;
using memory_rules::Slot;

namespace {

// Rows read (and, by a take, locked) per statement while walking
// candidates: the first statement reads one row when any live row will do
// (no match: the oldest is nearly always it) and kScanBatch with a match;
// each next one four times more, up to kMaxScanBatch.
constexpr int kScanBatch = 16;
constexpr int kMaxScanBatch = 64;

// The rows a take or a prefix wait looks at, in the order it looks: the
// key's row, or every row under the prefix, oldest first. A prefix walk
// first reads the slot's oldest kAgeProbeRows rows by id (memory_by_age),
// the whole walk when the slot is one queue; when they do not settle it, it
// goes on over the unique index's key range after the last id seen, so the
// slot's other keys (say 100k older results/*) are never read, nor locked,
// under the project's head lock. `lock`: FOR UPDATE SKIP LOCKED (a take's
// job). Parameters: $1..$4 the slot, then
//   kKey:   $5 key, $6 last id seen, $7 how many, $8 only versions above;
//   kAge:   $5 last id seen, $6 how many, $7 only versions above;
//   kRange: as kKey with $5 the prefix and $9 its upper bound.
enum class WalkKind { kKey = 0, kAge = 1, kRange = 2 };
constexpr int kAgeProbeRows = 32;

struct Walk {
  const char* name;
  std::string_view sql;
};

Walk walk_statement(WalkKind kind, bool lock) {
  auto sql = [](WalkKind k, bool locked) {
    const std::string head =
        "SELECT id, key, value, version, created_at, updated_at, expires_at FROM memory"
        " WHERE project = $1 AND tier = $2 AND namespace = $3 AND scope = $4";
    // kRange sorts by "id + 0" so that the planner cannot walk memory_by_age
    // in id order with the key range as a filter (the walk this avoids); it
    // reads the range through the unique index and keeps the lowest ids.
    std::string body =
        k == WalkKind::kAge
            ? " AND id > $5 AND version > $7 ORDER BY id LIMIT $6"
            : (k == WalkKind::kKey ? std::string(" AND key = $5")
                                   : std::string(" AND key >= $5 AND key < $9")) +
                  " AND id > $6 AND version > $8 ORDER BY id" +
                  (k == WalkKind::kRange ? " + 0" : "") + " LIMIT $7";
    return head + body + (locked ? " FOR UPDATE SKIP LOCKED" : "");
  };
  static const std::string kSql[3][2] = {
      {sql(WalkKind::kKey, false), sql(WalkKind::kKey, true)},
      {sql(WalkKind::kAge, false), sql(WalkKind::kAge, true)},
      {sql(WalkKind::kRange, false), sql(WalkKind::kRange, true)}};
  static constexpr const char* kNames[3][2] = {
      {"memory_walk_key", "memory_walk_key_lock"},
      {"memory_walk_age", "memory_walk_age_lock"},
      {"memory_walk_range", "memory_walk_range_lock"}};
  const int i = static_cast<int>(kind);
  return Walk{kNames[i][lock], kSql[i][lock]};
}

// One row of a walk.
struct Candidate {
  std::int64_t id = 0;
  std::string key;
  std::string value_text;
  std::int64_t version = 0;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::optional<std::int64_t> expires_at;
};

// Where a walk goes: a key, or a prefix (and its upper bound).
struct Range {
  bool by_prefix = false;
  std::string key_or_prefix;
  std::optional<std::string> upper;  // by_prefix
};

template <class Request>
Range range_of(const Request& r) {
  if (!r.by_prefix) return Range{false, r.key, std::nullopt};
  // As memory_list: the upper bound must be valid UTF-8 to be sent as text;
  // every stored key is UTF-8 and key is COLLATE "C", so the rows are the same.
  if (!pg_memory_text::valid_utf8(r.prefix)) {
    throw StoreError(ErrorCode::kInvalidArgument, "prefix must be valid UTF-8");
  }
  return Range{true, r.prefix, pg_memory_text::utf8_prefix_successor(r.prefix)};
}

// Calls visit(row) on the rows of `range` with a version above
// `min_version`, oldest first, until it returns true; returns whether one did.
// `any_row`: the first row that is live will do (no match).
template <class Visit>
bool walk(pg::Connection& c, const std::string& project, const Slot& slot, const Range& range,
          bool lock, std::int64_t min_version, bool any_row, Visit&& visit) {
  std::int64_t after_id = 0;
  // Reads `kind`'s rows after after_id in growing batches, at most `budget`
  // rows. Returns true when visit did; otherwise `more` says whether rows
  // remain (the budget ran out on a full batch).
  bool more = false;
  auto run = [&](WalkKind kind, int budget) {
    const Walk s = walk_statement(kind, lock);
    for (int batch = any_row ? 1 : kScanBatch;; batch = std::min(batch * 4, kMaxScanBatch)) {
      batch = std::min(batch, budget);
      std::vector<pg::Param> params{project, slot.tier, slot.ns, slot.scope};
      if (kind == WalkKind::kAge) {
        params.insert(params.end(), {after_id, batch, min_version});
      } else {
        params.insert(params.end(), {range.key_or_prefix, after_id, batch, min_version});
        if (kind == WalkKind::kRange) params.emplace_back(range.upper);
      }
      const pg::Result q = c.exec_prepared(s.name, s.sql, params);
      for (int i = 0; i < q.rows(); ++i) {
        Candidate row{q.int64(i, 0), q.text(i, 1),  q.text(i, 2),        q.int64(i, 3),
                      q.int64(i, 4), q.int64(i, 5), q.opt_int64(i, 6)};
        after_id = row.id;
        if (kind == WalkKind::kAge && !row.key.starts_with(range.key_or_prefix)) continue;
        if (visit(std::move(row))) return true;
      }
      more = q.rows() == batch;
      budget -= batch;
      if (!more || budget == 0) return false;
    }
  };
  constexpr int kAll = std::numeric_limits<int>::max();
  if (!range.by_prefix) return run(WalkKind::kKey, kAll);
  // No upper bound: every key from the prefix on is in range, so the walk
  // by id is the whole walk.
  if (!range.upper) return run(WalkKind::kAge, kAll);
  if (run(WalkKind::kAge, kAgeProbeRows)) return true;
  return more && run(WalkKind::kRange, kAll);
}

bool expired(const Candidate& row, std::int64_t now) {
  return row.expires_at && *row.expires_at <= now;
}

}  // namespace

std::uint64_t PgStore::memory_epoch() {
  std::lock_guard<std::mutex> lock(memory_mu_);
  return memory_epoch_;
}

void PgStore::wait_memory_change(std::uint64_t epoch, const WaitDeadline& deadline) {
  const auto step = deadline.next_step(
      std::chrono::milliseconds(std::max<std::int64_t>(1, options_.memory_poll_ms)));
  std::unique_lock<std::mutex> lock(memory_mu_);
  memory_cv_.wait_for(lock, step, [&] { return memory_epoch_ != epoch; });
}

std::optional<TakeResult> PgStore::try_take(const Principal& who, const Slot& slot,
                                            const TakeRequest& r) {
  const Range range = range_of(r);
  std::optional<TakeResult> taken;
  std::string value_text;
  write(who.project, [&](Write& w) {
    taken.reset();
    value_text.clear();
    std::vector<std::int64_t> doomed;  // expired rows met on the way, then the one taken
    walk(w.c, who.project, slot, range, /*lock=*/true, 0, !r.match, [&](Candidate row) {
      if (expired(row, w.now)) {
        // Invisible already; dropping it (not journaled, as find_memory_row
        // does) keeps the next walk short.
        doomed.push_back(row.id);
        return false;
      }
      if (r.match && !memory_rules::take_matches(r, json::parse(row.value_text))) return false;
      TakeResult found;
      found.taken = true;
      found.key = std::move(row.key);
      found.version = row.version;
      found.created_at_ms = row.created_at;
      found.updated_at_ms = row.updated_at;
      taken = std::move(found);
      value_text = std::move(row.value_text);
      doomed.push_back(row.id);
      return true;
    });
    delete_memory_rows(w.c, doomed);
    if (!taken) return;
    const json::object payload = memory_rules::take_payload(
        slot, taken->key, taken->version, static_cast<std::int64_t>(value_text.size()),
        crypto::sha256_hex(value_text));
    w.append(who.agent, ops::kMemoryTake, memory_rules::subject_of(slot.tier, slot.ns, taken->key),
             json::serialize(payload));
    w.notify(kMemoryChannel);
  });
  if (taken) taken->value = json::parse(value_text);
  return taken;
}

bool PgStore::take_candidate_visible(const Principal& who, const Slot& slot,
                                     const TakeRequest& r) {
  const Range range = range_of(r);
  return read([&](pg::Connection& c) {
    const std::int64_t t = now(c);
    return walk(c, who.project, slot, range, /*lock=*/false, 0, !r.match,
                [&](const Candidate& row) {
                  if (expired(row, t)) return false;
                  return !r.match || memory_rules::take_matches(r, json::parse(row.value_text));
                });
  });
}

TakeResult PgStore::memory_take(const Principal& who, const TakeRequest& r,
                                const CancelCheck& cancelled) {
  const Slot slot = memory_rules::slot_for(who, r.tier, r.ns);
  memory_rules::check_take_request(r, options_.memory_max_key_bytes,
                                   options_.memory_max_wait_ms);
  if (!r.by_prefix) check_memory_key(r.key);
  std::optional<TakeResult> taken;
  const memory_rules::WaitOutcome waited = memory_rules::wait_loop(
      "memory_take", r, cancelled, [&] { return memory_epoch(); },
      [&](bool) {
        // A read first, every round: a poll of an empty queue never queues
        // for the head lock.
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
  taken->waited_ms = waited.waited_ms;
  return std::move(*taken);
}

bool PgStore::wait_satisfied(const Principal& who, const Slot& slot, const WaitRequest& r) {
  const Range range = range_of(r);
  return read([&](pg::Connection& c) {
    const std::int64_t t = now(c);
    if (!r.by_prefix) {
      // A key wait: the key's live row, or none (version 0).
      const pg::Result q = c.exec_prepared(
          "memory_wait_key",
          "SELECT version, value FROM memory"
          " WHERE project = $1 AND tier = $2 AND namespace = $3 AND scope = $4 AND key = $5"
          " AND (expires_at IS NULL OR expires_at > $6)",
          {who.project, slot.tier, slot.ns, slot.scope, r.key, t});
      if (q.rows() == 0) return memory_rules::key_wait_satisfied(r, 0, nullptr);
      if (!r.match) return memory_rules::key_wait_satisfied(r, q.int64(0, 0), nullptr);
      const json::value value = json::parse(q.text(0, 1));
      return memory_rules::key_wait_satisfied(r, q.int64(0, 0), &value);
    }
    return walk(c, who.project, slot, range, /*lock=*/false, r.after_version, !r.match,
                [&](const Candidate& row) {
                  if (expired(row, t)) return false;
                  if (!r.match) return true;  // version > after_version already
                  return memory_rules::prefix_entry_satisfies(r, row.version,
                                                              json::parse(row.value_text));
                });
  });
}

WaitResult PgStore::memory_wait(const Principal& who, const WaitRequest& r,
                                const CancelCheck& cancelled) {
  const Slot slot = memory_rules::slot_for(who, r.tier, r.ns);
  memory_rules::check_wait_request(r, options_.memory_max_key_bytes,
                                   options_.memory_max_wait_ms);
  if (!r.by_prefix) check_memory_key(r.key);
  const memory_rules::WaitOutcome waited = memory_rules::wait_loop(
      "memory_wait", r, cancelled, [&] { return memory_epoch(); },
      [&](bool) { return wait_satisfied(who, slot, r); },
      [&](std::uint64_t epoch, const WaitDeadline& deadline) {
        wait_memory_change(epoch, deadline);
      });
  return WaitResult{waited.answered, waited.waited_ms};
}

}  // namespace keel::state
