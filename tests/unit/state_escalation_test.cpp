// Escalations of the SQLite store: the token bucket, idempotency, the three
// resolutions, double resolution, waiting, and surviving a restart.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <boost/json.hpp>

#include "state/escalation.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

constexpr std::int64_t kHour = 3'600'000;

EscalationRequest ask(const std::string& reason = "delete the generated dir?",
                      std::optional<std::string> request_id = std::nullopt) {
  EscalationRequest r;
  r.reason = reason;
  r.context = json::object{{"file", "/proj/gen"}};
  r.proposal = json::object{{"command", "rm -rf gen"}};
  r.impact = EscalationImpact::kHigh;
  r.request_id = std::move(request_id);
  return r;
}

ResolveEscalationRequest decide(std::int64_t id, EscalationDecision d,
                                std::optional<json::value> proposal = std::nullopt) {
  ResolveEscalationRequest r;
  r.id = id;
  r.decision = d;
  r.proposal = std::move(proposal);
  r.via = "test";
  return r;
}

std::int64_t granted_id(const EscalationRequestResult& r) {
  REQUIRE(r.outcome == EscalationOutcome::kGranted);
  REQUIRE(r.escalation);
  return r.escalation->id;
}

}  // namespace

TEST_CASE("escalation: the bucket runs out and refills with the clock", "[state][escalation]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");

  for (int i = 0; i < 3; ++i) {
    auto r = s.request_escalation(a, ask());
    CHECK(r.outcome == EscalationOutcome::kGranted);
    CHECK(r.tokens_left == 2 - i);
    REQUIRE(r.escalation);
    CHECK_FALSE(r.escalation->resolved);
    CHECK(r.escalation->agent == "alice");
  }
  auto refused = s.request_escalation(a, ask());
  CHECK(refused.outcome == EscalationOutcome::kBudgetExhausted);
  CHECK_FALSE(refused.escalation);
  // Default 3 per hour: one token back every 20 minutes.
  CHECK(refused.retry_after_ms == kHour / 3);

  // Another agent has its own bucket.
  CHECK(s.request_escalation(agent("bob"), ask()).outcome == EscalationOutcome::kGranted);

  env.clock->advance(kHour / 3 - 1);
  auto still = s.request_escalation(a, ask());
  CHECK(still.outcome == EscalationOutcome::kBudgetExhausted);
  CHECK(still.retry_after_ms == 1);
  env.clock->advance(1);
  auto again = s.request_escalation(a, ask());
  CHECK(again.outcome == EscalationOutcome::kGranted);
  CHECK(again.tokens_left == 0);
  CHECK(s.request_escalation(a, ask()).outcome == EscalationOutcome::kBudgetExhausted);

  // A long pause refills to capacity, not beyond.
  env.clock->advance(10 * kHour);
  for (int i = 0; i < 3; ++i) {
    CHECK(s.request_escalation(a, ask()).outcome == EscalationOutcome::kGranted);
  }
  CHECK(s.request_escalation(a, ask()).outcome == EscalationOutcome::kBudgetExhausted);

  // Journaled either way: 3 + 1 (bob) + 1 + 3 grants, 4 refusals.
  CHECK(journal_records(s, ops::kEscalate).size() == 8);
  auto refusals = journal_records(s, ops::kEscalateRefused);
  REQUIRE(refusals.size() == 4);
  const json::value payload = json::parse(refusals.front().payload);
  CHECK(payload.at("outcome") == "BUDGET_EXHAUSTED");
  CHECK(payload.at("retry_after_ms") == kHour / 3);
  CHECK(refusals.front().principal == "alice");
  CHECK(s.journal_verify(admin()).ok);
}

TEST_CASE("escalation: per-agent budgets and their validation", "[state][escalation]") {
  StoreEnv env;
  env.close();
  StoreOptions o = env.options();
  o.escalation_budget = EscalationBudget{1, 1000};
  o.escalation_agent_budgets["ci"] = EscalationBudget{5, kHour};
  env.store = open_test_store(o);
  Store& s = *env.store;

  CHECK(s.request_escalation(agent("alice"), ask()).outcome == EscalationOutcome::kGranted);
  auto refused = s.request_escalation(agent("alice"), ask());
  CHECK(refused.outcome == EscalationOutcome::kBudgetExhausted);
  CHECK(refused.retry_after_ms == 1000);
  for (int i = 0; i < 5; ++i) {
    CHECK(s.request_escalation(agent("ci"), ask()).outcome == EscalationOutcome::kGranted);
  }
  CHECK(s.request_escalation(agent("ci"), ask()).outcome == EscalationOutcome::kBudgetExhausted);
  env.clock->advance(1000);
  CHECK(s.request_escalation(agent("alice"), ask()).outcome == EscalationOutcome::kGranted);

  env.close();
  o.escalation_agent_budgets["ci"] = EscalationBudget{0, kHour};
  env.store = open_test_store(o);
  REQUIRE_STORE_ERROR(env.store->request_escalation(agent("ci"), ask()),
                      ErrorCode::kInvalidArgument);
}

