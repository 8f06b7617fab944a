// keel/mcp/subscriptions.h — list-changed fan-out for 2026-07-28
// `subscriptions/listen` streams. Whoever changes a list (a tool registry
// owner, a fixture tool) calls notify(); each open listen stream that asked
// for that kind gets notifications/<kind>/list_changed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace keel::mcp {

class SubscriptionHub {
 public:
  using Listener = std::function<void(std::string_view kind)>;  // "tools" | "prompts" | "resources"

  std::uint64_t add(Listener l) {
    std::lock_guard lock(mu_);
    listeners_[++next_] = std::move(l);
    return next_;
  }
  void remove(std::uint64_t id) {
    std::lock_guard lock(mu_);
    listeners_.erase(id);
  }
  void notify(std::string_view kind) {
    std::map<std::uint64_t, Listener> copy;
    {
      std::lock_guard lock(mu_);
      copy = listeners_;
    }
    for (auto& [id, l] : copy) l(kind);
  }

 private:
  std::mutex mu_;
  std::uint64_t next_ = 0;
  std::map<std::uint64_t, Listener> listeners_;
};

}  // namespace keel::mcp
