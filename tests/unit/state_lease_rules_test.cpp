// The backend-neutral lease rules of issue 18 (state/lease_rules.h,
// state/lease_queue.h) and the journal's fold of the new ops: pure
// functions, no store.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "state/journal.h"
#include "state/lease_queue.h"
#include "state/lease_rules.h"

using namespace keel::state;
namespace json = boost::json;
namespace lr = keel::state::lease_rules;
namespace lq = keel::state::lease_queue;

namespace {

constexpr std::int64_t kNow = 1'000'000;

LeaseInfo hold(const std::string& id, const std::string& name, const std::string& holder,
               LeaseMode mode = LeaseMode::kExclusive, std::int64_t units = 1,
               std::int64_t token = 1) {
  LeaseInfo l;
  l.lease_id = id;
  l.name = name;
  l.holder = holder;
  l.mode = mode;
  l.token = token;
  l.ttl_ms = 60'000;
  l.acquired_at_ms = kNow - 1000;
  l.expires_at_ms = kNow + 59'000;
  l.units = units;
  return l;
}

AcquireRequest req(std::vector<std::string> names, LeaseMode mode = LeaseMode::kExclusive,
                   std::int64_t units = 1) {
  AcquireRequest r;
  if (names.size() == 1) {
    r.name = names[0];
  } else {
    r.names = std::move(names);
  }
  r.ttl_ms = 30'000;
  r.mode = mode;
  r.units = units;
  return r;
}

lq::QueuedWaiter waiter(const std::string& id, const std::string& agent,
                        std::vector<std::string> names, std::int64_t enqueued, std::int64_t seq,
                        LeaseMode mode = LeaseMode::kExclusive, int priority = 0) {
  lq::QueuedWaiter q;
  q.waiter.waiter_id = id;
  q.waiter.agent = agent;
  q.waiter.names = std::move(names);
  q.waiter.mode = mode;
  q.waiter.priority = priority;
  q.waiter.enqueued_at_ms = enqueued;
  q.waiter.rank_ms = lq::rank_ms(enqueued, priority);
  q.seq = seq;
  q.alive_until_ms = kNow + 1000;
  return q;
}

std::vector<std::string> ids(const std::vector<LeaseInfo>& v) {
  std::vector<std::string> out;
  for (const LeaseInfo& l : v) out.push_back(l.lease_id);
  return out;
}

std::vector<std::string> waiter_ids(const std::vector<LeaseWaiter>& v) {
  std::vector<std::string> out;
  for (const LeaseWaiter& w : v) out.push_back(w.waiter_id);
  return out;
}

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.code();
  }
  FAIL("no StoreError thrown");
  return ErrorCode::kInternal;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.what();
  }
  FAIL("no StoreError thrown");
  return {};
}

// decide() with no queue.
lq::Decision decide(const std::string& agent, const AcquireRequest& r,
                    const std::vector<LeaseInfo>& live, const lr::Capacities& counted = {},
                    const std::vector<lq::QueuedWaiter>& waiters = {},
                    const std::string& own_waiter = {}) {
  return lq::decide(agent, r, lr::canonical_names(r), kNow, live, waiters, counted, own_waiter);
}

JournalRecord record(std::int64_t seq, std::string_view op, const json::object& payload) {
  JournalRecord r;
  r.seq = seq;
  r.op = std::string(op);
  r.payload = json::serialize(payload);
  return r;
}

}  // namespace

// ------------------------------------------------------------ arguments

TEST_CASE("lease rules: canonical names are normalized, deduplicated and sorted",
          "[state][lease_rules]") {
  AcquireRequest r = req({"file:/b//x", "slot:a", "file:/a/./y", "file:/b/x"});
  const std::vector<LeaseName> names = lr::canonical_names(r);
  CHECK(lr::name_strings(names) ==
        std::vector<std::string>{"file:/a/y", "file:/b/x", "slot:a"});

  AcquireRequest single = req({"dir:/d"});
  CHECK(lr::name_strings(lr::canonical_names(single)) == std::vector<std::string>{"dir:/d/"});
}

