// keel/state/postgres/pg_store_journal.cpp — PostgreSQL: journal_query,
// verify, replay, compact, export, append (the port of
// sqlite_store_journal.cpp), and the journal's tables.
//
// Each project has its own hash chain (seq 1, 2, 3... per project; the head in
// chain_heads), so verify, replay, compact and export act on who.project's
// chain, where SQLite's act on the one chain of the database file. Verify,
// replay and export read one REPEATABLE READ snapshot, in keyset pages of
// kPageRows records (a journal of millions of rows is never one result).
// Compaction is one write job: under the project's head lock it verifies,
// folds and replaces the project's chain (or with CompactOptions::through_seq
// its records up to that seq) with a CHECKPOINT.
//
// journal_query keeps JournalFilter's meaning (project unset: every project).
// Order: with a project, by seq (its chain's order, as SQLite); without one,
// seqs of different projects do not compare, so records are ordered by ts,
// then seq, then project — newest first or oldest first as asked.
//
// Other differences from SQLite: PostgreSQL text holds neither NUL nor
// invalid UTF-8, so journal_append refuses such a subject or payload
// (kInvalidArgument) and a query filter holding one matches nothing.
#include <algorithm>
#include <map>
#include <ostream>

#include "state/journal.h"
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace pg_store_detail;

// One hash chain per project: rows keyed (project, seq); the chain's head and
// the project's fencing-token counter in chain_heads (one row per project,
// created by PgStore::run_write on the project's first write). subject is
// COLLATE "C" so that the prefix range of journal_query (subject >= p AND
// subject < prefix_successor(p)) compares bytes, as SQLite does.
const std::string_view pg_schema::kJournalTablesV1 = R"sql(
CREATE TABLE chain_heads(
  project    TEXT PRIMARY KEY,
  head_seq   BIGINT NOT NULL,
  head_hash  TEXT NOT NULL,
  next_token BIGINT NOT NULL
);

CREATE TABLE journal(
  project   TEXT NOT NULL,
  seq       BIGINT NOT NULL,
  ts        BIGINT NOT NULL,
  principal TEXT NOT NULL,
  op        TEXT NOT NULL,
  subject   TEXT COLLATE "C" NOT NULL,
  payload   TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL,
  node      TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(project, seq)
);
CREATE INDEX journal_by_op ON journal(project, op, seq);
CREATE INDEX journal_by_subject ON journal(project, subject, seq);
CREATE INDEX journal_by_principal ON journal(project, principal, seq);
CREATE INDEX journal_by_ts ON journal(project, ts, seq);
-- journal_query without a project (keel journal tail) orders every
-- project's records by ts, seq, project: without this it sorts the table.
CREATE INDEX journal_by_time ON journal(ts, seq, project);
)sql";

JournalRecord pg_store_detail::read_record(const pg::Result& r, int row) {
  // kRecordColumns lists JournalRecord's fields in their declaration order.
  return JournalRecord{r.int64(row, 0), r.int64(row, 1), r.text(row, 2), r.text(row, 3),
                       r.text(row, 4),  r.text(row, 5),  r.text(row, 6), r.text(row, 7),
                       r.text(row, 8),  r.text(row, 9)};
}

