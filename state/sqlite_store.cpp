// keel/state/sqlite_store.cpp — opening the SQLite store, the read pool and
// the helpers the per-primitive files share.
#include "state/sqlite_store.h"

#include <system_error>

#include "state/fault_vfs.h"
#include "state/journal.h"
#include "state/schema.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {

constexpr std::size_t kMaxIdleReaders = 8;
constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

std::filesystem::path prepare_dir(const StoreOptions& options) {
  if (options.dir.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "state directory is not set");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    throw StoreError(ErrorCode::kInternal,
                     "cannot create state directory " + options.dir.string() + ": " +
                         ec.message());
  }
  return options.dir / "keel.db";
}

// The VFS the store's connections use: the injector's in tests, else nullptr
// (SQLite's default).
const char* vfs_name(const StoreOptions& options) {
  return options.faults ? options.faults->vfs_name().c_str() : nullptr;
}

sql::Connection open_writer(const std::filesystem::path& path, const StoreOptions& options) {
  sql::Connection conn(path, options.busy_timeout_ms, options.synchronous, vfs_name(options));
  sql::Statement q(conn.get(), "PRAGMA journal_mode=WAL");
  if (!q.step() || q.text(0) != "wal") {
    throw StoreError(ErrorCode::kInternal, "cannot put " + path.string() + " in WAL mode");
  }
  return conn;
}

}  // namespace

// ------------------------------------------------------------------ helpers

namespace sqlite_store_detail {

JournalRecord append_record(sqlite3* db, std::int64_t ts, std::string_view project,
                            std::string_view principal, std::string_view op,
                            std::string_view subject, std::string_view payload) {
  JournalRecord r;
  {
    sql::Statement head(db,
                        "SELECT (SELECT value FROM meta WHERE key='journal_head_seq'),"
                        "       (SELECT value FROM meta WHERE key='journal_head_hash')");
    if (!head.step() || head.is_null(0) || head.is_null(1)) {
      throw StoreError(ErrorCode::kInternal, "journal head missing from meta");
    }
    r.seq = head.int64(0) + 1;
    r.prev_hash = head.text(1);
  }
  r.ts_ms = ts;
  r.project = project;
  r.principal = principal;
  r.op = op;
  r.subject = subject;
  r.payload = payload;
  r.hash = journal_hash(r);
  sql::Statement(db,
                 "INSERT INTO journal(seq, ts, project, principal, op, subject, payload,"
                 " prev_hash, hash) VALUES(?,?,?,?,?,?,?,?,?)")
      .bind(1, r.seq)
      .bind(2, r.ts_ms)
      .bind(3, r.project)
      .bind(4, r.principal)
      .bind(5, r.op)
      .bind(6, r.subject)
      .bind(7, r.payload)
      .bind(8, r.prev_hash)
      .bind(9, r.hash)
      .run();
  sql::Statement(db, "UPDATE meta SET value=? WHERE key='journal_head_seq'").bind(1, r.seq).run();
  sql::Statement(db, "UPDATE meta SET value=? WHERE key='journal_head_hash'")
      .bind(1, r.hash)
      .run();
  return r;
}

LeaseInfo read_lease(const sql::Statement& q) {
  LeaseInfo l;
  l.lease_id = q.text(0);
  l.name = q.text(1);
  l.holder = q.text(2);
  l.mode = q.text(3) == "shared" ? LeaseMode::kShared : LeaseMode::kExclusive;
  l.token = q.int64(4);
  l.ttl_ms = q.int64(5);
  l.acquired_at_ms = q.int64(6);
  l.expires_at_ms = q.int64(7);
  return l;
}

JournalRecord read_record(const sql::Statement& q) {
  JournalRecord r;
  r.seq = q.int64(0);
  r.ts_ms = q.int64(1);
  r.project = q.text(2);
  r.principal = q.text(3);
  r.op = q.text(4);
  r.subject = q.text(5);
  r.payload = q.text(6);
  r.prev_hash = q.text(7);
  r.hash = q.text(8);
  return r;
}

std::optional<std::string> prefix_successor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) s.pop_back();
  if (s.empty()) return std::nullopt;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

void require(const Principal& who, std::string_view capability) {
  if (!who.can(capability)) {
    throw StoreError(ErrorCode::kPermissionDenied,
                     "principal '" + who.agent + "' lacks the capability '" +
                         std::string(capability) + "'");
  }
}

int reap_expired_leases(sqlite3* db, std::string_view project, std::int64_t now) {
  struct Expired {
    std::string project;
    LeaseInfo lease;
  };
  std::vector<Expired> expired;
  {
    sql::Statement q(db, project.empty()
                             ? "SELECT project, lease_id, name, holder, mode, token, ttl_ms,"
                               " acquired_at, expires_at FROM leases WHERE expires_at <= ?1"
                             : "SELECT project, lease_id, name, holder, mode, token, ttl_ms,"
                               " acquired_at, expires_at FROM leases"
                               " WHERE project = ?2 AND expires_at <= ?1");
    q.bind(1, now);
    if (!project.empty()) q.bind(2, project);
    while (q.step()) {
      Expired e;
      e.project = q.text(0);
      e.lease.lease_id = q.text(1);
      e.lease.name = q.text(2);
      e.lease.holder = q.text(3);
      e.lease.mode = q.text(4) == "shared" ? LeaseMode::kShared : LeaseMode::kExclusive;
      e.lease.token = q.int64(5);
      e.lease.ttl_ms = q.int64(6);
      e.lease.acquired_at_ms = q.int64(7);
      e.lease.expires_at_ms = q.int64(8);
      expired.push_back(std::move(e));
    }
  }
  for (const Expired& e : expired) {
    sql::Statement(db, "DELETE FROM leases WHERE lease_id = ?").bind(1, e.lease.lease_id).run();
    sql::Statement(db,
                   "INSERT OR REPLACE INTO lease_tombstones(lease_id, project, name, outcome, at)"
                   " VALUES(?,?,?,'expired',?)")
        .bind(1, e.lease.lease_id)
        .bind(2, e.project)
        .bind(3, e.lease.name)
        .bind(4, now)
        .run();
    const json::object payload{{"lease_id", e.lease.lease_id},
                               {"name", e.lease.name},
                               {"holder", e.lease.holder},
                               {"token", e.lease.token},
                               {"expires_at", e.lease.expires_at_ms}};
    append_record(db, now, e.project, e.lease.holder, ops::kExpire, e.lease.name,
                  json::serialize(payload));
  }
  return static_cast<int>(expired.size());
}

