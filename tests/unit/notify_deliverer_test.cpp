// tests/unit/notify_deliverer_test.cpp — TargetDeliverer and Notifier on a real SQLite store
// with a stand-in sender: no history replay on a first start, events in order, retries
// until the receiver recovers, a final failure journaled after retry_for_ms, the cursor
// kept across deliverers, one deliverer per target, the thread and its shutdown.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "notify/deliverer.h"
#include "notify/notifier.h"
#include "state_test_util.h"

namespace {

namespace json = boost::json;
using namespace keel;
using namespace keel::notify;
using state::testing::TempDir;

// Records every request; answers with `status` (0: a network error).
struct FakeReceiver {
  std::mutex mu;
  std::vector<net::HttpClientRequest> got;
  std::atomic<unsigned> status{204};
  Sender sender() {
    return [this](const net::HttpClientRequest& r) {
      std::lock_guard lock(mu);
      got.push_back(r);
      net::HttpClientResponse resp;
      resp.status = status.load();
      if (resp.status == 0) resp.error = "cannot connect";
      return resp;
    };
  }
  std::vector<std::int64_t> ids() {
    std::lock_guard lock(mu);
    std::vector<std::int64_t> out;
    for (const auto& r : got) out.push_back(json::parse(r.body).at("id").as_int64());
    return out;
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return got.size();
  }
};

struct Env {
  TempDir dir;
  std::unique_ptr<state::Store> store;
  state::Principal agent = state::testing::agent("agent-a");
  NotifyConfig config;
  FakeReceiver rx;
  Sender send = rx.sender();
  std::atomic<bool> stopping{false};

  Env() {
    state::StoreOptions o;
    o.dir = dir.path() / "state";
    store = state::open_sqlite_store(o);
    NotifyTarget t;
    t.name = "ops";
    t.url = "http://127.0.0.1:9/hook";
    t.events = {"hook.denied", "lease.refused"};
    t.secret = "0123456789abcdef";
    config.targets.push_back(t);
  }
  // A hook denial (hook.denied): an event any caller may journal.
  std::int64_t escalate(const std::string& reason) {
    return store
        ->journal_append(agent, "HOOK", "Bash", json::object{{"outcome", "deny"}, {"reason", reason}})
        .seq;
  }
  std::int64_t other(const std::string& op) {
    return store->journal_append(agent, op, "x", json::object{{"outcome", "allow"}}).seq;
  }
  std::vector<json::object> notes(const std::string& outcome = "") {
    state::JournalFilter f;
    f.op = "NOTIFY";
    f.newest_first = false;
    std::vector<json::object> out;
    for (const auto& r : store->journal_query(state::testing::admin(), f)) {
      auto p = json::parse(r.payload).as_object();
      if (outcome.empty() || p.at("outcome").as_string() == outcome) out.push_back(p);
    }
    return out;
  }
  std::unique_ptr<TargetDeliverer> deliverer(const std::string& node = "t1") {
    return std::make_unique<TargetDeliverer>(*store, config.targets[0], config,
                                             notifier_principal("/proj", node), send);
  }
};

}  // namespace

