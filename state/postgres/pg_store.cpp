// keel/state/postgres/pg_store.cpp — opening the PostgreSQL store, its
// connection pool, the write and read paths, the LISTEN thread, and the
// helpers the pg_store_*.cpp files share.
#include "state/postgres/pg_store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include <spdlog/spdlog.h>

#include "state/journal.h"
#include "state/postgres/pg_schema.h"

namespace keel::state {
namespace json = boost::json;

namespace {

constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;
constexpr int kWriteAttempts = 4;
// Advisory-lock key of the open-time maintenance (one node at a time).
constexpr std::int64_t kMaintenanceLockKey = 0x6b65656c'6d6e74LL;  // "keelmnt"

constexpr std::string_view kNowSql =
    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

bool retryable_before_commit(const pg::PgError& e) {
  const std::string& st = e.sqlstate();
  return st == "40001" || st == "40P01" || (e.code() == ErrorCode::kBusy && st.empty()) ||
         st.rfind("08", 0) == 0 || st == "57P01";
}

}  // namespace

// ------------------------------------------------------------------ helpers

namespace pg_store_detail {

LeaseInfo read_lease(const pg::Result& r, int row, int col) {
  // kLeaseColumns lists LeaseInfo's fields in their declaration order.
  return LeaseInfo{r.text(row, col),
                   r.text(row, col + 1),
                   r.text(row, col + 2),
                   r.text(row, col + 3) == "shared" ? LeaseMode::kShared : LeaseMode::kExclusive,
                   r.int64(row, col + 4),
                   r.int64(row, col + 5),
                   r.int64(row, col + 6),
                   r.int64(row, col + 7),
                   r.int64(row, col + 8),
                   r.text(row, col + 9)};
}

}  // namespace pg_store_detail

// ------------------------------------------------------------------- Write

JournalRecord PgStore::Write::append(std::string_view principal, std::string_view op,
                                     std::string_view subject, std::string_view payload) {
  JournalRecord r;
  r.seq = head_seq + 1;
  r.prev_hash = head_hash;
  r.ts_ms = now;
  r.project = project;
  r.principal = principal;
  r.op = op;
  r.subject = subject;
  r.payload = payload;
  r.node = node;
  r.hash = journal_hash(r);
  // Deferred: it goes out with the job's next statement (at the latest the
  // batch's RELEASE SAVEPOINT or COMMIT), in that statement's round trip.
  c.defer("keel_journal_insert",
          "INSERT INTO journal(project, seq, ts, principal, op, subject, payload,"
          " prev_hash, hash, node) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
          {r.project, r.seq, r.ts_ms, r.principal, r.op, r.subject, r.payload, r.prev_hash,
           r.hash, r.node});
  head_seq = r.seq;
  head_hash = r.hash;
  head_dirty = true;
  return r;
}

std::int64_t PgStore::Write::next_token() {
  head_dirty = true;
  return token_counter++;
}

void PgStore::Write::notify(std::string channel) {
  if (std::find(notify_channels.begin(), notify_channels.end(), channel) ==
      notify_channels.end()) {
    notify_channels.push_back(std::move(channel));
  }
}

// ------------------------------------------------------------------- store

PgStore::PgStore(const StoreOptions& options)
    : options_(options),
      clock_(options.clock),
      processes_(options.processes ? options.processes : system_process_table()) {
  if (options_.url.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "no PostgreSQL URL given");
  }
  if (options_.pg_call_timeout_ms < 100 || options_.pg_pool_size < 1 ||
      options_.memory_page_size < 1 ||
      options_.memory_max_page_size < options_.memory_page_size) {
    throw StoreError(ErrorCode::kInvalidArgument, "invalid store options");
  }
  connect_.connect_timeout_ms = options_.pg_call_timeout_ms;
  connect_.statement_timeout_ms = options_.pg_call_timeout_ms;
  connect_.io_timeout_ms = options_.pg_call_timeout_ms;
  connect_.application_name = options_.node.empty() ? "keel" : "keel@" + options_.node;

  pg::Connection first = pg::Connection::open(options_.url, connect_);
  // Migration may rewrite big tables: give it longer than a call.
  first.set_deadline_ms(std::max(connect_.io_timeout_ms, 300000));
  first.exec("SET statement_timeout = 0");
  schema_versions_.found = pg_schema::migrate(first);
  schema_versions_.now = pg_schema::kVersion;
  first.exec("SET statement_timeout = " + std::to_string(connect_.statement_timeout_ms));
  first.set_deadline_ms(connect_.io_timeout_ms);
  give_back(std::move(first));

