// The console's view of the store (console/console_snapshot.h) and its live
// updates (console/console_events.h): what a snapshot holds, and that every
// open stream gets a new one soon after a change, whoever wrote it.
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "console/console_events.h"
#include "console/console_snapshot.h"
#include "console_test_util.h"
#include "state_test_util.h"

using namespace keel;
using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;
using namespace std::chrono_literals;
using keel::console::testing::FakeStream;

TEST_CASE("console: a snapshot shows leases, agents, escalations, journal, verify, fanout and hooks") {
  StoreEnv env;
  Store& s = *env.store;
  s.acquire_lease(agent("alice"), acquire("main-db"));
  EscalationRequest req;
  req.reason = "<img src=x onerror=alert(1)>";
  req.proposal = json::object{{"run", "rm -rf build"}};
  const auto id = s.request_escalation(agent("bob"), req).escalation->id;
  s.journal_append(agent("alice"), "FORK", "fanout:r1", json::object{{"run_id", "r1"}, {"branches", 4}});
  s.journal_append(agent("alice"), "FORK", "fanout:r2", json::object{{"run_id", "r2"}, {"branches", 2}});
  s.journal_append(agent("alice"), "JOIN", "fanout:r2", json::object{{"run_id", "r2"}});
  // r1's counts, as its engine journals them once a second (the newest wins).
  s.journal_append(agent("alice"), "PROGRESS", "fanout:r1",
                   json::object{{"run_id", "r1"}, {"branches", 4}, {"done", 1}, {"running", 3},
                                {"counts", json::object{{"ok", 1}, {"failed", 0}}}});
  s.journal_append(agent("alice"), "PROGRESS", "fanout:r1",
                   json::object{{"run_id", "r1"}, {"branches", 4}, {"done", 3}, {"running", 1},
                                {"counts", json::object{{"ok", 2}, {"failed", 1}}}});
  s.journal_append(agent("carol"), "HOOK", "Bash",
                   json::object{{"outcome", "deny"}, {"rule", "no-rm"}, {"reason", "rm -rf"}, {"tool", "Bash"}});
  s.journal_append(agent("carol"), "HOOK", "Edit", json::object{{"outcome", "continue"}, {"tool", "Edit"}});
  // A breaker a fanout run left open (the store keeps it between runs).
  s.fanout_breaker_store(agent("alice"), FanoutBreaker{"command:sh", "open", 5, 1, 1234, 0});

  console::SnapshotSource src(s, admin("console"));
  json::object snap = src.build();
  CHECK(snap.at("project") == "/proj");

  auto& leases = snap.at("leases").as_array();
  REQUIRE(leases.size() == 1);
  CHECK(leases[0].at("name") == "main-db");
  CHECK(leases[0].at("holder") == "alice");
  CHECK(leases[0].at("mode") == "exclusive");
  // alice never registered: shown as a holder with her lease.
  bool alice_listed = false;
  for (const auto& a : snap.at("agents").as_array()) {
    if (a.at("agent") == "alice") alice_listed = a.at("leases") == json::array{"main-db"};
  }
  CHECK(alice_listed);

  auto& pending = snap.at("escalations").at("pending").as_array();
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].at("id") == id);
  CHECK(pending[0].at("reason") == "<img src=x onerror=alert(1)>");  // as written: the page escapes
  CHECK(pending[0].at("proposal").at("run") == "rm -rf build");

  auto& journal = snap.at("journal").as_object();
  CHECK(journal.at("head_seq").as_int64() == src.head_seq());
  auto& records = journal.at("records").as_array();
  REQUIRE(!records.empty());
  CHECK(records[0].at("op") == "HOOK");  // newest first
  CHECK(records[0].at("payload").at("tool") == "Edit");  // parsed JSON

  CHECK(snap.at("verify").at("ok") == true);
  CHECK(snap.at("verify").at("first_bad").is_null());

  auto& fanout = snap.at("fanout").as_array();
  REQUIRE(fanout.size() == 1);  // r2 joined
  CHECK(fanout[0].at("id") == "r1");
  CHECK(fanout[0].at("total") == 4);
  CHECK(fanout[0].at("agent") == "alice");
  CHECK(fanout[0].at("done") == 3);
  CHECK(fanout[0].at("failed") == 1);
  CHECK(fanout[0].at("running") == 1);
  auto& breakers = snap.at("fanout_breakers").as_array();
  REQUIRE(breakers.size() == 1);
  CHECK(breakers[0].at("provider") == "command:sh");
  CHECK(breakers[0].at("state") == "open");
  CHECK(breakers[0].at("opened_at_ms") == 1234);

  auto& hooks = snap.at("hooks").as_array();
  REQUIRE(hooks.size() == 1);  // "continue" is not shown
  CHECK(hooks[0].at("outcome") == "deny");
  CHECK(hooks[0].at("rule") == "no-rm");
  CHECK(hooks[0].at("agent") == "carol");
  CHECK(hooks[0].at("tool") == "Bash");

  SECTION("journal pages: filters and before_seq") {
    console::JournalPageRequest q;
    q.op = "FORK";
    auto page = src.journal_page(q).at("records").as_array();
    REQUIRE(page.size() == 2);
    CHECK(page[0].at("subject") == "fanout:r2");
    q.before_seq = page[0].at("seq").as_int64();
    page = src.journal_page(q).at("records").as_array();
    REQUIRE(page.size() == 1);
    CHECK(page[0].at("subject") == "fanout:r1");
    console::JournalPageRequest by_agent;
    by_agent.agent = "carol";
    CHECK(src.journal_page(by_agent).at("records").as_array().size() == 2);
  }
}

