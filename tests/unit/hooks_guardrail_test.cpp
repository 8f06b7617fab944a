// The guardrail: the same failing call denied after max_failures, a warning after calls without
// progress, per agent, reset each turn.
#include <catch2/catch.hpp>

#include "hooks/failure_hint.h"
#include "hooks/guardrail.h"

using namespace keel::hooks;
namespace json = boost::json;

namespace {

HookEvent call(EventKind kind, std::string command, std::string agent_id = {}) {
  HookEvent ev;
  ev.kind = kind;
  ev.session_id = "s1";
  ev.agent_id = std::move(agent_id);
  ev.tool = ToolKind::Shell;
  ev.tool_name = "Bash";
  ev.command = command;
  ev.tool_input = json::object{{"command", command}};
  if (kind == EventKind::PostToolUseFailure) {
    ev.tool_failed = true;
    ev.error = "Exit code 1";
  }
  return ev;
}

HookEvent ok(std::string command, std::string output) {
  HookEvent ev = call(EventKind::PostToolUse, std::move(command));
  ev.tool_response = json::object{{"stdout", output}, {"stderr", ""}, {"interrupted", false}};
  return ev;
}

HookEvent edit(std::string path) {
  HookEvent ev;
  ev.kind = EventKind::PostToolUse;
  ev.session_id = "s1";
  ev.tool = ToolKind::Edit;
  ev.tool_name = "Edit";
  ev.tool_input = json::object{{"file_path", path}, {"old_string", "a"}, {"new_string", "b"}};
  ev.tool_response = json::object{{"filePath", path}, {"success", true}};
  return ev;
}

GuardrailConfig max_failures(int n) {
  GuardrailConfig cfg;
  cfg.max_failures = n;
  return cfg;
}

HookDecision run(const Guardrail& g, json::object& state, const HookEvent& ev, bool new_turn = false) {
  bool changed = false;
  return g.evaluate({ev, new_turn}, state, changed);
}

}  // namespace

TEST_CASE("guardrail: an identical call that failed max_failures times is denied") {
  Guardrail g(max_failures(2));
  json::object state;
  for (int i = 0; i < 2; ++i) {
    CHECK(run(g, state, call(EventKind::PreToolUse, "npm test")).outcome == Outcome::Continue);
    run(g, state, call(EventKind::PostToolUseFailure, "npm test"));
  }
  HookDecision d = run(g, state, call(EventKind::PreToolUse, "npm test"));
  CHECK(d.outcome == Outcome::Deny);
  CHECK(d.rule_id == "guardrail:repeated-failure");
  CHECK_THAT(d.reason, Catch::Contains("failed 2 times"));
  // A different input, or another agent (a subagent), is not the same call.
  CHECK(run(g, state, call(EventKind::PreToolUse, "npm test -- --verbose")).outcome == Outcome::Continue);
  CHECK(run(g, state, call(EventKind::PreToolUse, "npm test", "sub-1")).outcome == Outcome::Continue);
  // A new turn forgets the failures.
  run(g, state, call(EventKind::UserPromptSubmit, ""), true);
  CHECK(run(g, state, call(EventKind::PreToolUse, "npm test")).outcome == Outcome::Continue);
}

TEST_CASE("guardrail: a success clears the call's failures") {
  Guardrail g(max_failures(2));
  json::object state;
  run(g, state, call(EventKind::PostToolUseFailure, "make"));
  run(g, state, ok("make", "built"));
  run(g, state, call(EventKind::PostToolUseFailure, "make"));
  CHECK(run(g, state, call(EventKind::PreToolUse, "make")).outcome == Outcome::Continue);
  run(g, state, call(EventKind::PostToolUseFailure, "make"));
  CHECK(run(g, state, call(EventKind::PreToolUse, "make")).outcome == Outcome::Deny);
}

TEST_CASE("guardrail: a failure reported inside PostToolUse counts as one") {
  Guardrail g(max_failures(1));
  json::object state;
  HookEvent ev = call(EventKind::PostToolUse, "cargo build");
  ev.tool_response = json::object{{"success", false}, {"error", "boom"}};
  run(g, state, ev);
  CHECK(run(g, state, call(EventKind::PreToolUse, "cargo build")).outcome == Outcome::Deny);
}

TEST_CASE("guardrail: warns after no_progress_calls calls without progress, again after as many") {
  GuardrailConfig cfg;
  cfg.no_progress_calls = 3;
  Guardrail g(cfg);
  json::object state;
  CHECK(run(g, state, ok("cat a", "A")).system_message.empty());  // new output: progress
  CHECK(run(g, state, ok("cat a", "A")).system_message.empty());  // 1 without progress
  CHECK(run(g, state, call(EventKind::PostToolUseFailure, "x")).system_message.empty());  // 2
  HookDecision d = run(g, state, ok("cat a", "A"));  // 3
  CHECK(d.rule_id == "guardrail:no-progress");
  CHECK_THAT(d.system_message, Catch::Contains("3 tool calls in a row"));
  CHECK_THAT(d.additional_context, Catch::Contains("no progress"));
  CHECK(run(g, state, ok("cat a", "A")).system_message.empty());  // 4
  CHECK(run(g, state, ok("cat a", "A")).system_message.empty());  // 5
  CHECK_THAT(run(g, state, ok("cat a", "A")).system_message, Catch::Contains("6 tool calls"));
  // An edit is progress: the count starts over.
  CHECK(run(g, state, edit("/r/a.cc")).system_message.empty());
  CHECK(run(g, state, ok("cat a", "A")).system_message.empty());
  CHECK(run(g, state, ok("cat a", "A")).system_message.empty());
  CHECK_FALSE(run(g, state, ok("cat a", "A")).system_message.empty());
  // ... and so is an output not seen before in the turn.
  CHECK(run(g, state, ok("cat b", "B")).system_message.empty());
  CHECK(get_int(state.at("guardrail").as_object().at("main").as_object(), "idle") == 0);
}