  if (options_.maintenance_on_open) open_maintenance();
  // One-shot processes (inline_writes: the hook) do not listen: a second
  // connection would cost them more than the call they serve, and their rare
  // waits still poll.
  if (!options_.inline_writes) {
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    listener_ = std::thread([this] { listen_loop(); });
  }
}

PgStore::~PgStore() {
  stopping_ = true;
  // Interrupt the listener's poll: a one-shot process (a hook, a CLI
  // command) must not wait out a poll interval on its way out.
  if (stop_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(stop_fd_, &one, sizeof one);
  }
  if (listener_.joinable()) listener_.join();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

namespace {
thread_local bool t_long_call = false;
}  // namespace

PgStore::LongCall::LongCall() : outer_(t_long_call) { t_long_call = true; }
PgStore::LongCall::~LongCall() { t_long_call = outer_; }

PgStore::Deadline PgStore::call_deadline() const {
  if (t_long_call) return Deadline::max();
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.pg_call_timeout_ms);
}

pg::Connection PgStore::borrow(Deadline deadline) {
  if (std::chrono::steady_clock::now() >= deadline) {
    throw pg::PgError(ErrorCode::kBusy,
                      "PostgreSQL: the call's time limit (" +
                          std::to_string(options_.pg_call_timeout_ms) +
                          " ms) ran out before a connection was free",
                      "");
  }
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      pg::Connection c = std::move(pool_.back());
      pool_.pop_back();
      c.set_call_deadline(deadline);
      return c;
    }
  }
  pg::ConnectOptions options = connect_;
  options.call_deadline = deadline;
  return pg::Connection::open(options_.url, options);
}

void PgStore::give_back(pg::Connection c) {
  if (!c || c.broken()) return;
  c.clear_call_deadline();
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pool_.size() < static_cast<std::size_t>(options_.pg_pool_size)) {
    pool_.push_back(std::move(c));
  }
}

std::int64_t PgStore::now(pg::Connection& c) const {
  if (clock_) return clock_->now_ms();
  return c.exec_prepared("keel_now", kNowSql, {}).int64(0, 0);
}

void PgStore::run_write(std::string_view project, const std::function<void(Write&)>& job) {
  // Group commit, leader/follower: the first writer of a project to find no
  // leader becomes it and commits every job of that project queued
  // meanwhile in one transaction (a SAVEPOINT each, so one job's error
  // undoes only that job); the others wait for their outcome. One WAL flush
  // then serves a whole batch, as the SQLite store's writer thread does.
  // A job still queued when its call timeout ran out (the batches ahead of
  // it stuck on an unreachable or paused database) gives up without trying,
  // and the batch that takes it must end by the earliest deadline of its
  // jobs: the caller gets BUSY within its call timeout, queued or not.
  PendingWrite mine{&job, nullptr, false, call_deadline()};
  const Deadline deadline = mine.deadline;
  std::unique_lock<std::mutex> lock(batch_mu_);
  ProjectQueue& q = queues_[std::string(project)];  // map nodes are stable
  q.waiting.push_back(&mine);
  while (!mine.done) {
    if (q.leader_active) {
      if (deadline == Deadline::max()) {  // a LongCall: no bound
        batch_cv_.wait(lock);
        continue;
      }
      if (batch_cv_.wait_until(lock, deadline) == std::cv_status::timeout && !mine.done) {
        const auto it = std::find(q.waiting.begin(), q.waiting.end(), &mine);
        if (it != q.waiting.end()) {  // not taken into a batch yet
          q.waiting.erase(it);
          throw StoreError(ErrorCode::kBusy,
                           "PostgreSQL did not take this write within " +
                               std::to_string(options_.pg_call_timeout_ms) +
                               " ms (the writes ahead of it are stuck); retry later");
        }
      }
      continue;
    }
    // Lead one batch. The jobs are taken from the queue only once the
    // project's head lock is held (commit_batch): while another node's
    // batch holds it, this node's callers keep queueing and all go in.
    q.leader_active = true;
    Deadline earliest = Deadline::max();
    for (const PendingWrite* p : q.waiting) earliest = std::min(earliest, p->deadline);
    lock.unlock();
    const std::vector<PendingWrite*> batch = commit_batch(project, q, earliest);
    lock.lock();
    for (PendingWrite* p : batch) p->done = true;
    q.leader_active = false;
    batch_cv_.notify_all();
  }
  lock.unlock();
  if (mine.error) std::rethrow_exception(mine.error);
}

