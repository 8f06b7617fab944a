// keel/cli/serve_notify.cpp — the notifier for keel serve (serve_surfaces.h).
#include "cli/serve_surfaces.h"

namespace keel::cli {

std::unique_ptr<Notifier> start_notifier(Workspace&) { return nullptr; }  // issue 19: in progress (h2)

}  // namespace keel::cli
