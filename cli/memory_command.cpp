// keel memory get|put|ls|rm
#include <iostream>

#include <boost/json.hpp>

#include "cli/commands.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

const std::vector<OptionSpec> kScopeOptions{
    {"tier", "T", "session or cross_run (default cross_run)"},
    {"shared", "", "the project's shared namespace (default: the agent's own)"},
    {"agent", "NAME", "whose own namespace (default cli)"},
    {"session", "ID", "the session whose session tier to use"},
    {"json", "", "print JSON"},
};

struct Scope {
  state::Tier tier = state::Tier::kCrossRun;
  state::Namespace ns = state::Namespace::kOwn;
  state::Principal who;
};

Scope scope_from(const Args& args, const Workspace& ws) {
  Scope s;
  std::string tier = args.get("tier").value_or("cross_run");
  if (tier == "session") s.tier = state::Tier::kSession;
  else if (tier != "cross_run") throw UsageError("--tier must be session or cross_run");
  if (args.has("shared")) s.ns = state::Namespace::kShared;
  s.who = ws.human(args.get("agent").value_or("cli"), args.get("session").value_or(""));
  return s;
}

const std::string& one_key(const Args& args, std::size_t count = 1) {
  if (args.positionals().size() != count) {
    throw UsageError(count == 1 ? "name exactly one KEY" : "give KEY and VALUE");
  }
  return args.positionals()[0];
}

int run_get(const Args& args, Workspace& ws) {
  Scope s = scope_from(args, ws);
  const std::string& key = one_key(args);
  auto r = ws.store().memory_get(s.who, s.tier, s.ns, key);
  if (args.has("json")) {
    json::object out{{"found", r.found}};
    if (r.found) {
      out["value"] = r.value;
      out["version"] = r.version;
      out["updated_at"] = r.updated_at_ms;
      if (r.expires_at_ms) out["expires_at"] = *r.expires_at_ms;
    }
    std::cout << json::serialize(out) << "\n";
  } else if (r.found) {
    std::cout << json::serialize(r.value) << "\n";
  } else {
    std::cerr << "keel: not found: " << key << "\n";
  }
  return r.found ? 0 : 1;
}

int run_put(const Args& args, Workspace& ws) {
  Scope s = scope_from(args, ws);
  const std::string& key = one_key(args, 2);
  const std::string& text = args.positionals()[1];
  state::PutRequest req;
  req.tier = s.tier;
  req.ns = s.ns;
  req.key = key;
  if (args.has("string")) {
    req.value = json::string(text);
  } else {
    try {
      req.value = json::parse(text);
    } catch (const std::exception&) {
      throw UsageError("VALUE must be JSON (quote strings: '\"text\"'), or pass --string");
    }
  }
  req.expected_version = args.get_int("expected-version");
  req.ttl_ms = args.get_int("ttl-ms");
  auto r = ws.store().memory_put(s.who, req);
  if (args.has("json")) {
    std::cout << json::serialize(json::object{{"version", r.version}}) << "\n";
  } else {
    std::cout << "stored " << key << " version " << r.version << "\n";
  }
  return 0;
}

int run_ls(const Args& args, Workspace& ws) {
  Scope s = scope_from(args, ws);
  if (args.positionals().size() > 1) throw UsageError("at most one PREFIX");
  state::ListRequest req;
  req.tier = s.tier;
  req.ns = s.ns;
  req.prefix = args.positionals().empty() ? "" : args.positionals()[0];
  req.cursor = args.get("cursor").value_or("");
  req.limit = static_cast<int>(args.get_int("limit").value_or(0));
  auto r = ws.store().memory_list(s.who, req);
  if (args.has("json")) {
    json::array entries;
    for (const auto& e : r.entries) {
      entries.push_back(json::object{{"key", e.key}, {"version", e.version},
                                     {"updated_at", e.updated_at_ms}, {"bytes", e.bytes}});
    }
    json::object out{{"entries", std::move(entries)}};
    if (!r.next_cursor.empty()) out["next_cursor"] = r.next_cursor;
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  for (const auto& e : r.entries) std::cout << e.key << "  v" << e.version << "  " << e.bytes << " bytes\n";
  if (!r.next_cursor.empty()) std::cout << "(more: --cursor " << r.next_cursor << ")\n";
  return 0;
}

int run_rm(const Args& args, Workspace& ws) {
  Scope s = scope_from(args, ws);
  state::DeleteRequest req;
  req.tier = s.tier;
  req.ns = s.ns;
  req.key = one_key(args);
  req.expected_version = args.get_int("expected-version");
  bool deleted = ws.store().memory_delete(s.who, req);
  std::cout << (deleted ? "deleted " : "nothing to delete: ") << req.key << "\n";
  return 0;
}

}  // namespace

std::vector<Command> memory_commands() {
  auto put_options = kScopeOptions;
  put_options.push_back({"string", "", "store VALUE as a JSON string as is"});
  put_options.push_back({"expected-version", "N", "compare-and-set: write only at version N (0: new)"});
  put_options.push_back({"ttl-ms", "MS", "expire after MS milliseconds"});
  auto ls_options = kScopeOptions;
  ls_options.push_back({"cursor", "C", "continue from a previous page"});
  ls_options.push_back({"limit", "N", "page size"});
  auto rm_options = kScopeOptions;
  rm_options.push_back({"expected-version", "N", "delete only at version N"});
  return {
      Command{{"memory", "get"}, "keel memory get KEY [--tier T] [--shared] [--agent NAME] [--json]",
              "print a key's value; exit 1 when it is not there", "", kScopeOptions, run_get},
      Command{{"memory", "put"}, "keel memory put KEY VALUE [--tier T] [--shared] [--agent NAME]",
              "write a JSON value (journaled)", "", put_options, run_put},
      Command{{"memory", "ls"}, "keel memory ls [PREFIX] [--tier T] [--shared] [--agent NAME]",
              "list keys by prefix, one page at a time", "", ls_options, run_ls},
      Command{{"memory", "rm"}, "keel memory rm KEY [--tier T] [--shared] [--agent NAME]",
              "delete a key (journaled)", "", rm_options, run_rm},
  };
}

}  // namespace keel::cli
