// keel/cli/pg_reexec.cpp — open_postgres_store for the static `keel` binary,
// which carries no libpq (see CMakeLists.txt).
#include "state/store.h"

namespace keel::state {

std::unique_ptr<Store> open_postgres_store(const StoreOptions&) {
  throw StoreError(ErrorCode::kInternal,
                   "this keel binary has no PostgreSQL backend; run keel-pg");
}

}  // namespace keel::state
