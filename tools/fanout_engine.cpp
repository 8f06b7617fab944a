#include "tools/fanout_engine.h"

#include <algorithm>
#include <random>
#include <system_error>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "tools/fanout_cache.h"

namespace keel::tools::fanout {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// A numeric `cost_units` at the top of a branch's value, else 0.
double cost_of(const json::value& v) {
  if (!v.is_object()) return 0;
  const json::value* c = v.as_object().if_contains("cost_units");
  if (!c || !c->is_number()) return 0;
  return std::max(0.0, c->to_number<double>());
}

// Wall-clock ms since the epoch: the store's time of cached results.
std::int64_t wall_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view to_string(ConcurrencyMode m) {
  return m == ConcurrencyMode::kAdaptive ? "adaptive" : "fixed";
}

std::string BranchSpec::provider() const {
  switch (kind) {
    case Kind::kTool: return "tool:" + tool;
    case Kind::kCommand: return "command:" + (command.argv.empty() ? std::string() : command.argv[0]);
    case Kind::kSample: return "sample";
  }
  return "?";
}


// The final word on one branch.
struct FanoutRun::Outcome {
  std::size_t index = 0;
  std::string status;  // ok | failed | skipped | escalated | cancelled
  std::int64_t ms = 0;
  int attempts = 0;
  json::value value;
  std::optional<json::object> error;
  std::optional<int> exit_code;
  std::optional<json::object> escalation;
  std::string provider;
  std::int64_t priority = 0;
  std::string reason;  // cancelled: why ("replan"), when not the run's stop
  bool cached = false;
  std::int64_t cache_hits = 0;       // cached: lookups answered by the entry so far
  std::int64_t cached_at_ms = 0;     // cached: when its result was stored
  bool cacheable = false;            // has a digest (ran or served from the cache)
  std::uint64_t epoch = 0;           // adaptive: the limit's epoch it started in
};

FanoutRun::FanoutRun(std::string id, RunSpec spec, BranchServices services)
    : id_(std::move(id)),
      spec_(std::move(spec)),
      services_(std::move(services)),
      started_at_(Clock::now()),
      merger_(spec_.merge),
      breakers_(spec_.breaker_failures, std::chrono::milliseconds(spec_.breaker_cooldown_ms),
                [this](const state::FanoutBreaker& row) {
                  if (!services_.store) return;
                  try {
                    services_.store->fanout_breaker_store(services_.principal, row);
                  } catch (const std::exception& e) {  // the run goes on with its own copy
                    spdlog::warn("fanout {}: could not store the breaker of {}: {}", id_,
                                 row.provider, e.what());
                  }
                }) {
  if (spec_.concurrency == ConcurrencyMode::kAdaptive) adaptive_.emplace(spec_.max_concurrency);
}

FanoutRun::~FanoutRun() = default;

void FanoutRun::cancel() { stop(Stop::kCancelled); }

void FanoutRun::stop(Stop why, const char* budget_item) {
  std::lock_guard lock(mu_);
  stop_locked(why, budget_item);
}

void FanoutRun::stop_locked(Stop why, const char* budget_item) {
  if (stop_ != Stop::kNone) return;
  stop_ = why;
  if (budget_item) budget_exhausted_ = budget_item;
  stop_flag_.store(true, std::memory_order_release);
  groups_.close();
  cv_.notify_all();
  slot_cv_.notify_all();
}

bool FanoutRun::sleep_unless_stopped(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stop_ != Stop::kNone; });
}

