// fanout_run, fanout_status, fanout_cancel: N branches in parallel, merged,
// budgeted and journaled. This file holds the schemas, the decoding and
// up-front checks of the arguments, and the run registry; the scheduler is
// tools/fanout_engine.*, the merges tools/fanout_merge.*, the failure policy
// and breakers tools/fanout_policy.*, the command runner tools/fanout_process.*.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>

#include <boost/json.hpp>

#include "tools/fanout_engine.h"
#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;
using namespace fanout;

namespace {

constexpr std::string_view kBranchIndexMarker = "{i}";

std::string new_run_id() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[32];
  std::snprintf(buf, sizeof buf, "fo-%08llx%04llx",
                static_cast<unsigned long long>(rng() & 0xffffffffull),
                static_cast<unsigned long long>(++counter & 0xffff));
  return buf;
}

[[noreturn]] void invalid(const std::string& message) {
  throw mcp::ToolError("INVALID_ARGUMENT", message);
}
[[noreturn]] void over_limit(const std::string& message) {
  throw mcp::ToolError("LIMIT_EXCEEDED", message);
}

// A branch object (schema-validated) to a BranchSpec. `where` names it in
// errors ("branches[3]", "generate.branch", "branch 17").
BranchSpec decode_branch(const json::object& b, const std::string& where) {
  const int kinds = (b.contains("tool") ? 1 : 0) + (b.contains("command") ? 1 : 0) +
                    (b.contains("sample") ? 1 : 0);
  if (kinds != 1) throw std::invalid_argument(where + ": give exactly one of tool, command, sample");
  BranchSpec s;
  if (b.contains("tool")) {
    for (const char* k : {"args", "cwd"}) {
      if (b.contains(k)) throw std::invalid_argument(where + ": " + k + " belongs to a command branch");
    }
    s.kind = BranchSpec::Kind::kTool;
    s.tool = std::string(b.at("tool").as_string());
    if (const auto* a = b.if_contains("arguments")) s.arguments = a->as_object();
  } else if (b.contains("command")) {
    if (b.contains("arguments")) throw std::invalid_argument(where + ": arguments belongs to a tool branch; use args");
    s.kind = BranchSpec::Kind::kCommand;
    s.command.argv.push_back(std::string(b.at("command").as_string()));
    if (const auto* a = b.if_contains("args")) {
      for (const auto& arg : a->as_array()) s.command.argv.push_back(std::string(arg.as_string()));
    }
    if (const auto* c = b.if_contains("cwd")) s.command.cwd = std::string(c->as_string());
  } else {
    for (const char* k : {"args", "cwd", "arguments"}) {
      if (b.contains(k)) throw std::invalid_argument(where + ": " + k + " does not belong to a sample branch");
    }
    s.kind = BranchSpec::Kind::kSample;
    s.sample = b.at("sample").as_object();
  }
  if (const auto* t = b.if_contains("timeout_ms")) s.timeout_ms = t->to_number<std::int64_t>();
  return s;
}

// Replaces "{i}" in every string of `v` (values, not keys) by `index`; a
// string that is exactly "{i}" becomes the integer.
void substitute(json::value& v, std::size_t index, const std::string& digits) {
  if (v.is_string()) {
    std::string_view s = v.as_string();
    if (s == kBranchIndexMarker) {
      v = static_cast<std::uint64_t>(index);
      return;
    }
    if (s.find(kBranchIndexMarker) == std::string_view::npos) return;
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit; (hit = s.find(kBranchIndexMarker, pos)) != std::string_view::npos;
         pos = hit + kBranchIndexMarker.size()) {
      out.append(s.substr(pos, hit - pos));
      out += digits;
    }
    out.append(s.substr(pos));
    v = json::string(out);
  } else if (v.is_array()) {
    for (auto& e : v.as_array()) substitute(e, index, digits);
  } else if (v.is_object()) {
    for (auto& [k, e] : v.as_object()) substitute(e, index, digits);
  }
}

struct Services {
  std::shared_ptr<const ToolEnv> env;
  std::shared_ptr<FanoutRuns> runs;
};

