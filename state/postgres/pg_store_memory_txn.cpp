// keel/state/postgres/pg_store_memory_txn.cpp — PLACEHOLDER from the contract commit; the owner replaces every body.
#include "state/postgres/pg_store.h"

namespace keel::state {

TxnResult PgStore::memory_txn(const Principal&, const TxnRequest&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
}  // namespace keel::state
