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

namespace keel::tools::fanout {
BOOST_DESCRIBE_ENUM(Strategy, kAll, kFirstSuccess, kBestOfN, kMajority, kQuorum, kPriority)
BOOST_DESCRIBE_ENUM(Action, kRetry, kSkip, kEscalate, kTerminate, kReplan)
BOOST_DESCRIBE_ENUM(ConcurrencyMode, kFixed, kAdaptive)
}  // namespace keel::tools::fanout

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

[[noreturn]] void invalid(const std::string& message) { invalid_argument(message); }
[[noreturn]] void over_limit(const std::string& message) {
  throw Failure(ToolCode::kLimitExceeded, message);
}

// ------------------------------------------------------------ arguments

// A branch: {tool, arguments} | {command, args, cwd} | {sample}, timeout_ms.
struct BranchArg {
  std::optional<std::string> tool{};
  std::optional<json::object> arguments{};
  std::optional<std::string> command{};
  std::optional<std::vector<std::string>> args{};
  std::optional<std::string> cwd{};
  std::optional<std::int64_t> timeout_ms{};
  std::optional<json::object> sample{};
  std::optional<std::int64_t> priority{};
  static constexpr wire::Doc docs[] = {
      {.name = "tool", .min_length = 1, .max_length = 128},
      {.name = "command", .min_length = 1, .max_length = 4096},
      {.name = "args", .max_items = 4096},
      {.name = "cwd", .min_length = 1, .max_length = 4096},
      {.name = "timeout_ms", .minimum = 1},
      {.name = "sample", .description = "sampling/createMessage params"},
      {.name = "priority", .description = "merge priority: lower wins; default 0"}};
};
BOOST_DESCRIBE_STRUCT(BranchArg, (), (tool, arguments, command, args, cwd, timeout_ms, sample, priority))

constexpr std::string_view kBranchRef = R"({"$ref": "#/$defs/branch"})";
constexpr std::string_view kActionRef = R"({"$ref": "#/$defs/action"})";

struct GenerateArg {
  std::int64_t count = 0;
  json::object branch{};  // a BranchArg, with "{i}" in it
  static constexpr wire::Doc docs[] = {{.name = "count", .minimum = 1},
                                       {.name = "branch", .schema = kBranchRef}};
};
BOOST_DESCRIBE_STRUCT(GenerateArg, (), (count, branch))

struct BudgetArg {
  std::optional<std::int64_t> max_branches{};
  std::optional<std::int64_t> wall_ms{};
  std::optional<double> cost_units{};
  static constexpr wire::Doc docs[] = {{.name = "max_branches", .minimum = 1},
                                       {.name = "wall_ms", .minimum = 1},
                                       {.name = "cost_units", .exclusive_minimum = 0}};
};
BOOST_DESCRIBE_STRUCT(BudgetArg, (), (max_branches, wall_ms, cost_units))

struct MergeArg {
  Strategy strategy = Strategy::kAll;
  std::optional<std::string> pointer{};
  std::optional<std::int64_t> k{};
  static constexpr wire::Doc docs[] = {{.name = "pointer", .max_length = 1024},
                                       {.name = "k", .minimum = 1}};
};
BOOST_DESCRIBE_STRUCT(MergeArg, (), (strategy, pointer, k))

struct RetryArg {
  std::optional<std::int64_t> max_attempts{};
  std::optional<std::int64_t> backoff_ms{};
  std::optional<double> jitter{};
  static constexpr wire::Doc docs[] = {{.name = "max_attempts", .minimum = 1},
                                       {.name = "backoff_ms", .minimum = 0, .maximum = 60000},
                                       {.name = "jitter", .minimum = 0, .maximum = 1}};
};
BOOST_DESCRIBE_STRUCT(RetryArg, (), (max_attempts, backoff_ms, jitter))
struct RetryActionArg {
  RetryArg retry{};
};
BOOST_DESCRIBE_STRUCT(RetryActionArg, (), (retry))
// An error class's action: "skip" (and the others by name), or {retry: {...}}.
using ActionArg = std::variant<Action, RetryActionArg>;