json::object FanoutRun::execute(const std::function<bool()>& cancelled,
                                const std::function<void(std::size_t, std::size_t)>& progress) {
  const std::size_t total = spec_.count;
  // However execute() ends, drop the call's callbacks (see services_ in the
  // header). Declared first, so the workers are joined before it runs.
  struct DropCall {
    BranchServices& s;
    ~DropCall() {
      s.ctx = mcp::CallContext{};
      s.gate = nullptr;
      s.escalate = nullptr;
    }
  } drop_call{services_};
  if (services_.store) {
    services_.store->journal_append(
        services_.principal, "FORK", "fanout:" + id_,
        json::object{{"run_id", id_},
                     {"branches", total},
                     {"max_concurrency", spec_.max_concurrency},
                     {"merge", to_string(spec_.merge.strategy)}});
  }
  // What earlier runs learnt: the breakers, and the first window of cached
  // results (one lookup for a run of up to kCacheWindow branches).
  if (services_.store && spec_.breaker_failures > 0) {
    try {
      breakers_.load(services_.store->fanout_breakers(services_.principal));
    } catch (const std::exception& e) {
      spdlog::warn("fanout {}: could not load the breakers: {}", id_, e.what());
    }
  }
  if (spec_.cache && total > 0) {
    std::unique_lock lock(mu_);
    load_cache_window(lock, 0);
  }

  // Adaptive runs start every worker too; all but the limit's wait for a slot.
  const std::size_t workers =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(1, spec_.max_concurrency)), total);
  std::vector<std::thread> threads;
  threads.reserve(workers);
  try {
    for (std::size_t i = 0; i < workers; ++i) threads.emplace_back([this] { worker_loop(); });
  } catch (const std::system_error& e) {  // out of threads: stop what started
    if (threads.empty()) throw;
    spdlog::warn("fanout {}: {} of {} workers started: {}", id_, threads.size(), workers, e.what());
  }

  std::size_t reported = 0;
  auto last_progress = Clock::now() - std::chrono::seconds(1);
  // A run's counts reach people watching other processes (the console) through
  // a PROGRESS record at most once a second while it runs.
  std::size_t journaled = 0;
  auto last_journaled = Clock::now();
  for (;;) {
    std::size_t done = 0;
    bool all_done = false;
    json::object progress_record;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(10));
      done = done_;
      // Every worker has left once nothing runs and nothing more will start.
      all_done = running_ == 0 && (next_ >= total || stop_ != Stop::kNone ||
                                   !budget_exhausted_.empty());
      if (services_.store && !all_done && done != journaled &&
          Clock::now() - last_journaled >= std::chrono::seconds(1)) {
        progress_record = json::object{{"run_id", id_},   {"branches", total},
                                       {"done", done_},   {"running", running_},
                                       {"counts", counts_locked()}};
        journaled = done;
        last_journaled = Clock::now();
      }
    }
    if (!progress_record.empty()) {
      try {
        services_.store->journal_append(services_.principal, "PROGRESS", "fanout:" + id_,
                                        progress_record);
      } catch (const std::exception& e) {  // only a view of the run: it goes on
        spdlog::debug("fanout {}: could not journal PROGRESS: {}", id_, e.what());
      }
    }
    if (cancelled && cancelled()) cancel();
    if (ms_since(started_at_) >= spec_.budget.wall_ms && !all_done) {
      stop(Stop::kBudget, "wall_ms");
    }
    if (progress && done > reported &&
        (all_done || Clock::now() - last_progress >= std::chrono::milliseconds(50))) {
      try {
        progress(done, total);
      } catch (const std::exception& e) {  // a lost notification must not lose the run
        spdlog::debug("fanout {}: progress: {}", id_, e.what());
      }
      reported = done;
      last_progress = Clock::now();
    }
    if (all_done) break;
  }
  for (auto& t : threads) t.join();

  json::object result;
  {
    std::lock_guard lock(mu_);
    result = result_locked(ms_since(started_at_));
    final_ = result;
  }
  if (services_.store) {
    json::object join{{"run_id", id_},
                      {"branches", total},
                      {"status", result.at("status")},
                      {"counts", result.at("counts")},
                      {"merge", result.at("merge").as_object().at("strategy")},
                      {"satisfied", result.at("merge").as_object().at("satisfied")},
                      {"ms", result.at("ms")}};
    if (auto* w = result.if_contains("winner")) join["winner"] = *w;
    if (auto* b = result.at("budget").as_object().if_contains("exhausted")) join["budget_exhausted"] = *b;
    if (auto* c = result.if_contains("cache")) join["cache_hits"] = c->at("hits");
    if (auto* r = result.if_contains("replan")) join["replan_providers"] = r->at("providers");
    try {
      services_.store->journal_append(services_.principal, "JOIN", "fanout:" + id_, join);
    } catch (const std::exception& e) {
      // The run happened; losing its JOIN record must not lose its result.
      spdlog::error("fanout {}: could not journal JOIN: {}", id_, e.what());
    }
  }
  return result;
}

