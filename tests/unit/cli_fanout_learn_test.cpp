// fanout_run's memory between runs and its newer policies, through the whole
// in-process stack (MCP connection -> tools/ -> SQLite store), with real
// commands: the result cache (hit, miss, expiry, hit counts, what is never
// cached), breakers kept in the store (across runs and across a store
// reopen), on_error replan, merge priority, concurrency adaptive (its trace
// backs off when branches slow down as more run at once).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/json.hpp>

#include "cli_fanout_util.h"
#include "cli_tool_stack.h"
#include "tools/fanout_adaptive.h"

namespace json = boost::json;
namespace fs = std::filesystem;

using namespace keel::tools::testing;
using namespace keel::tools::testing::fanout;

namespace {

std::int64_t num(const json::value& v) { return v.to_number<std::int64_t>(); }

std::size_t lines_in(const fs::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

}  // namespace

TEST_CASE("fanout cache: a successful branch is served from the cache within the TTL", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  const fs::path ran = stack.sandbox.root / "ran";
  // Each branch leaves a line in `ran` when it really runs.
  json::array branches{sh("echo 0 >> '" + ran.string() + "'; echo '{\"n\":0}'"),
                       sh("echo 1 >> '" + ran.string() + "'; echo '{\"n\":1}'"),
                       sh("echo 2 >> '" + ran.string() + "'; exit 3")};
  json::object args{{"branches", branches},
                    {"cache", {{"ttl_ms", 60'000}}},
                    {"on_error", {{"other", "skip"}}}};

  auto first = a.ok("fanout_run", args);
  CHECK(lines_in(ran) == 3);
  CHECK(first.at("cache").at("hits") == 0);
  CHECK(first.at("cache").at("misses") == 3);
  CHECK(first.at("cache").at("stored") == 2);  // failures are not cached
  CHECK_FALSE(branch(first, 0).contains("cached"));

  auto second = a.ok("fanout_run", args);
  CHECK(lines_in(ran) == 4);  // only the failing branch ran again
  CHECK(second.at("cache").at("hits") == 2);
  CHECK(second.at("cache").at("misses") == 1);
  CHECK(branch(second, 0).at("cached") == true);
  CHECK(branch(second, 0).at("attempts") == 0);
  CHECK(branch(second, 0).at("value") == json::parse(R"({"n":0})"));
  CHECK(branch(second, 0).at("exit_code") == 0);
  CHECK(branch(second, 1).at("cache").at("hits") == 1);
  CHECK(status_of(second, 2) == "skipped");

  auto third = a.ok("fanout_run", args);
  CHECK(branch(third, 1).at("cache").at("hits") == 2);  // counted per lookup

  // Another argument is another digest.
  auto other = a.ok("fanout_run", {{"branches", json::array{sh("echo 9 >> '" + ran.string() + "'")}},
                                   {"cache", {{"ttl_ms", 60'000}}}});
  CHECK(other.at("cache").at("hits") == 0);

  // Results older than this run's TTL are not used, whatever TTL stored them.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  json::object short_ttl = args;
  short_ttl["cache"] = json::object{{"ttl_ms", 10}};
  auto expired = a.ok("fanout_run", short_ttl);
  CHECK(expired.at("cache").at("hits") == 0);
  CHECK(lines_in(ran) == 9);
  // A result too large to keep is not stored (the run's memory stays bounded).
  auto large = a.ok("fanout_run", {{"branches", json::array{sh("head -c 300000 /dev/zero | tr '\\0' a")}},
                                   {"cache", {{"ttl_ms", 60'000}}}});
  CHECK(large.at("cache").at("stored") == 0);
  CHECK(large.at("cache").at("too_large") == 1);
  // No cache asked: no cache used.
  auto uncached = a.ok("fanout_run", {{"branches", branches}, {"on_error", {{"other", "skip"}}}});
  CHECK_FALSE(uncached.contains("cache"));
  CHECK(lines_in(ran) == 12);
}

TEST_CASE("fanout cache: read-only tools are cached per caller, mutating tools never", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  a.ok("memory_put", {{"key", "k"}, {"value", 1}});
  json::object get{{"branches", json::array{json::object{{"tool", "memory_get"}, {"arguments", {{"key", "k"}}}}}},
                   {"cache", {{"ttl_ms", 60'000}}}};
  a.ok("fanout_run", get);
  CHECK(branch(a.ok("fanout_run", get), 0).at("cached") == true);
  // Another agent's memory_get reads its own namespace: not served a's result.
  Client b(stack, "agent-b");
  auto bs = b.ok("fanout_run", get);
  CHECK_FALSE(branch(bs, 0).contains("cached"));
  CHECK(branch(bs, 0).at("value").at("found") == false);

  json::object put{{"branches", json::array{json::object{{"tool", "memory_put"},
                                                         {"arguments", {{"key", "p"}, {"value", 1}}}}}},
                   {"cache", {{"ttl_ms", 60'000}}}};
  a.ok("fanout_run", put);
  auto again = a.ok("fanout_run", put);
  CHECK_FALSE(branch(again, 0).contains("cached"));
  CHECK(again.at("cache").at("misses") == 0);  // not cacheable: neither hit nor miss
  CHECK(a.ok("memory_get", {{"key", "p"}}).at("version") == 2);  // it wrote twice
}

TEST_CASE("fanout cache and concurrency: bad arguments are clear errors", "[fanout]") {
  Stack stack([](keel::tools::ToolEnv& env) { env.fanout.max_concurrency = 4; });
  Client a(stack, "agent-a");
  json::array one{cmd("true")};
  CHECK(a.refused("fanout_run", {{"branches", one}, {"cache", {{"ttl_ms", 0}}}}).first == "INVALID_ARGUMENT");
  CHECK(a.refused("fanout_run", {{"branches", one}, {"cache", {{"ttl_ms", 31LL * 24 * 3'600'000}}}}).first ==
        "INVALID_ARGUMENT");
  CHECK(a.refused("fanout_run", {{"branches", one}, {"cache", json::object{}}}).first == "INVALID_ARGUMENT");
  auto env_name = a.refused("fanout_run", {{"branches", one},
                                           {"cache", {{"ttl_ms", 10}, {"env", json::array{"A=B"}}}}});
  CHECK(env_name.first == "INVALID_ARGUMENT");
  CHECK_THAT(env_name.second, Catch::Contains("cache.env"));
  CHECK(a.refused("fanout_run", {{"branches", one}, {"concurrency", "turbo"}}).first == "INVALID_ARGUMENT");
  auto over = a.refused("fanout_run", {{"branches", one}, {"concurrency", "adaptive"}, {"max_concurrency", 5}});
  CHECK(over.first == "LIMIT_EXCEEDED");
  CHECK_THAT(over.second, Catch::Contains("max_concurrency"));
  CHECK(a.refused("fanout_run", {{"branches", one}, {"concurrency", "adaptive"}, {"max_concurrency", 0}}).first ==
        "INVALID_ARGUMENT");
  CHECK(a.refused("fanout_run", {{"branches", one}, {"on_error", {{"other", "replant"}}}}).first ==
        "INVALID_ARGUMENT");
}

TEST_CASE("fanout breakers outlive the run: loaded at start, stored on every change", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  json::object breaker{{"failures", 2}, {"cooldown_ms", 60'000}};
  auto first = a.ok("fanout_run", {{"branches", json::array{sh("exit 3"), sh("exit 3")}},
                                   {"max_concurrency", 1},
                                   {"breaker", breaker}});
  CHECK(first.at("breakers").at(0).at("state") == "open");

  // The next run starts with it open: the branch never runs.
  auto second = a.ok("fanout_run", {{"branches", json::array{sh("exit 0")}},
                                    {"breaker", breaker},
                                    {"on_error", {{"transient", "skip"}}}});
  CHECK(branch(second, 0).at("error").at("code") == "BREAKER_OPEN");

  auto status = a.ok("fanout_status", json::object{});
  const auto& stored = status.at("breakers").as_array();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].at("provider") == "command:sh");
  CHECK(stored[0].at("state") == "open");
  CHECK(stored[0].at("consecutive_failures") == 2);
  CHECK(stored[0].at("opened") == 1);
  CHECK(num(stored[0].at("opened_at_ms")) > 0);
  // A run's own status shows its breakers too.
  CHECK(a.ok("fanout_status", {{"run_id", first.at("run_id")}}).at("breakers").at(0).at("state") == "open");

  // Once its cooldown passed (this run's: 0), the trial closes it, and that is stored.
  auto healed = a.ok("fanout_run", {{"branches", json::array{sh("exit 0")}},
                                    {"breaker", {{"failures", 2}, {"cooldown_ms", 0}}}});
  CHECK(status_of(healed, 0) == "ok");
  CHECK(a.ok("fanout_status", json::object{}).at("breakers").at(0).at("state") == "closed");
}

TEST_CASE("fanout breakers survive a store reopen (another process, later)", "[fanout]") {
  keel::state::testing::TempDir dir;
  keel::state::StoreOptions opts;
  opts.dir = dir.path() / "state";
  json::object run{{"branches", json::array{sh("exit 3"), sh("exit 3"), sh("exit 0")}},
                   {"max_concurrency", 1},
                   {"breaker", {{"failures", 2}, {"cooldown_ms", 60'000}}},
                   {"on_error", {{"transient", "skip"}}}};
  {
    auto store = keel::state::open_sqlite_store(opts);
    Stack stack([&](keel::tools::ToolEnv& env) { env.store = store.get(); });
    Client a(stack, "agent-a");
    auto r = a.ok("fanout_run", run);
    CHECK(branch(r, 2).at("error").at("code") == "BREAKER_OPEN");
  }
  auto store = keel::state::open_sqlite_store(opts);
  Stack stack([&](keel::tools::ToolEnv& env) { env.store = store.get(); });
  Client a(stack, "agent-a");
  auto r = a.ok("fanout_run", {{"branches", json::array{sh("exit 0")}},
                               {"breaker", {{"failures", 2}, {"cooldown_ms", 60'000}}},
                               {"on_error", {{"transient", "skip"}}}});
  CHECK(branch(r, 0).at("error").at("code") == "BREAKER_OPEN");
  CHECK(r.at("breakers").at(0).at("opened") == 1);
}

TEST_CASE("fanout on_error replan stops the failing provider and reports what failed and what did not run",
          "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto run = a.ok("fanout_run",
                  {{"branches", json::array{sh("echo oops >&2; exit 3"), cmd("true"), sh("exit 0"), cmd("echo", {"x"}),
                                            sh("exit 0")}},
                   {"max_concurrency", 1},
                   {"on_error", {{"other", "replan"}}}});
  CHECK(run.at("status") == "replan");
  CHECK(status_of(run, 0) == "failed");
  CHECK(branch(run, 0).at("error").at("replan") == true);
  CHECK(status_of(run, 1) == "ok");  // other providers go on
  CHECK(status_of(run, 2) == "cancelled");
  CHECK(branch(run, 2).at("reason") == "replan");
  CHECK(status_of(run, 3) == "ok");
  CHECK(status_of(run, 4) == "cancelled");
  const auto& replan = run.at("replan").as_object();
  CHECK(replan.at("providers") == json::array{"command:sh"});
  REQUIRE(replan.at("failed").as_array().size() == 1);
  CHECK(replan.at("failed").at(0).at("index") == 0);
  CHECK(replan.at("failed").at(0).at("provider") == "command:sh");
  CHECK_THAT(std::string(replan.at("failed").at(0).at("error").at("message").as_string()),
             Catch::Contains("oops"));
  CHECK(replan.at("not_run") == json::array{2, 4});
  CHECK(replan.at("not_run_count") == 2);
}

TEST_CASE("fanout merge priority: the best priority among the successes, ties by index", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto prio = [](json::object b, std::int64_t p) {
    b["priority"] = p;
    return b;
  };
  auto run = a.ok("fanout_run",
                  {{"branches", json::array{prio(cmd("echo", {"a"}), 5), prio(cmd("echo", {"b"}), 1),
                                            prio(sh("exit 1"), 0), prio(cmd("echo", {"c"}), 1), cmd("echo", {"d"})}},
                   {"max_concurrency", 4},
                   {"merge", {{"strategy", "priority"}}}});
  // d has the default priority 0 and succeeded: it wins over b and c.
  CHECK(run.at("status") == "ok");
  CHECK(run.at("winner") == 4);
  CHECK(run.at("value") == "d");
  CHECK(run.at("merge").at("priority") == 0);

  auto tie = a.ok("fanout_run",
                  {{"branches", json::array{prio(cmd("echo", {"a"}), 5), prio(cmd("echo", {"b"}), 1),
                                            prio(sh("exit 1"), 0), prio(cmd("echo", {"c"}), 1)}},
                   {"max_concurrency", 4},
                   {"merge", {{"strategy", "priority"}}}});
  CHECK(tie.at("winner") == 1);
  CHECK(tie.at("value") == "b");

  auto unused = a.refused("fanout_run", {{"branches", json::array{prio(cmd("true"), 1)}}});
  CHECK(unused.first == "INVALID_ARGUMENT");
  CHECK_THAT(unused.second, Catch::Contains("priority"));
}

TEST_CASE("fanout concurrency adaptive backs off when branches slow down as more run at once",
          "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  const fs::path running = stack.sandbox.root / "running";
  fs::create_directories(running);
  // Each branch registers itself with a file of its own (no lock), counts
  // the files, sleeps 30 ms x n² for n running, and prints n.
  const std::string d = running.string();
  const std::string script = "f='" + d + "'/$$; : > \"$f\"; n=$(ls '" + d +
                             "' | wc -l); sleep $(awk \"BEGIN{print 0.03*$n*$n}\"); rm -f \"$f\"; echo $n";
  auto run = a.ok("fanout_run", {{"generate", {{"count", 24}, {"branch", sh(script)}}},
                                 {"concurrency", "adaptive"},
                                 {"max_concurrency", 6}});
  CHECK(run.at("status") == "ok");
  const auto& trace = run.at("concurrency").at("trace").as_array();
  INFO(json::serialize(trace));
  REQUIRE_FALSE(trace.empty());
  CHECK(trace[0].at("reason") == "start");
  CHECK(trace[0].at("concurrency") == 1);
  bool increased = false;
  bool backed_off = false;
  for (const auto& e : trace) {
    CHECK(num(e.at("concurrency")) <= 6);
    if (e.at("reason") == "increase") increased = true;
    if (e.at("reason") == "latency" && increased) backed_off = true;
  }
  CHECK(increased);
  CHECK(backed_off);
  CHECK(run.at("concurrency").at("max") == 6);
  // No branch ever saw more siblings than the bound allows.
  for (const auto& r : run.at("results").as_array()) CHECK(num(r.at("value")) <= 6);
}

TEST_CASE("fanout adaptive rule: +1 per calm window, halved on latency or errors, bounded", "[fanout]") {
  using keel::tools::fanout::AdaptiveConcurrency;
  AdaptiveConcurrency ad(4);
  std::int64_t t = 0;
  // Feeds one whole window of `n` branches of `ms` each, `failed` of them failing.
  auto window = [&](std::int64_t ms, int failed = 0) {
    const int n = std::max(ad.limit(), 3);
    for (int i = 0; i < n; ++i) ad.observe(ad.epoch(), ms, i < failed, ++t);
  };
  CHECK(ad.limit() == 1);
  window(10);  // baseline 10 ms
  CHECK(ad.limit() == 2);
  window(20);  // 20 ≤ 1.5·10 + 5
  CHECK(ad.limit() == 3);
  window(21);  // > 20: latency
  CHECK(ad.limit() == 1);
  window(10);
  window(10);
  window(10);
  window(10);
  CHECK(ad.limit() == 4);  // the bound
  window(10);
  CHECK(ad.limit() == 4);
  window(10, 1);  // 1 of 4 failed: 0.25 > 0.2
  CHECK(ad.limit() == 2);
  // A branch of an older epoch does not count.
  const auto old = ad.epoch();
  window(10);
  for (int i = 0; i < 10; ++i) ad.observe(old, 1000, true, ++t);
  CHECK(ad.limit() == 3);
  const auto report = ad.report();
  const auto& trace = report.at("trace").as_array();
  REQUIRE(trace.size() == 9);
  CHECK(trace[0].at("reason") == "start");
  CHECK(trace[3].at("reason") == "latency");
  CHECK(trace[3].at("concurrency") == 1);
  CHECK(trace[7].at("reason") == "errors");
  CHECK(report.at("max") == 4);
  CHECK(report.at("final") == 3);
}
