// fanout_run / fanout_status / fanout_cancel through the whole in-process
// stack (MCP connection -> tools/ -> SQLite store), with real commands.
// Covers every merge, every failure policy, the breaker's open / half-open /
// close cycle, cancellation (a `sleep 30` branch's process group must be gone
// within 100 ms of the cancel), and the budget cut-offs.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "cli_fanout_util.h"
#include "cli_tool_stack.h"

namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using namespace keel::tools::testing;
using namespace keel::tools::testing::fanout;

namespace {

// Waits until fanout_status shows a running command branch; returns its pgid.
pid_t wait_for_pid(Stack& stack, Client& client, const std::string& run_id) {
  for (int i = 0; i < 500; ++i) {
    auto result = client.call("fanout_status", {{"run_id", run_id}});
    if (!result.at("isError").as_bool()) {
      const auto& active = result.at("structuredContent").at("active");
      if (active.is_array() && !active.as_array().empty()) {
        return static_cast<pid_t>(active.as_array()[0].at("pid").to_number<std::int64_t>());
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (void)stack;
  FAIL("the command branch never started");
  return 0;
}

// Milliseconds until no process of group `pgid` is left (reaped), or -1 after 5 s.
double ms_until_group_gone(pid_t pgid, Clock::time_point from) {
  while (Clock::now() - from < std::chrono::seconds(5)) {
    if (::kill(-pgid, 0) != 0 && errno == ESRCH) {
      return std::chrono::duration<double, std::milli>(Clock::now() - from).count();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return -1;
}

}  // namespace

TEST_CASE("fanout merge all: every branch must succeed; values and timings are listed", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto run = a.ok("fanout_run",
                {{"branches", json::array{echo(R"({"score":3})"), echo("plain text"), cmd("true")}},
                 {"merge", {{"strategy", "all"}}}});
  CHECK(run.at("status") == "ok");
  CHECK(run.at("total") == 3);
  CHECK(run.at("merge").at("satisfied") == true);
  REQUIRE(run.at("results").as_array().size() == 3);
  CHECK(branch(run, 0).at("value") == json::parse(R"({"score":3})"));  // JSON output is parsed
  CHECK(branch(run, 1).at("value") == "plain text");                 // text stays text
  CHECK(branch(run, 2).at("value") == "");
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(status_of(run, i) == "ok");
    CHECK(branch(run, i).at("attempts") == 1);
    CHECK(branch(run, i).at("exit_code") == 0);
    CHECK(branch(run, i).at("ms").to_number<std::int64_t>() >= 0);
  }
  CHECK(run.at("elided") == 0);

  auto failed = a.ok("fanout_run",
                   {{"branches", json::array{cmd("true"), sh("echo oops >&2; exit 3")}},
                    {"merge", {{"strategy", "all"}}}});
  CHECK(failed.at("status") == "failed");
  CHECK(failed.at("merge").at("satisfied") == false);
  CHECK(status_of(failed, 1) == "skipped");  // the default for class "other"
  CHECK(error_class(failed, 1) == "other");
  CHECK_THAT(std::string(branch(failed, 1).at("error").at("message").as_string()),
             Catch::Contains("exit status 3") && Catch::Contains("oops"));
  CHECK(branch(failed, 1).at("exit_code") == 3);
}

TEST_CASE("fanout merge first_success cancels the branches still running", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto t0 = Clock::now();
  auto run = a.ok("fanout_run",
                {{"branches", json::array{cmd("sleep", {"30"}), sh("exit 1"), echo(R"({"v":"fast"})")}},
                 {"max_concurrency", 3},
                 {"merge", {{"strategy", "first_success"}}}});
  CHECK(Clock::now() - t0 < std::chrono::seconds(10));
  CHECK(run.at("status") == "ok");
  CHECK(run.at("winner") == 2);
  CHECK(run.at("value") == json::parse(R"({"v":"fast"})"));
  CHECK(status_of(run, 0) == "cancelled");
  CHECK(branch(run, 0).at("reason") == "merge_decided");
  // The failing branch was skipped, or cancelled if the winner came first.
  CHECK((status_of(run, 1) == "skipped" || status_of(run, 1) == "cancelled"));
}

TEST_CASE("fanout merge best_of_n picks the highest score at the pointer", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto run = a.ok("fanout_run",
                {{"branches", json::array{echo(R"({"score":3})"), echo(R"({"score":7.5})"),
                                          echo(R"({"score":5})"), echo(R"({"other":1})")}},
                 {"merge", {{"strategy", "best_of_n"}, {"pointer", "/score"}}}});
  CHECK(run.at("status") == "ok");
  CHECK(run.at("winner") == 1);
  CHECK(run.at("merge").at("score").to_number<double>() == 7.5);
  CHECK(run.at("value").at("score").to_number<double>() == 7.5);
  // A value without a score is a parse failure of that branch.
  CHECK(status_of(run, 3) == "skipped");
  CHECK(error_class(run, 3) == "parse");
  CHECK(error_code(run, 3) == "MERGE_INPUT");

  // best_of_n without a pointer is refused before anything runs.
  CHECK(a.refused("fanout_run", {{"branches", json::array{cmd("true")}},
                                  {"merge", {{"strategy", "best_of_n"}}}})
            .first == "INVALID_ARGUMENT");
}

TEST_CASE("fanout merge majority votes at the pointer and reports ties", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto run = a.ok("fanout_run",
                {{"branches", json::array{echo(R"({"answer":"a"})"), echo(R"({"answer":"b"})"),
                                          echo(R"({"answer":"a"})")}},
                 {"merge", {{"strategy", "majority"}, {"pointer", "/answer"}}}});
  CHECK(run.at("status") == "ok");
  CHECK(run.at("value") == "a");
  CHECK(run.at("merge").at("count") == 2);
  CHECK(run.at("merge").at("tie") == false);
  CHECK(run.at("merge").at("absolute_majority") == true);
  CHECK((run.at("winner") == 0 || run.at("winner") == 2));

  auto tie = a.ok("fanout_run",
                {{"branches", json::array{echo(R"({"answer":"a"})"), echo(R"({"answer":"b"})")}},
                 {"merge", {{"strategy", "majority"}, {"pointer", "/answer"}}}});
  CHECK(tie.at("status") == "failed");
  CHECK(tie.at("merge").at("tie") == true);
  CHECK(tie.at("merge").at("tied").as_array().size() == 2);
  CHECK_FALSE(tie.contains("winner"));
}

TEST_CASE("fanout merge quorum k is reached and cancels the rest", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto t0 = Clock::now();
  auto run = a.ok("fanout_run",
                {{"branches", json::array{echo("yes"), sh("exit 2"), echo("yes"), cmd("sleep", {"30"})}},
                 {"max_concurrency", 4},
                 {"merge", {{"strategy", "quorum"}, {"k", 2}}}});
  CHECK(Clock::now() - t0 < std::chrono::seconds(10));
  CHECK(run.at("status") == "ok");
  CHECK(run.at("merge").at("satisfied") == true);
  CHECK(status_of(run, 3) == "cancelled");

  // With a pointer: k equal values. Two of three agree on "x": not 3.
  auto short_of = a.ok("fanout_run",
                     {{"branches", json::array{echo(R"({"v":"x"})"), echo(R"({"v":"y"})"), echo(R"({"v":"x"})")}},
                      {"merge", {{"strategy", "quorum"}, {"k", 3}, {"pointer", "/v"}}}});
  CHECK(short_of.at("status") == "failed");
  auto reached = a.ok("fanout_run",
                    {{"branches", json::array{echo(R"({"v":"x"})"), echo(R"({"v":"y"})"), echo(R"({"v":"x"})")}},
                     {"merge", {{"strategy", "quorum"}, {"k", 2}, {"pointer", "/v"}}}});
  CHECK(reached.at("status") == "ok");
  CHECK(reached.at("value") == "x");
  CHECK(a.refused("fanout_run", {{"branches", json::array{cmd("true")}},
                                  {"merge", {{"strategy", "quorum"}, {"k", 2}}}})
            .first == "INVALID_ARGUMENT");
}

TEST_CASE("fanout tool branches run as the caller; generated runs stream and elide", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  for (int i = 0; i < 6; ++i) {
    a.ok("memory_put", {{"key", "k" + std::to_string(i)}, {"value", {{"n", i * 10}}}});
  }
  auto run = a.ok("fanout_run",
                {{"generate", {{"count", 6},
                               {"branch", {{"tool", "memory_get"}, {"arguments", {{"key", "k{i}"}}}}}}},
                 {"max_concurrency", 3},
                 {"max_results", 2},
                 {"merge", {{"strategy", "best_of_n"}, {"pointer", "/value/n"}}}});
  CHECK(run.at("status") == "ok");
  CHECK(run.at("total") == 6);
  CHECK(run.at("winner") == 5);
  CHECK(run.at("merge").at("score").to_number<double>() == 50.0);
  CHECK(count(run, "ok") == 6);
  CHECK(run.at("results").as_array().size() == 2);
  CHECK(run.at("elided") == 4);
  CHECK(branch(run, 1).at("value").at("found") == true);

  // Another agent's own namespace is not visible to its branches.
  Client b(stack, "agent-b");
  auto other = b.ok("fanout_run",
                  {{"branches", json::array{json::object{{"tool", "memory_get"}, {"arguments", {{"key", "k1"}}}}}}});
  CHECK(branch(other, 0).at("value").at("found") == false);

  // Bad branches are refused before anything runs.
  CHECK(a.refused("fanout_run", {{"branches", json::array{json::object{{"tool", "nope"}}}}}).first ==
        "INVALID_ARGUMENT");
  CHECK(a.refused("fanout_run", {{"branches", json::array{json::object{{"tool", "fanout_run"}}}}}).first ==
        "INVALID_ARGUMENT");
  CHECK(a.refused("fanout_run", {{"branches", json::array{json::object{{"tool", "memory_get"}, {"command", "x"}}}}})
            .first == "INVALID_ARGUMENT");
  CHECK(a.refused("fanout_run", {{"branches", json::array{cmd("true")}},
                                  {"generate", {{"count", 1}, {"branch", cmd("true")}}}})
            .first == "INVALID_ARGUMENT");
  CHECK(a.refused("fanout_run", {{"branches", json::array{}}}).first == "INVALID_ARGUMENT");
  // Tool arguments that fail the tool's schema fail that branch (class other).
  auto bad = a.ok("fanout_run",
                {{"branches", json::array{json::object{{"tool", "memory_get"}, {"arguments", {{"nokey", 1}}}}}}});
  CHECK(error_code(bad, 0) == "INVALID_ARGUMENT");
}

TEST_CASE("fanout failure policy retry: backoff until success, or until attempts run out", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  const std::string flag = (stack.sandbox.root / "second-time").string();
  // Fails with EX_TEMPFAIL (75, class transient) the first time only.
  auto run = a.ok("fanout_run",
                {{"branches", json::array{sh("test -f '" + flag + "' && echo done && exit 0; touch '" +
                                             flag + "'; exit 75")}},
                 {"on_error", {{"transient", {{"retry", {{"max_attempts", 3}, {"backoff_ms", 20}, {"jitter", 0.5}}}}}}}});
  CHECK(run.at("status") == "ok");
  CHECK(branch(run, 0).at("attempts") == 2);
  CHECK(branch(run, 0).at("value") == "done");

  auto t0 = Clock::now();
  auto exhausted = a.ok("fanout_run",
                      {{"branches", json::array{sh("exit 75")}},
                       {"on_error", {{"transient", {{"retry", {{"max_attempts", 3}, {"backoff_ms", 100}, {"jitter", 0}}}}}}}});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  CHECK(status_of(exhausted, 0) == "failed");
  CHECK(branch(exhausted, 0).at("attempts") == 3);
  CHECK(error_class(exhausted, 0) == "transient");
  CHECK(branch(exhausted, 0).at("error").at("retries_exhausted") == true);
  CHECK(ms >= 300);  // waits 100 ms then 200 ms: the backoff doubles

  // A retry cap beyond the config's is a clear error.
  CHECK(a.refused("fanout_run", {{"branches", json::array{cmd("true")}},
                                  {"on_error", {{"other", {{"retry", {{"max_attempts", 99}}}}}}}})
            .first == "LIMIT_EXCEEDED");
}

TEST_CASE("fanout failure policy skip, timeout and parse classes", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto t0 = Clock::now();
  auto run = a.ok("fanout_run",
                {{"branches", json::array{cmd("sleep", {"30"}), sh("echo '{broken'"), cmd("true"),
                                          cmd("/nonexistent/keel-no-such-command")}},
                 {"branch_timeout_ms", 150},
                 {"max_concurrency", 4},
                 {"on_error", {{"timeout", "skip"}, {"parse", "skip"}, {"other", "skip"}}}});
  CHECK(Clock::now() - t0 < std::chrono::seconds(5));
  CHECK(status_of(run, 0) == "skipped");
  CHECK(error_class(run, 0) == "timeout");
  CHECK(branch(run, 0).at("ms").to_number<std::int64_t>() >= 150);
  CHECK(status_of(run, 1) == "skipped");
  CHECK(error_class(run, 1) == "parse");
  CHECK(status_of(run, 2) == "ok");
  CHECK(error_code(run, 3) == "SPAWN_FAILED");
  CHECK(run.at("status") == "failed");  // merge all
}

TEST_CASE("fanout failure policy escalate files an escalation, or says it cannot", "[fanout]") {
  SECTION("no escalation service wired") {
    Stack stack;
    Client a(stack, "agent-a");
    auto run = a.ok("fanout_run",
                  {{"branches", json::array{sh("exit 4")}}, {"on_error", {{"other", "escalate"}}}});
    CHECK(status_of(run, 0) == "failed");
    CHECK(branch(run, 0).at("error").at("escalation") == "escalation unavailable");
  }
  SECTION("an escalation service") {
    std::mutex mu;
    std::vector<json::object> escalations;  // what the escalation filer received
    Stack stack([&](keel::tools::ToolEnv& env) {
      env.escalate = [&](const keel::state::Principal& who, const json::object& request) {
        std::lock_guard lock(mu);
        json::object seen = request;
        seen["agent"] = who.agent;
        escalations.push_back(seen);
        return json::object{{"outcome", "GRANTED"}, {"id", "esc-1"}};
      };
    });
    Client a(stack, "agent-a");
    auto run = a.ok("fanout_run",
                  {{"branches", json::array{cmd("true"), sh("exit 4")}}, {"on_error", {{"other", "escalate"}}}});
    CHECK(status_of(run, 1) == "escalated");
    CHECK(branch(run, 1).at("escalation").at("id") == "esc-1");
    std::lock_guard lock(mu);
    REQUIRE(escalations.size() == 1);
    CHECK(escalations[0].at("agent") == "agent-a");
    CHECK_THAT(std::string(escalations[0].at("reason").as_string()),
               Catch::Contains("exit status 4"));
    CHECK(escalations[0].at("context").at("branch") == 1);
  }
}

TEST_CASE("fanout failure policy terminate cancels the whole run", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  auto t0 = Clock::now();
  auto run = a.ok("fanout_run",
                {{"branches", json::array{cmd("sleep", {"30"}), sh("sleep 0.1; exit 9"), cmd("true"), cmd("true")}},
                 {"max_concurrency", 2},
                 {"on_error", {{"other", "terminate"}}}});
  CHECK(Clock::now() - t0 < std::chrono::seconds(10));
  CHECK(run.at("status") == "terminated");
  CHECK(status_of(run, 0) == "cancelled");
  CHECK(status_of(run, 1) == "failed");
  CHECK(branch(run, 1).at("error").at("terminated_run") == true);
  CHECK(status_of(run, 2) == "cancelled");  // never started
  CHECK(branch(run, 2).at("attempts") == 0);
}

TEST_CASE("fanout denied class: the command gate and the fanout.command capability", "[fanout]") {
  Stack stack([](keel::tools::ToolEnv& env) {
    env.command_gate = [](const keel::state::Principal&, const std::vector<std::string>& argv,
                          const std::string&) {
      if (argv[0] == "rm") return keel::tools::CommandVerdict{false, "no rm here", "test-rule"};
      return keel::tools::CommandVerdict{};
    };
  });
  Client a(stack, "agent-a");
  auto run = a.ok("fanout_run",
                {{"branches", json::array{cmd("rm", {"-rf", "/tmp/keel-never"}), cmd("true")}},
                 {"on_error", {{"denied", "skip"}}}});
  CHECK(status_of(run, 0) == "skipped");
  CHECK(error_class(run, 0) == "denied");
  CHECK_THAT(std::string(branch(run, 0).at("error").at("message").as_string()),
             Catch::Contains("no rm here") && Catch::Contains("test-rule"));
  CHECK(status_of(run, 1) == "ok");

  auto caps = keel::state::default_agent_capabilities();
  caps.erase("fanout.command");
  Stack limited({}, caps);
  Client b(limited, "agent-b");
  CHECK(b.refused("fanout_run", {{"branches", json::array{cmd("true")}}}).first == "PERMISSION_DENIED");
  caps.erase("fanout");
  Stack none({}, caps);
  Client c(none, "agent-c");
  CHECK(c.refused("fanout_run", {{"branches", json::array{cmd("true")}}}).first == "PERMISSION_DENIED");
}

TEST_CASE("fanout breaker opens after N failures, half-opens after the cooldown, closes on success",
          "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  // One at a time, so the order is the index order. `sleep` is another
  // provider: it lets the cooldown of `sh` pass.
  auto run = a.ok("fanout_run",
                {{"branches", json::array{sh("exit 3"), sh("exit 3"), sh("exit 0"), cmd("sleep", {"0.4"}),
                                          sh("exit 0"), sh("exit 3"), sh("exit 0")}},
                 {"max_concurrency", 1},
                 {"breaker", {{"failures", 2}, {"cooldown_ms", 250}}},
                 {"on_error", {{"transient", "skip"}, {"other", "skip"}}}});
  CHECK(error_code(run, 0) == "EXIT_STATUS");
  CHECK(error_code(run, 1) == "EXIT_STATUS");
  CHECK(error_code(run, 2) == "BREAKER_OPEN");  // open: refused without running
  CHECK(error_class(run, 2) == "transient");
  CHECK(status_of(run, 3) == "ok");
  CHECK(status_of(run, 4) == "ok");             // the half-open trial succeeds: closed
  CHECK(error_code(run, 5) == "EXIT_STATUS");   // one failure does not reopen it
  CHECK(status_of(run, 6) == "ok");
  const auto& breakers = run.at("breakers").as_array();
  REQUIRE(breakers.size() == 1);
  CHECK(breakers[0].at("provider") == "command:sh");
  CHECK(breakers[0].at("state") == "closed");
  CHECK(breakers[0].at("opened") == 1);

  // A failed half-open trial opens it again. The breaker is the store's, so
  // this run starts from the first one's (closed, opened once).
  auto reopened = a.ok("fanout_run",
                     {{"branches", json::array{sh("exit 3"), sh("exit 3"), cmd("sleep", {"0.4"}), sh("exit 3"),
                                               sh("exit 0")}},
                      {"max_concurrency", 1},
                      {"breaker", {{"failures", 2}, {"cooldown_ms", 250}}},
                      {"on_error", {{"transient", "skip"}, {"other", "skip"}}}});
  CHECK(error_code(reopened, 3) == "EXIT_STATUS");   // the trial ran and failed
  CHECK(error_code(reopened, 4) == "BREAKER_OPEN");  // open again
  CHECK(reopened.at("breakers").at(0).at("state") == "open");
  CHECK(reopened.at("breakers").at(0).at("opened") == 3);  // 1 before this run, 2 in it
}

TEST_CASE("fanout_cancel kills a sleep command's process group within 100 ms", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  int id = 0;
  std::thread runner = a.call_async(
      "fanout_run", {{"run_id", "cancel-me"}, {"branches", json::array{cmd("sleep", {"30"}), cmd("sleep", {"30"})}},
                     {"max_concurrency", 1}},
      id);
  pid_t pgid = wait_for_pid(stack, a, "cancel-me");
  REQUIRE(pgid > 0);
  REQUIRE(::kill(-pgid, 0) == 0);
  auto cancelled = a.ok("fanout_cancel", {{"run_id", "cancel-me"}});
  const auto after_cancel = Clock::now();
  double gone_ms = ms_until_group_gone(pgid, after_cancel);
  INFO("group gone after " << gone_ms << " ms");
  CHECK(gone_ms >= 0);
  CHECK(gone_ms <= 100);
  CHECK(cancelled.at("run_id") == "cancel-me");
  runner.join();
  auto response = a.response(id);
  REQUIRE(response.has_value());
  const auto& run = response->at("result").at("structuredContent").as_object();
  CHECK(run.at("status") == "cancelled");
  CHECK(status_of(run, 0) == "cancelled");
  CHECK(status_of(run, 1) == "cancelled");
  CHECK(branch(run, 1).at("attempts") == 0);

  // Finished runs stay visible to fanout_status, with their result.
  auto st = a.ok("fanout_status", {{"run_id", "cancel-me"}});
  CHECK(st.at("status") == "cancelled");
  CHECK(st.at("result").at("run_id") == "cancel-me");
  // Another agent cannot see or cancel it.
  Client b(stack, "agent-b");
  CHECK(b.refused("fanout_status", {{"run_id", "cancel-me"}}).first == "NOT_FOUND");
  CHECK(b.refused("fanout_cancel", {{"run_id", "cancel-me"}}).first == "NOT_FOUND");
}

TEST_CASE("notifications/cancelled stops a fanout run and kills its commands", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  int id = 0;
  std::thread runner = a.call_async(
      "fanout_run", {{"run_id", "mcp-cancel"}, {"branches", json::array{cmd("sleep", {"30"})}}}, id);
  pid_t pgid = wait_for_pid(stack, a, "mcp-cancel");
  a.notify("notifications/cancelled", {{"requestId", id}, {"reason", "test"}});
  const auto after_cancel = Clock::now();
  double gone_ms = ms_until_group_gone(pgid, after_cancel);
  INFO("group gone after " << gone_ms << " ms");
  CHECK(gone_ms >= 0);
  CHECK(gone_ms <= 100);
  runner.join();
  CHECK_FALSE(a.response(id).has_value());  // a cancelled request gets no response
  auto st = a.ok("fanout_status", {{"run_id", "mcp-cancel"}});
  CHECK(st.at("status") == "cancelled");
}

TEST_CASE("fanout budget cut-off: cost units, branch count, wall time", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  json::array costly;
  for (int i = 0; i < 5; ++i) costly.push_back(echo(R"({"cost_units":2})"));
  auto cost = a.ok("fanout_run",
                 {{"branches", costly}, {"max_concurrency", 1}, {"budget", {{"cost_units", 4}}}});
  CHECK(cost.at("status") == "budget_exhausted");
  CHECK(cost.at("budget").at("exhausted") == "cost_units");
  CHECK(cost.at("budget").at("spent").at("cost_units").to_number<double>() == 4.0);
  CHECK(count(cost, "ok") == 2);
  CHECK(count(cost, "cancelled") == 3);
  CHECK(status_of(cost, 4) == "cancelled");
  CHECK(branch(cost, 4).at("reason") == "budget_exhausted");

  auto branches = a.ok("fanout_run",
                     {{"branches", json::array{cmd("true"), cmd("true"), cmd("true"), cmd("true")}},
                      {"max_concurrency", 1}, {"budget", {{"max_branches", 2}}}});
  CHECK(branches.at("status") == "budget_exhausted");
  CHECK(branches.at("budget").at("exhausted") == "branches");
  CHECK(count(branches, "ok") == 2);
  CHECK(count(branches, "cancelled") == 2);

  auto t0 = Clock::now();
  auto wall = a.ok("fanout_run",
                 {{"branches", json::array{cmd("sleep", {"30"}), cmd("true")}},
                  {"max_concurrency", 1}, {"budget", {{"wall_ms", 200}}}});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  CHECK(ms >= 200);
  CHECK(ms < 3000);
  CHECK(wall.at("status") == "budget_exhausted");
  CHECK(wall.at("budget").at("exhausted") == "wall_ms");
  CHECK(status_of(wall, 0) == "cancelled");
  CHECK(status_of(wall, 1) == "cancelled");
}

TEST_CASE("fanout sends progress, journals FORK and JOIN, and enforces its limits", "[fanout]") {
  Stack stack([](keel::tools::ToolEnv& env) {
    env.fanout.max_concurrency = 4;
    env.fanout.max_branches = 10;
  });
  Client a(stack, "agent-a");
  json::array five;
  for (int i = 0; i < 5; ++i) five.push_back(cmd("true"));
  auto run = a.ok("fanout_run", {{"branches", five}, {"run_id", "journaled"}},
                {{"progressToken", "p1"}});
  auto progress = a.notifications("notifications/progress");
  REQUIRE_FALSE(progress.empty());
  CHECK(progress.back().at("params").at("progress").to_number<double>() == 5.0);
  CHECK(progress.back().at("params").at("total").to_number<double>() == 5.0);

  keel::state::Principal reader{"agent-a", "/proj", "", keel::state::default_agent_capabilities()};
  keel::state::JournalFilter f;
  f.subject = "fanout:journaled";
  f.newest_first = false;
  auto records = stack.store->journal_query(reader, f);
  // (A slow machine may add a PROGRESS record between them: see the next case.)
  std::erase_if(records, [](const keel::state::JournalRecord& r) { return r.op == "PROGRESS"; });
  REQUIRE(records.size() == 2);
  CHECK(records[0].op == "FORK");
  CHECK(json::parse(records[0].payload).at("branches") == 5);
  CHECK(records[1].op == "JOIN");
  CHECK(json::parse(records[1].payload).at("status") == "ok");
  CHECK(json::parse(records[1].payload).at("satisfied") == true);

  CHECK(a.refused("fanout_run", {{"branches", five}, {"run_id", "journaled"}}).first == "CONFLICT");
  auto over = a.refused("fanout_run", {{"branches", five}, {"max_concurrency", 5}});
  CHECK(over.first == "LIMIT_EXCEEDED");
  CHECK_THAT(over.second, Catch::Contains("fanout.max_concurrency"));
  CHECK(a.refused("fanout_run", {{"generate", {{"count", 11}, {"branch", cmd("true")}}}}).first ==
        "LIMIT_EXCEEDED");
  CHECK(a.refused("fanout_status", {{"run_id", "never"}}).first == "NOT_FOUND");
}

TEST_CASE("a fanout run that lasts journals its counts once a second (PROGRESS) for other processes",
          "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a");
  json::array six;
  for (int i = 0; i < 6; ++i) six.push_back(cmd("sleep", {"0.5"}));
  a.ok("fanout_run", {{"branches", six}, {"run_id", "slow"}, {"max_concurrency", 2}});

  keel::state::Principal reader{"agent-a", "/proj", "", keel::state::default_agent_capabilities()};
  keel::state::JournalFilter f;
  f.subject = "fanout:slow";
  f.newest_first = false;
  auto records = stack.store->journal_query(reader, f);
  REQUIRE(records.size() >= 3);
  CHECK(records.front().op == "FORK");
  CHECK(records.back().op == "JOIN");
  std::int64_t last_done = 0;
  for (std::size_t i = 1; i + 1 < records.size(); ++i) {
    CHECK(records[i].op == "PROGRESS");
    auto p = json::parse(records[i].payload).as_object();
    CHECK(p.at("branches") == 6);
    const std::int64_t done = p.at("done").as_int64();
    CHECK(done > last_done);  // only when something finished since the last one
    CHECK(done < 6);          // never once the run is over: JOIN says that
    CHECK(p.at("running").as_int64() <= 2);
    CHECK(p.at("counts").at("ok").as_int64() == done);
    last_done = done;
  }
  // At most one a second: 6 branches of 0.5 s two at a time take about 1.5 s.
  CHECK(records.size() <= 4);
}

TEST_CASE("fanout sample branches ask the client through sampling/createMessage", "[fanout]") {
  Stack stack;
  Client a(stack, "agent-a", /*sampling=*/true);
  json::object sample{{"messages", json::array{json::object{{"role", "user"},
                                                            {"content", {{"type", "text"}, {"text", "6*7?"}}}}}},
                      {"maxTokens", 10}};
  auto run = a.ok("fanout_run",
                {{"branches", json::array{json::object{{"sample", sample}}, json::object{{"sample", sample}},
                                          json::object{{"sample", sample}}}},
                 {"max_concurrency", 3},
                 {"merge", {{"strategy", "majority"}, {"pointer", "/content/text"}}}});
  CHECK(run.at("status") == "ok");
  CHECK(run.at("value") == "42");
  CHECK(run.at("merge").at("count") == 3);
  CHECK(a.notifications("sampling/createMessage").size() == 3);

  Client b(stack, "agent-b");  // declared no sampling
  CHECK(b.refused("fanout_run", {{"branches", json::array{json::object{{"sample", sample}}}}}).first ==
        "UNSUPPORTED");
}
