// keel/state/postgres/pg_store_copy.cpp — `keel store copy` on PostgreSQL
// (state/store_copy.h). Placeholder until the import/export land.
#include "state/postgres/pg_store.h"

namespace keel::state {

StateImage PgStore::export_image(const Principal&) {
  throw StoreError(ErrorCode::kInternal, "store copy from PostgreSQL is not implemented yet");
}

void PgStore::import_image(const Principal&, const StateImage&) {
  throw StoreError(ErrorCode::kInternal, "store copy to PostgreSQL is not implemented yet");
}

SchemaVersions PgStore::schema_versions() const { return schema_versions_; }

}  // namespace keel::state
