// keel/cli/serve_notify.cpp — the notifier for keel serve (serve_surfaces.h): config
// notify.targets, delivered by notify::Notifier on its own thread.
#include <memory>

#include "cli/serve_surfaces.h"
#include "notify/notifier.h"

namespace keel::cli {

namespace {

class ServeNotifier final : public Notifier {
 public:
  explicit ServeNotifier(Workspace& ws)
      : impl_(ws.store(), ws.config().notify,
              notify::notifier_principal(ws.project_id(), ws.node_id())) {}

 private:
  notify::Notifier impl_;
};

}  // namespace

std::unique_ptr<Notifier> start_notifier(Workspace& ws) {
  if (ws.config().notify.targets.empty()) return nullptr;
  return std::make_unique<ServeNotifier>(ws);
}

}  // namespace keel::cli