TEST_CASE("lease rules: name and names, exactly one", "[state][lease_rules]") {
  AcquireRequest both = req({"a"});
  both.names = {"b"};
  CHECK(message_of([&] { lr::canonical_names(both); }) == "give name or names, not both");
  AcquireRequest none = req({"a"});
  none.name.clear();
  CHECK(code_of([&] { lr::canonical_names(none); }) == ErrorCode::kInvalidArgument);
  AcquireRequest bad = req({"a", "file:relative"});
  CHECK(code_of([&] { lr::canonical_names(bad); }) == ErrorCode::kInvalidArgument);
}

TEST_CASE("lease rules: at most kMaxLeaseNamesPerAcquire names", "[state][lease_rules]") {
  StoreOptions options;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < kMaxLeaseNamesPerAcquire; ++i) names.push_back("n" + std::to_string(i));
  AcquireRequest ok = req(names);
  lr::check_acquire(ok, options);
  CHECK(lr::canonical_names(ok).size() == kMaxLeaseNamesPerAcquire);
  names.push_back("one-too-many");
  AcquireRequest over = req(names);
  CHECK(code_of([&] { lr::check_acquire(over, options); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { lr::canonical_names(over); }) == ErrorCode::kInvalidArgument);
}

TEST_CASE("lease rules: units, capacity and priority bounds", "[state][lease_rules]") {
  StoreOptions options;
  AcquireRequest r = req({"slot:a"});
  r.units = 0;
  CHECK(code_of([&] { lr::check_acquire(r, options); }) == ErrorCode::kInvalidArgument);
  r.units = 1;
  r.capacity = 0;
  CHECK(code_of([&] { lr::check_acquire(r, options); }) == ErrorCode::kInvalidArgument);
  r.capacity = 1;
  lr::check_acquire(r, options);
  r.priority = kMaxLeasePriority + 1;
  CHECK(code_of([&] { lr::check_acquire(r, options); }) == ErrorCode::kInvalidArgument);
  r.priority = kMinLeasePriority - 1;
  CHECK(code_of([&] { lr::check_acquire(r, options); }) == ErrorCode::kInvalidArgument);
  r.priority = kMinLeasePriority;
  lr::check_acquire(r, options);
  r.priority = kMaxLeasePriority;
  lr::check_acquire(r, options);
}

TEST_CASE("lease rules: capacity only with a single free name", "[state][lease_rules]") {
  AcquireRequest two = req({"slot:a", "slot:b"});
  two.capacity = 2;
  CHECK(code_of([&] { lr::canonical_names(two); }) == ErrorCode::kInvalidArgument);
  AcquireRequest same_twice = req({"slot:a", "slot:a"});
  same_twice.capacity = 2;
  CHECK(lr::canonical_names(same_twice).size() == 1);  // one distinct name
  AcquireRequest file = req({"file:/x"});
  file.capacity = 2;
  CHECK(code_of([&] { lr::canonical_names(file); }) == ErrorCode::kInvalidArgument);
  AcquireRequest dir = req({"dir:/x/"});
  dir.capacity = 2;
  CHECK(code_of([&] { lr::canonical_names(dir); }) == ErrorCode::kInvalidArgument);
}

// ------------------------------------------------------------ capacities

TEST_CASE("lease rules: capacity resolution, config wins then declared then request",
          "[state][lease_rules]") {
  StoreOptions options;
  options.lease_capacities = {{"slot:build", 4}};
  const std::map<std::string, std::int64_t> declared{{"slot:gpu", 2}, {"slot:build", 9}};

  AcquireRequest build = req({"slot:build"}, LeaseMode::kExclusive, 3);
  lr::ResolvedCapacities c = lr::resolve_capacities(lr::canonical_names(build), build, options,
                                                    declared);
  CHECK(c.counted == lr::Capacities{{"slot:build", 4}});  // config over the table's 9
  CHECK_FALSE(c.declare);

  build.capacity = 8;
  CHECK(message_of([&] {
          lr::resolve_capacities(lr::canonical_names(build), build, options, declared);
        }) == "capacity of slot:build is fixed at 4, got 8");
  build.capacity = 4;  // the same value is fine
  CHECK(lr::resolve_capacities(lr::canonical_names(build), build, options, declared)
            .counted.at("slot:build") == 4);

  AcquireRequest gpu = req({"slot:gpu"});
  gpu.capacity = 3;
  CHECK(message_of([&] {
          lr::resolve_capacities(lr::canonical_names(gpu), gpu, options, declared);
        }) == "capacity of slot:gpu is fixed at 2, got 3");
  gpu.capacity.reset();
  CHECK(lr::resolve_capacities(lr::canonical_names(gpu), gpu, options, declared).counted ==
        lr::Capacities{{"slot:gpu", 2}});

  AcquireRequest fresh = req({"slot:new"}, LeaseMode::kShared, 2);
  fresh.capacity = 5;
  c = lr::resolve_capacities(lr::canonical_names(fresh), fresh, options, declared);
  CHECK(c.counted == lr::Capacities{{"slot:new", 5}});
  REQUIRE(c.declare);
  CHECK(*c.declare == LeaseCapacity{"slot:new", 5, 0});
}

