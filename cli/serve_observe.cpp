// keel/cli/serve_observe.cpp — metrics and traces for keel serve (serve_surfaces.h):
// GET /metrics (keel serve --http with config http.metrics, the default) and OTLP span
// export (config telemetry.otlp_endpoint). Neither configured: nothing runs and requests
// pay one pointer test.
#include <spdlog/spdlog.h>

#include "cli/serve_surfaces.h"
#include "observe/request_observer.h"
#include "observe/scrape.h"
#include "observe/telemetry.h"

namespace keel::cli {

namespace {

class ServeObservability final : public Observability {
 public:
  ServeObservability(Workspace& ws, std::shared_ptr<observe::Telemetry> telemetry,
                     std::shared_ptr<observe::Scraper> scraper)
      : ws_(ws), telemetry_(std::move(telemetry)), scraper_(std::move(scraper)) {}

  // The store keeps its commit observer (and through it the Telemetry) after this:
  // close() ends the export; later commits are only counted.
  ~ServeObservability() override { telemetry_->close(); }

  void attach(mcp::McpServer& server) override {
    server.set_observer(observe::make_request_observer(telemetry_, &server.tools()));
    if (scraper_) scraper_->attach_store(ws_.store(), ws_.human("keel-metrics"));
  }

 private:
  Workspace& ws_;
  std::shared_ptr<observe::Telemetry> telemetry_;
  std::shared_ptr<observe::Scraper> scraper_;  // null without /metrics
};

}  // namespace

std::unique_ptr<Observability> start_observability(Workspace& ws, mcp::HttpOptions* http) {
  const Config& config = ws.config();
  const bool metrics = http != nullptr && config.http_metrics;
  const bool traces = !config.telemetry.otlp_endpoint.empty();
  if (!metrics && !traces) return nullptr;

  observe::TelemetryOptions options;
  options.config = config.telemetry;
  options.transport = http != nullptr ? "tcp" : "pipe";
  auto telemetry = std::make_shared<observe::Telemetry>(std::move(options));
  ws.set_commit_observer(
      [telemetry](const state::CommitSample& sample) { telemetry->on_commit(sample); });

  std::shared_ptr<observe::Scraper> scraper;
  if (metrics) {
    scraper = std::make_shared<observe::Scraper>(telemetry);
    // Behind the same Origin, Host and bearer-token checks as every route.
    http->routes.emplace_back("/metrics", observe::metrics_route(scraper), /*is_public=*/false,
                              /*exact=*/true);
  }
  if (traces) {
    spdlog::info("telemetry: exporting spans to {}", config.telemetry.otlp_endpoint);
  }
  return std::make_unique<ServeObservability>(ws, std::move(telemetry), std::move(scraper));
}

}  // namespace keel::cli
