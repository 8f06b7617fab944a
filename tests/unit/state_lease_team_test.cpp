// Leases as a team needs them (issue 18), through the Store contract only:
// several names all or nothing, groups, counted names, request_id
// idempotency, the journal fold and store copy of it all. The fair queue,
// upgrade/downgrade and release asks are in state_lease_team_queue_test.cpp.
// Backend-neutral (open_test_store): the PostgreSQL run executes every case
// here too, so no case assumes SQLite's timing — waits are on observable
// state (the board), with generous deadlines.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "state/store_common.h"
#include "state/store_copy.h"
#include "tests/unit/state_lease_team_util.h"

using namespace keel::state;
using namespace keel::state::testing;
using namespace keel::state::testing::lease_team;

// ------------------------------------------------------------ many names

TEST_CASE_METHOD(AliceAndBob, "lease team: several names are granted in canonical order, one "
                              "group, one token each",
                 "[state][lease][lease-team]") {
  const AcquireResult r =
      s.acquire_lease(a, acquire_names({"file:/src/z.h", "file:/src/a.h", "file:/src/z.h",
                                        "file:/src/m.h"}),
                      {});
  REQUIRE(r.granted);
  REQUIRE(r.leases.size() == 3);  // the duplicate is dropped
  CHECK(r.leases[0].name == "file:/src/a.h");
  CHECK(r.leases[1].name == "file:/src/m.h");
  CHECK(r.leases[2].name == "file:/src/z.h");
  REQUIRE(r.lease);
  CHECK(*r.lease == r.leases[0]);
  CHECK_FALSE(r.already_held);
  CHECK(r.leases[0].token < r.leases[1].token);
  CHECK(r.leases[1].token < r.leases[2].token);
  const std::string group = r.leases[0].group_id;
  CHECK_FALSE(group.empty());
  for (const LeaseInfo& l : r.leases) {
    CHECK(l.group_id == group);
    CHECK(l.units == 1);
    CHECK(l.holder == "alice");
  }
  // One ACQUIRE per name, each with its units and group.
  const std::vector<JournalRecord> acquires = journal_records(s, ops::kAcquire);
  REQUIRE(acquires.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(acquires[i].subject == r.leases[i].name);
    const json::object p = payload_of(acquires[i]);
    CHECK(p.at("group_id").as_string() == group);
    CHECK(p.at("units").to_number<std::int64_t>() == 1);
    CHECK(p.at("token").to_number<std::int64_t>() == r.leases[i].token);
  }

  // Asking again for all of them: already held, nothing new.
  const AcquireResult again =
      s.acquire_lease(a, acquire_names({"file:/src/m.h", "file:/src/a.h", "file:/src/z.h"}), {});
  REQUIRE(again.granted);
  CHECK(again.already_held);
  CHECK(again.leases == r.leases);
  // Some held, one new: the new one gets its own group; not already_held.
  const AcquireResult more =
      s.acquire_lease(a, acquire_names({"file:/src/a.h", "file:/src/b.h"}), {});
  REQUIRE(more.granted);
  CHECK_FALSE(more.already_held);
  REQUIRE(more.leases.size() == 2);
  CHECK(more.leases[0] == r.leases[0]);
  CHECK(more.leases[1].name == "file:/src/b.h");
  CHECK(more.leases[1].group_id != group);
  CHECK(more.leases[1].token > r.leases[2].token);
  // Names overlapping each other in one request are fine (own holds).
  const AcquireResult nested =
      s.acquire_lease(b, acquire_names({"dir:/lib/", "file:/lib/x.h"}), {});
  CHECK(nested.granted);
  CHECK(journal_records(s, ops::kAcquire).size() == 6);
  check_journal(s);
}

