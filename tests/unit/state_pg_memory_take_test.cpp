// memory_take / memory_wait / memory_txn (issue 20) on PostgreSQL with
// several nodes: two PgStore instances on one database (one schema), as two
// keel nodes on two machines would have, each with its own pool, LISTEN
// connection and threads, on the database's clock. A queue taken by 16
// threads across both nodes (each entry exactly once, by the journal), a
// waiter on one node woken through NOTIFY by the other's writes, and
// compare-and-increment contention across nodes.
// Skipped (with a warning) unless KEEL_TEST_STORE_URL names a server; the
// backend-neutral cases are tests/unit/state_memory_take_test.cpp and
// state_memory_txn_test.cpp.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "tests/unit/state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Two nodes (stores) on the schema of one state directory.
struct TwoNodes {
  TempDir dir;
  std::unique_ptr<Store> a;
  std::unique_ptr<Store> b;
  explicit TwoNodes(std::int64_t memory_poll_ms = 100) {
    StoreOptions o;
    o.dir = dir.path() / "state";
    o.memory_poll_ms = memory_poll_ms;
    o.node = "node-a";
    a = open_test_store(o);
    o.node = "node-b";
    b = open_test_store(o);
  }
  Store& node(int i) { return i % 2 == 0 ? *a : *b; }
};

TakeRequest take_prefix(const std::string& prefix) {
  TakeRequest r;
  r.ns = Namespace::kShared;
  r.by_prefix = true;
  r.prefix = prefix;
  return r;
}

TxnOp put_op(const std::string& key, json::value value) {
  TxnOp op;
  op.kind = TxnOp::Kind::kPut;
  op.ns = Namespace::kShared;
  op.key = key;
  op.value = std::move(value);
  return op;
}

TxnCompare version_is(const std::string& key, std::int64_t version) {
  TxnCompare c;
  c.kind = TxnCompare::Kind::kVersion;
  c.ns = Namespace::kShared;
  c.key = key;
  c.version = version;
  return c;
}

PutRequest shared_put(const std::string& key, json::value value) {
  PutRequest r;
  r.ns = Namespace::kShared;
  r.key = key;
  r.value = std::move(value);
  return r;
}

#define REQUIRE_PG()                                                          \
  if (!testing_postgres()) {                                                  \
    WARN("KEEL_TEST_STORE_URL is unset: PostgreSQL multi-node cases skipped"); \
    return;                                                                   \
  }

}  // namespace

TEST_CASE("pg memory_take: 16 threads on two nodes take a queue of 2,000, each entry exactly once",
          "[pg][memory-take][concurrency]") {
  REQUIRE_PG();
  TwoNodes nodes;
  constexpr int kEntries = 2000;
  constexpr int kThreads = 16;  // 8 per node
  // Queued 50 at a time (a txn of puts), half through each node.
  const Principal producer = agent("producer");
  std::set<std::string> queued;
  for (int first = 0; first < kEntries; first += 50) {
    TxnRequest fill;
    for (int i = first; i < first + 50; ++i) {
      char key[32];
      std::snprintf(key, sizeof key, "queue/%05d", i);
      fill.then_ops.push_back(put_op(key, json::object{{"i", i}}));
      queued.insert(key);
    }
    REQUIRE(nodes.node(first / 50).memory_txn(producer, fill).journal_seq > 0);
  }

  std::vector<std::vector<std::string>> taken(kThreads);
  on_agent_threads(kThreads, [&](int t, const Principal& who) {
    Store& node = nodes.node(t);
    for (;;) {
      const TakeResult got = node.memory_take(who, take_prefix("queue/"), {});
      if (!got.taken) return;
      taken[t].push_back(got.key);
    }
  });

  std::multiset<std::string> all;
  for (const auto& keys : taken) all.insert(keys.begin(), keys.end());
  CHECK(all.size() == static_cast<std::size_t>(kEntries));
  CHECK(std::set<std::string>(all.begin(), all.end()) == queued);

  // The journal: one MEMORY_TAKE per entry, by the thread that got it,
  // written by both nodes; the chain verifies and nothing is left.
  const std::vector<JournalRecord> takes = journal_records(*nodes.b, ops::kMemoryTake);
  REQUIRE(takes.size() == static_cast<std::size_t>(kEntries));
  std::map<std::string, std::string> taker;
  std::set<std::string> writers;
  for (const JournalRecord& rec : takes) {
    const std::string key(json::parse(rec.payload).at("key").as_string());
    CHECK(taker.emplace(key, rec.principal).second);
    writers.insert(rec.node);
  }
  for (int t = 0; t < kThreads; ++t) {
    for (const std::string& key : taken[t]) CHECK(taker[key] == "agent" + std::to_string(t));
  }
  CHECK(writers == std::set<std::string>{"node-a", "node-b"});
  CHECK(nodes.a->journal_verify(admin()).ok);
  ListRequest left;
  left.ns = Namespace::kShared;
  left.prefix = "queue/";
  CHECK(nodes.a->memory_list(producer, left).entries.empty());
}

