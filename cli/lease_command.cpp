// keel lease ls|acquire|release|ask|downgrade|adopt
#include <algorithm>
#include <iostream>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "tools/tool_support.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

std::int64_t free_units(const state::LeaseCapacity& c) {
  return std::max<std::int64_t>(0, c.capacity - c.used);
}

// A lease as `lease ls --json` prints it: the tools' lease shape, with the
// units it takes and the acquire it came from.
json::object held_json(const state::LeaseInfo& l) {
  json::object o = tools::lease_json(l);
  o["units"] = l.units;
  o["group_id"] = l.group_id;
  return o;
}

json::object board_json(const state::LeaseBoard& b) {
  json::array leases, waiters, asks, capacities;
  for (const auto& l : b.leases) leases.push_back(held_json(l));
  for (const auto& w : b.waiters) {
    json::array names;
    for (const auto& n : w.names) names.emplace_back(n);
    waiters.push_back(json::object{{"waiter_id", w.waiter_id}, {"agent", w.agent},
                                   {"names", std::move(names)}, {"mode", state::to_string(w.mode)},
                                   {"units", w.units}, {"priority", w.priority},
                                   {"enqueued_at", w.enqueued_at_ms}, {"rank", w.rank_ms}});
  }
  for (const auto& a : b.asks) {
    asks.push_back(json::object{{"ask_id", a.ask_id}, {"name", a.name}, {"asker", a.asker},
                                {"holder", a.holder}, {"reason", a.reason}, {"at", a.at_ms},
                                {"delivered", a.delivered}});
  }
  for (const auto& c : b.capacities) {
    capacities.push_back(json::object{{"name", c.name}, {"capacity", c.capacity},
                                      {"used", c.used}, {"free", free_units(c)}});
  }
  return {{"leases", std::move(leases)}, {"waiters", std::move(waiters)},
          {"asks", std::move(asks)}, {"capacities", std::move(capacities)}};
}

