// keel memory get|put|ls|rm|take|txn
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "mcp/tool_invoke.h"
#include "tools/tools.h"

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

// A JSON option (--match); UsageError when it does not parse.
std::optional<json::value> json_option(const Args& args, std::string_view name) {
  auto text = args.get(name);
  if (!text) return std::nullopt;
  try {
    return json::parse(*text);
  } catch (const std::exception&) {
    throw UsageError("--" + std::string(name) + " must be JSON, e.g. '{\"status\": \"open\"}'");
  }
}

bool waits(const Args& args) {
  return args.has("wait-ms") || args.has("after-version") || args.has("match");
}

// --wait-ms / --after-version / --match: Store::memory_wait on the key, or
// (by_prefix) on the entries under the prefix. Reports a wait that ran out
// on stderr.
void wait_first(const Args& args, Workspace& ws, const Scope& s, const std::string& key,
                bool by_prefix) {
  state::WaitRequest req;
  req.tier = s.tier;
  req.ns = s.ns;
  if (by_prefix) {
    req.by_prefix = true;
    req.prefix = key;
  } else {
    req.key = key;
  }
  req.after_version = args.get_int("after-version").value_or(0);
  req.match = json_option(args, "match");
  req.wait_ms = args.get_int("wait-ms").value_or(0);
  auto r = ws.store().memory_wait(s.who, req);
  if (!r.satisfied) std::cerr << "keel: waited " << r.waited_ms << " ms: no change\n";
}

// Calls the MCP tool `name` with `arguments` as `who`, on the workspace's
// store: the same validation, result and text as over MCP. Prints the
// structuredContent (--json) or the text; a refusal throws.
json::value call_tool(const Args& args, Workspace& ws, const state::Principal& who,
                      const std::string& name, json::object arguments) {
  auto env = std::make_shared<tools::ToolEnv>();
  env->store = &ws.store();
  env->principal = [who](const mcp::CallContext&) { return who; };
  mcp::ToolRegistry registry;
  tools::register_memory_tools(registry, env);
  mcp::ToolOutcome out = mcp::invoke_tool(registry, name, std::move(arguments), mcp::CallContext{});
  if (!out.ok()) throw std::runtime_error(out.code + ": " + out.message);
  if (args.has("json")) {
    std::cout << json::serialize(out.result.structured) << "\n";
  } else {
    std::cout << out.result.text << (out.result.text.ends_with('\n') ? "" : "\n");
  }
  return out.result.structured;
}

json::object scope_arguments(const Scope& s) {
  return {{"tier", state::to_string(s.tier)}, {"namespace", state::to_string(s.ns)}};
}

int run_take(const Args& args, Workspace& ws) {
  Scope s = scope_from(args, ws);
  json::object arguments = scope_arguments(s);
  if (args.has("prefix")) {
    if (!args.positionals().empty()) throw UsageError("give KEY or --prefix P, not both");
    arguments["prefix"] = *args.get("prefix");
  } else {
    arguments["key"] = one_key(args);
  }
  if (auto match = json_option(args, "match")) arguments["match"] = std::move(*match);
  if (auto wait = args.get_int("wait-ms")) arguments["wait_ms"] = *wait;
  json::value out = call_tool(args, ws, s.who, "memory_take", std::move(arguments));
  return out.at("taken").as_bool() ? 0 : 1;
}

