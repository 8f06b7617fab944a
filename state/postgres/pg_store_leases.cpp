// keel/state/postgres/pg_store_leases.cpp — PostgreSQL: acquire, renew, release, list. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

const std::string_view pg_schema::kLeaseTablesV1 = "";

namespace {
[[noreturn]] void not_yet() {
  throw StoreError(ErrorCode::kInternal, "not implemented on PostgreSQL yet");
}
}  // namespace

AcquireResult PgStore::acquire_lease(const Principal&, const AcquireRequest&, const CancelCheck&) { not_yet(); }
LeaseInfo PgStore::renew_lease(const Principal&, std::string_view, std::string_view) { not_yet(); }
ReleaseOutcome PgStore::release_lease(const Principal&, std::string_view, std::string_view, bool) { not_yet(); }
std::vector<LeaseInfo> PgStore::list_leases(const Principal&, std::string_view) { not_yet(); }

}  // namespace keel::state