void FanoutRun::worker_loop() {
  for (;;) {
    std::size_t index = 0;
    CachePick pick;
    std::uint64_t epoch = 0;
    {
      std::unique_lock lock(mu_);
      auto over = [this] {
        return stop_ != Stop::kNone || next_ >= spec_.count || !budget_exhausted_.empty();
      };
      if (adaptive_) {
        slot_cv_.wait(lock, [&] { return over() || running_ < static_cast<std::size_t>(adaptive_->limit()); });
        epoch = adaptive_->epoch();
      }
      if (over()) {
        slot_cv_.notify_all();  // the other waiting workers leave too
        return;
      }
      if (spec_.budget.max_branches && next_ >= static_cast<std::size_t>(*spec_.budget.max_branches)) {
        budget_exhausted_ = "branches";
        cv_.notify_all();
        slot_cv_.notify_all();
        return;
      }
      index = next_++;
      ++running_;
      if (spec_.cache) pick = cache_pick(lock, index);
    }
    Outcome o = run_branch(index, pick);
    o.epoch = epoch;
    record(std::move(o));
  }
}

void FanoutRun::load_cache_window(std::unique_lock<std::mutex>& lock, std::size_t from) {
  cache_window_loading_ = true;
  lock.unlock();
  // Digests and the lookup without mu_: record(), progress and cancel() do
  // not wait for the store. spec_, services_ and the principal do not change.
  const std::size_t to = std::min(spec_.count, from + kCacheWindow);
  std::vector<CachePick> window(to - from);
  std::vector<std::string> digests;
  std::vector<std::size_t> slots;
  std::size_t errors = 0;
  for (std::size_t i = from; i < to; ++i) {
    try {
      const BranchSpec spec = spec_.source(i);
      if (spec.kind == BranchSpec::Kind::kTool) {
        const mcp::Tool* tool = services_.registry ? services_.registry->find(spec.tool) : nullptr;
        if (!tool || !tool->annotations.read_only) continue;  // see the header
      }
      std::string digest = branch_digest(spec, services_.principal, spec_.cache->env);
      if (digest.empty()) continue;
      window[i - from].digest = digest;
      digests.push_back(std::move(digest));
      slots.push_back(i - from);
    } catch (const std::exception&) {
      // A branch that cannot be built fails when it runs; nothing to cache.
    }
  }
  if (!digests.empty() && services_.store) {
    try {
      auto found = services_.store->fanout_cache_lookup(services_.principal, digests);
      // A result older than this run's TTL is not used, whatever TTL stored it.
      const std::int64_t oldest = wall_ms_now() - spec_.cache->ttl_ms;
      for (std::size_t k = 0; k < found.size() && k < slots.size(); ++k) {
        if (found[k] && found[k]->stored_at_ms >= oldest) window[slots[k]].hit = std::move(found[k]);
      }
    } catch (const std::exception& e) {
      ++errors;
      spdlog::warn("fanout {}: cache lookup failed, running every branch: {}", id_, e.what());
    }
  }
  lock.lock();
  cache_window_from_ = from;
  cache_window_ = std::move(window);
  cache_errors_ += errors;
  cache_window_loading_ = false;
  cache_window_cv_.notify_all();
}

FanoutRun::CachePick FanoutRun::cache_pick(std::unique_lock<std::mutex>& lock, std::size_t index) {
  // Indices are handed out in order, so the window only moves forward; a
  // worker whose index is past a window being loaded waits for it (it is
  // the next one: fewer workers than a window) rather than loading it too.
  cache_window_cv_.wait(lock, [this] { return !cache_window_loading_; });
  if (index >= cache_window_from_ + cache_window_.size()) load_cache_window(lock, index);
  if (index < cache_window_from_) return {};
  return std::move(cache_window_[index - cache_window_from_]);
}

