// The lease gate with leases as a team uses them (issue 18): the auto-lease of every path a
// call writes in one all-or-nothing acquire, its refusals, and release asks reaching the holder
// once, as context on its next hook event, through each agent's own channel.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>

#include "hooks/dialect.h"
#include "hooks/engine.h"
#include "hooks/lease_gate.h"
#include "hooks/release_asks.h"
#include "hooks_test_util.h"
#include "state/store_common.h"
#include "state_test_util.h"

using namespace keel::hooks;
namespace st = keel::state;
namespace fs = std::filesystem;
using keel::hooks::testing::TwoAgents;

namespace {

const st::Principal kAgentC{"agent-c", "/repo", "sc", st::default_agent_capabilities()};

HookEvent shell(std::string dialect, EventKind kind, std::string command) {
  HookEvent ev;
  ev.dialect = std::move(dialect);
  ev.kind = kind;
  ev.event_name = std::string(to_string(kind));
  ev.tool = ToolKind::Shell;
  ev.tool_name = "Bash";
  ev.cwd = "/repo";
  ev.command = std::move(command);
  return ev;
}

HookEvent read_file(std::string dialect, EventKind kind, std::string path) {
  HookEvent ev;
  ev.dialect = std::move(dialect);
  ev.kind = kind;
  ev.event_name = std::string(to_string(kind));
  ev.tool = ToolKind::Read;
  ev.tool_name = "Read";
  ev.cwd = "/repo";
  ev.file_paths = {std::move(path)};
  return ev;
}

HookEvent prompt(std::string dialect) {
  HookEvent ev;
  ev.dialect = std::move(dialect);
  ev.kind = EventKind::UserPromptSubmit;
  ev.event_name = "UserPromptSubmit";
  ev.prompt = "go on";
  return ev;
}

struct Decided {
  HookDecision d;
  bool store_opened = false;
};

// What the engine does with the gate for one event: ask concerns(), then decide() with the
// store opened on first use (through `open`).
Decided decide_with(const LeaseGate& gate, const StoreOpener& open, const st::Principal& who,
                    const HookEvent& ev, const HookDecision& so_far = {}) {
  if (!gate.concerns(ev)) return {};
  LazyStore lazy(open);
  const AnalysedEvent in(ev);
  HookDecision d = gate.decide(PolicyCall{in, who, lazy, so_far});
  return {std::move(d), lazy.opened()};
}

Decided decide(const LeaseGate& gate, st::Store& store, const st::Principal& who, const HookEvent& ev,
               const HookDecision& so_far = {}) {
  const StoreOpener open = [&store]() -> st::Store& { return store; };
  return decide_with(gate, open, who, ev, so_far);
}

boost::json::object rendered(std::string_view dialect, const HookEvent& ev, const HookDecision& d) {
  const RenderResult r = make_dialect(dialect)->render(ev, d);
  REQUIRE(r.exit_code == 0);
  const boost::json::value v = boost::json::parse(r.stdout_text);
  REQUIRE(v.is_object());
  return v.as_object();
}

std::string context_of(const boost::json::object& out) {
  const auto* hso = out.if_contains("hookSpecificOutput");
  if (!hso || !hso->is_object()) return {};
  const auto* ctx = hso->as_object().if_contains("additionalContext");
  return ctx && ctx->is_string() ? std::string(ctx->as_string()) : std::string();
}

st::LeaseInfo hold(st::Store& store, const st::Principal& who, const std::string& name,
                   std::int64_t ttl_ms = 600'000) {
  st::AcquireRequest req;
  req.name = name;
  req.ttl_ms = ttl_ms;
  const st::AcquireResult got = store.acquire_lease(who, req);
  REQUIRE(got.granted);
  return *got.lease;
}

std::vector<st::LeaseInfo> held_by(st::Store& store, const st::Principal& who) {
  std::vector<st::LeaseInfo> out;
  for (st::LeaseInfo& l : store.list_leases(who)) {
    if (l.holder == who.agent) out.push_back(std::move(l));
  }
  return out;
}

const std::string kAsk = "agent agent-b waits for file:/repo/api.h: I change parse()'s signature";

// A store that runs `before_acquire` once, just before forwarding the first acquire_lease: what
// another agent does between the gate's read of the leases and its acquire.
class RacingStore final : public st::Store {
 public:
  RacingStore(st::Store& inner, std::function<void()> before_acquire)
      : s_(inner), before_(std::move(before_acquire)) {}

