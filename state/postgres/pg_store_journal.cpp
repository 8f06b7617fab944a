// keel/state/postgres/pg_store_journal.cpp — PostgreSQL: journal_query, verify, replay, compact, export, append. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

const std::string_view pg_schema::kJournalTablesV1 = "";

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
