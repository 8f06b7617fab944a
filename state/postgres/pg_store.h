// keel/state/postgres/pg_store.h — the PostgreSQL backend of Store, for fleets
// whose keel processes run on several machines against one database.
//
// Layout: the tables of schema version N (pg_schema.cpp) in the schema the URL
// selects (search_path; default "public"). Each project has one hash chain:
// journal rows are keyed (project, seq), and the chain's head, with the
// project's fencing-token counter, lives in one row of `chain_heads`.
//
// Invariants (the promises of state/store.h, across processes and machines):
//   * Every write is one transaction that first locks its project's
//     chain_heads row (SELECT ... FOR UPDATE). Every state change journals, so
//     all writes of a project are serialised by that lock: what a write reads
//     after taking it is what the last committed write left, on any node, and
//     the chain can neither fork nor leave a gap.
//   * Fencing tokens come from chain_heads.next_token under that lock, so they
//     strictly increase across nodes and restarts.
//   * `now` is the database's clock (clock_timestamp(), read after the lock),
//     unless StoreOptions::clock was given explicitly (tests).
//   * A change that may end a wait (a lease released, expired or
//     downgraded, a lease queue row gone, an escalation resolved, any memory
//     write: put, delete, take, txn, end_session, an orphaned session dropped
//     at open) NOTIFYs `keel_lease` / `keel_escalation` / `keel_memory` with
//     the project as payload, in its transaction (delivered at commit). Every
//     store keeps one LISTEN connection and wakes its waiters; waits also
//     poll, so a lost notification only delays them.
//   * Writes of a project queue per node and commit in batches (run_write:
//     a leader takes the queued jobs once it holds the head lock, so that a
//     node's callers that queued while another node committed go in too).
//     The project's commits are serial across nodes and each waits for its
//     WAL flush, so a batch keeps its round trips few: statements whose rows
//     nobody reads are deferred (pg::Connection::defer) and go out with the
//     next one in a libpq pipeline, and a batch's jobs run without
//     savepoints — about one round trip per job, plus one for BEGIN + lock +
//     clock and one for head update + NOTIFY + COMMIT. If one of them fails,
//     the batch runs again with a savepoint per job (only that job fails).
//   * No reads or waits inside a write transaction; waits hold no connection.
//   * A lost connection is dropped from the pool; the call fails with kBusy
//     within StoreOptions::pg_call_timeout_ms and the next call reconnects.
//
// Thread safety: as Store.
// Files: pg_store.cpp (open, pool, listener, the helpers below),
// pg_schema.cpp (tables, migrations), pg_store_{leases,memory,journal,
// escalation,agents}.cpp (one primitive each); leases also
// pg_store_leases_wait.cpp (the waiting acquire), pg_store_lease_team.cpp
// (groups, downgrade, board, release asks; schema v2) and
// pg_store_lease_queue.cpp (the queue, capacity and ask rows).
#pragma once

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "state/postgres/pg_util.h"
#include "state/store.h"
#include "state/store_common.h"
#include "state/store_copy.h"

namespace keel::state {

class LeaseName;  // state/lease_name.h
namespace memory_rules {
struct Slot;  // state/memory_rules.h
}

class PgStore final : public Store, public StoreImaging {
 public:
  // Connects, creates or migrates the schema (pg_schema.cpp), starts the
  // listener. Throws StoreError with a one-line message (no password) when
  // the URL is wrong or the server unreachable.
  explicit PgStore(const StoreOptions& options);
  ~PgStore() override;

  AcquireResult acquire_lease(const Principal& who, const AcquireRequest& request,
                              const CancelCheck& cancelled) override;
  LeaseInfo renew_lease(const Principal& who, std::string_view name,
                        std::string_view lease_id) override;
  ReleaseOutcome release_lease(const Principal& who, std::string_view name,
                               std::string_view lease_id, bool force) override;
  std::vector<LeaseInfo> list_leases(const Principal& who, std::string_view prefix) override;
  std::vector<LeaseInfo> release_group(const Principal& who, std::string_view group_id,
                                       bool force) override;
  LeaseInfo downgrade_lease(const Principal& who, std::string_view name,
                            std::string_view lease_id) override;
  LeaseBoard lease_board(const Principal& who, std::string_view prefix) override;
  std::vector<ReleaseAsk> ask_release(const Principal& who, std::string_view name,
                                      std::string_view reason) override;
  std::vector<ReleaseAsk> take_release_asks(const Principal& who) override;

