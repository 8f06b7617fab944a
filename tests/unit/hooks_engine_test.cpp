// The policy engine: order and combination of the policies, per-session state in the store
// shared by every caller, fail modes, the HOOK journal record, and the HTTP hook answer.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "hooks/dialect.h"
#include "hooks/engine.h"
#include "hooks/failure_hint.h"
#include "hooks/http_hooks.h"
#include "hooks/policy_state.h"
#include "state_test_util.h"

using namespace keel::hooks;
namespace json = boost::json;
namespace st = keel::state;

namespace {

struct Env {
  st::testing::TempDir dir;
  std::unique_ptr<st::Store> store;
  st::Principal who{"alice", "/repo", "s1", st::default_agent_capabilities()};
  int opens = 0;

  Env() {
    st::StoreOptions o;
    o.dir = dir.path() / "state";
    o.synchronous = st::Synchronous::kNormal;
    store = st::open_sqlite_store(o);
  }
  StoreOpener opener() {
    return [this]() -> st::Store& {
      ++opens;
      return *store;
    };
  }
  std::vector<st::JournalRecord> hooks() {
    st::JournalFilter f;
    f.op = "HOOK";
    f.newest_first = false;
    return store->journal_query(st::testing::admin("human", "/repo"), f);
  }
};

HookEvent claude(const std::string& text) { return make_dialect("claude")->parse(text); }

std::string pre_bash(const std::string& command, const std::string& session = "s1") {
  return json::serialize(json::object{{"hook_event_name", "PreToolUse"},
                                      {"session_id", session},
                                      {"cwd", "/repo"},
                                      {"tool_name", "Bash"},
                                      {"tool_input", json::object{{"command", command}}}});
}
std::string post_fail(const std::string& command) {
  return json::serialize(json::object{{"hook_event_name", "PostToolUseFailure"},
                                      {"session_id", "s1"},
                                      {"cwd", "/repo"},
                                      {"tool_name", "Bash"},
                                      {"tool_input", json::object{{"command", command}}},
                                      {"error", "Exit code 1"}});
}
std::string simple(const std::string& event, const std::string& extra = "") {
  return "{\"hook_event_name\":\"" + event + "\",\"session_id\":\"s1\",\"cwd\":\"/repo\"" + extra + "}";
}

}  // namespace

TEST_CASE("combine: most severe wins, continue:false beats all, messages accumulate") {
  HookDecision acc;
  HookDecision warn;
  warn.system_message = "first";
  HookDecision ask;
  ask.outcome = Outcome::Ask;
  ask.rule_id = "r-ask";
  ask.reason = "ask why";
  HookDecision deny;
  deny.outcome = Outcome::Deny;
  deny.rule_id = "r-deny";
  deny.reason = "deny why";
  deny.system_message = "second";
  HookDecision stop;
  stop.continue_ = false;
  stop.stop_reason = "over budget";
  stop.rule_id = "budget:x";
  combine(acc, warn);
  combine(acc, ask);
  combine(acc, stop);
  combine(acc, deny);
  combine(acc, ask);
  CHECK(acc.outcome == Outcome::Deny);
  CHECK(acc.rule_id == "r-deny");
  CHECK(acc.reason == "deny why");
  CHECK_FALSE(acc.continue_);
  CHECK(acc.stop_reason == "over budget");
  CHECK(acc.system_message == "first\nsecond");
}

TEST_CASE("engine: a destructive command is denied; one HOOK record names the policy") {
  Env env;
  HookEngine engine(HooksConfig{}, GateConfig{});
  EngineResult r = engine.decide(claude(pre_bash("rm -rf /")), env.who, env.opener());
  CHECK(r.decision.outcome == Outcome::Deny);
  CHECK_THAT(r.decision.rule_id, Catch::StartsWith("builtin:rm"));
  CHECK(r.journaled);
  auto records = env.hooks();
  REQUIRE(records.size() == 1);
  json::object payload = json::parse(records[0].payload).as_object();
  CHECK(payload.at("outcome") == "deny");
  CHECK(payload.at("policies").as_array().at(0).as_object().at("policy") == "permission");
  CHECK(records[0].principal == "alice");
}