// The checks every branch gets before the run starts: a known tool that is
// not fanout itself, capability fanout.command, a client that can sample.
void check_branch(const BranchSpec& s, const std::string& where, const ToolEnv& env,
                  const state::Principal& who, const mcp::CallContext& ctx) {
  switch (s.kind) {
    case BranchSpec::Kind::kTool:
      if (s.tool.rfind("fanout_", 0) == 0) invalid(where + ": a branch cannot call " + s.tool);
      if (!env.registry || !env.registry->find(s.tool)) invalid(where + ": no tool named " + s.tool);
      break;
    case BranchSpec::Kind::kCommand:
      if (!who.can(state::caps::kFanoutCommand)) {
        throw mcp::ToolError("PERMISSION_DENIED",
                             where + ": command branches need capability fanout.command");
      }
      if (s.command.argv.front().empty()) invalid(where + ": command is empty");
      break;
    case BranchSpec::Kind::kSample:
      if (ctx.modern || !ctx.request || !ctx.client_capabilities.contains("sampling")) {
        throw mcp::ToolError("UNSUPPORTED", where +
                                                ": sample branches need a client that declared "
                                                "the sampling capability (2025-11-25 era)");
      }
      break;
  }
  if (s.timeout_ms && *s.timeout_ms > env.fanout.max_branch_timeout_ms) {
    over_limit(where + ".timeout_ms: at most " + std::to_string(env.fanout.max_branch_timeout_ms) +
               " (config fanout.max_branch_timeout_ms)");
  }
}

