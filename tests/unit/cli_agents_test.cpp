// keel agents ls|suspend|resume, keel lease adopt and the hook of a suspended
// agent, as a user runs them: the real binary, in a fresh project (a git root)
// per test, its state in <project>/.keel. Agents are made the way agents make
// them: `keel serve --stdio --agent NAME` answering MCP requests read from a
// file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include "cli_test_util.h"

namespace fs = std::filesystem;
namespace json = boost::json;

using keel::cli::testing::quote;
using keel::cli::testing::slurp;
using keel::cli::testing::spit;

namespace {

struct Run : keel::cli::testing::Run {
  std::string err;  // stderr (out: stdout only)
};

// A project (a git root) with its state in <project>/.keel, for one test.
struct Project : keel::cli::testing::TempProject {
  int runs = 0;

  // Runs `keel ARGS` in the project (stdin from `input` when given), with no
  // agent, state dir or config from the caller's environment; `env` is
  // prepended (e.g. "KEEL_AGENT=a").
  Run keel(const std::string& args, const std::string& input = "", const std::string& env = "") {
    const int n = runs++;
    const fs::path in = root / ("in-" + std::to_string(n));
    const fs::path err = root / ("err-" + std::to_string(n));
    spit(in, input);
    Run r;
    static_cast<keel::cli::testing::Run&>(r) = keel::cli::testing::shell_stdout(
        "cd " + quote(project.string()) + " && env -u KEEL_AGENT -u KEEL_STATE_DIR -u KEEL_CONFIG -u KEEL_LOG " + env +
        " " + quote(KEEL_BINARY) + " " + args + " <" + quote(in.string()) + " 2>" + quote(err.string()));
    r.err = slurp(err);
    return r;
  }

  // Runs `keel ARGS` and requires it to succeed.
  Run keel_ok(const std::string& args, const std::string& input = "", const std::string& env = "") {
    Run r = keel(args, input, env);
    INFO(args << "\n" << r.out << r.err);
    REQUIRE(r.status == 0);
    return r;
  }

  // Runs `keel serve --stdio --agent AGENT` on the given tool calls (after
  // initialize); returns each call's result, in order.
  std::vector<json::object> serve(const std::string& agent, const std::vector<json::object>& calls) {
    std::string input =
        R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
        R"("capabilities":{},"clientInfo":{"name":"cli-agents-test","version":"1.0.0"}}})"
        "\n"
        R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
        "\n";
    for (std::size_t i = 0; i < calls.size(); ++i) {
      json::object msg{{"jsonrpc", "2.0"},
                       {"id", static_cast<std::int64_t>(i + 1)},
                       {"method", "tools/call"},
                       {"params", calls[i]}};
      input += json::serialize(msg) + "\n";
    }
    Run r = keel_ok("serve --stdio --agent " + agent, input);
    std::vector<json::object> results(calls.size());
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      json::object msg = json::parse(line).as_object();
      REQUIRE(msg.contains("id"));
      const std::int64_t id = msg.at("id").as_int64();
      if (id == 0) continue;
      REQUIRE(msg.contains("result"));
      results.at(static_cast<std::size_t>(id - 1)) = msg.at("result").as_object();
    }
    for (const auto& res : results) REQUIRE_FALSE(res.empty());  // every call answered
    return results;
  }

  json::object lease_ls() { return json::parse(keel_ok("lease ls --json").out).as_object(); }

  json::array agents_ls(bool all = false) {
    return json::parse(keel_ok(std::string("agents ls --json") + (all ? " --all" : "")).out).at("agents").as_array();
  }

  std::vector<json::object> journal(const std::string& op) {
    Run r = keel_ok("journal tail --json --limit 1000 --op " + op);
    std::vector<json::object> out;
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty()) out.push_back(json::parse(line).as_object());
    }
    return out;
  }
};

json::object call(const std::string& tool, json::object args) {
  return json::object{{"name", tool}, {"arguments", std::move(args)}};
}

