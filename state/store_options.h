// keel/state/store_options.h — how a Store is opened (StoreOptions). Part of the Store
// contract (state/store.h).
#pragma once

#include <cstdint>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "state/clock.h"
#include "state/escalation_types.h"
#include "state/process_table.h"

namespace keel::state {

class FaultInjector;  // state/fault_vfs.h

// ----------------------------------------------------------------- options

// One group commit, as StoreOptions::on_commit sees it.
struct CommitSample {
  std::size_t jobs = 0;              // write jobs the transaction carried
  std::int64_t start_unix_ns = 0;    // when the batch began (system clock)
  std::int64_t duration_ns = 0;      // BEGIN to COMMIT (or to the failure)
  bool ok = true;                    // false: the whole batch failed
};

enum class Synchronous { kFull, kNormal };

struct StoreOptions {
  std::filesystem::path dir;  // created when missing; holds keel.db
  // The PostgreSQL backend's URL (postgres://... or a libpq key=value
  // string; config store.url, env KEEL_STORE_URL, --store). Empty: the
  // embedded SQLite store in `dir`. The password is never logged.
  std::string url;
  // Names this keel process in every journal record it writes (config
  // node.id, env KEEL_NODE_ID; the caller defaults it to the host name).
  std::string node;
  Synchronous synchronous = Synchronous::kFull;
  int busy_timeout_ms = 10000;
  int max_batch = 256;  // most write jobs one group commit carries

  std::int64_t lease_max_ttl_ms = 24LL * 3600 * 1000;
  std::int64_t lease_max_wait_ms = 10LL * 60 * 1000;
  // Counted names and their capacities (config lease.capacities, e.g.
  // {"slot:build": 4}). They win over an acquire's `capacity`: one that
  // differs is refused. Names must be free names (not file:/dir:).
  std::map<std::string, std::int64_t> lease_capacities;

  std::int64_t memory_max_value_bytes = 64 * 1024;
  std::int64_t memory_max_key_bytes = 512;
  int memory_page_size = 100;
  int memory_max_page_size = 1000;
  // Session-tier rows of a session that never ended cleanly are dropped when
  // untouched this long.
  std::int64_t memory_orphan_session_ttl_ms = 24LL * 3600 * 1000;
  // memory_take / memory_wait: the longest wait a caller may ask for, and
  // how often a waiter re-reads the store for writes made by other processes
  // (writes of this process, and on PostgreSQL NOTIFYs, wake it at once).
  std::int64_t memory_max_wait_ms = 10LL * 60 * 1000;
  std::int64_t memory_poll_ms = 100;

  // Idempotent tool calls (Store::claim_request): how long a completed
  // request_id is replayed, and how long an uncompleted claim blocks a retry
  // before it counts as abandoned (its caller died mid-call).
  std::int64_t request_retention_ms = 24LL * 3600 * 1000;
  std::int64_t request_claim_stale_ms = 5LL * 60 * 1000;

  // Fanout's result cache: the most entries kept per project (least
  // recently used dropped first).
  std::int64_t fanout_cache_max_entries = 10000;

  // Escalations: every agent's bucket, unless it has its own entry (by agent
  // name); the longest wait_escalation a caller may ask for.
  EscalationBudget escalation_budget;
  std::map<std::string, EscalationBudget> escalation_agent_budgets;
  std::int64_t escalation_max_wait_ms = 10LL * 60 * 1000;

  // Called on the committing thread after every group commit (and every failed
  // one), for metrics and traces: it must be cheap and must not throw or call
  // the store. Empty: nothing is called.
  std::function<void(const CommitSample&)> on_commit;

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

  // PostgreSQL: the longest a call may wait on the database (connect,
  // statement, a lost or paused server) before failing with kBusy; and the
  // most connections one store keeps open.
  int pg_call_timeout_ms = 10000;
  int pg_pool_size = 8;

  // Tests only: every connection of the store opens its files through this
  // injector's VFS (state/fault_vfs.h), so that writes, fsyncs and truncates
  // can be made to fail. nullptr (the default): the default VFS, untouched.
  std::shared_ptr<FaultInjector> faults;

  // Tests only (PostgreSQL): asked around each write transaction's COMMIT —
  // kBeforeCommit just before it is sent, kAfterCommit once the server has
  // answered it; returning true cuts the connection there as a network
  // failure would (the answer to COMMIT is then lost). Empty: never.
  enum class CommitPoint { kBeforeCommit, kAfterCommit };
  std::function<bool(CommitPoint)> pg_cut_connection;
};

}  // namespace keel::state