  PutResult memory_put(const Principal& who, const PutRequest& r) override;
  GetResult memory_get(const Principal& who, Tier tier, Namespace ns,
                       std::string_view key) override;
  bool memory_delete(const Principal& who, const DeleteRequest& r) override;
  ListResult memory_list(const Principal& who, const ListRequest& r) override;
  std::vector<SearchHit> memory_search(const Principal& who, const SearchRequest& r) override;
  void end_session(const Principal& who) override;
  // Tuple space: pg_store_memory_take.cpp, pg_store_memory_txn.cpp
  TakeResult memory_take(const Principal& who, const TakeRequest& r,
                         const CancelCheck& cancelled) override;
  WaitResult memory_wait(const Principal& who, const WaitRequest& r,
                         const CancelCheck& cancelled) override;
  TxnResult memory_txn(const Principal& who, const TxnRequest& r) override;

  std::vector<JournalRecord> journal_query(const Principal& who,
                                           const JournalFilter& f) override;
  VerifyReport journal_verify(const Principal& who) override;
  ReplayReport journal_replay(const Principal& who) override;
  using Store::journal_compact;
  using Store::journal_export;
  CompactReport journal_compact(const Principal& who,
                                const CompactOptions& options) override;
  std::int64_t journal_export(const Principal& who, std::ostream& out,
                              const ExportRange& range) override;
  JournalRecord journal_append(const Principal& who, std::string_view op,
                               std::string_view subject,
                               const boost::json::value& payload) override;

  EscalationRequestResult request_escalation(const Principal& who,
                                             const EscalationRequest& request) override;
  ResolveEscalationResult resolve_escalation(const Principal& who,
                                             const ResolveEscalationRequest& r) override;
  Escalation get_escalation(const Principal& who, std::int64_t id) override;
  EscalationListResult list_escalations(const Principal& who,
                                        const EscalationListRequest& r) override;
  Escalation wait_escalation(const Principal& who, std::int64_t id, std::int64_t wait_ms,
                             const CancelCheck& cancelled) override;

  AgentInfo register_agent(const Principal& who, const AgentRegistration& r) override;
  std::vector<AgentInfo> list_agents(const Principal& who, bool include_gone) override;
  std::vector<ScavengedAgent> scavenge_dead_agents(const Principal& who,
                                                   std::optional<std::string> holder) override;
  HeartbeatResult heartbeat(const Principal& who) override;
  LeaseInfo adopt_lease(const Principal& who, std::string_view name, std::string_view lease_id,
                        std::string_view to) override;
  AgentInfo suspend_agent(const Principal& who, std::string_view agent,
                          std::string_view reason) override;
  AgentInfo resume_agent(const Principal& who, std::string_view agent) override;

  // Idempotent tool calls (pg_store_requests.cpp).
  RequestClaim claim_request(const Principal& who, std::string_view tool,
                             std::string_view request_id, std::string_view args_hash,
                             std::int64_t expected_ms = 0) override;
  void complete_request(const Principal& who, std::string_view tool, std::string_view request_id,
                        std::string_view claim_id, std::string_view result_json) override;
  void abandon_request(const Principal& who, std::string_view tool, std::string_view request_id,
                       std::string_view claim_id) override;

  // Fanout's cache and breakers (pg_store_fanout.cpp).
  std::vector<std::optional<FanoutCacheEntry>> fanout_cache_lookup(
      const Principal& who, const std::vector<std::string>& digests) override;
  void fanout_cache_store(const Principal& who, const FanoutCacheEntry& entry) override;
  std::vector<FanoutBreaker> fanout_breakers(const Principal& who) override;
  void fanout_breaker_store(const Principal& who, const FanoutBreaker& breaker) override;

  StoreStats stats() const override;

  // `keel store copy` (state/store_copy.h; pg_store_copy.cpp).
  StateImage export_image(const Principal& who) override;
  void import_image(const Principal& who, const StateImage& image) override;
  SchemaVersions schema_versions() const override;

  // ------------------------------------------------ for pg_store_*.cpp only

  // What a write job sees: the connection (inside its transaction, after the
  // project's head row was locked), the project, and `now`.
  struct Write {
    pg::Connection& c;
    std::string project;
    std::int64_t now = 0;
    std::string node;  // StoreOptions::node, written into every record
    // Channels to NOTIFY at commit (deduplicated); see notify().
    std::vector<std::string> notify_channels;