std::string names_text(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

int run_ls(const Args& args, Workspace& ws) {
  // Holds of agents whose process is gone are free: say so by freeing them first.
  ws.store().scavenge_dead_agents(ws.human());
  const state::LeaseBoard b = ws.store().lease_board(ws.human(), args.get("prefix").value_or(""));
  if (args.has("json")) {
    std::cout << json::serialize(board_json(b)) << "\n";
    return 0;
  }
  if (b.leases.empty()) std::cout << "no live leases\n";
  for (const auto& l : b.leases) {
    std::cout << l.name << "  " << state::to_string(l.mode) << "  " << l.holder << "  token "
              << l.token << "  expires " << l.expires_at_ms;
    if (l.units != 1) std::cout << "  units " << l.units;
    std::cout << "  (" << l.lease_id << ")\n";
  }
  if (!b.waiters.empty()) std::cout << "\nqueue (served in this order):\n";
  int n = 0;
  for (const auto& w : b.waiters) {
    std::cout << "  " << ++n << ". " << w.agent << " waits for " << names_text(w.names) << "  "
              << state::to_string(w.mode);
    if (w.units != 1) std::cout << "  units " << w.units;
    if (w.priority != 0) std::cout << "  priority " << w.priority;
    std::cout << "  since " << w.enqueued_at_ms << "\n";
  }
  if (!b.asks.empty()) std::cout << "\nrelease asks:\n";
  for (const auto& a : b.asks) {
    std::cout << "  " << a.asker << " asks " << a.holder << " to release " << a.name << ": "
              << a.reason << (a.delivered ? "  (shown to the holder)" : "") << "\n";
  }
  if (!b.capacities.empty()) std::cout << "\ncounted names:\n";
  for (const auto& c : b.capacities) {
    std::cout << "  " << c.name << "  " << c.used << "/" << c.capacity << " used, "
              << free_units(c) << " free\n";
  }
  return 0;
}

// The agent a command acts as: --agent, else "cli" (the human at the terminal).
state::Principal acting(const Args& args, const Workspace& ws) {
  return ws.human(args.get("agent").value_or("cli"));
}

std::int64_t int_option(const Args& args, std::string_view name, std::int64_t fallback) {
  return args.get_int(name).value_or(fallback);
}

int run_acquire(const Args& args, Workspace& ws) {
  if (args.positionals().empty()) throw UsageError("name at least one lease");
  state::AcquireRequest req;
  if (args.positionals().size() == 1) {
    req.name = args.positionals()[0];
  } else {
    req.names = args.positionals();
  }
  const std::string mode = args.get("mode").value_or("exclusive");
  if (mode == "shared") req.mode = state::LeaseMode::kShared;
  else if (mode != "exclusive") throw UsageError("--mode must be exclusive or shared");
  req.ttl_ms = int_option(args, "ttl-ms", ws.config().lease_default_ttl_ms);
  req.wait_ms = int_option(args, "wait-ms", 0);
  req.units = int_option(args, "units", 1);
  if (args.has("capacity")) req.capacity = int_option(args, "capacity", 0);
  const std::int64_t priority = int_option(args, "priority", 0);
  if (priority < state::kMinLeasePriority || priority > state::kMaxLeasePriority) {
    throw UsageError("--priority must be between " + std::to_string(state::kMinLeasePriority) +
                     " and " + std::to_string(state::kMaxLeasePriority));
  }
  req.priority = static_cast<int>(priority);
  req.reason = args.get("reason").value_or("");
  req.request_id = args.get("request-id");
  const state::AcquireResult r = ws.store().acquire_lease(acting(args, ws), req);

  if (args.has("json")) {
    json::array leases, holders, counted, ahead;
    for (const auto& l : r.leases) leases.push_back(held_json(l));
    for (const auto& l : r.holders) holders.push_back(held_json(l));
    for (const auto& c : r.counted) {
      counted.push_back(json::object{{"name", c.name}, {"capacity", c.capacity},
                                     {"used", c.used}, {"free", free_units(c)}});
    }
    for (const auto& w : r.ahead) {
      json::array names;
      for (const auto& n : w.names) names.emplace_back(n);
      ahead.push_back(json::object{{"agent", w.agent}, {"names", std::move(names)},
                                   {"enqueued_at", w.enqueued_at_ms}, {"priority", w.priority}});
    }
    json::object out{{"granted", r.granted}, {"leases", std::move(leases)}};
    if (!r.granted) {
      out["refusal"] = state::to_string(r.refusal);
      out["holders"] = std::move(holders);
      out["counted"] = std::move(counted);
      out["ahead"] = std::move(ahead);
      out["timed_out"] = r.timed_out;
      out["waited_ms"] = r.waited_ms;
    }
    if (r.replayed) out["replay_status"] = r.replay_status;
    if (r.already_held) out["already_held"] = true;
    if (r.upgraded) out["upgraded"] = true;
    std::cout << json::serialize(out) << "\n";
    return r.granted ? 0 : 1;
  }
  if (r.granted) {
    for (const auto& l : r.leases) {
      std::cout << (r.upgraded ? "upgraded: " : r.already_held ? "already held: " : "granted: ")
                << l.name << "  " << state::to_string(l.mode) << "  token " << l.token;
      if (l.units != 1) std::cout << "  units " << l.units;
      std::cout << "  expires " << l.expires_at_ms << "  (" << l.lease_id << ")\n";
    }
    if (!r.leases.empty()) std::cout << "group " << r.leases.front().group_id << "\n";
    return 0;
  }
  std::string why;
  switch (r.refusal) {
    case state::LeaseRefusal::kCapacity:
      for (const auto& c : r.counted) {
        why += "not enough capacity on " + c.name + ": " + std::to_string(c.used) + " of " +
               std::to_string(c.capacity) + " units used, " + std::to_string(free_units(c)) +
               " free\n";
      }
      break;
    case state::LeaseRefusal::kQueued:
      for (const auto& w : r.ahead) {
        why += "queued behind " + w.agent + " (waiting for " + names_text(w.names) + ")\n";
      }
      break;
    case state::LeaseRefusal::kReleased:
      why = "request " + req.request_id.value_or("") + " was granted, and " + r.replay_status +
            " since\n";
      break;
    default:
      for (const auto& h : r.holders) {
        why += h.name + " is held by " + h.holder + " (" + std::string(state::to_string(h.mode)) +
               ", token " + std::to_string(h.token) + ") until " + std::to_string(h.expires_at_ms) +
               "\n";
      }
  }
  if (r.timed_out) std::cout << "waited " << r.waited_ms << " ms and timed out: ";
  else std::cout << "refused: ";
  std::cout << (why.empty() ? std::string(state::to_string(r.refusal)) + "\n" : why);
  return 1;
}

int run_release(const Args& args, Workspace& ws) {
  if (args.has("group")) {
    if (!args.positionals().empty() || args.has("lease-id")) {
      throw UsageError("--group releases every lease of one acquire: give no NAME nor --lease-id");
    }
    const auto released = ws.store().release_group(ws.human(), args.get("group").value_or(""),
                                                   /*force=*/true);
    if (released.empty()) std::cout << "already_released: no live lease of that group\n";
    for (const auto& l : released) std::cout << "released: " << l.name << "  (" << l.lease_id << ")\n";
    return 0;
  }
  if (args.positionals().size() != 1) throw UsageError("name exactly one lease, or give --group");
  const std::string& name = args.positionals()[0];
  auto outcome = ws.store().release_lease(ws.human(), name, args.get("lease-id").value_or(""),
                                          /*force=*/true);
  std::cout << state::to_string(outcome) << ": " << name << "\n";
  return 0;
}

int run_ask(const Args& args, Workspace& ws) {
  if (args.positionals().size() != 1) throw UsageError("name exactly one lease");
  const std::string reason = args.get("reason").value_or("");
  if (reason.empty()) throw UsageError("--reason R is required: the holder is shown it");
  const auto asks = ws.store().ask_release(acting(args, ws), args.positionals()[0], reason);
  for (const auto& a : asks) {
    std::cout << "asked " << a.holder << " to release " << a.name << "  (" << a.ask_id << ")\n";
  }
  return 0;
}

int run_downgrade(const Args& args, Workspace& ws) {
  if (args.positionals().size() != 1) throw UsageError("name exactly one lease");
  const std::string lease_id = args.get("lease-id").value_or("");
  if (lease_id.empty()) throw UsageError("--lease-id ID is required");
  const state::LeaseInfo l = ws.store().downgrade_lease(acting(args, ws), args.positionals()[0], lease_id);
  std::cout << state::to_string(l.mode) << ": " << l.name << "  held by " << l.holder << "  token "
            << l.token << "  (" << l.lease_id << ")\n";
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

const OptionSpec kAgentOption{"agent", "NAME", "act as this agent (default cli)"};

}  // namespace

std::vector<Command> lease_commands() {
  return {
      Command{{"lease", "ls"}, "keel lease ls [--prefix P] [--json]",
              "live leases, the queue, release asks and counted names of the project", "",
              {{"prefix", "P", "only names starting with P"}, {"json", "", "print JSON"}},
              run_ls},
      Command{{"lease", "acquire"},
              "keel lease acquire NAME... [--mode M] [--ttl-ms N] [--wait-ms N] [--units N] "
              "[--capacity N] [--priority P] [--agent NAME] [--json]",
              "take leases on one name or several, all or none; journaled",
              "Several names are granted together or not at all. A counted name (config\n"
              "lease.capacities, or --capacity on its first acquire) admits holders while\n"
              "their --units fit. --wait-ms waits in the project's fair queue. Exit 1 when\n"
              "refused: the reason is printed (held by, not enough capacity, queued behind).",
              {{"mode", "M", "exclusive (default) or shared"},
               {"ttl-ms", "N", "time to live (default: lease.default_ttl_ms)"},
               {"wait-ms", "N", "wait up to N ms in the queue (default 0)"},
               {"units", "N", "units of a counted name (default 1)"},
               {"capacity", "N", "declare a free name counted with this capacity"},
               {"priority", "P", "-10..10, higher is served earlier (default 0)"},
               {"reason", "R", "why, journaled and shown to others"},
               {"request-id", "ID", "idempotency key"},
               kAgentOption,
               {"json", "", "print JSON"}},
              run_acquire},
      Command{{"lease", "release"}, "keel lease release NAME [--lease-id ID] | --group G",
              "release leases whoever holds them (as the human: lease.force); journaled",
              "Without --lease-id every hold on NAME is released. --group releases every\n"
              "lease of one acquire (its group_id, shown by lease acquire and lease ls --json).",
              {{"lease-id", "ID", "release only this lease"},
               {"group", "G", "release every lease of this acquire"}},
              run_release},
      Command{{"lease", "ask"}, "keel lease ask NAME --reason R [--agent NAME]",
              "ask every holder of NAME to release it; journaled (ASK_RELEASE)",
              "Each holder sees the ask on its next hook event; lease ls lists open asks.",
              {{"reason", "R", "why (required)"}, kAgentOption}, run_ask},
      Command{{"lease", "downgrade"}, "keel lease downgrade NAME --lease-id ID [--agent NAME]",
              "turn an exclusive lease into a shared one (new token); journaled",
              "Only the holder may downgrade: --agent names it.",
              {{"lease-id", "ID", "the lease"}, kAgentOption}, run_downgrade},
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