  st::AcquireResult acquire_lease(const st::Principal& w, const st::AcquireRequest& r,
                                  const st::CancelCheck& c) override {
    if (before_) std::exchange(before_, nullptr)();
    return s_.acquire_lease(w, r, c);
  }
  st::LeaseInfo renew_lease(const st::Principal& w, std::string_view n, std::string_view id) override {
    return s_.renew_lease(w, n, id);
  }
  st::ReleaseOutcome release_lease(const st::Principal& w, std::string_view n, std::string_view id,
                                   bool f) override {
    return s_.release_lease(w, n, id, f);
  }
  std::vector<st::LeaseInfo> release_group(const st::Principal& w, std::string_view g, bool f) override {
    return s_.release_group(w, g, f);
  }
  st::LeaseInfo downgrade_lease(const st::Principal& w, std::string_view n, std::string_view id) override {
    return s_.downgrade_lease(w, n, id);
  }
  std::vector<st::LeaseInfo> list_leases(const st::Principal& w, std::string_view p) override {
    return s_.list_leases(w, p);
  }
  st::LeaseBoard lease_board(const st::Principal& w, std::string_view p) override { return s_.lease_board(w, p); }
  std::vector<st::ReleaseAsk> ask_release(const st::Principal& w, std::string_view n,
                                          std::string_view r) override {
    return s_.ask_release(w, n, r);
  }
  std::vector<st::ReleaseAsk> take_release_asks(const st::Principal& w) override {
    return s_.take_release_asks(w);
  }
  st::PutResult memory_put(const st::Principal& w, const st::PutRequest& r) override { return s_.memory_put(w, r); }
  st::GetResult memory_get(const st::Principal& w, st::Tier t, st::Namespace n, std::string_view k) override {
    return s_.memory_get(w, t, n, k);
  }
  bool memory_delete(const st::Principal& w, const st::DeleteRequest& r) override { return s_.memory_delete(w, r); }
  st::ListResult memory_list(const st::Principal& w, const st::ListRequest& r) override {
    return s_.memory_list(w, r);
  }
  std::vector<st::SearchHit> memory_search(const st::Principal& w, const st::SearchRequest& r) override {
    return s_.memory_search(w, r);
  }
  void end_session(const st::Principal& w) override { s_.end_session(w); }
  st::TakeResult memory_take(const st::Principal& w, const st::TakeRequest& r,
                             const st::CancelCheck& c) override {
    return s_.memory_take(w, r, c);
  }
  st::WaitResult memory_wait(const st::Principal& w, const st::WaitRequest& r,
                             const st::CancelCheck& c) override {
    return s_.memory_wait(w, r, c);
  }
  st::TxnResult memory_txn(const st::Principal& w, const st::TxnRequest& r) override {
    return s_.memory_txn(w, r);
  }
  st::RequestClaim claim_request(const st::Principal& w, std::string_view t, std::string_view id,
                                 std::string_view h, std::int64_t e = 0) override {
    return s_.claim_request(w, t, id, h, e);
  }
  void complete_request(const st::Principal& w, std::string_view t, std::string_view id,
                        std::string_view c, std::string_view r) override {
    s_.complete_request(w, t, id, c, r);
  }
  void abandon_request(const st::Principal& w, std::string_view t, std::string_view id,
                       std::string_view c) override {
    s_.abandon_request(w, t, id, c);
  }
  std::vector<std::optional<st::FanoutCacheEntry>> fanout_cache_lookup(
      const st::Principal& w, const std::vector<std::string>& d) override {
    return s_.fanout_cache_lookup(w, d);
  }
  void fanout_cache_store(const st::Principal& w, const st::FanoutCacheEntry& e) override {
    s_.fanout_cache_store(w, e);
  }
  std::vector<st::FanoutBreaker> fanout_breakers(const st::Principal& w) override {
    return s_.fanout_breakers(w);
  }
  void fanout_breaker_store(const st::Principal& w, const st::FanoutBreaker& b) override {
    s_.fanout_breaker_store(w, b);
  }
  std::vector<st::JournalRecord> journal_query(const st::Principal& w, const st::JournalFilter& f) override {
    return s_.journal_query(w, f);
  }
  st::VerifyReport journal_verify(const st::Principal& w) override { return s_.journal_verify(w); }
  st::ReplayReport journal_replay(const st::Principal& w) override { return s_.journal_replay(w); }
  using st::Store::journal_compact;
  using st::Store::journal_export;
  st::CompactReport journal_compact(const st::Principal& w, const st::CompactOptions& o) override { return s_.journal_compact(w, o); }
  std::int64_t journal_export(const st::Principal& w, std::ostream& out, const st::ExportRange& r) override { return s_.journal_export(w, out, r); }
  st::JournalRecord journal_append(const st::Principal& w, std::string_view op, std::string_view subject,
                                   const boost::json::value& payload) override {
    return s_.journal_append(w, op, subject, payload);
  }
  st::EscalationRequestResult request_escalation(const st::Principal& w, const st::EscalationRequest& r) override {
    return s_.request_escalation(w, r);
  }
  st::ResolveEscalationResult resolve_escalation(const st::Principal& w,
                                                 const st::ResolveEscalationRequest& r) override {
    return s_.resolve_escalation(w, r);
  }
  st::Escalation get_escalation(const st::Principal& w, std::int64_t id) override { return s_.get_escalation(w, id); }
  st::EscalationListResult list_escalations(const st::Principal& w, const st::EscalationListRequest& r) override {
    return s_.list_escalations(w, r);
  }
  st::Escalation wait_escalation(const st::Principal& w, std::int64_t id, std::int64_t ms,
                                 const st::CancelCheck& c) override {
    return s_.wait_escalation(w, id, ms, c);
  }
  st::AgentInfo register_agent(const st::Principal& w, const st::AgentRegistration& r) override {
    return s_.register_agent(w, r);
  }
  std::vector<st::AgentInfo> list_agents(const st::Principal& w, bool g) override { return s_.list_agents(w, g); }
  std::vector<st::ScavengedAgent> scavenge_dead_agents(const st::Principal& w,
                                                       std::optional<std::string> h) override {
    return s_.scavenge_dead_agents(w, std::move(h));
  }
  st::HeartbeatResult heartbeat(const st::Principal& w) override { return s_.heartbeat(w); }
  st::LeaseInfo adopt_lease(const st::Principal& w, std::string_view n, std::string_view id,
                            std::string_view to) override {
    return s_.adopt_lease(w, n, id, to);
  }
  st::AgentInfo suspend_agent(const st::Principal& w, std::string_view a, std::string_view r) override {
    return s_.suspend_agent(w, a, r);
  }
  st::AgentInfo resume_agent(const st::Principal& w, std::string_view a) override { return s_.resume_agent(w, a); }
  st::StoreStats stats() const override { return s_.stats(); }