TEST_CASE_METHOD(AliceAndBob, "lease team: several names are all or nothing",
                 "[state][lease][lease-team]") {
  const AcquireResult held = s.acquire_lease(a, acquire("file:/src/b.h"), {});
  REQUIRE(held.granted);
  const AcquireResult also = s.acquire_lease(a, acquire("file:/src/d.h"), {});
  REQUIRE(also.granted);
  const std::size_t acquires_before = journal_records(s, ops::kAcquire).size();

  const AcquireResult r = s.acquire_lease(
      b, acquire_names({"file:/src/d.h", "file:/src/a.h", "file:/src/b.h", "file:/src/c.h"}), {});
  CHECK_FALSE(r.granted);
  CHECK(r.refusal == LeaseRefusal::kHeld);
  CHECK(r.leases.empty());
  CHECK_FALSE(r.lease);
  // Every holder in the way is listed, not only the first.
  REQUIRE(r.holders.size() == 2);
  std::vector<std::string> ids{r.holders[0].lease_id, r.holders[1].lease_id};
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected{held.lease->lease_id, also.lease->lease_id};
  std::sort(expected.begin(), expected.end());
  CHECK(ids == expected);
  // Nothing granted, nothing journaled but one REFUSE naming the request.
  for (const LeaseInfo& l : s.list_leases(a, "")) CHECK(l.holder == "alice");
  CHECK(s.list_leases(a, "").size() == 2);
  CHECK(journal_records(s, ops::kAcquire).size() == acquires_before);
  const std::vector<JournalRecord> refusals = records_by(s, ops::kRefuse, "bob");
  REQUIRE(refusals.size() == 1);
  const json::object p = payload_of(refusals[0]);
  REQUIRE(p.contains("names"));
  CHECK(p.at("names").as_array().size() == 4);
  CHECK(p.at("refusal").as_string() == "held");

  // Once alice lets go, the same request is granted whole.
  s.release_lease(a, "file:/src/b.h", held.lease->lease_id, false);
  s.release_lease(a, "file:/src/d.h", also.lease->lease_id, false);
  const AcquireResult later = s.acquire_lease(
      b, acquire_names({"file:/src/d.h", "file:/src/a.h", "file:/src/b.h", "file:/src/c.h"}), {});
  REQUIRE(later.granted);
  CHECK(later.leases.size() == 4);
  check_journal(s);
}

TEST_CASE("lease team: bad name lists are refused", "[state][lease][lease-team]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  AcquireRequest both = acquire("file:/a");
  both.names = {"file:/b"};
  REQUIRE_STORE_ERROR(s.acquire_lease(a, both, {}), ErrorCode::kInvalidArgument);
  AcquireRequest none = acquire("");
  REQUIRE_STORE_ERROR(s.acquire_lease(a, none, {}), ErrorCode::kInvalidArgument);
  std::vector<std::string> many;
  for (std::size_t i = 0; i <= kMaxLeaseNamesPerAcquire; ++i) many.push_back("n" + std::to_string(i));
  REQUIRE_STORE_ERROR(s.acquire_lease(a, acquire_names(many), {}), ErrorCode::kInvalidArgument);
  many.pop_back();
  CHECK(s.acquire_lease(a, acquire_names(many), {}).leases.size() == kMaxLeaseNamesPerAcquire);
  REQUIRE_STORE_ERROR(s.acquire_lease(a, acquire_names({"file:/ok", "file:relative"}), {}),
                      ErrorCode::kInvalidArgument);
  AcquireRequest prio = acquire("p");
  prio.priority = kMaxLeasePriority + 1;
  REQUIRE_STORE_ERROR(s.acquire_lease(a, prio, {}), ErrorCode::kInvalidArgument);
  check_journal(s);
}

