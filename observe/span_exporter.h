// keel/observe/span_exporter.h — spans to an OTLP/HTTP (JSON) collector, batched, never
// blocking the request path.
//
// submit() puts a finished span on a bounded queue (TelemetryConfig::max_queue) and
// returns at once; when the queue is full, or the exporter is closed, the span is
// dropped and counted (keel_trace_spans_dropped_total). One thread sends batches of up
// to max_batch spans, as soon as a batch is full or flush_ms after the oldest waiting
// span, each POST bounded by timeout_ms (net::http_request). A failed export drops its
// batch (counted in keel_trace_export_failures_total and the dropped spans): a collector
// that is slow or gone costs queue room, never a request's time.
//
// Destroying the exporter sends what is queued within timeout_ms in all, then drops
// the rest (counted).
//
// Thread safety: submit() from any number of threads; the counters are the caller's
// and must outlive the exporter.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "net/http_client.h"
#include "observe/metrics.h"
#include "observe/span.h"
#include "observe/telemetry_config.h"

namespace keel::observe {

struct ExportCounters {
  Counter& exported;  // spans the collector accepted (2xx)
  Counter& dropped;   // spans dropped: queue full, export failed, closing
  Counter& failures;  // export requests that failed
};

class SpanExporter {
 public:
  using Send = std::function<net::HttpClientResponse(const net::HttpClientRequest&)>;
  // `send` defaults to net::http_request. config.otlp_endpoint must be set.
  SpanExporter(TelemetryConfig config, ExportCounters counters, Send send = {});
  ~SpanExporter();
  SpanExporter(const SpanExporter&) = delete;
  SpanExporter& operator=(const SpanExporter&) = delete;

  // Queues `span` (false: dropped). Never blocks on the network.
  bool submit(Span span);
  // Flushes within timeout_ms and stops the thread; later spans are dropped
  // (counted). Idempotent; the destructor calls it.
  void close();

 private:
  void run();
  void export_batch(std::vector<Span>& batch, std::chrono::milliseconds timeout);

  TelemetryConfig config_;
  ExportCounters counters_;
  Send send_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Span> queue_;
  bool closing_ = false;
  std::chrono::steady_clock::time_point deadline_{};  // when closing: the flush's end
  std::thread thread_;
};

}  // namespace keel::observe
