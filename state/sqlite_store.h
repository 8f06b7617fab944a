// keel/state/sqlite_store.h — the embedded SQLite backend of Store.
//
// Layout: one keel.db per state directory, in WAL mode. All writes go through
// one GroupCommitWriter (one write connection and one thread, which batches
// concurrent writes; a write with nothing to batch with commits on its
// caller's thread); reads use a small pool of read connections, which WAL
// lets run beside the writer.
//
// Invariants:
//   * Every state change and its journal record are made by one writer job,
//     hence one transaction.
//   * Nothing another process could change is cached across transactions:
//     the journal head, the token counter and the lease set are read inside
//     the write transaction that uses them.
//   * Decisions that depend on time take `now` from the Clock inside the job
//     that acts on it.
//   * Waiting (acquire with wait_ms) happens outside any transaction.
//
// Thread safety: as Store (every method may be called concurrently).
// The implementation is split by primitive: sqlite_store.cpp (open, pool,
// shared helpers), sqlite_store_leases.cpp (acquire and its waiting loop,
// renew, release, list), sqlite_store_lease_team.cpp (groups, downgrade,
// board, release asks), sqlite_store_lease_queue.cpp (the rows of the fair
// queue, capacities and asks), sqlite_store_memory.cpp,
// sqlite_store_journal.cpp, sqlite_store_copy.cpp (StoreImaging).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <sqlite3.h>

#include "state/group_commit_writer.h"
#include "state/lease_queue.h"
#include "state/sqlite_util.h"
#include "state/store_common.h"
#include "state/store_copy.h"
#include "state/store.h"

namespace keel::state {

class LeaseName;  // state/lease_name.h

class SqliteStore final : public Store, public StoreImaging {
 public:
  explicit SqliteStore(const StoreOptions& options);
  ~SqliteStore() override;

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
  // Tuple space: sqlite_store_memory_take.cpp, sqlite_store_memory_txn.cpp
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

  // Escalations (sqlite_store_escalation.cpp).
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

  // Idempotent tool calls (sqlite_store_requests.cpp).
  RequestClaim claim_request(const Principal& who, std::string_view tool,
                             std::string_view request_id, std::string_view args_hash,
                             std::int64_t expected_ms = 0) override;
  void complete_request(const Principal& who, std::string_view tool, std::string_view request_id,
                        std::string_view claim_id, std::string_view result_json) override;
  void abandon_request(const Principal& who, std::string_view tool, std::string_view request_id,
                       std::string_view claim_id) override;

  // Fanout's cache and breakers (sqlite_store_fanout.cpp).
  std::vector<std::optional<FanoutCacheEntry>> fanout_cache_lookup(
      const Principal& who, const std::vector<std::string>& digests) override;
  void fanout_cache_store(const Principal& who, const FanoutCacheEntry& entry) override;
  std::vector<FanoutBreaker> fanout_breakers(const Principal& who) override;
  void fanout_breaker_store(const Principal& who, const FanoutBreaker& breaker) override;

  StoreStats stats() const override;

  // Copying between backends (sqlite_store_copy.cpp; state/store_copy.h).
  StateImage export_image(const Principal& who) override;
  void import_image(const Principal& who, const StateImage& image) override;
  SchemaVersions schema_versions() const override;

 private:
  // A read connection borrowed from the pool and returned on destruction or,
  // with inline_writes, the write connection lent for the duration (one
  // connection per process: a second one would parse the schema again).
  class ReadConnection {
   public:
    ReadConnection(SqliteStore* store, sql::Connection conn)
        : store_(store), conn_(std::move(conn)) {}
    ReadConnection(sqlite3* lent, std::unique_lock<std::mutex> lock)
        : lent_(lent), lent_lock_(std::move(lock)) {}
    ~ReadConnection();
    ReadConnection(const ReadConnection&) = delete;
    ReadConnection& operator=(const ReadConnection&) = delete;
    sqlite3* get() const { return lent_ != nullptr ? lent_ : conn_.get(); }

