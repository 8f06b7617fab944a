// keel/state/postgres/pg_store_memory_take.cpp — PLACEHOLDER from the contract commit; the owner replaces every body.
#include "state/postgres/pg_store.h"

namespace keel::state {

TakeResult PgStore::memory_take(const Principal&, const TakeRequest&, const CancelCheck&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
WaitResult PgStore::memory_wait(const Principal&, const WaitRequest&, const CancelCheck&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
}  // namespace keel::state
