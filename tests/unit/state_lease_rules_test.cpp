// The backend-neutral lease rules of issue 18 (state/lease_rules.h):
// arguments, capacities, idempotency, ids, payloads, and the journal's fold
// of the new ops. Pure functions, no store. The decision and the queue:
// state_lease_queue_test.cpp.
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
  for (std::size_t i = 0; i < kMaxLeaseNamesPerAcquire; ++i)
    names.push_back("n" + std::to_string(i));
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