TEST_CASE("guardrail: off when disabled or without a session; PreToolUse never writes") {
  GuardrailConfig off;
  off.enabled = false;
  CHECK_FALSE(Guardrail(off).concerns(call(EventKind::PreToolUse, "ls")));
  Guardrail g{GuardrailConfig{}};
  HookEvent anonymous = call(EventKind::PreToolUse, "ls");
  anonymous.session_id.clear();
  CHECK_FALSE(g.concerns(anonymous));
  CHECK_FALSE(g.concerns(call(EventKind::Stop, "")));
  json::object state;
  bool changed = false;
  g.evaluate({call(EventKind::PreToolUse, "ls")}, state, changed);
  CHECK_FALSE(changed);
}

TEST_CASE("guardrail: with many subagents the session state stays within the store's value limit") {
  Guardrail g(max_failures(2));
  json::object state;
  // kMaxAgentsPerPolicy agents, each with many distinct failures and outputs.
  for (std::size_t agent = 0; agent < kMaxAgentsPerPolicy; ++agent) {
    const std::string id = "agent-" + std::to_string(agent);
    for (int i = 0; i < 100; ++i) {
      HookEvent fail = call(EventKind::PostToolUseFailure, "make target-" + std::to_string(i), id);
      run(g, state, fail);
      HookEvent out = ok("cat file-" + std::to_string(i), "output " + std::to_string(i));
      out.agent_id = id;
      run(g, state, out);
    }
  }
  const std::size_t bytes = json::serialize(state).size();
  INFO("guardrail state " << bytes << " bytes");
  CHECK(bytes < 32 * 1024);  // the budget's records (< 30 KiB) fit beside it in 64 KiB
  // The most recent failures are still remembered: the next identical failure makes it two,
  // and the call is then denied.
  HookEvent again = call(EventKind::PostToolUseFailure, "make target-99", "agent-31");
  run(g, state, again);
  CHECK(run(g, state, call(EventKind::PreToolUse, "make target-99", "agent-31")).outcome == Outcome::Deny);
}

TEST_CASE("guardrail: no_progress_block denies calls that do not edit until an edit or a new turn") {
  GuardrailConfig cfg;
  cfg.no_progress_calls = 0;
  cfg.no_progress_block = 3;
  Guardrail g(cfg);
  json::object state;
  HookEvent pre_ls = call(EventKind::PreToolUse, "ls");
  HookEvent pre_edit = edit("/r/a.c");
  pre_edit.kind = EventKind::PreToolUse;
  run(g, state, ok("cat a", "same"));  // new output: progress
  // Two calls that bring nothing new: below the limit, still allowed.
  run(g, state, ok("cat a", "same"));
  run(g, state, ok("cat a", "same"));
  CHECK(run(g, state, pre_ls).outcome == Outcome::Continue);
  CHECK_FALSE(holds_failures(state));  // the fast path still skips the store
  run(g, state, ok("cat a", "same"));
  // The third: stuck. A non-editing call is denied, an edit is not.
  HookDecision d = run(g, state, pre_ls);
  CHECK(d.outcome == Outcome::Deny);
  CHECK(d.rule_id == "guardrail:no-progress-block");
  CHECK_THAT(d.reason, Catch::Contains("3 tool calls") && Catch::Contains("no_progress_block"));
  CHECK(holds_failures(state));  // so the failure hint sends the next PreToolUse to the store
  CHECK(run(g, state, pre_edit).outcome == Outcome::Continue);
  // The successful edit is progress: calls are allowed again.
  run(g, state, edit("/r/a.c"));
  CHECK(run(g, state, pre_ls).outcome == Outcome::Continue);
  CHECK_FALSE(holds_failures(state));
  // Stuck again, then a new turn clears it.
  for (int k = 0; k < 3; ++k) run(g, state, ok("cat a", "same"));
  CHECK(run(g, state, pre_ls).outcome == Outcome::Deny);
  CHECK(run(g, state, call(EventKind::UserPromptSubmit, ""), true).outcome == Outcome::Continue);
  CHECK(run(g, state, pre_ls).outcome == Outcome::Continue);
  // Off by default.
  CHECK(GuardrailConfig{}.no_progress_block == 0);
  Guardrail def{GuardrailConfig{}};
  json::object s2;
  for (int k = 0; k < 40; ++k) run(def, s2, ok("cat a", "same"));
  CHECK(run(def, s2, pre_ls).outcome == Outcome::Continue);
}