json::object acquire(const std::string& name) {
  return call("lease_acquire", {{"name", name}, {"ttl_ms", 600000}});
}

std::optional<json::object> find_agent(const json::array& agents, const std::string& name) {
  for (const auto& a : agents) {
    if (a.at("name").as_string() == name) return a.as_object();
  }
  return std::nullopt;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A command keel must refuse: with exit 2 (a usage error) or else any
// non-zero status, saying each of `says` on stderr.
struct Refusal {
  std::string args;
  bool usage_error;
  std::vector<std::string> says;
};

std::vector<Run> check_refused(Project& p, const std::vector<Refusal>& refusals) {
  std::vector<Run> runs;
  for (const auto& c : refusals) {
    const Run& r = runs.emplace_back(p.keel(c.args));
    INFO(c.args << "\n" << r.out << r.err);
    if (c.usage_error) {
      CHECK(r.status == 2);
    } else {
      CHECK(r.status != 0);
    }
    for (const auto& s : c.says) CHECK(contains(r.err, s));
  }
  return runs;
}

// Agent a holds file:/x/1 (returned: its grant); agent b is registered.
json::object a_holds_b_waits(Project& p) {
  auto a = p.serve("a", {acquire("file:/x/1")});
  INFO(json::serialize(a[0]));
  REQUIRE(a[0].at("isError") == false);
  json::object grant = a[0].at("structuredContent").as_object();
  REQUIRE(grant.at("granted") == true);
  REQUIRE(grant.at("holder") == "a");
  auto b = p.serve("b", {call("lease_list", {})});
  REQUIRE(b[0].at("isError") == false);
  return grant;
}

std::string pre_tool_use(const Project& p) {
  return json::serialize(json::object{{"session_id", "s"},
                                      {"transcript_path", "/tmp/x"},
                                      {"cwd", p.project.string()},
                                      {"hook_event_name", "PreToolUse"},
                                      {"tool_name", "Bash"},
                                      {"tool_input", {{"command", "ls"}}}});
}

}  // namespace

TEST_CASE("keel agents ls on an empty project", "[agents]") {
  Project p;
  Run r = p.keel_ok("agents ls");
  CHECK(contains(r.out, "no live agents"));

  Run all = p.keel_ok("agents ls --all");
  CHECK(contains(all.out, "no agents"));

  Run js = p.keel_ok("agents ls --json");
  CHECK(json::parse(js.out) == json::parse(R"({"agents":[]})"));
}

TEST_CASE("keel agents ls lists agents with their leases; --json parses", "[agents]") {
  Project p;
  a_holds_b_waits(p);

  Run r = p.keel_ok("agents ls");
  CHECK(contains(r.out, "a  active"));
  CHECK(contains(r.out, "b  active"));
  CHECK(contains(r.out, "leases 1 file:/x/1"));

  json::array agents = p.agents_ls();
  REQUIRE(agents.size() == 2);
  std::optional<json::object> a = find_agent(agents, "a");
  std::optional<json::object> b = find_agent(agents, "b");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->at("status") == "active");
  CHECK(a->at("leases") == json::array{"file:/x/1"});
  CHECK(a->at("client") == "cli-agents-test");
  // A name given with --agent has no anchor: no pid, no host.
  CHECK(a->at("pid") == 0);
  CHECK(a->at("host") == "");
  CHECK(a->at("started_at").as_int64() > 0);
  CHECK(a->at("last_seen").as_int64() >= a->at("started_at").as_int64());
  CHECK_FALSE(a->contains("reason"));
  CHECK(b->at("leases") == json::array{});
}

TEST_CASE("keel agents suspend / resume refuse an unknown agent", "[agents]") {
  Project p;
  auto runs = check_refused(p, {{"agents suspend nobody --reason x", false, {"no agent named nobody"}},
                                {"agents resume nobody", false, {"no agent named nobody"}}});
  CHECK_FALSE(contains(runs[0].out, "suspended"));

  // Nothing was journaled, nothing is marked.
  CHECK(p.journal("SUSPEND").empty());
  CHECK(p.journal("RESUME").empty());
  CHECK(p.agents_ls(true).empty());
}

