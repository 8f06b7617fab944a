// keel/state/sqlite_store_memory_txn.cpp — PLACEHOLDER from the contract commit; the owner replaces every body.
#include "state/sqlite_store.h"

namespace keel::state {

TxnResult SqliteStore::memory_txn(const Principal&, const TxnRequest&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
}  // namespace keel::state
