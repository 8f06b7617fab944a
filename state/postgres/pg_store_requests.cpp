// keel/state/postgres/pg_store_requests.cpp — PLACEHOLDER from the contract commit; the owner replaces every body.
#include "state/postgres/pg_store.h"

namespace keel::state {

RequestClaim PgStore::claim_request(const Principal&, std::string_view, std::string_view, std::string_view) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
void PgStore::complete_request(const Principal&, std::string_view, std::string_view, std::string_view) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
void PgStore::abandon_request(const Principal&, std::string_view, std::string_view) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
}  // namespace keel::state