TEST_CASE("lease team: opposite-order multi-name acquires from many threads never deadlock "
          "or overlap",
          "[state][lease][lease-team][concurrency]") {
  TempDir dir;
  StoreOptions o;
  o.dir = dir.path() / "state";
  auto store = open_test_store(o);  // system clock: real TTLs and waits
  constexpr int kThreads = 8;
  constexpr int kRounds = 6;
  std::mutex mu;
  std::map<std::string, std::string> holding;  // name -> agent, while granted
  std::atomic<int> overlaps{0};
  std::atomic<int> grants{0};
  on_agent_threads(kThreads, [&](int t, const Principal& who) {
    for (int i = 0; i < kRounds; ++i) {
      std::vector<std::string> names = {"file:/shared/x.h", "file:/shared/y.h"};
      if (t % 2 == 1) std::reverse(names.begin(), names.end());
      AcquireRequest r = acquire_names(names, 30'000);
      r.wait_ms = 60'000;
      const AcquireResult got = store->acquire_lease(who, r, {});
      if (!got.granted) throw std::runtime_error(who.agent + " was not granted");
      {
        std::lock_guard<std::mutex> lock(mu);
        for (const LeaseInfo& l : got.leases) {
          if (!holding.emplace(l.name, who.agent).second) ++overlaps;
        }
      }
      ++grants;
      std::this_thread::sleep_for(1ms);
      {
        std::lock_guard<std::mutex> lock(mu);
        for (const LeaseInfo& l : got.leases) holding.erase(l.name);
      }
      const std::vector<LeaseInfo> released =
          store->release_group(who, got.leases[0].group_id, false);
      if (released.size() != 2) throw std::runtime_error("release_group released too little");
    }
  });
  CHECK(overlaps == 0);
  CHECK(grants == kThreads * kRounds);
  // Tokens: one per name per grant, strictly increasing in journal order.
  const std::vector<JournalRecord> acquires = journal_records(*store, ops::kAcquire);
  REQUIRE(acquires.size() == static_cast<std::size_t>(2 * kThreads * kRounds));
  std::int64_t last = 0;
  for (const JournalRecord& r : acquires) {
    const std::int64_t token = payload_of(r).at("token").to_number<std::int64_t>();
    CHECK(token > last);
    last = token;
  }
  CHECK(waiting(*store) == 0);
  check_journal(*store);
}

TEST_CASE_METHOD(AliceAndBob, "lease team: release_group releases one acquire's leases at once",
                 "[state][lease][lease-team]") {
  const AcquireResult r = s.acquire_lease(a, acquire_names({"g1", "g2", "g3"}), {});
  REQUIRE(r.granted);
  const AcquireResult other = s.acquire_lease(a, acquire("g4"), {});
  REQUIRE(other.granted);
  const std::string group = r.leases[0].group_id;

  REQUIRE_STORE_ERROR(s.release_group(a, "", false), ErrorCode::kInvalidArgument);
  // Someone else's group: nothing is released without force, and force
  // needs the capability.
  CHECK(s.release_group(b, group, false).empty());
  REQUIRE_STORE_ERROR(s.release_group(b, group, true), ErrorCode::kPermissionDenied);
  CHECK(s.list_leases(a, "g").size() == 4);

  const std::vector<LeaseInfo> released = s.release_group(a, group, false);
  CHECK(released == r.leases);
  const std::vector<LeaseInfo> left = s.list_leases(a, "g");
  REQUIRE(left.size() == 1);
  CHECK(left[0].name == "g4");
  const std::vector<JournalRecord> releases = journal_records(s, ops::kRelease);
  REQUIRE(releases.size() == 3);
  CHECK(releases[0].subject == "g1");
  CHECK(releases[2].subject == "g3");
  CHECK(s.release_group(a, group, false).empty());  // nothing live any more
  // Releasing one by one still works; a group is also released by force.
  const AcquireResult third = s.acquire_lease(b, acquire_names({"h1", "h2"}), {});
  REQUIRE(third.granted);
  CHECK(s.release_group(admin(), third.leases[0].group_id, true).size() == 2);
  CHECK(s.list_leases(a, "h").empty());
  check_journal(s);
}

// ------------------------------------------------------------ counted names

TEST_CASE_METHOD(AliceAndBob, "lease team: counted names grant units up to their capacity",
                 "[state][lease][lease-team]") {
  const Principal c = agent("carol");
  const AcquireResult first = s.acquire_lease(a, counted("slot:build", 3, 4), {});
  REQUIRE(first.granted);
  CHECK(first.lease->units == 3);
  const std::optional<JournalRecord> declared = newest_record(s, ops::kAcquire);
  REQUIRE(declared);
  CHECK(payload_of(*declared).at("capacity").to_number<std::int64_t>() == 4);

  // 3 of 4 used: 2 more do not fit.
  const AcquireResult short_of = s.acquire_lease(b, counted("slot:build", 2), {});
  CHECK_FALSE(short_of.granted);
  CHECK(short_of.refusal == LeaseRefusal::kCapacity);
  CHECK(short_of.counted == std::vector<LeaseCapacity>{{"slot:build", 4, 3}});
  REQUIRE(short_of.holders.size() == 1);
  CHECK(short_of.holders[0].lease_id == first.lease->lease_id);
  // One does; the mode plays no part on a counted name.
  AcquireRequest one = counted("slot:build", 1);
  one.mode = LeaseMode::kShared;
  const AcquireResult fits = s.acquire_lease(b, one, {});
  REQUIRE(fits.granted);
  CHECK(fits.lease->mode == LeaseMode::kShared);
  CHECK_FALSE(s.acquire_lease(c, counted("slot:build", 1), {}).granted);
  // The caller's own hold with enough units answers itself.
  const AcquireResult mine = s.acquire_lease(a, counted("slot:build", 2), {});
  CHECK(mine.granted);
  CHECK(mine.already_held);
  CHECK(mine.lease->lease_id == first.lease->lease_id);

  // The capacity is fixed once declared; units must fit it; only free names.
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("slot:build", 1, 5), {}),
                      ErrorCode::kInvalidArgument);
  CHECK_FALSE(s.acquire_lease(c, counted("slot:build", 1, 4), {}).granted);  // same value: fine
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("slot:build", 5), {}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("slot:build", 0), {}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("file:/x", 1, 2), {}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("plain", 2), {}), ErrorCode::kInvalidArgument);
  AcquireRequest two = acquire_names({"slot:a", "slot:b"});
  two.capacity = 2;
  REQUIRE_STORE_ERROR(s.acquire_lease(c, two, {}), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.acquire_lease(c, counted("slot:new", 3, 2), {}),
                      ErrorCode::kInvalidArgument);

  // A counted name in a multi-name request, all or nothing with the others.
  AcquireRequest mixed = acquire_names({"file:/out/bin", "slot:build"});
  mixed.units = 1;
  const AcquireResult blocked = s.acquire_lease(c, mixed, {});
  CHECK_FALSE(blocked.granted);
  CHECK(blocked.refusal == LeaseRefusal::kCapacity);
  CHECK(s.list_leases(c, "file:/out").empty());

  const LeaseBoard board = s.lease_board(c, "slot:");
  CHECK(board.capacities == std::vector<LeaseCapacity>{{"slot:build", 4, 4}});
  s.release_lease(a, "slot:build", first.lease->lease_id, false);
  CHECK(s.lease_board(c, "slot:").capacities == std::vector<LeaseCapacity>{{"slot:build", 4, 1}});
  CHECK(s.acquire_lease(c, mixed, {}).granted);
  check_journal(s);
}