namespace {

constexpr int kMaxQueryLimit = 10000;
// Records per page when a whole chain is read (verify, replay, compact, export).
constexpr int kPageRows = 5000;
// Records per DELETE when compaction drops a chain.
constexpr std::int64_t kDeleteRows = 50000;

struct Head {
  std::int64_t seq = 0;
  std::string hash = kZeroHash;
  std::int64_t next_token = 1;
};

// The project's head; a project that never wrote has none yet (an empty
// chain: seq 0, the zero hash), as run_write would create it.
Head read_head(pg::Connection& c, std::string_view project) {
  const pg::Result r = c.exec_prepared(
      "keel_journal_head",
      "SELECT head_seq, head_hash, next_token FROM chain_heads WHERE project = $1", {project});
  Head h;
  if (r.rows() > 0) {
    h.seq = r.int64(0, 0);
    h.hash = r.text(0, 1);
    h.next_token = r.int64(0, 2);
  }
  return h;
}

// Runs `fn` on every record of the project's chain, ascending, a page at a
// time; stops when it returns false.
template <class Fn>
void for_each_record(pg::Connection& c, std::string_view project, Fn&& fn) {
  static const std::string kFirst = "SELECT " + std::string(kRecordColumns) +
                                    " FROM journal WHERE project = $1"
                                    " ORDER BY seq LIMIT " + std::to_string(kPageRows);
  static const std::string kNext = "SELECT " + std::string(kRecordColumns) +
                                   " FROM journal WHERE project = $1 AND seq > $2"
                                   " ORDER BY seq LIMIT " + std::to_string(kPageRows);
  std::optional<std::int64_t> after;  // nullopt: the first page
  for (;;) {
    const pg::Result r =
        after ? c.exec_prepared("keel_journal_page", kNext, {project, *after})
              : c.exec_prepared("keel_journal_first", kFirst, {project});
    const int n = r.rows();
    for (int i = 0; i < n; ++i) {
      JournalRecord rec = read_record(r, i);
      after = rec.seq;
      if (!fn(rec)) return;
    }
    if (n < kPageRows) return;
  }
}

// Verifies the project's chain against `head` (chain_heads as committed, or
// a write job's own head, which run_write writes back only at commit).
VerifyReport verify_chain(pg::Connection& c, std::string_view project, const Head& head) {
  std::int64_t min_seq = 0;
  std::int64_t max_seq = -1;
  {
    const pg::Result r =
        c.exec("SELECT min(seq), max(seq) FROM journal WHERE project = $1", {project});
    if (!r.is_null(0, 0)) {
      min_seq = r.int64(0, 0);
      max_seq = r.int64(0, 1);
    }
  }
  ChainVerifier verifier(min_seq, max_seq);
  for_each_record(c, project, [&](const JournalRecord& r) { return verifier.feed(r); });
  return verifier.finish(head.seq, head.hash);
}

// CompactOptions: a cut before the first record, or at or before a first
// record that is already a CHECKPOINT, folds nothing.
bool folds_nothing(const std::optional<JournalRecord>& first, std::int64_t through_seq) {
  if (!first) return true;
  if (through_seq < first->seq) return true;
  return first->op == ops::kCheckpoint && through_seq <= first->seq;
}

// Deletes the project's records with seq in (after, through], in ranges (each
// statement well inside the statement timeout however long the chain).
std::int64_t delete_records(pg::Connection& c, std::string_view project, std::int64_t after,
                            std::int64_t through) {
  std::int64_t deleted = 0;
  for (std::int64_t from = after; from < through; from += kDeleteRows) {
    deleted += c.exec_prepared("keel_journal_delete_range",
                               "DELETE FROM journal WHERE project = $1 AND seq > $2 AND seq <= $3",
                               {project, from, std::min(from + kDeleteRows, through)})
                   .affected();
  }
  return deleted;
}

// Folds the records [first_seq, through_seq] into a partial CHECKPOINT at seq
// through_seq (journal.h); the records after it stay as they are and the head
// does not move. Verifies only what it folds and the link to the first kept
// record: a problem in the kept records is left for verify to report, never
// folded away.
void compact_prefix(PgStore::Write& w, const Principal& who, std::int64_t first_seq,
                    std::int64_t through_seq, std::optional<VerifyReport::Bad>& refused,
                    CompactReport& report) {
  PartialCompaction plan(through_seq, first_seq, w.head_seq);
  for_each_record(w.c, w.project, [&](const JournalRecord& r) { return plan.feed(r); });
  if (const std::optional<VerifyReport::Bad> bad = plan.problem()) {
    refused = bad;
    return;
  }
  const JournalRecord cp =
      plan.checkpoint_record(w.now, w.project, who.agent, w.node, w.token_counter);
  const std::int64_t deleted = delete_records(w.c, w.project, first_seq - 1, through_seq);
  if (deleted != plan.folded()) {  // rolls the job back
    throw StoreError(ErrorCode::kInternal,
                     "compaction deleted " + std::to_string(deleted) + " journal records of " +
                         std::to_string(plan.folded()) + " folded; nothing was changed");
  }
  w.c.exec_prepared("keel_journal_insert_checkpoint",
                    "INSERT INTO journal(project, seq, ts, principal, op, subject, payload,"
                    " prev_hash, hash, node) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                    {cp.project, cp.seq, cp.ts_ms, cp.principal, cp.op, cp.subject, cp.payload,
                     cp.prev_hash, cp.hash, cp.node});
  report.folded_records = plan.folded();
  report.checkpoint_seq = cp.seq;
}

