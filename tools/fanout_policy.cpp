#include "tools/fanout_policy.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <boost/json.hpp>

namespace keel::tools::fanout {

namespace json = boost::json;

namespace {
constexpr std::string_view kClassNames[kErrorClassCount] = {"transient", "timeout", "parse",
                                                            "denied", "other"};
}  // namespace

std::string_view to_string(ErrorClass c) { return kClassNames[static_cast<int>(c)]; }

std::string_view to_string(Action a) {
  switch (a) {
    case Action::kRetry: return "retry";
    case Action::kSkip: return "skip";
    case Action::kEscalate: return "escalate";
    case Action::kTerminate: return "terminate";
  }
  return "skip";
}

FailurePolicy::FailurePolicy() {
  of(ErrorClass::kTransient).action = Action::kRetry;
}

std::chrono::milliseconds backoff_delay(const RetrySpec& spec, int next_attempt, std::mt19937_64& rng) {
  const int doublings = std::clamp(next_attempt - 2, 0, 30);
  double ms = static_cast<double>(spec.backoff_ms) * std::pow(2.0, doublings);
  if (spec.jitter > 0) {
    std::uniform_real_distribution<double> factor(1.0 - spec.jitter, 1.0 + spec.jitter);
    ms *= factor(rng);
  }
  ms = std::clamp(ms, 0.0, 60'000.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

bool CircuitBreakers::allow(const std::string& provider) {
  if (threshold_ <= 0) return true;
  std::lock_guard lock(mu_);
  auto it = breakers_.find(provider);
  if (it == breakers_.end()) return true;
  Breaker& b = it->second;
  switch (b.state) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (Clock::now() - b.opened_at < cooldown_) return false;
      b.state = State::kHalfOpen;
      b.trial_in_flight = true;
      return true;
    case State::kHalfOpen:
      if (b.trial_in_flight) return false;
      b.trial_in_flight = true;
      return true;
  }
  return true;
}

void CircuitBreakers::on_success(const std::string& provider) {
  if (threshold_ <= 0) return;
  std::lock_guard lock(mu_);
  auto it = breakers_.find(provider);
  if (it == breakers_.end()) return;
  it->second.state = State::kClosed;
  it->second.consecutive = 0;
  it->second.trial_in_flight = false;
}

void CircuitBreakers::on_failure(const std::string& provider) {
  if (threshold_ <= 0) return;
  std::lock_guard lock(mu_);
  Breaker& b = breakers_[provider];
  ++b.consecutive;
  if (b.state == State::kHalfOpen || (b.state == State::kClosed && b.consecutive >= threshold_)) {
    b.state = State::kOpen;
    b.opened_at = Clock::now();
    b.trial_in_flight = false;
    ++b.opened;
  }
}

void CircuitBreakers::abandon(const std::string& provider) {
  if (threshold_ <= 0) return;
  std::lock_guard lock(mu_);
  auto it = breakers_.find(provider);
  if (it != breakers_.end()) it->second.trial_in_flight = false;
}

json::array CircuitBreakers::report(std::size_t limit) const {
  std::lock_guard lock(mu_);
  json::array out;
  for (const auto& [provider, b] : breakers_) {
    if (out.size() >= limit) break;
    std::string_view state = b.state == State::kClosed ? "closed"
                             : b.state == State::kOpen ? "open"
                                                       : "half_open";
    out.push_back(json::object{{"provider", provider},
                               {"state", state},
                               {"consecutive_failures", b.consecutive},
                               {"opened", b.opened}});
  }
  return out;
}

}  // namespace keel::tools::fanout