// on_error: error class → action (fanout_policy.h); what is not named keeps its default.
struct OnErrorArg {
  std::optional<ActionArg> transient{};
  std::optional<ActionArg> timeout{};
  std::optional<ActionArg> parse{};
  std::optional<ActionArg> denied{};
  std::optional<ActionArg> other{};
  static constexpr wire::Doc docs[] = {{.name = "transient", .schema = kActionRef},
                                       {.name = "timeout", .schema = kActionRef},
                                       {.name = "parse", .schema = kActionRef},
                                       {.name = "denied", .schema = kActionRef},
                                       {.name = "other", .schema = kActionRef}};
};
BOOST_DESCRIBE_STRUCT(OnErrorArg, (), (transient, timeout, parse, denied, other))


struct BreakerArg {
  std::optional<std::int64_t> failures{};
  std::optional<std::int64_t> cooldown_ms{};
  static constexpr wire::Doc docs[] = {
      {.name = "failures", .description = "0 = no breaker; default 5", .minimum = 0},
      {.name = "cooldown_ms", .description = "default 30000", .minimum = 0, .maximum = 86'400'000}};
};
BOOST_DESCRIBE_STRUCT(BreakerArg, (), (failures, cooldown_ms))

// cache {ttl_ms, env}: the run's result cache (tools/fanout_engine.h).
constexpr std::int64_t kMaxCacheTtlMs = 30LL * 24 * 3'600'000;  // 30 days
constexpr std::size_t kMaxCacheEnvNames = 64;
struct CacheArg {
  std::int64_t ttl_ms = 0;
  std::optional<std::vector<std::string>> env{};
  static constexpr wire::Doc docs[] = {
      {.name = "ttl_ms",
       .description = "use a result stored at most this long ago (ms, 1..30 days)",
       .minimum = 1,
       .maximum = kMaxCacheTtlMs},
      {.name = "env",
       .description = "environment variables whose values enter a command branch's digest",
       .max_items = kMaxCacheEnvNames}};
};
BOOST_DESCRIBE_STRUCT(CacheArg, (), (ttl_ms, env))

constexpr std::int64_t kMaxRunIdBytes = 64;

