// keel/notify/notifier.h — the notifier of one keel process: a thread that runs a
// TargetDeliverer (deliverer.h) per configured target.
//
// Off every call path by construction: tool calls only write the journal; this thread
// reads it every poll interval (a cheap query by seq) and does the HTTP. A receiver that
// hangs costs this thread timeout_ms per attempt, nothing to callers; it also holds back
// the other targets of this process for that long (one thread per notifier).
//
// Thread safety: the constructor starts the thread; the destructor stops it (waiting for
// an attempt in flight, at most timeout_ms) and releases the leases it held. Nothing else
// is called on it. Ownership: borrows the store (must outlive it); owns a copy of config.
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
  void run();

  state::Store& store_;
  const NotifyConfig config_;
  const Sender send_;
  const NotifierOptions options_;
  std::vector<std::unique_ptr<TargetDeliverer>> deliverers_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;  // last: starts once the rest exists
};

}  // namespace keel::notify