TEST_CASE("keel agents suspend needs a name and a reason", "[agents]") {
  Project p;
  a_holds_b_waits(p);

  check_refused(p, {{"agents suspend a", true, {"--reason", "usage: keel agents suspend NAME --reason R"}},
                    {"agents suspend a --reason ''", true, {"--reason"}},
                    {"agents suspend --reason x", true, {"usage: keel agents suspend"}},
                    {"agents suspend a b --reason x", true, {}},
                    {"agents resume", true, {}}});

  // None of them suspended anyone: a still holds its lease.
  CHECK(p.journal("SUSPEND").empty());
  std::optional<json::object> a = find_agent(p.agents_ls(), "a");
  REQUIRE(a.has_value());
  CHECK(a->at("status") == "active");
  CHECK(a->at("leases") == json::array{"file:/x/1"});
}

TEST_CASE("keel lease adopt moves a live lease with a higher token", "[agents]") {
  Project p;
  const json::object grant = a_holds_b_waits(p);
  const std::int64_t old_token = grant.at("token").as_int64();

  Run r = p.keel_ok("lease adopt file:/x/1 --to b");
  CHECK(contains(r.out, "adopted: file:/x/1 now held by b"));

  auto leases = p.lease_ls().at("leases").as_array();
  REQUIRE(leases.size() == 1);
  const json::object& l = leases[0].as_object();
  CHECK(l.at("holder") == "b");
  CHECK(l.at("lease_id") == grant.at("lease_id"));
  const std::int64_t new_token = l.at("token").as_int64();
  CHECK(new_token > old_token);
  CHECK(contains(r.out, "token " + std::to_string(new_token)));

  auto adopts = p.journal("ADOPT");
  REQUIRE(adopts.size() == 1);
  CHECK(adopts[0].at("subject") == "file:/x/1");
  CHECK(adopts[0].at("payload").at("from") == "a");
  CHECK(adopts[0].at("payload").at("holder") == "b");
  CHECK(adopts[0].at("payload").at("token") == new_token);

  json::array agents = p.agents_ls();
  CHECK(find_agent(agents, "a").value().at("leases") == json::array{});
  CHECK(find_agent(agents, "b").value().at("leases") == json::array{"file:/x/1"});

  // The old holder's token is stale; the new holder's fences.
  auto fenced_put = [](int value, std::int64_t token) {
    return call("memory_put", {{"tier", "cross_run"},
                               {"namespace", "shared"},
                               {"key", "k"},
                               {"value", value},
                               {"fence", {{"name", "file:/x/1"}, {"token", token}}}});
  };
  auto old = p.serve("a", {fenced_put(1, old_token)});
  INFO(json::serialize(old[0]));
  CHECK(old[0].at("isError") == true);
  CHECK(old[0].at("_meta").at("dev.keel/error").at("code") == "STALE_FENCE");
  auto now = p.serve("b", {fenced_put(2, new_token)});
  INFO(json::serialize(now[0]));
  CHECK(now[0].at("isError") == false);

  p.keel_ok("journal replay");
}

TEST_CASE("keel lease adopt refuses bad input", "[agents]") {
  Project p;
  const json::object grant = a_holds_b_waits(p);

  check_refused(
      p, {{"lease adopt file:/x/1 --to zz", false, {"no agent named zz"}},
          {"lease adopt file:/x/1", true, {"--to AGENT is required"}},
          {"lease adopt --to b", true, {}},
          {"lease adopt file:/x/1 --to a", false, {"a already holds file:/x/1"}},
          {"lease adopt file:/x/1 --to b --lease-id lease_nope", false, {"no live lease lease_nope on file:/x/1"}}});

  p.keel_ok("agents suspend b --reason 'not you'");
  check_refused(p, {{"lease adopt file:/x/1 --to b", false, {"agent b is suspended"}}});

  // The lease never moved.
  CHECK(p.journal("ADOPT").empty());
  auto leases = p.lease_ls().at("leases").as_array();
  REQUIRE(leases.size() == 1);
  CHECK(leases[0].at("holder") == "a");
  CHECK(leases[0].at("token") == grant.at("token"));
}

