// memory_take and memory_wait (issue 20, memory as a tuple space): take by
// key and oldest-first by prefix, match templates, expiry, waits woken by
// this process's and another store's writes, time-outs, cancellation, bad
// requests, and a queue taken by many threads and two stores, each entry
// exactly once (checked from the journal). Runs on both backends.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "crypto/sha256.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

PutRequest put(const std::string& key, json::value value, Namespace ns = Namespace::kOwn) {
  PutRequest r;
  r.key = key;
  r.value = std::move(value);
  r.ns = ns;
  return r;
}

TakeRequest take_key(const std::string& key) {
  TakeRequest r;
  r.key = key;
  return r;
}

TakeRequest take_prefix(const std::string& prefix, Namespace ns = Namespace::kOwn) {
  TakeRequest r;
  r.by_prefix = true;
  r.prefix = prefix;
  r.ns = ns;
  return r;
}

WaitRequest wait_key(const std::string& key, std::int64_t after_version) {
  WaitRequest r;
  r.key = key;
  r.after_version = after_version;
  return r;
}

WaitRequest wait_prefix(const std::string& prefix, std::int64_t after_version) {
  WaitRequest r;
  r.by_prefix = true;
  r.prefix = prefix;
  r.after_version = after_version;
  return r;
}

// A wait long enough never to run out in a passing test: a waiter that is
// not woken fails the case by timing out (taken / satisfied false).
constexpr std::int64_t kLongWaitMs = 60'000;

// Lets a waiter thread reach its wait before the write that should wake it
// (not asserted: a write that lands first is taken at once just the same).
void let_waiter_block() { std::this_thread::sleep_for(std::chrono::milliseconds(100)); }

// Reopens env's store with memory_poll_ms = poll_ms and returns its options
// (to open a second store on the same directory).
StoreOptions reopen_polling_every(StoreEnv& env, std::int64_t poll_ms) {
  StoreOptions o = env.options();
  o.memory_poll_ms = poll_ms;
  env.store.reset();
  env.store = open_test_store(o);
  return o;
}

}  // namespace

TEST_CASE_METHOD(AliceAndBob, "memory_take: by key removes and returns the entry, journaled",
                 "[state][memory][memory-take]") {
  CHECK(s.memory_put(a, put("job", json::parse(R"({"n":1})"))).version == 1);
  CHECK(s.memory_put(a, put("job", json::parse(R"({"n":2})"))).version == 2);

  const TakeResult got = s.memory_take(a, take_key("job"));
  REQUIRE(got.taken);
  CHECK(got.key == "job");
  CHECK(got.value == json::parse(R"({"n":2})"));
  CHECK(got.version == 2);
  CHECK(got.created_at_ms == env.clock->now_ms());
  CHECK(got.updated_at_ms == env.clock->now_ms());
  CHECK(got.waited_ms == 0);
  CHECK_FALSE(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "job").found);
  CHECK_FALSE(s.memory_take(a, take_key("job")).taken);
  CHECK_FALSE(s.memory_take(a, take_key("never")).taken);
  // bob's own namespace is not alice's.
  s.memory_put(a, put("mine", 1));
  CHECK_FALSE(s.memory_take(b, take_key("mine")).taken);
  CHECK(s.memory_take(a, take_key("mine")).taken);

  const std::vector<JournalRecord> takes = journal_records(s, ops::kMemoryTake);
  REQUIRE(takes.size() == 2);
  CHECK(takes[0].principal == "alice");
  CHECK(takes[0].subject == "memory:cross_run/agent:alice/job");
  const json::object payload = json::parse(takes[0].payload).as_object();
  CHECK(payload.at("tier") == "cross_run");
  CHECK(payload.at("namespace") == "agent:alice");
  CHECK(payload.at("key") == "job");
  CHECK(payload.at("version") == 2);
  const std::string text = json::serialize(json::parse(R"({"n":2})"));
  CHECK(payload.at("bytes") == static_cast<std::int64_t>(text.size()));
  CHECK(payload.at("value_sha256") == json::value(keel::crypto::sha256_hex(text)));
  CHECK(s.journal_verify(admin()).ok);
}