   private:
    SqliteStore* store_ = nullptr;
    sql::Connection conn_;
    sqlite3* lent_ = nullptr;
    std::unique_lock<std::mutex> lent_lock_;
  };

  // Memory row coordinates after capability and session checks.
  struct MemorySlot {
    std::string tier;       // "session" | "cross_run"
    std::string ns;         // "agent:<agent>" | "shared"
    std::string scope;      // session id for own session rows, else ""
    std::string session_id; // written to session-tier rows
  };

  ReadConnection read_connection();
  std::int64_t now() const { return clock_->now_ms(); }

  // Runs once after open: drops orphaned session rows, expired memory rows
  // and stale idempotency / tombstone rows.
  void open_maintenance();

  // Leases (sqlite_store_leases.cpp). One acquire's state across the
  // attempts of its waiting loop.
  struct AcquireAttempt {
    std::vector<LeaseName> names;  // canonical
    std::string args_hash;         // of the request (request_id only)
    // The caller's row in the fair queue, once an attempt was refused and
    // the call waits (it keeps its rank across attempts).
    std::optional<LeaseWaiter> waiter;
    bool final = false;  // no attempt follows: a refusal is journaled
    bool timed_out = false;
    std::int64_t waited_ms = 0;
  };
  // One attempt: a writer job that reaps, decides (lease_queue::decide) and
  // grants, queues, or (final) journals the refusal. Sets `dequeued` when it
  // removed a queue row (others must be woken).
  AcquireResult try_acquire(const Principal& who, const AcquireRequest& request,
                            AcquireAttempt& attempt, bool& dequeued);
  // The decision an attempt of a queued call would make now, over a read
  // snapshot (no write lock, nothing written): the waiting loop writes only
  // when it may be granted or its row is due for a refresh.
  lease_queue::Decision peek_acquire(const Principal& who, const AcquireRequest& request,
                                     const AcquireAttempt& attempt);
  // Deletes a queue row (a call that stops waiting) and wakes the others.
  void leave_queue(const std::string& waiter_id);
  void notify_lease_change();

  // Memory (sqlite_store_memory.cpp).
  MemorySlot memory_slot(const Principal& who, Tier tier, Namespace ns) const;
  void check_key(std::string_view key) const;
  // Bumps memory_epoch_ and wakes memory_take / memory_wait: called after
  // every memory write of this process commits.
  void notify_memory_change();
  std::uint64_t memory_epoch();  // memory_epoch_, read under memory_mu_
  // Blocks until memory_epoch_ differs from `epoch` or the time left before
  // `deadline`, at most memory_poll_ms (the poll that sees other processes'
  // writes), passes.
  void wait_memory_change(std::uint64_t epoch, const WaitDeadline& deadline);

  // The rows behind memory_put / memory_delete and memory_txn's ops
  // (sqlite_store_memory.cpp); they run inside a writer job.
  struct MemoryRow {
    std::int64_t id = 0;
    std::int64_t version = 0;
    std::optional<std::int64_t> fence_token;  // the key's accepted high-water mark
    std::string value_text;                   // only when asked for
  };
  // The visible row at (project, slot, key), after deleting it (and its
  // full-text entry) if it has expired; with_value fills value_text.
  static std::optional<MemoryRow> find_memory_row(sqlite3* db, const std::string& project,
                                                  const MemorySlot& slot, std::string_view key,
                                                  std::int64_t now, bool with_value = false);
  // Stores value_text (serialized) at version over `row` (nullopt: a new
  // row) and replaces its full-text entry with `search_body`.
  static void write_memory_row(sqlite3* db, const std::string& project, const MemorySlot& slot,
                               std::string_view key, const std::optional<MemoryRow>& row,
                               const std::string& value_text, const std::string& search_body,
                               std::int64_t version, std::int64_t now,
                               std::optional<std::int64_t> expires_at,
                               std::optional<std::int64_t> fence_token);

