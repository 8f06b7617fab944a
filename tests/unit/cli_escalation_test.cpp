// Escalations through the MCP tools (both eras) and through `keel escalation`:
// every resolution path but live elicitation (tests/e2e/escalation_e2e.test.mjs
// answers that with the official TypeScript client), budget exhaustion,
// double resolution, and the CLI resolving while escalation_status waits.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/json.hpp>

#include "cli_test_util.h"
#include "cli_tool_stack.h"

namespace json = boost::json;
using keel::cli::testing::Run;
using namespace keel::tools::testing;

namespace {

// The principals' project is the sandbox's, so that `keel escalation
// --project` finds what the tools filed.
const StackOptions kInProject{.in_sandbox_project = true};

json::object ask_args(const std::string& reason = "drop the cache table?") {
  return json::object{{"reason", reason},
                      {"context", {{"table", "cache"}}},
                      {"proposal", {{"sql", "DROP TABLE cache"}}},
                      {"impact", "high"}};
}

// `keel <args>`, stderr folded into stdout.
Run run_cli(const std::string& args) { return keel::cli::testing::shell(std::string(KEEL_BINARY) + " " + args); }

}  // namespace

TEST_CASE("escalation tools: request, budget, status, list", "[cli][escalation]") {
  Stack stack(kInProject);
  Client agent(stack, "agent-a");

  auto first = agent.ok("escalation_request", ask_args());
  CHECK(first.at("outcome") == "GRANTED");
  CHECK(first.at("status") == "pending");
  CHECK(first.at("tokens_left") == 2);
  const std::int64_t id = first.at("id").as_int64();
  CHECK(first.at("escalation").at("reason") == "drop the cache table?");
  CHECK(first.at("escalation").at("impact") == "high");

  agent.ok("escalation_request", ask_args("two"));
  agent.ok("escalation_request", ask_args("three"));
  auto exhausted = agent.ok("escalation_request", ask_args("four"));
  CHECK(exhausted.at("outcome") == "BUDGET_EXHAUSTED");
  // One token back every 20 minutes (real clock: a few ms have refilled already).
  CHECK(exhausted.at("retry_after_ms").as_int64() <= 20 * 60 * 1000);
  CHECK(exhausted.at("retry_after_ms").as_int64() > 19 * 60 * 1000);
  CHECK_FALSE(exhausted.contains("id"));

  auto status = agent.ok("escalation_status", {{"id", id}});
  CHECK(status.at("status") == "pending");
  CHECK_FALSE(status.contains("decision"));

  auto list = agent.ok("escalation_list", {{"status", "pending"}});
  CHECK(list.at("escalations").as_array().size() == 3);
  auto page = agent.ok("escalation_list", {{"limit", 2}});
  CHECK(page.at("escalations").as_array().size() == 2);
  REQUIRE(page.contains("next_cursor"));
  auto rest = agent.ok("escalation_list", {{"limit", 2}, {"cursor", page.at("next_cursor")}});
  CHECK(rest.at("escalations").as_array().size() == 1);
  CHECK(rest.at("escalations").at(0).at("id") == id);

  // Bad input never reaches the store; unknown ids are NOT_FOUND.
  CHECK(agent.refused("escalation_request", {{"reason", "x"}, {"proposal", 1}, {"impact", "huge"}})
            .first == "INVALID_ARGUMENT");
  CHECK(agent.refused("escalation_status", {{"id", id + 100}}).first == "NOT_FOUND");
  CHECK(agent.refused("escalation_status", {{"id", id}, {"wait_ms", 3'600'000}}).first ==
        "INVALID_ARGUMENT");
}

TEST_CASE("escalation tools: resolve needs the capability; a second resolver gets CONFLICT",
          "[cli][escalation]") {
  Stack stack(kInProject);
  Client agent(stack, "agent-a");
  Client ann(stack, "human-ann"), bob(stack, "human-bob");
  const std::int64_t id = agent.ok("escalation_request", ask_args()).at("id").as_int64();

  CHECK(agent.refused("escalation_resolve", {{"id", id}, {"decision", "override"}}).first ==
        "PERMISSION_DENIED");
  CHECK(ann.refused("escalation_resolve", {{"id", id}, {"decision", "modify"}}).first ==
        "INVALID_ARGUMENT");

  auto won = ann.ok("escalation_resolve",
                    {{"id", id}, {"decision", "modify"}, {"proposal", {{"sql", "TRUNCATE cache"}}}});
  CHECK(won.at("status") == "resolved");
  CHECK(won.at("decision") == "MODIFY");
  CHECK(won.at("proposal") == json::object{{"sql", "TRUNCATE cache"}});
  CHECK(won.at("escalation").at("resolver") == "human-ann");
  CHECK(won.at("escalation").at("resolved_via") == "tool");

  auto [code, message] = bob.refused("escalation_resolve", {{"id", id}, {"decision", "abort"}});
  CHECK(code == "CONFLICT");
  CHECK_THAT(message, Catch::Contains("already resolved MODIFY by human-ann"));

  // The agent sees the winner's decision, and what to do now.
  auto status = agent.ok("escalation_status", {{"id", id}});
  CHECK(status.at("decision") == "MODIFY");
  CHECK(status.at("proposal") == json::object{{"sql", "TRUNCATE cache"}});
}

