// keel/observe/scrape.h — GET /metrics: what is read when Prometheus scrapes.
//
// A scrape sets the gauges read from the store (live leases, lease waiters, pending
// escalations: bounded reads of the project), counts the HOOK and NOTIFY journal records
// written since the previous scrape (from a cursor taken when the store was attached, so
// the counters are monotonic for this process and include decisions of `keel hook`
// processes and other keel nodes), reads the process gauges and the open HTTP sessions,
// and renders the registry. A store read that fails leaves its metrics as they were (logged).
//
// Thread safety: scrape() may be called from several threads; scrapes are serialized.
// The store given to attach_store() must outlive every later scrape() (the HTTP server
// that calls the route stops before the store closes).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "mcp/http_server.h"
#include "observe/telemetry.h"
#include "state/principal.h"
#include "state/store.h"

namespace keel::observe {

class Scraper {
 public:
  explicit Scraper(std::shared_ptr<Telemetry> telemetry);
  // From now on scrapes read `store` as `who` (who.project; needs lease, journal.read and
  // escalation.resolve capabilities). Takes the journal cursor.
  void attach_store(state::Store& store, state::Principal who);
  // The exposition text.
  std::string scrape();

  // At most this many journal records are counted per scrape (the rest: next scrape).
  static constexpr int kMaxRecordsPerScrape = 20000;

 private:
  void read_store();
  void count_journal(const std::string& op, std::int64_t& cursor);

  std::shared_ptr<Telemetry> t_;
  std::mutex mu_;  // serializes scrapes
  state::Store* store_ = nullptr;
  state::Principal who_;
  std::int64_t hook_cursor_ = 0;
  std::int64_t notify_cursor_ = 0;
};

// The /metrics route: GET (or HEAD) on exactly `path` → 200 text/plain; version=0.0.4;
// another method → 405; a longer path → 404.
mcp::HttpRoute metrics_route(std::shared_ptr<Scraper> scraper, std::string path = "/metrics");

}  // namespace keel::observe
