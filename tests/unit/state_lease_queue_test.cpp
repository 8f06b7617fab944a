// The all-or-nothing decision and the fair queue of issue 18
// (state/lease_queue.h): decide(), grant(), rank and blocking. Pure
// functions, no store.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "state/journal.h"
#include "state/lease_queue.h"
#include "state/lease_rules.h"
#include "state_lease_rules_test_util.h"

using namespace keel::state;
using namespace keel::state::lease_rules_testing;

// ------------------------------------------------------------ decisions

TEST_CASE("lease decide: opposite-order names decide the same", "[state][lease_rules]") {
  const std::vector<LeaseInfo> live{hold("L1", "file:/b", "bob")};
  const lq::Decision ab = decide("alice", req({"file:/a", "file:/b"}), live);
  const lq::Decision ba = decide("alice", req({"file:/b", "file:/a"}), live);
  CHECK_FALSE(ab.granted);
  CHECK_FALSE(ba.granted);
  CHECK(ab.refusal == LeaseRefusal::kHeld);
  CHECK(ids(ab.holders) == ids(ba.holders));
  CHECK(ids(ab.holders) == std::vector<std::string>{"L1"});

  const lq::Decision free_ab = decide("alice", req({"file:/a", "file:/c"}), live);
  const lq::Decision free_ba = decide("alice", req({"file:/c", "file:/a"}), live);
  REQUIRE(free_ab.granted);
  REQUIRE(free_ba.granted);
  REQUIRE(free_ab.plan.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(free_ab.plan[i].name == free_ba.plan[i].name);
    CHECK(free_ab.plan[i].step == free_ba.plan[i].step);
  }
  CHECK(free_ab.plan[0].name == "file:/a");
}

TEST_CASE("lease decide: all or nothing, every holder in the way is listed",
          "[state][lease_rules]") {
  const std::vector<LeaseInfo> live{hold("L1", "file:/a", "bob", LeaseMode::kShared),
                                    hold("L2", "dir:/d/", "carol"),
                                    hold("L3", "file:/free", "dave", LeaseMode::kShared)};
  const lq::Decision d = decide("alice", req({"file:/a", "file:/d/x", "file:/z"}), live);
  CHECK_FALSE(d.granted);
  CHECK(d.plan.empty());
  CHECK(d.refusal == LeaseRefusal::kHeld);
  CHECK(ids(d.holders) == std::vector<std::string>{"L1", "L2"});
  CHECK(d.tokens_needed() == 0);

  // Shared with shared coexists; a dir: hold in the way of a file under it.
  const lq::Decision shared =
      decide("alice", req({"file:/a", "file:/free"}, LeaseMode::kShared), live);
  CHECK(shared.granted);
  const lq::Decision under = decide("alice", req({"file:/d/x/y"}, LeaseMode::kShared), live);
  CHECK(under.refusal == LeaseRefusal::kHeld);
}

TEST_CASE("lease decide: own holds are reused and never conflict", "[state][lease_rules]") {
  const std::vector<LeaseInfo> live{hold("L1", "file:/a", "alice"),
                                    hold("L2", "dir:/d/", "alice", LeaseMode::kShared)};
  // Overlapping names within one request, and overlapping own holds.
  const lq::Decision d = decide("alice", req({"file:/a", "dir:/d/", "file:/d/x"}), live);
  REQUIRE(d.granted);
  REQUIRE(d.plan.size() == 3);
  CHECK(d.plan[0].name == "dir:/d/");
  CHECK(d.plan[0].step == lq::Step::kUpgrade);  // alice's only hold there is shared
  CHECK(d.plan[0].held.lease_id == "L2");
  CHECK(d.plan[1].name == "file:/a");
  CHECK(d.plan[1].step == lq::Step::kReuse);
  CHECK(d.plan[1].held.lease_id == "L1");
  CHECK(d.plan[2].step == lq::Step::kNew);
  CHECK(d.tokens_needed() == 2);

  // An exclusive hold answers a shared request.
  const lq::Decision s = decide("alice", req({"file:/a"}, LeaseMode::kShared), live);
  REQUIRE(s.granted);
  CHECK(s.plan[0].step == lq::Step::kReuse);
}

