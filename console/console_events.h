// keel/console/console_events.h — the console's live updates (GET /console/events):
// one poller thread per server (started with the first stream) watches the
// journal head and sends one snapshot to every open stream when it moved —
// whichever keel process wrote it — or every `refresh` anyway (lease expiries
// write nothing). Open streams cost no thread; closed ones are dropped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "console/console_snapshot.h"
#include "mcp/http_server.h"

namespace keel::console {

struct EventTiming {
  std::chrono::milliseconds poll{250};       // how often the journal head is read
  std::chrono::milliseconds refresh{5'000};  // a snapshot at least this often
  std::chrono::milliseconds ping{15'000};    // ": ping" comment (keeps proxies open)
};

// Thread-safe. `source` outlives it. Destroying it stops the poller and ends
// every stream it holds.
class EventHub {
 public:
  EventHub(SnapshotSource& source, EventTiming timing);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // A new stream: it gets the current snapshot at once, then every update.
  // Returns promptly (the poller sends). `allowed`, when set, is asked on the
  // poller's thread before each send (under the hub's lock: it must not call
  // back into the hub); once it says false the stream is closed (its login
  // session ended).
  void add(std::shared_ptr<mcp::HttpEventStream> stream, std::function<bool()> allowed = {});
  // Something changed through this process (a console action): send now.
  void poke();
  // Streams open now.
  std::size_t open_streams();

 private:
  void run();

  SnapshotSource& source_;
  const EventTiming timing_;
  std::mutex mu_;
  std::condition_variable cv_;
  struct Watcher {
    std::shared_ptr<mcp::HttpEventStream> stream;
    std::function<bool()> allowed;  // empty: always
  };
  // Closes (and reports) the watchers whose stream closed or whose `allowed` says no.
  static bool gone(const Watcher& w);

  std::vector<Watcher> streams_;  // getting updates
  std::vector<Watcher> fresh_;    // waiting for their first snapshot
  bool poked_ = false;
  bool stop_ = false;
  std::thread thread_;  // started by the first add()
};

// One SSE event carrying a snapshot: "id: <head>\nevent: state\ndata: <json>\n\n".
std::string state_event(std::int64_t head_seq, const std::string& snapshot_json);

}  // namespace keel::console