TEST_CASE("engine: guardrail state lives in the store and is shared by separate engines") {
  Env env;
  HooksConfig cfg;
  cfg.guardrail.max_failures = 2;
  // Each event through a fresh engine, as separate `keel hook` processes would.
  auto decide = [&](const std::string& text) {
    return HookEngine(cfg, GateConfig{}).decide(claude(text), env.who, env.opener());
  };
  decide(post_fail("npm test"));
  decide(post_fail("npm test"));
  EngineResult r = decide(pre_bash("npm test"));
  CHECK(r.decision.outcome == Outcome::Deny);
  CHECK(r.decision.rule_id == "guardrail:repeated-failure");
  // The state is in the reserved principal's session tier: alice cannot list it.
  st::ListRequest list;
  list.tier = st::Tier::kSession;
  CHECK(env.store->memory_list(env.who, list).entries.empty());
  st::Principal hooks_agent{std::string(kStateAgent), "/repo", "s1", {"memory.session"}};
  CHECK(env.store->memory_get(hooks_agent, st::Tier::kSession, st::Namespace::kOwn, kStateKey).found);
  // A new prompt starts a turn: forgiven.
  decide(simple("UserPromptSubmit", ",\"prompt\":\"try again\""));
  CHECK(decide(pre_bash("npm test")).decision.outcome == Outcome::Continue);
  // SessionEnd drops the state.
  decide(simple("SessionEnd", ",\"reason\":\"exit\""));
  CHECK_FALSE(env.store->memory_get(hooks_agent, st::Tier::kSession, st::Namespace::kOwn, kStateKey).found);
}

TEST_CASE("engine: concurrent post-tool hooks lose no update (compare-and-set)") {
  Env env;
  HooksConfig cfg;
  cfg.guardrail.max_failures = 1000;
  HookEngine engine(cfg, GateConfig{});
  const HookEvent ev = claude(post_fail("flaky"));
  constexpr int kThreads = 4, kEach = 5;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        EngineResult r = engine.decide(ev, env.who, [&]() -> st::Store& { return *env.store; });
        errors += static_cast<int>(r.errors.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  SessionStateStore states(*env.store, "/repo", "s1");
  json::object state = states.load().value;
  const json::object& fails =
      state.at("guardrail").as_object().at("main").as_object().at("fail").as_object();
  CHECK(get_int(fails, call_fingerprint(ev)) == kThreads * kEach);
}

TEST_CASE("engine: fail modes when the store cannot be opened") {
  Env env;
  const StoreOpener broken = []() -> st::Store& { throw std::runtime_error("disk on fire"); };
  HooksConfig cfg;
  HookEngine engine(cfg, GateConfig{});
  // The lease gate fails closed by default: a write is denied...
  EngineResult w = engine.decide(
      claude(R"({"hook_event_name":"PreToolUse","session_id":"s1","cwd":"/repo","tool_name":"Write",
                 "tool_input":{"file_path":"/repo/a.txt","content":"x"}})"),
      env.who, broken);
  CHECK(w.decision.outcome == Outcome::Deny);
  CHECK(w.decision.rule_id == "lease:error");
  CHECK_THAT(w.decision.reason, Catch::Contains("disk on fire"));
  CHECK_FALSE(w.journaled);
  // ... the guardrail fails open: a read-only command goes on, the error is reported.
  EngineResult r = engine.decide(claude(pre_bash("ls")), env.who, broken);
  CHECK(r.decision.outcome == Outcome::Continue);
  REQUIRE_FALSE(r.errors.empty());
  CHECK_THAT(r.errors[0], Catch::Contains("guardrail") && Catch::Contains("disk on fire"));
  // A fail-closed oracle blocks the stop it could not check.
  cfg.oracle.command = "true";
  cfg.oracle.fail_closed = true;
  EngineResult s = HookEngine(cfg, GateConfig{}).decide(claude(simple("Stop")), env.who, broken);
  CHECK(s.decision.outcome == Outcome::BlockStop);
  CHECK(s.decision.rule_id == "oracle:error");
  // Without its state it cannot count blocks: a stop already continuing because of a stop hook
  // is let through, so an unavailable store never keeps the agent going forever.
  EngineResult again = HookEngine(cfg, GateConfig{}).decide(
      claude(R"({"hook_event_name":"Stop","session_id":"s1","cwd":"/repo","stop_hook_active":true})"), env.who, broken);
  CHECK(again.decision.outcome == Outcome::Continue);
  CHECK_THAT(again.decision.system_message, Catch::Contains("letting the agent stop"));
  // Fail open, the same failure lets the stop through.
  cfg.oracle.fail_closed = false;
  CHECK(HookEngine(cfg, GateConfig{}).decide(claude(simple("Stop")), env.who, broken).decision.outcome ==
        Outcome::Continue);
}