std::vector<PgStore::PendingWrite*> PgStore::commit_batch(std::string_view project,
                                                           ProjectQueue& q, Deadline earliest) {
  // Everything — connect, statements, retries — ends by the earliest
  // deadline of the batch's jobs: a paused or unreachable database must give
  // each caller BUSY within its call timeout, not after every retry's own.
  // Until the jobs are taken, that is the earliest of the queued ones.
  Deadline deadline = earliest;
  std::vector<PendingWrite*> batch;
  bool taken = false;
  // Takes the oldest queued jobs (FIFO: the leader's own is among them or
  // behind jobs that have waited longer), once.
  auto take = [&] {
    if (taken) return;
    taken = true;
    std::lock_guard<std::mutex> lock(batch_mu_);
    // inline_writes (one-shot processes): one job per transaction, as the
    // SQLite store's inline mode.
    const int max_batch = options_.inline_writes ? 1 : std::max(1, options_.max_batch);
    std::size_t n = std::min(q.waiting.size(), static_cast<std::size_t>(max_batch));
    // A long call (compaction, import: no whole-call bound) gets a batch of
    // its own: taken in with bounded calls it would either hold them past
    // their call timeout or be cut off by theirs.
    if (n > 0) {
      const bool long_call = q.waiting.front()->deadline == Deadline::max();
      std::size_t same = 1;
      while (same < n && (q.waiting[same]->deadline == Deadline::max()) == long_call) ++same;
      n = long_call ? 1 : same;
    }
    batch.assign(q.waiting.begin(), q.waiting.begin() + static_cast<std::ptrdiff_t>(n));
    q.waiting.erase(q.waiting.begin(), q.waiting.begin() + static_cast<std::ptrdiff_t>(n));
    deadline = Deadline::max();
    for (const PendingWrite* p : batch) deadline = std::min(deadline, p->deadline);
  };
  const auto began = std::chrono::steady_clock::now();
  const std::int64_t began_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
  auto observe = [&](bool ok) {
    const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - began)
                                .count();
    if (ok) record_commit(batch.size(), ns / 1000);
    if (options_.on_commit) options_.on_commit(CommitSample{batch.size(), began_unix_ns, ns, ok});
  };
  // A job's savepoint: deferred, so that it goes out with the job's first
  // statement.
  constexpr const char* kSavepoint = "keel_savepoint";
  constexpr std::string_view kSavepointSql = "SAVEPOINT keel_job";
  // First the jobs run back to back without savepoints: what one job
  // deferred goes out with the next one's first read, so a batch costs
  // about one round trip per job. Should a job of a batch fail (rare:
  // refusals are values, not errors), nothing is committed and the batch
  // runs again with a savepoint per job, so that only that job fails.
  bool no_savepoints = true;
  struct AgainWithSavepoints {};
  using CommitPoint = StoreOptions::CommitPoint;
  auto cut_at = [&](pg::Connection& c, CommitPoint at) {
    if (options_.pg_cut_connection && options_.pg_cut_connection(at)) c.cut();
  };
  for (int attempt = 1;; ++attempt) {
    bool commit_sent = false;
    // The newest journal record the transaction appends (seq, hash): should
    // the answer to COMMIT be lost, another connection can still learn
    // whether it committed. (Not its transaction id: after a crash of the
    // server, an id that never reached its WAL is handed out again.)
    std::optional<std::pair<std::int64_t, std::string>> marker;
    std::vector<std::string> woken;  // the channels a commit notifies
    for (PendingWrite* p : batch) p->error = nullptr;
    try {
      pg::Connection c = borrow(deadline);
      try {
        {
          // BEGIN, the lock and the clock in one round trip (a pipeline).
          pg::Transaction tx(c, pg::Transaction::DeferBegin{});
          // Lock the project's chain head first: every write of the project
          // queues here, so what the jobs read below is what the previous
          // write committed, on any node. The time of the writes is taken
          // once they hold the lock (the next statement, run after it), so
          // that the project's records are in time order.
          const std::vector<pg::Param> key{project};
          constexpr std::string_view kLockHead =
              "SELECT head_seq, head_hash, next_token FROM chain_heads WHERE project = $1"
              " FOR UPDATE";
          std::vector<pg::Connection::Statement> first{{"keel_head_lock", kLockHead, key}};
          if (!clock_) first.push_back({"keel_now", kNowSql, {}});
          std::vector<pg::Result> got = c.exec_pipeline(first);
          pg::Result head = std::move(got[0]);
          if (head.rows() == 0) {
            c.exec_prepared("keel_head_create",
                            "INSERT INTO chain_heads(project, head_seq, head_hash, next_token)"
                            " VALUES($1, 0, $2, 1) ON CONFLICT (project) DO NOTHING",
                            {project, kZeroHash});
            got = c.exec_pipeline(first);
            head = std::move(got[0]);
            if (head.rows() == 0) {
              throw StoreError(ErrorCode::kInternal, "journal head of the project is missing");
            }
          }
          take();
          // The jobs taken may not be those queued when the connection was
          // borrowed: what is left of the call ends by theirs.
          c.set_call_deadline(deadline);
          if (std::chrono::steady_clock::now() >= deadline) {
            throw pg::PgError(ErrorCode::kBusy,
                              "PostgreSQL: the call's time limit (" +
                                  std::to_string(options_.pg_call_timeout_ms) +
                                  " ms) ran out while waiting for the project's journal head",
                              "");
          }
          Write w{c, std::string(project), 0, options_.node, {}, 0, {}, 1, false};
          w.head_seq = head.int64(0, 0);
          const std::int64_t head_seq_before = w.head_seq;
          w.head_hash = head.text(0, 1);
          w.token_counter = head.int64(0, 2);
          w.now = clock_ ? clock_->now_ms() : got[1].int64(0, 0);
          const bool single = batch.size() == 1;
          const bool savepoints = !single && !no_savepoints;
          for (PendingWrite* p : batch) {
            const Write::Saved before = w.save();
            if (savepoints) c.defer(kSavepoint, kSavepointSql, {});
            try {
              (*p->job)(w);
              // Sends what the job deferred, with the release.
              if (savepoints) c.exec_prepared("keel_release", "RELEASE SAVEPOINT keel_job", {});
            } catch (const pg::PgError& e) {
              // The transaction itself is in trouble (lost connection,
              // timeout, serialization): the whole batch retries or fails.
              if (single || e.code() == ErrorCode::kBusy || c.broken()) throw;
              if (!savepoints) throw AgainWithSavepoints{};
              c.exec_prepared("keel_rollback_to", "ROLLBACK TO SAVEPOINT keel_job", {});
              w.restore(before);
              p->error = std::current_exception();
            } catch (...) {
              if (single) throw;
              if (!savepoints) throw AgainWithSavepoints{};
              // What the job deferred goes out first (its savepoint among
              // it); an error of those writes is undone with the job.
              try {
                c.flush();
              } catch (const pg::PgError& e) {
                if (e.code() == ErrorCode::kBusy || c.broken()) throw;
              }
              c.exec_prepared("keel_rollback_to", "ROLLBACK TO SAVEPOINT keel_job", {});
              w.restore(before);
              p->error = std::current_exception();
            }
          }
          // The head, the notifications and COMMIT: one round trip.
          if (w.head_dirty) {
            c.defer("keel_head_update",
                    "UPDATE chain_heads SET head_seq = $2, head_hash = $3, next_token = $4"
                    " WHERE project = $1",
                    {w.project, w.head_seq, w.head_hash, w.token_counter});
          }
          for (const std::string& channel : w.notify_channels) {
            c.defer("keel_notify", "SELECT pg_notify($1, $2)", {channel, w.project});
          }
          woken = w.notify_channels;
          if (w.head_seq > head_seq_before) marker.emplace(w.head_seq, w.head_hash);
          cut_at(c, CommitPoint::kBeforeCommit);
          commit_sent = true;
          tx.commit();
          if (options_.pg_cut_connection) {
            cut_at(c, CommitPoint::kAfterCommit);
            if (c.broken()) {
              throw pg::PgError(ErrorCode::kBusy,
                                "PostgreSQL: the connection was cut after COMMIT (test fault)", "");
            }
          }
          for (const std::string& channel : woken) wake(channel);
        }
        give_back(std::move(c));
        observe(true);
        return batch;
      } catch (...) {
        give_back(std::move(c));
        throw;
      }
    } catch (const AgainWithSavepoints&) {
      no_savepoints = false;
      --attempt;  // not a retry: the database is fine
      continue;
    } catch (const pg::PgError& e) {
      // Without savepoints, an error the server reported (so the COMMIT
      // after it did not run) may be one job's last deferred write, sent
      // with the COMMIT: run the batch again with savepoints.
      if (no_savepoints && batch.size() > 1 && !e.sqlstate().empty() &&
          e.code() != ErrorCode::kBusy) {
        no_savepoints = false;
        --attempt;
        continue;
      }
      // A failure before COMMIT was sent rolled everything back: the jobs can
      // run again. After COMMIT was sent on a connection that then broke, the
      // database is asked what became of the transaction: committed, the
      // batch is done (each job's own result stands); rolled back, it is as
      // if COMMIT had never been sent. Only when it cannot say in time is the
      // outcome unknown: said so, rather than risk doing a change twice.
      // The session is gone when there is no answer (a broken or timed-out
      // connection) or the server ended it (08: connection exception; 57P:
      // shut down, restarting, ...).
      const std::string& state = e.sqlstate();
      const bool session_gone = (e.code() == ErrorCode::kBusy && state.empty()) ||
                                state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0;
      const bool lost_answer = commit_sent && session_gone;
      CommitFate fate = CommitFate::kUnknown;
      if (lost_answer && marker) {
        fate = commit_fate(project, marker->first, marker->second, deadline);
        if (fate == CommitFate::kCommitted) {
          for (const std::string& channel : woken) wake(channel);
          take();
          observe(true);
          return batch;
        }
        if (fate == CommitFate::kAborted) commit_sent = false;
      }
      const auto backoff = std::chrono::milliseconds(10 * attempt * attempt);
      const bool retry = !commit_sent && attempt < kWriteAttempts && retryable_before_commit(e) &&
                         std::chrono::steady_clock::now() + backoff < deadline;
      if (retry) {
        std::this_thread::sleep_for(backoff);
        continue;
      }
      std::exception_ptr err = std::current_exception();
      if (lost_answer && fate == CommitFate::kUnknown) {
        err = std::make_exception_ptr(StoreError(
            ErrorCode::kBusy,
            std::string(e.what()) +
                " (the connection broke during COMMIT and the database could not be asked in "
                "time: the change may or may not have been made)",
            /*outcome_unknown=*/true));
      }
      take();
      for (PendingWrite* p : batch) p->error = err;
      observe(false);
      return batch;
    } catch (...) {
      const std::exception_ptr err = std::current_exception();
      take();
      for (PendingWrite* p : batch) p->error = err;
      observe(false);
      return batch;
    }
  }
}