TEST_CASE("pg memory_take / memory_wait: a waiter on one node is woken by the other node's "
          "write (NOTIFY)",
          "[pg][memory-take]") {
  REQUIRE_PG();
  // Polling far slower than the waits: only a notification can end them
  // before their wait_ms (a wait that runs out looks once more, so it would
  // still find the write, but only at the end).
  TwoNodes nodes(/*memory_poll_ms=*/600'000);
  const Principal waiter = agent("waiter");
  const Principal writer = agent("writer");
  constexpr std::int64_t kWaitMs = 60'000;

  SECTION("a take woken by a put") {
    TakeRequest r = take_prefix("jobs/");
    r.wait_ms = kWaitMs;
    TakeResult got;
    TestThread t([&] { got = nodes.a->memory_take(waiter, r, {}); });
    std::this_thread::sleep_for(300ms);  // let it start waiting (it passes either way)
    nodes.b->memory_put(writer, shared_put("jobs/1", "build"));
    t.join();
    CHECK(got.taken);
    CHECK(got.waited_ms < kWaitMs);
    CHECK(got.key == "jobs/1");
    CHECK(got.value == json::value("build"));
  }
  SECTION("a key wait woken by a txn, then by a delete") {
    WaitRequest r;
    r.ns = Namespace::kShared;
    r.key = "flag";
    r.wait_ms = kWaitMs;
    WaitResult appeared;
    TestThread first([&] { appeared = nodes.a->memory_wait(waiter, r, {}); });
    std::this_thread::sleep_for(300ms);
    TxnRequest txn;
    txn.then_ops.push_back(put_op("flag", true));
    nodes.b->memory_txn(writer, txn);
    first.join();
    CHECK(appeared.satisfied);
    CHECK(appeared.waited_ms < kWaitMs);

    r.after_version = 1;  // now waits for the key to change from version 1
    WaitResult gone;
    TestThread second([&] { gone = nodes.a->memory_wait(waiter, r, {}); });
    std::this_thread::sleep_for(300ms);
    DeleteRequest del;
    del.ns = Namespace::kShared;
    del.key = "flag";
    CHECK(nodes.b->memory_delete(writer, del));
    second.join();
    CHECK(gone.satisfied);
    CHECK(gone.waited_ms < kWaitMs);
  }
  SECTION("a key wait woken by the other node's take") {
    nodes.b->memory_put(writer, shared_put("jobs/2", 2));
    WaitRequest r;
    r.ns = Namespace::kShared;
    r.key = "jobs/2";
    r.after_version = 1;
    r.wait_ms = kWaitMs;
    WaitResult taken_away;
    TestThread t([&] { taken_away = nodes.a->memory_wait(waiter, r, {}); });
    std::this_thread::sleep_for(300ms);
    CHECK(nodes.b->memory_take(writer, take_prefix("jobs/"), {}).taken);
    t.join();
    CHECK(taken_away.satisfied);
    CHECK(taken_away.waited_ms < kWaitMs);
  }
}

TEST_CASE("pg memory_txn: compare-and-increment across two nodes never loses an increment",
          "[pg][memory-txn][concurrency]") {
  REQUIRE_PG();
  TwoNodes nodes;
  constexpr int kThreads = 8;  // 4 per node
  constexpr int kIncrements = 15;
  std::atomic<int> refused{0};
  on_agent_threads(kThreads, [&](int t, const Principal& who) {
    Store& node = nodes.node(t);
    for (int done = 0; done < kIncrements;) {
      const GetResult now = node.memory_get(who, Tier::kCrossRun, Namespace::kShared, "counter");
      const std::int64_t n = now.found ? now.value.as_int64() : 0;
      TxnRequest r;
      r.compare.push_back(version_is("counter", now.found ? now.version : 0));
      r.then_ops.push_back(put_op("counter", n + 1));
      const TxnResult got = node.memory_txn(who, r);
      if (got.succeeded) {
        ++done;
      } else {
        ++refused;
        if (got.journal_seq != 0) throw std::runtime_error("a refused txn journaled");
      }
    }
  });
  const GetResult end =
      nodes.a->memory_get(agent("reader"), Tier::kCrossRun, Namespace::kShared, "counter");
  CHECK(end.value == json::value(kThreads * kIncrements));
  CHECK(end.version == kThreads * kIncrements);
  // One MEMORY_TXN per increment, each with the version it saw, in order.
  const std::vector<JournalRecord> txns = journal_records(*nodes.b, ops::kMemoryTxn);
  REQUIRE(txns.size() == static_cast<std::size_t>(kThreads * kIncrements));
  for (std::size_t i = 0; i < txns.size(); ++i) {
    const json::value p = json::parse(txns[i].payload);
    CHECK(p.at("succeeded") == json::value(true));
    CHECK(p.at("compares").at(0).at("version") == json::value(static_cast<std::int64_t>(i)));
    CHECK(p.at("ops").at(0).at("version") == json::value(static_cast<std::int64_t>(i + 1)));
  }
  CHECK(nodes.a->journal_verify(admin()).ok);
  WARN("refused compares: " << refused.load());
}

TEST_CASE("pg memory_txn: of concurrent creates of an absent key across nodes exactly one lands",
          "[pg][memory-txn][concurrency]") {
  REQUIRE_PG();
  TwoNodes nodes;
  constexpr int kThreads = 16;
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    const std::string key = "owner/" + std::to_string(round);
    std::atomic<int> won{0};
    std::vector<std::string> winner(kThreads);
    on_agent_threads(kThreads, [&](int t, const Principal& who) {
      TxnRequest r;
      r.compare.push_back(version_is(key, 0));  // absent
      r.then_ops.push_back(put_op(key, json::value(who.agent)));
      if (nodes.node(t).memory_txn(who, r).succeeded) {
        ++won;
        winner[t] = who.agent;
      }
    });
    CHECK(won == 1);
    const GetResult got = nodes.b->memory_get(agent("reader"), Tier::kCrossRun,
                                              Namespace::kShared, key);
    CHECK(got.version == 1);
    CHECK(std::find(winner.begin(), winner.end(), std::string(got.value.as_string())) !=
          winner.end());
  }
  CHECK(journal_records(*nodes.a, ops::kMemoryTxn).size() == static_cast<std::size_t>(kRounds));
}

TEST_CASE("pg memory_txn: a lease compare sees the other node's lease", "[pg][memory-txn]") {
  REQUIRE_PG();
  TwoNodes nodes;
  const Principal holder = agent("holder");
  const Principal actor = agent("actor");
  AcquireRequest acq = acquire("deploy:prod");
  const AcquireResult lease = nodes.a->acquire_lease(holder, acq, {});
  REQUIRE(lease.granted);
  TxnCompare c;
  c.kind = TxnCompare::Kind::kLease;
  c.lease_name = "deploy:prod";
  c.token = lease.leases.at(0).token;
  TxnRequest r;
  r.compare.push_back(c);
  r.then_ops.push_back(put_op("deployed", true));
  CHECK(nodes.b->memory_txn(actor, r).succeeded);

  nodes.a->release_lease(holder, "deploy:prod", lease.leases.at(0).lease_id, false);
  const TxnResult after = nodes.b->memory_txn(actor, r);
  CHECK_FALSE(after.succeeded);
  CHECK(after.compare_held == std::vector<bool>{false});
  CHECK(after.journal_seq == 0);  // no else: nothing written
}
