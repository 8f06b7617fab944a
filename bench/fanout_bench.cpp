// fanout_bench — fanout_run at scale (not a test; prints numbers).
//
//   1. generated runs of lightweight `memory_get` branches of a key that
//      exists (100,000 then 1,000,000): wall time, branches/s, and peak RSS
//      (getrusage ru_maxrss) after each, to show memory stays bounded;
//   2. 100 `command` branches of `true` at concurrency 16 against
//      `seq 100 | xargs -P16 -n1 true` in the same process, several rounds,
//      medians;
//   3. the result cache: a 1,000-branch command run with cache {ttl_ms},
//      then the same run again (every branch a hit), for branches that do
//      nothing (`true`-like: echo) and branches that work 20 ms (sleep 0.02);
//      each round uses fresh arguments (a salt) so its first run is cold;
//      medians of the first run, the cached re-run, and their ratio.
//
// Usage: fanout_bench [--branches N] [--rounds R] [--concurrency C] [--only cache]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "mcp/tool.h"
#include "state/store.h"
#include "tools/tools.h"

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;  // KiB on Linux
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t big = 1'000'000;
  int rounds = 7;
  int concurrency = 16;
  bool only_cache = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--only") only_cache = std::string(argv[i + 1]) == "cache";
    if (a == "--branches") big = std::stoull(argv[i + 1]);
    if (a == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (a == "--concurrency") concurrency = std::stoi(argv[i + 1]);
  }

  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("keel-fanout-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  keel::state::StoreOptions opts;
  opts.dir = dir;
  opts.synchronous = keel::state::Synchronous::kNormal;
  auto store = keel::state::open_sqlite_store(opts);

  auto registry = std::make_shared<keel::mcp::ToolRegistry>();
  auto env = std::make_shared<keel::tools::ToolEnv>();
  env->store = store.get();
  env->registry = registry.get();
  env->principal = [&dir](const keel::mcp::CallContext&) {
    return keel::state::Principal{"bench", dir.string(), "s-bench",
                                  keel::state::default_agent_capabilities()};
  };
  env->fanout.max_concurrency = std::max(concurrency, 32);
  keel::tools::register_memory_tools(*registry, env);
  keel::tools::register_fanout_tools(*registry, env);
  const keel::mcp::Tool* fanout_run = registry->find("fanout_run");
  const keel::mcp::Tool* memory_put = registry->find("memory_put");

  keel::mcp::CallContext ctx;
  ctx.client_name = "bench";
  ctx.session_id = "s-bench";
  memory_put->handler({{"key", "bench/hot"}, {"value", {{"n", 42}}}}, ctx);

  std::printf("fanout_bench: %ld KiB peak RSS after setup\n", peak_rss_kib());

  // 3. The result cache (run first with --only cache).
  for (const char* work : {"", "sleep 0.02; "}) {
    std::vector<double> cold_ms, warm_ms, ratio;
    for (int round = 0; round < rounds; ++round) {
      const std::string salt = std::to_string(::getpid()) + "-" + std::to_string(round) + "-" +
                               std::to_string(std::strlen(work));
      json::object args{
          {"generate", {{"count", 1000},
                        {"branch", {{"command", "sh"},
                                    {"args", json::array{"-c", std::string(work) + "echo {i}", salt}}}}}},
          {"max_concurrency", concurrency},
          {"cache", {{"ttl_ms", 3'600'000}}},
          {"max_results", 0},
          {"merge", {{"strategy", "all"}}}};
      auto t0 = Clock::now();
      auto cold = fanout_run->handler(args, ctx);
      cold_ms.push_back(ms_since(t0));
      t0 = Clock::now();
      auto warm = fanout_run->handler(args, ctx);
      warm_ms.push_back(ms_since(t0));
      ratio.push_back(cold_ms.back() / warm_ms.back());
      const auto& c = warm.structured.at("cache");
      if (cold.structured.at("status") != "ok" || c.at("hits").to_number<std::int64_t>() != 1000) {
        std::fprintf(stderr, "cache run wrong: %s / %s\n", json::serialize(cold.structured.at("cache")).c_str(),
                     json::serialize(c).c_str());
        return 1;
      }
    }
    std::printf("cache: 1000 x `sh -c '%secho {i}'` (concurrency %d), %d rounds: first run median %.1f ms, "
                "cached re-run median %.1f ms (min %.1f, max %.1f), speed-up median %.0fx (min %.0fx)\n",
                work, concurrency, rounds, median(cold_ms), median(warm_ms),
                *std::min_element(warm_ms.begin(), warm_ms.end()),
                *std::max_element(warm_ms.begin(), warm_ms.end()), median(ratio),
                *std::min_element(ratio.begin(), ratio.end()));
  }
  if (only_cache) {
    store.reset();
    fs::remove_all(dir);
    return 0;
  }

  // 1. Lightweight tool branches, generated and streamed.
  for (std::size_t n : {big / 10, big}) {
    if (n == 0) continue;
    json::object args{
        {"generate", {{"count", n},
                      {"branch", {{"tool", "memory_get"}, {"arguments", {{"key", "bench/hot"}}}}}}},
        {"max_concurrency", concurrency},
        {"merge", {{"strategy", "quorum"}, {"k", static_cast<std::int64_t>(n)}}}};
    auto t0 = Clock::now();
    auto r = fanout_run->handler(args, ctx);
    double ms = ms_since(t0);
    const auto& out = r.structured.as_object();
    std::printf(
        "memory_get x %zu (concurrency %d): %s, ok %lld, %.0f ms, %.0f branches/s, peak RSS %ld KiB, "
        "results listed %zu, elided %lld\n",
        n, concurrency, std::string(out.at("status").as_string()).c_str(),
        static_cast<long long>(out.at("counts").at("ok").to_number<std::int64_t>()), ms, n / (ms / 1000.0),
        peak_rss_kib(), out.at("results").as_array().size(),
        static_cast<long long>(out.at("elided").to_number<std::int64_t>()));
  }

  // 2. 100 `true` commands at concurrency 16 vs xargs -P16.
  json::object cmd_args{
      {"generate", {{"count", 100}, {"branch", {{"command", "true"}}}}},
      {"max_concurrency", 16},
      {"merge", {{"strategy", "all"}}}};
  std::vector<double> keel_ms, xargs_ms;
  for (int round = 0; round < rounds; ++round) {
    auto t0 = Clock::now();
    auto r = fanout_run->handler(cmd_args, ctx);
    keel_ms.push_back(ms_since(t0));
    if (r.structured.at("status") != "ok") {
      std::fprintf(stderr, "command run failed: %s\n", json::serialize(r.structured).c_str());
      return 1;
    }
    t0 = Clock::now();
    int rc = std::system("seq 100 | xargs -P16 -n1 true");
    xargs_ms.push_back(ms_since(t0));
    if (rc != 0) {
      std::fprintf(stderr, "xargs failed: %d\n", rc);
      return 1;
    }
  }
  std::printf("100 x `true`, concurrency 16, %d rounds: keel fanout median %.1f ms (min %.1f, max %.1f); "
              "xargs -P16 median %.1f ms (min %.1f, max %.1f)\n",
              rounds, median(keel_ms), *std::min_element(keel_ms.begin(), keel_ms.end()),
              *std::max_element(keel_ms.begin(), keel_ms.end()), median(xargs_ms),
              *std::min_element(xargs_ms.begin(), xargs_ms.end()),
              *std::max_element(xargs_ms.begin(), xargs_ms.end()));

  store.reset();
  fs::remove_all(dir);
  return 0;
}
