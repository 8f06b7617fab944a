// keel/mcp/in_flight.h — counts exchanges in flight so that a graceful stop
// can wait for the last of them (bounded) instead of sleeping. The HTTP
// server counts an exchange from a request read to its response written (or
// its connection closed).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace keel::mcp {

class InFlight {
 public:
  void begin() {
    std::lock_guard lock(mu_);
    ++count_;
  }
  void end() {
    std::lock_guard lock(mu_);
    if (count_ > 0 && --count_ == 0) cv_.notify_all();
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  // True once nothing is in flight; false if `timeout` passed first.
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return count_ == 0; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;
};

}  // namespace keel::mcp
