// keel/cli/commands.h — the subcommand table. Each command file contributes
// its commands; app.cpp finds the one named on the command line.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/workspace.h"
#include "mcp/http_server.h"

namespace keel::cli {

struct Command {
  std::vector<std::string> words;   // e.g. {"journal", "verify"}
  std::string usage;                // e.g. "keel journal verify [--json]"
  std::string summary;              // one line
  std::string details;              // more help text, may be empty
  std::vector<OptionSpec> options;  // besides common_options()
  std::function<int(const Args&, Workspace&)> run;
};

std::vector<Command> serve_commands();
std::vector<Command> journal_commands();
std::vector<Command> lease_commands();
std::vector<Command> memory_commands();
std::vector<Command> hook_commands();
std::vector<Command> escalation_commands();
std::vector<Command> agents_commands();
std::vector<Command> store_commands();
std::vector<Command> console_commands();

// The JSON endpoint of escalations beside /mcp on `keel serve --http`, to be
// mounted at the prefix "/escalations" (cli/escalation_command.cpp):
// GET /escalations[?status=&cursor=&limit=], GET /escalations/ID,
// POST /escalations/ID/resolve {decision, proposal?}. `store` and `ws` are
// not owned and must outlive the route. Thread-safe.
mcp::HttpRoute escalation_http_route(state::Store& store, const Workspace& ws);
std::vector<Command> install_commands();
std::vector<Command> doctor_commands();

// Entry point of the keel executable.
int run_keel(int argc, char** argv);

}  // namespace keel::cli
