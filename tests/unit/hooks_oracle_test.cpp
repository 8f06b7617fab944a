// The oracle (a check command run on Stop) and the self-check (one verification round per turn),
// each with a failing then passing check; and the command runner under them.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "hooks/check_runner.h"
#include "hooks/oracle.h"
#include "hooks/self_check.h"
#include "state_test_util.h"

using namespace keel::hooks;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

HookEvent stop(const std::filesystem::path& cwd, bool active = false) {
  HookEvent ev;
  ev.kind = EventKind::Stop;
  ev.event_name = "Stop";
  ev.session_id = "s1";
  ev.cwd = cwd.string();
  ev.stop_hook_active = active;
  return ev;
}

HookEvent tool(EventKind kind) {
  HookEvent ev;
  ev.kind = kind;
  ev.session_id = "s1";
  ev.tool = ToolKind::Shell;
  ev.tool_name = "Bash";
  ev.command = "make test";
  return ev;
}

// An oracle running `command` on Stop events in a temporary directory, with its own state.
struct OracleRun {
  keel::state::testing::TempDir dir;
  json::object state;
  bool changed = false;
  Oracle oracle;
  explicit OracleRun(std::string command, int max_blocks = 3, std::int64_t timeout_ms = 300'000,
                     bool fail_closed = true)
      : oracle([&] {
          OracleConfig cfg;
          cfg.command = std::move(command);
          cfg.max_blocks = max_blocks;
          cfg.timeout_ms = timeout_ms;
          cfg.fail_closed = fail_closed;
          return cfg;
        }()) {}
  // A Stop (continuing after a stop hook when `active`); the check runs afresh.
  HookDecision stop_event(bool active = false, std::filesystem::path cwd = {}) {
    std::optional<CheckResult> memo;
    return oracle.evaluate({stop(cwd.empty() ? dir.path() : cwd, active)}, state, changed, memo);
  }
};

}  // namespace

TEST_CASE("run_check: exit status, merged output, cwd") {
  keel::state::testing::TempDir dir;
  CheckResult r = run_check("echo out; echo err >&2; pwd; exit 3", dir.path().string(), 10s);
  CHECK_FALSE(r.passed());
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.output, Catch::Contains("out\n") && Catch::Contains("err\n"));
  CHECK_THAT(r.output, Catch::Contains(std::filesystem::canonical(dir.path()).string()));
  CHECK(run_check("true", "", 10s).passed());
  CHECK_THROWS_WITH(run_check("true", (dir.path() / "missing").string(), 10s),
                    Catch::Contains("cannot run the check in"));
}

