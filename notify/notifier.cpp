// keel/notify/notifier.cpp — the notifier's thread (notifier.h).
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
  thread_ = std::thread([this] { run(); });
}

Notifier::~Notifier() {
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& d : deliverers_) d->release();
}

void Notifier::run() {
  while (!stopping_.load()) {
    for (auto& d : deliverers_) {
      if (stopping_.load()) break;
      try {
        d->step(stopping_);
      } catch (const std::exception& e) {
        spdlog::warn("notify: {}", e.what());
      }
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.poll, [this] { return stopping_.load(); });
  }
}

}  // namespace keel::notify