// PostgreSQL text holds neither NUL nor invalid UTF-8; a filter value with
// either can match no stored record (SQLite would simply find none).
bool storable(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) return false;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    const std::size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3
                                       : (b >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

std::vector<JournalRecord> PgStore::journal_query(const Principal& who, const JournalFilter& f) {
  require(who, caps::kJournalRead);
  if (f.limit < 1 || f.limit > kMaxQueryLimit) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "limit must be in [1, " + std::to_string(kMaxQueryLimit) + "]");
  }
  std::string sql = "SELECT " + std::string(kRecordColumns) + " FROM journal WHERE true";
  std::vector<pg::Param> params;
  bool matches_nothing = false;
  auto add = [&](const std::string& clause, pg::Param value) {
    params.push_back(std::move(value));
    std::string c = clause;
    c.replace(c.find('?'), 1, "$" + std::to_string(params.size()));
    sql += " AND " + c;
  };
  auto add_text = [&](const std::string& clause, const std::string& value) {
    if (!storable(value)) matches_nothing = true;
    add(clause, value);
  };
  if (f.project) add_text("project = ?", *f.project);
  if (f.op) add_text("op = ?", *f.op);
  if (f.principal) add_text("principal = ?", *f.principal);
  if (f.subject) {
    if (!f.subject->empty() && f.subject->back() == '*') {
      // subject is COLLATE "C": the range compares bytes, as SQLite's.
      const std::string prefix = f.subject->substr(0, f.subject->size() - 1);
      add_text("subject >= ?", prefix);
      const std::optional<std::string> upper = prefix_successor(prefix);
      if (upper && storable(*upper)) {
        add("subject < ?", *upper);
      } else if (upper) {  // the successor is not UTF-8: test the prefix itself
        add("starts_with(subject, ?)", prefix);
      }
    } else {
      add_text("subject = ?", *f.subject);
    }
  }
  if (f.since_ms) add("ts >= ?", *f.since_ms);
  if (f.until_ms) add("ts < ?", *f.until_ms);
  if (f.after_seq) add("seq > ?", *f.after_seq);
  const char* dir = f.newest_first ? " DESC" : " ASC";
  if (f.project) {
    sql += std::string(" ORDER BY seq") + dir;
  } else {
    sql += std::string(" ORDER BY ts") + dir + ", seq" + dir + ", project" + dir;
  }
  sql += " LIMIT " + std::to_string(f.limit);
  if (matches_nothing) return {};

  return read([&](pg::Connection& c) {
    const pg::Result r = c.exec(sql, params);
    std::vector<JournalRecord> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_record(r, i));
    return out;
  });
}

VerifyReport PgStore::journal_verify(const Principal& who) {
  require(who, caps::kJournalRead);
  const LongCall whole_chain;  // bounded per statement, not as a whole
  return read(
      [&](pg::Connection& c) { return verify_chain(c, who.project, read_head(c, who.project)); },
      /*snapshot=*/true);
}

ReplayReport PgStore::journal_replay(const Principal& who) {
  require(who, caps::kJournalRead);
  const LongCall whole_chain;  // bounded per statement, not as a whole
  std::int64_t at_ms = 0;
  LeaseFold fold;
  std::vector<std::string> problems;
  std::vector<LeaseInfo> table;
  read(
      [&](pg::Connection& c) {
        // Starts afresh when read() retries on a new connection.
        fold = LeaseFold{};
        problems.clear();
        table.clear();
        for_each_record(c, who.project, [&](const JournalRecord& r) {
          if (std::optional<std::string> problem = fold.apply(r)) problems.push_back(*problem);
          return true;
        });
        at_ms = now(c);
        const pg::Result r = c.exec("SELECT " + std::string(kLeaseColumns) +
                                        " FROM leases WHERE project = $1 AND expires_at > $2",
                                    {who.project, at_ms});
        for (int i = 0; i < r.rows(); ++i) table.push_back(read_lease(r, i));
      },
      /*snapshot=*/true);
  return compare_replay(fold, std::move(problems), std::move(table), at_ms);
}

