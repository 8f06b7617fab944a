// keel/state/store.h — the contract of keel's state kernel.
//
// A Store holds, for one state directory, everything the coordination
// primitives share: leases, memory, and the hash-chained journal that records
// every decision. It knows nothing of MCP, HTTP or any agent's JSON: callers
// (tools/, hooks/, cli/) speak to it only through this header.
//
// Semantics every backend (SQLite now, PostgreSQL later) must keep:
//   * Every state change and the journal record that describes it commit in
//     one transaction: a change without its record, or a record without its
//     change, is never observable, not even after a crash.
//   * A call that returns normally has been made durable according to the
//     backend's durability setting (SQLite: synchronous=FULL by default, so an
//     acknowledged write survives a process crash and a power cut).
//   * Fencing tokens strictly increase across the whole store, across
//     restarts and across processes sharing the store.
//   * Time (lease expiry, memory TTL) is the store's Clock, never a client's.
//
// Thread safety: a Store is safe to use from many threads at once; every
// method may be called concurrently. Several processes may open the same
// state directory; they serialize through the backend's locking.
//
// Errors: methods throw StoreError with a stable ErrorCode for refusals a
// caller can act on (bad argument, permission, conflict, stale fence...).
// A lease conflict is NOT an error: acquire_lease reports it in its result.
//
// The value types each method takes and returns live in one header per
// concept, all included here so that callers need only this one:
//   state/principal.h          Principal, capabilities, ErrorCode, StoreError
//   state/lease_types.h        leases
//   state/memory_types.h       memory
//   state/journal_types.h      journal records, filters, reports
//   state/escalation_types.h   escalations
//   state/agent_types.h        the agent registry
//   state/request_types.h      idempotent tool calls
//   state/fanout_types.h       fanout's cache and breakers
//   state/store_options.h      StoreOptions
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "state/agent_types.h"
#include "state/escalation_types.h"
#include "state/fanout_types.h"
#include "state/journal_types.h"
#include "state/lease_types.h"
#include "state/memory_types.h"
#include "state/principal.h"
#include "state/request_types.h"
#include "state/store_options.h"

namespace keel::state {

// Group-commit counters (for benchmarks and `keel` diagnostics).
struct StoreStats {
  std::int64_t commits = 0;       // transactions committed by the writer
  std::int64_t jobs = 0;          // write jobs they carried
  std::int64_t max_batch = 0;     // largest batch seen
  std::vector<std::int64_t> batch_histogram;  // [i] = commits with batch size
                                              // in [2^i, 2^(i+1))
  std::int64_t commit_micros = 0;             // summed wall time of those commits
  std::vector<std::int64_t> commit_latency_histogram;  // [i] = commits that took
                                                       // [2^i, 2^(i+1)) µs ([0]: < 2 µs)
};

// Adds one commit of `jobs` write jobs that took `micros` to `stats` (both
// backends keep their StoreStats this way).
void record_commit_stats(StoreStats& stats, std::size_t jobs, std::int64_t micros);

// ------------------------------------------------------------------- store

// Ownership: every argument is borrowed for the call only (the store keeps no
// reference to a Principal, request or CancelCheck after it returns), and
// every result is a value owned by the caller. The Store owns its connections
// and threads; destroying it waits for writes in flight (it must not race
// with calls still running on other threads).
class Store {
 public:
  virtual ~Store() = default;

