// keel/state/open_store.cpp — picks the backend StoreOptions selects. Its own
// file so that only programs that open stores by URL need a definition of
// open_postgres_store (state/postgres/, or cli/pg_reexec.cpp in `keel`).
#include "state/store.h"

namespace keel::state {

std::unique_ptr<Store> open_store(const StoreOptions& options) {
  if (!options.url.empty()) return open_postgres_store(options);
  return open_sqlite_store(options);
}

}  // namespace keel::state