// The body of `keel memory txn`: --file F, or "-" (stdin) as --file or the
// only positional. Read after the store is open (a PostgreSQL state re-execs
// keel-pg, which must find stdin untouched).
std::string txn_body(const Args& args) {
  std::string file = args.get("file").value_or("");
  if (args.positionals().size() == 1 && args.positionals()[0] == "-" && file.empty()) file = "-";
  else if (!args.positionals().empty()) throw UsageError("give the body as --file F or - (stdin)");
  if (file.empty()) throw UsageError("give the body as --file F or - (stdin)");
  if (file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UsageError("cannot read " + file);
  std::ostringstream body;
  body << in.rdbuf();
  return body.str();
}

int run_txn(const Args& args, Workspace& ws) {
  Scope s = scope_from(args, ws);
  ws.store();
  const std::string body = txn_body(args);
  json::value parsed;
  try {
    parsed = json::parse(body);
  } catch (const std::exception&) {
    throw UsageError("the body must be JSON: {\"compare\": [...], \"then\": [...], \"else\": [...]}");
  }
  if (!parsed.is_object()) throw UsageError("the body must be a JSON object {compare, then, else?}");
  json::value out = call_tool(args, ws, s.who, "memory_txn", std::move(parsed.as_object()));
  return out.at("succeeded").as_bool() ? 0 : 1;
}

int run_get(const Args& args, Workspace& ws) {
  Scope s = scope_from(args, ws);
  const std::string& key = one_key(args);
  if (waits(args)) wait_first(args, ws, s, key, false);
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
  if (waits(args)) wait_first(args, ws, s, req.prefix, true);
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
  const OptionSpec match{"match", "JSON",
                         "a template the value must match: fields equal, {\"$exists\": bool}"};
  auto get_options = kScopeOptions;
  get_options.push_back({"wait-ms", "MS", "first wait up to MS for the key to change"});
  get_options.push_back({"after-version", "N", "wait for a version other than N (default 0: to exist)"});
  get_options.push_back(match);
  ls_options.push_back({"wait-ms", "MS", "first wait up to MS for an entry newer than --after-version"});
  ls_options.push_back({"after-version", "N", "wait for an entry whose version is above N (default 0)"});
  ls_options.push_back({match.name, match.value_name, match.help + " (only gates the wait)"});
  auto take_options = kScopeOptions;
  take_options.push_back({"prefix", "P", "take the oldest entry whose key starts with P"});
  take_options.push_back({"wait-ms", "MS", "wait up to MS for one to appear"});
  take_options.push_back(match);
  std::vector<OptionSpec> txn_options{
      {"file", "F", "the body, as memory_txn's arguments (- : stdin)"},
      {"agent", "NAME", "whose own namespace (default cli)"},
      {"session", "ID", "the session whose session tier to use"},
      {"json", "", "print JSON"},
  };
  return {
      Command{{"memory", "get"},
              "keel memory get KEY [--tier T] [--shared] [--agent NAME] [--wait-ms MS "
              "[--after-version N] [--match JSON]] [--json]",
              "print a key's value; exit 1 when it is not there",
              "--wait-ms waits first until the key's version differs from --after-version (0: "
              "until it exists) and, with --match, its value matches.",
              get_options, run_get},
      Command{{"memory", "put"}, "keel memory put KEY VALUE [--tier T] [--shared] [--agent NAME]",
              "write a JSON value (journaled)", "", put_options, run_put},
      Command{{"memory", "ls"},
              "keel memory ls [PREFIX] [--tier T] [--shared] [--agent NAME] [--wait-ms MS "
              "[--after-version N] [--match JSON]]",
              "list keys by prefix, one page at a time",
              "--wait-ms waits first until an entry under PREFIX has a version above "
              "--after-version (and, with --match, a matching value).",
              ls_options, run_ls},
      Command{{"memory", "rm"}, "keel memory rm KEY [--tier T] [--shared] [--agent NAME]",
              "delete a key (journaled)", "", rm_options, run_rm},
      Command{{"memory", "take"},
              "keel memory take KEY | --prefix P [--match JSON] [--wait-ms MS] [--tier T] "
              "[--shared] [--agent NAME] [--json]",
              "remove one entry and print it (journaled); exit 1 when there was none",
              "With --prefix, the oldest entry whose key starts with P. Of concurrent takers "
              "exactly one gets each entry.",
              take_options, run_take},
      Command{{"memory", "txn"}, "keel memory txn --file F | - [--agent NAME] [--json]",
              "compare keys and leases, then write, atomically (memory_txn)",
              "The body is memory_txn's arguments: {\"compare\": [{key, version | value, "
              "tolerance?} | {lease, token}], \"then\": [{op: put|delete, key, value?, "
              "ttl_ms?}], \"else\": [...]} (tier and namespace per item). Exit 1 when a "
              "compare did not hold.",
              txn_options, run_txn},
  };
}

}  // namespace keel::cli