TEST_CASE("escalation: bucket arithmetic", "[state][escalation]") {
  const EscalationBudget b{3, kHour};
  escalation::BucketLevel empty{0, 1000};
  CHECK(escalation::retry_after_ms(empty, b) == kHour / 3);
  CHECK(escalation::refill(empty, 1000 + kHour / 6, b).tokens == Approx(0.5));
  CHECK(escalation::retry_after_ms(escalation::refill(empty, 1000 + kHour / 6, b), b) ==
        kHour / 6);
  CHECK(escalation::refill(empty, 1000 + 5 * kHour, b).tokens == 3.0);
  // A level "from the future" (clock stepped back) neither grows nor shrinks.
  CHECK(escalation::refill(escalation::BucketLevel{1.5, 5000}, 1000, b).tokens == 1.5);
  CHECK(escalation::has_token(escalation::BucketLevel{1.0, 0}));
  CHECK_FALSE(escalation::has_token(escalation::BucketLevel{0.99, 0}));
}

TEST_CASE("escalation: request_id makes a request idempotent", "[state][escalation]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  auto first = s.request_escalation(a, ask("deploy?", "req-1"));
  const std::int64_t id = granted_id(first);
  CHECK(first.tokens_left == 2);
  CHECK_FALSE(first.replayed);

  auto retry = s.request_escalation(a, ask("deploy?", "req-1"));
  CHECK(granted_id(retry) == id);
  CHECK(retry.replayed);
  CHECK(retry.tokens_left == 2);  // nothing spent
  CHECK(journal_records(s, ops::kEscalate).size() == 1);

  // The replay shows the escalation as it is now.
  REQUIRE(s.resolve_escalation(admin(), decide(id, EscalationDecision::kAbort)).resolved);
  auto later = s.request_escalation(a, ask("deploy?", "req-1"));
  REQUIRE(later.escalation);
  CHECK(later.escalation->resolved);
  CHECK(later.escalation->decision == EscalationDecision::kAbort);

  // The same request_id from another agent is another escalation.
  CHECK(granted_id(s.request_escalation(agent("bob"), ask("deploy?", "req-1"))) != id);
  // A refused request with a request_id records nothing: the retry may be granted.
  s.request_escalation(a, ask("x"));
  s.request_escalation(a, ask("y"));
  CHECK(s.request_escalation(a, ask("z", "req-2")).outcome == EscalationOutcome::kBudgetExhausted);
  env.clock->advance(kHour);
  CHECK_FALSE(s.request_escalation(a, ask("z", "req-2")).replayed);
}

TEST_CASE("escalation: OVERRIDE, MODIFY and ABORT", "[state][escalation]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const Principal human = admin("ann");

  const std::int64_t o = granted_id(s.request_escalation(a, ask("one")));
  const std::int64_t m = granted_id(s.request_escalation(a, ask("two")));
  const std::int64_t x = granted_id(s.request_escalation(a, ask("three")));

  // Agents lack escalation.resolve by default.
  REQUIRE_STORE_ERROR(s.resolve_escalation(a, decide(o, EscalationDecision::kOverride)),
                      ErrorCode::kPermissionDenied);
  // MODIFY needs a proposal; the others refuse one.
  REQUIRE_STORE_ERROR(s.resolve_escalation(human, decide(m, EscalationDecision::kModify)),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.resolve_escalation(human, decide(m, EscalationDecision::kModify,
                                                         json::value(nullptr))),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.resolve_escalation(human, decide(o, EscalationDecision::kOverride,
                                                         json::value(1))),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.resolve_escalation(human, decide(999, EscalationDecision::kAbort)),
                      ErrorCode::kNotFound);

  env.clock->advance(5);
  auto ro = s.resolve_escalation(human, decide(o, EscalationDecision::kOverride));
  CHECK(ro.resolved);
  CHECK(ro.escalation.decision == EscalationDecision::kOverride);
  CHECK(ro.escalation.resolved_proposal == json::object{{"command", "rm -rf gen"}});
  CHECK(ro.escalation.resolver == "ann");
  CHECK(ro.escalation.resolved_via == "test");
  CHECK(ro.escalation.resolved_at_ms == env.clock->now_ms());

  auto rm = s.resolve_escalation(
      human, decide(m, EscalationDecision::kModify, json::object{{"command", "rm -rf gen/tmp"}}));
  CHECK(rm.resolved);
  CHECK(rm.escalation.decision == EscalationDecision::kModify);
  CHECK(rm.escalation.resolved_proposal == json::object{{"command", "rm -rf gen/tmp"}});
  CHECK(rm.escalation.proposal == json::object{{"command", "rm -rf gen"}});  // original kept

  auto rx = s.resolve_escalation(human, decide(x, EscalationDecision::kAbort));
  CHECK(rx.resolved);
  CHECK(rx.escalation.resolved_proposal.is_null());

  auto resolves = journal_records(s, ops::kResolve);
  REQUIRE(resolves.size() == 3);
  CHECK(resolves[1].subject == "escalation:" + std::to_string(m));
  CHECK(resolves[1].principal == "ann");
  const json::value p = json::parse(resolves[1].payload);
  CHECK(p.at("decision") == "MODIFY");
  CHECK(p.at("agent") == "alice");
  CHECK(s.get_escalation(a, m).decision == EscalationDecision::kModify);
}

