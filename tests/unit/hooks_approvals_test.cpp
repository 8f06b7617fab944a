// Remembered approvals (hooks/approvals.h) through the engine and a real store: an ask the
// person approved (its PostToolUse arrived) is not asked again for the same exact command in
// the same session and directory; a changed command, another session, a denied ask and a
// denied command are; permission.remember_approvals false turns it off.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "hooks/approvals.h"
#include "hooks/dialect.h"
#include "hooks/engine.h"
#include "hooks/hooks_config.h"

#include <fstream>
#include "state_test_util.h"

using namespace keel::hooks;
namespace st = keel::state;
namespace json = boost::json;

namespace {

struct Env {
  st::testing::TempDir dir;
  std::unique_ptr<st::Store> store;
  st::Principal who{"alice", "/repo", "s1", st::default_agent_capabilities()};
  Env() {
    st::StoreOptions o;
    o.dir = dir.path() / "state";
    o.synchronous = st::Synchronous::kNormal;
    store = st::open_sqlite_store(o);
  }
  StoreOpener opener() {
    return [this]() -> st::Store& { return *store; };
  }
};

HookEvent event(const std::string& kind, const std::string& command, const std::string& session = "s1",
                const std::string& id = "toolu_1", const std::string& cwd = "/repo") {
  json::object o{{"hook_event_name", kind}, {"session_id", session}, {"cwd", cwd}, {"tool_name", "Bash"},
                 {"tool_input", json::object{{"command", command}}}, {"tool_use_id", id}};
  if (kind == "PostToolUse") o["tool_response"] = json::object{{"stdout", ""}, {"stderr", ""}};
  return make_dialect("claude")->parse(json::serialize(o));
}

std::size_t remembered(Env& env) {
  st::JournalFilter f;
  f.op = std::string(kApprovalRemembered);
  return env.store->journal_query(st::testing::admin("human", "/repo"), f).size();
}

}  // namespace

TEST_CASE("approvals: an approved ask is remembered for that exact command in that session only",
          "[hooks][approvals]") {
  Env env;
  HookEngine engine(HooksConfig{}, GateConfig{});
  auto decide = [&](const HookEvent& ev) { return engine.decide(ev, env.who, env.opener()).decision; };
  const std::string cmd = "rm -rf src/old";
  REQUIRE(decide(event("PreToolUse", cmd)).outcome == Outcome::Ask);
  // The person said yes: the tool ran and its PostToolUse arrives.
  decide(event("PostToolUse", cmd));
  CHECK(remembered(env) == 1);
  // The second identical call is not asked again.
  HookDecision again = decide(event("PreToolUse", "  " + cmd + "\n", "s1", "toolu_2"));
  CHECK(again.outcome == Outcome::Allow);
  CHECK(again.rule_id == "approval:remembered");
  // Another command, another directory, another session: asked.
  CHECK(decide(event("PreToolUse", "rm -rf src/older", "s1", "toolu_3")).outcome == Outcome::Ask);
  CHECK(decide(event("PreToolUse", cmd, "s1", "toolu_4", "/elsewhere")).outcome == Outcome::Ask);
  CHECK(decide(event("PreToolUse", cmd, "s2", "toolu_5")).outcome == Outcome::Ask);
  // Never a pattern: a line that merely contains the command is asked.
  CHECK(decide(event("PreToolUse", cmd + " && rm -rf src/new", "s1", "toolu_6")).outcome == Outcome::Ask);
  // A deny is never turned into an allow, even after a PostToolUse of the same text.
  CHECK(decide(event("PreToolUse", "rm -rf /", "s1", "toolu_7")).outcome == Outcome::Deny);
  decide(event("PostToolUse", "rm -rf /", "s1", "toolu_7"));
  CHECK(decide(event("PreToolUse", "rm -rf /", "s1", "toolu_8")).outcome == Outcome::Deny);
  CHECK(remembered(env) == 1);
}

