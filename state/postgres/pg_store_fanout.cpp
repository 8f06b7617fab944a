// keel/state/postgres/pg_store_fanout.cpp — PLACEHOLDER from the contract commit; the owner replaces every body.
#include "state/postgres/pg_store.h"

namespace keel::state {

std::vector<std::optional<FanoutCacheEntry>> PgStore::fanout_cache_lookup(const Principal&, const std::vector<std::string>&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
void PgStore::fanout_cache_store(const Principal&, const FanoutCacheEntry&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
std::vector<FanoutBreaker> PgStore::fanout_breakers(const Principal&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
void PgStore::fanout_breaker_store(const Principal&, const FanoutBreaker&) { throw StoreError(ErrorCode::kInternal, "not built yet"); }
}  // namespace keel::state
