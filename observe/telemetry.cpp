// keel/observe/telemetry.cpp — the metric families, commit observer and process gauges
// (telemetry.h).
#include "observe/telemetry.h"

#include <unistd.h>

#include <chrono>
#include <fstream>

namespace keel::observe {

namespace {

const std::vector<double> kRequestSeconds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10,
                                             30,     60,    300};
const std::vector<double> kCommitSeconds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                            0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
const std::vector<double> kCommitJobs = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

double now_unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Telemetry::Telemetry(TelemetryOptions options)
    : mcp_requests(registry.counter("keel_mcp_requests_total",
                                    "MCP requests answered, by method and outcome (ok, error: a "
                                    "JSON-RPC error, tool_error: isError, cancelled).",
                                    {"method", "outcome"})),
      mcp_duration(registry.histogram("keel_mcp_request_duration_seconds",
                                      "Time from an MCP request's arrival to its response.",
                                      {"method"}, kRequestSeconds)),
      tool_calls(registry.counter("keel_tool_calls_total",
                                  "tools/call requests of keel's tools, by tool and outcome.",
                                  {"tool", "outcome"})),
      tool_duration(registry.histogram("keel_tool_call_duration_seconds",
                                       "tools/call latency, by tool (arrival to response).",
                                       {"tool"}, kRequestSeconds)),
      leases_live(registry.gauge("keel_leases_live", "Live leases of the project.")),
      lease_waiters(registry.gauge("keel_lease_waiters",
                                   "Acquires waiting in the project's lease queues.")),
      escalations_pending(registry.gauge("keel_escalations_pending",
                                         "Escalations of the project waiting for a human.")),
      hook_decisions(registry.counter(
          "keel_hook_decisions_total",
          "Hook decisions journaled since this process started (every keel process and node of "
          "the project), by outcome and rule.",
          {"outcome", "rule"})),
      notify_deliveries(registry.counter(
          "keel_notify_deliveries_total",
          "Notification deliveries journaled since this process started, by target and outcome.",
          {"target", "outcome"})),
      http_sessions(registry.gauge("keel_http_sessions",
                                   "Open MCP sessions (2025-11-25 era) on this HTTP server.")),
      store_commits(registry.counter("keel_store_commits_total",
                                     "Group commits of the store's writer, by outcome (ok, failed).",
                                     {"outcome"})),
      commit_jobs(registry.histogram("keel_store_commit_jobs",
                                     "Write jobs carried by one group commit.", {}, kCommitJobs)),
      commit_duration(registry.histogram("keel_store_commit_duration_seconds",
                                         "Group commit time, BEGIN to COMMIT.", {},
                                         kCommitSeconds)),
      spans_exported(registry.counter("keel_trace_spans_exported_total",
                                      "Spans accepted by the OTLP collector.")),
      spans_dropped(registry.counter(
          "keel_trace_spans_dropped_total",
          "Spans dropped: the export queue was full, the export failed, or keel was stopping.")),
      export_failures(registry.counter("keel_trace_export_failures_total",
                                       "OTLP export requests that failed.")),
      resident_memory(registry.gauge("process_resident_memory_bytes",
                                     "Resident memory size in bytes.")),
      start_time(registry.gauge("process_start_time_seconds",
                                "Start time of the process since the Unix epoch, in seconds.")),
      transport_(std::move(options.transport)) {
  start_time.with({}).set(static_cast<double>(static_cast<std::int64_t>(now_unix_seconds())));
  // Series that exist from the start, so a scrape shows them at zero.
  spans_exported.with({});
  spans_dropped.with({});
  export_failures.with({});
  store_commits.with({"ok"});
  if (!options.config.otlp_endpoint.empty()) {
    exporter_ = std::make_unique<SpanExporter>(
        options.config, ExportCounters{spans_exported.with({}), spans_dropped.with({}),
                                       export_failures.with({})},
        std::move(options.send));
  }
}

Telemetry::~Telemetry() { close(); }

void Telemetry::close() {
  if (exporter_) exporter_->close();
}

void Telemetry::on_commit(const state::CommitSample& sample) noexcept {
  try {
    store_commits.with({sample.ok ? "ok" : "failed"}).inc();
    commit_jobs.with({}).observe(static_cast<double>(sample.jobs));
    commit_duration.with({}).observe(static_cast<double>(sample.duration_ns) / 1e9);
    if (exporter_) {
      Span span;
      span.trace_id = new_trace_id();
      span.span_id = new_span_id();
      span.name = "store.commit";
      span.kind = SpanKind::kInternal;
      span.start_unix_ns = sample.start_unix_ns;
      span.end_unix_ns = sample.start_unix_ns + sample.duration_ns;
      span.attributes.push_back({"keel.store.commit.jobs", static_cast<std::int64_t>(sample.jobs)});
      if (!sample.ok) {
        span.error = true;
        span.status_message = "commit failed";
        span.attributes.push_back({"error.type", std::string("commit_failed")});
      }
      exporter_->submit(std::move(span));
    }
  } catch (...) {  // (bad_alloc) a metric lost, never the commit
  }
}

void Telemetry::read_process() {
  static const long page = ::sysconf(_SC_PAGESIZE);
  std::ifstream statm("/proc/self/statm");
  long size = 0;
  long resident = 0;
  if (statm >> size >> resident) resident_memory.with({}).set(static_cast<double>(resident * page));
}

}  // namespace keel::observe