TEST_CASE("lease rules: units must fit the capacity, and be 1 elsewhere",
          "[state][lease_rules]") {
  StoreOptions options;
  options.lease_capacities = {{"slot:build", 4}};
  AcquireRequest over = req({"slot:build"}, LeaseMode::kExclusive, 5);
  CHECK(message_of([&] {
          lr::resolve_capacities(lr::canonical_names(over), over, options, {});
        }).find("could never be granted") != std::string::npos);
  AcquireRequest all = req({"slot:build"}, LeaseMode::kExclusive, 4);
  CHECK_NOTHROW(lr::resolve_capacities(lr::canonical_names(all), all, options, {}));

  AcquireRequest plain = req({"file:/x"}, LeaseMode::kExclusive, 2);
  CHECK(code_of([&] {
          lr::resolve_capacities(lr::canonical_names(plain), plain, options, {});
        }) == ErrorCode::kInvalidArgument);
  // Several names with units > 1: every name must be counted.
  AcquireRequest mixed = req({"slot:build", "file:/x"}, LeaseMode::kExclusive, 2);
  CHECK(code_of([&] {
          lr::resolve_capacities(lr::canonical_names(mixed), mixed, options, {});
        }) == ErrorCode::kInvalidArgument);
  AcquireRequest mixed1 = req({"slot:build", "file:/x"});
  CHECK(lr::resolve_capacities(lr::canonical_names(mixed1), mixed1, options, {}).counted ==
        lr::Capacities{{"slot:build", 4}});
}

TEST_CASE("lease rules: a config entry on a file: name never makes it counted",
          "[state][lease_rules]") {
  StoreOptions options;
  options.lease_capacities = {{"file:/x", 3}};
  AcquireRequest r = req({"file:/x"});
  CHECK(lr::resolve_capacities(lr::canonical_names(r), r, options, {}).counted.empty());
}

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
  const lq::Decision shared = decide("alice", req({"file:/a", "file:/free"}, LeaseMode::kShared), live);
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

// ------------------------------------------------------------ idempotency

TEST_CASE("lease rules: args_hash is stable and sensitive", "[state][lease_rules]") {
  AcquireRequest base = req({"file:/b", "file:/a"});
  const std::string h = lr::args_hash(lr::canonical_names(base), base);
  CHECK(h.size() == 64);
  // Spelling, order and duplicates of names, reason and wait_ms do not count.
  AcquireRequest same = req({"file:/a", "file://b", "file:/a"});
  same.reason = "other reason";
  same.wait_ms = 5000;
  CHECK(lr::args_hash(lr::canonical_names(same), same) == h);

  auto differs = [&](const std::function<void(AcquireRequest&)>& change) {
    AcquireRequest r = base;
    change(r);
    return lr::args_hash(lr::canonical_names(r), r) != h;
  };
  CHECK(differs([](AcquireRequest& r) { r.names = {"file:/a"}; }));
  CHECK(differs([](AcquireRequest& r) { r.names.push_back("file:/c"); }));
  CHECK(differs([](AcquireRequest& r) { r.mode = LeaseMode::kShared; }));
  CHECK(differs([](AcquireRequest& r) { r.ttl_ms += 1; }));
  CHECK(differs([](AcquireRequest& r) { r.units = 2; }));
  CHECK(differs([](AcquireRequest& r) { r.priority = 1; }));
  AcquireRequest one = req({"slot:a"});
  AcquireRequest declared = one;
  declared.capacity = 1;
  CHECK(lr::args_hash(lr::canonical_names(one), one) !=
        lr::args_hash(lr::canonical_names(declared), declared));
}