PgStore::CommitFate PgStore::commit_fate(std::string_view project, std::int64_t seq,
                                         const std::string& hash, Deadline deadline) {
  for (int attempt = 1;; ++attempt) {
    try {
      pg::Connection c = borrow(deadline);
      // A transaction still running (its backend has not yet seen its client
      // go) holds the project's head row until it ends: wait it out, then
      // look for its newest record with a fresh snapshot.
      c.exec_prepared("keel_fate_wait", "SELECT 1 FROM chain_heads WHERE project = $1 FOR SHARE",
                      {project});
      const pg::Result r =
          c.exec_prepared("keel_fate_record",
                          "SELECT count(*) FROM journal WHERE project = $1 AND seq = $2 AND hash = $3",
                          {project, seq, hash});
      give_back(std::move(c));
      return r.int64(0, 0) > 0 ? CommitFate::kCommitted : CommitFate::kAborted;
    } catch (const StoreError& e) {
      spdlog::debug("PostgreSQL: asking whether a lost COMMIT landed: {}", e.what());
    }
    const auto pause = std::chrono::milliseconds(std::min(5 * attempt, 100));
    if (std::chrono::steady_clock::now() + pause >= deadline) return CommitFate::kUnknown;
    std::this_thread::sleep_for(pause);
  }
}