bool FanoutRun::serve_cached(const BranchSpec& spec, const state::FanoutCacheEntry& hit, Outcome& o) {
  boost::system::error_code ec;
  json::value stored = json::parse(hit.result_json, ec);
  if (ec || !stored.is_object() || !stored.as_object().contains("value")) return false;
  json::value& value = stored.as_object()["value"];
  if (merger_.check(value)) return false;  // this run's merge needs more of it: run the branch
  if (spec.kind == BranchSpec::Kind::kCommand && services_.gate) {
    // The gate may refuse now what it allowed then: the branch runs (and is refused).
    if (!services_.gate(services_.principal, spec.command.argv, spec.command.cwd).allowed) return false;
  }
  o.status = "ok";
  o.cached = true;
  o.cache_hits = hit.hits;
  o.cached_at_ms = hit.stored_at_ms;
  if (const json::value* code = stored.as_object().if_contains("exit_code"); code && code->is_int64()) {
    o.exit_code = static_cast<int>(code->as_int64());
  }
  o.value = std::move(value);
  return true;
}

void FanoutRun::store_cached(const std::string& digest, const Outcome& o) {
  json::object stored{{"value", o.value}};
  if (o.exit_code) stored["exit_code"] = *o.exit_code;
  state::FanoutCacheEntry entry;
  entry.digest = digest;
  entry.result_json = json::serialize(stored);
  if (entry.result_json.size() > kMaxCachedBytes) {
    std::lock_guard lock(mu_);
    ++cache_too_large_;
    return;
  }
  entry.expires_at_ms = wall_ms_now() + spec_.cache->ttl_ms;
  try {
    services_.store->fanout_cache_store(services_.principal, entry);
    std::lock_guard lock(mu_);
    ++cache_stored_;
  } catch (const std::exception& e) {  // the branch's result is not lost, only not cached
    std::lock_guard lock(mu_);
    ++cache_errors_;
    spdlog::debug("fanout {}: could not cache branch {}: {}", id_, o.index, e.what());
  }
}

bool FanoutRun::provider_stopped(const std::string& provider) const {
  std::lock_guard lock(mu_);
  return replan_providers_.count(provider) != 0;
}