    // Appends a record after the project's head and moves the head.
    JournalRecord append(std::string_view principal, std::string_view op,
                         std::string_view subject, std::string_view payload);
    // The project's next fencing token (increments the counter).
    std::int64_t next_token();
    // Wakes waiters on `channel` ("keel_lease", "keel_escalation") on every
    // node once this transaction commits.
    void notify(std::string channel);

    // The project's chain_heads row as this transaction sees it (run_write
    // writes it back once, at the end, when head_dirty).
    std::int64_t head_seq = 0;
    std::string head_hash;
    std::int64_t token_counter = 1;
    bool head_dirty = false;

    // What a job may change, saved before it runs so that a job that fails
    // inside a batch (rolled back to its savepoint) leaves no trace.
    struct Saved {
      std::int64_t head_seq;
      std::string head_hash;
      std::int64_t token_counter;
      bool head_dirty;
      std::size_t notify_count;
    };
    Saved save() const {
      return Saved{head_seq, head_hash, token_counter, head_dirty, notify_channels.size()};
    }
    void restore(const Saved& s) {
      head_seq = s.head_seq;
      head_hash = s.head_hash;
      token_counter = s.token_counter;
      head_dirty = s.head_dirty;
      notify_channels.resize(s.notify_count);
    }
  };

  // Runs `fn(Write&)` in one transaction of who.project (see the class
  // comment). Retries the whole transaction (a few times, with backoff) on
  // serialization failures and on a connection lost before COMMIT was sent;
  // otherwise rethrows. Returns what fn returns. So fn may run more than
  // once: it must only assign its results, never accumulate into them.
  template <class Fn>
  auto write(std::string_view project, Fn&& fn) -> decltype(fn(std::declval<Write&>()));

  // Runs fn(pg::Connection&) on a pooled connection, outside any explicit
  // transaction (each statement its own), or inside one REPEATABLE READ
  // transaction (one snapshot) when `snapshot`. Retries once on a lost
  // connection.
  template <class Fn>
  auto read(Fn&& fn, bool snapshot = false) -> decltype(fn(std::declval<pg::Connection&>()));

  // `now` for reads (the database's clock unless a Clock was injected).
  std::int64_t now(pg::Connection& c) const;

  const StoreOptions& options() const { return options_; }
  // While one lives on a thread, the store calls it makes are not bound by
  // pg_call_timeout_ms as a whole (only each statement is): for calls that
  // walk a whole chain or store (verify, replay, compact, export, copy).
  class LongCall {
   public:
    LongCall();
    ~LongCall();
    LongCall(const LongCall&) = delete;
    LongCall& operator=(const LongCall&) = delete;

   private:
    bool outer_;
  };
  // A bigint[] literal ("{1,2,3}") for `= ANY($n::bigint[])`.
  static std::string pg_array(const std::vector<std::int64_t>& ids);
  const ProcessTable& processes() const { return *processes_; }

 private:
  // A connection borrowed from the pool; returned on destruction unless
  // broken.
  class Lease;  // defined in pg_store.cpp
  using Deadline = std::chrono::steady_clock::time_point;
  // A pooled connection (or a new one, connected within `deadline`) whose
  // every statement ends by `deadline`; give_back lifts it.
  pg::Connection borrow(Deadline deadline);
  void give_back(pg::Connection c);
  // One queued write job and its outcome (guarded by batch_mu_). deadline:
  // when the caller's call timeout runs out (max for a LongCall).
  struct PendingWrite {
    const std::function<void(Write&)>* job;
    std::exception_ptr error;
    bool done;
    Deadline deadline;
  };
  // When a call that starts now must end: now + pg_call_timeout_ms, or no
  // bound (max) inside a LongCall.
  Deadline call_deadline() const;
  struct ProjectQueue {
    std::deque<PendingWrite*> waiting;
    bool leader_active = false;
  };
  void run_write(std::string_view project, const std::function<void(Write&)>& job);
  // Locks the project's head, then takes the oldest jobs of `q` and runs
  // them in one transaction (a savepoint per job when several); sets each
  // job's error; retries before COMMIT on retryable failures. Returns the
  // jobs it took (done, for the caller to mark). `earliest`: the earliest
  // deadline among q's jobs when it was called.
  std::vector<PendingWrite*> commit_batch(std::string_view project, ProjectQueue& q,
                                          Deadline earliest);
  // What became of a write transaction whose answer to COMMIT was lost with
  // its connection, found by the newest journal record it appended to
  // `project` (seq, hash): asked on another connection until the database
  // says, or `deadline`.
  enum class CommitFate { kCommitted, kAborted, kUnknown };
  CommitFate commit_fate(std::string_view project, std::int64_t seq, const std::string& hash,
                         Deadline deadline);
  void record_commit(std::size_t jobs, std::int64_t micros);
  void run_read(const std::function<void(pg::Connection&)>& job, bool snapshot);

