// keel/state/group_commit_writer.cpp
#include "state/group_commit_writer.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "state/clock.h"

namespace keel::state {

GroupCommitWriter::GroupCommitWriter(sql::Connection connection, int busy_timeout_ms,
                                     int max_batch, Mode mode,
                                     std::function<void(const CommitSample&)> on_commit)
    : connection_(std::move(connection)),
      busy_timeout_ms_(busy_timeout_ms),
      max_batch_(static_cast<std::size_t>(std::max(1, max_batch))),
      mode_(mode),
      on_commit_(std::move(on_commit)) {
  if (mode_ == Mode::kInline) {
    sqlite3_wal_hook(connection_.get(), &GroupCommitWriter::on_inline_wal_commit, this);
  }
  if (mode_ == Mode::kGroup) thread_ = std::thread([this] { run(); });
}

GroupCommitWriter::~GroupCommitWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> wait_for_inline(inline_mu_);
  if (mode_ == Mode::kInline && inline_committed_) {
    // Commits under synchronous=NORMAL (the hook's) are durable only once
    // the WAL is synced, which the checkpoint on close used to do; and no
    // checkpoint runs on close while another process has the database open.
    // So sync the WAL here, whatever its size (one fsync; nothing to write
    // under FULL). A small WAL is then left for the next process instead of
    // checkpointed and deleted (two fsyncs and two unlinks saved); a big one
    // is checkpointed on close as SQLite would. Should the sync fail, close
    // as SQLite would.
    sqlite3_file* wal = nullptr;
    const bool synced =
        sqlite3_file_control(connection_.get(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) ==
            SQLITE_OK &&
        wal != nullptr && wal->pMethods != nullptr &&
        wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) == SQLITE_OK;
    if (synced && inline_wal_pages_ >= 0 && inline_wal_pages_ < kSmallWalPages) {
      sqlite3_db_config(connection_.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    }
  }
}

int GroupCommitWriter::on_inline_wal_commit(void* self, sqlite3* db, const char* name,
                                            int pages) {
  auto* writer = static_cast<GroupCommitWriter*>(self);
  writer->inline_wal_pages_ = pages;
  writer->inline_committed_ = true;
  // This hook replaces SQLite's autocheckpoint; do what it did.
  if (pages >= kCheckpointPages) {
    if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) ==
        SQLITE_OK) {
      writer->inline_wal_pages_ = -1;  // unknown: let the close checkpoint decide
    }
  }
  return SQLITE_OK;
}

void GroupCommitWriter::submit(Job job) {
  Pending me(std::move(job));
  if (mode_ == Mode::kInline) {
    std::lock_guard<std::mutex> one_at_a_time(inline_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) throw StoreError(ErrorCode::kInternal, "store is closed");
    }
    run_batch({&me});
    if (me.error) std::rethrow_exception(me.error);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) throw StoreError(ErrorCode::kInternal, "store is closed");
  if (!batch_open_ && queue_.empty()) {
    // Nothing to group with: commit on this thread, sparing the hand-off to
    // the writer thread and back (two wake-ups) that a lone caller would pay.
    batch_open_ = true;
    lock.unlock();
    run_batch({&me});
    lock.lock();
    batch_open_ = false;
    const bool wake_writer = !queue_.empty() || stopping_;
    lock.unlock();
    if (wake_writer) cv_.notify_one();
  } else {
    std::future<void> done = me.done.get_future();
    queue_.push_back(&me);
    lock.unlock();
    cv_.notify_one();
    done.wait();
  }
  if (me.error) std::rethrow_exception(me.error);
}

std::unique_lock<std::mutex> GroupCommitWriter::lend_connection(sqlite3*& db) {
  if (mode_ != Mode::kInline) {
    throw StoreError(ErrorCode::kInternal, "lend_connection needs an inline writer");
  }
  std::unique_lock<std::mutex> lock(inline_mu_);
  db = connection_.get();
  return lock;
}

StoreStats GroupCommitWriter::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

std::size_t GroupCommitWriter::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void GroupCommitWriter::run() {
  std::vector<Pending*> batch;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // A caller may be running its own batch of one (submit): wait for it.
    cv_.wait(lock, [this] { return !batch_open_ && (stopping_ || !queue_.empty()); });
    if (queue_.empty()) return;  // stopping and drained
    const std::size_t n = std::min(max_batch_, queue_.size());
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    batch_open_ = true;
    lock.unlock();
    run_batch(batch);
    // Once its promise is set, a submitter returns and *p is gone. The batch
    // stays open until every submitter is woken: those that submit again
    // meanwhile queue up for the next batch instead of committing alone.
    for (Pending* p : batch) p->done.set_value();
    batch.clear();
    lock.lock();
    batch_open_ = false;
  }
}

