// keel/console/console_events.cpp — the poller behind /console/events (console_events.h).
#include "console/console_events.h"

#include <algorithm>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

namespace keel::console {

std::string state_event(std::int64_t head_seq, const std::string& snapshot_json) {
  return "id: " + std::to_string(head_seq) + "\nevent: state\ndata: " + snapshot_json + "\n\n";
}

EventHub::EventHub(SnapshotSource& source, EventTiming timing) : source_(source), timing_(timing) {}

EventHub::~EventHub() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& w : streams_) w.stream->close();
  for (auto& w : fresh_) w.stream->close();
}

bool EventHub::gone(const Watcher& w) {
  if (w.stream->closed()) return true;
  if (w.allowed && !w.allowed()) {
    w.stream->close();
    return true;
  }
  return false;
}

void EventHub::add(std::shared_ptr<mcp::HttpEventStream> stream, std::function<bool()> allowed) {
  {
    std::lock_guard lock(mu_);
    if (stop_) {
      stream->close();
      return;
    }
    fresh_.push_back(Watcher{std::move(stream), std::move(allowed)});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
}

void EventHub::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

std::size_t EventHub::open_streams() {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (auto& w : streams_) n += w.stream->closed() ? 0 : 1;
  for (auto& w : fresh_) n += w.stream->closed() ? 0 : 1;
  return n;
}

void EventHub::run() {
  using Clock = std::chrono::steady_clock;
  std::int64_t last_head = -1;
  std::uint64_t last_waiters = 0;
  std::string last_event;
  auto last_sent = Clock::now();
  auto last_ping = Clock::now();
  std::unique_lock lock(mu_);
  while (!stop_) {
    auto idle = [this] { return streams_.empty() && fresh_.empty(); };
    if (idle()) {
      // Nobody watches: no polling until a stream comes.
      cv_.wait(lock, [&] { return stop_ || !idle(); });
      last_head = -1;
      continue;
    }
    cv_.wait_for(lock, timing_.poll, [this] { return stop_ || poked_ || !fresh_.empty(); });
    if (stop_) break;
    const bool poked = poked_;
    poked_ = false;
    std::vector<Watcher> fresh;
    fresh.swap(fresh_);
    lock.unlock();

    std::string event;
    bool broadcast = false;
    try {
      const std::int64_t head = source_.head_seq();
      const std::uint64_t waiters = source_.waiters_mark();
      const auto now = Clock::now();
      broadcast = poked || head != last_head || waiters != last_waiters ||
                  now - last_sent >= timing_.refresh;
      last_waiters = waiters;
      if (broadcast || last_event.empty()) {
        last_event = state_event(head, boost::json::serialize(source_.build()));
        last_head = head;
        last_sent = now;
        broadcast = true;
      }
      event = last_event;
    } catch (const std::exception& e) {
      spdlog::warn("console: could not read the store for the event stream: {}", e.what());
    }

    lock.lock();
    // A stream whose login session ended (logout, expiry) gets nothing more.
    std::erase_if(streams_, gone);
    std::erase_if(fresh, gone);
    if (!event.empty()) {
      if (broadcast) {
        for (auto& w : streams_) w.stream->send(event);
      }
      for (auto& w : fresh) w.stream->send(event);
    }
    const bool ping = Clock::now() - last_ping >= timing_.ping;
    if (ping) {
      last_ping = Clock::now();
      for (auto& w : streams_) w.stream->send(": ping\n\n");
    }
    for (auto& w : fresh) streams_.push_back(std::move(w));
    std::erase_if(streams_, [](const Watcher& w) { return w.stream->closed(); });
  }
}

}  // namespace keel::console
