// keel/tools/fanout_engine.h — the scheduler behind fanout_run: runs N
// branches (tool calls, commands, sampling requests) through a bounded window
// of workers, applies the failure policy and the breakers, spends the shared
// budget, merges, and reports.
//
// Memory is bounded whatever N is (a run of 1,000,000 branches is fine):
//   - branches are produced on demand by a BranchSource (index → spec), so a
//     generated run never holds its branch list;
//   - at most max_concurrency branches are live at once (one per worker);
//   - a finished branch is folded into counters, the Merger (O(1), or one
//     tally per distinct vote) and, only when its index < max_results, the
//     per-branch result list; the rest are counted as `elided`.
// Two levels schedule the work: the run (on the calling thread) owns the
// budget, the wall clock, cancellation and progress; its workers each pull the
// next index, run the branch's attempts (retries, backoff, breaker) and fold
// the outcome in.
//
// What a run learns outlives it, in the store:
//   - cache {ttl_ms, env}: a branch whose digest (tools/fanout_cache.h) ran
//     successfully within ttl_ms returns that result (cached: true, attempts
//     0) instead of running. Digests are looked up in batches of
//     kCacheWindow branches, the first batch before any branch starts (a run
//     of ≤ kCacheWindow branches is one Store::fanout_cache_lookup); every
//     fresh success whose result serializes to at most kMaxCachedBytes is
//     stored (so a window holds at most kCacheWindow·kMaxCachedBytes). Tool branches are cached only when the tool is
//     read-only (a cached memory_put would not write); a cached command still
//     asks the permission gate; sample branches are never cached.
//   - breakers: loaded at run start (Store::fanout_breakers), every change
//     stored (Store::fanout_breaker_store), so an open breaker stays open for
//     the next run, in any process.
// concurrency "adaptive" (tools/fanout_adaptive.h) lets at most the adaptive
// limit of the max_concurrency workers run a branch at a time.
//
// Thread safety: FanoutRun::cancel() and status() may be called from any
// thread while execute() runs on another. FanoutRuns is internally locked.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "mcp/tool.h"
#include "state/store.h"
#include "tools/fanout_adaptive.h"
#include "tools/fanout_merge.h"
#include "tools/fanout_policy.h"
#include "tools/fanout_process.h"
#include "tools/tools.h"

namespace keel::tools::fanout {

struct BranchSpec {
  enum class Kind { kTool, kCommand, kSample };
  Kind kind = Kind::kTool;
  std::string tool;                     // kTool
  boost::json::object arguments;        // kTool
  CommandSpec command;                  // kCommand
  std::optional<std::int64_t> timeout_ms;  // kCommand: overrides branch_timeout_ms
  boost::json::object sample;           // kSample: sampling/createMessage params
  std::int64_t priority = 0;            // merge "priority": lower wins