TEST_CASE_METHOD(AliceAndBob, "memory_take: by prefix takes the oldest entry first",
                 "[state][memory][memory-take]") {
  // Created in this order, which is not the keys' order.
  for (const char* key : {"q/3", "q/1", "other", "q/2"}) s.memory_put(a, put(key, key));
  // Rewriting an entry keeps its age.
  s.memory_put(a, put("q/3", "q/3 again"));

  std::vector<std::string> taken;
  for (;;) {
    const TakeResult got = s.memory_take(a, take_prefix("q/"));
    if (!got.taken) break;
    taken.push_back(got.key);
  }
  CHECK(taken == std::vector<std::string>{"q/3", "q/1", "q/2"});
  CHECK(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "other").found);

  // An empty prefix is every key of the slot; a re-created key is young again.
  s.memory_put(a, put("z", 1));
  s.memory_put(a, put("q/1", 2));
  CHECK(s.memory_take(a, take_prefix("")).key == "other");
  CHECK(s.memory_take(a, take_prefix("")).key == "z");
  CHECK(s.memory_take(a, take_prefix("")).key == "q/1");
  CHECK_FALSE(s.memory_take(a, take_prefix("")).taken);

  // The shared namespace is one queue for every agent.
  s.memory_put(a, put("task/1", 1, Namespace::kShared));
  s.memory_put(b, put("task/2", 2, Namespace::kShared));
  CHECK(s.memory_take(b, take_prefix("task/", Namespace::kShared)).key == "task/1");
  CHECK(s.memory_take(a, take_prefix("task/", Namespace::kShared)).key == "task/2");
  CHECK(journal_records(s, ops::kMemoryTake).size() == 8);
}