CompactReport PgStore::journal_compact(const Principal& who, const CompactOptions& options) {
  require(who, caps::kJournalRead);
  require(who, caps::kJournalAdmin);
  if (options.through_seq < 0) {
    throw StoreError(ErrorCode::kInvalidArgument, "through_seq must be >= 0");
  }
  const LongCall whole_chain;  // bounded per statement, not as a whole
  CompactReport report;
  std::optional<VerifyReport::Bad> refused;
  write(who.project, [&](Write& w) {
    // The head row is locked: no other node appends to this chain meanwhile.
    // The head is w's (earlier jobs of the same batch may have moved it; the
    // row is written back at commit), as is the token counter.
    refused.reset();
    report = CompactReport{};
    const Head head{w.head_seq, w.head_hash, w.token_counter};
    if (options.through_seq != 0) {
      std::optional<JournalRecord> first;
      for_each_record(w.c, w.project, [&](const JournalRecord& r) {
        first = r;
        return false;
      });
      if (folds_nothing(first, options.through_seq)) return;
      if (options.through_seq < head.seq) {
        compact_prefix(w, who, first->seq, options.through_seq, refused, report);
        return;
      }
      // Through the head: a full compaction.
    }
    const VerifyReport verified = verify_chain(w.c, w.project, head);
    if (!verified.ok) {
      refused = verified.first_bad;
      return;
    }
    LeaseFold fold;
    std::int64_t folded = 0;
    for_each_record(w.c, w.project, [&](const JournalRecord& r) {
      fold.apply(r);  // a verified chain written by the store folds cleanly
      ++folded;
      return true;
    });
    Checkpoint c;
    c.folded_through_seq = head.seq;
    c.folded_records = folded;
    c.anchor_hash = head.hash;
    for (const auto& [id, l] : fold.leases()) c.leases.push_back(l);
    c.leases = sorted_leases(std::move(c.leases));
    c.next_token = head.next_token;
    // The chain verified, so its seqs are contiguous up to the head: delete
    // it in ranges, each statement well inside the statement timeout however
    // long the chain.
    const std::int64_t deleted = delete_records(w.c, w.project, head.seq - folded, head.seq);
    if (deleted != folded) {  // rolls the job back
      throw StoreError(ErrorCode::kInternal,
                       "compaction deleted " + std::to_string(deleted) + " journal records of " +
                           std::to_string(folded) + " folded; nothing was changed");
    }
    // append() chains after the head: seq folded_through_seq + 1, prev_hash
    // anchor_hash, as a CHECKPOINT must.
    const JournalRecord cp =
        w.append(who.agent, ops::kCheckpoint, "journal", json::serialize(checkpoint_to_json(c)));
    report.folded_records = folded;
    report.checkpoint_seq = cp.seq;
  });
  if (refused) {
    throw compact_refused(*refused);
  }
  return report;
}

std::int64_t PgStore::journal_export(const Principal& who, std::ostream& out,
                                   const ExportRange& range) {
  require(who, caps::kJournalRead);
  const LongCall whole_chain;  // bounded per statement, not as a whole
  std::int64_t n = 0;
  read(
      [&](pg::Connection& c) {
        // read() retries once on a lost connection; lines already written
        // cannot be taken back, so a retry after output began fails instead.
        if (n > 0) {
          throw StoreError(ErrorCode::kBusy,
                           "the connection to PostgreSQL was lost during the journal export "
                           "after " + std::to_string(n) + " records; the output is incomplete");
        }
        for_each_record(c, who.project, [&](const JournalRecord& r) {
          if (range.through_seq != 0 && r.seq > range.through_seq) return false;
          if (r.seq < range.from_seq) return true;
          out << export_line(r) << '\n';
          ++n;
          return true;
        });
      },
      /*snapshot=*/true);
  out.flush();
  if (!out) throw StoreError(ErrorCode::kInternal, "writing the journal export failed");
  return n;
}

JournalRecord PgStore::journal_append(const Principal& who, std::string_view op,
                                      std::string_view subject, const json::value& payload) {
  check_append_op(op);
  const std::string text = json::serialize(payload);
  // PostgreSQL text cannot hold what SQLite would store as is.
  if (!storable(subject) || !storable(text)) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "journal subject and payload must be UTF-8 without NUL");
  }
  return write(who.project,
               [&](Write& w) { return w.append(who.agent, op, subject, text); });
}

}  // namespace keel::state