RunSpec decode_run(const json::object& args, const ToolEnv& env, const state::Principal& who,
                   const mcp::CallContext& ctx) {
  const FanoutLimits& lim = env.fanout;
  RunSpec spec;
  const bool has_list = args.contains("branches");
  const bool has_gen = args.contains("generate");
  if (has_list == has_gen) invalid("give exactly one of branches and generate");

  if (has_list) {
    const json::array& list = args.at("branches").as_array();
    if (list.empty()) invalid("branches: at least one branch");
    if (list.size() > static_cast<std::size_t>(lim.max_branches)) {
      over_limit("branches: " + std::to_string(list.size()) + " branches; at most " +
                 std::to_string(lim.max_branches) + " (config fanout.max_branches)");
    }
    auto specs = std::make_shared<std::vector<BranchSpec>>();
    specs->reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string where = "branches[" + std::to_string(i) + "]";
      try {
        specs->push_back(decode_branch(list[i].as_object(), where));
      } catch (const std::invalid_argument& e) {
        invalid(e.what());
      }
      check_branch(specs->back(), where, env, who, ctx);
    }
    spec.count = specs->size();
    spec.source = [specs](std::size_t i) { return (*specs)[i]; };
  } else {
    const json::object& gen = args.at("generate").as_object();
    const std::int64_t count = gen.at("count").to_number<std::int64_t>();
    if (count > lim.max_branches) {
      over_limit("generate.count: " + std::to_string(count) + " branches; at most " +
                 std::to_string(lim.max_branches) + " (config fanout.max_branches)");
    }
    auto tmpl = std::make_shared<const json::object>(gen.at("branch").as_object());
    try {
      check_branch(decode_branch(*tmpl, "generate.branch"), "generate.branch", env, who, ctx);
    } catch (const std::invalid_argument& e) {
      invalid(e.what());
    }
    // The tool / command names are not templated, so the checks above hold
    // for every generated branch.
    spec.count = static_cast<std::size_t>(count);
    spec.source = [tmpl](std::size_t i) {
      json::object b = *tmpl;
      const std::string digits = std::to_string(i);
      for (const char* k : {"arguments", "args", "cwd", "sample"}) {
        if (auto* v = b.if_contains(k)) substitute(*v, i, digits);
      }
      return decode_branch(b, "branch " + digits);
    };
  }

  spec.max_concurrency = static_cast<int>(arg_opt_int(args, "max_concurrency")
                                              .value_or(std::min(lim.default_concurrency, lim.max_concurrency)));
  if (spec.max_concurrency > lim.max_concurrency) {
    over_limit("max_concurrency: at most " + std::to_string(lim.max_concurrency) +
               " (config fanout.max_concurrency)");
  }
  spec.branch_timeout_ms = arg_opt_int(args, "branch_timeout_ms").value_or(lim.default_branch_timeout_ms);
  if (spec.branch_timeout_ms > lim.max_branch_timeout_ms) {
    over_limit("branch_timeout_ms: at most " + std::to_string(lim.max_branch_timeout_ms) +
               " (config fanout.max_branch_timeout_ms)");
  }

  spec.budget.wall_ms = lim.max_wall_ms;
  if (const auto* b = args.if_contains("budget")) {
    const json::object& budget = b->as_object();
    if (const auto* v = budget.if_contains("max_branches")) spec.budget.max_branches = v->to_number<std::int64_t>();
    if (const auto* v = budget.if_contains("wall_ms")) {
      spec.budget.wall_ms = v->to_number<std::int64_t>();
      if (spec.budget.wall_ms > lim.max_wall_ms) {
        over_limit("budget.wall_ms: at most " + std::to_string(lim.max_wall_ms) +
                   " (config fanout.max_wall_ms)");
      }
    }
    if (const auto* v = budget.if_contains("cost_units")) spec.budget.cost_units = v->to_number<double>();
  }

  if (const auto* m = args.if_contains("merge")) {
    const json::object& merge = m->as_object();
    spec.merge.strategy = *strategy_from(merge.at("strategy").as_string());
    if (const auto* p = merge.if_contains("pointer")) spec.merge.pointer = std::string(p->as_string());
    if (const auto* k = merge.if_contains("k")) spec.merge.k = static_cast<int>(k->to_number<std::int64_t>());
  }
  const MergeSpec& merge = spec.merge;
  if (!merge.pointer.empty() && merge.pointer.front() != '/') {
    invalid("merge.pointer: a JSON pointer starts with '/' (e.g. \"/score\")");
  }
  if (merge.strategy == Strategy::kBestOfN && merge.pointer.empty()) {
    invalid("merge.pointer: best_of_n needs the JSON pointer of the score");
  }
  if (merge.strategy == Strategy::kQuorum) {
    if (merge.k < 1) invalid("merge.k: quorum needs k ≥ 1");
    if (static_cast<std::size_t>(merge.k) > spec.count) {
      invalid("merge.k: " + std::to_string(merge.k) + " exceeds the " + std::to_string(spec.count) +
              " branches");
    }
  } else if (merge.k != 0) {
    invalid("merge.k: only the quorum strategy takes k");
  }

  if (const auto* e = args.if_contains("on_error")) {
    try {
      spec.on_error = parse_failure_policy(e->as_object(), lim.max_attempts);
    } catch (const std::invalid_argument& err) {
      over_limit(err.what());
    }
  }
  if (const auto* b = args.if_contains("breaker")) {
    const json::object& breaker = b->as_object();
    if (const auto* v = breaker.if_contains("failures")) spec.breaker_failures = static_cast<int>(v->to_number<std::int64_t>());
    if (const auto* v = breaker.if_contains("cooldown_ms")) spec.breaker_cooldown_ms = v->to_number<std::int64_t>();
  }
  spec.max_results = static_cast<std::size_t>(arg_opt_int(args, "max_results").value_or(lim.max_results));
  if (spec.max_results > static_cast<std::size_t>(lim.max_results)) {
    over_limit("max_results: at most " + std::to_string(lim.max_results) + " (config fanout.max_results)");
  }
  spec.max_output_bytes = static_cast<std::size_t>(lim.max_output_bytes);
  spec.kill_grace_ms = lim.kill_grace_ms;
  return spec;
}

std::string summary(const json::object& r) {
  std::string text = "fanout " + std::string(r.at("run_id").as_string()) + ": " +
                     std::string(r.at("status").as_string()) + " (";
  bool first = true;
  for (const auto& [k, v] : r.at("counts").as_object()) {
    if (v.to_number<std::int64_t>() == 0) continue;
    text += (first ? "" : ", ") + std::string(k) + " " + std::to_string(v.to_number<std::int64_t>());
    first = false;
  }
  text += ")";
  if (const auto* w = r.if_contains("winner")) text += " winner " + json::serialize(*w);
  return text + "\n" + json::serialize(r);
}