  // Leases. All need caps::kLease.
  // Grants every requested name (one name, or several all-or-nothing; see
  // AcquireRequest), or refuses with the reason (LeaseRefusal: holders in the
  // way, not enough units, waiters ahead), journaled as REFUSE once, when
  // the call finally gives up; or waits up to wait_ms in the project's fair
  // queue (lease_waiters: arrival order, aged priority; a waiter that gives
  // up, is cancelled or stops coming back for kLeaseWaiterLivenessMs leaves
  // it). Every new lease is journaled as one ACQUIRE record per name (with
  // units and group_id), all in one transaction. Expired leases met on the
  // way are reaped and journaled as EXPIRE.
  // Upgrade: asking `exclusive` for a name on which the caller holds the
  // only (shared) lease converts that lease in place (same lease_id, new
  // token, TTL from the request), journaled as UPGRADE; with other holders,
  // it waits in the queue like any acquire.
  virtual AcquireResult acquire_lease(const Principal& who,
                                      const AcquireRequest& request,
                                      const CancelCheck& cancelled = {}) = 0;
  // Extends a live lease held by `who` by its granted TTL from now. Throws
  // kExpired when it has run out (it never comes back), kNotFound when no such
  // lease exists, kPermissionDenied when someone else holds it.
  virtual LeaseInfo renew_lease(const Principal& who, std::string_view name,
                                std::string_view lease_id) = 0;
  // Idempotent. Only the holder may release, unless `force` and `who` has
  // caps::kLeaseForce (kPermissionDenied otherwise). An empty lease_id with
  // force releases every hold on `name`.
  virtual ReleaseOutcome release_lease(const Principal& who,
                                       std::string_view name,
                                       std::string_view lease_id,
                                       bool force = false) = 0;
  // Releases every live lease of one acquire (LeaseInfo::group_id) that
  // `who` holds (every holder's with force, which needs kLeaseForce), in
  // one transaction, one RELEASE record each; returns them (empty: nothing
  // was live). kInvalidArgument for an empty group_id.
  virtual std::vector<LeaseInfo> release_group(const Principal& who,
                                               std::string_view group_id,
                                               bool force = false) = 0;
  // Turns the caller's exclusive lease into a shared one (new token; waiters
  // are woken), journaled as DOWNGRADE. A lease already shared is returned as
  // it is, nothing journaled. kNotFound / kExpired / kPermissionDenied as
  // renew_lease.
  virtual LeaseInfo downgrade_lease(const Principal& who, std::string_view name,
                                    std::string_view lease_id) = 0;
  // Live leases of who.project whose name starts with `prefix`, by name.
  virtual std::vector<LeaseInfo> list_leases(const Principal& who,
                                             std::string_view prefix = {}) = 0;
  // list_leases plus the queues, open release asks and counted names of the
  // names under `prefix`.
  virtual LeaseBoard lease_board(const Principal& who, std::string_view prefix = {}) = 0;
  // Asks every other holder of a live lease on `name` (exactly that name) to
  // release it: one ReleaseAsk per holder, journaled as one ASK_RELEASE
  // record {name, reason, holders}. Returns the asks. kNotFound when no one
  // else holds `name`; kInvalidArgument for an empty or oversized reason
  // (≤ 1024 bytes). No lease changes hands.
  virtual std::vector<ReleaseAsk> ask_release(const Principal& who, std::string_view name,
                                              std::string_view reason) = 0;
  // The asks addressed to who.agent on leases it still holds that were not
  // delivered yet, oldest first; marks them delivered (so the holder's next
  // hook event shows each once). Not journaled.
  virtual std::vector<ReleaseAsk> take_release_asks(const Principal& who) = 0;

