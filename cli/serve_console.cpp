// keel/cli/serve_console.cpp — the console's routes for keel serve --http (serve_surfaces.h).
#include "cli/serve_surfaces.h"

namespace keel::cli {

void add_console_routes(mcp::HttpOptions&, Workspace&) {}  // issue 19: in progress (h1)

}  // namespace keel::cli
