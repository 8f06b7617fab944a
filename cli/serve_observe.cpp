// keel/cli/serve_observe.cpp — metrics and traces for keel serve (serve_surfaces.h).
#include "cli/serve_surfaces.h"

namespace keel::cli {

std::unique_ptr<Observability> start_observability(Workspace&, mcp::HttpOptions*) {
  return nullptr;  // issue 19: in progress (h3)
}

}  // namespace keel::cli