TEST_CASE("lease decide: upgrade only when the caller is the only holder",
          "[state][lease_rules]") {
  std::vector<LeaseInfo> live{hold("L1", "file:/a", "alice", LeaseMode::kShared)};
  lq::Decision d = decide("alice", req({"file:/a"}), live);
  REQUIRE(d.granted);
  CHECK(d.plan[0].step == lq::Step::kUpgrade);

  live.push_back(hold("L2", "file:/a", "bob", LeaseMode::kShared));
  d = decide("alice", req({"file:/a"}), live);
  CHECK_FALSE(d.granted);
  CHECK(d.refusal == LeaseRefusal::kHeld);
  CHECK(ids(d.holders) == std::vector<std::string>{"L2"});

  // Someone else's shared hold on a dir above the name is in the way too.
  live.pop_back();
  live.push_back(hold("L3", "dir:/", "bob", LeaseMode::kShared));
  d = decide("alice", req({"file:/a"}), live);
  CHECK(d.refusal == LeaseRefusal::kHeld);
  CHECK(ids(d.holders) == std::vector<std::string>{"L3"});
}

TEST_CASE("lease grant: tokens ascend in canonical order, one group, payloads",
          "[state][lease_rules]") {
  const std::vector<LeaseInfo> live{hold("L1", "file:/b", "alice"),
                                    hold("L2", "file:/c", "alice", LeaseMode::kShared, 1, 7)};
  AcquireRequest r = req({"file:/d", "file:/c", "file:/b", "file:/a"});
  r.reason = "refactor";
  r.request_id = "rq";
  const lq::Decision d = decide("alice", r, live);
  REQUIRE(d.granted);
  const lq::Grant g = lq::grant(d, "alice", r, 100, kNow, "g_0123456789abcdef");
  REQUIRE(g.leases.size() == 4);
  CHECK(g.leases[0].name == "file:/a");
  CHECK(g.leases[0].token == 100);
  CHECK(g.leases[1].lease_id == "L1");  // reused as it stands
  CHECK(g.leases[1].token == 1);
  CHECK(g.leases[2].lease_id == "L2");  // upgraded in place
  CHECK(g.leases[2].mode == LeaseMode::kExclusive);
  CHECK(g.leases[2].token == 101);
  CHECK(g.leases[2].ttl_ms == r.ttl_ms);
  CHECK(g.leases[2].expires_at_ms == kNow + r.ttl_ms);
  CHECK(g.leases[2].acquired_at_ms == live[1].acquired_at_ms);
  CHECK(g.leases[2].group_id.empty());  // keeps its group
  CHECK(g.leases[3].name == "file:/d");
  CHECK(g.leases[3].token == 102);
  CHECK(g.leases[0].group_id == "g_0123456789abcdef");
  CHECK(g.leases[3].group_id == "g_0123456789abcdef");
  CHECK(g.leases[0].lease_id != g.leases[3].lease_id);
  CHECK(ids(g.inserted) == std::vector<std::string>{g.leases[0].lease_id, g.leases[3].lease_id});
  CHECK(ids(g.upgraded) == std::vector<std::string>{"L2"});
  REQUIRE(g.records.size() == 3);
  CHECK(g.records[0].op == ops::kAcquire);
  CHECK(g.records[0].subject == "file:/a");
  CHECK(g.records[0].payload.at("reason") == "refactor");
  CHECK(g.records[0].payload.at("request_id") == "rq");
  CHECK(g.records[0].payload.at("group_id") == "g_0123456789abcdef");
  CHECK(g.records[0].payload.at("units") == 1);
  CHECK_FALSE(g.records[0].payload.contains("capacity"));
  CHECK(lease_from_json(g.records[0].payload) == g.leases[0]);
  CHECK(g.records[1].op == ops::kUpgrade);
  CHECK(lease_from_json(g.records[1].payload) == g.leases[2]);
  CHECK(g.records[2].op == ops::kAcquire);
  CHECK_FALSE(g.already_held);
  const AcquireResult res = g.result();
  CHECK(res.granted);
  CHECK(res.upgraded);
  CHECK_FALSE(res.already_held);
  REQUIRE(res.lease);
  CHECK(*res.lease == g.leases[0]);
  CHECK(res.leases == g.leases);
}

TEST_CASE("lease grant: already_held only when every name was held", "[state][lease_rules]") {
  const std::vector<LeaseInfo> live{hold("L1", "file:/a", "alice"), hold("L2", "file:/b", "alice")};
  AcquireRequest both = req({"file:/a", "file:/b"});
  lq::Grant g = lq::grant(decide("alice", both, live), "alice", both, 5, kNow, "g_x");
  CHECK(g.already_held);
  CHECK(g.records.empty());
  CHECK(g.inserted.empty());
  CHECK(g.result().already_held);
  CHECK_FALSE(g.result().upgraded);
  AcquireRequest more = req({"file:/a", "file:/c"});
  g = lq::grant(decide("alice", more, live), "alice", more, 5, kNow, "g_x");
  CHECK_FALSE(g.already_held);
  CHECK(g.records.size() == 1);
}

