#include "tools/fanout_policy.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <boost/json.hpp>

namespace keel::tools::fanout {

namespace json = boost::json;

namespace {

std::string_view state_name(int s) {
  return s == 0 ? "closed" : s == 1 ? "open" : "half_open";
}

std::int64_t wall_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// When a breaker opened (steady clock) as wall-clock ms; 0: never (or not known).
std::int64_t opened_at_wall_ms(std::chrono::steady_clock::time_point opened_at) {
  if (opened_at == std::chrono::steady_clock::time_point{}) return 0;
  const auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - opened_at);
  return std::max<std::int64_t>(0, wall_ms_now() - ago.count());
}

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
    case Action::kReplan: return "replan";
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

void CircuitBreakers::load(const std::vector<state::FanoutBreaker>& rows) {
  if (threshold_ <= 0) return;
  std::lock_guard lock(mu_);
  const Clock::time_point steady_now = Clock::now();
  const std::int64_t wall_now = wall_ms_now();
  for (const state::FanoutBreaker& row : rows) {
    Breaker b;
    b.state = row.state == "open" ? State::kOpen : row.state == "half_open" ? State::kHalfOpen : State::kClosed;
    b.consecutive = row.consecutive_failures;
    b.opened = row.opened;
    if (row.opened_at_ms > 0) {
      // How long ago it opened, by the wall clock, on this run's steady clock.
      b.opened_at = steady_now - std::chrono::milliseconds(std::max<std::int64_t>(0, wall_now - row.opened_at_ms));
    }
    breakers_[row.provider] = b;
  }
}

void CircuitBreakers::changed(const std::string& provider, Breaker& b,
                              std::unique_lock<std::mutex>& lock) {
  ++b.version;
  if (!sink_) return;
  const std::uint64_t version = b.version;
  state::FanoutBreaker row;
  row.provider = provider;
  row.state = state_name(static_cast<int>(b.state));
  row.consecutive_failures = b.consecutive;
  row.opened = b.opened;
  row.opened_at_ms = opened_at_wall_ms(b.opened_at);
  lock.unlock();
  std::lock_guard sink_lock(sink_mu_);
  std::uint64_t& sunk = sunk_[provider];
  if (version <= sunk) return;  // a newer snapshot was written already
  sunk = version;
  sink_(row);
}

bool CircuitBreakers::allow(const std::string& provider) {
  if (threshold_ <= 0) return true;
  std::unique_lock lock(mu_);
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
      changed(provider, b, lock);
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
  std::unique_lock lock(mu_);
  auto it = breakers_.find(provider);
  if (it == breakers_.end()) return;
  Breaker& b = it->second;
  b.trial_in_flight = false;
  if (b.state == State::kClosed && b.consecutive == 0) return;  // nothing changed
  b.state = State::kClosed;
  b.consecutive = 0;
  changed(provider, b, lock);
}

void CircuitBreakers::on_failure(const std::string& provider) {
  if (threshold_ <= 0) return;
  std::unique_lock lock(mu_);
  Breaker& b = breakers_[provider];
  ++b.consecutive;
  if (b.state == State::kHalfOpen || (b.state == State::kClosed && b.consecutive >= threshold_)) {
    b.state = State::kOpen;
    b.opened_at = Clock::now();
    b.trial_in_flight = false;
    ++b.opened;
  }
  changed(provider, b, lock);
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
    const std::string_view state = state_name(static_cast<int>(b.state));
    json::object entry{{"provider", provider},
                       {"state", state},
                       {"consecutive_failures", b.consecutive},
                       {"opened", b.opened}};
    if (const std::int64_t at = opened_at_wall_ms(b.opened_at); at > 0) entry["opened_at_ms"] = at;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace keel::tools::fanout
