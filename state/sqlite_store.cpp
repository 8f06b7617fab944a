// keel/state/sqlite_store.cpp — opening the SQLite store, the read pool and
// the helpers the per-primitive files share.
#include "state/sqlite_store.h"

#include <chrono>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "state/fault_vfs.h"
#include "state/journal.h"
#include "state/schema.h"
#include "state/wal_write_buffer.h"

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
  // synchronous=FULL syncs the WAL at every commit, which is when the
  // write buffer hands the commit's frames to the file (wal_write_buffer.h).
  const bool buffer_wal = options.synchronous == Synchronous::kFull;
  sql::Connection conn(path, options.busy_timeout_ms, options.synchronous,
                       buffer_wal ? wal_write_buffer_vfs(vfs_name(options)) : vfs_name(options));
  // Switching a new database to WAL needs an exclusive lock, and SQLite
  // answers BUSY at once (no busy handler: deadlock avoidance) while another
  // process holds it, e.g. migrating the same fresh store. Retry within the
  // busy timeout, as every other lock wait does.
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.busy_timeout_ms);
  for (;;) {
    try {
      sql::Statement q(conn.get(), "PRAGMA journal_mode=WAL");
      if (!q.step() || q.text(0) != "wal") {
        throw StoreError(ErrorCode::kInternal, "cannot put " + path.string() + " in WAL mode");
      }
      q.reset();
      if (buffer_wal) {
        // The WAL file opens with the first read transaction.
        sql::Statement read(conn.get(), "SELECT count(*) FROM sqlite_schema");
        read.step();
        read.reset();
        if (!enable_wal_write_buffer(conn.get())) {
          throw StoreError(ErrorCode::kInternal, "cannot buffer the WAL of " + path.string());
        }
      }
      return conn;
    } catch (const StoreError& e) {
      if (e.code() != ErrorCode::kBusy || std::chrono::steady_clock::now() >= until) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

}  // namespace

// ------------------------------------------------------------------ helpers

namespace sqlite_store_detail {

namespace {
struct NodeEntry {
  const void* owner = nullptr;
  std::string node;
};
std::mutex g_nodes_mu;
std::unordered_map<sqlite3*, NodeEntry>& nodes() {  // guarded by g_nodes_mu
  static std::unordered_map<sqlite3*, NodeEntry> map;
  return map;
}
std::string node_of(sqlite3* db) {
  std::lock_guard<std::mutex> lock(g_nodes_mu);
  const auto it = nodes().find(db);
  return it == nodes().end() ? std::string() : it->second.node;
}
}  // namespace

void register_connection_node(sqlite3* db, const void* owner, std::string node) {
  std::lock_guard<std::mutex> lock(g_nodes_mu);
  nodes()[db] = NodeEntry{owner, std::move(node)};
}

void forget_connection_node(sqlite3* db, const void* owner) {
  std::lock_guard<std::mutex> lock(g_nodes_mu);
  const auto it = nodes().find(db);
  if (it != nodes().end() && it->second.owner == owner) nodes().erase(it);
}

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
  r.node = node_of(db);
  r.hash = journal_hash(r.prev_hash, r.seq, r.ts_ms, r.project, r.principal, r.op, r.subject,
                        r.payload, r.node);
  sql::Statement(db,
                 "INSERT INTO journal(seq, ts, project, principal, op, subject, payload,"
                 " prev_hash, hash, node) VALUES(?,?,?,?,?,?,?,?,?,?)")
      .bind_all(r.seq, r.ts_ms, r.project, r.principal, r.op, r.subject, r.payload, r.prev_hash,
                r.hash, r.node)
      .run();
  sql::Statement(db, "UPDATE meta SET value=? WHERE key='journal_head_seq'").bind(1, r.seq).run();
  sql::Statement(db, "UPDATE meta SET value=? WHERE key='journal_head_hash'")
      .bind(1, r.hash)
      .run();
  return r;
}

LeaseInfo read_lease(const sql::Statement& q) {
  // kLeaseColumns lists LeaseInfo's fields in their declaration order.
  return LeaseInfo{q.text(0),  q.text(1),  q.text(2),
                   q.text(3) == "shared" ? LeaseMode::kShared : LeaseMode::kExclusive,
                   q.int64(4), q.int64(5), q.int64(6), q.int64(7), q.int64(8), q.text(9)};
}

JournalRecord read_record(const sql::Statement& q) {
  // kRecordColumns lists JournalRecord's fields in their declaration order.
  return JournalRecord{q.int64(0), q.int64(1), q.text(2), q.text(3), q.text(4),
                       q.text(5),  q.text(6),  q.text(7), q.text(8), q.text(9)};
}

void tombstone_lease(sqlite3* db, std::string_view project, const LeaseInfo& lease,
                     std::string_view outcome, std::int64_t now) {
  sql::Statement(db, "DELETE FROM leases WHERE lease_id = ?").bind(1, lease.lease_id).run();
  sql::Statement(db,
                 "INSERT OR REPLACE INTO lease_tombstones(lease_id, project, name, outcome, at)"
                 " VALUES(?,?,?,?,?)")
      .bind_all(lease.lease_id, project, lease.name, outcome, now)
      .run();
}

void expire_lease(sqlite3* db, std::string_view project, const LeaseInfo& lease,
                  std::int64_t now) {
  tombstone_lease(db, project, lease, "expired", now);
  const json::object payload{{"lease_id", lease.lease_id},
                             {"name", lease.name},
                             {"holder", lease.holder},
                             {"token", lease.token},
                             {"expires_at", lease.expires_at_ms}};
  append_record(db, now, project, lease.holder, ops::kExpire, lease.name,
                json::serialize(payload));
}

int reap_expired_leases(sqlite3* db, std::string_view project, std::int64_t now) {
  const std::string columns = "SELECT " + std::string(kLeaseColumns) + ", project FROM leases";
  sql::Statement q(db, columns + (project.empty() ? " WHERE expires_at <= ?1"
                                                  : " WHERE project = ?2 AND expires_at <= ?1"));
  q.bind(1, now);
  if (!project.empty()) q.bind(2, project);
  const auto expired = q.all([](const sql::Statement& row) {
    return std::pair<std::string, LeaseInfo>(row.text(kLeaseColumnCount), read_lease(row));
  });
  for (const auto& [lease_project, lease] : expired) expire_lease(db, lease_project, lease, now);
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
    q.bind_all(now, limit);
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
  schema_found_ = migrate(writer.get());
  writer_db_ = writer.get();
  register_connection_node(writer_db_, this, options_.node);
  writer_ = std::make_unique<GroupCommitWriter>(
      std::move(writer), options_.busy_timeout_ms, options_.max_batch,
      options_.inline_writes ? GroupCommitWriter::Mode::kInline : GroupCommitWriter::Mode::kGroup,
      options_.on_commit);
  if (options_.maintenance_on_open) {
    try {
      open_maintenance();
    } catch (...) {
      writer_.reset();
      forget_connection_node(writer_db_, this);
      throw;
    }
  }
}

SqliteStore::~SqliteStore() {
  writer_.reset();  // drains pending jobs before the pool goes away
  forget_connection_node(writer_db_, this);
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
  bool orphans_deleted = false;
  writer_->submit([this, &orphans_deleted](sqlite3* db) {
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
  // Waiters on the deleted entries (memory_wait on a key) see them gone.
  if (orphans_deleted) notify_memory_change();
}

StoreStats SqliteStore::stats() const { return writer_->stats(); }

std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options) {
  return std::make_unique<SqliteStore>(options);
}

}  // namespace keel::state
