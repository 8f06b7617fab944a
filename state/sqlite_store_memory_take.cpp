// keel/state/sqlite_store_memory_take.cpp — PLACEHOLDER from the contract commit; the owner replaces every body.
#include "state/sqlite_store.h"

namespace keel::state {

TakeResult SqliteStore::memory_take(const Principal&, const TakeRequest&, const CancelCheck&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
WaitResult SqliteStore::memory_wait(const Principal&, const WaitRequest&, const CancelCheck&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
}  // namespace keel::state
namespace keel::state {
void SqliteStore::notify_memory_change() {
  {
    std::lock_guard<std::mutex> lock(memory_mu_);
    ++memory_epoch_;
  }
  memory_cv_.notify_all();
}
}  // namespace keel::state
