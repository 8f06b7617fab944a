// keel/cli/serve_surfaces.h — what `keel serve` runs beside MCP, for the people around the
// fleet: the web console (cli/serve_console.cpp), metrics and traces (cli/serve_observe.cpp)
// and the notifier (cli/serve_notify.cpp). serve_command.cpp calls them in this order:
//
//   1. start_observability(ws, http_or_null)   before ws.store() opens (it sets the commit
//                                               observer) and before the McpServer exists;
//   2. add_console_routes(http, ws)             --http only, before the server starts;
//   3. observability->attach(server)            once the McpServer exists;
//   4. start_notifier(ws)                       after the store is open;
//   5. start_retention(ws)                      after the store is open;
//
// and destroys what they returned (retention and notifier first) after the transport stopped.
#pragma once

#include <memory>

#include "cli/workspace.h"
#include "mcp/http_server.h"
#include "mcp/server.h"

namespace keel::cli {

// Metrics (GET /metrics when `http` is given and config http.metrics) and OTLP traces
// (config telemetry.otlp_endpoint). Destroying it flushes what it can within its timeout.
class Observability {
 public:
  virtual ~Observability() = default;
  // Starts observing the server's requests (tool calls, their latency and outcome, spans).
  virtual void attach(mcp::McpServer& server) = 0;
};
std::unique_ptr<Observability> start_observability(Workspace& ws, mcp::HttpOptions* http);

// The console's routes (config http.console.enabled): the page at /, its API and its
// event stream. `http` must not have started.
void add_console_routes(mcp::HttpOptions& http, Workspace& ws);

// The notifier (config notify.targets; nullptr when there are none). Runs on its own
// thread until destroyed; never blocks a tool call.
class Notifier {
 public:
  virtual ~Notifier() = default;
};
std::unique_ptr<Notifier> start_notifier(Workspace& ws);

// journal.retention (cli/serve_retention.cpp; nullptr when off): folds the project's old
// journal records on its own thread, every interval_ms, under the lease
// "retention:journal"; destroying it stops it after the step in progress.
class Retention {
 public:
  virtual ~Retention() = default;
};
std::unique_ptr<Retention> start_retention(Workspace& ws);
// The principal it acts as: lease, journal.read and journal.admin.
state::Principal retention_principal(const std::string& project, const std::string& node);

}  // namespace keel::cli
