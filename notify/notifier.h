// keel/notify/notifier.h — the notifier of one keel process: a thread per configured
// target, each running that target's TargetDeliverer (deliverer.h).
//
// Off every call path by construction: tool calls only write the journal; these threads
// read it every poll interval (a cheap query by seq) and do the HTTP. A receiver that
// hangs costs its own target's thread timeout_ms per attempt, nothing to callers and
// nothing to the other targets (each renews its own lease on its own thread).
//
// Thread safety: the constructor starts the threads; the destructor stops them (waiting
// for attempts in flight, at most timeout_ms) and releases the leases they held. Nothing
// else is called on it. The sender is called from several threads at once. Ownership: borrows the store (must outlive it); owns a copy of config.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "notify/deliverer.h"

namespace keel::notify {

struct NotifierOptions {
  std::chrono::milliseconds poll{300};  // how often the journal is read
  DelivererOptions deliverer;
};

// The principal a notifier acts as in `project`: agent
// "keel-notifier.<node>.<pid>", capabilities lease and journal.read.
state::Principal notifier_principal(const std::string& project, const std::string& node);

class Notifier {
 public:
  // Starts the thread at once. `config.targets` may be empty (the thread then idles).
  Notifier(state::Store& store, NotifyConfig config, state::Principal who,
           Sender send = net::http_request, NotifierOptions options = {});
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

 private:
  void run(TargetDeliverer& d);

  state::Store& store_;
  const NotifyConfig config_;
  const Sender send_;
  const NotifierOptions options_;
  std::vector<std::unique_ptr<TargetDeliverer>> deliverers_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;  // last: start once the rest exists
};

}  // namespace keel::notify