  // Memory. The tier needs caps::kMemorySession / kMemoryCrossRun, the shared
  // namespace also caps::kMemoryShared. The own namespace of one agent is never
  // visible to another.
  virtual PutResult memory_put(const Principal& who, const PutRequest& r) = 0;
  virtual GetResult memory_get(const Principal& who, Tier tier, Namespace ns,
                               std::string_view key) = 0;
  // Returns false when there was nothing to delete.
  virtual bool memory_delete(const Principal& who, const DeleteRequest& r) = 0;
  virtual ListResult memory_list(const Principal& who, const ListRequest& r) = 0;
  virtual std::vector<SearchHit> memory_search(const Principal& who,
                                               const SearchRequest& r) = 0;
  // Drops who.session_id's session tier (journaled as SESSION_END).
  virtual void end_session(const Principal& who) = 0;
  // Tuple space (issue 20). Caps as memory_put's.
  // Removes one entry and returns it (TakeRequest), journaled as
  // MEMORY_TAKE in the transaction that deletes it. Of concurrent takers, in
  // this process, other processes or (PostgreSQL) other nodes, exactly one
  // gets each entry. With wait_ms, waits for one to appear (woken by writes
  // of this process at once, by others' within StoreOptions::memory_poll_ms,
  // on PostgreSQL at once through NOTIFY). kInvalidArgument for a bad
  // request (key and prefix, a match that is not an object, wait_ms out of
  // range); kCancelled when `cancelled` says stop.
  virtual TakeResult memory_take(const Principal& who, const TakeRequest& r,
                                 const CancelCheck& cancelled = {}) = 0;
  // Blocks until WaitRequest's condition holds or wait_ms passes (woken as
  // memory_take's waits). Reads only, journals nothing.
  virtual WaitResult memory_wait(const Principal& who, const WaitRequest& r,
                                 const CancelCheck& cancelled = {}) = 0;
  // Checks every compare, then applies `then_ops` (all held) or `else_ops`,
  // all in one transaction with one MEMORY_TXN record; nothing is written or
  // journaled when the branch that runs is empty. A compare is never false
  // while its branch's writes land (the check and the writes are one
  // transaction, across processes and nodes). kInvalidArgument: more than
  // kTxnMaxCompares / kTxnMaxOps, a bad key, value or tolerance; caps as
  // memory_get for each compared key and memory_put for each written one.
  virtual TxnResult memory_txn(const Principal& who, const TxnRequest& r) = 0;

  // Journal. Reading needs caps::kJournalRead; compact needs kJournalAdmin.
  virtual std::vector<JournalRecord> journal_query(const Principal& who,
                                                   const JournalFilter& f) = 0;
  virtual VerifyReport journal_verify(const Principal& who) = 0;
  virtual ReplayReport journal_replay(const Principal& who) = 0;
  // Folds records into one CHECKPOINT (options.through_seq: only the older
  // ones; journal.retention uses that). Refused (kInternal) on a chain that
  // does not verify.
  virtual CompactReport journal_compact(const Principal& who,
                                        const CompactOptions& options) = 0;
  CompactReport journal_compact(const Principal& who) {
    return journal_compact(who, CompactOptions{});
  }
  // The records of range (default every record), ascending, one JSON object
  // per line. Returns how many were written.
  virtual std::int64_t journal_export(const Principal& who, std::ostream& out,
                                      const ExportRange& range) = 0;
  std::int64_t journal_export(const Principal& who, std::ostream& out) {
    return journal_export(who, out, ExportRange{});
  }
  // Records a decision made outside the store (hook decisions, escalations...).
  virtual JournalRecord journal_append(const Principal& who, std::string_view op,
                                       std::string_view subject,
                                       const boost::json::value& payload) = 0;

  // ----------------------------------------------------------- Escalations
  // All act in who.project: an escalation of another project is NOT_FOUND.
  //
  // Files an escalation for who.agent (needs caps::kEscalationRequest). Spends
  // one token of the agent's bucket (StoreOptions::escalation_budget, or the
  // agent's entry in escalation_agent_budgets): GRANTED with the new pending
  // escalation, or BUDGET_EXHAUSTED with retry_after_ms, nothing filed. Both
  // are journaled (ESCALATE / ESCALATE_REFUSED) in the transaction that
  // changes the bucket. A retry with a request_id already granted to this
  // agent returns that escalation (replayed, as it is now), spends nothing and
  // journals nothing. Bad input: kInvalidArgument.
  virtual EscalationRequestResult request_escalation(const Principal& who,
                                                     const EscalationRequest& request) = 0;
  // Resolves a pending escalation (needs caps::kEscalationResolve), journaled
  // as RESOLVE. Of concurrent resolvers, in this process or others, exactly one
  // gets resolved:true; the others get resolved:false and the winner's
  // resolution (the caller reports a CONFLICT). kNotFound for an unknown id;
  // kInvalidArgument for MODIFY without a proposal or a proposal with another
  // decision. Wakes every wait_escalation of this process at once.
  virtual ResolveEscalationResult resolve_escalation(const Principal& who,
                                                     const ResolveEscalationRequest& r) = 0;
  // Reading needs caps::kEscalationRequest or kEscalationResolve.
  virtual Escalation get_escalation(const Principal& who, std::int64_t id) = 0;
  virtual EscalationListResult list_escalations(const Principal& who,
                                                const EscalationListRequest& r) = 0;
  // The escalation once resolved, or as it stands after wait_ms (0..
  // StoreOptions::escalation_max_wait_ms, else kInvalidArgument). Does not
  // spin: woken at once by resolutions in this process, and polls the row
  // every 200 ms for resolutions by other processes. `cancelled` true abandons
  // the wait with kCancelled.
  virtual Escalation wait_escalation(const Principal& who, std::int64_t id, std::int64_t wait_ms,
                                     const CancelCheck& cancelled = {}) = 0;
  // --------------------------------------------------------- end Escalations