FanoutRun::Outcome FanoutRun::run_branch(std::size_t index, const CachePick& pick) {
  Outcome o;
  o.index = index;
  const auto started = Clock::now();
  BranchSpec spec;
  try {
    spec = spec_.source(index);
  } catch (const std::exception& e) {
    o.status = "failed";
    o.error = json::object{{"class", "other"}, {"code", "INVALID_BRANCH"}, {"message", e.what()}};
    o.ms = ms_since(started);
    return o;
  }
  o.provider = spec.provider();
  o.priority = spec.priority;
  o.cacheable = !pick.digest.empty();
  if (provider_stopped(o.provider)) {
    o.status = "cancelled";
    o.reason = "replan";
    return o;
  }
  if (pick.hit && serve_cached(spec, *pick.hit, o)) {
    o.ms = ms_since(started);
    return o;
  }

  // The CallContext tool branches run under: the caller's, but without its
  // progress token, and cancelled when the run stops or the branch times out.
  Clock::time_point deadline{};
  mcp::CallContext tool_ctx;
  if (spec.kind == BranchSpec::Kind::kTool) {
    tool_ctx = services_.ctx;
    tool_ctx.progress = nullptr;
    tool_ctx.cancelled = [this, &deadline] { return stopping() || Clock::now() >= deadline; };
  }

  // Jitter only needs to differ between workers: one generator per thread.
  thread_local std::mt19937_64 rng(std::random_device{}());
  Attempt a;
  for (;;) {
    if (stopping()) {
      o.status = "cancelled";
      break;
    }
    if (o.attempts > 0 && provider_stopped(o.provider)) {  // replanned while it waited to retry
      o.status = "cancelled";
      o.reason = "replan";
      break;
    }
    ++o.attempts;
    if (!breakers_.allow(o.provider)) {
      a = Attempt{};
      a.cls = ErrorClass::kTransient;
      a.code = "BREAKER_OPEN";
      a.message = "the circuit breaker of " + o.provider + " is open";
      a.count_for_breaker = false;
    } else {
      a = attempt(index, spec, tool_ctx, deadline);
      if (a.stopped) {
        // Not the provider's fault: leave a half-open trial for someone else.
        breakers_.abandon(o.provider);
        o.status = "cancelled";
        break;
      }
      if (a.ok) {
        if (auto why = merger_.check(a.value)) {
          a.ok = false;
          a.cls = ErrorClass::kParse;
          a.code = "MERGE_INPUT";
          a.message = *why;
        }
      }
      if (a.ok) {
        breakers_.on_success(o.provider);
      } else if (a.count_for_breaker) {
        breakers_.on_failure(o.provider);
      } else {
        breakers_.abandon(o.provider);
      }
    }
    o.exit_code = a.exit_code;
    if (a.ok) {
      o.status = "ok";
      o.value = std::move(a.value);
      break;
    }
    o.error = json::object{{"class", to_string(a.cls)}, {"code", a.code}, {"message", a.message}};
    const ClassPolicy& policy = spec_.on_error.of(a.cls);
    if (policy.action == Action::kRetry) {
      if (o.attempts < policy.retry.max_attempts) {
        if (!sleep_unless_stopped(backoff_delay(policy.retry, o.attempts + 1, rng))) {
          o.status = "cancelled";
          break;
        }
        continue;
      }
      o.status = "failed";
      (*o.error)["retries_exhausted"] = true;
      break;
    }
    if (policy.action == Action::kSkip) {
      o.status = "skipped";
      break;
    }
    if (policy.action == Action::kTerminate) {
      o.status = "failed";
      (*o.error)["terminated_run"] = true;
      stop(Stop::kTerminated);
      break;
    }
    if (policy.action == Action::kReplan) {
      o.status = "failed";
      (*o.error)["replan"] = true;
      std::lock_guard lock(mu_);
      replan_providers_.insert(o.provider);
      if (replan_failed_.size() < kMaxReplanFailed) {
        replan_failed_.push_back(json::object{{"index", index}, {"provider", o.provider}, {"error", *o.error}});
      }
      break;
    }
    // Escalate.
    if (!services_.escalate) {
      o.status = "failed";
      (*o.error)["escalation"] = "escalation unavailable";
      break;
    }
    try {
      json::object request{
          {"reason", "fanout " + id_ + " branch " + std::to_string(index) + " (" + o.provider +
                         ") failed: " + std::string(to_string(a.cls)) + ": " + a.message},
          {"context", json::object{{"run_id", id_},
                                   {"branch", index},
                                   {"provider", o.provider},
                                   {"error", *o.error},
                                   {"attempts", o.attempts}}},
          {"proposal", json::object{{"action", "skip_branch"}, {"run_id", id_}, {"branch", index}}},
          {"impact", "low"}};
      o.escalation = services_.escalate(services_.principal, request);
      // Refused (the caller's escalation budget is spent): the branch failed.
      const json::value* outcome = o.escalation->if_contains("outcome");
      const bool filed = !outcome || *outcome == "GRANTED";
      o.status = filed ? "escalated" : "failed";
      if (!filed) (*o.error)["escalation"] = *o.escalation;
    } catch (const std::exception& e) {
      o.status = "failed";
      (*o.error)["escalation"] = std::string("could not escalate: ") + e.what();
    }
    break;
  }
  if (o.status == "cancelled") o.error.reset();
  if (o.status == "ok" && o.cacheable && services_.store) store_cached(pick.digest, o);
  o.ms = ms_since(started);
  return o;
}

