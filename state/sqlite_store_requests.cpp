// keel/state/sqlite_store_requests.cpp — PLACEHOLDER from the contract commit; the owner replaces every body.
#include "state/sqlite_store.h"

namespace keel::state {

RequestClaim SqliteStore::claim_request(const Principal&, std::string_view, std::string_view, std::string_view) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
void SqliteStore::complete_request(const Principal&, std::string_view, std::string_view, std::string_view) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
void SqliteStore::abandon_request(const Principal&, std::string_view, std::string_view) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
}  // namespace keel::state