  // memory_take (sqlite_store_memory_take.cpp): one attempt in a writer job
  // (nullopt: nothing to take), and whether a read snapshot shows something
  // an attempt could take (so a waiting take writes only when it may win).
  std::optional<TakeResult> try_take(const Principal& who, const MemorySlot& slot,
                                     const TakeRequest& r);
  bool take_candidate_visible(const Principal& who, const MemorySlot& slot,
                              const TakeRequest& r);
  bool wait_satisfied(const Principal& who, const MemorySlot& slot, const WaitRequest& r);

  const StoreOptions options_;
  const std::shared_ptr<Clock> clock_;
  const std::shared_ptr<const ProcessTable> processes_;
  const std::filesystem::path db_path_;

  std::mutex pool_mu_;
  std::vector<sql::Connection> pool_;  // idle read connections; guarded by pool_mu_

  // Bumped (and waiters woken) whenever this process releases or expires a
  // lease, so that waiting acquires retry at once.
  std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  std::uint64_t lease_epoch_ = 0;  // guarded by lease_mu_

  // Bumped (and waiters woken) whenever this process resolves an escalation,
  // so that wait_escalation answers at once instead of at its next poll.
  std::mutex escalation_mu_;
  std::condition_variable escalation_cv_;
  std::uint64_t escalation_epoch_ = 0;  // guarded by escalation_mu_

  // Bumped (and waiters woken) whenever this process commits a memory write,
  // so that memory_take / memory_wait look again at once.
  std::mutex memory_mu_;
  std::condition_variable memory_cv_;
  std::uint64_t memory_epoch_ = 0;  // guarded by memory_mu_

  // The write connection (owned by writer_), registered with
  // options_.node for append_record; unregistered once writer_ is gone.
  sqlite3* writer_db_ = nullptr;
  int schema_found_ = 0;  // the schema version migrate() found at open