TEST_CASE("lease team: a configured capacity wins over a declared one",
          "[state][lease][lease-team]") {
  ConfiguredEnv env({{"slot:gpu", 2}});
  Store& s = *env.store;
  const Principal a = agent("alice");
  // Listed before anyone holds it.
  CHECK(s.lease_board(a, "").capacities == std::vector<LeaseCapacity>{{"slot:gpu", 2, 0}});
  try {
    s.acquire_lease(a, counted("slot:gpu", 1, 3), {});
    FAIL("a capacity other than the configured one was accepted");
  } catch (const StoreError& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK(std::string(e.what()).find("fixed at 2") != std::string::npos);
  }
  CHECK(s.acquire_lease(a, counted("slot:gpu", 1, 2), {}).granted);
  CHECK(s.acquire_lease(agent("bob"), counted("slot:gpu", 1), {}).granted);
  const AcquireResult full = s.acquire_lease(agent("carol"), counted("slot:gpu", 1), {});
  CHECK(full.refusal == LeaseRefusal::kCapacity);
  CHECK(full.counted == std::vector<LeaseCapacity>{{"slot:gpu", 2, 2}});
  REQUIRE_STORE_ERROR(s.acquire_lease(a, counted("slot:gpu", 3), {}), ErrorCode::kInvalidArgument);
  check_journal(s);
}

