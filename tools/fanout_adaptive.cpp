#include "tools/fanout_adaptive.h"

#include <algorithm>

#include <boost/json.hpp>

namespace keel::tools::fanout {

namespace json = boost::json;

AdaptiveConcurrency::AdaptiveConcurrency(int max_concurrency) : max_(std::max(1, max_concurrency)) {
  trace_.push_back(json::object{{"t_ms", 0}, {"concurrency", limit_}, {"reason", "start"}});
}

bool AdaptiveConcurrency::observe(std::uint64_t epoch, std::int64_t ms, bool failed, std::int64_t t_ms) {
  if (epoch != epoch_) return false;
  ++window_count_;
  window_ms_ += std::max<std::int64_t>(0, ms);
  if (failed) ++window_failed_;
  if (window_count_ < static_cast<std::size_t>(std::max(limit_, 3))) return false;

  const double latency = static_cast<double>(window_ms_) / static_cast<double>(window_count_);
  const double errors = static_cast<double>(window_failed_) / static_cast<double>(window_count_);
  if (baseline_ms_ < 0 || latency < baseline_ms_) baseline_ms_ = latency;
  window_count_ = 0;
  window_ms_ = 0;
  window_failed_ = 0;
  if (errors > kMaxErrorRate) {
    change(std::max(1, limit_ / 2), "errors", t_ms, latency, errors);
    return false;
  }
  if (latency > kLatencyFactor * baseline_ms_ + kLatencySlackMs) {
    change(std::max(1, limit_ / 2), "latency", t_ms, latency, errors);
    return false;
  }
  if (limit_ < max_) {
    change(limit_ + 1, "increase", t_ms, latency, errors);
    return true;
  }
  return false;
}

void AdaptiveConcurrency::change(int to, const char* reason, std::int64_t t_ms, double latency,
                                 double errors) {
  // Halving 1 leaves 1: still a new window (new epoch), but the limit
  // itself did not move.
  limit_ = to;
  ++epoch_;
  if (trace_.size() >= kMaxTrace) {
    ++trace_elided_;
    return;
  }
  trace_.push_back(json::object{{"t_ms", t_ms},
                                {"concurrency", limit_},
                                {"reason", reason},
                                {"latency_ms", latency},
                                {"baseline_ms", baseline_ms_},
                                {"error_rate", errors}});
}

json::object AdaptiveConcurrency::report() const {
  return json::object{{"mode", "adaptive"},
                      {"max", max_},
                      {"final", limit_},
                      {"trace", trace_},
                      {"trace_elided", trace_elided_}};
}

}  // namespace keel::tools::fanout