  void listen_loop();           // the listener thread
  void open_maintenance();      // orphaned sessions, expired rows; one node at a time
  void wake(std::string_view channel);

  // Leases (pg_store_leases.cpp): one attempt of acquire_lease, in one
  // write job; leave_queue deletes a waiting call's queue row (a write).
  struct AcquireAttempt;  // pg_store_leases_util.h
  AcquireResult try_acquire(const Principal& who, const AcquireRequest& request,
                            AcquireAttempt& attempt);
  void leave_queue(std::string_view project, std::string_view waiter_id);

  // Memory rows (pg_store_memory.cpp), shared by put / delete, take and txn.
  // A visible row at a slot as a write found it (locked FOR UPDATE).
  struct MemoryRow {
    std::int64_t id = 0;
    std::int64_t version = 0;
    std::optional<std::int64_t> fence_token;
    std::string value_text;  // only when asked for (with_value)
  };
  // memory_rules::check_key, and valid UTF-8 (PostgreSQL's text).
  void check_memory_key(std::string_view key) const;
  // A put's value as stored: its serialized text (checked for size and
  // UTF-8), its sha256 and its search body.
  struct StoredValue {
    std::string text;
    std::string sha256;
    std::string search_body;
  };
  StoredValue stored_value(std::string_view key, const boost::json::value& value) const;
  // The SELECT ... FOR UPDATE of the row at (project, slot, key), with its
  // value when `with_value`; memory_row_found reads its answer (deleting the
  // row, deferred, when it has expired by `now`). find_memory_row: both.
  static pg::Connection::Statement find_memory_row_statement(const std::string& project,
                                                             const memory_rules::Slot& slot,
                                                             std::string_view key,
                                                             bool with_value);
  static std::optional<MemoryRow> memory_row_found(pg::Connection& c, const pg::Result& q,
                                                   std::int64_t now);
  static std::optional<MemoryRow> find_memory_row(pg::Connection& c, const std::string& project,
                                                  const memory_rules::Slot& slot,
                                                  std::string_view key, std::int64_t now,
                                                  bool with_value = false);
  // Writes (deferred) the row at the slot: an UPDATE of `row` (found and
  // locked by this transaction) or an INSERT when there is none.
  static void write_memory_row(pg::Connection& c, const std::string& project,
                               const memory_rules::Slot& slot, std::string_view key,
                               const std::optional<MemoryRow>& row, const StoredValue& value,
                               std::int64_t version, std::int64_t now,
                               std::optional<std::int64_t> expires_at,
                               std::optional<std::int64_t> fence_token);
  // Deletes (deferred) the rows with these ids.
  static void delete_memory_rows(pg::Connection& c, const std::vector<std::int64_t>& ids);

  // The channel every memory write NOTIFYs (put, delete, take, txn,
  // end_session), with the project as payload.
  static constexpr const char* kMemoryChannel = "keel_memory";
  // Memory waits (pg_store_memory_take.cpp): every keel_memory notification
  // (any node's memory write, at its commit) and this process's own memory
  // writes bump memory_epoch_; a waiter sleeps until it moves or
  // memory_poll_ms passes (a lost notification only delays it).
  std::uint64_t memory_epoch();
  void wait_memory_change(std::uint64_t epoch, const WaitDeadline& deadline);
  // One take in one write job: the entry taken, or nullopt.
  std::optional<TakeResult> try_take(const Principal& who, const memory_rules::Slot& slot,
                                     const TakeRequest& r);
  // Whether a read (no lock) sees something try_take could take now.
  bool take_candidate_visible(const Principal& who, const memory_rules::Slot& slot,
                              const TakeRequest& r);
  bool wait_satisfied(const Principal& who, const memory_rules::Slot& slot,
                      const WaitRequest& r);
  std::mutex memory_mu_;
  std::condition_variable memory_cv_;
  std::uint64_t memory_epoch_ = 0;  // guarded by memory_mu_