  // The breaker key: "tool:NAME", "command:ARGV0" or "sample".
  std::string provider() const;
};

// Branch `index` (0 ≤ index < count) of a run, built on demand. Called from
// the run's workers concurrently: must be thread-safe. May throw
// std::invalid_argument (the branch then fails with class "other").
using BranchSource = std::function<BranchSpec(std::size_t index)>;

struct Budget {
  std::optional<std::int64_t> max_branches;  // branches started
  std::int64_t wall_ms = 0;                  // whole run; > 0
  std::optional<double> cost_units;          // sum of branches' reported cost_units
};

// The run's result cache (see the file comment).
struct CacheSpec {
  std::int64_t ttl_ms = 0;       // > 0: a result older than this is not used
  std::vector<std::string> env;  // environment variables whose values enter a command's digest
};

enum class ConcurrencyMode { kFixed, kAdaptive };
std::string_view to_string(ConcurrencyMode m);

struct RunSpec {
  std::size_t count = 0;
  BranchSource source;
  int max_concurrency = 1;  // kAdaptive: the bound of the adaptive limit
  ConcurrencyMode concurrency = ConcurrencyMode::kFixed;
  std::optional<CacheSpec> cache;
  std::int64_t branch_timeout_ms = 60'000;
  Budget budget;
  MergeSpec merge;
  FailurePolicy on_error;
  int breaker_failures = 5;  // 0: no breaker
  std::int64_t breaker_cooldown_ms = 30'000;
  std::size_t max_results = 1000;
  std::size_t max_output_bytes = 1 << 20;
  std::int64_t kill_grace_ms = 50;
};

// What branches reach outside the engine.
struct BranchServices {
  const mcp::ToolRegistry* registry = nullptr;
  mcp::CallContext ctx;        // of the fanout_run call; tool branches get a copy
  state::Principal principal;  // the caller (gate, escalations, journal)
  state::Store* store = nullptr;  // FORK / JOIN records, cache, breakers; null: none
  CommandGate gate;            // null: allow
  EscalationFiler escalate;    // null: "escalation unavailable"
};

class FanoutRun {
 public:
  FanoutRun(std::string id, RunSpec spec, BranchServices services);
  ~FanoutRun();
  FanoutRun(const FanoutRun&) = delete;
  FanoutRun& operator=(const FanoutRun&) = delete;

  // Runs every branch and returns fanout_run's structured result. Blocks the
  // calling thread; polls `cancelled` (the MCP request's) and calls
  // `progress(done, total)` as branches finish. Call once.
  boost::json::object execute(const std::function<bool()>& cancelled,
                              const std::function<void(std::size_t, std::size_t)>& progress);

  // Stops the run: queued branches never start, running commands' process
  // groups get SIGTERM now (SIGKILL after kill_grace_ms), running tool calls see
  // their CallContext::cancelled() turn true. Idempotent; thread-safe.
  void cancel();

  // fanout_status: {run_id, status, total, started, done, running, counts,
  // elapsed_ms, breakers, concurrency?, active: [{index, pid}], result?}.
  boost::json::object status() const;

  const std::string& id() const { return id_; }
  const std::string& owner() const { return services_.principal.agent; }
  const std::string& project() const { return services_.principal.project; }

 private:
  enum class Stop { kNone, kCancelled, kTerminated, kBudget, kDecided };
  struct Outcome;
  // A branch's digest and, when the cache had a live result for it, that.
  struct CachePick {
    std::string digest;  // "" : not cached (no cache, sample, not read-only)
    std::optional<state::FanoutCacheEntry> hit;
  };
  static constexpr std::size_t kCacheWindow = 1024;
  static constexpr std::size_t kMaxCachedBytes = 256 * 1024;
  static constexpr std::size_t kMaxReplanFailed = 100;
  // One attempt of one branch (tools/fanout_attempt.cpp).
  struct Attempt {
    bool ok = false;
    bool stopped = false;  // ended because the run is stopping
    boost::json::value value;
    ErrorClass cls = ErrorClass::kOther;
    std::string code;
    std::string message;
    std::optional<int> exit_code;
    bool count_for_breaker = true;
  };