// A run the caller may see: its own, in its project.
std::shared_ptr<FanoutRun> find_own(const Services& s, const json::object& args,
                                    const mcp::CallContext& ctx) {
  const state::Principal who = s.env->principal(ctx);
  if (!who.can(state::caps::kFanout)) {
    throw mcp::ToolError("PERMISSION_DENIED", "fanout needs capability fanout");
  }
  const std::string id = arg_string(args, "run_id");
  auto run = s.runs->find(id);
  if (!run || run->owner() != who.agent || run->project() != who.project) {
    throw mcp::ToolError("NOT_FOUND", "no running or recent fanout run " + id + " of yours");
  }
  return run;
}

}  // namespace

void register_fanout_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  auto services = std::make_shared<Services>(
      Services{env, std::make_shared<FanoutRuns>(static_cast<std::size_t>(std::max(1, env->fanout.recent_runs)))});

  registry.add(mcp::Tool{
      .name = "fanout_run",
      .title = "Run branches in parallel and merge them",
      .description =
          "Run N branches in parallel (at most max_concurrency at once) and merge their "
          "values. A branch is {tool, arguments} (one of keel's own tools, called as you), "
          "{command, args, cwd?, timeout_ms?} (needs capability fanout.command and the "
          "permission gate's approval; runs in its own process group, stdin /dev/null; its "
          "stdout is the value, parsed as JSON when it is JSON; exit status 0 = success, "
          "75 = transient failure) or {sample: sampling/createMessage params} (clients that "
          "declared sampling). Large runs: instead of branches give generate {count, branch} "
          "where every \"{i}\" in the branch's arguments/args/cwd/sample becomes the branch "
          "index (a string that is exactly \"{i}\" becomes the integer); branches are built "
          "on demand and streamed through the worker window, so memory stays bounded, and "
          "the result lists the first max_results branches (the rest are counted in "
          "`elided`). merge.strategy: all (every branch must succeed), first_success "
          "(cancels the rest), best_of_n (highest number at merge.pointer), majority "
          "(plurality vote on the value at merge.pointer, ties reported), quorum (k "
          "successes, or k equal values at merge.pointer; cancels the rest once reached). "
          "on_error maps an error class (transient, timeout, parse, denied, other) to "
          "{retry: {max_attempts, backoff_ms, jitter}} (exponential backoff), skip, "
          "escalate (files an escalation) or terminate (cancels the run); default: "
          "transient retries 3 times, the rest skip. breaker {failures, cooldown_ms}: per "
          "provider (tool name, command path), opens after that many consecutive failures, "
          "lets one trial through after the cooldown, closes on success. budget "
          "{max_branches, wall_ms, cost_units}: when spent (cost_units = sum of a numeric "
          "top-level cost_units in branch values) the remaining branches are cancelled and "
          "status says budget_exhausted. Sends progress (branches done / total); "
          "notifications/cancelled or fanout_cancel {run_id} stops every branch. FORK and "
          "JOIN are journaled.",
      .input_schema = schema(R"json({
        "type": "object",
        "$defs": {
          "branch": {
            "type": "object",
            "properties": {
              "tool": {"type": "string", "minLength": 1, "maxLength": 128},
              "arguments": {"type": "object"},
              "command": {"type": "string", "minLength": 1, "maxLength": 4096},
              "args": {"type": "array", "items": {"type": "string"}, "maxItems": 4096},
              "cwd": {"type": "string", "minLength": 1, "maxLength": 4096},
              "timeout_ms": {"type": "integer", "minimum": 1},
              "sample": {"type": "object", "description": "sampling/createMessage params"}
            },
            "additionalProperties": false
          },
          "action": {
            "anyOf": [
              {"type": "string", "enum": ["retry", "skip", "escalate", "terminate"]},
              {"type": "object",
               "properties": {"retry": {"type": "object",
                 "properties": {"max_attempts": {"type": "integer", "minimum": 1},
                                "backoff_ms": {"type": "integer", "minimum": 0, "maximum": 60000},
                                "jitter": {"type": "number", "minimum": 0, "maximum": 1}},
                 "additionalProperties": false}},
               "required": ["retry"], "additionalProperties": false}
            ]
          }
        },
        "properties": {
          "branches": {"type": "array", "items": {"$ref": "#/$defs/branch"}},
          "generate": {"type": "object",
                       "properties": {"count": {"type": "integer", "minimum": 1},
                                      "branch": {"$ref": "#/$defs/branch"}},
                       "required": ["count", "branch"], "additionalProperties": false},
          "run_id": {"type": "string", "minLength": 1, "maxLength": 64,
                     "description": "your own id for the run (for fanout_status/fanout_cancel); default: generated"},
          "max_concurrency": {"type": "integer", "minimum": 1, "description": "default: config fanout.default_concurrency"},
          "branch_timeout_ms": {"type": "integer", "minimum": 1, "description": "per attempt; default: config fanout.default_branch_timeout_ms"},
          "budget": {"type": "object",
                     "properties": {"max_branches": {"type": "integer", "minimum": 1},
                                    "wall_ms": {"type": "integer", "minimum": 1},
                                    "cost_units": {"type": "number", "exclusiveMinimum": 0}},
                     "additionalProperties": false},
          "merge": {"type": "object",
                    "properties": {"strategy": {"type": "string", "enum": ["all", "first_success", "best_of_n", "majority", "quorum"]},
                                   "pointer": {"type": "string", "maxLength": 1024},
                                   "k": {"type": "integer", "minimum": 1}},
                    "required": ["strategy"], "additionalProperties": false},
          "on_error": {"type": "object",
                       "properties": {"transient": {"$ref": "#/$defs/action"},
                                      "timeout": {"$ref": "#/$defs/action"},
                                      "parse": {"$ref": "#/$defs/action"},
                                      "denied": {"$ref": "#/$defs/action"},
                                      "other": {"$ref": "#/$defs/action"}},
                       "additionalProperties": false},
          "breaker": {"type": "object",
                      "properties": {"failures": {"type": "integer", "minimum": 0, "description": "0 = no breaker; default 5"},
                                     "cooldown_ms": {"type": "integer", "minimum": 0, "maximum": 86400000, "description": "default 30000"}},
                      "additionalProperties": false},
          "max_results": {"type": "integer", "minimum": 0, "description": "per-branch entries listed; default and cap: config fanout.max_results"}
        },
        "additionalProperties": false
      })json"),
      .output_schema = schema(R"json({
        "type": "object",
        "properties": {
          "run_id": {"type": "string"},
          "status": {"type": "string", "enum": ["ok", "failed", "cancelled", "terminated", "budget_exhausted"]},
          "total": {"type": "integer"},
          "winner": {"type": "integer", "description": "index of the branch the merge picked"},
          "value": {"description": "the merged value (first_success, best_of_n, majority, quorum with a pointer)"},
          "merge": {"type": "object"},
          "counts": {"type": "object"},
          "budget": {"type": "object"},
          "breakers": {"type": "array"},
          "ms": {"type": "integer"},
          "results": {"type": "array", "items": {"type": "object",
            "properties": {"index": {"type": "integer"},
                           "status": {"type": "string", "enum": ["ok", "failed", "skipped", "escalated", "cancelled"]},
                           "ms": {"type": "integer"}, "attempts": {"type": "integer"},
                           "value": {}, "error": {"type": "object"}},
            "required": ["index", "status", "ms", "attempts"]}},
          "elided": {"type": "integer", "description": "branches not listed in results (beyond max_results)"}
        },
        "required": ["run_id", "status", "total", "merge", "counts", "results", "elided"]
      })json"),
      .annotations = {.read_only = false, .destructive = true, .idempotent = false, .open_world = true},
      .handler = [services](const json::object& args, const mcp::CallContext& ctx) {
        const ToolEnv& env = *services->env;
        const state::Principal who = env.principal(ctx);
        if (!who.can(state::caps::kFanout)) {
          throw mcp::ToolError("PERMISSION_DENIED", "fanout_run needs capability fanout");
        }
        RunSpec spec = decode_run(args, env, who, ctx);
        const std::string id = arg_opt_string(args, "run_id").value_or(new_run_id());
        BranchServices bs;
        bs.registry = env.registry;
        bs.ctx = ctx;
        bs.principal = who;
        bs.store = env.store;
        bs.gate = env.command_gate;
        bs.escalate = env.escalate;
        auto run = std::make_shared<FanoutRun>(id, std::move(spec), std::move(bs));
        if (!services->runs->add(run)) {
          throw mcp::ToolError("CONFLICT", "a fanout run with id " + id + " exists; pick another run_id");
        }
        struct Finish {
          FanoutRuns& runs;
          std::string id;
          ~Finish() { runs.finished(id); }
        } finish{*services->runs, id};
        json::object result = guarded([&] {
          return run->execute(ctx.cancelled, [&](std::size_t done, std::size_t total) {
            if (ctx.progress) {
              ctx.progress(static_cast<double>(done), static_cast<double>(total),
                           id + ": " + std::to_string(done) + "/" + std::to_string(total) +
                               " branches done");
            }
          });
        });
        std::string text = summary(result);
        return mcp::ToolResult{std::move(result), std::move(text)};
      }});

  registry.add(mcp::Tool{
      .name = "fanout_status",
      .title = "Status of a fanout run",
      .description =
          "Progress of one of your fanout runs that is running (done, running, counts, "
          "the pids of running command branches) or finished recently (with its result).",
      .input_schema = schema(R"json({
        "type": "object",
        "properties": {"run_id": {"type": "string", "minLength": 1, "maxLength": 64}},
        "required": ["run_id"],
        "additionalProperties": false
      })json"),
      .output_schema = schema(R"json({
        "type": "object",
        "properties": {
          "run_id": {"type": "string"},
          "status": {"type": "string", "description": "running, stopping, or the final status"},
          "total": {"type": "integer"}, "started": {"type": "integer"},
          "done": {"type": "integer"}, "running": {"type": "integer"},
          "counts": {"type": "object"}, "elapsed_ms": {"type": "integer"},
          "active": {"type": "array", "items": {"type": "object",
                     "properties": {"index": {"type": "integer"}, "pid": {"type": "integer"}}}},
          "result": {"type": "object"}
        },
        "required": ["run_id", "status", "total", "done"]
      })json"),
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [services](const json::object& args, const mcp::CallContext& ctx) {
        auto run = find_own(*services, args, ctx);
        json::object out = run->status();
        std::string text = "fanout " + run->id() + ": " + std::string(out.at("status").as_string()) +
                           ", " + std::to_string(out.at("done").to_number<std::int64_t>()) + "/" +
                           std::to_string(out.at("total").to_number<std::int64_t>()) + " done\n" +
                           json::serialize(out);
        return mcp::ToolResult{std::move(out), std::move(text)};
      }});

  registry.add(mcp::Tool{
      .name = "fanout_cancel",
      .title = "Cancel a fanout run",
      .description =
          "Stop one of your fanout runs: queued branches never start, running commands' "
          "process groups are killed (SIGTERM, then SIGKILL), running tool calls are "
          "cancelled. fanout_run then returns with status cancelled. Idempotent.",
      .input_schema = schema(R"json({
        "type": "object",
        "properties": {"run_id": {"type": "string", "minLength": 1, "maxLength": 64}},
        "required": ["run_id"],
        "additionalProperties": false
      })json"),
      .output_schema = schema(R"json({
        "type": "object",
        "properties": {"run_id": {"type": "string"}, "status": {"type": "string"}},
        "required": ["run_id", "status"]
      })json"),
      .annotations = {.read_only = false, .destructive = true, .idempotent = true},
      .handler = [services](const json::object& args, const mcp::CallContext& ctx) {
        auto run = find_own(*services, args, ctx);
        run->cancel();
        json::object out{{"run_id", run->id()}, {"status", run->status().at("status")}};
        return mcp::ToolResult{out, "fanout " + run->id() + ": cancel requested\n" + json::serialize(out)};
      }});
}

}  // namespace keel::tools
