// keel/state/schema.h — the SQLite schema and its migrations.
//
// schema_version(version) records the migrations applied. migrate() applies
// the missing ones, in order, inside one BEGIN IMMEDIATE transaction, so
// several processes opening the same database at once serialize on the write
// lock and each migration runs exactly once.
#pragma once

#include <sqlite3.h>

namespace keel::state {

// The number of migrations this build knows (the version a migrated database
// reports).
int latest_schema_version();

// Brings `db` up to latest_schema_version() and returns the version it found
// (0 for a new database). Throws StoreError(kInternal) when the database is
// newer than this build, kBusy when the write lock stayed taken past the busy
// timeout.
int migrate(sqlite3* db);

}  // namespace keel::state
