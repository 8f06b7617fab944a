// keel/state/sqlite_store_journal.cpp — query / verify / replay / compact /
// export / append over the journal table.
//
// Reads that must agree with each other (verify, replay, export) run in one
// read transaction, i.e. on one WAL snapshot. Compaction is one writer job:
// it verifies, folds and replaces the whole chain (or with
// CompactOptions::through_seq the records up to that seq) with a CHECKPOINT
// atomically.
#include <algorithm>
#include <map>

#include "state/journal.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {

constexpr int kMaxQueryLimit = 10000;

struct Head {
  std::int64_t seq = 0;
  std::string hash;
};

Head read_head(sqlite3* db) {
  sql::Statement q(db,
                   "SELECT (SELECT value FROM meta WHERE key='journal_head_seq'),"
                   "       (SELECT value FROM meta WHERE key='journal_head_hash')");
  if (!q.step() || q.is_null(0)) {
    throw StoreError(ErrorCode::kInternal, "journal head missing from meta");
  }
  return Head{q.int64(0), q.text(1)};
}

// Runs `fn` on every record, ascending; stops when it returns false.
template <class Fn>
void for_each_record(sqlite3* db, Fn&& fn) {
  sql::Statement q(db, "SELECT " + std::string(kRecordColumns) + " FROM journal ORDER BY seq");
  while (q.step()) {
    if (!fn(read_record(q))) return;
  }
}

VerifyReport verify_chain(sqlite3* db) {
  std::int64_t min_seq = 0;
  std::int64_t max_seq = -1;
  {
    sql::Statement q(db, "SELECT min(seq), max(seq) FROM journal");
    if (q.step() && !q.is_null(0)) {
      min_seq = q.int64(0);
      max_seq = q.int64(1);
    }
  }
  ChainVerifier verifier(min_seq, max_seq);
  for_each_record(db, [&](const JournalRecord& r) { return verifier.feed(r); });
  const Head head = read_head(db);
  return verifier.finish(head.seq, head.hash);
}
// CompactOptions: a cut before the first record, or at or before a first
// record that is already a CHECKPOINT, folds nothing.
bool folds_nothing(const std::optional<JournalRecord>& first, std::int64_t through_seq) {
  if (!first) return true;
  if (through_seq < first->seq) return true;
  return first->op == ops::kCheckpoint && through_seq <= first->seq;
}

// Folds the records [first, through_seq] into a partial CHECKPOINT at seq
// through_seq (journal.h); the records after it stay as they are. Verifies
// only what it folds and the link to the first kept record: a problem in the
// kept records is left for verify to report, never folded away.
void compact_prefix(sqlite3* db, const Principal& who, std::int64_t ts_ms, std::string_view node,
                    std::int64_t through_seq, std::int64_t head_seq,
                    std::optional<VerifyReport::Bad>& refused, CompactReport& report) {
  std::int64_t min_seq = 0;
  {
    sql::Statement q(db, "SELECT min(seq) FROM journal");
    if (q.step() && !q.is_null(0)) min_seq = q.int64(0);
  }
  PartialCompaction plan(through_seq, min_seq, head_seq);
  {
    sql::Statement q(db, "SELECT " + std::string(kRecordColumns) +
                             " FROM journal WHERE seq <= ? ORDER BY seq");
    q.bind(1, through_seq + 1);
    while (q.step() && plan.feed(read_record(q))) {
    }
  }
  if (const std::optional<VerifyReport::Bad> bad = plan.problem()) {
    refused = bad;
    return;
  }
  std::int64_t next_token = 0;
  {
    sql::Statement q(db, "SELECT value FROM meta WHERE key = 'next_token'");
    if (!q.step()) throw StoreError(ErrorCode::kInternal, "next_token missing from meta");
    next_token = q.int64(0);
  }
  const JournalRecord cp =
      plan.checkpoint_record(ts_ms, who.project, who.agent, node, next_token);
  sql::Statement del(db, "DELETE FROM journal WHERE seq <= ?");
  del.bind(1, through_seq).run();
  if (sqlite3_changes(db) != plan.folded()) {  // the writer rolls the job back
    throw StoreError(ErrorCode::kInternal, "compaction deleted a different number of records "
                                           "than it folded; nothing was changed");
  }
  sql::Statement(db,
                 "INSERT INTO journal(seq, ts, project, principal, op, subject, payload,"
                 " prev_hash, hash, node) VALUES(?,?,?,?,?,?,?,?,?,?)")
      .bind_all(cp.seq, cp.ts_ms, cp.project, cp.principal, cp.op, cp.subject, cp.payload,
                cp.prev_hash, cp.hash, cp.node)
      .run();
  report.folded_records = plan.folded();
  report.checkpoint_seq = cp.seq;
}

}  // namespace

