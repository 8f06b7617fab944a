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
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "state/agent_identity.h"
#include "state/clock.h"
#include "state/process_table.h"

namespace keel::state {

// ---------------------------------------------------------------- identity

// Capability names (architecture §3). A Principal may do what its set names.
namespace caps {
inline constexpr std::string_view kLease = "lease";
inline constexpr std::string_view kLeaseForce = "lease.force";
inline constexpr std::string_view kMemorySession = "memory.session";
inline constexpr std::string_view kMemoryCrossRun = "memory.cross_run";
inline constexpr std::string_view kMemoryShared = "memory.shared";
inline constexpr std::string_view kJournalRead = "journal.read";
inline constexpr std::string_view kJournalAdmin = "journal.admin";
inline constexpr std::string_view kEscalationRequest = "escalation.request";
inline constexpr std::string_view kEscalationResolve = "escalation.resolve";
inline constexpr std::string_view kFanout = "fanout";
inline constexpr std::string_view kFanoutCommand = "fanout.command";
inline constexpr std::string_view kAgentAdmin = "agent.admin";  // suspend / resume agents
}  // namespace caps

// Every capability keel knows, in a stable order.
const std::vector<std::string>& all_capabilities();
// What a local agent gets by default: all but lease.force, journal.admin,
// escalation.resolve and agent.admin.
std::set<std::string> default_agent_capabilities();

// Who is calling. `agent` names the holder of leases and owns the memory
// namespace "agent:<agent>". `project` is the absolute project root; every
// lease, key and journal record carries it. `session_id` scopes the session
// memory tier (empty: the caller has no session, e.g. the CLI).
struct Principal {
  std::string agent;
  std::string project;
  std::string session_id;
  std::set<std::string> capabilities;
  // The agent's process when keel knows it (state/agent_identity.h): the store
  // records it with the agent, and frees the agent's holds once that process
  // is gone (SCAVENGE). nullopt: a name given by hand, a remote caller, the
  // CLI — their holds live by TTL and heartbeats.
  std::optional<AgentAnchor> anchor = std::nullopt;

