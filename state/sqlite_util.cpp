// keel/state/sqlite_util.cpp
#include "state/sqlite_util.h"

#include <memory>
#include <shared_mutex>
#include <unordered_map>

namespace keel::state::sql {

namespace {

// The idle prepared statements of one connection, by SQL text. Only the
// thread using the connection touches its cache (connections are used by one
// thread at a time); the registry's lock guards the map of caches.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct StatementCache {
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>, StringHash, std::equal_to<>> idle;
  ~StatementCache() {
    for (auto& [text, stmts] : idle) {
      for (sqlite3_stmt* s : stmts) sqlite3_finalize(s);
    }
  }
};
// Distinct SQL texts kept per connection. Past it the cache starts over:
// texts built per call (journal_query's filters) must not grow it forever.
constexpr std::size_t kMaxCachedTexts = 128;

std::shared_mutex g_caches_mu;
std::unordered_map<sqlite3*, std::unique_ptr<StatementCache>>& caches() {  // g_caches_mu
  static auto* map = new std::unordered_map<sqlite3*, std::unique_ptr<StatementCache>>();
  return *map;
}

StatementCache* cache_of(sqlite3* db) {
  std::shared_lock<std::shared_mutex> lock(g_caches_mu);
  const auto it = caches().find(db);
  return it == caches().end() ? nullptr : it->second.get();
}

void close_connection(sqlite3* db) {
  if (db == nullptr) return;
  std::unique_ptr<StatementCache> cache;
  {
    std::unique_lock<std::shared_mutex> lock(g_caches_mu);
    const auto it = caches().find(db);
    if (it != caches().end()) {
      cache = std::move(it->second);
      caches().erase(it);
    }
  }
  cache.reset();  // finalizes the idle statements before the close
  sqlite3_close_v2(db);
}

}  // namespace

void fail(sqlite3* db, int rc, std::string_view what) {
  const int primary = rc & 0xff;
  const std::string msg = std::string(what) + ": " +
                          (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) +
                          " (sqlite code " + std::to_string(rc) + ")";
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw StoreError(ErrorCode::kBusy, msg);
  }
  throw StoreError(ErrorCode::kInternal, msg);
}

void exec(sqlite3* db, std::string_view sql) {
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string what = "executing \"" + text.substr(0, 80) + "\"";
    sqlite3_free(err);
    fail(db, rc, what);
  }
}

Connection::Connection(const std::filesystem::path& path, int busy_timeout_ms,
                       Synchronous synchronous, const char* vfs) {
  const int rc = sqlite3_open_v2(path.c_str(), &db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                     SQLITE_OPEN_FULLMUTEX,
                                 vfs);
  if (rc != SQLITE_OK) {
    const std::string msg = "opening " + path.string() + ": " +
                            (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw StoreError(ErrorCode::kInternal, msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  check(db_, sqlite3_busy_timeout(db_, busy_timeout_ms), "setting busy_timeout");
  // SQLite's default checkpoint when the last connection closes is kept on
  // purpose: the first connection to open a database whose WAL outlived every
  // connection must rebuild the WAL index by reading and checksumming the whole
  // WAL (measured: ~10M instructions for a 200 KB WAL, growing with it), which
  // every short-lived process (each hook run) would pay. The checkpoint on
  // close costs two fsyncs once and leaves nothing to recover.
  exec(db_, "PRAGMA foreign_keys=ON");
  // Savepoint (statement) journals in memory: the group-commit writer runs
  // each job in a SAVEPOINT, and a sub-journal past SQLite's 64 KiB spill
  // size went to a temp file that was created, written page by page and
  // unlinked in every batch (measured: ~220 of ~270 pwrites per commit).
  exec(db_, "PRAGMA temp_store=MEMORY");
  exec(db_, synchronous == Synchronous::kFull ? "PRAGMA synchronous=FULL"
                                              : "PRAGMA synchronous=NORMAL");
  std::unique_lock<std::shared_mutex> lock(g_caches_mu);
  caches()[db_] = std::make_unique<StatementCache>();
}

Connection::~Connection() { close_connection(db_); }

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close_connection(db_);
    db_ = other.db_;
    other.db_ = nullptr;
  }
  return *this;
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  StatementCache* cache = cache_of(db);
  if (cache != nullptr) {
    const auto it = cache->idle.find(sql);
    if (it != cache->idle.end() && !it->second.empty()) {
      stmt_ = it->second.back();
      it->second.pop_back();
      cached_ = true;
      return;
    }
  }
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    cache != nullptr ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_,
                                    nullptr);
  if (rc != SQLITE_OK) {
    fail(db, rc, "preparing \"" + std::string(sql.substr(0, 80)) + "\"");
  }
  cached_ = cache != nullptr;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  StatementCache* cache = cached_ ? cache_of(db_) : nullptr;
  if (cache == nullptr) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  const char* text = sqlite3_sql(stmt_);
  auto it = cache->idle.find(std::string_view(text));
  if (it == cache->idle.end()) {
    if (cache->idle.size() >= kMaxCachedTexts) {
      for (auto& [t, stmts] : cache->idle) {
        for (sqlite3_stmt* s : stmts) sqlite3_finalize(s);
      }
      cache->idle.clear();
    }
    it = cache->idle.emplace(std::string(text), std::vector<sqlite3_stmt*>()).first;
  }
  it->second.push_back(stmt_);
}

Statement& Statement::bind(int index, std::int64_t value) {
  check(db_, sqlite3_bind_int64(stmt_, index, value), "binding");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  check(db_, sqlite3_bind_double(stmt_, index, value), "binding");
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  // A null data pointer would bind SQL NULL; an empty string must stay ''.
  const char* data = value.data() != nullptr ? value.data() : "";
  check(db_,
        sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
        "binding");
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  check(db_, sqlite3_bind_null(stmt_, index), "binding");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, rc, std::string("running \"") + std::string(sqlite3_sql(stmt_)).substr(0, 80) + "\"");
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::int64_t Statement::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::real(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

std::optional<std::int64_t> Statement::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

ReadTransaction::ReadTransaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN"); }

ReadTransaction::~ReadTransaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void ReadTransaction::commit() {
  open_ = false;
  exec(db_, "COMMIT");
}

}  // namespace keel::state::sql