TEST_CASE("engine: the oracle and the self-check on Stop, a failing then passing check") {
  Env env;
  const auto done = env.dir.path() / "done";
  HooksConfig cfg;
  cfg.oracle.command = "test -f '" + done.string() + "' || { echo tests fail; exit 1; }";
  cfg.self_check.enabled = true;
  cfg.self_check.checklist = "verify";
  auto decide = [&](const std::string& text) {
    return HookEngine(cfg, GateConfig{}, env.dir.path().string()).decide(claude(text), env.who, env.opener());
  };
  // Stop events run the check in their cwd.
  auto stop_json = [&](bool active) {
    return json::serialize(json::object{{"hook_event_name", "Stop"},
                                        {"session_id", "s1"},
                                        {"cwd", env.dir.path().string()},
                                        {"stop_hook_active", active}});
  };
  decide(simple("UserPromptSubmit", ",\"prompt\":\"fix it\""));
  // The oracle blocks; the self-check does not spend its block on the same stop.
  EngineResult r = decide(stop_json(false));
  CHECK(r.decision.outcome == Outcome::BlockStop);
  CHECK(r.decision.rule_id == "oracle:failed");
  CHECK_THAT(r.decision.reason, Catch::Contains("tests fail"));
  std::ofstream(done) << "1";
  // The check passes now: the self-check asks for its one verification round.
  r = decide(stop_json(true));
  CHECK(r.decision.outcome == Outcome::BlockStop);
  CHECK(r.decision.rule_id == "self_check:checklist");
  decide(pre_bash("make test"));
  r = decide(stop_json(true));
  CHECK(r.decision.outcome == Outcome::Continue);
  // Rendered for Claude: {"decision":"block"} then nothing.
  auto records = env.hooks();
  REQUIRE(records.size() >= 4);
  CHECK(json::parse(records.back().payload).at("outcome") == "continue");
}

TEST_CASE("engine: budget ends the session with continue:false, rendered for Claude") {
  Env env;
  const auto transcript = env.dir.path() / "t.jsonl";
  std::ofstream(transcript)
      << R"({"type":"assistant","message":{"id":"m1","model":"x","usage":{"input_tokens":900,"output_tokens":200}}})"
      << "\n";
  HooksConfig cfg;
  cfg.budget.session_tokens = 1000;
  HookEngine engine(cfg, GateConfig{});
  HookEvent ev = claude(pre_bash("ls"));
  ev.transcript_path = transcript.string();
  EngineResult r = engine.decide(ev, env.who, env.opener());
  CHECK_FALSE(r.decision.continue_);
  RenderResult out = make_dialect("claude")->render(ev, r.decision);
  json::object o = json::parse(out.stdout_text).as_object();
  CHECK(o.at("continue") == false);
  CHECK_THAT(std::string(o.at("stopReason").as_string()), Catch::Contains("1,100"));
  CHECK(o.at("hookSpecificOutput").at("permissionDecision") == "deny");
}

TEST_CASE("engine: events no policy concerns do not open the store") {
  Env env;
  HookEngine engine(HooksConfig{}, GateConfig{});
  for (const char* name : {"SessionStart", "PreCompact", "Stop", "SubagentStop", "Notification"}) {
    EngineResult r = engine.decide(claude(simple(name)), env.who, env.opener());
    CHECK(r.decision.outcome == Outcome::Continue);
  }
  CHECK(env.opens == 0);
}