  bool can(std::string_view capability) const {
    return capabilities.count(std::string(capability)) != 0;
  }
};

// ------------------------------------------------------------------ errors

enum class ErrorCode {
  kInvalidArgument,   // malformed name, negative TTL, oversize value...
  kPermissionDenied,  // the principal lacks a capability, or is not the holder
  kNotFound,          // no such lease / key
  kVersionMismatch,   // compare-and-set lost: expected_version differs
  kStaleFence,        // fence token is not the live lease's token, or is older
                      // than one the key already accepted
  kExpired,           // renew of a lease whose TTL has run out
  kTooLarge,          // value or key beyond the configured limit
  kBusy,              // the store stayed locked past the busy timeout
  kCancelled,         // the caller's CancelCheck said stop
  kInternal,          // anything else (I/O error, corrupt database)
};

// "INVALID_ARGUMENT", "PERMISSION_DENIED", ... (stable, used on the wire).
std::string_view to_string(ErrorCode code);

class StoreError : public std::runtime_error {
 public:
  StoreError(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Polled by long waits (lease wait_ms); returning true abandons the wait with
// ErrorCode::kCancelled. Must be cheap and thread-safe.
using CancelCheck = std::function<bool()>;

// ------------------------------------------------------------------ leases

// Lease names: "file:/abs/path", "dir:/abs/dir/" (trailing slash added when
// missing), or any other non-empty free name (≤ 1024 bytes, no NUL).
// A dir: hold overlaps every file:/dir: name at or under it; file: and free
// names overlap only themselves. Exclusive overlaps anything; shared overlaps
// only exclusive. A principal never conflicts with its own holds.
enum class LeaseMode { kExclusive, kShared };
std::string_view to_string(LeaseMode mode);  // "exclusive" | "shared"

struct LeaseInfo {
  std::string lease_id;  // opaque, unique
  std::string name;      // normalized
  std::string holder;    // Principal::agent of the holder
  LeaseMode mode = LeaseMode::kExclusive;
  std::int64_t token = 0;  // fencing token
  std::int64_t ttl_ms = 0;  // the TTL first granted; renew extends by it
  std::int64_t acquired_at_ms = 0;
  std::int64_t expires_at_ms = 0;

  bool operator==(const LeaseInfo&) const = default;
};

struct AcquireRequest {
  std::string name;
  std::int64_t ttl_ms = 0;  // > 0 and ≤ the configured maximum
  LeaseMode mode = LeaseMode::kExclusive;
  std::int64_t wait_ms = 0;  // 0: answer at once; else retry until granted or
                             // this long has passed
  std::optional<std::string> request_id;  // retry of a granted acquire with the
                                          // same id returns the same grant
  std::string reason;                     // journaled, shown to others
};

struct AcquireResult {
  bool granted = false;
  std::optional<LeaseInfo> lease;   // when granted
  std::vector<LeaseInfo> holders;   // when refused: the live holds in the way
  bool replayed = false;            // answered from the request_id record
  bool already_held = false;        // the caller already held this exact name
};

enum class ReleaseOutcome { kReleased, kAlreadyReleased, kExpired };
std::string_view to_string(ReleaseOutcome outcome);  // "released"...

// ------------------------------------------------------------------ memory

enum class Tier { kSession, kCrossRun };
enum class Namespace { kOwn, kShared };
std::string_view to_string(Tier tier);     // "session" | "cross_run"
std::string_view to_string(Namespace ns);  // "own" | "shared"

struct Fence {
  std::string name;
  std::int64_t token = 0;
};

struct PutRequest {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  boost::json::value value;
  std::optional<std::int64_t> expected_version;  // 0: key must not exist
  std::optional<std::int64_t> ttl_ms;
  std::optional<Fence> fence;
};

struct PutResult {
  std::int64_t version = 0;
  std::optional<std::int64_t> expires_at_ms;
};

struct GetResult {
  bool found = false;
  boost::json::value value;
  std::int64_t version = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
};

struct DeleteRequest {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  std::optional<std::int64_t> expected_version;
  std::optional<Fence> fence;
};

struct ListRequest {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string prefix;
  std::string cursor;  // from a previous ListResult; empty: from the start
  int limit = 0;       // 0: the configured page size; capped at the maximum
};

struct ListEntry {
  std::string key;
  std::int64_t version = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
  std::int64_t bytes = 0;
};

struct ListResult {
  std::vector<ListEntry> entries;  // ascending by key
  std::string next_cursor;         // empty: no more
};

struct SearchRequest {
  std::string query;  // words; matched as FTS5 terms (no query syntax needed)
  std::optional<Tier> tier;          // default: both tiers
  std::optional<Namespace> ns;       // default: own and shared
  int limit = 0;                     // 0: configured page size
};

struct SearchHit {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  boost::json::value value;
  std::int64_t version = 0;
  double score = 0;  // higher is better
};

// ----------------------------------------------------------------- journal

// Journal ops written by the store itself.
namespace ops {
inline constexpr std::string_view kAcquire = "ACQUIRE";
inline constexpr std::string_view kRenew = "RENEW";
inline constexpr std::string_view kRelease = "RELEASE";
inline constexpr std::string_view kExpire = "EXPIRE";
inline constexpr std::string_view kRefuse = "REFUSE";
inline constexpr std::string_view kMemoryPut = "MEMORY_PUT";
inline constexpr std::string_view kMemoryDelete = "MEMORY_DELETE";
inline constexpr std::string_view kSessionEnd = "SESSION_END";
inline constexpr std::string_view kCheckpoint = "CHECKPOINT";
}  // namespace ops

struct JournalRecord {
  std::int64_t seq = 0;  // 1, 2, 3... without gaps (until compaction)
  std::int64_t ts_ms = 0;
  std::string project;
  std::string principal;
  std::string op;
  std::string subject;
  std::string payload;    // JSON text, exactly as hashed
  std::string prev_hash;  // hex SHA-256; 64 zeros for the first record
  std::string hash;       // hex SHA-256 over prev_hash and the fields above

  bool operator==(const JournalRecord&) const = default;
};

struct JournalFilter {
  std::optional<std::string> project;    // default: every project
  std::optional<std::string> op;
  std::optional<std::string> principal;
  std::optional<std::string> subject;    // exact, or a prefix when it ends in '*'
  std::optional<std::int64_t> since_ms;  // ts ≥
  std::optional<std::int64_t> until_ms;  // ts <
  std::optional<std::int64_t> after_seq; // seq >
  int limit = 100;                       // ≤ 10000
  bool newest_first = true;              // tail order; false: ascending
};

struct VerifyReport {
  bool ok = true;
  std::int64_t records = 0;
  struct Bad {
    std::int64_t seq = 0;
    std::string kind;    // "edited" | "missing" | "reordered" | "truncated" |
                         // "bad_checkpoint"
    std::string detail;  // human-readable explanation
  };
  std::optional<Bad> first_bad;
};

struct ReplayReport {
  std::int64_t at_ms = 0;              // the instant both sets were taken at
  std::vector<LeaseInfo> replayed;     // live leases folded from the journal
  std::vector<LeaseInfo> table;        // live leases in the lease table
  bool equal = false;
  std::vector<std::string> differences;  // empty when equal
};

struct CompactReport {
  std::int64_t folded_records = 0;   // records replaced by the checkpoint
  std::int64_t checkpoint_seq = 0;
};

// ============================================================= Escalations
// Human-in-the-loop with a budget (architecture §4). An agent files an
// escalation (spending one token of its bucket); a human resolves it OVERRIDE
// (go ahead as proposed), MODIFY (go ahead with a modified proposal) or ABORT.
// Escalations live in the store: they survive restarts and are shared by every
// process on the state directory. Types here; Store methods below.

// Journal ops of escalations (see Store::request_escalation / resolve).
namespace ops {
inline constexpr std::string_view kEscalate = "ESCALATE";                  // granted
inline constexpr std::string_view kEscalateRefused = "ESCALATE_REFUSED";   // budget
inline constexpr std::string_view kResolve = "RESOLVE";
}  // namespace ops

enum class EscalationImpact { kLow, kHigh };
enum class EscalationDecision { kOverride, kModify, kAbort };
// "low" | "high"; "OVERRIDE" | "MODIFY" | "ABORT" (stable, used on the wire).
std::string_view to_string(EscalationImpact impact);
std::string_view to_string(EscalationDecision decision);
// Case-insensitive "override" | "modify" | "abort"; nullopt for anything else.
std::optional<EscalationDecision> parse_escalation_decision(std::string_view text);

// One agent's token bucket: at most `capacity` tokens; an empty bucket refills
// continuously and is full again after `refill_ms` (default: 3 per hour, i.e.
// one token back every 20 minutes).
struct EscalationBudget {
  std::int64_t capacity = 3;          // ≥ 1
  std::int64_t refill_ms = 3'600'000;  // ≥ 1

  bool operator==(const EscalationBudget&) const = default;
};

struct EscalationRequest {
  std::string reason;                    // non-empty, ≤ 4 KiB
  boost::json::value context;            // any JSON (serialized ≤ 64 KiB)
  boost::json::value proposal;           // what the agent wants to do (≤ 64 KiB)
  EscalationImpact impact = EscalationImpact::kLow;
  std::string severity;                  // free label, "" when none (≤ 64 bytes)
  std::optional<std::string> request_id;  // 1..256 bytes; a retry with the same id
                                          // returns the first grant, spending nothing
};

struct Escalation {
  std::int64_t id = 0;  // unique in the store, never reused
  std::string project;
  std::string agent;    // who filed it
  std::string reason;
  boost::json::value context;
  boost::json::value proposal;
  EscalationImpact impact = EscalationImpact::kLow;
  std::string severity;
  std::optional<std::string> request_id;
  std::int64_t created_at_ms = 0;

  bool resolved = false;
  std::optional<EscalationDecision> decision;  // when resolved
  // What the agent may do now: OVERRIDE → the original proposal, MODIFY → the
  // human's proposal, ABORT → null.
  boost::json::value resolved_proposal;
  std::string resolver;      // Principal::agent of the human
  std::string resolved_via;  // "cli" | "http" | "tool" | "elicitation" | "mrtr" | ...
  std::int64_t resolved_at_ms = 0;
};

enum class EscalationOutcome { kGranted, kBudgetExhausted };
std::string_view to_string(EscalationOutcome outcome);  // "GRANTED" | "BUDGET_EXHAUSTED"

struct EscalationRequestResult {
  EscalationOutcome outcome = EscalationOutcome::kGranted;
  std::optional<Escalation> escalation;  // when granted (or replayed)
  std::int64_t retry_after_ms = 0;       // when exhausted: until the next token
  std::int64_t tokens_left = 0;          // whole tokens left after this call
  bool replayed = false;                 // answered from the request_id record
};

struct ResolveEscalationRequest {
  std::int64_t id = 0;
  EscalationDecision decision = EscalationDecision::kOverride;
  // Required for MODIFY (any JSON value but null), refused for the others.
  std::optional<boost::json::value> proposal;
  std::string via;  // journaled: through what the human answered ("cli"...)
};

struct ResolveEscalationResult {
  // false: someone resolved it first (a CONFLICT for the caller to report);
  // `escalation` then shows the winning resolution, unchanged by this call.
  bool resolved = false;
  Escalation escalation;
};

struct EscalationListRequest {
  std::optional<bool> resolved;  // nullopt: pending and resolved
  std::string cursor;            // from a previous result; "" from the newest
  int limit = 0;                 // 0: 50; at most 500
};

struct EscalationListResult {
  std::vector<Escalation> escalations;  // newest first
  std::string next_cursor;              // "" when no more
};
// ========================================================= end Escalations

// ================================================================== Agents
// The agent registry and agent liveness (README "Agent identity and
// liveness"). An agent is a Principal::agent name in a project; when it has an
// anchor (its process), any keel process on that host can tell when it is
// gone, and frees its leases at once instead of at their TTL (SCAVENGE).

namespace ops {
inline constexpr std::string_view kAgentStart = "AGENT_START";  // first seen in the project
inline constexpr std::string_view kScavenge = "SCAVENGE";       // a dead holder's leases freed
inline constexpr std::string_view kHeartbeat = "HEARTBEAT";     // a holder proved it is alive
inline constexpr std::string_view kAdopt = "ADOPT";             // a lease moved to another agent
inline constexpr std::string_view kSuspend = "SUSPEND";         // an agent stopped by a human
inline constexpr std::string_view kResume = "RESUME";
}  // namespace ops

enum class AgentStatus { kActive, kSuspended, kGone };
std::string_view to_string(AgentStatus status);  // "active" | "suspended" | "gone"

struct AgentRegistration {
  std::string client;  // what it said it is: clientInfo name+version, a hook dialect
};

struct AgentInfo {
  std::string name;
  std::string project;
  std::string product;    // from the anchor; "" when unknown
  std::string host;       // the host name it was seen on ("" when remote or unknown)
  std::string host_key;   // ProcessTable::host_key() of that host ("" without anchor)
  std::int64_t pid = 0;   // 0 without anchor
  std::int64_t start_time = 0;
  std::string session_id;  // the last session id bound to it
  std::string client;
  std::int64_t started_at_ms = 0;
  std::int64_t last_seen_ms = 0;
  AgentStatus status = AgentStatus::kActive;  // kGone: its process is gone, or it was scavenged
  std::string suspend_reason;                 // when suspended
  std::vector<std::string> leases;            // names of its live leases
};

// One agent whose process was gone and whose holds were freed.
struct ScavengedAgent {
  std::string agent;
  std::int64_t pid = 0;
  std::string host;
  std::vector<std::string> names;  // the lease names freed
};

struct HeartbeatResult {
  std::vector<LeaseInfo> renewed;  // every live lease of the caller, renewed by its TTL
  std::int64_t at_ms = 0;
};
// ============================================================== end Agents

// Group-commit counters (for benchmarks and `keel` diagnostics).
struct StoreStats {
  std::int64_t commits = 0;       // transactions committed by the writer
  std::int64_t jobs = 0;          // write jobs they carried
  std::int64_t max_batch = 0;     // largest batch seen
  std::vector<std::int64_t> batch_histogram;  // [i] = commits with batch size
                                              // in [2^i, 2^(i+1))
};

// ------------------------------------------------------------------- store

class Store {
 public:
  virtual ~Store() = default;

  // Leases. All need caps::kLease.
  // Grants, or refuses with the holders in the way (journaled as REFUSE once,
  // when the call finally gives up), or waits up to wait_ms. Expired leases met
  // on the way are reaped and journaled as EXPIRE.
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
  // Live leases of who.project whose name starts with `prefix`, by name.
  virtual std::vector<LeaseInfo> list_leases(const Principal& who,
                                             std::string_view prefix = {}) = 0;

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

  // Journal. Reading needs caps::kJournalRead; compact needs kJournalAdmin.
  virtual std::vector<JournalRecord> journal_query(const Principal& who,
                                                   const JournalFilter& f) = 0;
  virtual VerifyReport journal_verify(const Principal& who) = 0;
  virtual ReplayReport journal_replay(const Principal& who) = 0;
  virtual CompactReport journal_compact(const Principal& who) = 0;
  // Every record, ascending, one JSON object per line.
  virtual std::int64_t journal_export(const Principal& who,
                                      std::ostream& out) = 0;
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

  virtual StoreStats stats() const = 0;
};

// ----------------------------------------------------------------- options

enum class Synchronous { kFull, kNormal };

struct StoreOptions {
  std::filesystem::path dir;  // created when missing; holds keel.db
  Synchronous synchronous = Synchronous::kFull;
  int busy_timeout_ms = 10000;
  int max_batch = 256;  // most write jobs one group commit carries

  std::int64_t lease_max_ttl_ms = 24LL * 3600 * 1000;
  std::int64_t lease_max_wait_ms = 10LL * 60 * 1000;

  std::int64_t memory_max_value_bytes = 64 * 1024;
  std::int64_t memory_max_key_bytes = 512;
  int memory_page_size = 100;
  int memory_max_page_size = 1000;
  // Session-tier rows of a session that never ended cleanly are dropped when
  // untouched this long.
  std::int64_t memory_orphan_session_ttl_ms = 24LL * 3600 * 1000;

  // Escalations: every agent's bucket, unless it has its own entry (by agent
  // name); the longest wait_escalation a caller may ask for.
  EscalationBudget escalation_budget;
  std::map<std::string, EscalationBudget> escalation_agent_budgets;
  std::int64_t escalation_max_wait_ms = 10LL * 60 * 1000;

  std::shared_ptr<Clock> clock;  // default: SystemClock
  // How agents' processes are looked up (liveness, SCAVENGE). Default: the
  // system's table. Tests inject one whose processes die on command.
  std::shared_ptr<const ProcessTable> processes;

  // Sweep orphaned session rows, expired memory and stale idempotency records
  // when opening. Short-lived openers (the hook) turn it off: the long-lived
  // servers do it.
  bool maintenance_on_open = true;

  // One connection, no thread: writes run on the calling thread, one
  // transaction each, and reads share the write connection (serialised with
  // the writes). For one-shot processes (`keel hook`), where a writer thread
  // and a second connection cost more than the one or two calls they serve.
  bool inline_writes = false;
};

// Opens (creating and migrating as needed) the embedded SQLite store.
// Throws StoreError(kInternal) when the directory or database cannot be used.
std::unique_ptr<Store> open_sqlite_store(const StoreOptions& options);

// Why agent `agent` of `project` is suspended, or nullopt when it is not,
// read from the marker the store keeps under `state_dir` (one failed open()
// when not suspended: the hook asks on every call without opening the store).
std::optional<std::string> suspended_reason(const std::filesystem::path& state_dir,
                                            std::string_view project, std::string_view agent);

}  // namespace keel::state
