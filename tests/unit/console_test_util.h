// Test helpers of the console's unit tests (keel_console_tests).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mcp/http_server.h"

namespace keel::console::testing {

// An event stream that keeps what it was sent.
class FakeStream : public mcp::HttpEventStream {
 public:
  bool send(std::string event) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    events_.push_back(std::move(event));
    return true;
  }
  void close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  // Polls (10 ms) up to `limit` for a state event whose data contains `needle`.
  bool wait_for(const std::string& needle, std::chrono::milliseconds limit) const {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      for (const auto& e : events()) {
        if (e.find("event: state") != std::string::npos && e.find(needle) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
  bool closed_ = false;
};

}  // namespace keel::console::testing