TEST_CASE_METHOD(AliceAndBob, "memory_take: a prefix take ignores other keys of the namespace",
                 "[state][memory][memory-take]") {
  // Older than the queue, sorting before and after it; a take reads the
  // queue's key range, not these (the walk by age reads only a few).
  for (int i = 0; i < 5000; ++i) {
    s.memory_put(a, put((i % 2 ? "results/" : "aaa/") + std::to_string(i), i));
  }
  PutRequest gone = put("jobs/0", 0);
  gone.ttl_ms = 1000;
  s.memory_put(a, gone);
  for (const char* key : {"jobs/3", "jobs/1", "jobs/2"}) {
    s.memory_put(a, put(key, json::parse(std::string(R"({"key":")") + key + R"("})")));
  }
  s.memory_put(a, put("results/young", 1));
  env.clock->advance(1000);  // jobs/0 expired

  TakeRequest two = take_prefix("jobs/");
  two.match = json::parse(R"({"key":"jobs/2"})");
  CHECK(s.memory_take(a, two).key == "jobs/2");
  CHECK(s.memory_take(a, take_prefix("jobs/")).key == "jobs/3");
  CHECK(s.memory_take(a, take_prefix("jobs/")).key == "jobs/1");
  CHECK_FALSE(s.memory_take(a, take_prefix("jobs/")).taken);
  CHECK(s.memory_take(a, take_prefix("results/")).key == "results/1");
  CHECK(journal_records(s, ops::kMemoryTake).size() == 4);
}

TEST_CASE_METHOD(AliceAndBob, "memory_take: match by equality, nesting and presence",
                 "[state][memory][memory-take]") {
  s.memory_put(a, put("t/1", json::parse(R"({"kind":"build","target":{"os":"linux"}})")));
  s.memory_put(a,
               put("t/2", json::parse(R"({"kind":"test","target":{"os":"mac"},"urgent":true})")));
  s.memory_put(a, put("t/3", json::parse(R"({"kind":"test","target":{"os":"linux"}})")));
  s.memory_put(a, put("t/4", json::parse(R"({"kind":"test","retries":1.0})")));
  s.memory_put(a, put("t/5", json::parse(R"("not an object")")));

  TakeRequest r = take_prefix("t/");
  r.match = json::parse(R"({"kind":"test","target":{"os":"linux"}})");
  CHECK(s.memory_take(a, r).key == "t/3");
  CHECK_FALSE(s.memory_take(a, r).taken);  // t/1 and t/2 did not match and stay

  r.match = json::parse(R"({"urgent":{"$exists":true}})");
  CHECK(s.memory_take(a, r).key == "t/2");
  r.match = json::parse(R"({"retries":1})");  // numbers compare by value
  CHECK(s.memory_take(a, r).key == "t/4");
  r.match = json::parse(R"({"target":{"$exists":false}})");  // t/5 has no fields at all
  CHECK(s.memory_take(a, r).key == "t/5");
  CHECK_FALSE(s.memory_take(a, r).taken);

  // By key: a value that does not match is not taken.
  TakeRequest k = take_key("t/1");
  k.match = json::parse(R"({"kind":"test"})");
  CHECK_FALSE(s.memory_take(a, k).taken);
  k.match = json::parse(R"({})");
  CHECK(s.memory_take(a, k).taken);
}

TEST_CASE_METHOD(AliceAndBob, "memory_take: expired entries are skipped",
                 "[state][memory][memory-take]") {
  PutRequest old = put("e/1", 1);
  old.ttl_ms = 1000;
  s.memory_put(a, old);
  s.memory_put(a, put("e/2", 2));
  env.clock->advance(1000);
  CHECK_FALSE(s.memory_take(a, take_key("e/1")).taken);
  const TakeResult got = s.memory_take(a, take_prefix("e/"));
  REQUIRE(got.taken);
  CHECK(got.key == "e/2");
  CHECK_FALSE(s.memory_take(a, take_prefix("e/")).taken);
  CHECK(journal_records(s, ops::kMemoryTake).size() == 1);
}

TEST_CASE_METHOD(AliceAndBob, "memory_take: a waiting take is woken by a put of this process",
                 "[state][memory][memory-take]") {
  // Polling alone would answer only after the wait ran out.
  reopen_polling_every(env, StoreOptions{}.memory_max_wait_ms);
  Store& store = *env.store;

  TakeResult got;
  TestThread waiter([&] {
    TakeRequest r = take_prefix("inbox/", Namespace::kShared);
    r.wait_ms = kLongWaitMs;
    got = store.memory_take(b, r);
  });
  let_waiter_block();
  store.memory_put(a, put("inbox/1", "hello", Namespace::kShared));
  waiter.join();
  REQUIRE(got.taken);
  CHECK(got.key == "inbox/1");
  CHECK(got.value == "hello");
  CHECK(got.waited_ms < kLongWaitMs);
}

TEST_CASE("memory_take: a waiting take sees another store's put by polling",
          "[state][memory][memory-take]") {
  StoreEnv env;
  std::unique_ptr<Store> other = open_test_store(reopen_polling_every(env, 20));
  const Principal a = agent("alice");

  TakeResult got;
  TestThread waiter([&] {
    TakeRequest r = take_key("signal");
    r.wait_ms = kLongWaitMs;
    got = env.store->memory_take(a, r);
  });
  let_waiter_block();
  other->memory_put(a, put("signal", 42));
  waiter.join();
  REQUIRE(got.taken);
  CHECK(got.value == 42);
  CHECK(got.waited_ms < kLongWaitMs);
  CHECK_FALSE(other->memory_get(a, Tier::kCrossRun, Namespace::kOwn, "signal").found);
}

TEST_CASE_METHOD(AliceAndBob, "memory_take: a wait that runs out answers taken: false",
                 "[state][memory][memory-take]") {
  s.memory_put(a, put("q/1", json::parse(R"({"kind":"a"})")));
  TakeRequest r = take_prefix("q/");
  r.match = json::parse(R"({"kind":"b"})");
  r.wait_ms = 50;
  const TakeResult got = s.memory_take(a, r);
  CHECK_FALSE(got.taken);
  CHECK(got.waited_ms >= 0);
  CHECK(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "q/1").found);
  CHECK(journal_records(s, ops::kMemoryTake).empty());

  WaitRequest w = wait_key("q/1", 1);
  w.wait_ms = 50;
  CHECK_FALSE(s.memory_wait(a, w).satisfied);
}

