// The WAL write buffer (state/wal_write_buffer.h): a commit reaches the file
// in a few large writes, every commit is in the file — for any other
// connection to read — as soon as it returns, also across WAL restarts, and
// a write that fails at the flush fails the commit and leaves nothing of it.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "state/fault_vfs.h"
#include "state/sqlite_util.h"
#include "state/wal_write_buffer.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
using Op = FaultInjector::Op;
using Files = FaultInjector::Files;

namespace {

// A WAL-mode connection through the buffer stacked on a FaultInjector (which
// counts the writes that reach the file system).
struct BufferedDb {
  TempDir dir;
  FaultInjector faults;
  std::filesystem::path path = dir.path() / "t.db";
  sql::Connection conn;

  explicit BufferedDb(bool enable = true)
      : conn(path, 5000, Synchronous::kFull, wal_write_buffer_vfs(faults.vfs_name().c_str())) {
    sql::exec(conn.get(), "PRAGMA journal_mode=WAL");
    sql::exec(conn.get(), "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    if (enable) REQUIRE(enable_wal_write_buffer(conn.get()));
  }

  // One transaction inserting `rows` rows of 3,000 bytes (a page each).
  void insert(int first, int rows) {
    sql::exec(conn.get(), "BEGIN IMMEDIATE");
    for (int i = first; i < first + rows; ++i) {
      sql::Statement(conn.get(), "INSERT INTO t(id, body) VALUES(?, ?)")
          .bind_all(i, std::string(3000, static_cast<char>('a' + i % 26)))
          .run();
    }
    sql::exec(conn.get(), "COMMIT");
  }
};

bool integrity_ok(sqlite3* db) {
  sql::Statement check(db, "PRAGMA integrity_check");
  return check.step() && check.text(0) == "ok";
}

std::int64_t count_rows(sqlite3* db) {
  sql::Statement q(db, "SELECT count(*) FROM t");
  REQUIRE(q.step());
  return q.int64(0);
}

}  // namespace

TEST_CASE("wal buffer: a commit of many pages reaches the file in a few writes",
          "[state][walbuf][sqlite-only]") {
  BufferedDb buffered;
  BufferedDb plain(/*enable=*/false);
  const auto writes_for = [](BufferedDb& db) {
    const std::int64_t before = db.faults.calls(Op::kWrite);
    db.insert(0, 100);  // ~100 pages: ~200 writes when each frame is two
    return db.faults.calls(Op::kWrite) - before;
  };
  const std::int64_t unbuffered = writes_for(plain);
  const std::int64_t with_buffer = writes_for(buffered);
  INFO("writes without the buffer " << unbuffered << ", with it " << with_buffer);
  CHECK(unbuffered >= 150);
  CHECK(with_buffer <= 10);
  CHECK(count_rows(buffered.conn.get()) == 100);
}

TEST_CASE("wal buffer: every commit is readable by another connection when it returns",
          "[state][walbuf][sqlite-only]") {
  BufferedDb db;
  // Restart the WAL often: each restart rewrites from the file's start.
  sql::exec(db.conn.get(), "PRAGMA wal_autocheckpoint=20");
  sql::Connection reader(db.path, 5000, Synchronous::kFull);  // default VFS
  int next = 0;
  for (int round = 0; round < 150; ++round) {
    const int rows = 1 + round % 7;
    db.insert(next, rows);
    next += rows;
    REQUIRE(count_rows(reader.get()) == next);
    sql::Statement last(reader.get(), "SELECT body FROM t WHERE id = ?");
    last.bind(1, next - 1);
    REQUIRE(last.step());
    CHECK(last.text(0) == std::string(3000, static_cast<char>('a' + (next - 1) % 26)));
  }
  CHECK(integrity_ok(reader.get()));
}

TEST_CASE("wal buffer: a write failing at the flush fails the commit and leaves nothing of it",
          "[state][walbuf][sqlite-only]") {
  BufferedDb db;
  db.insert(0, 3);
  // The buffered frames reach the file system only at the commit's sync.
  db.faults.arm(Op::kWrite, 1, FaultInjector::Error::kIoErr, /*sticky=*/false, Files::kWal);
  CHECK_THROWS_AS(db.insert(3, 40), StoreError);
  if (!sqlite3_get_autocommit(db.conn.get())) sql::exec(db.conn.get(), "ROLLBACK");
  db.faults.disarm();
  sql::Connection reader(db.path, 5000, Synchronous::kFull);
  CHECK(count_rows(reader.get()) == 3);
  db.insert(3, 5);  // the disk works again, and so does the connection
  CHECK(count_rows(reader.get()) == 8);
  CHECK(integrity_ok(reader.get()));
}

TEST_CASE("wal buffer: only a WAL opened through the buffering VFS can be buffered",
          "[state][walbuf][sqlite-only]") {
  TempDir dir;
  sql::Connection conn(dir.path() / "t.db", 5000, Synchronous::kFull);
  sql::exec(conn.get(), "PRAGMA journal_mode=WAL");
  sql::exec(conn.get(), "CREATE TABLE t(x)");
  CHECK_FALSE(enable_wal_write_buffer(conn.get()));
  // The same VFS is handed out again, not registered twice.
  CHECK(std::string(wal_write_buffer_vfs(nullptr)) == wal_write_buffer_vfs(nullptr));
}