void FanoutRun::record(Outcome&& o) {
  std::lock_guard lock(mu_);
  ++done_;
  --running_;
  ++counts_[o.status];
  if (o.cached) {
    ++cache_hits_;
  } else if (o.cacheable && o.status != "cancelled") {
    ++cache_misses_;
  }
  if (adaptive_ && !o.cached && o.status != "cancelled") {
    const bool failed = o.status == "failed" || o.status == "skipped" || o.status == "escalated";
    if (adaptive_->observe(o.epoch, o.ms, failed, ms_since(started_at_))) slot_cv_.notify_all();
  }
  if (adaptive_) slot_cv_.notify_one();  // a slot is free
  if (o.reason == "replan") {
    ++replan_not_run_count_;
    if (replan_not_run_.size() < spec_.max_results) replan_not_run_.push_back(o.index);
  }
  if (o.status == "ok") {
    // A cached result cost nothing this time.
    const double cost = o.cached ? 0 : cost_of(o.value);
    cost_spent_ += cost;
    if (merger_.add_success(o.index, o.value, o.priority)) stop_locked(Stop::kDecided, nullptr);
    if (spec_.budget.cost_units && cost_spent_ >= *spec_.budget.cost_units &&
        (next_ < spec_.count || running_ > 0)) {
      stop_locked(Stop::kBudget, "cost_units");
    }
  }
  if (o.index < spec_.max_results) {
    json::object entry{{"index", o.index}, {"status", o.status}, {"ms", o.ms}, {"attempts", o.attempts}};
    if (!o.provider.empty()) entry["provider"] = o.provider;
    if (o.status == "ok") entry["value"] = std::move(o.value);
    if (o.error) entry["error"] = std::move(*o.error);
    if (o.exit_code) entry["exit_code"] = *o.exit_code;
    if (o.escalation) entry["escalation"] = std::move(*o.escalation);
    if (o.cached) {
      entry["cached"] = true;
      entry["cache"] = json::object{{"hits", o.cache_hits}, {"stored_at_ms", o.cached_at_ms}};
    }
    if (spec_.merge.strategy == Strategy::kPriority) entry["priority"] = o.priority;
    if (o.status == "cancelled") {
      entry["reason"] = !o.reason.empty()       ? o.reason
                        : stop_ == Stop::kNone ? "cancelled"
                                               : status_name_locked();
    }
    results_[o.index] = std::move(entry);
  } else {
    ++elided_;
  }
  // The run thread polls progress every 10 ms anyway; wake it only when the
  // run may be over, not once per branch (a million wake-ups cost).
  if (running_ == 0) cv_.notify_all();
}

std::string FanoutRun::status_name_locked() const {
  switch (stop_) {
    case Stop::kCancelled: return "cancelled";
    case Stop::kTerminated: return "terminated";
    case Stop::kBudget: return "budget_exhausted";
    case Stop::kDecided: return "merge_decided";
    case Stop::kNone: break;
  }
  return budget_exhausted_.empty() ? "" : "budget_exhausted";
}

json::object FanoutRun::counts_locked() const {
  json::object counts;
  for (const char* s : {"ok", "failed", "skipped", "escalated", "cancelled"}) counts[s] = 0;
  for (const auto& [k, v] : counts_) counts[k] = v;
  return counts;
}

