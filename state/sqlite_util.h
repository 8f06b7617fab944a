// keel/state/sqlite_util.h — thin RAII helpers over the SQLite C API, and the
// one place where SQLite result codes become StoreErrors.
//
// Error mapping: SQLITE_BUSY / SQLITE_LOCKED -> kBusy, anything else ->
// kInternal; the message always carries sqlite3_errmsg() and what was being
// done.
//
// Thread safety: a Connection or Statement must be used by one thread at a
// time (SQLite connections are opened in serialized mode, but statements and
// transactions are per-connection state).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <sqlite3.h>

#include "state/principal.h"
#include "state/store_options.h"

namespace keel::state::sql {

// Throws the StoreError that corresponds to `rc` (which must not be OK, ROW or
// DONE). `what` says what was being attempted.
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what);

// Throws unless rc == SQLITE_OK.
inline void check(sqlite3* db, int rc, std::string_view what) {
  if (rc != SQLITE_OK) fail(db, rc, what);
}

// Runs one or more statements that return no rows we care about.
void exec(sqlite3* db, std::string_view sql);

// An owned sqlite3 connection. It keeps a cache of prepared statements
// (Statement takes them from it and gives them back), because preparing costs
// more than running most of keel's statements: a lease acquire+release runs
// about 20 statements, each parsed and planned anew without the cache.
class Connection {
 public:
  Connection() = default;
  // Opens (creating when missing) the database at `path` and applies
  // busy_timeout, foreign_keys and the given synchronous mode, through the
  // VFS named `vfs` (nullptr: SQLite's default).
  Connection(const std::filesystem::path& path, int busy_timeout_ms,
             Synchronous synchronous, const char* vfs = nullptr);
  ~Connection();
  Connection(Connection&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* get() const { return db_; }
  // Gives up ownership.
  sqlite3* release() {
    sqlite3* db = db_;
    db_ = nullptr;
    return db;
  }

 private:
  sqlite3* db_ = nullptr;
};

// A prepared statement. Parameters are 1-based, columns 0-based (as in the C
// API). Text is always bound SQLITE_TRANSIENT, so arguments may be
// temporaries. On a Connection's database the statement comes from the
// connection's cache when the same SQL text was prepared before and is not
// in use, and goes back to it (reset, bindings cleared) when destroyed.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, std::int64_t{value}); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) {
    return bind(index, std::string_view(value));
  }
  Statement& bind(int index, const std::optional<std::int64_t>& value);
  Statement& bind(int index, const std::optional<std::string>& value);
  Statement& bind_null(int index);
  // Binds `values` to parameters 1..N, in order.
  template <class... Values>
  Statement& bind_all(const Values&... values) {
    int index = 0;
    (bind(++index, values), ...);
    return *this;
  }

  // Steps once: true when a row is available, false when done.
  bool step();
  // Steps to completion, ignoring rows.
  void run();
  // Clears bindings and rewinds, for re-use.
  void reset();

  bool is_null(int col) const;
  std::int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::optional<std::int64_t> opt_int64(int col) const;

  // Steps once and decodes the row with `read`; nullopt when there is none.
  template <class Read>
  auto one(Read&& read) -> std::optional<std::invoke_result_t<Read&, const Statement&>> {
    if (!step()) return std::nullopt;
    return read(static_cast<const Statement&>(*this));
  }
  // Steps to completion, decoding every row with `read`.
  template <class Read>
  auto all(Read&& read) -> std::vector<std::invoke_result_t<Read&, const Statement&>> {
    std::vector<std::invoke_result_t<Read&, const Statement&>> out;
    while (step()) out.push_back(read(static_cast<const Statement&>(*this)));
    return out;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool cached_ = false;  // goes back to the connection's cache
};

// The row `read` decodes from "SELECT <columns> <rest>" with `args` bound to
// parameters 1..N, or nullopt when there is none.
template <class Read, class... Args>
auto select_one(sqlite3* db, std::string_view columns, std::string_view rest, Read&& read,
                const Args&... args) {
  Statement q(db, "SELECT " + std::string(columns) + " " + std::string(rest));
  q.bind_all(args...);
  return q.one(read);
}

// BEGIN (deferred) on construction, COMMIT on commit(), ROLLBACK when
// destroyed without commit. For read connections: gives several SELECTs one
// consistent snapshot.
class ReadTransaction {
 public:
  explicit ReadTransaction(sqlite3* db);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  void commit();

 private:
  sqlite3* db_;
  bool open_ = true;
};

}  // namespace keel::state::sql