TEST_CASE("deliverer: starts at the head, then delivers the wanted events in order") {
  Env e;
  e.escalate("history");  // before the first start: not replayed
  auto d = e.deliverer();
  d->step(e.stopping);
  REQUIRE(d->holds_lease());
  CHECK(e.rx.count() == 0);
  REQUIRE(e.notes("started").size() == 1);

  const auto a = e.escalate("one");
  e.other("NOTE");  // an op that is no event
  e.store->journal_append(e.agent, "HOOK", "Bash", json::object{{"outcome", "allow"}});
  e.store->journal_append(e.agent, "HOOK", "Bash", json::object{{"outcome", "ask"}});  // not wanted
  // A lease refused by the store (REFUSE): agent-b asks for what agent-a holds.
  state::AcquireRequest req;
  req.name = "file:/src/a.cc";
  req.ttl_ms = 60'000;
  REQUIRE(e.store->acquire_lease(e.agent, req).granted);  // ACQUIRE: no event
  REQUIRE_FALSE(e.store->acquire_lease(state::testing::agent("agent-b"), req).granted);
  state::JournalFilter last;
  last.limit = 1;
  const auto h = e.store->journal_query(state::testing::admin(), last).front().seq;
  const auto b = e.escalate("two");
  d->step(e.stopping);
  CHECK(e.rx.ids() == std::vector<std::int64_t>{a, h, b});
  const auto delivered = e.notes("delivered");
  REQUIRE(delivered.size() == 3);
  CHECK(delivered[0].at("event_seq").as_int64() == a);
  CHECK(delivered[0].at("event").as_string() == "hook.denied");
  CHECK(delivered[0].at("attempts").as_int64() == 1);
  CHECK(delivered[0].at("status").as_int64() == 204);
  CHECK(delivered[1].at("event").as_string() == "lease.refused");
  CHECK(d->cursor() >= b);
  // Its own NOTIFY records are no events: another step sends nothing.
  d->step(e.stopping);
  CHECK(e.rx.count() == 3);
}

TEST_CASE("deliverer: a failing event is retried and holds back the later ones") {
  Env e;
  auto d = e.deliverer();
  d->step(e.stopping);
  e.rx.status = 500;
  const auto a = e.escalate("one");
  const auto b = e.escalate("two");
  d->step(e.stopping);
  CHECK(e.rx.ids() == std::vector<std::int64_t>{a});
  CHECK(e.notes("delivered").empty());
  CHECK(e.notes("failed").empty());
  // Before the backoff has passed, nothing is sent.
  d->step(e.stopping);
  CHECK(e.rx.count() == 1);
  CHECK(d->next_due() > std::chrono::steady_clock::now());
  e.rx.status = 204;
  std::this_thread::sleep_until(d->next_due() + std::chrono::milliseconds(10));
  d->step(e.stopping);
  CHECK(e.rx.ids() == std::vector<std::int64_t>{a, a, b});
  const auto delivered = e.notes("delivered");
  REQUIRE(delivered.size() == 2);
  CHECK(delivered[0].at("attempts").as_int64() == 2);
  CHECK(delivered[1].at("attempts").as_int64() == 1);
}