void PgStore::record_commit(std::size_t jobs, std::int64_t micros) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  record_commit_stats(stats_, jobs, micros);
}

void PgStore::run_read(const std::function<void(pg::Connection&)>& job, bool snapshot) {
  const Deadline deadline = call_deadline();
  for (int attempt = 1;; ++attempt) {
    try {
      pg::Connection c = borrow(deadline);
      try {
        if (snapshot) {
          pg::Transaction tx(c, "REPEATABLE READ READ ONLY");
          job(c);
          tx.commit();
        } else {
          job(c);
        }
      } catch (...) {
        give_back(std::move(c));
        throw;
      }
      give_back(std::move(c));
      return;
    } catch (const pg::PgError& e) {
      // Once, and only when time is left (a connection the server dropped
      // at restart fails at once; a paused server takes the whole timeout).
      if (attempt >= 2 || e.code() != ErrorCode::kBusy ||
          std::chrono::steady_clock::now() >= deadline) {
        throw;
      }
    }
  }
}

void PgStore::wake(std::string_view channel) {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    if (channel == "keel_lease") ++lease_epoch_;
    if (channel == "keel_escalation") ++escalation_epoch_;
  }
  if (channel == kMemoryChannel) {
    // Memory waiters have a condition variable of their own: memory writes
    // are frequent, and lease or escalation waiters need not look again
    // after each.
    {
      std::lock_guard<std::mutex> lock(memory_mu_);
      ++memory_epoch_;
    }
    memory_cv_.notify_all();
    return;
  }
  wake_cv_.notify_all();
}