void delete_memory_rows(sqlite3* db, const std::vector<std::int64_t>& ids) {
  sql::Statement del(db, "DELETE FROM memory WHERE id = ?");
  sql::Statement del_fts(db, "DELETE FROM memory_fts WHERE rowid = ?");
  for (const std::int64_t id : ids) {
    del.bind(1, id).run();
    del.reset();
    del_fts.bind(1, id).run();
    del_fts.reset();
  }
}

void drop_expired_memory(sqlite3* db, std::int64_t now, int limit) {
  std::vector<std::int64_t> ids;
  {
    sql::Statement q(db,
                     "SELECT id FROM memory WHERE expires_at IS NOT NULL AND expires_at <= ?"
                     " LIMIT ?");
    q.bind(1, now).bind(2, limit);
    while (q.step()) ids.push_back(q.int64(0));
  }
  delete_memory_rows(db, ids);
}

}  // namespace sqlite_store_detail

// -------------------------------------------------------------------- store

SqliteStore::SqliteStore(const StoreOptions& options)
    : options_(options),
      clock_(options.clock ? options.clock : std::make_shared<SystemClock>()),
      processes_(options.processes ? options.processes : system_process_table()),
      db_path_(prepare_dir(options)) {
  if (options_.busy_timeout_ms < 0 || options_.max_batch < 1 ||
      options_.memory_page_size < 1 ||
      options_.memory_max_page_size < options_.memory_page_size) {
    throw StoreError(ErrorCode::kInvalidArgument, "invalid store options");
  }
  sql::Connection writer = open_writer(db_path_, options_);
  migrate(writer.get());
  writer_ = std::make_unique<GroupCommitWriter>(
      std::move(writer), options_.busy_timeout_ms, options_.max_batch,
      options_.inline_writes ? GroupCommitWriter::Mode::kInline : GroupCommitWriter::Mode::kThread);
  if (options_.maintenance_on_open) open_maintenance();
}

SqliteStore::~SqliteStore() {
  writer_.reset();  // drains pending jobs before the pool goes away
}

SqliteStore::ReadConnection::~ReadConnection() {
  if (store_ == nullptr) return;  // lent, not pooled
  std::lock_guard<std::mutex> lock(store_->pool_mu_);
  if (store_->pool_.size() < kMaxIdleReaders) store_->pool_.push_back(std::move(conn_));
}

SqliteStore::ReadConnection SqliteStore::read_connection() {
  if (options_.inline_writes) {
    sqlite3* db = nullptr;
    std::unique_lock<std::mutex> lock = writer_->lend_connection(db);
    return ReadConnection(db, std::move(lock));
  }
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      sql::Connection conn = std::move(pool_.back());
      pool_.pop_back();
      return ReadConnection(this, std::move(conn));
    }
  }
  sql::Connection conn(db_path_, options_.busy_timeout_ms, options_.synchronous,
                       vfs_name(options_));
  sql::exec(conn.get(), "PRAGMA query_only=ON");
  return ReadConnection(this, std::move(conn));
}

void SqliteStore::open_maintenance() {
  writer_->submit([this](sqlite3* db) {
    const std::int64_t t = now();
    // Session rows of sessions that never ended: one SESSION_END per session.
    struct Orphans {
      std::string project;
      std::string session_id;
      std::vector<std::int64_t> ids;
    };
    std::vector<Orphans> orphans;
    {
      sql::Statement q(db,
                       "SELECT project, session_id, id FROM memory WHERE tier = 'session'"
                       " AND updated_at < ? ORDER BY project, session_id");
      q.bind(1, t - options_.memory_orphan_session_ttl_ms);
      while (q.step()) {
        std::string project = q.text(0);
        std::string session = q.text(1);
        if (orphans.empty() || orphans.back().project != project ||
            orphans.back().session_id != session) {
          orphans.push_back(Orphans{std::move(project), std::move(session), {}});
        }
        orphans.back().ids.push_back(q.int64(2));
      }
    }
    for (const Orphans& o : orphans) {
      delete_memory_rows(db, o.ids);
      const json::object payload{{"session_id", o.session_id},
                                 {"count", static_cast<std::int64_t>(o.ids.size())},
                                 {"reason", "orphaned"}};
      append_record(db, t, o.project, "keel", ops::kSessionEnd, "session:" + o.session_id,
                    json::serialize(payload));
    }
    drop_expired_memory(db, t, 100000);
    sql::Statement(db, "DELETE FROM lease_requests WHERE created_at < ?")
        .bind(1, t - kDayMs)
        .run();
    sql::Statement(db, "DELETE FROM lease_tombstones WHERE at < ?").bind(1, t - kDayMs).run();
  });
}

StoreStats SqliteStore::stats() const { return writer_->stats(); }

std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options) {
  return std::make_unique<SqliteStore>(options);
}

}  // namespace keel::state