// ------------------------------------------------------------ counted names

TEST_CASE("lease decide: counted capacity arithmetic", "[state][lease_rules]") {
  const lr::Capacities counted{{"slot:build", 4}};
  std::vector<LeaseInfo> live{hold("L1", "slot:build", "bob", LeaseMode::kExclusive, 2),
                              hold("L2", "slot:build", "carol", LeaseMode::kShared, 1)};
  // used 3: one more unit fits, two do not.
  lq::Decision d = decide("alice", req({"slot:build"}, LeaseMode::kExclusive, 1), live, counted);
  REQUIRE(d.granted);
  CHECK(d.plan[0].step == lq::Step::kNew);
  CHECK(d.plan[0].capacity == 4);
  d = decide("alice", req({"slot:build"}, LeaseMode::kShared, 2), live, counted);
  CHECK_FALSE(d.granted);
  CHECK(d.refusal == LeaseRefusal::kCapacity);
  CHECK(d.counted == std::vector<LeaseCapacity>{{"slot:build", 4, 3}});
  CHECK(ids(d.holders) == std::vector<std::string>{"L1", "L2"});

  // The caller's own units count too; an own hold with enough units answers.
  live.push_back(hold("L3", "slot:build", "alice", LeaseMode::kShared, 1));
  d = decide("alice", req({"slot:build"}, LeaseMode::kExclusive, 1), live, counted);
  REQUIRE(d.granted);
  CHECK(d.plan[0].step == lq::Step::kReuse);  // mode ignored on counted names
  CHECK(d.plan[0].held.lease_id == "L3");
  d = decide("alice", req({"slot:build"}, LeaseMode::kExclusive, 2), live, counted);
  CHECK(d.refusal == LeaseRefusal::kCapacity);
  CHECK(d.counted == std::vector<LeaseCapacity>{{"slot:build", 4, 4}});
  CHECK(ids(d.holders) == std::vector<std::string>{"L1", "L2", "L3"});
}

TEST_CASE("lease decide: counted names ignore modes, held beats capacity in the refusal",
          "[state][lease_rules]") {
  const lr::Capacities counted{{"slot:gpu", 2}};
  const std::vector<LeaseInfo> live{hold("L1", "slot:gpu", "bob", LeaseMode::kExclusive, 1),
                                    hold("L2", "file:/x", "carol")};
  // bob's "exclusive" unit leaves one free unit to anyone.
  lq::Decision d = decide("alice", req({"slot:gpu"}), live, counted);
  CHECK(d.granted);
  d = decide("alice", req({"slot:gpu", "file:/x"}, LeaseMode::kExclusive, 1), live,
             lr::Capacities{{"slot:gpu", 1}});
  CHECK(d.refusal == LeaseRefusal::kHeld);
  CHECK(d.counted == std::vector<LeaseCapacity>{{"slot:gpu", 1, 1}});
  // Holders come in the canonical order of the names they stand in the way of.
  CHECK(ids(d.holders) == std::vector<std::string>{"L2", "L1"});
}

TEST_CASE("lease grant: counted leases carry units and the capacity in ACQUIRE",
          "[state][lease_rules]") {
  const lr::Capacities counted{{"slot:build", 4}};
  AcquireRequest r = req({"slot:build"}, LeaseMode::kShared, 3);
  const lq::Decision d = decide("alice", r, {}, counted);
  REQUIRE(d.granted);
  const lq::Grant g = lq::grant(d, "alice", r, 9, kNow, "g_1");
  REQUIRE(g.records.size() == 1);
  CHECK(g.leases[0].units == 3);
  CHECK(g.records[0].payload.at("units") == 3);
  CHECK(g.records[0].payload.at("capacity") == 4);
}

// ------------------------------------------------------------ the queue