TEST_CASE("http hooks: deny JSON for a destructive Bash call, 404 for an unknown dialect") {
  Env env;
  HookEngine engine(HooksConfig{}, GateConfig{});
  PrincipalFor who = [&](const HookEvent&) { return env.who; };
  HttpHookReply r = answer_http_hook(engine, "POST", "claude", pre_bash("git reset --hard HEAD~3"), who,
                                     *env.store);
  CHECK(r.status == 200);
  json::object o = json::parse(r.body).as_object();
  CHECK(o.at("hookSpecificOutput").at("permissionDecision") == "deny");
  CHECK_THAT(std::string(o.at("hookSpecificOutput").at("permissionDecisionReason").as_string()),
             Catch::Contains("git.reset-hard"));
  // Nothing to say: 200 with an empty body.
  r = answer_http_hook(engine, "POST", "claude", pre_bash("git status"), who, *env.store);
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(answer_http_hook(engine, "POST", "vim", pre_bash("ls"), who, *env.store).status == 404);
  CHECK(answer_http_hook(engine, "GET", "claude", "", who, *env.store).status == 405);
  CHECK(answer_http_hook(engine, "POST", "claude", std::string(kMaxHookInput + 1, ' '), who, *env.store).status == 413);
}

TEST_CASE("http hooks: unreadable input blocks like `keel hook` while the gate fails closed") {
  Env env;
  PrincipalFor who = [&](const HookEvent&) { return env.who; };
  const HookEngine closed(HooksConfig{}, GateConfig{});
  REQUIRE(closed.config().permission_fail_closed);  // the default
  // Claude Code treats a 4xx as a non-blocking error, so the block is a 200 with block JSON.
  HttpHookReply r = answer_http_hook(closed, "POST", "claude", R"({"session_id":"s"})", who, *env.store);
  CHECK(r.status == 200);
  CHECK(r.body ==
        R"J({"decision":"block","reason":"keel: unreadable hook input: claude: hook input lacks the required field \"hook_event_name\" (blocked: the permission gate fails closed)"})J");
  CHECK(r.errors == std::vector<std::string>{R"(unreadable hook input: claude: hook input lacks the required field "hook_event_name")"});
  // A Bash call without its command is unreadable, not an empty command the gate would allow.
  r = answer_http_hook(closed, "POST", "claude",
                       R"({"hook_event_name":"PreToolUse","session_id":"s1","tool_name":"Bash","tool_input":{}})", who,
                       *env.store);
  CHECK(r.status == 200);
  CHECK(r.body ==
        R"J({"decision":"block","reason":"keel: unreadable hook input: claude: hook input lacks the required field \"tool_input.command\" (blocked: the permission gate fails closed)"})J");
  r = answer_http_hook(closed, "POST", "claude", "{not json", who, *env.store);
  CHECK(r.status == 200);
  CHECK_THAT(r.body, Catch::StartsWith(R"({"decision":"block","reason":"keel: unreadable hook input: claude: hook input is not valid JSON)"));
  // Copilot's own deny JSON, as `keel hook --dialect copilot` prints it.
  r = answer_http_hook(closed, "POST", "copilot", R"({"timestamp":1,"cwd":"/r","toolName":"bash","toolArgs":"{}"})", who,
                       *env.store);
  CHECK(r.status == 200);
  CHECK(r.body ==
        R"J({"permissionDecision":"deny","permissionDecisionReason":"keel: unreadable hook input: copilot: hook input lacks the required field \"toolArgs.command\" (blocked: the permission gate fails closed)"})J"
        "\n");
  // Nothing was decided, so nothing was journaled.
  CHECK(env.hooks().empty());

  HooksConfig open_cfg;
  open_cfg.permission_fail_closed = false;
  const HookEngine open(open_cfg, GateConfig{});
  r = answer_http_hook(open, "POST", "claude", "{not json", who, *env.store);
  CHECK(r.status == 400);
  CHECK_THAT(r.body, Catch::StartsWith(R"({"error":"unreadable hook input: claude: hook input is not valid JSON)"));
}