TEST_CASE("deliverer: after retry_for_ms a failure is journaled and the next event goes") {
  Env e;
  e.config.retry_for_ms = 0;
  auto d = e.deliverer();
  d->step(e.stopping);
  e.rx.status = 0;
  const auto a = e.escalate("one");
  d->step(e.stopping);
  const auto failed = e.notes("failed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].at("event_seq").as_int64() == a);
  CHECK(failed[0].at("error").as_string() == "cannot connect");
  CHECK(failed[0].if_contains("status") == nullptr);
  e.rx.status = 204;
  const auto b = e.escalate("two");
  d->step(e.stopping);
  CHECK(e.rx.ids() == std::vector<std::int64_t>{a, b});
}

TEST_CASE("deliverer: one per target; the next one continues from the NOTIFY cursor") {
  Env e;
  auto first = e.deliverer("t1");
  auto second = e.deliverer("t2");
  first->step(e.stopping);
  second->step(e.stopping);
  REQUIRE(first->holds_lease());
  CHECK_FALSE(second->holds_lease());
  const auto a = e.escalate("one");
  first->step(e.stopping);
  second->step(e.stopping);
  CHECK(e.rx.ids() == std::vector<std::int64_t>{a});
  // Standing by journals no refusals.
  state::JournalFilter refuse;
  refuse.op = "REFUSE";
  CHECK(e.store->journal_query(state::testing::admin(), refuse).empty());

  first->release();
  const auto b = e.escalate("two");
  second = e.deliverer("t2");  // a fresh process: no standby wait
  second->step(e.stopping);
  REQUIRE(second->holds_lease());
  CHECK(e.rx.ids() == std::vector<std::int64_t>{a, b});
  CHECK(e.notes("started").size() == 1);
}

TEST_CASE("notifier: its thread delivers, and its destructor releases the lease") {
  Env e;
  NotifierOptions opts;
  opts.poll = std::chrono::milliseconds(20);
  {
    Notifier n(*e.store, e.config, notifier_principal("/proj", "t"), e.send, opts);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (e.notes("started").empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(e.notes("started").size() == 1);
    const auto a = e.escalate("one");
    while (e.rx.count() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(e.rx.ids() == std::vector<std::int64_t>{a});
    CHECK(e.store->list_leases(notifier_principal("/proj", "t"), "notify:").size() == 1);
  }
  CHECK(e.store->list_leases(notifier_principal("/proj", "t"), "notify:").empty());
}

TEST_CASE("deliverer: a step stops starting attempts once its budget has passed") {
  Env e;
  Sender slow = [&e](const net::HttpClientRequest& r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    return e.send(r);
  };
  DelivererOptions opts;
  opts.step_budget = std::chrono::milliseconds(100);
  TargetDeliverer d(*e.store, e.config.targets[0], e.config, notifier_principal("/proj", "t1"),
                    slow, opts);
  d.step(e.stopping);
  for (int i = 0; i < 10; ++i) e.escalate("backlog " + std::to_string(i));
  d.step(e.stopping);
  const auto first = e.rx.count();
  CHECK(first >= 1);
  CHECK(first < 10);
  // The rest is due at once, and the next steps work it off in order.
  CHECK(d.next_due() <= std::chrono::steady_clock::now());
  for (int i = 0; i < 20 && e.rx.count() < 10; ++i) d.step(e.stopping);
  const auto ids = e.rx.ids();
  REQUIRE(ids.size() == 10);
  CHECK(std::is_sorted(ids.begin(), ids.end()));
}

TEST_CASE("deliverer: the retry window counts from the event's first attempt, not its time") {
  Env e;
  e.config.retry_for_ms = 300;
  auto d = e.deliverer();
  d->step(e.stopping);
  const auto a = e.escalate("queued while nobody delivered");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // older than retry_for_ms
  e.rx.status = 500;
  d->step(e.stopping);
  CHECK(e.rx.count() == 1);
  CHECK(e.notes("failed").empty());  // retried: its window began at this attempt
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (e.notes("failed").empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_until(d->next_due() + std::chrono::milliseconds(5));
    d->step(e.stopping);
  }
  const auto failed = e.notes("failed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].at("event_seq").as_int64() == a);
  CHECK(failed[0].at("attempts").as_int64() >= 2);
}

TEST_CASE("notifier: a hanging receiver with a backlog does not hold up another target") {
  Env e;
  NotifyTarget fast = e.config.targets[0];
  fast.name = "fast";
  fast.url = "http://127.0.0.1:9/fast";
  e.config.targets.push_back(fast);  // targets[0] "ops" hangs
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> hung{0};
  std::atomic<int> fast_got{0};
  Sender send = [&](const net::HttpClientRequest& r) {
    if (r.url.find("/fast") != std::string::npos) {
      ++fast_got;
    } else {
      ++hung;
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::seconds(30), [&] { return release; });
    }
    net::HttpClientResponse resp;
    resp.status = 204;
    return resp;
  };
  NotifierOptions opts;
  opts.poll = std::chrono::milliseconds(20);
  {
    Notifier n(*e.store, e.config, notifier_principal("/proj", "t"), send, opts);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (e.notes("started").size() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(e.notes("started").size() == 2);
    for (int i = 0; i < 5; ++i) e.escalate("backlog " + std::to_string(i));
    while ((hung.load() == 0 || fast_got.load() < 5) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(hung.load() == 1);  // still in its first attempt
    CHECK(fast_got.load() == 5);
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
  }
}