std::vector<JournalRecord> SqliteStore::journal_query(const Principal& who,
                                                      const JournalFilter& f) {
  require(who, caps::kJournalRead);
  if (f.limit < 1 || f.limit > kMaxQueryLimit) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "limit must be in [1, " + std::to_string(kMaxQueryLimit) + "]");
  }
  std::string sql = "SELECT " + std::string(kRecordColumns) + " FROM journal WHERE 1=1";
  std::vector<std::function<void(sql::Statement&, int)>> binds;
  auto add = [&](const std::string& clause, auto value) {
    sql += " AND " + clause;
    binds.push_back([value](sql::Statement& q, int i) { q.bind(i, value); });
  };
  if (f.project) add("project = ?", *f.project);
  if (f.op) add("op = ?", *f.op);
  if (f.principal) add("principal = ?", *f.principal);
  if (f.subject) {
    if (!f.subject->empty() && f.subject->back() == '*') {
      const std::string prefix = f.subject->substr(0, f.subject->size() - 1);
      add("subject >= ?", prefix);
      if (const std::optional<std::string> upper = prefix_successor(prefix)) {
        add("subject < ?", *upper);
      }
    } else {
      add("subject = ?", *f.subject);
    }
  }
  if (f.since_ms) add("ts >= ?", *f.since_ms);
  if (f.until_ms) add("ts < ?", *f.until_ms);
  if (f.after_seq) add("seq > ?", *f.after_seq);
  sql += f.newest_first ? " ORDER BY seq DESC" : " ORDER BY seq ASC";
  sql += " LIMIT " + std::to_string(f.limit);

  ReadConnection conn = read_connection();
  sql::Statement q(conn.get(), sql);
  for (std::size_t i = 0; i < binds.size(); ++i) binds[i](q, static_cast<int>(i + 1));
  std::vector<JournalRecord> out;
  while (q.step()) out.push_back(read_record(q));
  return out;
}

VerifyReport SqliteStore::journal_verify(const Principal& who) {
  require(who, caps::kJournalRead);
  ReadConnection conn = read_connection();
  sql::ReadTransaction txn(conn.get());
  VerifyReport report = verify_chain(conn.get());
  txn.commit();
  return report;
}

ReplayReport SqliteStore::journal_replay(const Principal& who) {
  require(who, caps::kJournalRead);
  ReadConnection conn = read_connection();
  sql::ReadTransaction txn(conn.get());
  LeaseFold fold;
  std::vector<std::string> problems;
  for_each_record(conn.get(), [&](const JournalRecord& r) {
    if (std::optional<std::string> problem = fold.apply(r)) problems.push_back(*problem);
    return true;
  });
  const std::int64_t at_ms = now();
  std::vector<LeaseInfo> table;
  {
    sql::Statement q(conn.get(), "SELECT " + std::string(kLeaseColumns) +
                                     " FROM leases WHERE expires_at > ?");
    q.bind(1, at_ms);
    while (q.step()) table.push_back(read_lease(q));
  }
  txn.commit();
  return compare_replay(fold, std::move(problems), std::move(table), at_ms);
}

CompactReport SqliteStore::journal_compact(const Principal& who, const CompactOptions& options) {
  require(who, caps::kJournalRead);
  require(who, caps::kJournalAdmin);
  if (options.through_seq < 0) {
    throw StoreError(ErrorCode::kInvalidArgument, "through_seq must be >= 0");
  }
  CompactReport report;
  std::optional<VerifyReport::Bad> refused;
  writer_->submit([&](sqlite3* db) {
    refused.reset();
    report = CompactReport{};
    if (options.through_seq != 0) {
      const Head head = read_head(db);
      std::optional<JournalRecord> first;
      for_each_record(db, [&](const JournalRecord& r) {
        first = r;
        return false;
      });
      if (folds_nothing(first, options.through_seq)) return;
      if (options.through_seq < head.seq) {
        compact_prefix(db, who, now(), options_.node, options.through_seq, head.seq, refused,
                       report);
        return;
      }
      // Through the head: a full compaction.
    }
    const VerifyReport verified = verify_chain(db);
    if (!verified.ok) {
      refused = verified.first_bad;
      return;
    }
    LeaseFold fold;
    std::int64_t folded = 0;
    for_each_record(db, [&](const JournalRecord& r) {
      fold.apply(r);  // a verified chain written by the store folds cleanly
      ++folded;
      return true;
    });
    const Head head = read_head(db);
    Checkpoint c;
    c.folded_through_seq = head.seq;
    c.folded_records = folded;
    c.anchor_hash = head.hash;
    for (const auto& [id, l] : fold.leases()) c.leases.push_back(l);
    c.leases = sorted_leases(std::move(c.leases));
    {
      sql::Statement q(db, "SELECT value FROM meta WHERE key = 'next_token'");
      if (!q.step()) throw StoreError(ErrorCode::kInternal, "next_token missing from meta");
      c.next_token = q.int64(0);
    }
    sql::exec(db, "DELETE FROM journal");
    const JournalRecord cp =
        append_record(db, now(), who.project, who.agent, ops::kCheckpoint, "journal",
                      json::serialize(checkpoint_to_json(c)));
    report.folded_records = folded;
    report.checkpoint_seq = cp.seq;
  });
  if (refused) {
    throw compact_refused(*refused);
  }
  return report;
}

std::int64_t SqliteStore::journal_export(const Principal& who, std::ostream& out,
                                   const ExportRange& range) {
  require(who, caps::kJournalRead);
  ReadConnection conn = read_connection();
  sql::ReadTransaction txn(conn.get());
  std::int64_t n = 0;
  for_each_record(conn.get(), [&](const JournalRecord& r) {
    if (range.through_seq != 0 && r.seq > range.through_seq) return false;
    if (r.seq < range.from_seq) return true;
    out << export_line(r) << '\n';
    ++n;
    return true;
  });
  txn.commit();
  out.flush();
  if (!out) throw StoreError(ErrorCode::kInternal, "writing the journal export failed");
  return n;
}

JournalRecord SqliteStore::journal_append(const Principal& who, std::string_view op,
                                          std::string_view subject,
                                          const json::value& payload) {
  check_append_op(op);
  const std::string text = json::serialize(payload);
  JournalRecord record;
  writer_->submit([&](sqlite3* db) {
    record = append_record(db, now(), who.project, who.agent, op, subject, text);
  });
  return record;
}

}  // namespace keel::state
