// keel/state/group_commit_writer.h — the single writer of one Store.
//
// A GroupCommitWriter owns the store's write connection and one thread. Jobs
// submitted from any thread queue up; the thread takes up to max_batch of
// them, opens one transaction (BEGIN IMMEDIATE, so the write lock is taken up
// front and read-check-write sequences cannot interleave with another
// process), runs each job inside its own SAVEPOINT (a batch of one needs
// none) and commits once. One fsync therefore covers the whole batch (group
// commit). A submitter that finds the queue empty and no batch open runs its
// job as a batch of one on its own thread instead: a lone caller then pays no
// hand-off to the writer thread and back.
//
// Invariants:
//   * submit() returns only after the transaction carrying the job committed
//     (durably, per the connection's synchronous setting), or throws.
//   * A job that throws is rolled back to its savepoint; its exception is
//     rethrown from its submit() after the batch commits; the other jobs of
//     the batch are unaffected.
//   * When the batch cannot begin (SQLITE_BUSY past busy_timeout) or cannot
//     commit, no job of the batch has any effect and every submit() throws,
//     not even after a crash: when COMMIT fails with an I/O error (e.g. its
//     fsync), the writer at once commits an empty change over the frames it
//     may have left in the WAL (discard_failed_commit), so that WAL recovery
//     cannot replay them. If that write fails too, every submit()'s message
//     says the outcome is open.
//   * Jobs run one at a time, in submission order, so a job sees the effects
//     of the jobs before it in its batch. At most one batch is open at any
//     time (batch_open_), so the connection is used by one thread at a time.
//
// Thread safety: submit() and stats() may be called from any thread, but
// never from inside a job (that would deadlock). Destruction drains the
// queue, then joins the thread; submit() after shutdown has begun throws
// StoreError(kInternal).
//
// Mode::kInline (for short-lived single-purpose processes such as `keel hook`,
// where a thread and its malloc arena cost more than the write itself): no
// thread; submit() runs the job on the calling thread in its own transaction,
// one caller at a time, and the connection can be lent for reads
// (lend_connection). The invariants above hold with batches of one.
// Closing an inline writer that committed syncs the WAL first, so that what
// it committed under synchronous=NORMAL is durable at exit even when another
// process has the database open (then no checkpoint runs on close). A WAL
// of fewer than kSmallWalPages is then left in place instead of
// checkpointed and deleted: that checkpoint cost three fsyncs and two
// unlinks per hook run, and the next process rebuilds the index of a WAL
// that small in far less (measured in bench/README.md). Past it, closing
// checkpoints as SQLite does, so the next process never reads a long WAL.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "state/store_options.h"

#include <sqlite3.h>

#include "state/sqlite_util.h"
#include "state/store.h"

namespace keel::state {

class GroupCommitWriter {
 public:
  using Job = std::function<void(sqlite3*)>;
  enum class Mode { kGroup, kInline };

  // Takes ownership of `connection`. busy_timeout_ms bounds how long a batch
  // waits for the write lock; max_batch (≥ 1) bounds the jobs per commit.
  // on_commit (may be empty) is called on the committing thread after every
  // batch, committed or failed (StoreOptions::on_commit).
  GroupCommitWriter(sql::Connection connection, int busy_timeout_ms, int max_batch,
                    Mode mode = Mode::kGroup,
                    std::function<void(const CommitSample&)> on_commit = {});

  // kInline: the WAL size (pages) past which a commit checkpoints (SQLite's
  // autocheckpoint default, which the inline writer's WAL hook replaces).
  static constexpr int kCheckpointPages = 1000;
  // kInline: the largest WAL (pages) left behind on close.
  static constexpr int kSmallWalPages = 64;
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Runs `job` in a write transaction and returns once it committed;
  // rethrows whatever the job threw.
  void submit(Job job);

  StoreStats stats() const;

  // Submissions waiting for the writer thread (not counting a batch being
  // run). For diagnostics and tests.
  std::size_t queued() const;

  // kInline only: lends the write connection for reads. No write and no other
  // read runs on it until the returned lock is released; the holder must not
  // submit() meanwhile (that would deadlock).
  std::unique_lock<std::mutex> lend_connection(sqlite3*& db);

 private:
  // One submission, on its submitter's stack until its batch is over.
  struct Pending {
    explicit Pending(Job j) : job(std::move(j)) {}
    Job job;
    std::exception_ptr error;  // set by whoever ran the batch, before `done`
    std::promise<void> done;   // kGroup: set by the writer thread after the batch
  };

  void run();
  static int on_inline_wal_commit(void* self, sqlite3* db, const char* name, int pages);
  // Runs the batch in one transaction; sets each job's `error`. Called by one
  // thread at a time (whoever set batch_open_, or the inline caller).
  void run_batch(const std::vector<Pending*>& batch);
  void begin_immediate();
  // After a batch failed past BEGIN: commits an empty change so that frames
  // the failed COMMIT left in the WAL can never be recovered. Returns "" on
  // success, else why it failed.
  std::string discard_failed_commit();
  void record_batch(std::size_t size, std::chrono::steady_clock::time_point began,
                    std::int64_t began_unix_ns, bool ok);

  sql::Connection connection_;
  const int busy_timeout_ms_;
  const std::size_t max_batch_;
  const Mode mode_;

  std::mutex inline_mu_;  // kInline: held by the one submit() running
  mutable std::mutex mu_;
  std::condition_variable cv_;  // wakes the writer thread
  std::deque<Pending*> queue_;  // guarded by mu_
  bool batch_open_ = false;     // guarded by mu_: a thread is running a batch
  bool stopping_ = false;       // guarded by mu_

  mutable std::mutex stats_mu_;
  StoreStats stats_;  // guarded by stats_mu_
  const std::function<void(const CommitSample&)> on_commit_;

  int inline_wal_pages_ = -1;         // kInline: after the last commit; -1 unknown
  bool inline_committed_ = false;     // kInline: a commit went into the WAL

  std::thread thread_;  // kGroup only; last: starts after everything above is ready
};

}  // namespace keel::state