  // --------------------------------------------------------------- Agents
  // All act in who.project.
  //
  // Records who.agent (and who.anchor, when it has one) as an agent of the
  // project, binding who.session_id to it; journals AGENT_START the first
  // time the agent is seen, nothing after (last_seen is updated). A session id
  // bound to another agent before is re-bound to this one (a resumed session
  // in a new process). Refused (kPermissionDenied) for a suspended agent.
  virtual AgentInfo register_agent(const Principal& who, const AgentRegistration& r) = 0;
  // Agents of the project, newest first; gone ones only with include_gone.
  // Status is decided now: an active agent whose process is gone on this host
  // is listed as gone even before a sweep frees its holds.
  virtual std::vector<AgentInfo> list_agents(const Principal& who, bool include_gone) = 0;
  // Frees the leases of every agent of who.project whose anchor is on this
  // host and whose process is gone (or only `holder`, when given): one
  // SCAVENGE record per agent, naming its pid, host and the lease names, in
  // the transaction that deletes them; the agent is marked gone. Never frees
  // the holds of a live process, of another host's or of an agent without
  // anchor. Cheap when nothing died (one read, one probe per holder).
  virtual std::vector<ScavengedAgent> scavenge_dead_agents(
      const Principal& who, std::optional<std::string> holder = std::nullopt) = 0;
  // Proves who.agent is alive: renews every live lease it holds by its TTL
  // and updates last_seen; journaled as HEARTBEAT (one record). Needs kLease.
  virtual HeartbeatResult heartbeat(const Principal& who) = 0;
  // Moves a live lease (by lease_id, or the only live hold on `name` when
  // lease_id is empty) to the agent `to`, with a new fencing token higher
  // than every token before it, so the old holder's fenced writes are
  // refused. Needs kLeaseForce. kNotFound: no such live lease, or no agent
  // `to` in the registry; kInvalidArgument: several holds on `name` and no
  // lease_id; `to` suspended: kPermissionDenied. Journaled as ADOPT.
  virtual LeaseInfo adopt_lease(const Principal& who, std::string_view name,
                                std::string_view lease_id, std::string_view to) = 0;
  // A suspended agent's acquires and registrations are refused and its hooks
  // deny every tool call with the reason (suspended_reason below); suspending
  // releases its leases. Needs kAgentAdmin; kNotFound for an unknown agent;
  // kInvalidArgument for an empty reason. Journaled as SUSPEND (with the
  // lease names released) / RESUME. Suspending a suspended agent updates the
  // reason; resuming an active one changes nothing and journals nothing.
  virtual AgentInfo suspend_agent(const Principal& who, std::string_view agent,
                                  std::string_view reason) = 0;
  virtual AgentInfo resume_agent(const Principal& who, std::string_view agent) = 0;
  // ----------------------------------------------------------- end Agents