TEST_CASE_METHOD(AliceAndBob, "memory_take / memory_wait: cancellation ends the wait",
                 "[state][memory][memory-take]") {
  TakeRequest r = take_key("never");
  r.wait_ms = kLongWaitMs;
  REQUIRE_STORE_ERROR(s.memory_take(a, r, [] { return true; }), ErrorCode::kCancelled);

  // Cancelled from another thread while it waits.
  std::atomic<bool> stop{false};
  WaitRequest w = wait_key("never", 0);
  w.wait_ms = kLongWaitMs;
  std::optional<ErrorCode> code;
  TestThread waiter([&] {
    try {
      s.memory_wait(a, w, [&] { return stop.load(); });
    } catch (const StoreError& e) {
      code = e.code();
    }
  });
  let_waiter_block();
  stop = true;
  waiter.join();
  CHECK(code == ErrorCode::kCancelled);

  // A take that finds its entry at once is never cancelled.
  s.memory_put(a, put("here", 1));
  CHECK(s.memory_take(a, take_key("here"), [] { return true; }).taken);
}

TEST_CASE_METHOD(AliceAndBob, "memory_take / memory_wait: bad requests",
                 "[state][memory][memory-take]") {
  TakeRequest both = take_key("k");
  both.by_prefix = true;
  REQUIRE_STORE_ERROR(s.memory_take(a, both), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.memory_take(a, TakeRequest{}), ErrorCode::kInvalidArgument);
  TakeRequest r = take_prefix("p/");
  r.match = json::parse("[1]");
  REQUIRE_STORE_ERROR(s.memory_take(a, r), ErrorCode::kInvalidArgument);
  r.match = json::parse(R"({"f":{"$exists":1}})");
  REQUIRE_STORE_ERROR(s.memory_take(a, r), ErrorCode::kInvalidArgument);
  r.match.reset();
  r.wait_ms = -1;
  REQUIRE_STORE_ERROR(s.memory_take(a, r), ErrorCode::kInvalidArgument);
  r.wait_ms = StoreOptions{}.memory_max_wait_ms + 1;
  REQUIRE_STORE_ERROR(s.memory_take(a, r), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.memory_take(a, take_key(std::string("a\0b", 3))),
                      ErrorCode::kInvalidArgument);
  Principal no_shared = agent("carol");
  no_shared.capabilities.erase(std::string(caps::kMemoryShared));
  REQUIRE_STORE_ERROR(s.memory_take(no_shared, take_prefix("", Namespace::kShared)),
                      ErrorCode::kPermissionDenied);

  WaitRequest w = wait_key("k", -1);
  REQUIRE_STORE_ERROR(s.memory_wait(a, w), ErrorCode::kInvalidArgument);
  w.after_version = 0;
  w.by_prefix = true;
  REQUIRE_STORE_ERROR(s.memory_wait(a, w), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.memory_wait(a, WaitRequest{}), ErrorCode::kInvalidArgument);
  WaitRequest wm = wait_prefix("p/", 0);
  wm.match = json::parse("\"x\"");
  REQUIRE_STORE_ERROR(s.memory_wait(a, wm), ErrorCode::kInvalidArgument);
  wm.match.reset();
  wm.wait_ms = StoreOptions{}.memory_max_wait_ms + 1;
  REQUIRE_STORE_ERROR(s.memory_wait(a, wm), ErrorCode::kInvalidArgument);
  CHECK(journal_records(s, ops::kMemoryTake).empty());
}