  void worker_loop();
  Outcome run_branch(std::size_t index, const CachePick& pick);
  // Looks up the digests of branches [from, from + kCacheWindow) in one
  // batch and installs them as the window. Called with mu_ held by `lock`;
  // releases it for the lookup (cache_window_loading_ set meanwhile).
  void load_cache_window(std::unique_lock<std::mutex>& lock, std::size_t from);
  // Branch `index`'s digest and hit, loading the next window (or waiting
  // for the load under way) when needed. Same locking as load_cache_window.
  CachePick cache_pick(std::unique_lock<std::mutex>& lock, std::size_t index);
  // Serves `hit` as the branch's outcome; false when it cannot be (unusable
  // for this run's merge, or the gate now refuses the command).
  bool serve_cached(const BranchSpec& spec, const state::FanoutCacheEntry& hit, Outcome& o);
  void store_cached(const std::string& digest, const Outcome& o);
  bool provider_stopped(const std::string& provider) const;  // takes mu_
  Attempt attempt(std::size_t index, const BranchSpec& spec, mcp::CallContext& tool_ctx,
                  std::chrono::steady_clock::time_point& deadline);
  Attempt attempt_tool(const BranchSpec& spec, mcp::CallContext& tool_ctx,
                       std::chrono::steady_clock::time_point deadline);
  Attempt tool_value(mcp::ToolResult result);
  Attempt attempt_command(std::size_t index, const BranchSpec& spec,
                          std::chrono::steady_clock::time_point deadline);
  Attempt attempt_sample(const BranchSpec& spec);
  void record(Outcome&& o);
  void stop(Stop why, const char* budget_item = nullptr);  // takes mu_
  void stop_locked(Stop why, const char* budget_item);
  bool stopping() const { return stop_flag_.load(std::memory_order_acquire); }
  // Sleeps up to `d`; returns false when the run is stopping.
  bool sleep_unless_stopped(std::chrono::milliseconds d);
  boost::json::object counts_locked() const;
  boost::json::object result_locked(std::int64_t wall_ms);
  std::string status_name_locked() const;

  const std::string id_;
  const RunSpec spec_;
  // The call's context and callbacks are dropped when execute() returns: a
  // finished run stays in FanoutRuns, and a CallContext's callbacks may own the
  // connection (which owns the registry, which owns FanoutRuns: a cycle).
  BranchServices services_;
  const std::chrono::steady_clock::time_point started_at_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // a branch finished, or the run is stopping
  std::atomic<bool> stop_flag_{false};
  Stop stop_ = Stop::kNone;
  std::string budget_exhausted_;  // "branches" | "wall_ms" | "cost_units"
  std::size_t next_ = 0;          // next index to start
  std::size_t done_ = 0;
  std::size_t running_ = 0;
  double cost_spent_ = 0;
  std::map<std::string, std::size_t> counts_;          // by branch status
  std::map<std::size_t, boost::json::object> results_;  // index < max_results
  std::size_t elided_ = 0;
  Merger merger_;
  std::optional<boost::json::object> final_;  // set when execute() returns

  // Cache (spec_.cache): the current window of digests and hits.
  std::size_t cache_window_from_ = 0;
  std::vector<CachePick> cache_window_;
  bool cache_window_loading_ = false;        // a worker is loading the next window
  std::condition_variable cache_window_cv_;  // the load finished
  std::size_t cache_hits_ = 0;
  std::size_t cache_misses_ = 0;    // cacheable branches that ran
  std::size_t cache_stored_ = 0;    // guarded by mu_ too
  std::size_t cache_errors_ = 0;    // lookups or stores the store refused
  std::size_t cache_too_large_ = 0; // successes not stored: result over kMaxCachedBytes

  // concurrency "adaptive": workers wait on slot_cv_ for running_ < limit.
  std::optional<AdaptiveConcurrency> adaptive_;
  std::condition_variable slot_cv_;

  // on_error "replan": the stopped providers and what failed / never ran.
  std::set<std::string> replan_providers_;
  boost::json::array replan_failed_;
  std::vector<std::size_t> replan_not_run_;  // the first max_results
  std::size_t replan_not_run_count_ = 0;

  CircuitBreakers breakers_;
  ProcessGroups groups_;
};

// Runs by id: every running run, plus the most recent finished ones (bounded).
class FanoutRuns {
 public:
  explicit FanoutRuns(std::size_t keep_finished) : keep_(keep_finished) {}
  // False when the id is already known (running or remembered).
  bool add(std::shared_ptr<FanoutRun> run);
  void finished(const std::string& id);
  std::shared_ptr<FanoutRun> find(const std::string& id) const;

 private:
  const std::size_t keep_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FanoutRun>> runs_;
  std::deque<std::string> finished_;  // oldest first
};

}  // namespace keel::tools::fanout