 private:
  st::Store& s_;
  std::function<void()> before_;
};

}  // namespace

// ---------------------------------------------------------------- auto_lease, many paths

TEST_CASE("auto_lease takes every written path in one acquire: one group, tokens in canonical order") {
  TwoAgents env;
  const LeaseGate gate({.auto_lease = true, .auto_lease_ttl_ms = 30'000});
  // Written in non-canonical order; the store decides them sorted.
  const HookDecision d = gate.evaluate(*env.store, env.a, shell("claude", EventKind::PreToolUse,
                                                                "sed -i s/a/b/ f3 f1 f2"));
  CHECK(d.outcome == Outcome::Continue);
  CHECK(d.rule_id == "lease:auto");
  for (const char* f : {"file:/repo/f1", "file:/repo/f2", "file:/repo/f3"}) CHECK_THAT(d.reason, Catch::Contains(f));
  std::vector<st::LeaseInfo> held = held_by(*env.store, env.a);
  REQUIRE(held.size() == 3);
  // list_leases is by name: f1, f2, f3 — the canonical order, in which tokens ascend.
  CHECK(held[0].name == "file:/repo/f1");
  CHECK(held[2].name == "file:/repo/f3");
  CHECK(held[0].token < held[1].token);
  CHECK(held[1].token < held[2].token);
  CHECK_FALSE(held[0].group_id.empty());
  CHECK(held[1].group_id == held[0].group_id);
  CHECK(held[2].group_id == held[0].group_id);
  for (const auto& l : held) CHECK(l.ttl_ms == 30'000);

  // The same write again holds the same leases (renewed, not re-taken); one more path joins.
  const HookDecision again = gate.evaluate(*env.store, env.a, shell("claude", EventKind::PreToolUse,
                                                                    "sed -i s/a/b/ f1 f2 f3 f4"));
  CHECK(again.rule_id == "lease:auto");
  const std::vector<st::LeaseInfo> now = held_by(*env.store, env.a);
  REQUIRE(now.size() == 4);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(now[i].lease_id == held[i].lease_id);
    CHECK(now[i].token == held[i].token);
    CHECK(now[i].expires_at_ms >= held[i].expires_at_ms);
  }
  CHECK(now[3].name == "file:/repo/f4");
  CHECK(now[3].group_id != held[0].group_id);

  // At most kMaxAutoLeases paths are taken from one call.
  std::string many = "rm -f";
  for (int i = 0; i < 20; ++i) many += " m" + std::to_string(100 + i);
  CHECK(gate.evaluate(*env.store, env.b, shell("claude", EventKind::PreToolUse, many)).rule_id == "lease:auto");
  CHECK(held_by(*env.store, env.b).size() == LeaseGate::kMaxAutoLeases);
}

TEST_CASE("a write under several other holds is denied naming every holder, and takes nothing") {
  TwoAgents env;
  hold(*env.store, env.b, "file:/repo/f1");
  hold(*env.store, kAgentC, "dir:/repo/sub");
  const LeaseGate gate({.auto_lease = true, .auto_lease_ttl_ms = 30'000});
  const HookDecision d =
      gate.evaluate(*env.store, env.a, shell("claude", EventKind::PreToolUse, "rm -f f1 sub/x.cc free.cc"));
  CHECK(d.outcome == Outcome::Deny);
  CHECK(d.rule_id == "lease:file:/repo/f1");
  CHECK_THAT(d.reason, Catch::Contains("/repo/f1 is leased by agent-b") &&
                           Catch::Contains("/repo/sub/x.cc is leased by agent-c") &&
                           Catch::Contains("dir:/repo/sub/") && Catch::Contains("wait_ms"));
  CHECK(held_by(*env.store, env.a).empty());  // not even free.cc
}

TEST_CASE("auto_lease is all or nothing: a hold taken between the gate's read and its acquire") {
  TwoAgents env;
  // agent-b takes f2 after the gate saw both paths free, before its acquire.
  RacingStore racing(*env.store, [&] { hold(*env.store, env.b, "file:/repo/f2"); });
  const LeaseGate gate({.auto_lease = true, .auto_lease_ttl_ms = 30'000});
  const HookDecision d = gate.evaluate(racing, env.a, shell("claude", EventKind::PreToolUse, "rm -f f1 f2"));
  CHECK(d.outcome == Outcome::Deny);
  CHECK(d.rule_id == "lease:file:/repo/f2");
  CHECK_THAT(d.reason, Catch::Contains("/repo/f2 is leased by agent-b"));
  CHECK(held_by(*env.store, env.a).empty());  // f1 was free, and is not held either
}

TEST_CASE("auto_lease waits its turn: a free file that an earlier waiter queued for is refused as queued") {
  TwoAgents env;
  hold(*env.store, env.b, "file:/repo/a0");
  // agent-c queues for a0 and f2 together (a0 is held, so it waits; f2 stays free meanwhile).
  auto waiter = std::async(std::launch::async, [&] {
    st::AcquireRequest req;
    req.names = {"file:/repo/f2", "file:/repo/a0"};
    req.ttl_ms = 60'000;
    req.wait_ms = 20'000;
    return env.store->acquire_lease(kAgentC, req);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (env.store->lease_board(env.a).waiters.empty()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const LeaseGate gate({.auto_lease = true, .auto_lease_ttl_ms = 30'000});
  const HookDecision d = gate.evaluate(*env.store, env.a, shell("claude", EventKind::PreToolUse, "rm -f f1 f2"));
  CHECK(d.outcome == Outcome::Deny);
  CHECK(d.rule_id == "lease:file:/repo/f2");
  CHECK_THAT(d.reason, Catch::StartsWith("file:/repo/f2 is free, but queued for first by agent-c") &&
                           Catch::Contains("wait_ms") && !Catch::Contains("file:/repo/f1"));
  CHECK(held_by(*env.store, env.a).empty());

  // a0 is released: agent-c gets both.
  const st::LeaseInfo a0 = env.store->list_leases(env.b, "file:/repo/a0").at(0);
  env.store->release_lease(env.b, a0.name, a0.lease_id);
  const st::AcquireResult got = waiter.get();
  CHECK(got.granted);
  CHECK(got.leases.size() == 2);
}

// ---------------------------------------------------------------- release asks

TEST_CASE("a release ask reaches the holder once, as context on its next hook event") {
  TwoAgents env;
  const fs::path state_dir = env.dir.path() / "state";
  const LeaseGate gate({}, state_dir);
  hold(*env.store, env.a, "file:/repo/api.h");

  // Nothing asked: every event pays one stat() and opens no store.
  const HookEvent post = read_file("claude", EventKind::PostToolUse, "/repo/x.cc");
  CHECK(gate.concerns(post));
  Decided none = decide(gate, *env.store, env.a, post);
  CHECK_FALSE(none.store_opened);
  CHECK(none.d.additional_context.empty());

  const std::vector<st::ReleaseAsk> asks =
      env.store->ask_release(env.b, "file:/repo/api.h", "I change parse()'s signature");
  REQUIRE(asks.size() == 1);
  CHECK(asks[0].holder == "agent-a");
  CHECK(release_asks_pending(state_dir, env.a));
  CHECK_FALSE(release_asks_pending(state_dir, env.b));  // the asker has nothing waiting
  CHECK_FALSE(decide(gate, *env.store, env.b, post).store_opened);

  // agent-a's next tool call carries the ask, in Claude Code's PreToolUse context, and decides
  // nothing about the call itself.
  const HookEvent pre = read_file("claude", EventKind::PreToolUse, "/repo/x.cc");
  const Decided first = decide(gate, *env.store, env.a, pre);
  CHECK(first.store_opened);
  CHECK(first.d.outcome == Outcome::Continue);
  CHECK_THAT(first.d.additional_context, Catch::Contains(kAsk) && Catch::Contains("lease_release"));
  const boost::json::object out = rendered("claude", pre, first.d);
  CHECK_THAT(context_of(out), Catch::Contains(kAsk));
  CHECK_FALSE(out.at("hookSpecificOutput").as_object().contains("permissionDecision"));

  // Shown once: the next events are back on the fast path.
  CHECK_FALSE(release_asks_pending(state_dir, env.a));
  const Decided second = decide(gate, *env.store, env.a, post);
  CHECK_FALSE(second.store_opened);
  CHECK(second.d.additional_context.empty());
  CHECK(decide(gate, *env.store, env.a, pre).d.additional_context.empty());

  // The holder's own auto lease and the ask travel together on one PreToolUse.
  env.store->ask_release(env.b, "file:/repo/api.h", "still waiting");
  const LeaseGate auto_gate({.auto_lease = true, .auto_lease_ttl_ms = 30'000}, state_dir);
  const Decided both = decide(auto_gate, *env.store, env.a, shell("claude", EventKind::PreToolUse, "rm -f old.o"));
  CHECK(both.d.rule_id == "lease:auto");
  CHECK_THAT(both.d.additional_context, Catch::Contains("waits for file:/repo/api.h: still waiting"));
}

TEST_CASE("release asks wait for an event whose answer reaches the model") {
  TwoAgents env;
  const fs::path state_dir = env.dir.path() / "state";
  const LeaseGate gate({}, state_dir);
  hold(*env.store, env.a, "file:/repo/api.h");
  hold(*env.store, env.b, "file:/repo/b.cc");
  env.store->ask_release(env.b, "file:/repo/api.h", "I change parse()'s signature");

  // Gemini CLI drops a BeforeTool's context: the ask is not spent there.
  const HookEvent before_tool = read_file("gemini", EventKind::PreToolUse, "/repo/x.cc");
  CHECK(decide(gate, *env.store, env.a, before_tool).d.additional_context.empty());
  // Cursor, Copilot and Windsurf have no channel for it at all.
  CHECK_FALSE(gate.concerns(read_file("cursor", EventKind::PostToolUse, "/repo/x.cc")));
  CHECK_FALSE(gate.concerns(prompt("copilot")));
  CHECK(decide(gate, *env.store, env.a, read_file("windsurf", EventKind::PreToolUse, "/repo/x.cc"))
            .d.additional_context.empty());
  // A refused call: by an earlier gate, or by this one (a write under agent-b's lease).
  HookDecision denied;
  denied.outcome = Outcome::Deny;
  CHECK(decide(gate, *env.store, env.a, read_file("claude", EventKind::PreToolUse, "/repo/x.cc"), denied)
            .d.additional_context.empty());
  // A subagent's tool call: its context is not the holder's.
  HookEvent in_subagent = read_file("claude", EventKind::PostToolUse, "/repo/x.cc");
  in_subagent.agent_id = "sub-1";
  CHECK(decide(gate, *env.store, env.a, in_subagent).d.additional_context.empty());
  const Decided refused = decide(gate, *env.store, env.a, shell("claude", EventKind::PreToolUse, "rm b.cc"));
  CHECK(refused.d.outcome == Outcome::Deny);
  CHECK(refused.d.additional_context.empty());
  CHECK(release_asks_pending(state_dir, env.a));

  // Gemini's AfterTool shows it (hookSpecificOutput.additionalContext, appended to the result).
  const HookEvent after_tool = read_file("gemini", EventKind::PostToolUse, "/repo/x.cc");
  const Decided shown = decide(gate, *env.store, env.a, after_tool);
  CHECK_THAT(context_of(rendered("gemini", after_tool, shown.d)), Catch::Contains(kAsk));
  CHECK_FALSE(release_asks_pending(state_dir, env.a));

  // Codex: a prompt carries it.
  env.store->ask_release(env.b, "file:/repo/api.h", "please");
  const HookEvent codex_prompt = prompt("codex");
  const Decided codex = decide(gate, *env.store, env.a, codex_prompt);
  CHECK_THAT(context_of(rendered("codex", codex_prompt, codex.d)),
             Catch::Contains("agent agent-b waits for file:/repo/api.h: please"));
}

TEST_CASE("release asks: a released name stops showing, and a store that fails denies nothing") {
  TwoAgents env;
  const fs::path state_dir = env.dir.path() / "state";
  const LeaseGate gate({}, state_dir);
  const st::LeaseInfo api = hold(*env.store, env.a, "file:/repo/api.h");
  env.store->ask_release(env.b, "file:/repo/api.h", "I change parse()'s signature");
  REQUIRE(release_asks_pending(state_dir, env.a));

  // The store cannot be opened: the call goes on, the ask stays for a later event.
  const StoreOpener broken = []() -> st::Store& { throw std::runtime_error("disk on fire"); };
  const HookEvent pre = read_file("claude", EventKind::PreToolUse, "/repo/x.cc");
  const Decided failed = decide_with(gate, broken, env.a, pre);
  CHECK(failed.d.outcome == Outcome::Continue);
  CHECK(failed.d.additional_context.empty());
  CHECK(release_asks_pending(state_dir, env.a));

  // agent-a released the file before it saw the ask: nothing to show.
  env.store->release_lease(env.a, api.name, api.lease_id);
  const Decided after = decide(gate, *env.store, env.a, pre);
  CHECK(after.d.additional_context.empty());
  CHECK(after.d.rule_id.empty());
  CHECK_FALSE(release_asks_pending(state_dir, env.a));

  // Without a state directory the gate never looks.
  CHECK_FALSE(LeaseGate().concerns(read_file("claude", EventKind::PostToolUse, "/repo/x.cc")));
  CHECK_FALSE(release_asks_pending({}, env.a));
}

TEST_CASE("release ask text: one line per ask, reasons on one line and cut, at most kMaxAsksShown") {
  std::vector<st::ReleaseAsk> asks;
  for (int i = 0; i < 11; ++i) {
    st::ReleaseAsk a;
    a.name = "file:/repo/f" + std::to_string(i);
    a.asker = "agent-" + std::to_string(i);
    a.holder = "agent-h";
    a.reason = i == 0 ? "line one\nline two" : std::string(1000, 'x') + "\xC3\xA9";
    asks.push_back(a);
  }
  asks[1].reason = std::string(kMaxAskReasonChars - 1, 'y') + "\xC3\xA9" + "tail";  // é across the cut
  const std::string text = release_ask_text(asks);
  std::vector<std::string> lines;
  for (std::size_t from = 0; from <= text.size();) {
    const std::size_t nl = std::min(text.find('\n', from), text.size());
    lines.push_back(text.substr(from, nl - from));
    from = nl + 1;
  }
  REQUIRE(lines.size() == kMaxAsksShown + 1);
  CHECK(lines[0] ==
        "keel: agent agent-0 waits for file:/repo/f0: line one line two — release it with lease_release, or "
        "lease_renew it if you need it longer.");
  CHECK_THAT(lines[1], Catch::Contains(std::string(kMaxAskReasonChars - 1, 'y') + "... — release"));
  CHECK(lines.back() == "keel: 3 more release asks for your leases (lease_list shows them).");
  for (const std::string& l : lines) CHECK(l.size() < 1000);
  CHECK(release_ask_text({}).empty());
}

// ---------------------------------------------------------------- through the engine

TEST_CASE("the hook engine hands the lease gate its state dir: a release ask reaches the holder once") {
  TwoAgents env;
  const fs::path state_dir = env.dir.path() / "state";
  // As `keel hook` and `keel serve` build it: hint_dir is the state directory's hooks/.
  const HookEngine engine(HooksConfig{}, GateConfig{}, "/repo", state_dir / "hooks");
  const StoreOpener open = [&env]() -> st::Store& { return *env.store; };
  hold(*env.store, env.a, "file:/repo/api.h");
  env.store->ask_release(env.b, "file:/repo/api.h", "I change parse()'s signature");

  const HookEvent pre = read_file("claude", EventKind::PreToolUse, "/repo/x.cc");
  const EngineResult first = engine.decide(pre, env.a, open);
  CHECK_THAT(first.decision.additional_context, Catch::Contains(kAsk));
  CHECK(first.decision.outcome != Outcome::Deny);
  CHECK(first.journaled);
  CHECK_THAT(context_of(rendered("claude", pre, first.decision)), Catch::Contains(kAsk));
  CHECK(engine.decide(pre, env.a, open).decision.additional_context.empty());
}