struct RunArgs {
  std::optional<json::array> branches{};  // of BranchArg
  std::optional<GenerateArg> generate{};
  std::optional<std::string> run_id{};
  std::optional<std::int64_t> max_concurrency{};
  std::optional<ConcurrencyMode> concurrency{};
  std::optional<CacheArg> cache{};
  std::optional<std::int64_t> branch_timeout_ms{};
  std::optional<BudgetArg> budget{};
  std::optional<MergeArg> merge{};
  std::optional<OnErrorArg> on_error{};
  std::optional<BreakerArg> breaker{};
  std::optional<std::int64_t> max_results{};
  static constexpr wire::Doc docs[] = {
      {.name = "branches", .schema = R"({"type": "array", "items": {"$ref": "#/$defs/branch"}})"},
      {.name = "run_id",
       .description = "your own id for the run (for fanout_status/fanout_cancel); default: generated",
       .min_length = 1,
       .max_length = kMaxRunIdBytes},
      {.name = "max_concurrency",
       .description = "default: config fanout.default_concurrency (adaptive: the bound, default "
                      "config fanout.max_concurrency)",
       .minimum = 1},
      {.name = "concurrency",
       .description = "fixed (max_concurrency at once) or adaptive (AIMD between 1 and max_concurrency "
                      "on latency and error rate; the result carries the trace)"},
      {.name = "branch_timeout_ms",
       .description = "per attempt; default: config fanout.default_branch_timeout_ms",
       .minimum = 1},
      {.name = "max_results",
       .description = "per-branch entries listed; default and cap: config fanout.max_results",
       .minimum = 0}};
  static json::object defs(wire::Direction dir) {
    return {{"branch", wire::type_schema<BranchArg>(dir)},
            {"action", wire::type_schema<ActionArg>(dir)}};
  }
};
BOOST_DESCRIBE_STRUCT(RunArgs, (),
                      (branches, generate, run_id, max_concurrency, concurrency, cache, branch_timeout_ms,
                       budget, merge, on_error, breaker, max_results))

struct RunIdArg {
  std::string run_id{};
  static constexpr wire::Doc docs[] = {{.name = "run_id", .min_length = 1, .max_length = kMaxRunIdBytes}};
};
BOOST_DESCRIBE_STRUCT(RunIdArg, (), (run_id))

struct StatusArgs {
  std::optional<std::string> run_id{};
  static constexpr wire::Doc docs[] = {
      {.name = "run_id",
       .description = "one of your runs; without it: the project's circuit breakers, as the store keeps them",
       .min_length = 1,
       .max_length = kMaxRunIdBytes}};
};
BOOST_DESCRIBE_STRUCT(StatusArgs, (), (run_id))

struct CancelOut {
  std::string run_id{};
  std::string status{};
};
BOOST_DESCRIBE_STRUCT(CancelOut, (), (run_id, status))

// A branch object to a BranchSpec. `where` names it in errors
// ("branches[3]", "generate.branch", "branch 17").
BranchSpec decode_branch(const json::object& obj, const std::string& where) {
  const BranchArg b = wire::decode<BranchArg>(obj);
  const int kinds = (b.tool ? 1 : 0) + (b.command ? 1 : 0) + (b.sample ? 1 : 0);
  if (kinds != 1) throw std::invalid_argument(where + ": give exactly one of tool, command, sample");
  BranchSpec s;
  if (b.tool) {
    if (b.args) throw std::invalid_argument(where + ": args belongs to a command branch");
    if (b.cwd) throw std::invalid_argument(where + ": cwd belongs to a command branch");
    s.kind = BranchSpec::Kind::kTool;
    s.tool = *b.tool;
    s.arguments = b.arguments.value_or(json::object{});
  } else if (b.command) {
    if (b.arguments) throw std::invalid_argument(where + ": arguments belongs to a tool branch; use args");
    s.kind = BranchSpec::Kind::kCommand;
    s.command.argv.push_back(*b.command);
    if (b.args) s.command.argv.insert(s.command.argv.end(), b.args->begin(), b.args->end());
    s.command.cwd = b.cwd.value_or("");
  } else {
    if (b.args) throw std::invalid_argument(where + ": args does not belong to a sample branch");
    if (b.cwd) throw std::invalid_argument(where + ": cwd does not belong to a sample branch");
    if (b.arguments) throw std::invalid_argument(where + ": arguments does not belong to a sample branch");
    s.kind = BranchSpec::Kind::kSample;
    s.sample = *b.sample;
  }
  s.timeout_ms = b.timeout_ms;
  s.priority = b.priority.value_or(0);
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
        throw Failure(state::ErrorCode::kPermissionDenied,
                      where + ": command branches need capability fanout.command");
      }
      if (s.command.argv.front().empty()) invalid(where + ": command is empty");
      break;
    case BranchSpec::Kind::kSample:
      if (ctx.modern || !ctx.request || !ctx.client_capabilities.contains("sampling")) {
        throw Failure(ToolCode::kUnsupported, where +
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

FailurePolicy failure_policy(const OnErrorArg& on_error, int max_attempts_cap) {
  FailurePolicy policy;
  auto set = [&](ErrorClass cls, const std::optional<ActionArg>& arg) {
    if (!arg) return;
    ClassPolicy& p = policy.of(cls);
    if (const Action* action = std::get_if<Action>(&*arg)) {
      p.action = *action;  // "retry" keeps the default RetrySpec
      return;
    }
    const RetryArg& r = std::get<RetryActionArg>(*arg).retry;
    p.action = Action::kRetry;
    if (r.max_attempts) p.retry.max_attempts = static_cast<int>(*r.max_attempts);
    if (r.backoff_ms) p.retry.backoff_ms = *r.backoff_ms;
    if (r.jitter) p.retry.jitter = *r.jitter;
    if (p.retry.max_attempts > max_attempts_cap) {
      over_limit("on_error." + std::string(to_string(cls)) + ".retry.max_attempts: at most " +
                 std::to_string(max_attempts_cap) + " (config fanout.max_attempts)");
    }
  };
  set(ErrorClass::kTransient, on_error.transient);
  set(ErrorClass::kTimeout, on_error.timeout);
  set(ErrorClass::kParse, on_error.parse);
  set(ErrorClass::kDenied, on_error.denied);
  set(ErrorClass::kOther, on_error.other);
  return policy;
}

RunSpec decode_run(const RunArgs& args, const ToolEnv& env, const state::Principal& who,
                   const mcp::CallContext& ctx) {
  const FanoutLimits& lim = env.fanout;
  RunSpec spec;
  if (args.branches.has_value() == args.generate.has_value()) {
    invalid("give exactly one of branches and generate");
  }

  if (args.branches) {
    const json::array& list = *args.branches;
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
    const GenerateArg& gen = *args.generate;
    if (gen.count > lim.max_branches) {
      over_limit("generate.count: " + std::to_string(gen.count) + " branches; at most " +
                 std::to_string(lim.max_branches) + " (config fanout.max_branches)");
    }
    auto tmpl = std::make_shared<const json::object>(gen.branch);
    try {
      check_branch(decode_branch(*tmpl, "generate.branch"), "generate.branch", env, who, ctx);
    } catch (const std::invalid_argument& e) {
      invalid(e.what());
    }
    // The tool / command names are not templated, so the checks above hold
    // for every generated branch.
    spec.count = static_cast<std::size_t>(gen.count);
    spec.source = [tmpl](std::size_t i) {
      json::object b = *tmpl;
      const std::string digits = std::to_string(i);
      for (const char* k : {"arguments", "args", "cwd", "sample"}) {
        if (auto* v = b.if_contains(k)) substitute(*v, i, digits);
      }
      return decode_branch(b, "branch " + digits);
    };
  }

  spec.concurrency = args.concurrency.value_or(ConcurrencyMode::kFixed);
  const int default_concurrency = spec.concurrency == ConcurrencyMode::kAdaptive
                                      ? lim.max_concurrency
                                      : std::min(lim.default_concurrency, lim.max_concurrency);
  spec.max_concurrency = static_cast<int>(args.max_concurrency.value_or(default_concurrency));
  if (spec.max_concurrency > lim.max_concurrency) {
    over_limit("max_concurrency: at most " + std::to_string(lim.max_concurrency) +
               " (config fanout.max_concurrency)");
  }
  spec.branch_timeout_ms = args.branch_timeout_ms.value_or(lim.default_branch_timeout_ms);
  if (spec.branch_timeout_ms > lim.max_branch_timeout_ms) {
    over_limit("branch_timeout_ms: at most " + std::to_string(lim.max_branch_timeout_ms) +
               " (config fanout.max_branch_timeout_ms)");
  }

  spec.budget.wall_ms = lim.max_wall_ms;
  if (const auto& budget = args.budget) {
    spec.budget.max_branches = budget->max_branches;
    if (budget->wall_ms) {
      spec.budget.wall_ms = *budget->wall_ms;
      if (spec.budget.wall_ms > lim.max_wall_ms) {
        over_limit("budget.wall_ms: at most " + std::to_string(lim.max_wall_ms) +
                   " (config fanout.max_wall_ms)");
      }
    }
    spec.budget.cost_units = budget->cost_units;
  }

  if (const auto& m = args.merge) {
    spec.merge.strategy = m->strategy;
    spec.merge.pointer = m->pointer.value_or("");
    spec.merge.k = static_cast<int>(m->k.value_or(0));
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

  if (merge.strategy != Strategy::kPriority) {
    // A priority nobody reads is a mistake worth saying so.
    if (args.branches) {
      for (std::size_t i = 0; i < args.branches->size(); ++i) {
        if ((*args.branches)[i].as_object().contains("priority")) {
          invalid("branches[" + std::to_string(i) + "].priority: only merge.strategy \"priority\" uses it");
        }
      }
    } else if (args.generate->branch.contains("priority")) {
      invalid("generate.branch.priority: only merge.strategy \"priority\" uses it");
    }
  }

  if (const auto& cache = args.cache) {
    if (cache->ttl_ms < 1 || cache->ttl_ms > kMaxCacheTtlMs) {
      invalid("cache.ttl_ms: 1.." + std::to_string(kMaxCacheTtlMs) + " ms (30 days), got " +
              std::to_string(cache->ttl_ms));
    }
    CacheSpec c;
    c.ttl_ms = cache->ttl_ms;
    for (const std::string& name : cache->env.value_or(std::vector<std::string>{})) {
      if (name.empty() || name.size() > 256 || name.find('=') != std::string::npos ||
          name.find('\0') != std::string::npos) {
        invalid("cache.env: \"" + name.substr(0, 64) +
                "\" is not an environment variable name (1..256 bytes, no '=')");
      }
      c.env.push_back(name);
    }
    if (c.env.size() > kMaxCacheEnvNames) {
      invalid("cache.env: at most " + std::to_string(kMaxCacheEnvNames) + " names");
    }
    std::sort(c.env.begin(), c.env.end());
    c.env.erase(std::unique(c.env.begin(), c.env.end()), c.env.end());
    if (!env.store) throw Failure(ToolCode::kUnsupported, "cache: this server has no store");
    spec.cache = std::move(c);
  }

  if (args.on_error) spec.on_error = failure_policy(*args.on_error, lim.max_attempts);
  if (const auto& breaker = args.breaker) {
    if (breaker->failures) spec.breaker_failures = static_cast<int>(*breaker->failures);
    if (breaker->cooldown_ms) spec.breaker_cooldown_ms = *breaker->cooldown_ms;
  }
  spec.max_results = static_cast<std::size_t>(args.max_results.value_or(lim.max_results));
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
std::shared_ptr<FanoutRun> find_own(const Services& s, const RunIdArg& args,
                                    const mcp::CallContext& ctx) {
  const state::Principal who = s.env->principal(ctx);
  if (!who.can(state::caps::kFanout)) {
    throw Failure(state::ErrorCode::kPermissionDenied, "fanout needs capability fanout");
  }
  const std::string& id = args.run_id;
  auto run = s.runs->find(id);
  if (!run || run->owner() != who.agent || run->project() != who.project) {
    throw Failure(state::ErrorCode::kNotFound, "no running or recent fanout run " + id + " of yours");
  }
  return run;
}

}  // namespace

void register_fanout_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  auto services = std::make_shared<Services>(
      Services{env, std::make_shared<FanoutRuns>(static_cast<std::size_t>(std::max(1, env->fanout.recent_runs)))});

  registry.add(declare_tool<RunArgs, json::object>(
      {.name = "fanout_run",
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
          "status says budget_exhausted. merge.strategy priority: the value of the successful "
          "branch with the lowest `priority` (a branch field, default 0; ties to the lowest "
          "index). on_error replan: the failing branch's provider (tool:NAME, command:ARGV0, "
          "sample) stops (its branches not started yet are cancelled with reason replan, the "
          "others go on) and the run returns status replan with replan {providers, failed "
          "[{index, provider, error}], not_run [index], not_run_count} so you can plan again. "
          "cache {ttl_ms, env?}: a branch whose digest (tool and arguments and caller, or "
          "command argv, cwd and the named env variables) succeeded within ttl_ms returns that "
          "result (cached: true, attempts 0; read-only tools and commands only, never sample; "
          "results over 256 KiB are not stored); result.cache counts hits, misses, stored, "
          "too_large. concurrency adaptive: starts at 1 branch "
          "at a time, adds one after each window of max(limit, 3) branches whose mean latency "
          "stays within 1.5x the best window's + 5 ms and whose failure rate is <= 0.2, halves "
          "otherwise, never above max_concurrency; result.concurrency.trace lists every change "
          "{t_ms, concurrency, reason}. Breakers are kept in the store: an open breaker stays "
          "open for later runs (and other processes) until its cooldown passed; "
          "fanout_status without run_id lists them. "
          "Sends progress (branches done / total); "
          "notifications/cancelled or fanout_cancel {run_id} stops every branch. FORK and "
          "JOIN are journaled.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = false, .open_world = true},
       .output_schema = schema(R"json({
        "type": "object",
        "properties": {
          "run_id": {"type": "string"},
          "status": {"type": "string", "enum": ["ok", "failed", "cancelled", "terminated", "budget_exhausted", "replan"]},
          "total": {"type": "integer"},
          "winner": {"type": "integer", "description": "index of the branch the merge picked"},
          "value": {"description": "the merged value (first_success, best_of_n, majority, quorum with a pointer)"},
          "merge": {"type": "object"},
          "counts": {"type": "object"},
          "budget": {"type": "object"},
          "breakers": {"type": "array"},
          "cache": {"type": "object", "description": "{ttl_ms, hits, misses, stored, errors, too_large}"},
          "concurrency": {"type": "object", "description": "adaptive: {mode, max, final, trace: [{t_ms, concurrency, reason, latency_ms, baseline_ms, error_rate}], trace_elided}"},
          "replan": {"type": "object", "description": "{providers, failed: [{index, provider, error}], not_run: [index], not_run_count}"},
          "ms": {"type": "integer"},
          "results": {"type": "array", "items": {"type": "object",
            "properties": {"index": {"type": "integer"},
                           "status": {"type": "string", "enum": ["ok", "failed", "skipped", "escalated", "cancelled"]},
                           "ms": {"type": "integer"}, "attempts": {"type": "integer"},
                           "value": {}, "error": {"type": "object"},
                           "cached": {"type": "boolean"}, "cache": {"type": "object"},
                           "priority": {"type": "integer"}, "reason": {"type": "string"}},
            "required": ["index", "status", "ms", "attempts"]}},
          "elided": {"type": "integer", "description": "branches not listed in results (beyond max_results)"}
        },
        "required": ["run_id", "status", "total", "merge", "counts", "results", "elided"]
      })json")},
      [services](const RunArgs& args, const mcp::CallContext& ctx) {
        const ToolEnv& env = *services->env;
        const state::Principal who = env.principal(ctx);
        if (!who.can(state::caps::kFanout)) {
          throw Failure(state::ErrorCode::kPermissionDenied, "fanout_run needs capability fanout");
        }
        RunSpec spec = decode_run(args, env, who, ctx);
        const std::string id = args.run_id.value_or(new_run_id());
        BranchServices bs;
        bs.registry = env.registry;
        bs.ctx = ctx;
        bs.principal = who;
        bs.store = env.store;
        bs.gate = env.command_gate;
        bs.escalate = env.escalate;
        auto run = std::make_shared<FanoutRun>(id, std::move(spec), std::move(bs));
        if (!services->runs->add(run)) {
          throw Failure(ToolCode::kConflict, "a fanout run with id " + id + " exists; pick another run_id");
        }
        struct Finish {
          FanoutRuns& runs;
          std::string id;
          ~Finish() { runs.finished(id); }
        } finish{*services->runs, id};
        json::object result = run->execute(ctx.cancelled, [&](std::size_t done, std::size_t total) {
            if (ctx.progress) {
              ctx.progress(static_cast<double>(done), static_cast<double>(total),
                           id + ": " + std::to_string(done) + "/" + std::to_string(total) +
                               " branches done");
            }
        });
        std::string text = summary(result);
        return Reply<json::object>{std::move(result), std::move(text)};
      }));

  registry.add(declare_tool<StatusArgs, json::object>(
      {.name = "fanout_status",
       .title = "Status of a fanout run, or the breakers",
       .description =
           "Progress of one of your fanout runs that is running (done, running, counts, "
           "breakers, the adaptive concurrency trace, the pids of running command branches) or "
           "finished recently (with its result). Without run_id: the project's circuit breakers "
           "as the store keeps them between runs [{provider, state, consecutive_failures, "
           "opened, opened_at_ms, updated_at_ms}].",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true},
       .output_schema = schema(R"json({
        "type": "object",
        "properties": {
          "run_id": {"type": "string"},
          "status": {"type": "string", "description": "running, stopping, or the final status"},
          "total": {"type": "integer"}, "started": {"type": "integer"},
          "done": {"type": "integer"}, "running": {"type": "integer"},
          "counts": {"type": "object"}, "elapsed_ms": {"type": "integer"},
          "breakers": {"type": "array", "items": {"type": "object"}},
          "concurrency": {"type": "object"},
          "active": {"type": "array", "items": {"type": "object",
                     "properties": {"index": {"type": "integer"}, "pid": {"type": "integer"}}}},
          "result": {"type": "object"}
        },
        "required": ["breakers"]
      })json")},
      [services](const StatusArgs& args, const mcp::CallContext& ctx) {
        if (!args.run_id) {
          const ToolEnv& env = *services->env;
          const state::Principal who = env.principal(ctx);
          if (!who.can(state::caps::kFanout)) {
            throw Failure(state::ErrorCode::kPermissionDenied, "fanout needs capability fanout");
          }
          json::array breakers;
          for (const state::FanoutBreaker& b : env.store->fanout_breakers(who)) {
            breakers.push_back(json::object{{"provider", b.provider},
                                            {"state", b.state},
                                            {"consecutive_failures", b.consecutive_failures},
                                            {"opened", b.opened},
                                            {"opened_at_ms", b.opened_at_ms},
                                            {"updated_at_ms", b.updated_at_ms}});
          }
          json::object out{{"breakers", std::move(breakers)}};
          std::string text = "fanout breakers of " + who.project + "\n" + json::serialize(out);
          return Reply<json::object>{std::move(out), std::move(text)};
        }
        auto run = find_own(*services, RunIdArg{*args.run_id}, ctx);
        json::object out = run->status();
        std::string text = "fanout " + run->id() + ": " + std::string(out.at("status").as_string()) +
                           ", " + std::to_string(out.at("done").to_number<std::int64_t>()) + "/" +
                           std::to_string(out.at("total").to_number<std::int64_t>()) + " done\n" +
                           json::serialize(out);
        return Reply<json::object>{std::move(out), std::move(text)};
      }));

  registry.add(declare_tool<RunIdArg, CancelOut>(
      {.name = "fanout_cancel",
       .title = "Cancel a fanout run",
       .description =
           "Stop one of your fanout runs: queued branches never start, running commands' "
           "process groups are killed (SIGTERM, then SIGKILL), running tool calls are "
           "cancelled. fanout_run then returns with status cancelled. Idempotent.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = true}},
      [services](const RunIdArg& args, const mcp::CallContext& ctx) {
        auto run = find_own(*services, args, ctx);
        run->cancel();
        CancelOut out{run->id(), std::string(run->status().at("status").as_string())};
        std::string text = "fanout " + run->id() + ": cancel requested\n" + json::serialize(wire::encode(out));
        return Reply<CancelOut>{std::move(out), std::move(text)};
      }));
}

}  // namespace keel::tools
