// keel/observe/telemetry.h — what keel serve measures and traces: the metric families
// (observe/README.md lists them), the span exporter, and the store's commit observer.
//
// One Telemetry per serving process, shared (std::shared_ptr) by the request observer
// (request_observer.h), the /metrics route and the store's on_commit callback — which
// runs on the store's writer thread and may outlive the rest: close() stops the export,
// and what arrives afterwards is only counted.
//
// Thread safety: every member may be used from any thread.
#pragma once

#include <memory>
#include <string>

#include "observe/metrics.h"
#include "observe/span_exporter.h"
#include "observe/telemetry_config.h"
#include "state/store_options.h"

namespace keel::observe {

struct TelemetryOptions {
  TelemetryConfig config;           // traces when config.otlp_endpoint is set
  std::string transport = "pipe";   // network.transport: "pipe" (stdio) or "tcp" (HTTP)
  SpanExporter::Send send;          // tests: instead of net::http_request
};

class Telemetry {
 public:
  explicit Telemetry(TelemetryOptions options);
  ~Telemetry();
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  Registry registry;
  // Requests (request_observer.cpp).
  CounterFamily& mcp_requests;       // keel_mcp_requests_total{method,outcome}
  HistogramFamily& mcp_duration;     // keel_mcp_request_duration_seconds{method}
  CounterFamily& tool_calls;         // keel_tool_calls_total{tool,outcome}
  HistogramFamily& tool_duration;    // keel_tool_call_duration_seconds{tool}
  // Scrape-time reads (store_collector.cpp).
  GaugeFamily& leases_live;          // keel_leases_live
  GaugeFamily& lease_waiters;        // keel_lease_waiters
  GaugeFamily& escalations_pending;  // keel_escalations_pending
  CounterFamily& hook_decisions;     // keel_hook_decisions_total{outcome,rule}
  CounterFamily& notify_deliveries;  // keel_notify_deliveries_total{target,outcome}
  GaugeFamily& http_sessions;        // keel_http_sessions
  // The store's writer (on_commit).
  CounterFamily& store_commits;      // keel_store_commits_total{outcome}
  HistogramFamily& commit_jobs;      // keel_store_commit_jobs
  HistogramFamily& commit_duration;  // keel_store_commit_duration_seconds
  // Traces.
  CounterFamily& spans_exported;     // keel_trace_spans_exported_total
  CounterFamily& spans_dropped;      // keel_trace_spans_dropped_total
  CounterFamily& export_failures;    // keel_trace_export_failures_total
  // Process.
  GaugeFamily& resident_memory;      // process_resident_memory_bytes
  GaugeFamily& start_time;           // process_start_time_seconds

  const std::string& transport() const { return transport_; }
  // Null without an OTLP endpoint.
  SpanExporter* exporter() { return exporter_.get(); }
  bool tracing() const { return exporter_ != nullptr; }

  // StoreOptions::on_commit: cheap, never throws.
  void on_commit(const state::CommitSample& sample) noexcept;
  // Sets the process gauges (/proc/self/statm).
  void read_process();
  // Flushes and stops the span export (within config.timeout_ms). Idempotent.
  void close();

 private:
  std::string transport_;
  std::unique_ptr<SpanExporter> exporter_;
};

}  // namespace keel::observe