TEST_CASE("lease rules: a request_id with other arguments is refused", "[state][lease_rules]") {
  CHECK_NOTHROW(lr::check_request_args("r1", "abc", "abc"));
  CHECK_NOTHROW(lr::check_request_args("r1", "", "abc"));  // a row from before hashes
  CHECK(message_of([] { lr::check_request_args("r1", "abc", "abd"); }) ==
        "request_id r1 was first used with other arguments");
}

TEST_CASE("lease rules: grant json round trip, and the old single-lease form",
          "[state][lease_rules]") {
  LeaseInfo a = hold("L1", "slot:a", "alice", LeaseMode::kShared, 3, 4);
  a.group_id = "g_1";
  const LeaseInfo b = hold("L2", "file:/b", "alice");
  CHECK(lr::grant_from_json(lr::grant_to_json({a, b})) == std::vector<LeaseInfo>{a, b});
  CHECK(lr::grant_from_json(json::serialize(lease_to_json(b))) == std::vector<LeaseInfo>{b});
  CHECK(code_of([] { lr::grant_from_json("[]"); }) == ErrorCode::kInternal);
  CHECK(code_of([] { lr::grant_from_json("nope"); }) == ErrorCode::kInternal);
}

TEST_CASE("lease rules: replay decisions", "[state][lease_rules]") {
  const LeaseInfo a = hold("L1", "file:/a", "alice");
  const LeaseInfo b = hold("L2", "file:/b", "alice");
  std::map<std::string, std::string> tombstones;
  auto tomb = [&](std::string_view id) {
    const auto it = tombstones.find(std::string(id));
    return it == tombstones.end() ? std::string() : it->second;
  };

  // Both live and alice's: granted, as they stand now (renewed since).
  LeaseInfo renewed = b;
  renewed.expires_at_ms += 10'000;
  AcquireResult r = lr::replay_result({a, b}, {renewed, a}, "alice", tomb);
  CHECK(r.granted);
  CHECK(r.replayed);
  CHECK(r.replay_status == "granted");
  CHECK(r.refusal == LeaseRefusal::kNone);
  CHECK(r.leases == std::vector<LeaseInfo>{a, renewed});
  REQUIRE(r.lease);
  CHECK(*r.lease == a);

  // One released: released, the grant as recorded.
  tombstones["L2"] = "released";
  r = lr::replay_result({a, b}, {a}, "alice", tomb);
  CHECK_FALSE(r.granted);
  CHECK(r.replayed);
  CHECK(r.refusal == LeaseRefusal::kReleased);
  CHECK(r.replay_status == "released");
  CHECK(r.leases == std::vector<LeaseInfo>{a, b});

  // Gone by expiry only: expired.
  tombstones["L2"] = "expired";
  r = lr::replay_result({a, b}, {a}, "alice", tomb);
  CHECK(r.replay_status == "expired");
  CHECK(r.refusal == LeaseRefusal::kReleased);
  tombstones["L1"] = "released";
  r = lr::replay_result({a, b}, {}, "alice", tomb);
  CHECK(r.replay_status == "released");  // one of them was released

  // Moved to another agent (adopted): released, not granted.
  LeaseInfo adopted = b;
  adopted.holder = "bob";
  tombstones.clear();
  r = lr::replay_result({a, b}, {a, adopted}, "alice", tomb);
  CHECK_FALSE(r.granted);
  CHECK(r.replay_status == "released");
  // No tombstone at all (pruned): released.
  r = lr::replay_result({a}, {}, "alice", tomb);
  CHECK(r.replay_status == "released");
}

// ------------------------------------------------------------ ids, asks, downgrade, payloads

