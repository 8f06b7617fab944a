// keel/notify/notifier.cpp — the notifier's threads (notifier.h).
#include "notify/notifier.h"

#include <unistd.h>

#include <algorithm>
#include <string>

#include <spdlog/spdlog.h>

#include "notify/event.h"

namespace keel::notify {

state::Principal notifier_principal(const std::string& project, const std::string& node) {
  state::Principal who;
  who.agent = std::string(kNotifierAgent) + "." + node + "." + std::to_string(::getpid());
  who.project = project;
  who.capabilities = {std::string(state::caps::kLease), std::string(state::caps::kJournalRead)};
  return who;
}

Notifier::Notifier(state::Store& store, NotifyConfig config, state::Principal who, Sender send,
                   NotifierOptions options)
    : store_(store), config_(std::move(config)), send_(std::move(send)), options_(options) {
  for (const NotifyTarget& t : config_.targets) {
    deliverers_.push_back(
        std::make_unique<TargetDeliverer>(store_, t, config_, who, send_, options_.deliverer));
  }
  try {
    for (auto& d : deliverers_) threads_.emplace_back([this, &d = *d] { run(d); });
  } catch (...) {  // a thread that could not start: stop the ones that did
    stopping_ = true;
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    throw;
  }
}

Notifier::~Notifier() {
  stopping_ = true;
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  for (auto& d : deliverers_) d->release();
}

void Notifier::run(TargetDeliverer& d) {
  while (!stopping_.load()) {
    auto wake = std::chrono::steady_clock::now() + options_.poll;
    try {
      d.step(stopping_);
      // A step cut short by its budget is due again at once; otherwise poll.
      wake = std::min(d.next_due(), std::chrono::steady_clock::now() + options_.poll);
    } catch (const std::exception& e) {
      spdlog::warn("notify: {}", e.what());
    }
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, wake, [this] { return stopping_.load(); });
  }
}

}  // namespace keel::notify
