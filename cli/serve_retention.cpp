// keel/cli/serve_retention.cpp — journal.retention for keel serve
// (serve_surfaces.h): a thread that runs state::run_retention_pass every
// interval_ms under the lease "retention:journal", so that one process per
// project (across nodes, on PostgreSQL) folds at a time. Off the commit path:
// the pass exports through a read snapshot and folds in steps of
// batch_records, each one short write job.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/serve_surfaces.h"
#include "state/journal_retention.h"

namespace keel::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class ServeRetention final : public Retention {
 public:
  ServeRetention(state::Store& store, state::Principal who, state::RetentionOptions options)
      : store_(store), who_(std::move(who)), options_(std::move(options)) {
    // Held for a pass and renewed between its steps: a step must fit well
    // inside it.
    lease_ttl_ms_ = std::max<std::int64_t>(60'000, 3 * options_.interval_ms);
    thread_ = std::thread([this] { run(); });
  }

  ~ServeRetention() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      // The first pass soon after start (a restarted serve catches up), then
      // every interval.
      const auto wait = passes_ == 0 ? std::chrono::milliseconds(std::min<std::int64_t>(
                                           1000, options_.interval_ms))
                                     : std::chrono::milliseconds(options_.interval_ms);
      if (cv_.wait_for(lock, wait, [this] { return stop_; })) return;
      lock.unlock();
      pass();
      lock.lock();
      ++passes_;
    }
  }

  bool stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

  // Takes the lease (looking first: a refused acquire would journal a REFUSE
  // every interval), runs a pass, releases it.
  void pass() {
    try {
      for (const auto& l : store_.list_leases(who_, std::string(state::kRetentionLease))) {
        if (l.name == state::kRetentionLease) return;  // another process's turn
      }
      state::AcquireRequest req;
      req.name = std::string(state::kRetentionLease);
      req.ttl_ms = lease_ttl_ms_;
      req.reason = "folds old journal records (journal.retention)";
      const state::AcquireResult r = store_.acquire_lease(who_, req);
      if (!r.granted || !r.lease) return;
      state::LeaseInfo lease = *r.lease;
      auto renewed = SteadyClock::now();
      try {
        const state::RetentionReport report =
            state::run_retention_pass(store_, who_, options_, wall_ms(), [&] {
              if (stopping()) throw Stopped{};
              if (SteadyClock::now() - renewed > std::chrono::milliseconds(lease_ttl_ms_ / 3)) {
                lease = store_.renew_lease(who_, lease.name, lease.lease_id);
                renewed = SteadyClock::now();
              }
            });
        if (report.folded_records > 0) {
          spdlog::info("journal.retention: folded {} records through seq {} ({} exported to {} "
                       "files)",
                       report.folded_records, report.through_seq, report.exported_records,
                       report.files.size());
        }
      } catch (const Stopped&) {
      }
      store_.release_lease(who_, lease.name, lease.lease_id);
    } catch (const std::exception& e) {
      // The lease, if held, expires on its own; the next pass tries again.
      spdlog::warn("journal.retention: {}", e.what());
    }
  }

  struct Stopped {};

  state::Store& store_;
  const state::Principal who_;
  const state::RetentionOptions options_;
  std::int64_t lease_ttl_ms_ = 60'000;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;        // guarded by mu_
  std::int64_t passes_ = 0;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

state::Principal retention_principal(const std::string& project, const std::string& node) {
  state::Principal who;
  who.agent = "keel-retention." + node + "." + std::to_string(::getpid());
  who.project = project;
  who.capabilities = {std::string(state::caps::kLease), std::string(state::caps::kJournalRead),
                      std::string(state::caps::kJournalAdmin)};
  return who;
}

std::unique_ptr<Retention> start_retention(Workspace& ws) {
  state::RetentionOptions options = ws.config().journal_retention;
  if (!options.enabled()) return nullptr;
  if (!options.export_dir.empty() && options.export_dir.is_relative()) {
    options.export_dir = ws.project() / options.export_dir;
  }
  spdlog::info("journal.retention: max_age {} ms, max_records {}, export to {}",
               options.max_age_ms, options.max_records,
               options.export_dir.empty() ? std::string("(nowhere)") : options.export_dir.string());
  return std::make_unique<ServeRetention>(
      ws.store(), retention_principal(ws.project_id(), ws.node_id()), std::move(options));
}

}  // namespace keel::cli