TEST_CASE("lease rules: group and ask ids, ask checks and targets", "[state][lease_rules]") {
  const std::string g = lr::new_group_id();
  CHECK(g.size() == 18);
  CHECK(g.rfind("g_", 0) == 0);
  CHECK(g.find_first_not_of("0123456789abcdef", 2) == std::string::npos);
  CHECK(lr::new_group_id() != g);
  CHECK(lr::new_ask_id().rfind("ask_", 0) == 0);
  CHECK(code_of([] { lr::check_group_id(""); }) == ErrorCode::kInvalidArgument);
  CHECK_NOTHROW(lr::check_group_id("g_1"));
  CHECK(code_of([] { lr::check_ask_reason(""); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { lr::check_ask_reason(std::string(1025, 'x')); }) ==
        ErrorCode::kInvalidArgument);
  CHECK_NOTHROW(lr::check_ask_reason(std::string(1024, 'x')));

  const std::vector<LeaseInfo> live{hold("L1", "file:/a", "carol", LeaseMode::kShared),
                                    hold("L2", "file:/a", "bob", LeaseMode::kShared),
                                    hold("L3", "file:/a", "alice", LeaseMode::kShared),
                                    hold("L4", "file:/a", "bob", LeaseMode::kShared),
                                    hold("L5", "dir:/", "dave")};
  CHECK(lr::ask_targets(live, "alice", "file:/a") == std::vector<std::string>{"bob", "carol"});
  CHECK(lr::ask_targets(live, "alice", "file:/zz").empty());
  CHECK(lr::no_one_to_ask("file:/zz").code() == ErrorCode::kNotFound);
}

TEST_CASE("lease rules: downgrade and the new payloads", "[state][lease_rules]") {
  LeaseInfo l = hold("L1", "file:/a", "alice");
  l.group_id = "g_7";
  const LeaseInfo d = lr::downgraded(l, 42);
  CHECK(d.mode == LeaseMode::kShared);
  CHECK(d.token == 42);
  CHECK(d.lease_id == l.lease_id);
  CHECK(d.expires_at_ms == l.expires_at_ms);
  CHECK(d.group_id == "g_7");
  CHECK(lease_from_json(lr::downgrade_payload(d)) == d);
  CHECK(lease_from_json(lr::upgrade_payload(l)) == l);

  const json::object ask = lr::ask_release_payload("file:/a", "need it", {"bob", "carol"});
  CHECK(ask.at("name") == "file:/a");
  CHECK(ask.at("reason") == "need it");
  CHECK(ask.at("holders") == json::array{"bob", "carol"});

  AcquireRequest r = req({"file:/b", "file:/a"});
  r.wait_ms = 10;
  const std::vector<lq::QueuedWaiter> q{waiter("w1", "bob", {"file:/a"}, kNow - 500, 1)};
  AcquireResult res = lq::refusal_result(decide("alice", r, {}, {}, q));
  res.timed_out = true;
  res.waited_ms = 10;
  const json::object refuse = lr::refuse_payload(lr::canonical_names(r), r, res);
  CHECK(refuse.at("name") == "file:/a");
  CHECK(refuse.at("names") == json::array{"file:/a", "file:/b"});
  CHECK(refuse.at("refusal") == "queued");
  CHECK(refuse.at("ahead").as_array().size() == 1);
  CHECK(refuse.at("ahead").as_array()[0].at("waiter_id") == "w1");
  CHECK(refuse.at("timed_out") == true);
  CHECK(refuse.at("waited_ms") == 10);
}

// ------------------------------------------------------------ journal fold

TEST_CASE("lease fold: UPGRADE and DOWNGRADE replace the lease, ASK_RELEASE changes nothing",
          "[state][lease_rules][journal]") {
  LeaseInfo l = hold("L1", "file:/a", "alice", LeaseMode::kShared, 1, 3);
  l.group_id = "g_1";
  LeaseFold fold;
  CHECK_FALSE(fold.apply(record(1, ops::kAcquire, lease_to_json(l))));
  LeaseInfo up = l;
  up.mode = LeaseMode::kExclusive;
  up.token = 4;
  up.expires_at_ms += 5;
  CHECK_FALSE(fold.apply(record(2, ops::kUpgrade, lr::upgrade_payload(up))));
  CHECK(fold.leases().at("L1") == up);
  CHECK_FALSE(fold.apply(record(3, ops::kAskRelease,
                                lr::ask_release_payload("file:/a", "please", {"alice"}))));
  CHECK(fold.leases().at("L1") == up);
  const LeaseInfo down = lr::downgraded(up, 5);
  CHECK_FALSE(fold.apply(record(4, ops::kDowngrade, lr::downgrade_payload(down))));
  CHECK(fold.leases().at("L1") == down);
  CHECK(fold.leases().size() == 1);

  LeaseInfo ghost = hold("L9", "file:/g", "bob");
  const auto problem = fold.apply(record(5, ops::kUpgrade, lr::upgrade_payload(ghost)));
  REQUIRE(problem);
  CHECK(problem->find("upgrade of an unknown lease") != std::string::npos);
  CHECK(fold.apply(record(6, ops::kDowngrade, lr::downgrade_payload(ghost))));
  CHECK(fold.apply(record(7, ops::kAskRelease, json::object{{"reason", "x"}})));
  CHECK(fold.leases().size() == 1);
}

TEST_CASE("lease fold: records and checkpoints without units or group_id still fold",
          "[state][lease_rules][journal]") {
  json::object old = lease_to_json(hold("L1", "file:/a", "alice"));
  old.erase("units");
  old.erase("group_id");
  const LeaseInfo parsed = lease_from_json(old);
  CHECK(parsed.units == 1);
  CHECK(parsed.group_id.empty());

  LeaseFold fold;
  CHECK_FALSE(fold.apply(record(1, ops::kAcquire, old)));
  CHECK(fold.leases().at("L1") == parsed);

  Checkpoint c;
  c.folded_through_seq = 10;
  c.anchor_hash = std::string(64, 'a');
  c.leases = {hold("L2", "slot:x", "bob", LeaseMode::kShared, 3)};
  c.leases[0].group_id = "g_2";
  json::object cp = checkpoint_to_json(c);
  const std::optional<Checkpoint> back = checkpoint_from_payload(json::serialize(cp));
  REQUIRE(back);
  CHECK(back->leases == c.leases);  // the new fields survive compaction
  cp.at("leases").as_array()[0].as_object().erase("units");
  cp.at("leases").as_array()[0].as_object().erase("group_id");
  CHECK_FALSE(fold.apply(record(11, ops::kCheckpoint, cp)));
  REQUIRE(fold.leases().count("L2") == 1);
  CHECK(fold.leases().at("L2").units == 1);
  CHECK(fold.leases().at("L2").group_id.empty());

  json::object bad = lease_to_json(hold("L3", "file:/b", "alice"));
  bad["units"] = "three";
  CHECK(fold.apply(record(12, ops::kAcquire, bad)));
}

TEST_CASE("journal: the store-written lease ops cannot be appended by callers",
          "[state][lease_rules][journal]") {
  for (const std::string_view op : {ops::kUpgrade, ops::kDowngrade, ops::kAskRelease}) {
    CHECK(code_of([&] { check_append_op(op); }) == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("journal: replay compares units and group_id", "[state][lease_rules][journal]") {
  LeaseInfo l = hold("L1", "slot:a", "alice", LeaseMode::kShared, 2);
  l.group_id = "g_1";
  LeaseFold fold;
  REQUIRE_FALSE(fold.apply(record(1, ops::kAcquire, lease_to_json(l))));
  CHECK(compare_replay(fold, {}, {l}, kNow).equal);
  LeaseInfo other_units = l;
  other_units.units = 3;
  ReplayReport rep = compare_replay(fold, {}, {other_units}, kNow);
  CHECK_FALSE(rep.equal);
  REQUIRE(rep.differences.size() == 1);
  CHECK(rep.differences[0].find("units") != std::string::npos);
  LeaseInfo other_group = l;
  other_group.group_id = "g_2";
  rep = compare_replay(fold, {}, {other_group}, kNow);
  REQUIRE(rep.differences.size() == 1);
  CHECK(rep.differences[0].find("group_id") != std::string::npos);
}