  std::unique_ptr<GroupCommitWriter> writer_;  // last: destroyed (drained) first
};

// Helpers shared by the sqlite_store_*.cpp files; they run inside a write
// transaction (a writer job) unless stated otherwise.
namespace sqlite_store_detail {

// The node written into every record appended through `db` (the store's
// write connection): set once when the store opens, forgotten when it closes
// (only when `owner` still owns the entry: a closed connection's address
// may be reused by another store's). Thread-safe. A connection never
// registered writes records without a node.
void register_connection_node(sqlite3* db, const void* owner, std::string node);
void forget_connection_node(sqlite3* db, const void* owner);

// Appends a record after the head stored in meta and moves the head; the
// record names the node registered for `db`.
JournalRecord append_record(sqlite3* db, std::int64_t ts, std::string_view project,
                            std::string_view principal, std::string_view op,
                            std::string_view subject, std::string_view payload);

// Reads a LeaseInfo from columns 0..9 of `q`, selected by kLeaseColumns
// (kLeaseColumnCount of them: a column selected after them is at that index).
inline constexpr std::string_view kLeaseColumns =
    "lease_id, name, holder, mode, token, ttl_ms, acquired_at, expires_at, units, group_id";
inline constexpr int kLeaseColumnCount = 10;
LeaseInfo read_lease(const sql::Statement& q);

// Reads a JournalRecord from columns 0..9 of `q`, selected by kRecordColumns.
inline constexpr std::string_view kRecordColumns =
    "seq, ts, project, principal, op, subject, payload, prev_hash, hash, node";
JournalRecord read_record(const sql::Statement& q);

using store_common::prefix_successor;
using store_common::require;

// A lease row with the project it belongs to (sqlite_store_leases.cpp).
struct LeaseRow {
  LeaseInfo lease;
  std::string project;
};
std::optional<LeaseRow> find_lease(sqlite3* db, std::string_view lease_id);
// The outcome tombstoned for a lease that left the table: 'released' |
// 'expired' | "" (none).
std::string tombstone(sqlite3* db, std::string_view project, std::string_view lease_id);
// Removes one live lease (tombstoned 'released') and journals its RELEASE by who.
void release_one(sqlite3* db, const Principal& who, const LeaseRow& row, bool force,
                 std::int64_t now);
// The project's leases with expires_at > now, by token.
std::vector<LeaseInfo> live_leases(sqlite3* db, std::string_view project, std::int64_t now);

// Deletes a lease and leaves its tombstone with `outcome` ('released' or
// 'expired'), so that a later renew or release can say what became of it.
void tombstone_lease(sqlite3* db, std::string_view project, const LeaseInfo& lease,
                     std::string_view outcome, std::int64_t now);

// Tombstones one lease that ran out and journals its EXPIRE.
void expire_lease(sqlite3* db, std::string_view project, const LeaseInfo& lease,
                  std::int64_t now);

// Deletes expired leases of `project` (all projects when empty), journaling
// an EXPIRE for each; returns how many.
int reap_expired_leases(sqlite3* db, std::string_view project, std::int64_t now);

// The fair queue, declared capacities and release asks
// (sqlite_store_lease_queue.cpp): rows only, the decisions are lease_rules'.
// The project's waiters in the order they are served (rank_ms, seq).
std::vector<lease_queue::QueuedWaiter> read_waiters(sqlite3* db, std::string_view project);
// Deletes the waiters whose alive_until <= now (dead or gone; not
// journaled); returns how many.
int drop_dead_waiters(sqlite3* db, std::string_view project, std::int64_t now);
// Queues `w` (waiter_id, names, rank... set by the caller) after every row
// of the project already queued, alive until `alive_until`.
void insert_waiter(sqlite3* db, std::string_view project, const LeaseWaiter& w,
                   std::int64_t alive_until);
// False when the row is gone (dropped as dead).
bool refresh_waiter(sqlite3* db, std::string_view waiter_id, std::int64_t alive_until);
bool delete_waiter(sqlite3* db, std::string_view waiter_id);
// Capacities declared by acquires (not the configured ones), by name.
std::map<std::string, std::int64_t> declared_capacities(sqlite3* db, std::string_view project);
// Records `name`'s capacity unless one is declared already.
void declare_capacity(sqlite3* db, std::string_view project, std::string_view name,
                      std::int64_t capacity, std::string_view by, std::int64_t now);
void insert_ask(sqlite3* db, std::string_view project, const ReleaseAsk& ask);
// The asks whose holder still holds a live lease on their name, oldest
// first: every such ask of the project, or `holder`'s, or only undelivered.
std::vector<ReleaseAsk> open_asks(sqlite3* db, std::string_view project, std::int64_t now,
                                  std::optional<std::string_view> holder, bool undelivered_only);
void mark_asks_delivered(sqlite3* db, const std::vector<ReleaseAsk>& asks, std::int64_t now);
// Deletes the project's asks that are no longer open (their holder holds no
// live lease on their name); returns how many.
int drop_closed_asks(sqlite3* db, std::string_view project, std::int64_t now);

// Agents (sqlite_store_agents.cpp). touch_agent records who's anchor with its
// agent (inserting the row, journaled AGENT_START, the first time; nothing is
// written when the row already carries that anchor) and reports whether the
// agent is suspended (then nothing is written).
struct AgentCheck {
  bool suspended = false;
  std::string reason;
};
AgentCheck touch_agent(sqlite3* db, const Principal& who, const ProcessTable& table,
                       std::int64_t now);
// Frees every lease of `holder` when its anchor is on this host and its
// process is gone (journaled SCAVENGE when it held any; the agent is marked
// gone); nullopt when it is alive, unknown, anchorless or already gone.
std::optional<ScavengedAgent> scavenge_if_dead(sqlite3* db, std::string_view project,
                                               std::string_view holder, const ProcessTable& table,
                                               std::int64_t now);

// Deletes memory rows and their full-text entries.
void delete_memory_rows(sqlite3* db, const std::vector<std::int64_t>& ids);

// Deletes memory rows whose TTL ran out (at most `limit`); not journaled: an
// expired row is already invisible, removing it changes nothing observable.
void drop_expired_memory(sqlite3* db, std::int64_t now, int limit);

}  // namespace sqlite_store_detail

}  // namespace keel::state
