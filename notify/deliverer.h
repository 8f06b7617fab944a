// keel/notify/deliverer.h — delivers one target's events, in journal order, from one keel
// process at a time.
//
// The journal is the outbox: a TargetDeliverer reads the records after its cursor, POSTs
// each one the target wants, and journals the outcome as a NOTIFY record (subject
// "notify:<target>", payload {target, event, event_seq, outcome: "delivered"|"failed",
// attempts, status?, error?}). The newest NOTIFY record of the target is its durable
// cursor; a target seen for the first time journals {target, outcome: "started",
// event_seq: <head>} so that it starts at the journal's head (history is not replayed)
// and a restart before the first delivery still finds its place.
//
// Only the holder of the keel lease "notify:<target>" delivers; every other process
// stands by and tries again every standby_retry (it looks at the lease board first, so
// standing by journals nothing). The lease (TTL 60 s by default) is renewed every ttl/3
// (20 s), and before an attempt once that is due, so a hold stays live during a slow
// receiver. A process that dies holding it is replaced once its TTL has run out. NOTIFY writes are not fenced by the
// lease token: a holder that stalls past its TTL (a frozen process) may deliver an event
// its successor delivers too — at least once, never lost.
//
// A failing event is retried (backoff.h) until retry_for_ms after its first attempt (by
// this deliverer: a restart starts the window again), then journaled "failed"; later
// events wait behind it (order per target is kept), and their own windows start only
// when they are first tried.
//
// One step() starts no new attempt once step_budget has passed (one attempt in flight
// may still take timeout_ms), so a backlog behind a slow receiver is worked off in
// bounded steps; the Notifier runs each target on a thread of its own.
//
// Thread safety: none; one thread calls step() (notify/notifier.h). Ownership: borrows
// the store, the target, the config and the sender, which must outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "net/http_client.h"
#include "notify/notify_config.h"
#include "state/store.h"

namespace keel::notify {

// Sends one request (net::http_request, or a test's stand-in). Must not throw.
using Sender = std::function<net::HttpClientResponse(const net::HttpClientRequest&)>;

struct DelivererOptions {
  std::int64_t lease_ttl_ms = 60'000;  // renewed every ttl/3; at least 3 × timeout_ms is used
  // A step() starts no attempt after this long (nor after ttl/3): it returns, due again.
  std::chrono::milliseconds step_budget{2'000};
  std::chrono::milliseconds standby_retry{3'000};
  int batch = 256;  // records read per journal query
};

class TargetDeliverer {
 public:
  // `who` needs caps lease and journal.read; its agent should start with kNotifierAgent
  // (event.h) so that its lease records are not events.
  TargetDeliverer(state::Store& store, const NotifyTarget& target, const NotifyConfig& config,
                  state::Principal who, const Sender& send, DelivererOptions options = {});

  // One pass: takes, keeps or gives up the lease, then sends what is due, in order, until
  // the journal has nothing more, an event must wait for its retry, `stopping` turns
  // true, or step_budget has passed (then next_due() is now). Throws StoreError when the store refuses (the caller logs and calls again).
  void step(const std::atomic<bool>& stopping);
  // When step() has something to do next (a retry's time, a standby's next try); the
  // steady clock's epoch when it is ready now.
  std::chrono::steady_clock::time_point next_due() const;

  bool holds_lease() const { return lease_.has_value(); }
  // Gives the lease up (shutdown); the next step() would try to take it again.
  void release();

  std::int64_t cursor() const { return cursor_.value_or(0); }

 private:
  bool keep_lease(std::chrono::steady_clock::time_point now);
  bool take_lease();
  void load_cursor();
  void journal(const state::JournalRecord& r, std::string_view event, bool delivered,
               const net::HttpClientResponse& last);

  state::Store& store_;
  const NotifyTarget& target_;
  const NotifyConfig& config_;
  state::Principal who_;
  const Sender& send_;
  DelivererOptions options_;
  std::string lease_name_;  // and the NOTIFY subject: "notify:<target>"

  std::optional<state::LeaseInfo> lease_;
  std::chrono::steady_clock::time_point renewed_at_{};
  std::chrono::steady_clock::time_point next_lease_try_{};
  std::optional<std::int64_t> cursor_;
  std::deque<state::JournalRecord> queue_;  // read, not yet done
  int attempts_ = 0;                        // of queue_.front()
  std::int64_t first_attempt_ms_ = 0;       // wall clock of queue_.front()'s first attempt
  std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace keel::notify
