// keel/state/postgres/pg_store_journal.cpp — PostgreSQL: journal_query, verify, replay, compact, export, append. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

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
)sql";

namespace {
[[noreturn]] void not_yet() {
  throw StoreError(ErrorCode::kInternal, "not implemented on PostgreSQL yet");
}
}  // namespace

std::vector<JournalRecord> PgStore::journal_query(const Principal&, const JournalFilter&) { not_yet(); }
VerifyReport PgStore::journal_verify(const Principal&) { not_yet(); }
ReplayReport PgStore::journal_replay(const Principal&) { not_yet(); }
CompactReport PgStore::journal_compact(const Principal&) { not_yet(); }
std::int64_t PgStore::journal_export(const Principal&, std::ostream&) { not_yet(); }
JournalRecord PgStore::journal_append(const Principal&, std::string_view, std::string_view, const boost::json::value&) { not_yet(); }

}  // namespace keel::state
