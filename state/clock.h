// keel/state/clock.h — the store's notion of "now".
//
// Lease expiry and memory TTL are decided by this clock, never by a client's.
// Processes sharing one store must agree on time, so the production clock is
// the system's wall clock in milliseconds since the Unix epoch. Tests inject a
// ManualClock to move time deterministically.
//
// Thread safety: now_ms() may be called from any thread.
#pragma once

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

}  // namespace keel::state
