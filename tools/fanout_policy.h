// keel/tools/fanout_policy.h — what fanout_run does when a branch fails: the
// error classes, the per-class action (retry with jittered exponential
// backoff, skip, escalate, terminate, replan) and the circuit breaker per
// provider, which lives in the store so that it outlives the run and the
// process (Store::fanout_breakers / fanout_breaker_store).
//
// Thread safety: ErrorClass, FailurePolicy and RetrySpec are plain values.
// CircuitBreakers is internally locked and may be called from every worker of
// a run at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <functional>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "state/fanout_types.h"

namespace keel::tools::fanout {

// Why a branch attempt failed.
//   transient: worth retrying as is (store BUSY, exit status 75 = EX_TEMPFAIL,
//              the provider's breaker is open)
//   timeout:   branch_timeout_ms / timeout_ms ran out
//   parse:     output that looks like JSON but is not, or a value without what
//              the merge needs at its pointer (best_of_n: a number)
//   denied:    the permission gate refused the command, or a capability is missing
//   other:     everything else (non-zero exit, a tool error, a spawn failure)
enum class ErrorClass { kTransient, kTimeout, kParse, kDenied, kOther };
inline constexpr int kErrorClassCount = 5;
std::string_view to_string(ErrorClass c);

// replan: the failing branch's provider (its "branch class": "tool:NAME",
// "command:ARGV0", "sample") is stopped — its branches not started yet never
// start (cancelled, reason "replan"), those running finish — the other
// providers' branches go on, and the run ends with status "replan" and a
// `replan` report {providers, failed: [{index, provider, error}], not_run:
// [index...], not_run_count} so that the orchestrating agent can plan again.
enum class Action { kRetry, kSkip, kEscalate, kTerminate, kReplan };
std::string_view to_string(Action a);

struct RetrySpec {
  int max_attempts = 3;         // total attempts, the first included
  std::int64_t backoff_ms = 100;  // before attempt 2; doubles for each later one
  double jitter = 0.2;          // 0..1: the wait is scaled by 1 ± jitter, uniformly
};

struct ClassPolicy {
  Action action = Action::kSkip;
  RetrySpec retry{};  // when action == kRetry
};

// One ClassPolicy per ErrorClass. Defaults: transient → retry {3, 100 ms, 0.2};
// everything else → skip.
struct FailurePolicy {
  ClassPolicy by_class[kErrorClassCount];
  FailurePolicy();
  const ClassPolicy& of(ErrorClass c) const { return by_class[static_cast<int>(c)]; }
  ClassPolicy& of(ErrorClass c) { return by_class[static_cast<int>(c)]; }
};

// The wait before attempt `next_attempt` (2, 3, ...): backoff_ms·2^(n-2),
// scaled by a uniform factor in [1 - jitter, 1 + jitter], capped at 60 s.
std::chrono::milliseconds backoff_delay(const RetrySpec& spec, int next_attempt, std::mt19937_64& rng);

// Circuit breakers keyed by provider ("tool:memory_get", "command:/bin/sh",
// "sample"). A breaker opens after `failures` consecutive failed attempts; an
// open breaker refuses attempts until `cooldown` has passed, then lets exactly
// one trial attempt through (half-open): its success closes the breaker, its
// failure opens it again for another cooldown. failures == 0 disables them.
//
// Persistence: load() seeds the breakers from the store at run start (an open
// breaker's cooldown counts from when it opened, in whatever run or process;
// a half-open one whose trial died with its process lets a new trial
// through), and every change of a breaker (state, consecutive failures, times
// opened) is handed to `sink` as a state::FanoutBreaker, outside the lock,
// newest last: a slower caller's older snapshot is dropped, never written over
// a newer one. The sink must not throw.
using BreakerSink = std::function<void(const state::FanoutBreaker&)>;

class CircuitBreakers {
 public:
  using Clock = std::chrono::steady_clock;
  CircuitBreakers(int failures, std::chrono::milliseconds cooldown, BreakerSink sink = nullptr)
      : threshold_(failures), cooldown_(cooldown), sink_(std::move(sink)) {}

  // Replaces the breakers by the store's rows (opened_at_ms is wall-clock
  // time, ms since the epoch). Call before the first allow().
  void load(const std::vector<state::FanoutBreaker>& rows);

  // May an attempt on `provider` start now? True also for the one half-open
  // trial (the caller must then report its outcome).
  bool allow(const std::string& provider);
  void on_success(const std::string& provider);
  void on_failure(const std::string& provider);
  // The attempt ended for a reason that says nothing about the provider (the
  // run stopped, bad arguments): frees a half-open trial without closing.
  void abandon(const std::string& provider);

  // [{provider, state: closed|open|half_open, consecutive_failures, opened,
  // opened_at_ms?}] for providers that failed at least once (in this run or,
  // loaded, before it); at most `limit` entries.
  boost::json::array report(std::size_t limit) const;

 private:
  enum class State { kClosed, kOpen, kHalfOpen };
  struct Breaker {
    State state = State::kClosed;
    std::int64_t consecutive = 0;
    std::int64_t opened = 0;  // times it opened
    Clock::time_point opened_at{};
    bool trial_in_flight = false;
    std::uint64_t version = 0;  // bumped on every change that is persisted
  };
  // Bumps b's version and hands its snapshot to the sink after releasing
  // `lock` (which holds mu_).
  void changed(const std::string& provider, Breaker& b, std::unique_lock<std::mutex>& lock);

  const int threshold_;
  const std::chrono::milliseconds cooldown_;
  const BreakerSink sink_;
  mutable std::mutex mu_;
  std::map<std::string, Breaker> breakers_;  // only providers that failed
  std::mutex sink_mu_;  // serialises the sink; taken after mu_ is released
  std::map<std::string, std::uint64_t> sunk_;  // provider -> version handed to the sink
};

}  // namespace keel::tools::fanout
