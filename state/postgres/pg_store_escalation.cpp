// keel/state/postgres/pg_store_escalation.cpp — PostgreSQL: escalations. (Stubs: being written.)
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"

namespace keel::state {

const std::string_view pg_schema::kEscalationTablesV1 = "";

namespace {
[[noreturn]] void not_yet() {
  throw StoreError(ErrorCode::kInternal, "not implemented on PostgreSQL yet");
}
}  // namespace

EscalationRequestResult PgStore::request_escalation(const Principal&, const EscalationRequest&) { not_yet(); }
ResolveEscalationResult PgStore::resolve_escalation(const Principal&, const ResolveEscalationRequest&) { not_yet(); }
Escalation PgStore::get_escalation(const Principal&, std::int64_t) { not_yet(); }
EscalationListResult PgStore::list_escalations(const Principal&, const EscalationListRequest&) { not_yet(); }
Escalation PgStore::wait_escalation(const Principal&, std::int64_t, std::int64_t, const CancelCheck&) { not_yet(); }

}  // namespace keel::state