// ------------------------------------------------------------ idempotency

TEST_CASE_METHOD(AliceAndBob, "lease team: a request_id replays only the same arguments, and "
                              "says when its grant is gone",
                 "[state][lease][lease-team]") {
  AcquireRequest r = acquire_names({"file:/i1", "file:/i2"});
  r.request_id = "req-1";
  r.reason = "first";
  const AcquireResult first = s.acquire_lease(a, r, {});
  REQUIRE(first.granted);
  CHECK_FALSE(first.replayed);

  // The same arguments, spelled otherwise (order, reason, wait_ms): replayed.
  AcquireRequest same = acquire_names({"file:/i2", "file:/i1", "file:/i2"});
  same.request_id = "req-1";
  same.reason = "retry";
  same.wait_ms = 1'000;
  const AcquireResult replay = s.acquire_lease(a, same, {});
  CHECK(replay.granted);
  CHECK(replay.replayed);
  CHECK(replay.replay_status == "granted");
  CHECK(replay.leases == first.leases);
  CHECK(journal_records(s, ops::kAcquire).size() == 2);

  // Other arguments under the same id: refused.
  AcquireRequest other = r;
  other.ttl_ms = 30'000;
  REQUIRE_STORE_ERROR(s.acquire_lease(a, other, {}), ErrorCode::kInvalidArgument);
  other = r;
  other.names = {"file:/i1"};
  REQUIRE_STORE_ERROR(s.acquire_lease(a, other, {}), ErrorCode::kInvalidArgument);
  other = r;
  other.mode = LeaseMode::kShared;
  REQUIRE_STORE_ERROR(s.acquire_lease(a, other, {}), ErrorCode::kInvalidArgument);

  // Released: the replay says so rather than granting the old leases.
  REQUIRE(s.release_group(a, first.leases[0].group_id, false).size() == 2);
  const AcquireResult after = s.acquire_lease(a, r, {});
  CHECK_FALSE(after.granted);
  CHECK(after.replayed);
  CHECK(after.refusal == LeaseRefusal::kReleased);
  CHECK(after.replay_status == "released");
  CHECK(after.leases == first.leases);
  CHECK(s.list_leases(a, "file:/i").empty());

  // Expired.
  AcquireRequest brief = acquire("file:/i3", 1'000);
  brief.request_id = "req-2";
  REQUIRE(s.acquire_lease(a, brief, {}).granted);
  env.clock->advance(2'000);
  const AcquireResult gone = s.acquire_lease(a, brief, {});
  CHECK_FALSE(gone.granted);
  CHECK(gone.replay_status == "expired");

  // A refused request_id is not remembered: the retry decides afresh.
  const AcquireResult blocker = s.acquire_lease(b, acquire("file:/i4"), {});
  REQUIRE(blocker.granted);
  AcquireRequest refused = acquire("file:/i4");
  refused.request_id = "req-3";
  CHECK_FALSE(s.acquire_lease(a, refused, {}).granted);
  s.release_lease(b, "file:/i4", blocker.lease->lease_id, false);
  const AcquireResult fresh = s.acquire_lease(a, refused, {});
  CHECK(fresh.granted);
  CHECK_FALSE(fresh.replayed);

  // The same id of another agent is another request; a reopened store
  // still remembers.
  CHECK_FALSE(s.acquire_lease(b, r, {}).replayed);
  env.reopen();
  const AcquireResult reopened = env.store->acquire_lease(a, refused, {});
  CHECK(reopened.replayed);
  CHECK(reopened.replay_status == "granted");
  check_journal(*env.store);
}

// ------------------------------------------------------------ all of it

TEST_CASE("lease team: the journal folds every new op, before and after compaction",
          "[state][lease][lease-team]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const Principal b = agent("bob");
  const AcquireResult group = s.acquire_lease(a, acquire_names({"file:/j1", "file:/j2"}), {});
  REQUIRE(group.granted);
  REQUIRE(s.acquire_lease(b, counted("slot:j", 2, 3), {}).granted);
  const AcquireResult sh = s.acquire_lease(b, acquire("file:/j3", 60'000, LeaseMode::kShared), {});
  REQUIRE(sh.granted);
  REQUIRE(s.acquire_lease(b, acquire("file:/j3"), {}).upgraded);
  s.downgrade_lease(b, "file:/j3", sh.lease->lease_id);
  REQUIRE(s.ask_release(b, "file:/j1", "please").size() == 1);
  REQUIRE(s.take_release_asks(a).size() == 1);
  check_journal(s);
  const ReplayReport before = s.journal_replay(admin());
  CHECK(before.table.size() == 4);
  s.journal_compact(admin());
  check_journal(s);
  REQUIRE(s.release_group(a, group.leases[0].group_id, false).size() == 2);
  check_journal(s);
  const ReplayReport after = s.journal_replay(admin());
  REQUIRE(after.table.size() == 2);
  bool counted_seen = false;
  for (const LeaseInfo& l : after.replayed) {
    if (l.name == "slot:j") {
      counted_seen = true;
      CHECK(l.units == 2);
    }
  }
  CHECK(counted_seen);
}

TEST_CASE("lease team: a store copy keeps units, groups, declared capacities, release asks and "
          "args hashes, not the queue",
          "[state][lease][lease-team][copy]") {
  StoreEnv src;
  Store& s = *src.store;
  const Principal a = agent("alice");
  const Principal b = agent("bob");
  AcquireRequest pair = acquire_names({"file:/c1", "file:/c2"}, 600'000);
  pair.request_id = "req-copy";
  const AcquireResult group = s.acquire_lease(a, pair, {});
  REQUIRE(group.granted);
  AcquireRequest slot = counted("slot:c", 2, 3);
  slot.ttl_ms = 600'000;
  REQUIRE(s.acquire_lease(b, slot, {}).granted);
  REQUIRE(s.ask_release(b, "file:/c1", "copy me").size() == 1);
  insert_ghost_waiter(src, "w_copy", "file:/c3", src.clock->now_ms());
  REQUIRE(waiting(s) == 1);

  auto* from = dynamic_cast<StoreImaging*>(&s);
  REQUIRE(from != nullptr);
  const StateImage image = from->export_image(admin());
  StoreEnv dst;
  dst.clock->set(src.clock->now_ms());
  auto* to = dynamic_cast<StoreImaging*>(dst.store.get());
  REQUIRE(to != nullptr);
  to->import_image(admin(), image);
  Store& t = *dst.store;

  CHECK(t.list_leases(a, "") == s.list_leases(a, ""));
  const LeaseBoard board = t.lease_board(a, "");
  CHECK(board.capacities == std::vector<LeaseCapacity>{{"slot:c", 3, 2}});
  REQUIRE(board.asks.size() == 1);
  CHECK(board.asks[0].reason == "copy me");
  CHECK(board.waiters.empty());
  // The declared capacity is fixed on the copy too; the ask is delivered there.
  REQUIRE_STORE_ERROR(t.acquire_lease(a, counted("slot:c", 1, 4), {}), ErrorCode::kInvalidArgument);
  CHECK(t.take_release_asks(a).size() == 1);
  // The request_id replays with the same arguments only.
  const AcquireResult replay = t.acquire_lease(a, pair, {});
  CHECK(replay.replayed);
  CHECK(replay.leases == group.leases);
  AcquireRequest other = pair;
  other.ttl_ms = 1'000;
  REQUIRE_STORE_ERROR(t.acquire_lease(a, other, {}), ErrorCode::kInvalidArgument);
  CHECK(t.release_group(a, group.leases[0].group_id, false).size() == 2);
  check_journal(t);
}