TEST_CASE("escalation tools: escalation_status waits for a resolution", "[cli][escalation]") {
  using namespace std::chrono;
  Stack stack(kInProject);
  Client agent(stack, "agent-a");
  Client ann(stack, "human-ann");
  const std::int64_t id = agent.ok("escalation_request", ask_args()).at("id").as_int64();
  std::optional<json::value> resolved;  // asserted after join: no Catch2 macro off the main thread
  std::thread resolver([&] {
    std::this_thread::sleep_for(milliseconds(150));
    resolved = ann.try_request(
        "tools/call", {{"name", "escalation_resolve"},
                       {"arguments", {{"id", id}, {"decision", "abort"}}}});
  });
  const auto t0 = steady_clock::now();
  auto status = agent.ok("escalation_status", {{"id", id}, {"wait_ms", 10'000}});
  const auto ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();
  resolver.join();
  REQUIRE(resolved.has_value());
  INFO(json::serialize(*resolved));
  CHECK(resolved->at("result").at("isError") == false);
  CHECK(status.at("status") == "resolved");
  CHECK(status.at("decision") == "ABORT");
  CHECK(status.at("proposal").is_null());
  CHECK(ms < 2000);
}

TEST_CASE("escalation tools: 2026-07-28 era asks through an InputRequiredResult",
          "[cli][escalation]") {
  Stack stack(kInProject);
  Client agent(stack, "agent-m");
  const json::object args = ask_args();

  auto first = agent.modern_call("escalation_request", args);
  INFO(json::serialize(first));
  const auto& r1 = first.at("result").as_object();
  REQUIRE(r1.at("resultType") == "input_required");
  const auto& elicit = r1.at("inputRequests").at("escalation");
  CHECK(elicit.at("method") == "elicitation/create");
  CHECK(elicit.at("params").at("mode") == "form");
  CHECK_THAT(std::string(elicit.at("params").at("message").as_string()),
             Catch::Contains("drop the cache table?"));
  CHECK(elicit.at("params").at("requestedSchema").at("properties").at("decision").at("enum") ==
        json::array{"override", "modify", "abort"});
  const std::string state(r1.at("requestState").as_string());

  SECTION("accept with modify resolves MODIFY; the retry spends no token") {
    auto retry = agent.modern_call(
        "escalation_request", args,
        {{"requestState", state},
         {"inputResponses",
          {{"escalation",
            {{"action", "accept"},
             {"content", {{"decision", "modify"}, {"proposal", R"({"sql":"DELETE FROM cache"})"}}}}}}}});
    INFO(json::serialize(retry));
    const auto& sc = retry.at("result").at("structuredContent");
    CHECK(sc.at("outcome") == "GRANTED");
    CHECK(sc.at("decision") == "MODIFY");
    CHECK(sc.at("proposal") == json::object{{"sql", "DELETE FROM cache"}});
    CHECK(sc.at("escalation").at("resolved_via") == "mrtr");
    CHECK(sc.at("escalation").at("resolver") == "human@agent-m");
    // One token spent in all: two are left.
    auto next = agent.ok("escalation_request", ask_args("another"));
    CHECK(next.at("tokens_left") == 1);
  }
  SECTION("decline aborts") {
    auto retry = agent.modern_call(
        "escalation_request", args,
        {{"requestState", state}, {"inputResponses", {{"escalation", {{"action", "decline"}}}}}});
    CHECK(retry.at("result").at("structuredContent").at("decision") == "ABORT");
  }
  SECTION("cancel leaves it pending for the CLI or another human") {
    auto retry = agent.modern_call(
        "escalation_request", args,
        {{"requestState", state}, {"inputResponses", {{"escalation", {{"action", "cancel"}}}}}});
    CHECK(retry.at("result").at("structuredContent").at("status") == "pending");
  }
  SECTION("no answer under our key: asked again") {
    auto retry = agent.modern_call(
        "escalation_request", args,
        {{"requestState", state}, {"inputResponses", {{"wrong_key", {{"action", "accept"}}}}}});
    CHECK(retry.at("result").at("resultType") == "input_required");
  }
  SECTION("a tampered or foreign requestState is -32602") {
    std::string tampered = state;
    tampered[tampered.size() - 2] = tampered[tampered.size() - 2] == '1' ? '2' : '1';
    auto bad = agent.modern_call(
        "escalation_request", args,
        {{"requestState", tampered}, {"inputResponses", {{"escalation", {{"action", "decline"}}}}}});
    INFO(json::serialize(bad));
    REQUIRE(bad.as_object().contains("error"));
    CHECK(bad.at("error").at("code") == -32602);
    // Sealed for agent-m: another agent cannot replay it.
    Client other(stack, "agent-x");
    auto foreign = other.modern_call(
        "escalation_request", args,
        {{"requestState", state}, {"inputResponses", {{"escalation", {{"action", "decline"}}}}}});
    REQUIRE(foreign.as_object().contains("error"));
    CHECK(foreign.at("error").at("code") == -32602);
    // Nothing was decided.
    CHECK(agent.ok("escalation_list", {{"status", "pending"}}).at("escalations").as_array().size() ==
          1);
  }
}

TEST_CASE("keel escalation ls|show|resolve", "[cli][escalation]") {
  Sandbox dir;
  const std::string project = dir.project().string();
  const std::string where = "--state " + dir.state().string() + " --project " + project;
  std::int64_t id = 0;
  {
    keel::state::StoreOptions opts;
    opts.dir = dir.state();
    auto store = keel::state::open_sqlite_store(opts);
    keel::state::EscalationRequest req;
    req.reason = "force-push the release branch?";
    req.proposal = json::object{{"cmd", "git push -f origin release"}};
    id = store->request_escalation(principal_for("agent-a", project), req).escalation->id;
  }
  const std::string ids = std::to_string(id);

  Run ls = run_cli("escalation ls " + where);
  CHECK(ls.status == 0);
  CHECK_THAT(ls.out, Catch::Contains(ids + "  pending"));
  CHECK_THAT(ls.out, Catch::Contains("force-push the release branch?"));
  Run show = run_cli("escalation show " + ids + " " + where);
  CHECK(show.status == 0);
  CHECK_THAT(show.out, Catch::Contains("git push -f origin release"));
  Run json_ls = run_cli("escalation ls --status pending --json " + where);
  REQUIRE(json_ls.status == 0);
  CHECK(json::parse(json_ls.out).at("escalations").at(0).at("id") == id);

  // Usage errors: exit 2, nothing resolved.
  CHECK(run_cli("escalation resolve " + ids + " --decision modify " + where).status == 2);
  CHECK(run_cli("escalation resolve " + ids + " --decision modify --proposal '{bad' " + where).status == 2);
  CHECK(run_cli("escalation resolve " + ids + " --decision maybe " + where).status == 2);
  CHECK(run_cli("escalation resolve abc --decision abort " + where).status == 2);
  Run missing = run_cli("escalation show 999 " + where);
  CHECK(missing.status == 1);
  CHECK_THAT(missing.out, Catch::Contains("NOT_FOUND"));

  // The CLI resolves while an agent waits in escalation_status (another process).
  keel::state::StoreOptions opts;
  opts.dir = dir.state();
  auto store = keel::state::open_sqlite_store(opts);
  keel::state::Escalation seen;
  std::thread waiter([&] { seen = store->wait_escalation(principal_for("agent-a", project), id, 20'000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Run resolve = run_cli("escalation resolve " + ids +
                     " --decision modify --proposal '{\"cmd\":\"git push origin release\"}' " + where);
  const auto resolved_at = std::chrono::steady_clock::now();
  waiter.join();
  const auto lag = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - resolved_at)
                       .count();
  CHECK(resolve.status == 0);
  CHECK_THAT(resolve.out, Catch::Contains("MODIFY"));
  CHECK(seen.resolved);
  CHECK(seen.decision == keel::state::EscalationDecision::kModify);
  CHECK(seen.resolved_proposal == json::object{{"cmd", "git push origin release"}});
  CHECK(seen.resolved_via == "cli");
  CHECK(lag < 1000);  // the waiter polls the row every 200 ms

  // A second human is told who won.
  Run again = run_cli("escalation resolve " + ids + " --decision abort " + where);
  CHECK(again.status == 1);
  CHECK_THAT(again.out, Catch::Contains("CONFLICT"));
  CHECK_THAT(again.out, Catch::Contains("already resolved MODIFY"));
  for (const char* cmd : {"escalation ls", "escalation show", "escalation resolve"}) {
    Run help = run_cli(std::string(cmd) + " --help");
    CHECK(help.status == 0);
    CHECK_THAT(help.out, Catch::Contains(std::string("usage: keel ") + cmd));
  }
}