TEST_CASE("approvals: a denied ask is not remembered; off with remember_approvals false", "[hooks][approvals]") {
  Env env;
  HookEngine engine(HooksConfig{}, GateConfig{});
  auto decide = [&](const HookEngine& e, const HookEvent& ev) { return e.decide(ev, env.who, env.opener()).decision; };
  // Asked, and the person refused: no PostToolUse. The next identical call is asked again.
  CHECK(decide(engine, event("PreToolUse", "git branch -D topic", "s3", "toolu_a")).outcome == Outcome::Ask);
  CHECK(decide(engine, event("PreToolUse", "git branch -D topic", "s3", "toolu_b")).outcome == Outcome::Ask);
  // A PostToolUse of another call (another tool_use_id) does not approve the pending one.
  decide(engine, event("PostToolUse", "git branch -D topic", "s3", "toolu_other"));
  CHECK(decide(engine, event("PreToolUse", "git branch -D topic", "s3", "toolu_c")).outcome == Outcome::Ask);
  CHECK(remembered(env) == 0);
  GateConfig off = parse_gate_config(json::parse(R"({"remember_approvals": false})"));
  CHECK_FALSE(off.remember_approvals);
  HookEngine no(HooksConfig{}, off);
  CHECK(decide(no, event("PreToolUse", "git stash drop", "s4", "toolu_d")).outcome == Outcome::Ask);
  decide(no, event("PostToolUse", "git stash drop", "s4", "toolu_d"));
  CHECK(decide(no, event("PreToolUse", "git stash drop", "s4", "toolu_e")).outcome == Outcome::Ask);
  CHECK(remembered(env) == 0);
  CHECK_THROWS_WITH(parse_gate_config(json::parse(R"({"remember_approvals": "yes"})")),
                    Catch::Contains("permission.remember_approvals"));
}

// The stale-read guard (hooks/stale_read.h) is opt-in; its end-to-end test across two agents is
// tests/e2e/gate_stale_read.test.mjs. Here: off by default, read from the config, and the
// engine's deny through a real store.
TEST_CASE("stale read: opt-in, and an edit over another agent's later write is denied", "[hooks][stale_read]") {
  CHECK_FALSE(HooksConfig{}.lease_stale_read);
  CHECK(parse_hooks_config(json::parse(R"({"lease_gate":{"stale_read":true}})")).lease_stale_read);
  Env env;
  HooksConfig cfg;
  cfg.lease_stale_read = true;
  HookEngine engine(cfg, GateConfig{});
  const std::string file = (env.dir.path() / "f.txt").string();
  { std::ofstream(file) << "v1\n"; }
  auto ev = [&](const std::string& kind, const std::string& tool) {
    json::object o{{"hook_event_name", kind}, {"session_id", "s1"}, {"cwd", env.dir.path().string()},
                   {"tool_name", tool}, {"tool_input", json::object{{"file_path", file}, {"old_string", "v"}, {"new_string", "w"}}}};
    if (kind == "PostToolUse") o["tool_response"] = json::object{{"success", true}};
    return make_dialect("claude")->parse(json::serialize(o));
  };
  st::Principal a{"agent-a", "/repo", "s1", st::default_agent_capabilities()};
  st::Principal b{"agent-b", "/repo", "s2", st::default_agent_capabilities()};
  engine.decide(ev("PostToolUse", "Read"), b, env.opener());
  // Not stale: nobody wrote since B's read.
  CHECK(engine.decide(ev("PreToolUse", "Edit"), b, env.opener()).decision.outcome != Outcome::Deny);
  { std::ofstream(file) << "v2\n"; }
  engine.decide(ev("PostToolUse", "Edit"), a, env.opener());
  HookDecision d = engine.decide(ev("PreToolUse", "Edit"), b, env.opener()).decision;
  CHECK(d.outcome == Outcome::Deny);
  CHECK(d.rule_id == "lease:stale-read");
  CHECK_THAT(d.reason, Catch::Contains("changed by agent-a"));
  // Off: the same situation is not checked.
  HookEngine off(HooksConfig{}, GateConfig{});
  CHECK(off.decide(ev("PreToolUse", "Edit"), b, env.opener()).decision.outcome != Outcome::Deny);
}
