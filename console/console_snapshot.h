// keel/console/console_snapshot.h — what the console shows, read from the
// store as JSON: agents, leases and waiters, escalations, the journal and its
// verify status, fanout runs in progress, recent hook denials and asks
// (the shape is /console/api/state in the console's API).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "state/store.h"

namespace keel::console {

// A journal page request (GET /console/api/journal).
struct JournalPageRequest {
  std::optional<std::string> op;
  std::optional<std::string> subject;
  std::optional<std::string> agent;  // the record's principal
  std::optional<std::int64_t> before_seq;
  int limit = 100;  // 1..1000
};

// Thread-safe. Reads `store` as `reader` (read-only calls; the reader needs
// journal.read and escalation.resolve); the store outlives it. journal_verify
// runs at most once per `verify_every_ms` (its report is cached), except that
// a small journal (< 10,000 records) that moved is verified again after
// `small_reverify_ms`; a caller never waits for another's verify (it gets the
// cached report). A journal page walks back at most 20 windows of
// `journal_window` seqs (1..10,000).
class SnapshotSource {
 public:
  SnapshotSource(state::Store& store, state::Principal reader, std::int64_t verify_every_ms = 10'000,
                 std::int64_t small_reverify_ms = 2'000, std::int64_t journal_window = 10'000);

  // The newest journal record's seq (0 when the journal is empty): cheap,
  // one indexed read.
  std::int64_t head_seq();
  // A hash of the queued waiters (id and names). A waiter joins and leaves the
  // queue without a journal record, so the head alone does not show it.
  std::uint64_t waiters_mark();
  // The whole snapshot.
  boost::json::object build();
  // {"records": [...]}, newest first. With before_seq (clamped to head + 1),
  // a page that stopped at the walk's bound before `limit` records adds
  // "more_before_seq": ask again with it for older records.
  boost::json::object journal_page(const JournalPageRequest& q);

 private:
  boost::json::object verify_status();

  state::Store& store_;
  const state::Principal reader_;
  const std::int64_t verify_every_ms_;
  const std::int64_t small_reverify_ms_;
  const std::int64_t journal_window_;
  std::mutex verify_mu_;  // held while verifying; guards verify_at_ms_, verify_head_
  std::mutex cache_mu_;   // guards verify_cache_ (written under both mutexes)
  std::optional<boost::json::object> verify_cache_;
  std::int64_t verify_at_ms_ = 0;
  std::int64_t verify_head_ = -1;  // head_seq when the cached report was taken
};

// One journal record as the console shows it (payload parsed when it is JSON).
boost::json::object journal_record_json(const state::JournalRecord& r);

// Wall-clock milliseconds.
std::int64_t wall_ms();

}  // namespace keel::console
