// keel lease ls|release|adopt
#include <iostream>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "tools/tool_support.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

int run_ls(const Args& args, Workspace& ws) {
  // Holds of agents whose process is gone are free: say so by freeing them first.
  ws.store().scavenge_dead_agents(ws.human());
  auto leases = ws.store().list_leases(ws.human(), args.get("prefix").value_or(""));
  if (args.has("json")) {
    json::array arr;
    for (const auto& l : leases) arr.push_back(tools::lease_json(l));
    std::cout << json::serialize(json::object{{"leases", std::move(arr)}}) << "\n";
    return 0;
  }
  if (leases.empty()) std::cout << "no live leases\n";
  for (const auto& l : leases) {
    std::cout << l.name << "  " << state::to_string(l.mode) << "  " << l.holder << "  token "
              << l.token << "  expires " << l.expires_at_ms << "  (" << l.lease_id << ")\n";
  }
  return 0;
}

int run_release(const Args& args, Workspace& ws) {
  if (args.positionals().size() != 1) throw UsageError("name exactly one lease");
  const std::string& name = args.positionals()[0];
  auto outcome = ws.store().release_lease(ws.human(), name, args.get("lease-id").value_or(""),
                                          /*force=*/true);
  std::cout << state::to_string(outcome) << ": " << name << "\n";
  return 0;
}

int run_adopt(const Args& args, Workspace& ws) {
  if (args.positionals().size() != 1) throw UsageError("name exactly one lease");
  const std::string to = args.get("to").value_or("");
  if (to.empty()) throw UsageError("--to AGENT is required (keel agents ls names them)");
  const state::LeaseInfo l = ws.store().adopt_lease(ws.human(), args.positionals()[0],
                                                    args.get("lease-id").value_or(""), to);
  std::cout << "adopted: " << l.name << " now held by " << l.holder << ", token " << l.token
            << " (the old holder's token is stale), expires " << l.expires_at_ms << "  ("
            << l.lease_id << ")\n";
  return 0;
}

}  // namespace

std::vector<Command> lease_commands() {
  return {
      Command{{"lease", "ls"}, "keel lease ls [--prefix P] [--json]",
              "live leases of the project", "",
              {{"prefix", "P", "only names starting with P"}, {"json", "", "print JSON"}},
              run_ls},
      Command{{"lease", "release"}, "keel lease release NAME [--lease-id ID]",
              "release a lease whoever holds it (as the human: lease.force); journaled",
              "Without --lease-id every hold on NAME is released.",
              {{"lease-id", "ID", "release only this lease"}}, run_release},
      Command{{"lease", "adopt"}, "keel lease adopt NAME --to AGENT [--lease-id ID]",
              "move a live lease to another agent with a new, higher fencing token; journaled",
              "The old holder's fenced writes are refused from then on. Without --lease-id NAME\n"
              "must have exactly one live hold. AGENT must be an agent of the project.",
              {{"to", "AGENT", "the agent that gets the lease"},
               {"lease-id", "ID", "adopt only this lease"}},
              run_adopt},
  };
}

}  // namespace keel::cli
