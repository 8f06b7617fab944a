// keel/cli/serve_notify.cpp — the notifier for keel serve (serve_surfaces.h): config
// notify.targets, delivered by notify::Notifier on its own threads. Messages link to
// notify.console_url, or else to http.console.public_url.
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/serve_surfaces.h"
#include "notify/notifier.h"

namespace keel::cli {

namespace {

notify::NotifyConfig notify_config(const Config& config) {
  notify::NotifyConfig c = config.notify;
  if (c.console_url.empty()) c.console_url = config.console.public_url;
  return c;
}

// KEEL_NOTIFY_LEASE_TTL_MS (tests only: a killed process's targets are taken over sooner
// than the default 60 s); ignored unless a whole number of at least 1000.
notify::NotifierOptions notifier_options() {
  notify::NotifierOptions o;
  if (const char* env = std::getenv("KEEL_NOTIFY_LEASE_TTL_MS"); env && *env) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (*end == '\0' && v >= 1000) o.deliverer.lease_ttl_ms = v;
  }
  return o;
}

class ServeNotifier final : public Notifier {
 public:
  explicit ServeNotifier(Workspace& ws)
      : impl_(ws.store(), notify_config(ws.config()),
              notify::notifier_principal(ws.project_id(), ws.node_id()), net::http_request,
              notifier_options()) {}

 private:
  notify::Notifier impl_;
};

}  // namespace

std::unique_ptr<Notifier> start_notifier(Workspace& ws) {
  if (ws.config().notify.targets.empty()) return nullptr;
  return std::make_unique<ServeNotifier>(ws);
}

}  // namespace keel::cli
