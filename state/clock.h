// keel/state/clock.h — the store's notion of "now".
//
// Lease expiry and memory TTL are decided by this clock, never by a client's.
// Processes sharing one store must agree on time, so the production clock is
// the system's wall clock in milliseconds since the Unix epoch. Tests inject a
// ManualClock to move time deterministically.
//
// Thread safety: now_ms() may be called from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace keel::state {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  void advance(std::int64_t ms) { now_.fetch_add(ms); }
  void set(std::int64_t ms) { now_.store(ms); }

 private:
  std::atomic<std::int64_t> now_;
};

// A deadline in real elapsed time, for how long a caller is willing to wait
// (lease and escalation wait_ms, SQLite busy retries). Besides SystemClock it
// is the one reader of a system clock in state/, and deliberately not the
// Clock: the Clock decides expiry and TTL, while a wait bounds a thread's
// sleep, and a ManualClock that stands still must not turn a bounded wait
// into a hang.
class WaitDeadline {
 public:
  explicit WaitDeadline(std::int64_t wait_ms)
      : at_(std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms)) {}

  bool passed() const { return std::chrono::steady_clock::now() >= at_; }

  // The time left, at most `step` and never negative.
  std::chrono::milliseconds next_step(std::chrono::milliseconds step) const {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        at_ - std::chrono::steady_clock::now());
    return std::max(std::chrono::milliseconds(0), std::min(step, remaining));
  }

 private:
  std::chrono::steady_clock::time_point at_;
};

}  // namespace keel::state