  // ------------------------------------------------- Idempotent tool calls
  // A request_id (1..kMaxRequestIdBytes) of `tool`, per who.project and
  // who.agent, bound to args_hash (the caller's hash of the canonical
  // arguments). Not journaled: the call's own records are. Rows older than
  // StoreOptions::request_retention_ms are dropped.
  // Claims the id (RequestClaim says what was found; kNew carries the
  // claim's claim_id). An uncompleted claim goes stale expected_ms +
  // StoreOptions::request_claim_stale_ms after it was made (expected_ms: how
  // long the call itself may rightly take, e.g. its own wait; >= 0, else
  // kInvalidArgument) and is then taken over by the next claim (kNew again,
  // with a new claim_id): a call whose process died mid-way, or that ran
  // past that horizon, may then run twice, which is the only case where it
  // does.
  virtual RequestClaim claim_request(const Principal& who, std::string_view tool,
                                     std::string_view request_id,
                                     std::string_view args_hash,
                                     std::int64_t expected_ms = 0) = 0;
  // Stores the result a replay returns, only while the row is still the
  // uncompleted claim `claim_id` (the kNew claim's). Otherwise (the claim
  // was taken over, dropped or completed) it does nothing, without error:
  // the first result stored is the one replayed.
  virtual void complete_request(const Principal& who, std::string_view tool,
                                std::string_view request_id, std::string_view claim_id,
                                std::string_view result_json) = 0;
  // Drops the uncompleted claim `claim_id` (the call failed with an error or
  // was cancelled: a retry runs it again). Does nothing, without error, when
  // the row is another claim's (taken over), completed, or gone.
  virtual void abandon_request(const Principal& who, std::string_view tool,
                               std::string_view request_id, std::string_view claim_id) = 0;

  // ------------------------------------------------------------- Fanout
  // Needs caps::kFanout. Per who.project.
  // The live entries among `digests`, in the same order (nullopt: none or
  // expired); counts one hit on each found, in one write.
  virtual std::vector<std::optional<FanoutCacheEntry>> fanout_cache_lookup(
      const Principal& who, const std::vector<std::string>& digests) = 0;
  // Stores (replaces) an entry; keeps at most fanout_cache_max_entries per
  // project, dropping the least recently stored or hit.
  virtual void fanout_cache_store(const Principal& who, const FanoutCacheEntry& entry) = 0;
  // Every breaker of the project (by provider).
  virtual std::vector<FanoutBreaker> fanout_breakers(const Principal& who) = 0;
  // Stores (replaces) one provider's breaker.
  virtual void fanout_breaker_store(const Principal& who, const FanoutBreaker& breaker) = 0;

  virtual StoreStats stats() const = 0;
};

// Opens (creating and migrating as needed) the embedded SQLite store.
// Throws StoreError(kInternal) when the directory or database cannot be used.
// The caller owns the store; `options` is copied.
std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options);

// Opens the PostgreSQL store at options.url (state/postgres/pg_store.h),
// creating or migrating its schema. Throws StoreError with a one-line
// message (never the password) for a bad URL, bad credentials or an
// unreachable server. The static `keel` binary carries no libpq: there this
// re-executes the process as the `keel-pg` binary beside it (cli/), which
// does.
std::unique_ptr<Store> open_postgres_store(const StoreOptions& options);

// The backend `options` selects: PostgreSQL when options.url is set, else
// the embedded SQLite store in options.dir. Inline, so that the reference to
// open_postgres_store is made by the caller's library, which the linker meets
// before the backend's (keel_state_pg, or cli/pg_reexec.cpp in `keel`).
inline std::unique_ptr<Store> open_store(const StoreOptions& options) {
  if (!options.url.empty()) return open_postgres_store(options);
  return open_sqlite_store(options);
}

// Why agent `agent` of `project` is suspended, or nullopt when it is not,
// read from the marker the store keeps under `state_dir` (one failed open()
// when not suspended: the hook asks on every call without opening the store).
std::optional<std::string> suspended_reason(const std::filesystem::path& state_dir,
                                            std::string_view project, std::string_view agent);

}  // namespace keel::state