TEST_CASE_METHOD(AliceAndBob, "memory_wait: what a key or prefix wait waits for",
                 "[state][memory][memory-take]") {
  // A key: its version differs from after_version (absent is version 0).
  CHECK_FALSE(s.memory_wait(a, wait_key("k", 0)).satisfied);
  const WaitResult at_once = s.memory_wait(a, wait_key("k", 3));  // absent ≠ 3
  CHECK(at_once.satisfied);
  CHECK(at_once.waited_ms == 0);  // answered on the first round
  s.memory_put(a, put("k", json::parse(R"({"state":"running"})")));
  CHECK(s.memory_wait(a, wait_key("k", 0)).satisfied);
  CHECK_FALSE(s.memory_wait(a, wait_key("k", 1)).satisfied);
  WaitRequest done = wait_key("k", 0);
  done.match = json::parse(R"({"state":"done"})");
  CHECK_FALSE(s.memory_wait(a, done).satisfied);
  s.memory_put(a, put("k", json::parse(R"({"state":"done"})")));
  CHECK(s.memory_wait(a, wait_key("k", 1)).satisfied);
  CHECK(s.memory_wait(a, done).satisfied);
  DeleteRequest d;
  d.key = "k";
  s.memory_delete(a, d);
  CHECK(s.memory_wait(a, wait_key("k", 2)).satisfied);  // deleted: version 0

  // A prefix: some live entry under it with version > after_version.
  CHECK_FALSE(s.memory_wait(a, wait_prefix("p/", 0)).satisfied);
  PutRequest short_lived = put("p/1", 1);
  short_lived.ttl_ms = 500;
  s.memory_put(a, short_lived);
  CHECK(s.memory_wait(a, wait_prefix("p/", 0)).satisfied);
  CHECK_FALSE(s.memory_wait(a, wait_prefix("p/", 1)).satisfied);
  env.clock->advance(500);  // expired: as if absent
  CHECK_FALSE(s.memory_wait(a, wait_prefix("p/", 0)).satisfied);
  s.memory_put(a, put("p/2", json::parse(R"({"ready":true})")));
  WaitRequest ready = wait_prefix("p/", 0);
  ready.match = json::parse(R"({"ready":false})");
  CHECK_FALSE(s.memory_wait(a, ready).satisfied);
  ready.match = json::parse(R"({"ready":true})");
  CHECK(s.memory_wait(a, ready).satisfied);
  CHECK_FALSE(s.memory_wait(a, wait_prefix("q/", 0)).satisfied);
  CHECK(journal_records(s, ops::kMemoryTake).empty());  // waits journal nothing
}

TEST_CASE_METHOD(AliceAndBob, "memory_wait: woken by this process's writes",
                 "[state][memory][memory-take]") {
  // Polling alone would answer only after the wait ran out.
  reopen_polling_every(env, StoreOptions{}.memory_max_wait_ms);
  Store& store = *env.store;
  store.memory_put(a, put("status", "starting"));

  WaitResult changed;
  WaitResult appeared;
  std::deque<TestThread> waiters;
  waiters.emplace_back([&] {
    WaitRequest w = wait_key("status", 1);
    w.wait_ms = kLongWaitMs;
    changed = store.memory_wait(a, w);
  });
  waiters.emplace_back([&] {
    WaitRequest w = wait_prefix("results/", 0);
    w.match = json::parse(R"({"ok":true})");
    w.wait_ms = kLongWaitMs;
    appeared = store.memory_wait(a, w);
  });
  let_waiter_block();
  store.memory_put(a, put("status", "done"));
  store.memory_put(a, put("results/1", json::parse(R"({"ok":false})")));
  store.memory_put(a, put("results/2", json::parse(R"({"ok":true})")));
  for (TestThread& t : waiters) t.join();
  CHECK(changed.satisfied);
  CHECK(changed.waited_ms < kLongWaitMs);
  CHECK(appeared.satisfied);
  CHECK(appeared.waited_ms < kLongWaitMs);
}

