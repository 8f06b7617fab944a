// keel/observe/span_exporter.cpp — the batching OTLP exporter (span_exporter.h).
#include "observe/span_exporter.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace keel::observe {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

SpanExporter::SpanExporter(TelemetryConfig config, ExportCounters counters, Send send)
    : config_(std::move(config)), counters_(counters), send_(std::move(send)) {
  if (!send_) send_ = net::http_request;
  config_.max_queue = std::max(1, config_.max_queue);
  config_.max_batch = std::max(1, config_.max_batch);
  config_.flush_ms = std::max<std::int64_t>(1, config_.flush_ms);
  config_.timeout_ms = std::max<std::int64_t>(1, config_.timeout_ms);
  thread_ = std::thread([this] { run(); });
}

SpanExporter::~SpanExporter() { close(); }

void SpanExporter::close() {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
    deadline_ = Clock::now() + milliseconds(config_.timeout_ms);
  }
  cv_.notify_all();
  thread_.join();
}

bool SpanExporter::submit(Span span) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (closing_ || queue_.size() >= static_cast<std::size_t>(config_.max_queue)) {
      counters_.dropped.inc();
      return false;
    }
    queue_.push_back(std::move(span));
    // The thread waits for a first span, then for a full batch or flush_ms.
    wake = queue_.size() == 1 || queue_.size() == static_cast<std::size_t>(config_.max_batch);
  }
  if (wake) cv_.notify_one();
  return true;
}

void SpanExporter::run() {
  const auto batch_size = static_cast<std::size_t>(config_.max_batch);
  std::unique_lock lock(mu_);
  for (;;) {
    if (!closing_ && queue_.size() < batch_size) {
      // Wait for a full batch, closing, or flush_ms since the oldest span arrived
      // (it arrived at most this long ago: we wait from when the queue stops being empty).
      if (queue_.empty()) cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      cv_.wait_for(lock, milliseconds(config_.flush_ms),
                   [&] { return closing_ || queue_.size() >= batch_size; });
    }
    if (queue_.empty()) {
      if (closing_) return;
      continue;
    }
    milliseconds timeout(config_.timeout_ms);
    if (closing_) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) {
        counters_.dropped.inc(queue_.size());
        queue_.clear();
        return;
      }
      timeout = std::min(timeout, left);
    }
    const std::size_t n = std::min(batch_size, queue_.size());
    std::vector<Span> batch(std::make_move_iterator(queue_.begin()),
                            std::make_move_iterator(queue_.begin() + static_cast<long>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
    lock.unlock();
    export_batch(batch, timeout);
    lock.lock();
  }
}

void SpanExporter::export_batch(std::vector<Span>& batch, milliseconds timeout) {
  net::HttpClientRequest req;
  req.method = "POST";
  req.url = config_.otlp_endpoint;
  for (const auto& [k, v] : config_.otlp_headers) req.headers.emplace_back(k, v);
  req.content_type = "application/json";
  req.body = otlp_json(batch, config_.service_name);
  req.timeout = timeout;
  net::HttpClientResponse res;
  try {
    res = send_(req);
  } catch (const std::exception& e) {
    res.error = e.what();
  }
  if (res.ok()) {
    counters_.exported.inc(batch.size());
    return;
  }
  counters_.failures.inc();
  counters_.dropped.inc(batch.size());
  if (counters_.failures.value() == 1) {
    spdlog::warn("otlp: exporting spans to {} failed: {} (later failures are counted in "
                 "keel_trace_export_failures_total)",
                 config_.otlp_endpoint,
                 res.error.empty() ? "HTTP " + std::to_string(res.status) : res.error);
  }
  spdlog::debug("otlp: export of {} spans failed: {}", batch.size(),
                res.error.empty() ? "HTTP " + std::to_string(res.status) : res.error);
}

}  // namespace keel::observe