void PgStore::listen_loop() {
  pg::Connection c;
  while (!stopping_) {
    try {
      if (!c || c.broken()) {
        c = pg::Connection::open(options_.url, connect_);
        c.exec("LISTEN keel_lease; LISTEN keel_escalation; LISTEN " +
               std::string(kMemoryChannel));
        // Whatever was notified while we were not listening is lost: let
        // every waiter look again.
        wake("keel_lease");
        wake("keel_escalation");
        wake(kMemoryChannel);
      }
      if (c.wait_for_notification(1000, stop_fd_)) {
        for (const pg::Notification& n : c.take_notifications()) wake(n.channel);
      }
    } catch (const std::exception& e) {
      spdlog::debug("PostgreSQL listener: {} (retrying; waits poll meanwhile)", e.what());
      c = pg::Connection();
      pollfd p{stop_fd_, POLLIN, 0};
      ::poll(&p, stop_fd_ >= 0 ? 1 : 0, 500);
    }
  }
}

void PgStore::open_maintenance() {
  try {
    // Sessions that never ended, expired memory, old idempotency and
    // tombstone rows. Any node may do it; one at a time is enough.
    const auto orphans = read([&](pg::Connection& c) {
      std::map<std::pair<std::string, std::string>, std::vector<std::int64_t>> out;
      const pg::Result lock =
          c.exec("SELECT pg_try_advisory_lock(" + std::to_string(kMaintenanceLockKey) + ")");
      if (!lock.boolean(0, 0)) return out;
      try {
        const std::int64_t t = now(c);
        const pg::Result q = c.exec(
            "SELECT project, session_id, id FROM memory WHERE tier = 'session'"
            " AND updated_at < $1 ORDER BY project, session_id",
            {t - options_.memory_orphan_session_ttl_ms});
        for (int i = 0; i < q.rows(); ++i) {
          out[{q.text(i, 0), q.text(i, 1)}].push_back(q.int64(i, 2));
        }
        pg_store_detail::drop_expired_memory(c, t, 100000);
        c.exec("DELETE FROM lease_requests WHERE created_at < $1", {t - kDayMs});
        c.exec("DELETE FROM lease_tombstones WHERE at < $1", {t - kDayMs});
      } catch (...) {
        c.exec("SELECT pg_advisory_unlock(" + std::to_string(kMaintenanceLockKey) + ")");
        throw;
      }
      c.exec("SELECT pg_advisory_unlock(" + std::to_string(kMaintenanceLockKey) + ")");
      return out;
    });
    for (const auto& [key, ids] : orphans) {
      const auto& [project, session] = key;
      write(project, [&](Write& w) {
        // Re-checked under the lock: the session may have written since.
        const pg::Result del = w.c.exec(
            "DELETE FROM memory WHERE id = ANY($1::bigint[]) AND tier = 'session'"
            " AND updated_at < $2",
            {pg_array(ids), w.now - options_.memory_orphan_session_ttl_ms});
        if (del.affected() == 0) return;
        w.notify(kMemoryChannel);
        const json::object payload{{"session_id", session},
                                   {"count", del.affected()},
                                   {"reason", "orphaned"}};
        w.append("keel", ops::kSessionEnd, "session:" + session, json::serialize(payload));
      });
    }
  } catch (const StoreError& e) {
    // Maintenance is housekeeping: a failure must not stop the store from
    // opening (the next opener tries again).
    spdlog::warn("PostgreSQL store maintenance skipped: {}", e.what());
  }
}

std::string PgStore::pg_array(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

StoreStats PgStore::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

std::unique_ptr<Store> open_postgres_store(const StoreOptions& options) {
  return std::make_unique<PgStore>(options);
}

}  // namespace keel::state