TEST_CASE("keel lease adopt of a name nobody holds says there is no live lease", "[agents]") {
  Project p;
  a_holds_b_waits(p);
  check_refused(p, {{"lease adopt file:/nope --to b", false, {"no live lease on file:/nope"}}});
  CHECK(p.journal("ADOPT").empty());
}

TEST_CASE("keel hook denies a suspended agent's tool calls until it is resumed", "[agents]") {
  Project p;
  a_holds_b_waits(p);
  const std::string event = pre_tool_use(p);

  // Before: allowed (exit 0, no deny).
  CHECK_FALSE(contains(p.keel_ok("hook --dialect claude", event, "KEEL_AGENT=a").out, "deny"));

  Run s = p.keel_ok("agents suspend a --reason 'stop now'");
  CHECK(contains(s.out, "suspended a"));

  // Suspending released a's lease and is journaled with it.
  CHECK(p.lease_ls().at("leases").as_array().empty());
  auto suspends = p.journal("SUSPEND");
  REQUIRE(suspends.size() == 1);
  CHECK(suspends[0].at("subject") == "a");
  CHECK(suspends[0].at("payload").at("reason") == "stop now");
  REQUIRE(suspends[0].at("payload").at("released").as_array().size() == 1);
  CHECK(suspends[0].at("payload").at("released").at(0).at("name") == "file:/x/1");
  std::optional<json::object> a = find_agent(p.agents_ls(), "a");
  REQUIRE(a.has_value());
  CHECK(a->at("status") == "suspended");
  CHECK(a->at("reason") == "stop now");

  Run denied = p.keel_ok("hook --dialect claude", event, "KEEL_AGENT=a");
  json::object out = json::parse(denied.out).as_object();
  const json::object& hso = out.at("hookSpecificOutput").as_object();
  CHECK(hso.at("hookEventName") == "PreToolUse");
  CHECK(hso.at("permissionDecision") == "deny");
  CHECK(contains(std::string(hso.at("permissionDecisionReason").as_string()), "stop now"));

  // Another agent's hook is not affected.
  CHECK_FALSE(contains(p.keel_ok("hook --dialect claude", event, "KEEL_AGENT=b").out, "deny"));

  // Its acquires are refused while suspended.
  auto refused = p.serve("a", {acquire("file:/x/2")});
  INFO(json::serialize(refused[0]));
  CHECK(refused[0].at("isError") == true);
  CHECK(refused[0].at("_meta").at("dev.keel/error").at("code") == "PERMISSION_DENIED");
  CHECK(contains(json::serialize(refused[0]), "stop now"));

  Run r = p.keel_ok("agents resume a");
  CHECK(contains(r.out, "resumed a (active)"));
  CHECK(p.journal("RESUME").size() == 1);

  CHECK_FALSE(contains(p.keel_ok("hook --dialect claude", event, "KEEL_AGENT=a").out, "deny"));
  a = find_agent(p.agents_ls(), "a");
  REQUIRE(a.has_value());
  CHECK(a->at("status") == "active");
  CHECK_FALSE(a->contains("reason"));

  // Resuming an active agent changes nothing and journals nothing.
  p.keel_ok("agents resume a");
  CHECK(p.journal("RESUME").size() == 1);

  // And it may acquire again.
  auto granted = p.serve("a", {acquire("file:/x/2")});
  INFO(json::serialize(granted[0]));
  CHECK(granted[0].at("structuredContent").at("granted") == true);
}