TEST_CASE("run_check: a timeout kills the whole process group") {
  keel::state::testing::TempDir dir;
  const auto marker = dir.path() / "survived";
  const auto t0 = std::chrono::steady_clock::now();
  // A background child that would write a file after 1.5 s, and a foreground sleep.
  CheckResult r = run_check("(sleep 1.5; touch " + marker.string() + ") & echo started; sleep 30",
                            "", 300ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(r.timed_out);
  CHECK_FALSE(r.passed());
  CHECK_THAT(r.output, Catch::Contains("started"));
  CHECK(took < 5s);
  std::this_thread::sleep_for(2s);
  CHECK_FALSE(std::filesystem::exists(marker));  // the background child died with the group
}

TEST_CASE("run_check: keeps the tail of a large output") {
  CheckResult r = run_check("seq 1 200000", "", 30s);
  CHECK(r.passed());
  CHECK(r.output_bytes > static_cast<std::int64_t>(kKeptOutput));
  CHECK(r.output.size() <= kKeptOutput);
  CHECK_THAT(r.output, Catch::EndsWith("199999\n200000\n"));
}

TEST_CASE("output_tail: last lines, then last bytes") {
  CHECK(output_tail("a\nb\nc\n", 2, 100) == "…\nb\nc");
  CHECK(output_tail("a\nb\nc", 5, 100) == "a\nb\nc");
  CHECK(output_tail("abcdef", 5, 3) == "…\ndef");
  CHECK(output_tail("", 5, 3).empty());
}

TEST_CASE("oracle: a failing then passing check command") {
  OracleRun run("test -f done.txt || { echo 'FAIL: done.txt is missing'; exit 1; }");
  HookDecision d = run.stop_event();
  CHECK(d.outcome == Outcome::BlockStop);
  CHECK(d.rule_id == "oracle:failed");
  CHECK_THAT(d.reason, Catch::Contains("exit code 1") && Catch::Contains("FAIL: done.txt is missing"));
  CHECK(run.changed);

  std::ofstream(run.dir.path() / "done.txt") << "ok";
  d = run.stop_event(true);
  CHECK(d.outcome == Outcome::Continue);
  CHECK(get_int(run.state.at("oracle").as_object().at("main").as_object(), "blocks") == 0);
}

TEST_CASE("oracle: gives up after max_blocks consecutive blocks while stop_hook_active") {
  OracleRun run("echo nope; exit 2", 2);
  CHECK(run.stop_event(false).outcome == Outcome::BlockStop);
  CHECK(run.stop_event(true).outcome == Outcome::BlockStop);
  HookDecision d = run.stop_event(true);
  CHECK(d.outcome == Outcome::Continue);
  CHECK(d.rule_id == "oracle:cap");
  CHECK_THAT(d.system_message, Catch::Contains("after 2 attempts"));
  // A fresh stop (not continuing after a stop hook) checks again.
  CHECK(run.stop_event(false).outcome == Outcome::BlockStop);
}

TEST_CASE("oracle: a check that cannot run blocks the stop, within max_blocks (fail closed by default)") {
  CHECK(OracleConfig{}.fail_closed);
  CHECK(SelfCheckConfig{}.fail_closed);
  OracleRun run("make test", 2);
  const std::filesystem::path missing = run.dir.path() / "no-such-dir";
  HookDecision d = run.stop_event(false, missing);
  CHECK(d.outcome == Outcome::BlockStop);
  CHECK(d.rule_id == "oracle:cannot-run");
  CHECK_THAT(d.reason, Catch::Contains("could not run") && Catch::Contains("no-such-dir") &&
                           Catch::Contains("has not passed") && Catch::Contains("attempt 1 of 2"));
  CHECK(run.stop_event(true, missing).outcome == Outcome::BlockStop);
  HookDecision cap = run.stop_event(true, missing);  // max_blocks reached: the agent may stop
  CHECK(cap.outcome == Outcome::Continue);
  CHECK(cap.rule_id == "oracle:cap");
  // Command not found (the shell's 127) is the same "cannot run", in both modes.
  OracleRun notfound("keel-no-such-command-xyz --check");
  HookDecision nf = notfound.stop_event();
  CHECK(nf.outcome == Outcome::BlockStop);
  CHECK(nf.rule_id == "oracle:cannot-run");
  CHECK_THAT(nf.reason, Catch::Contains("command not found"));
  // fail_closed false: the old behaviour — the start failure propagates (the engine lets the
  // stop through with oracle:error).
  OracleRun open("make test", 3, 300'000, false);
  CHECK_THROWS(open.stop_event(false, open.dir.path() / "no-such-dir"));
}

TEST_CASE("oracle: a timeout blocks with what the check printed") {
  OracleRun run("echo running the suite; sleep 20", 3, 300);
  HookDecision d = run.stop_event();
  CHECK(d.outcome == Outcome::BlockStop);
  CHECK(d.rule_id == "oracle:timeout");
  CHECK_THAT(d.reason, Catch::Contains("300 ms") && Catch::Contains("running the suite"));
}

TEST_CASE("oracle: off without a command; SubagentStop only when configured") {
  OracleConfig cfg;
  CHECK_FALSE(Oracle(cfg).concerns(stop("/")));
  cfg.command = "true";
  HookEvent sub = stop("/");
  sub.kind = EventKind::SubagentStop;
  CHECK_FALSE(Oracle(cfg).concerns(sub));
  cfg.subagents = true;
  CHECK(Oracle(cfg).concerns(sub));
}

TEST_CASE("self-check: blocks the first stop, accepts only after a tool ran") {
  SelfCheckConfig cfg;
  cfg.enabled = true;
  cfg.checklist = "run the tests";
  cfg.max_blocks = 3;
  SelfCheck sc(cfg);
  json::object state;
  bool changed = false;
  auto ev = [&](const HookEvent& e, bool new_turn = false) { return sc.evaluate({e, new_turn}, state, changed); };

  HookDecision d = ev(stop("/r"));
  CHECK(d.outcome == Outcome::BlockStop);
  CHECK(d.rule_id == "self_check:checklist");
  CHECK_THAT(d.reason, Catch::Contains("run the tests"));
  // Stopping again without running anything: blocked again, saying so.
  d = ev(stop("/r", true));
  CHECK(d.outcome == Outcome::BlockStop);
  CHECK(d.rule_id == "self_check:no-tool-run");
  // After a tool call, the stop is accepted.
  ev(tool(EventKind::PreToolUse));
  CHECK(ev(stop("/r", true)).outcome == Outcome::Continue);
  CHECK(ev(stop("/r", false)).outcome == Outcome::Continue);  // same turn: still verified
  // The next turn asks again.
  ev(tool(EventKind::UserPromptSubmit), true);
  CHECK(ev(stop("/r")).outcome == Outcome::BlockStop);
}

TEST_CASE("self-check: bounded by max_blocks per turn") {
  SelfCheckConfig cfg;
  cfg.enabled = true;
  cfg.max_blocks = 2;
  SelfCheck sc(cfg);
  json::object state;
  bool changed = false;
  CHECK(sc.evaluate({stop("/r")}, state, changed).outcome == Outcome::BlockStop);
  CHECK(sc.evaluate({stop("/r", true)}, state, changed).outcome == Outcome::BlockStop);
  HookDecision d = sc.evaluate({stop("/r", true)}, state, changed);
  CHECK(d.outcome == Outcome::Continue);
  CHECK(d.rule_id == "self_check:cap");
  CHECK(sc.evaluate({stop("/r", true)}, state, changed).outcome == Outcome::Continue);
}

TEST_CASE("self-check: tool events before any block write nothing") {
  SelfCheckConfig cfg;
  cfg.enabled = true;
  SelfCheck sc(cfg);
  json::object state;
  bool changed = false;
  sc.evaluate({tool(EventKind::PostToolUse)}, state, changed);
  CHECK_FALSE(changed);
  CHECK(state.empty());
}