TEST_CASE("engine: with failure hints a PreToolUse opens the store only after a failure") {
  Env env;
  const auto hint_dir = env.dir.path() / "state" / "hooks";
  const HookEngine engine(HooksConfig{}, GateConfig{}, "/repo", hint_dir);
  const FailureHint hint(hint_dir, "/repo", "s1");
  auto decide = [&](const std::string& text) { return engine.decide(claude(text), env.who, env.opener()); };

  // The first event of a state directory without hints reads the state once (and creates the
  // hints directory under the lock); after that a PreToolUse does not open the store.
  CHECK(decide(pre_bash("npm test")).decision.outcome == Outcome::Continue);
  CHECK(env.opens == 1);
  CHECK(std::filesystem::is_directory(hint_dir));
  CHECK_FALSE(hint.may_have_failures());
  env.opens = 0;
  for (int i = 0; i < 5; ++i) CHECK(decide(pre_bash("npm test")).decision.outcome == Outcome::Continue);
  CHECK(env.opens == 0);

  // Failures put the marker down; the third identical failing call is then denied.
  for (int i = 0; i < 3; ++i) decide(post_fail("make check"));
  CHECK(hint.may_have_failures());
  CHECK(std::filesystem::exists(hint.marker()));
  env.opens = 0;
  EngineResult denied = decide(pre_bash("make check"));
  CHECK(denied.decision.outcome == Outcome::Deny);
  CHECK(denied.decision.rule_id == "guardrail:repeated-failure");
  CHECK(env.opens == 1);

  // Another session of the same project keeps skipping the store.
  env.opens = 0;
  CHECK(decide(pre_bash("npm test", "s2")).decision.outcome == Outcome::Continue);
  CHECK(env.opens == 0);

  // A new turn clears the failures, and with them the marker.
  decide(simple("UserPromptSubmit", ",\"prompt\":\"go on\""));
  CHECK_FALSE(hint.may_have_failures());
  env.opens = 0;
  CHECK(decide(pre_bash("make check")).decision.outcome == Outcome::Continue);
  CHECK(env.opens == 0);

  // A success of the failing call erases its count: the marker goes too.
  decide(post_fail("make lint"));
  CHECK(hint.may_have_failures());
  decide(json::serialize(json::object{{"hook_event_name", "PostToolUse"},
                                      {"session_id", "s1"},
                                      {"cwd", "/repo"},
                                      {"tool_name", "Bash"},
                                      {"tool_input", json::object{{"command", "make lint"}}},
                                      {"tool_response", json::object{{"stdout", "ok"}}}}));
  CHECK_FALSE(hint.may_have_failures());

  // SessionEnd drops the state and the marker.
  decide(post_fail("make lint"));
  CHECK(hint.may_have_failures());
  decide(simple("SessionEnd", ",\"reason\":\"exit\""));
  CHECK_FALSE(std::filesystem::exists(hint.marker()));
}

TEST_CASE("engine: a stale marker only costs a store read; a lost marker directory means maybe") {
  Env env;
  const auto hint_dir = env.dir.path() / "state" / "hooks";
  const HookEngine engine(HooksConfig{}, GateConfig{}, "/repo", hint_dir);
  const FailureHint hint(hint_dir, "/repo", "s1");
  std::filesystem::create_directories(hint_dir);
  std::ofstream(hint.marker()).put('\n');  // stale: the state holds no failure
  CHECK(engine.decide(claude(pre_bash("npm test")), env.who, env.opener()).decision.outcome ==
        Outcome::Continue);
  CHECK(env.opens == 1);
  CHECK_FALSE(std::filesystem::exists(hint.marker()));  // healed under the lock

  // Failures saved by an engine without hints (an older keel) are still found: no hints
  // directory means "maybe".
  std::filesystem::remove_all(hint_dir);
  const HookEngine no_hints(HooksConfig{}, GateConfig{}, "/repo");
  for (int i = 0; i < 3; ++i) no_hints.decide(claude(post_fail("make check")), env.who, env.opener());
  CHECK(hint.may_have_failures());
  CHECK(engine.decide(claude(pre_bash("make check")), env.who, env.opener()).decision.outcome ==
        Outcome::Deny);
}
