// keel/tools/fanout_adaptive.h — fanout_run's concurrency "adaptive": how
// many branches may run at once, raised while latency and errors stay low,
// halved when either rises (AIMD), never above max_concurrency.
//
// The rule, exactly:
//   - The limit starts at 1.
//   - A window is the next max(limit, 3) branches that both started and
//     finished under the current limit (a change starts a new window, so a
//     branch started before it does not count). Cache hits and cancelled
//     branches do not count.
//   - At the end of a window: L = its mean branch latency (ms, retries
//     included), E = its share of branches that failed (failed, skipped or
//     escalated), B = the lowest L of any window so far (the baseline: the
//     latency of an unloaded provider).
//       E > 0.2                  → limit = max(1, limit / 2)   reason "errors"
//       L > 1.5·B + 5 ms         → limit = max(1, limit / 2)   reason "latency"
//       limit < max_concurrency  → limit = limit + 1           reason "increase"
//       otherwise                → unchanged (no trace entry)
//   The 5 ms keep scheduling jitter of very short branches from reading as
//   load.
// Every decision to raise or halve is a trace entry {t_ms (since the run
// started), concurrency (the new limit; halving 1 leaves 1), reason,
// latency_ms, baseline_ms, error_rate}; the first is
// {t_ms: 0, concurrency: 1, reason: "start"}. At most kMaxTrace entries are
// kept (the newest are dropped and counted in trace_elided).
//
// Thread safety: none; the engine calls it under its run lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace keel::tools::fanout {

class AdaptiveConcurrency {
 public:
  static constexpr std::size_t kMaxTrace = 1000;
  static constexpr double kMaxErrorRate = 0.2;
  static constexpr double kLatencyFactor = 1.5;
  static constexpr double kLatencySlackMs = 5;

  explicit AdaptiveConcurrency(int max_concurrency);

  int limit() const { return limit_; }
  // Changes with every change of the limit: a branch remembers the epoch it
  // started in, and observe() ignores branches of an older one.
  std::uint64_t epoch() const { return epoch_; }

  // A branch that started in `epoch` ended after `ms`, failed or not, at
  // `t_ms` since the run started. Returns true when the limit rose.
  bool observe(std::uint64_t epoch, std::int64_t ms, bool failed, std::int64_t t_ms);

  // {mode: "adaptive", max, final, trace: [...], trace_elided}
  boost::json::object report() const;

 private:
  void change(int to, const char* reason, std::int64_t t_ms, double latency, double errors);

  const int max_;
  int limit_ = 1;
  std::uint64_t epoch_ = 0;
  std::size_t window_count_ = 0;
  std::int64_t window_ms_ = 0;
  std::size_t window_failed_ = 0;
  double baseline_ms_ = -1;  // < 0: no window finished yet
  boost::json::array trace_;
  std::size_t trace_elided_ = 0;
};

}  // namespace keel::tools::fanout
