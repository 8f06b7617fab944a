// keel/state/postgres/pg_store_memory.cpp — PostgreSQL: memory. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

const std::string_view pg_schema::kMemoryTablesV1 = "";

namespace {
[[noreturn]] void not_yet() {
  throw StoreError(ErrorCode::kInternal, "not implemented on PostgreSQL yet");
}
}  // namespace

PutResult PgStore::memory_put(const Principal&, const PutRequest&) { not_yet(); }
GetResult PgStore::memory_get(const Principal&, Tier, Namespace, std::string_view) { not_yet(); }
bool PgStore::memory_delete(const Principal&, const DeleteRequest&) { not_yet(); }
ListResult PgStore::memory_list(const Principal&, const ListRequest&) { not_yet(); }
std::vector<SearchHit> PgStore::memory_search(const Principal&, const SearchRequest&) { not_yet(); }
void PgStore::end_session(const Principal&) { not_yet(); }

}  // namespace keel::state