TEST_CASE("console: every open stream gets the snapshot at once and again soon after a change") {
  StoreEnv env;
  console::SnapshotSource src(*env.store, admin("console"));
  console::EventTiming timing;
  timing.poll = 50ms;
  console::EventHub hub(src, timing);
  auto a = std::make_shared<FakeStream>();
  auto b = std::make_shared<FakeStream>();
  hub.add(a);
  hub.add(b);
  CHECK(a->wait_for("\"leases\":[]", 5s));
  CHECK(b->wait_for("\"leases\":[]", 5s));
  CHECK(a->events().front().rfind("id: ", 0) == 0);

  // A change made straight on the store (as another keel process would).
  env.store->acquire_lease(agent("alice"), acquire("new-lock"));
  CHECK(a->wait_for("new-lock", 5s));
  CHECK(b->wait_for("new-lock", 5s));

  // A closed stream is dropped and gets nothing more.
  b->close();
  env.store->acquire_lease(agent("alice"), acquire("second-lock"));
  CHECK(a->wait_for("second-lock", 5s));
  for (int i = 0; i < 200 && hub.open_streams() != 1; ++i) std::this_thread::sleep_for(10ms);
  CHECK(hub.open_streams() == 1);
}

TEST_CASE("console: a waiter joining or leaving the queue reaches open streams without a journal record") {
  StoreEnv env;
  console::SnapshotSource src(*env.store, admin("console"));
  console::EventTiming timing;
  timing.poll = 50ms;
  timing.refresh = 60s;  // only a change may send a snapshot here
  console::EventHub hub(src, timing);
  auto stream = std::make_shared<FakeStream>();
  hub.add(stream);
  env.store->acquire_lease(agent("alice"), acquire("hot-lock"));
  REQUIRE(stream->wait_for("hot-lock", 5s));
  const std::size_t before = stream->events().size();

  // bob queues behind alice: lease_waiters gains a row, the journal nothing
  // until bob gives up.
  std::thread waiter([&] {
    AcquireRequest r = acquire("hot-lock");
    r.wait_ms = 1500;
    env.store->acquire_lease(agent("bob"), r);
  });
  const bool shown = stream->wait_for("\"agent\":\"bob\"", 1000ms);
  waiter.join();
  CHECK(shown);
  CHECK(stream->events().size() > before);
}


TEST_CASE("console: a journal page walks back a bounded number of windows and says where to go on") {
  StoreEnv env;
  Store& s = *env.store;
  s.journal_append(agent("alice"), "RARE", "first", json::object{});
  for (int i = 0; i < 300; ++i) s.journal_append(agent("alice"), "NOTE", "n" + std::to_string(i), json::object{});
  // Windows of 10 seqs: at most 200 seqs a request.
  console::SnapshotSource src(s, admin("console"), 10'000, 2'000, 10);
  const std::int64_t head = src.head_seq();

  // A before_seq far past the head starts at the head (it used to walk back
  // ~10^14 windows).
  console::JournalPageRequest q;
  q.before_seq = 999'999'999'999'999'999;
  q.limit = 5;
  auto page = src.journal_page(q);
  REQUIRE(page.at("records").as_array().size() == 5);
  CHECK(page.at("records").as_array()[0].at("seq") == head);
  CHECK_FALSE(page.contains("more_before_seq"));  // the page is full

  // A filter that matches only the oldest record: each request reads at most
  // 20 windows and tells where the next one starts, until the record is found.
  q.op = "RARE";
  q.limit = 100;
  int requests = 0;
  json::array found;
  for (;;) {
    REQUIRE(++requests < 10);
    page = src.journal_page(q);
    for (const auto& r : page.at("records").as_array()) found.push_back(r);
    if (!page.contains("more_before_seq")) break;
    const std::int64_t next = page.at("more_before_seq").as_int64();
    CHECK(next < *q.before_seq);
    CHECK(next >= std::min(*q.before_seq, head + 1) - 200);
    q.before_seq = next;
  }
  CHECK(requests >= 2);
  REQUIRE(found.size() == 1);
  CHECK(found[0].at("subject") == "first");

  // A filter that matches nothing ends too.
  q.op = "NOTHING";
  q.before_seq = head + 1;
  requests = 0;
  for (;;) {
    REQUIRE(++requests < 10);
    page = src.journal_page(q);
    CHECK(page.at("records").as_array().empty());
    if (!page.contains("more_before_seq")) break;
    q.before_seq = page.at("more_before_seq").as_int64();
  }
}

TEST_CASE("console: a small journal that moved is verified again only after the re-verify interval") {
  StoreEnv env;
  Store& s = *env.store;
  s.journal_append(agent("alice"), "NOTE", "a", json::object{});
  // Re-verify a moved small journal at most once a minute: the next snapshot
  // after a change shows the cached report.
  console::SnapshotSource slow(s, admin("console"), 600'000, 60'000);
  const std::int64_t before = slow.build().at("verify").at("records").as_int64();
  s.journal_append(agent("alice"), "NOTE", "b", json::object{});
  CHECK(slow.build().at("verify").at("records").as_int64() == before);
  // With no interval, the moved journal is verified again at once.
  console::SnapshotSource eager(s, admin("console"), 600'000, 0);
  const std::int64_t now = eager.build().at("verify").at("records").as_int64();
  CHECK(now == before + 1);
  s.journal_append(agent("alice"), "NOTE", "c", json::object{});
  CHECK(eager.build().at("verify").at("records").as_int64() == now + 1);
}
