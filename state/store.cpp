// keel/state/store.cpp — the backend-independent parts of store.h.
#include "state/store.h"

#include <algorithm>

#include "state/enum_names.h"

namespace keel::state {

const std::vector<std::string>& all_capabilities() {
  static const std::vector<std::string> kAll = {
      std::string(caps::kLease),           std::string(caps::kLeaseForce),
      std::string(caps::kMemorySession),   std::string(caps::kMemoryCrossRun),
      std::string(caps::kMemoryShared),    std::string(caps::kJournalRead),
      std::string(caps::kJournalAdmin),    std::string(caps::kEscalationRequest),
      std::string(caps::kEscalationResolve), std::string(caps::kFanout),
      std::string(caps::kFanoutCommand),   std::string(caps::kAgentAdmin)};
  return kAll;
}

std::set<std::string> default_agent_capabilities() {
  std::set<std::string> out(all_capabilities().begin(), all_capabilities().end());
  out.erase(std::string(caps::kLeaseForce));
  out.erase(std::string(caps::kJournalAdmin));
  out.erase(std::string(caps::kEscalationResolve));
  out.erase(std::string(caps::kAgentAdmin));
  return out;
}

void record_commit_stats(StoreStats& stats, std::size_t jobs, std::int64_t micros) {
  stats.commits += 1;
  stats.jobs += static_cast<std::int64_t>(jobs);
  stats.max_batch = std::max<std::int64_t>(stats.max_batch, static_cast<std::int64_t>(jobs));
  std::size_t bucket = 0;
  while ((std::size_t{2} << bucket) <= jobs) ++bucket;
  if (stats.batch_histogram.size() <= bucket) stats.batch_histogram.resize(bucket + 1, 0);
  stats.batch_histogram[bucket] += 1;
  micros = std::max<std::int64_t>(micros, 0);
  stats.commit_micros += micros;
  std::size_t lat = 0;
  while (lat < 62 && (std::int64_t{2} << lat) <= micros) ++lat;
  if (stats.commit_latency_histogram.size() <= lat) {
    stats.commit_latency_histogram.resize(lat + 1, 0);
  }
  stats.commit_latency_histogram[lat] += 1;
}

std::string_view to_string(ErrorCode code) {
  static constexpr std::array<std::string_view, 10> kNames{
      "INVALID_ARGUMENT", "PERMISSION_DENIED", "NOT_FOUND", "VERSION_MISMATCH", "STALE_FENCE",
      "EXPIRED",          "TOO_LARGE",         "BUSY",      "CANCELLED",        "INTERNAL"};
  static_assert(static_cast<std::size_t>(ErrorCode::kInternal) + 1 == kNames.size());
  return enum_name(code, kNames, "INTERNAL");
}

std::string_view to_string(LeaseMode mode) {
  return mode == LeaseMode::kShared ? "shared" : "exclusive";
}

std::string_view to_string(ReleaseOutcome outcome) {
  static constexpr std::array<std::string_view, 3> kNames{"released", "already_released",
                                                          "expired"};
  static_assert(static_cast<std::size_t>(ReleaseOutcome::kExpired) + 1 == kNames.size());
  return enum_name(outcome, kNames, "released");
}

std::string_view to_string(LeaseRefusal refusal) {
  static constexpr std::array<std::string_view, 5> kNames{"none", "held", "capacity", "queued",
                                                          "released"};
  static_assert(static_cast<std::size_t>(LeaseRefusal::kReleased) + 1 == kNames.size());
  return enum_name(refusal, kNames, "none");
}

std::string_view to_string(Tier tier) {
  return tier == Tier::kSession ? "session" : "cross_run";
}

std::string_view to_string(Namespace ns) {
  return ns == Namespace::kShared ? "shared" : "own";
}

}  // namespace keel::state