TEST_CASE("memory_take: 8 threads on two stores take a queue of 2,000, each entry once",
          "[state][memory][memory-take][concurrency]") {
  StoreEnv env;
  std::unique_ptr<Store> other = open_test_store(env.options());
  Store* stores[2] = {env.store.get(), other.get()};
  constexpr int kEntries = 2000;
  constexpr int kThreads = 8;
  const Principal producer = agent("producer");
  std::set<std::string> queued;
  TxnRequest fill;  // memory_txn puts kTxnMaxOps entries per transaction
  for (int i = 0; i < kEntries; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "job/%05d", i);
    TxnOp op;
    op.ns = Namespace::kShared;
    op.key = key;
    op.value = json::object{{"i", i}};
    fill.then_ops.push_back(std::move(op));
    queued.insert(key);
    if (fill.then_ops.size() == kTxnMaxOps || i + 1 == kEntries) {
      REQUIRE(env.store->memory_txn(producer, fill).succeeded);
      fill.then_ops.clear();
    }
  }

  std::vector<std::vector<std::string>> taken(kThreads);
  on_agent_threads(kThreads, [&](int t, const Principal& p) {
    Store& store = *stores[t % 2];
    for (;;) {
      const TakeResult got = store.memory_take(p, take_prefix("job/", Namespace::kShared));
      if (!got.taken) return;
      taken[t].push_back(got.key);
    }
  });

  std::multiset<std::string> all;
  for (const auto& keys : taken) all.insert(keys.begin(), keys.end());
  CHECK(all.size() == static_cast<std::size_t>(kEntries));
  CHECK(std::set<std::string>(all.begin(), all.end()) == queued);

  // The journal agrees: one MEMORY_TAKE per entry, by the thread that got it.
  const std::vector<JournalRecord> takes = journal_records(*env.store, ops::kMemoryTake);
  REQUIRE(takes.size() == static_cast<std::size_t>(kEntries));
  std::map<std::string, std::string> taker;
  for (const JournalRecord& rec : takes) {
    const std::string key(json::parse(rec.payload).at("key").as_string());
    CHECK(taker.emplace(key, rec.principal).second);
  }
  for (int t = 0; t < kThreads; ++t) {
    for (const std::string& key : taken[t]) CHECK(taker[key] == "agent" + std::to_string(t));
  }
  CHECK(env.store->journal_verify(admin()).ok);
  CHECK(other->journal_verify(admin()).ok);
}

TEST_CASE("memory_take: waiting workers on two stores drain a queue filled while they wait",
          "[state][memory][memory-take][concurrency]") {
  StoreEnv env;
  std::unique_ptr<Store> other = open_test_store(reopen_polling_every(env, 10));
  Store* stores[2] = {env.store.get(), other.get()};
  constexpr int kEntries = 400;
  constexpr int kWorkers = 6;
  std::atomic<int> taken_total{0};
  std::vector<std::vector<int>> taken(kWorkers);

  std::deque<TestThread> workers;
  for (int t = 0; t < kWorkers; ++t) {
    workers.emplace_back([&, t] {
      const Principal p = agent("worker" + std::to_string(t));
      while (taken_total.load() < kEntries) {
        TakeRequest r = take_prefix("work/", Namespace::kShared);
        r.wait_ms = 200;
        const TakeResult got = stores[t % 2]->memory_take(p, r);
        if (!got.taken) continue;
        taken[t].push_back(static_cast<int>(got.value.as_int64()));
        ++taken_total;
      }
    });
  }
  const Principal producer = agent("producer");
  for (int i = 0; i < kEntries; ++i) {
    stores[i % 2]->memory_put(producer,
                              put("work/" + std::to_string(i), i, Namespace::kShared));
  }
  for (TestThread& w : workers) w.join();

  std::multiset<int> all;
  for (const auto& values : taken) all.insert(values.begin(), values.end());
  REQUIRE(all.size() == static_cast<std::size_t>(kEntries));
  CHECK(std::set<int>(all.begin(), all.end()).size() == static_cast<std::size_t>(kEntries));
  CHECK(journal_records(*env.store, ops::kMemoryTake).size() ==
        static_cast<std::size_t>(kEntries));
  CHECK(env.store->journal_verify(admin()).ok);
}