TEST_CASE("lease queue: rank and priority aging", "[state][lease_rules]") {
  CHECK(lq::rank_ms(kNow, 0) == kNow);
  CHECK(lq::rank_ms(kNow, 3) == kNow - 3 * kLeasePriorityStepMs);
  CHECK(lq::rank_ms(kNow, -2) == kNow + 2 * kLeasePriorityStepMs);
  // A priority-2 waiter arriving 19.999 s after a priority-0 one is served
  // first; arriving 20 s after, it ties on rank and loses on seq.
  const lq::QueuedWaiter early = waiter("w1", "a", {"x"}, kNow, 1);
  const lq::QueuedWaiter soon = waiter("w2", "b", {"x"}, kNow + 2 * kLeasePriorityStepMs - 1, 2,
                                       LeaseMode::kExclusive, 2);
  const lq::QueuedWaiter late = waiter("w3", "c", {"x"}, kNow + 2 * kLeasePriorityStepMs, 3,
                                       LeaseMode::kExclusive, 2);
  CHECK(lq::ranked_before(soon, early));
  CHECK(lq::ranked_before(early, late));
  std::vector<lq::QueuedWaiter> v{late, early, soon};
  lq::sort_waiters(v);
  CHECK(v[0].waiter.waiter_id == "w2");
  CHECK(v[1].waiter.waiter_id == "w1");
  CHECK(v[2].waiter.waiter_id == "w3");
  CHECK(lq::alive_until(kNow) == kNow + kLeaseWaiterLivenessMs);

  AcquireRequest r = req({"file:/b", "file:/a"});
  r.priority = -3;
  r.units = 1;
  const LeaseWaiter w = lq::new_waiter("alice", lr::canonical_names(r), r, kNow);
  CHECK(w.waiter_id.rfind("w_", 0) == 0);
  CHECK(w.names == std::vector<std::string>{"file:/a", "file:/b"});
  CHECK(w.rank_ms == kNow + 3 * kLeasePriorityStepMs);
  CHECK(w.enqueued_at_ms == kNow);
  CHECK(w.agent == "alice");
  CHECK(lq::new_waiter("alice", lr::canonical_names(r), r, kNow).waiter_id != w.waiter_id);
}

TEST_CASE("lease queue: names_json round trip", "[state][lease_rules]") {
  const std::vector<std::string> names{"dir:/a/", "file:/a \"q\"", "slot:\xc3\xa9"};
  CHECK(lq::names_from_json(lq::names_to_json(names)) == names);
  CHECK(code_of([] { lq::names_from_json("{\"x\":1}"); }) == ErrorCode::kInternal);
  CHECK(code_of([] { lq::names_from_json("[1]"); }) == ErrorCode::kInternal);
}

TEST_CASE("lease queue: earlier conflicting waiters block, others do not",
          "[state][lease_rules]") {
  const std::vector<lq::QueuedWaiter> q{
      waiter("w1", "bob", {"file:/a"}, kNow - 500, 1),
      waiter("w2", "carol", {"file:/b"}, kNow - 400, 2, LeaseMode::kShared),
      waiter("w3", "dave", {"dir:/c/"}, kNow - 300, 3)};
  // Nothing is held: a free name with an exclusive waiter ahead is refused.
  lq::Decision d = decide("alice", req({"file:/a"}), {}, {}, q);
  CHECK(d.refusal == LeaseRefusal::kQueued);
  CHECK(waiter_ids(d.ahead) == std::vector<std::string>{"w1"});
  CHECK(d.holders.empty());
  // Shared with a shared waiter does not block; exclusive does.
  CHECK(decide("alice", req({"file:/b"}, LeaseMode::kShared), {}, {}, q).granted);
  d = decide("alice", req({"file:/b"}), {}, {}, q);
  CHECK(waiter_ids(d.ahead) == std::vector<std::string>{"w2"});
  // Overlap through a dir: waiter; every blocker listed, by rank.
  d = decide("alice", req({"file:/c/x", "file:/a", "file:/b"}), {}, {}, q);
  CHECK(waiter_ids(d.ahead) == std::vector<std::string>{"w1", "w2", "w3"});
  // No overlap, no block.
  CHECK(decide("alice", req({"file:/z"}), {}, {}, q).granted);
}