TEST_CASE("escalation: two resolvers at once, exactly one wins", "[state][escalation]") {
  StoreEnv env;
  // A second store on the same directory stands for a second process (the CLI).
  auto other = open_test_store(env.options());
  for (int round = 0; round < 10; ++round) {
    const std::int64_t id = granted_id(env.store->request_escalation(admin("bot" + std::to_string(round)), ask()));
    std::atomic<int> go{0};
    ResolveEscalationResult r1, r2;
    TestThread t1([&] {
      ++go;
      while (go < 2) {
      }
      r1 = env.store->resolve_escalation(admin("ann"), decide(id, EscalationDecision::kOverride));
    });
    TestThread t2([&] {
      ++go;
      while (go < 2) {
      }
      r2 = other->resolve_escalation(admin("bob"), decide(id, EscalationDecision::kAbort));
    });
    t1.join();
    t2.join();
    REQUIRE(r1.resolved != r2.resolved);
    const auto& winner = r1.resolved ? r1 : r2;
    const auto& loser = r1.resolved ? r2 : r1;
    // The loser sees the winner's resolution.
    CHECK(loser.escalation.decision == winner.escalation.decision);
    CHECK(loser.escalation.resolver == winner.escalation.resolver);
  }
  CHECK(journal_records(*env.store, ops::kResolve).size() == 10);
  CHECK(env.store->journal_verify(admin()).ok);
}

TEST_CASE("escalation: a pending escalation survives a restart", "[state][escalation]") {
  StoreEnv env;
  const Principal a = agent("alice");
  const std::int64_t id = granted_id(env.store->request_escalation(a, ask("keep me", "r1")));
  env.reopen();
  Escalation e = env.store->get_escalation(a, id);
  CHECK_FALSE(e.resolved);
  CHECK(e.reason == "keep me");
  CHECK(e.context == json::object{{"file", "/proj/gen"}});
  CHECK(e.impact == EscalationImpact::kHigh);
  // The bucket survived too: two tokens left, and the request_id still replays.
  auto replay = env.store->request_escalation(a, ask("keep me", "r1"));
  CHECK(replay.replayed);
  CHECK(replay.tokens_left == 2);
  const std::int64_t next = granted_id(env.store->request_escalation(a, ask()));
  CHECK(next > id);
  CHECK(env.store->resolve_escalation(admin(), decide(id, EscalationDecision::kOverride)).resolved);
  env.reopen();
  CHECK(env.store->get_escalation(a, id).resolved);
}