json::object FanoutRun::result_locked(std::int64_t wall_ms) {
  const std::size_t total = spec_.count;
  const std::size_t never_started = total - std::min(total, next_);
  json::object merge = merger_.finish(total);
  std::string status;
  switch (stop_) {
    case Stop::kCancelled: status = "cancelled"; break;
    case Stop::kTerminated: status = "terminated"; break;
    case Stop::kBudget: status = "budget_exhausted"; break;
    case Stop::kDecided:
    case Stop::kNone:
      if (!budget_exhausted_.empty() && never_started > 0) {
        status = "budget_exhausted";
      } else if (!replan_providers_.empty()) {
        status = "replan";  // the caller plans again, whatever the merge says
      } else {
        status = merge.at("satisfied").as_bool() ? "ok" : "failed";
      }
      break;
  }
  const std::string why = status == "ok" || status == "failed" ? "merge_decided" : status;
  json::array results;
  // Branches that never started are listed (below max_results) as cancelled.
  for (std::size_t i = next_; i < total && i < spec_.max_results; ++i) {
    results_[i] = json::object{{"index", i}, {"status", "cancelled"}, {"ms", 0}, {"attempts", 0},
                               {"reason", why}};
  }
  for (auto& [i, entry] : results_) results.push_back(entry);
  json::object counts = counts_locked();
  counts["cancelled"] = counts["cancelled"].to_number<std::int64_t>() + static_cast<std::int64_t>(never_started);
  if (total > spec_.max_results) elided_ = total - spec_.max_results;

  json::object budget{{"wall_ms", spec_.budget.wall_ms},
                      {"spent", json::object{{"branches", std::min(total, next_)},
                                             {"wall_ms", wall_ms},
                                             {"cost_units", cost_spent_}}}};
  if (spec_.budget.max_branches) budget["max_branches"] = *spec_.budget.max_branches;
  if (spec_.budget.cost_units) budget["cost_units"] = *spec_.budget.cost_units;
  if (!budget_exhausted_.empty() && (stop_ == Stop::kBudget || never_started > 0)) {
    budget["exhausted"] = budget_exhausted_;
  }

  json::object out{{"run_id", id_}, {"status", status}, {"total", total}};
  if (auto w = merger_.winner(); w && merge.contains("winner")) out["winner"] = *w;
  if (auto* v = merge.if_contains("value")) out["value"] = *v;
  out["merge"] = std::move(merge);
  out["counts"] = std::move(counts);
  out["budget"] = std::move(budget);
  out["breakers"] = breakers_.report(100);
  if (spec_.cache) {
    out["cache"] = json::object{{"ttl_ms", spec_.cache->ttl_ms},
                                {"hits", cache_hits_},
                                {"misses", cache_misses_},
                                {"stored", cache_stored_},
                                {"errors", cache_errors_},
                                {"too_large", cache_too_large_}};
  }
  if (adaptive_) out["concurrency"] = adaptive_->report();
  if (!replan_providers_.empty()) {
    json::array providers;
    for (const auto& p : replan_providers_) providers.emplace_back(p);
    std::sort(replan_not_run_.begin(), replan_not_run_.end());  // they end in any order
    json::array not_run;
    for (std::size_t i : replan_not_run_) not_run.emplace_back(i);
    // Branches the run never reached (it stopped for another reason) were
    // not run either.
    for (std::size_t i = next_; i < total && not_run.size() < spec_.max_results; ++i) not_run.emplace_back(i);
    out["replan"] = json::object{{"providers", std::move(providers)},
                                 {"failed", replan_failed_},
                                 {"not_run", std::move(not_run)},
                                 {"not_run_count", replan_not_run_count_ + never_started}};
  }
  out["ms"] = wall_ms;
  out["results"] = std::move(results);
  out["elided"] = elided_;
  return out;
}

json::object FanoutRun::status() const {
  std::lock_guard lock(mu_);
  json::object out{{"run_id", id_}, {"total", spec_.count}, {"started", std::min(spec_.count, next_)},
                   {"done", done_}, {"running", running_}, {"counts", counts_locked()},
                   {"elapsed_ms", ms_since(started_at_)}, {"breakers", breakers_.report(100)}};
  if (adaptive_) out["concurrency"] = adaptive_->report();
  if (final_) {
    out["status"] = final_->at("status");
    out["result"] = *final_;
    return out;
  }
  out["status"] = stop_ == Stop::kNone ? "running" : "stopping";
  json::array active;
  for (const auto& [branch, pgid] : groups_.snapshot()) {
    active.push_back(json::object{{"index", branch}, {"pid", pgid}});
  }
  out["active"] = std::move(active);
  return out;
}

bool FanoutRuns::add(std::shared_ptr<FanoutRun> run) {
  std::lock_guard lock(mu_);
  return runs_.emplace(run->id(), run).second;
}

void FanoutRuns::finished(const std::string& id) {
  std::lock_guard lock(mu_);
  finished_.push_back(id);
  while (finished_.size() > keep_) {
    runs_.erase(finished_.front());
    finished_.pop_front();
  }
}

std::shared_ptr<FanoutRun> FanoutRuns::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : it->second;
}

}  // namespace keel::tools::fanout