void GroupCommitWriter::begin_immediate() {
  sqlite3* db = connection_.get();
  const WaitDeadline deadline(busy_timeout_ms_);
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    const int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    const int primary = rc & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) || deadline.passed()) {
      sql::fail(db, rc, "BEGIN IMMEDIATE");
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

void GroupCommitWriter::run_batch(const std::vector<Pending*>& batch) {
  sqlite3* db = connection_.get();
  const auto began = std::chrono::steady_clock::now();
  const std::int64_t began_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
  auto fail_all = [&](std::exception_ptr error) {
    record_batch(batch.size(), began, began_unix_ns, false);
    for (Pending* p : batch) p->error = error;
  };

  try {
    begin_immediate();
  } catch (...) {
    fail_all(std::current_exception());
    return;
  }

  try {
    if (batch.size() == 1) {
      // A batch of one needs no savepoint: should its job throw, rolling
      // the whole transaction back has the same effect.
      try {
        batch[0]->job(db);
      } catch (...) {
        if (sqlite3_get_autocommit(db)) throw;  // SQLite rolled it back itself
        batch[0]->error = std::current_exception();
        sql::exec(db, "ROLLBACK");
        record_batch(batch.size(), began, began_unix_ns, true);
        return;
      }
    } else {
      for (Pending* p : batch) {
        sql::Statement(db, "SAVEPOINT j").run();
        try {
          p->job(db);
          sql::Statement(db, "RELEASE j").run();
        } catch (...) {
          p->error = std::current_exception();
          if (sqlite3_get_autocommit(db)) {
            // SQLite rolled the whole transaction back (I/O error, disk full):
            // the earlier jobs of the batch are gone too.
            throw;
          }
          sql::Statement(db, "ROLLBACK TO j").run();
          sql::Statement(db, "RELEASE j").run();
        }
      }
    }
    sql::Statement(db, "COMMIT").run();
  } catch (...) {
    std::exception_ptr error = std::current_exception();
    if (!sqlite3_get_autocommit(db)) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    // Only an I/O failure can have left frames behind (a busy lock writes none).
    bool busy = false;
    try {
      std::rethrow_exception(error);
    } catch (const StoreError& e) {
      busy = e.code() == ErrorCode::kBusy;
    } catch (...) {
    }
    if (const std::string failed = busy ? std::string() : discard_failed_commit();
        !failed.empty()) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        error = std::make_exception_ptr(StoreError(
            ErrorCode::kInternal,
            std::string(e.what()) + "; discarding its traces in the WAL failed too (" + failed +
                "): the call may yet take effect if the process dies before the next commit"));
      } catch (...) {
      }
    }
    fail_all(error);
    return;
  }

  record_batch(batch.size(), began, began_unix_ns, true);
}

std::string GroupCommitWriter::discard_failed_commit() {
  sqlite3* db = connection_.get();
  // A COMMIT whose WAL fsync failed has written every frame of the batch,
  // commit mark included, and SQLite only forgot them in memory: a process
  // that dies now leaves them to WAL recovery, which would bring the batch
  // back although every submit() reported failure. The next commit writes its
  // frames from where the failed one started, and recovery stops at the first
  // frame whose checksum chain breaks, so commit a transaction that changes
  // nothing but rewrites one page (setting user_version to its own value
  // dirties the database header). Best effort: the disk may still be failing.
  try {
    begin_immediate();
    std::int64_t version = 0;
    {
      sql::Statement q(db, "PRAGMA user_version");
      if (q.step()) version = q.int64(0);
    }
    sql::exec(db, "PRAGMA user_version=" + std::to_string(version));
    sql::exec(db, "COMMIT");
    return {};
  } catch (const std::exception& e) {
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return e.what();
  }
}

void GroupCommitWriter::record_batch(std::size_t size, std::chrono::steady_clock::time_point began,
                                     std::int64_t began_unix_ns, bool ok) {
  const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now() - began)
                              .count();
  if (ok) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    record_commit_stats(stats_, size, ns / 1000);
  }
  if (on_commit_) on_commit_(CommitSample{size, began_unix_ns, ns, ok});
}

}  // namespace keel::state