TEST_CASE("escalation: waiting for a resolution", "[state][escalation]") {
  using namespace std::chrono;
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const std::int64_t id = granted_id(s.request_escalation(a, ask()));

  SECTION("times out pending") {
    const auto t0 = steady_clock::now();
    Escalation e = s.wait_escalation(a, id, 300);
    const auto ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();
    CHECK_FALSE(e.resolved);
    CHECK(ms >= 300);
    CHECK(ms < 1500);
  }
  SECTION("wakes at once on a resolution in this process") {
    TestThread resolver([&] {
      std::this_thread::sleep_for(milliseconds(50));
      s.resolve_escalation(admin(), decide(id, EscalationDecision::kAbort));
    });
    const auto t0 = steady_clock::now();
    Escalation e = s.wait_escalation(a, id, 10'000);
    const auto ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();
    resolver.join();
    CHECK(e.resolved);
    CHECK(e.decision == EscalationDecision::kAbort);
    CHECK(ms < 175);  // 50 ms + scheduling: the 200 ms poll did not have to fire
  }
  SECTION("sees a resolution by another process within its poll") {
    auto other = open_test_store(env.options());
    TestThread resolver([&] {
      std::this_thread::sleep_for(milliseconds(100));
      other->resolve_escalation(admin(), decide(id, EscalationDecision::kOverride));
    });
    const auto t0 = steady_clock::now();
    Escalation e = s.wait_escalation(a, id, 10'000);
    const auto ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();
    resolver.join();
    CHECK(e.resolved);
    CHECK(ms < 1000);
  }
  SECTION("cancellation and bad waits") {
    std::atomic<bool> stop{false};
    TestThread canceller([&] {
      std::this_thread::sleep_for(milliseconds(100));
      stop = true;
    });
    REQUIRE_STORE_ERROR(s.wait_escalation(a, id, 10'000, [&] { return stop.load(); }),
                        ErrorCode::kCancelled);
    canceller.join();
    REQUIRE_STORE_ERROR(s.wait_escalation(a, id, -1), ErrorCode::kInvalidArgument);
    REQUIRE_STORE_ERROR(s.wait_escalation(a, id, 11 * 60 * 1000), ErrorCode::kInvalidArgument);
    REQUIRE_STORE_ERROR(s.wait_escalation(a, id + 100, 0), ErrorCode::kNotFound);
  }
}

TEST_CASE("escalation: list pages newest first, filtered by status and project",
          "[state][escalation]") {
  StoreEnv env;
  const Principal bot = admin("bot");
  env.close();
  StoreOptions o = env.options();
  o.escalation_budget = EscalationBudget{100, kHour};
  env.store = open_test_store(o);
  Store& st = *env.store;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(granted_id(st.request_escalation(bot, ask("q" + std::to_string(i)))));
  st.resolve_escalation(bot, decide(ids[1], EscalationDecision::kAbort));
  st.resolve_escalation(bot, decide(ids[4], EscalationDecision::kAbort));
  granted_id(st.request_escalation(admin("bot", "/other"), ask("elsewhere")));

  EscalationListRequest all;
  all.limit = 3;
  std::vector<std::int64_t> seen;
  for (int page = 0; page < 10; ++page) {
    auto r = st.list_escalations(bot, all);
    for (const auto& e : r.escalations) seen.push_back(e.id);
    if (r.next_cursor.empty()) break;
    all.cursor = r.next_cursor;
  }
  CHECK(seen == std::vector<std::int64_t>(ids.rbegin(), ids.rend()));

  EscalationListRequest pending;
  pending.resolved = false;
  auto p = st.list_escalations(bot, pending);
  CHECK(p.escalations.size() == 5);
  CHECK(p.next_cursor.empty());
  EscalationListRequest done;
  done.resolved = true;
  auto d = st.list_escalations(bot, done);
  REQUIRE(d.escalations.size() == 2);
  CHECK(d.escalations[0].id == ids[4]);

  // Another project's escalation is invisible here.
  REQUIRE_STORE_ERROR(st.get_escalation(bot, ids.back() + 1), ErrorCode::kNotFound);
  EscalationListRequest bad;
  bad.cursor = "abc";
  REQUIRE_STORE_ERROR(st.list_escalations(bot, bad), ErrorCode::kInvalidArgument);
  bad.cursor.clear();
  bad.limit = 501;
  REQUIRE_STORE_ERROR(st.list_escalations(bot, bad), ErrorCode::kInvalidArgument);
  Principal nobody = agent("nobody");
  nobody.capabilities.clear();
  REQUIRE_STORE_ERROR(st.list_escalations(nobody, EscalationListRequest{}),
                      ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(st.request_escalation(nobody, ask()), ErrorCode::kPermissionDenied);
}

TEST_CASE("escalation: bad requests are refused with the field named", "[state][escalation]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  auto expect = [&](EscalationRequest r, const std::string& field) {
    try {
      s.request_escalation(a, r);
      FAIL("accepted a bad request: " << field);
    } catch (const StoreError& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains(field));
    }
  };
  expect(ask(""), "reason");
  expect(ask(std::string(5000, 'x')), "reason");
  auto big = ask();
  big.proposal = std::string(70'000, 'p');
  expect(big, "proposal");
  auto rid = ask();
  rid.request_id = "";
  expect(rid, "request_id");
  // Nothing was spent on them.
  CHECK(s.request_escalation(a, ask()).tokens_left == 2);
}