TEST_CASE("lease queue: a waiter's own row and rank decide who is ahead",
          "[state][lease_rules]") {
  std::vector<lq::QueuedWaiter> q{waiter("w1", "bob", {"file:/a"}, kNow - 500, 1),
                                  waiter("w2", "alice", {"file:/a"}, kNow - 400, 2),
                                  waiter("w3", "carol", {"file:/a"}, kNow - 300, 3)};
  // alice's row w2 is behind w1 only; w3 (later) never blocks her.
  lq::Decision d = decide("alice", req({"file:/a"}), {}, {}, q, "w2");
  CHECK(waiter_ids(d.ahead) == std::vector<std::string>{"w1"});
  // Once w1 is gone (served, gave up, or dead), alice is first.
  q[0].alive_until_ms = kNow;  // dead rows are ignored
  d = decide("alice", req({"file:/a"}), {}, {}, q, "w2");
  CHECK(d.granted);
  // Equal rank: the lower seq is first; a request without a row comes after.
  std::vector<lq::QueuedWaiter> tie{waiter("w9", "bob", {"file:/a"}, kNow, 9)};
  d = decide("alice", req({"file:/a"}), {}, {}, tie);
  CHECK(waiter_ids(d.ahead) == std::vector<std::string>{"w9"});
  std::vector<lq::QueuedWaiter> tie2{waiter("w9", "bob", {"file:/a"}, kNow, 9),
                                     waiter("w8", "alice", {"file:/a"}, kNow, 8)};
  CHECK(decide("alice", req({"file:/a"}), {}, {}, tie2, "w8").granted);
  // Priority: a later arrival of higher priority overtakes.
  AcquireRequest urgent = req({"file:/a"});
  urgent.priority = 1;
  std::vector<lq::QueuedWaiter> older{waiter("w1", "bob", {"file:/a"}, kNow - 9'999, 1)};
  CHECK(decide("alice", urgent, {}, {}, older).granted);
  older[0] = waiter("w1", "bob", {"file:/a"}, kNow - 10'001, 1);
  CHECK(decide("alice", urgent, {}, {}, older).refusal == LeaseRefusal::kQueued);
}

TEST_CASE("lease queue: counted names always conflict in the queue", "[state][lease_rules]") {
  const lr::Capacities counted{{"slot:build", 4}};
  const std::vector<lq::QueuedWaiter> q{
      waiter("w1", "bob", {"slot:build"}, kNow - 500, 1, LeaseMode::kShared)};
  // Three units are free, but bob queued first (for any number of units).
  const lq::Decision d =
      decide("alice", req({"slot:build"}, LeaseMode::kShared, 1), {}, counted, q);
  CHECK(d.refusal == LeaseRefusal::kQueued);
  CHECK(waiter_ids(d.ahead) == std::vector<std::string>{"w1"});
  CHECK(lq::requests_conflict({"slot:build"}, LeaseMode::kShared, {"slot:build"},
                              LeaseMode::kShared, counted));
  CHECK_FALSE(lq::requests_conflict({"slot:build"}, LeaseMode::kShared, {"slot:build"},
                                    LeaseMode::kShared, {}));
}

TEST_CASE("lease queue: names the caller already holds are not queued for",
          "[state][lease_rules]") {
  const std::vector<LeaseInfo> live{hold("L1", "file:/a", "alice")};
  const std::vector<lq::QueuedWaiter> q{waiter("w1", "bob", {"file:/a"}, kNow - 500, 1)};
  const lq::Decision d = decide("alice", req({"file:/a"}), live, {}, q);
  REQUIRE(d.granted);
  CHECK(d.plan[0].step == lq::Step::kReuse);
}

TEST_CASE("lease queue: an upgrade is not stuck behind a waiter its own hold blocks",
          "[state][lease_rules]") {
  // alice holds file:/a shared; bob waits for it exclusively (blocked by
  // alice); alice upgrading must not wait for bob, who waits for her.
  const std::vector<LeaseInfo> live{hold("L1", "file:/a", "alice", LeaseMode::kShared)};
  const std::vector<lq::QueuedWaiter> q{waiter("w1", "bob", {"file:/a"}, kNow - 500, 1)};
  lq::Decision d = decide("alice", req({"file:/a"}), live, {}, q);
  REQUIRE(d.granted);
  CHECK(d.plan[0].step == lq::Step::kUpgrade);
  // A shared waiter is not blocked by alice's shared hold: it stays ahead.
  const std::vector<lq::QueuedWaiter> shared{
      waiter("w2", "carol", {"file:/a"}, kNow - 500, 1, LeaseMode::kShared)};
  d = decide("alice", req({"file:/a"}), live, {}, shared);
  CHECK(d.refusal == LeaseRefusal::kQueued);
}

TEST_CASE("lease queue: refusal_result carries the decision", "[state][lease_rules]") {
  const std::vector<lq::QueuedWaiter> q{waiter("w1", "bob", {"file:/a"}, kNow - 500, 1)};
  const AcquireResult r = lq::refusal_result(decide("alice", req({"file:/a"}), {}, {}, q));
  CHECK_FALSE(r.granted);
  CHECK(r.refusal == LeaseRefusal::kQueued);
  CHECK(waiter_ids(r.ahead) == std::vector<std::string>{"w1"});
  CHECK_FALSE(r.lease);
}