  const StoreOptions options_;
  const std::shared_ptr<Clock> clock_;  // nullptr: the database's clock
  SchemaVersions schema_versions_;      // set once by the constructor
  const std::shared_ptr<const ProcessTable> processes_;
  pg::ConnectOptions connect_;

  std::mutex pool_mu_;
  std::vector<pg::Connection> pool_;  // idle connections; guarded by pool_mu_

 public:
  // Bumped (and waiters woken) on every keel_lease / keel_escalation
  // notification and on this process's own changes.
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  std::uint64_t lease_epoch_ = 0;       // guarded by wake_mu_
  std::uint64_t escalation_epoch_ = 0;  // guarded by wake_mu_

 private:
  std::atomic<bool> stopping_{false};
  int stop_fd_ = -1;  // eventfd: written once by the destructor to end the listener's poll
  std::thread listener_;

  std::mutex batch_mu_;
  std::condition_variable batch_cv_;
  std::map<std::string, ProjectQueue, std::less<>> queues_;  // guarded by batch_mu_

  mutable std::mutex stats_mu_;
  StoreStats stats_;  // guarded by stats_mu_
};

template <class Fn>
auto PgStore::write(std::string_view project, Fn&& fn) -> decltype(fn(std::declval<Write&>())) {
  using R = decltype(fn(std::declval<Write&>()));
  if constexpr (std::is_void_v<R>) {
    run_write(project, [&](Write& w) { fn(w); });
  } else {
    std::optional<R> out;
    run_write(project, [&](Write& w) { out.emplace(fn(w)); });
    return std::move(*out);
  }
}

template <class Fn>
auto PgStore::read(Fn&& fn, bool snapshot) -> decltype(fn(std::declval<pg::Connection&>())) {
  using R = decltype(fn(std::declval<pg::Connection&>()));
  if constexpr (std::is_void_v<R>) {
    run_read([&](pg::Connection& c) { fn(c); }, snapshot);
  } else {
    std::optional<R> out;
    run_read([&](pg::Connection& c) { out.emplace(fn(c)); }, snapshot);
    return std::move(*out);
  }
}

// Helpers shared by the pg_store_*.cpp files. Those taking a Write run
// inside a write transaction.
namespace pg_store_detail {

using store_common::prefix_successor;
using store_common::require;

// Columns of a LeaseInfo in declaration order, and the reader for them
// (starting at column `col`).
inline constexpr std::string_view kLeaseColumns =
    "lease_id, name, holder, mode, token, ttl_ms, acquired_at, expires_at, units, group_id";
LeaseInfo read_lease(const pg::Result& r, int row, int col = 0);

inline constexpr std::string_view kRecordColumns =
    "seq, ts, project, principal, op, subject, payload, prev_hash, hash, node";
JournalRecord read_record(const pg::Result& r, int row);

// As sqlite_store_detail: tombstone / expire / reap in w.project.
void tombstone_lease(PgStore::Write& w, const LeaseInfo& lease, std::string_view outcome);
void expire_lease(PgStore::Write& w, const LeaseInfo& lease);
int reap_expired_leases(PgStore::Write& w);

struct AgentCheck {
  bool suspended = false;
  std::string reason;
};
AgentCheck touch_agent(PgStore::Write& w, const Principal& who, const ProcessTable& table);
// The same in halves, for a job that sends its reads in one round trip:
// the agent's row (`found`) from find_agent_statement(w.project, who.agent).
pg::Connection::Statement find_agent_statement(std::string_view project, std::string_view name);
AgentCheck touch_agent(PgStore::Write& w, const Principal& who, const ProcessTable& table,
                       const pg::Result& found);
std::optional<ScavengedAgent> scavenge_if_dead(PgStore::Write& w, std::string_view holder,
                                               const ProcessTable& table);

// Deletes up to `limit` expired memory rows of any project; `deferred`:
// inside a write job, sent with the job's next statement (Connection::defer).
void drop_expired_memory(pg::Connection& c, std::int64_t now, int limit, bool deferred = false);

}  // namespace pg_store_detail

}  // namespace keel::state
